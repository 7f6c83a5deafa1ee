"""The sim overlay's C-simulation library: ``extern "C" int dnnu_csim(const void* in, void* out, int batch, ...)``
with one further ``int`` per scalar register the manifest's ``sim.args`` lists (FP8 I/O: the biases)."""
from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from ..errors import SimError


class CsimLibrary:
    """A loaded C-sim library; :meth:`run` executes one batch on raw container arrays."""

    def __init__(self, path: Union[str, Path], symbol: str = "dnnu_csim", scalars: int = 0) -> None:
        self.path = Path(path)
        try:
            self._lib = ctypes.CDLL(str(self.path.resolve()))
        except OSError as exc:
            raise SimError(f"{self.path}: cannot load the C-simulation library ({exc})") from None
        try:
            fn = getattr(self._lib, symbol)
        except AttributeError:
            raise SimError(f"{self.path}: does not export {symbol}") from None
        fn.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int) + (ctypes.c_int,) * scalars
        fn.restype = ctypes.c_int
        self._fn = fn

    def run(self, x: np.ndarray, out: np.ndarray, batch: int, scalars: Sequence[int] = ()) -> int:
        """Call the library on C-contiguous arrays; returns its status (0 = ok)."""
        assert x.flags.c_contiguous and out.flags.c_contiguous
        return int(self._fn(x.ctypes.data, out.ctypes.data, int(batch), *(int(v) for v in scalars)))
