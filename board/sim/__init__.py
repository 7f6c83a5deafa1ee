"""The simulated board: pynq's own driver stack over a model of the PL (see :mod:`.device`).

Activate it explicitly on a host, ``activate("pynq-z2")``, or set ``SUSTAINML_SIM_BOARD=pynq-z2``
(the runtime then activates it in :meth:`sustainml.board.dnnu.Dnnu.load`). It refuses to
activate on a PYNQ image, so a real board is never simulated by accident. Everything it
reports is simulated and labelled so.
"""
from __future__ import annotations

import os
from typing import Any, Optional

from ..errors import SimError
from ..identity import on_real_board

ENV = "SUSTAINML_SIM_BOARD"
_previous: list = []


def activate(board: str = "pynq-z2") -> Any:
    """Make the simulated ``board`` pynq's active device; returns the device."""
    if on_real_board():
        raise SimError("refusing to activate the simulated board on a real PYNQ board")
    from pynq.pl_server.device import Device
    from pynq.ps import Clocks

    from .device import SimDevice

    dev = SimDevice.for_board(board)
    cur = Device.__dict__.get("_active_device")
    if cur is not dev:
        _previous.append(cur)
        Device.active_device = dev
        # pynq caches its clock controller on the first device it saw; point it at this one.
        if "_real_instance" in vars(Clocks):
            delattr(Clocks, "_real_instance")
        _clocks_on(Clocks, dev)
    return dev


def _clocks_on(clocks: Any, dev: Any) -> None:
    """Make ``pynq.ps.Clocks`` program ``dev``'s PS clock controller (or, with ``dev`` None, forget it).

    pynq >= 3.1 takes the device (``Clocks.set_device``); pynq 3.0.x (PYNQ v3.0.1 images) picks its
    controller by CPU architecture, which fails on a host: give it the board's controller class,
    whose MMIO then goes to the active (simulated) device.
    """
    if hasattr(clocks, "set_device"):
        clocks.set_device(dev)
    elif dev is not None and getattr(dev, "simulated", False):
        from pynq import ps

        clocks._real_instance = (ps._ClocksZynq if dev.board.ps == "ps7" else ps._ClocksUltrascale)()


def deactivate() -> None:
    """Restore the device that was active before the last :func:`activate`."""
    from pynq.pl_server.device import Device
    from pynq.ps import Clocks

    if not _previous:
        return
    prev = _previous.pop()
    if prev is None:
        if "_active_device" in vars(Device):
            delattr(Device, "_active_device")
    else:
        Device.active_device = prev
    if "_real_instance" in vars(Clocks):
        delattr(Clocks, "_real_instance")
    _clocks_on(Clocks, prev)


def activate_from_env() -> Optional[Any]:
    """Activate the board named by ``$SUSTAINML_SIM_BOARD``, if set; returns the device or None."""
    board = os.environ.get(ENV)
    return activate(board) if board else None


def is_simulated(device: Any) -> bool:
    return bool(getattr(device, "simulated", False))
