"""Python inference API of a DNNU overlay, on a PYNQ board or the simulated one.

    dnnu = Dnnu.load("overlays/ecg_baseline")     # verify bundle, download overlay, allocate buffers
    res = dnnu.predict(x_test)                     # raw float samples (preprocessed, quantized on the PS) or integers
    res.classes, res.logits, dnnu.last_timing
    stats = dnnu.benchmark(n=1000, batch=32)       # latency distribution, throughput, driver overhead

The device is pynq's active device (``pynq.Device.active_device``); set
``$SUSTAINML_SIM_BOARD`` or call :func:`sustainml.board.sim.activate` to use the simulated board.
Input/output buffers are allocated once with ``pynq.allocate`` and reused by every call.
A call that does not finish within ``timeout_s`` raises :class:`DnnuTimeoutError` after the
runtime reset the DNNU (:meth:`Dnnu.reset`: the overlay is downloaded again), so the next call works.
Timing uses the device's clock (``perf_counter_ns``; the sim device's excludes the host time of
its simulation): hardware time runs from ap_start to ap_done, end-to-end time from entering a
call (quantized input ready) to its outputs copied back. A C-simulation bundle on the simulated
board has no circuit and so no hardware time: :attr:`Dnnu.timed` is False and ``hw_ns`` is None
(reported as "hardware time: none (C-simulation, no circuit)", :data:`NO_TIMING`).

FP8 I/O bundles (``io.input.encoding: fp8-e5m2``): the PS encodes float samples to E5M2 codes at
:attr:`Dnnu.in_bias` and decodes the output codes at :attr:`Dnnu.out_bias` (numpy codec,
:mod:`sustainml.board.fp8`); both biases are written to their registers on every call (defaults
from the manifest). ``Prediction.logits`` then holds the output codes, ``scores`` their values.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np

from . import fp8, identity, preprocess
from .bundle import SIM_KINDS, Bundle, IoSpec, check_part, load_bundle
from .control import ApCtrl
from .errors import BoardError, DnnuTimeoutError

DEFAULT_MAX_BATCH = 256
#: How an untimed call's hardware time is reported (C-simulation bundles on the simulated board).
NO_TIMING = "hardware time: none (C-simulation, no circuit)"
DEFAULT_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class CallTiming:
    """One accelerator call: ``batch`` samples, hardware and end-to-end time (ns)."""

    batch: int
    hw_ns: Optional[int]  # None: no hardware time (see NO_TIMING)
    e2e_ns: int

    @property
    def overhead_ns(self) -> Optional[int]:
        """Driver time beyond the hardware time (copies, cache maintenance, register I/O)."""
        return None if self.hw_ns is None else self.e2e_ns - self.hw_ns


@dataclass
class Prediction:
    """Logits as the DNNU wrote them (integers with ``frac`` fractional bits, or FP8 codes for
    FP8 I/O, then decoded in ``values``), classes, per-call timings."""

    logits: np.ndarray
    classes: np.ndarray
    frac: int
    timings: List[CallTiming] = field(default_factory=list)
    values: Optional[np.ndarray] = None

    @property
    def scores(self) -> np.ndarray:
        return self.values if self.values is not None else self.logits / float(2 ** self.frac)


class Dnnu:
    """A loaded DNNU overlay (see module docstring). Use :meth:`load`."""

    def __init__(self, bundle: Bundle, overlay: Any, mmio: Any, device: Any, max_batch: int,
                 timeout_s: float) -> None:
        import pynq

        self.bundle, self.overlay, self.device = bundle, overlay, device
        self.input_spec: IoSpec = bundle.input
        self.output_spec: IoSpec = bundle.output
        self.max_batch = int(max_batch)
        self.timeout_s = float(timeout_s)
        self.clock = getattr(device, "perf_counter_ns", time.perf_counter_ns)
        self.ctrl = ApCtrl(mmio, bundle.registers, self.clock)
        self.input_buffer = pynq.allocate((self.max_batch,) + self.input_spec.shape,
                                          self.input_spec.np_dtype, target=device)
        self.output_buffer = pynq.allocate((self.max_batch,) + self.output_spec.shape,
                                           self.output_spec.np_dtype, target=device)
        self.last_timing: Optional[CallTiming] = None
        self._biases: Dict[str, int] = {}  # FP8 I/O: register name -> bias written on every call
        for spec in (self.input_spec, self.output_spec):
            if spec.fp8:
                self._biases[str(spec.register)] = fp8.check_bias(spec.bias, f"manifest {spec.register}")

    # ------------------------------------------------------------------ FP8 I/O biases
    @property
    def in_bias(self) -> Optional[int]:
        """FP8 input bias (register ``in_bias``); None for integer I/O."""
        return self._biases.get(str(self.input_spec.register)) if self.input_spec.fp8 else None

    @in_bias.setter
    def in_bias(self, value: int) -> None:
        self._set_bias(self.input_spec, value, "in_bias")

    @property
    def out_bias(self) -> Optional[int]:
        """FP8 output bias (register ``out_bias``); None for integer I/O."""
        return self._biases.get(str(self.output_spec.register)) if self.output_spec.fp8 else None

    @out_bias.setter
    def out_bias(self, value: int) -> None:
        self._set_bias(self.output_spec, value, "out_bias")

    def _set_bias(self, spec: IoSpec, value: int, what: str) -> None:
        if not spec.fp8:
            raise BoardError(f"{what}: bundle {self.bundle.name!r} has integer I/O (no FP8 bias)")
        self._biases[str(spec.register)] = fp8.check_bias(value, what)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, bundle_dir: Union[str, Path], max_batch: int = DEFAULT_MAX_BATCH,
             timeout_s: float = DEFAULT_TIMEOUT_S, device: Any = None, part: Optional[str] = None) -> "Dnnu":
        """Verify the bundle (hashes, manifest, part), download it and allocate the buffers.

        ``part`` overrides the part of the running board (normally detected: the sim device
        knows its board; a PYNQ image names it in ``$BOARD``).
        """
        import pynq

        from . import sim

        if max_batch < 1:
            raise BoardError(f"max_batch={max_batch} must be at least 1")
        bundle = load_bundle(bundle_dir)
        if device is None:
            device = sim.activate_from_env() or _active_device()
        if part is None:
            board = identity.detect(device)
            if board is None:
                raise BoardError("cannot tell which board this is (no $BOARD, no PYNQ device tree); pass part=")
            part = board.part
        check_part(bundle, part)
        if bundle.kind in SIM_KINDS and not sim.is_simulated(device):
            raise BoardError(f"bundle {bundle.name!r} is a simulation (kind: {bundle.kind}); it runs on the simulated "
                             "board only (set $SUSTAINML_SIM_BOARD)")
        if bundle.kind == "bitstream" and sim.is_simulated(device):
            raise BoardError(f"bundle {bundle.name!r} is a bitstream; the simulated board runs kind: sim or rtlsim "
                             "bundles")
        try:
            overlay = pynq.Overlay(str(bundle.bitfile), device=device)
        except (OSError, RuntimeError, ValueError) as exc:
            raise BoardError(f"{bundle.bitfile}: overlay download failed ({exc})") from None
        desc = _find_ip(overlay.ip_dict, bundle)
        _check_registers(desc, bundle)
        mmio = pynq.MMIO(desc["phys_addr"], desc["addr_range"], device=device)
        return cls(bundle, overlay, mmio, device, max_batch, timeout_s)

    @property
    def simulated(self) -> bool:
        return bool(getattr(self.device, "simulated", False))

    @property
    def timed(self) -> bool:
        """Whether calls have a hardware time: False for a C-simulation bundle (no circuit)."""
        return not (self.simulated and self.bundle.kind == "sim")

    @property
    def clock_mhz(self) -> float:
        return float(getattr(self.device, "pl_clock_mhz", self.bundle.clock_mhz))

    # ------------------------------------------------------------------ inference
    def run_raw(self, inp: Any, out: Any = None) -> Any:
        """Zero-copy call on a device buffer ``inp`` of shape (n, *input shape) (e.g. a slice of
        :attr:`input_buffer`); writes ``out`` (default: :attr:`output_buffer` [:n]) and returns it."""
        n = self._check_buffer(inp, self.input_spec, "input")
        if out is None:
            if n > self.max_batch:
                raise BoardError(f"batch {n} exceeds the output buffer ({self.max_batch}); pass out=")
            out = self.output_buffer[:n]
        elif self._check_buffer(out, self.output_spec, "output") != n:
            raise BoardError(f"output buffer holds {len(out)} samples, input {n}")
        t0 = self.clock()
        self._call(inp, out, n, t0)
        return out

    def _call(self, inp: Any, out: Any, n: int, t0: int) -> CallTiming:
        inp.flush()
        start = self.ctrl.start(inp.physical_address, out.physical_address, n, self._biases)
        try:
            done = self.ctrl.wait(self.timeout_s)
        except DnnuTimeoutError as exc:
            raise DnnuTimeoutError(f"{exc}; {self._recover()}") from None
        out.invalidate()
        timing = CallTiming(n, done - start if self.timed else None, self.clock() - t0)
        self.last_timing = timing
        return timing

    def reset(self) -> float:
        """Reset the DNNU: download the overlay again (a PL reconfiguration resets every IP and
        stops its DMA); buffers stay allocated. Returns the seconds it took."""
        t0 = time.perf_counter()
        try:
            self.overlay.download()
        except (OSError, RuntimeError, ValueError) as exc:
            raise BoardError(f"{self.bundle.bitfile}: resetting the DNNU failed: "
                             f"overlay download failed ({exc})") from None
        if not self.ctrl.idle():
            raise BoardError(f"DNNU still not idle after re-downloading {self.bundle.bitfile.name} "
                             f"(ap_ctrl={self.ctrl.status():#x})")
        return time.perf_counter() - t0

    def _recover(self) -> str:
        """After a timeout: reset, and say how that went (the caller raises with this text)."""
        try:
            return f"the DNNU was reset (overlay re-downloaded in {self.reset() * 1e3:.0f} ms); the next call can run"
        except BoardError as exc:
            return f"and resetting it failed: {exc}"

    def quantize(self, x: np.ndarray, preprocessed: bool = False) -> np.ndarray:
        """Samples → input containers: floats are raw samples, preprocessed as the manifest's
        ``model.preprocessing`` says (:mod:`.preprocess`; none if absent; skipped when the floats are
        ``preprocessed`` already, as the bundle's float golden input is), then quantized (round
        half to even, clip) or, for FP8 I/O, encoded at :attr:`in_bias`; integers are checked
        against the input width (FP8 I/O: uint8 arrays are taken as codes)."""
        a = np.asarray(x)
        shape = self.input_spec.shape
        if a.ndim == len(shape) and len(shape) == 2 and shape[1] == 1 and a.shape[1:] == shape[:1]:
            a = a[:, :, None]  # (N, L) for a one-channel input
        if a.shape[1:] != shape:
            raise BoardError(f"input shape {a.shape} does not match the DNNU's (N, {', '.join(map(str, shape))})")
        if not np.issubdtype(a.dtype, np.integer) and not preprocessed:
            a = self.preprocess(a)
        if self.input_spec.fp8:
            if not np.issubdtype(a.dtype, np.integer):
                return self.input_spec.quantize(a, self.in_bias)
            if a.dtype != np.uint8:
                raise BoardError(f"FP8 input takes float samples or uint8 E5M2 codes, got {a.dtype}")
            return a
        if np.issubdtype(a.dtype, np.integer):
            lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
            if lo < self.input_spec.lo or hi > self.input_spec.hi:
                raise BoardError(f"integer input range [{lo}, {hi}] exceeds the {self.input_spec.bits}-bit input "
                                 f"[{self.input_spec.lo}, {self.input_spec.hi}]")
            return a.astype(self.input_spec.np_dtype)
        return self.input_spec.quantize(a)

    def preprocess(self, x: np.ndarray) -> np.ndarray:
        """Raw float samples → what the model was trained on (the manifest's ``model.preprocessing``)."""
        spec = (self.bundle.manifest.get("model") or {}).get("preprocessing")
        if not spec or spec.get("method") == "none":
            return x
        try:
            return preprocess.apply(x, spec)
        except preprocess.PreprocessError as exc:
            raise BoardError(f"{self.bundle.path}: manifest model.preprocessing: {exc}") from None

    def predict(self, x: np.ndarray, batch: Optional[int] = None, preprocessed: bool = False) -> Prediction:
        """Logits and classes for samples ``x`` (N, L[, C]), in calls of up to ``batch`` samples."""
        q = self.quantize(x, preprocessed)
        step = min(batch or self.max_batch, self.max_batch)
        if step < 1:
            raise BoardError(f"batch={batch} must be at least 1")
        logits = np.empty((len(q),) + self.output_spec.shape,
                          dtype=np.uint8 if self.output_spec.fp8 else np.int64)
        timings: List[CallTiming] = []
        for s in range(0, len(q), step):
            n = min(step, len(q) - s)
            t0 = self.clock()
            self.input_buffer[:n] = q[s:s + n]
            timings.append(self._call(self.input_buffer[:n], self.output_buffer[:n], n, t0))
            logits[s:s + n] = self.output_buffer[:n]
            timings[-1] = self.last_timing = CallTiming(n, timings[-1].hw_ns, self.clock() - t0)
        values = self.output_spec.dequantize(logits, self.out_bias) if self.output_spec.fp8 else None
        flat = (logits if values is None else values).reshape(len(q), -1)
        classes = flat.argmax(axis=1) if len(q) else np.zeros(0, dtype=np.int64)
        return Prediction(logits, classes, self.output_spec.frac, timings, values)

    def smoke_test(self) -> Dict[str, Any]:
        """Run the bundle's golden vectors; ``ok`` is True when every output matches bit for bit."""
        gin, gout = self.bundle.golden()
        saved = dict(self._biases)
        try:  # FP8 I/O: golden codes are at the manifest's biases
            for spec in (self.input_spec, self.output_spec):
                if spec.fp8:
                    self._biases[str(spec.register)] = int(spec.bias)
            got = self.predict(gin if self.input_spec.fp8 else gin.astype(np.int64)).logits.reshape(gout.shape)
        finally:
            self._biases = saved
        mism = int(np.count_nonzero(got != gout))
        return {"ok": mism == 0, "samples": int(len(gin)), "mismatches": mism, "simulated": self.simulated}

    def benchmark(self, n: int = 1000, batch: int = 1, power: Any = None, warmup: int = 10):
        """Latency distribution, throughput and driver overhead of ``n`` calls of ``batch``
        samples; with ``power`` (True or a :class:`~sustainml.board.power.PowerMonitor`) also
        power and energy per inference. See :func:`sustainml.board.bench.benchmark`."""
        from .bench import benchmark

        return benchmark(self, n=n, batch=batch, power=power, warmup=warmup)

    def close(self) -> None:
        for buf in (self.input_buffer, self.output_buffer):
            buf.freebuffer()

    def __enter__(self) -> "Dnnu":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _check_buffer(self, buf: Any, spec: IoSpec, what: str) -> int:
        if not hasattr(buf, "physical_address") or buf.physical_address is None:
            raise BoardError(f"{what} must be a device buffer (pynq.allocate or a slice of Dnnu.{what}_buffer)")
        if tuple(buf.shape[1:]) != spec.shape or buf.dtype != spec.np_dtype:
            raise BoardError(f"{what} buffer is {buf.dtype}{list(buf.shape)}, the DNNU needs "
                             f"{spec.dtype}[n, {', '.join(map(str, spec.shape))}]")
        if not buf.flags.c_contiguous:
            raise BoardError(f"{what} buffer must be contiguous")
        return int(buf.shape[0])


def _active_device() -> Any:
    from pynq.pl_server.device import Device

    try:
        return Device.active_device
    except RuntimeError:
        raise BoardError("no PYNQ device found; on a host set $SUSTAINML_SIM_BOARD (e.g. pynq-z2) "
                         "to use the simulated board") from None


def _find_ip(ip_dict: Dict[str, Any], bundle: Bundle) -> Dict[str, Any]:
    if bundle.ip_name in ip_dict:
        return ip_dict[bundle.ip_name]
    vlnv = (bundle.manifest.get("ip") or {}).get("vlnv")
    hits = [d for d in ip_dict.values() if vlnv and d.get("type") == vlnv]
    if len(hits) == 1:
        return hits[0]
    raise BoardError(f"overlay {bundle.bitfile.name} has no IP {bundle.ip_name!r}"
                     f" (IP in its hwh: {', '.join(sorted(ip_dict)) or 'none'})")


def _check_registers(desc: Dict[str, Any], bundle: Bundle) -> None:
    regs = bundle.registers
    top = max(regs.values()) + 8
    if desc.get("addr_range", top) < top:
        raise BoardError(f"IP {bundle.ip_name}: address range {desc['addr_range']:#x} is smaller than the "
                         f"manifest's register map (needs {top:#x})")
    ctrl = (desc.get("registers") or {}).get("CTRL")
    if ctrl is not None and int(ctrl["address_offset"]) != regs["ap_ctrl"]:
        raise BoardError(f"IP {bundle.ip_name}: hwh puts CTRL at {int(ctrl['address_offset']):#x}, the manifest "
                         f"ap_ctrl at {regs['ap_ctrl']:#x}")
