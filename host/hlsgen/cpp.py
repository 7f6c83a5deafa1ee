"""C++ text for DNNU stages: configuration structs, weight arrays, module calls.

One stage = one instance of a library module (hls/include/sustainml/layers/*.h) configured by a
struct whose members are the :class:`~sustainml.nas.quantized.Stage` fields. Shared by the
whole-DNNU emitter (:mod:`.emit`) and the single-module test bench (:mod:`.harness`), so both
compile exactly the same configuration and weights.
"""
from __future__ import annotations

from typing import Iterable, Optional, Tuple

import numpy as np

from sustainml.nas import golden
from sustainml.nas.costmodel import CostModelError, check_unrolling, multiplier_on_dsp, unroll_dims
from sustainml.nas.quantized import ACC_OVERFLOW, STAGE_KINDS, Stage
from sustainml.nas.topology import LEGAL_BITS

from .errors import HlsGenError

#: Library function of each stage kind (all in namespace sml).
FUNCTION = {"conv1d": "conv1d", "dwconv1d": "dwconv1d", "pwconv1d": "pwconv1d", "dense": "dense",
            "maxpool1d": "maxpool1d", "avgpool1d": "avgpool1d", "gap1d": "gap1d"}
MAX_ACC_BITS = 64


def check_stage(stage: Stage, w: Optional[np.ndarray], b: Optional[np.ndarray], where: str) -> None:
    """Raise HlsGenError unless the library can implement ``stage`` bit-exactly."""
    if stage.kind not in STAGE_KINDS:
        raise HlsGenError(f"{where}: unknown stage kind {stage.kind!r} (known: {', '.join(STAGE_KINDS)})")
    for name in ("in_bits", "out_bits") + (("w_bits",) if stage.is_compute else ()):
        if getattr(stage, name) not in LEGAL_BITS:
            raise HlsGenError(f"{where} ({stage.kind}): {name}={getattr(stage, name)} is not a legal width (2..8 or 16)")
    _check_geometry(stage, where)
    try:
        check_unrolling(stage, where)
    except CostModelError as exc:
        raise HlsGenError(str(exc)) from None
    if not stage.is_compute:
        if stage.out_bits != stage.in_bits or stage.out_signed != stage.in_signed:
            raise HlsGenError(f"{where} ({stage.kind}): pooling keeps its input width (in {stage.in_bits} bits, out {stage.out_bits})")
        return
    if stage.acc_overflow not in ACC_OVERFLOW:
        raise HlsGenError(f"{where} ({stage.kind}): acc_overflow={stage.acc_overflow!r} is not one of "
                          f"{', '.join(ACC_OVERFLOW)}")
    if not 2 <= stage.acc_bits <= MAX_ACC_BITS:
        raise HlsGenError(f"{where} ({stage.kind}): acc_bits={stage.acc_bits} is outside 2..{MAX_ACC_BITS}")
    if not -MAX_ACC_BITS < stage.shift <= MAX_ACC_BITS or stage.acc_bits - min(stage.shift, 0) > MAX_ACC_BITS:
        raise HlsGenError(f"{where} ({stage.kind}): shift={stage.shift} is out of range for acc_bits={stage.acc_bits}")
    shape = stage.weight_shape
    if w is None or tuple(np.shape(w)) != shape:
        raise HlsGenError(f"{where} ({stage.kind}): weights have shape {None if w is None else tuple(np.shape(w))}, expected {shape}")
    lo, hi = -(1 << (stage.w_bits - 1)), (1 << (stage.w_bits - 1)) - 1
    w = np.asarray(w)
    if w.size and (w.min() < lo or w.max() > hi):
        bad = int(w.min()) if w.min() < lo else int(w.max())
        raise HlsGenError(f"{where} ({stage.kind}): weight {bad} does not fit w_bits={stage.w_bits} ({lo}..{hi})")
    if b is not None and tuple(np.shape(b)) != (stage.out_ch,):
        raise HlsGenError(f"{where} ({stage.kind}): biases have shape {tuple(np.shape(b))}, expected ({stage.out_ch},)")


def expected_geometry(stage: Stage) -> Tuple[int, int]:
    """(out_len, out_ch) the module produces for the stage's input and window."""
    k = stage.kind
    if k in ("conv1d", "dwconv1d"):
        out_len = (stage.in_len + 2 * stage.padding - stage.kernel) // stage.stride + 1
        return out_len, stage.in_ch if k == "dwconv1d" else stage.out_ch
    if k in ("maxpool1d", "avgpool1d"):
        return (stage.in_len - stage.kernel) // stage.stride + 1, stage.in_ch
    if k == "pwconv1d":
        return stage.in_len, stage.out_ch
    return 1, stage.in_ch if k == "gap1d" else stage.out_ch


def _check_geometry(stage: Stage, where: str) -> None:
    dims = dict(in_len=stage.in_len, in_ch=stage.in_ch, out_ch=stage.out_ch, kernel=stage.kernel, stride=stage.stride)
    for name, v in dims.items():
        if v < 1:
            raise HlsGenError(f"{where} ({stage.kind}): {name}={v} must be positive")
    windowed = stage.kind in ("conv1d", "dwconv1d", "maxpool1d", "avgpool1d")
    pad = stage.padding if stage.kind in ("conv1d", "dwconv1d") else 0
    if stage.padding != pad or stage.padding < 0:
        raise HlsGenError(f"{where} ({stage.kind}): padding={stage.padding} is not supported (conv stages only, >= 0)")
    if windowed and stage.kernel > stage.in_len + 2 * pad:
        raise HlsGenError(f"{where} ({stage.kind}): kernel={stage.kernel} is longer than the padded input ({stage.in_len + 2 * pad})")
    want = expected_geometry(stage)
    if (stage.out_len, stage.out_ch) != want:
        raise HlsGenError(f"{where} ({stage.kind}): output (len, ch)=({stage.out_len}, {stage.out_ch}) but the module makes {want}")


def wrap_int(v: int, bits: int) -> int:
    """Two's-complement wrap of a Python int (what an ap_int<bits> holds)."""
    m = 1 << bits
    return ((v + (m >> 1)) % m) - (m >> 1)


def config_struct(name: str, stage: Stage, comment: str) -> str:
    """``struct NAME { static const ... }`` with every template parameter of the stage."""
    b = lambda v: "true" if v else "false"  # noqa: E731
    avg = stage.avg_mult if stage.kind in ("avgpool1d", "gap1d") else 0
    return (
        f"// {comment}\n"
        f"struct {name} {{\n"
        f"    static const int IN_LEN = {stage.in_len}, IN_CH = {stage.in_ch}, IN_BITS = {stage.in_bits};\n"
        f"    static const bool IN_SIGNED = {b(stage.in_signed)};\n"
        f"    static const int OUT_LEN = {stage.out_len}, OUT_CH = {stage.out_ch}, OUT_BITS = {stage.out_bits};\n"
        f"    static const bool OUT_SIGNED = {b(stage.out_signed)};\n"
        f"    static const int KERNEL = {stage.kernel}, STRIDE = {stage.stride}, PADDING = {stage.padding};\n"
        f"    static const int W_BITS = {stage.w_bits}, SHIFT = {stage.shift}, ACC_BITS = {stage.acc_bits};\n"
        f"    static const bool RELU = {b(stage.relu)}, ACC_SAT = {b(stage.acc_overflow == 'saturate')};\n"
        f"    static const int PE = {stage.pe}, SIMD = {stage.simd}, KP = {stage.kp};\n"
        f"    static const int AVG_MULT = {avg};\n"
        f"    static const bool MUL_DSP = {b(stage.is_compute and multiplier_on_dsp(stage, folds(stage)))};\n"
        f"}};\n"
    )


def _literal(v: int) -> str:
    return f"{v}LL" if not -(1 << 31) <= v < (1 << 31) else str(v)


def array_literal(a: np.ndarray, indent: str = "    ", per_line: int = 16) -> str:
    """Nested-brace C initializer of an integer array (deterministic text)."""
    a = np.asarray(a)
    if a.ndim == 1:
        items = [_literal(int(v)) for v in a]
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        if len(lines) <= 1:
            return "{" + (lines[0] if lines else "") + "}"
        return "{\n" + ",\n".join(indent + "    " + ln for ln in lines) + "\n" + indent + "}"
    inner = [array_literal(sub, indent + "    ", per_line) for sub in a]
    return "{\n" + ",\n".join(indent + "    " + s for s in inner) + "\n" + indent + "}"


def folds(stage: Stage) -> int:
    """Fold steps per output of the stage's module: prod(dim / factor) over pe, simd, kp."""
    return int(np.prod([d // f for d, f in zip(unroll_dims(stage), (stage.pe, stage.simd, stage.kp))]))


def fold_weights(stage: Stage, w: np.ndarray) -> np.ndarray:
    """Weights in the folded layout the modules read: ``wf[fold step][lane]``.

    conv1d ``w[k][c][o]``: step ``(pf*CF + cf)*KF + kf``, lane ``(pp*KP + kk)*SIMD + ss``;
    pwconv1d/dense ``w[i][o]`` likewise with one tap; dwconv1d ``w[k][c]``: step
    ``pf*KF + kf``, lane ``pp*KP + kk`` (k = kf*KP + kk, c = cf*SIMD + ss, o = pf*PE + pp).
    """
    w = np.asarray(w)
    pe, simd, kp = stage.pe, stage.simd, stage.kp
    if stage.kind == "dwconv1d":
        k, c = w.shape
        return w.reshape(k // kp, kp, c // pe, pe).transpose(2, 0, 3, 1).reshape(-1, pe * kp)
    if stage.kind != "conv1d":
        w = w[None]  # one tap
    k, c, o = w.shape
    parts = w.reshape(k // kp, kp, c // simd, simd, o // pe, pe)  # kf, kk, cf, ss, pf, pp
    return parts.transpose(4, 2, 0, 5, 1, 3).reshape(-1, pe * kp * simd)


def weight_arrays(name: str, cfg: str, stage: Stage, w: Optional[np.ndarray], b: Optional[np.ndarray]) -> str:
    """``NAME_w`` (weights in the folded layout of :func:`fold_weights`, ap_int<W_BITS>) and
    ``NAME_b`` (biases ``[OUT_CH/PE][PE]`` as accumulator start values, wrapped or saturated to
    ap_int<ACC_BITS> as the stage's ``acc_overflow`` says; zeros when the stage has no bias) as
    on-chip const arrays."""
    if not stage.is_compute:
        return ""
    wf = fold_weights(stage, np.asarray(w, dtype=np.int64))
    bias = np.zeros(stage.out_ch, dtype=np.int64) if b is None else np.asarray(b, dtype=np.int64)
    if stage.acc_overflow == "saturate":
        bias = np.array([int(v) for v in golden.saturate(bias, stage.acc_bits)], dtype=object)
    else:
        bias = np.array([wrap_int(int(v), stage.acc_bits) for v in bias], dtype=object)
    bias = bias.reshape(-1, stage.pe)
    wdims, bdims = "".join(f"[{d}]" for d in wf.shape), "".join(f"[{d}]" for d in bias.shape)
    return (
        f"static const ap_int<{cfg}::W_BITS> {name}_w{wdims} = {array_literal(wf, '')};\n"
        f"static const ap_int<{cfg}::ACC_BITS> {name}_b{bdims} = {array_literal(bias, '')};\n"
    )


def call(name: str, cfg: str, stage: Stage, src: str, dst: str, batch: str = "batch") -> str:
    """The statement that runs the stage from stream ``src`` into stream ``dst``."""
    args = f"{src}, {dst}, {batch}" + (f", {name}_w, {name}_b" if stage.is_compute else "")
    return f"sml::{FUNCTION[stage.kind]}<{cfg}>({args});"


def stream_type(cfg: str, side: str) -> str:
    """Beat type of a stage's input (``side='in'``) or output stream."""
    return f"sml::io<{cfg}>::{side}_vec"


def header_guard(name: str, body: str, includes: Iterable[str] = ()) -> str:
    guard = "SUSTAINML_GEN_" + name.upper().replace(".", "_")
    inc = "".join(f'#include {i}\n' for i in includes)
    return f"#ifndef {guard}\n#define {guard}\n\n{inc}\n{body}\n#endif  // {guard}\n"
