"""A board on this machine, reached without SSH (``host: local`` in the inventory).

The flow's default board is the simulated PYNQ-Z2 on the host itself: the same push, agent
and layout code runs as for a networked board, with a :class:`LocalConnection` in place of
fabric's SSH ``Connection``. Both are ``invoke.Context`` s, so ``run`` behaves the same;
``put``/``get`` copy files.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Union

from invoke import Context

LOCAL_HOST = "local"


class LocalConnection(Context):
    """The subset of ``fabric.Connection`` that :class:`~sustainml.host.deploy.remote.Remote` uses."""

    is_connected = True

    def put(self, local: Union[str, Path], remote: str) -> None:
        shutil.copyfile(str(local), str(remote))

    def get(self, remote: str, local: Union[str, Path]) -> None:
        shutil.copyfile(str(remote), str(local))

    def close(self) -> None:
        pass
