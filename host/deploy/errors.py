"""The errors a user meets while deploying, each one line naming the board and what is wrong."""
from __future__ import annotations

from sustainml.errors import SustainmlError


class DeployError(SustainmlError):
    """A deployment step failed on one board (or before reaching any)."""


class InventoryError(DeployError):
    """``boards.yaml`` is missing, malformed, or names an unknown board."""


class Unreachable(DeployError):
    """No SSH connection (refused, no route, or no SSH banner within the timeout)."""


class AuthFailed(DeployError):
    """The board refused every key offered (key file or agent)."""


class HostKeyChanged(DeployError):
    """The board's host key differs from the one in known_hosts."""


class UnknownHostKey(DeployError):
    """First contact: the host key is not in known_hosts and ``--accept-new-host-key`` was not given."""


class ConnectionLost(DeployError):
    """The SSH session dropped in the middle of an operation."""


class PartMismatch(DeployError):
    """The bundle was built for another FPGA part than the board's."""


class DiskFull(DeployError):
    """Not enough free space under the board's overlay root."""


class RemotePythonError(DeployError):
    """The board's Python is missing, or lacks pynq / numpy / pyyaml / pip."""


class SmokeMismatch(DeployError):
    """The overlay's outputs on the golden input differ from the golden outputs."""


class RemoteCommandFailed(DeployError):
    """A command on the board failed; the message carries the board's own one-line reason."""


class DeadlinePassed(DeployError):
    """An operation on one board took longer than its deadline (``deadlines:`` in the inventory)."""
