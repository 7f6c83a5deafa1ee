"""The Verilog stage library (``hls/rtl/``) seen from Python: one place that knows how a
:class:`~sustainml.nas.quantized.Stage` becomes a module instance.

Contract (the interface of ``hls/rtl/README.md``):

* every stage kind has one module ``sml_<kind>`` taking every ``Stage`` field as an upper-case
  parameter (booleans 0/1) plus ``WEIGHTS_FILE``/``BIAS_FILE``; streams ``s_axis``/``m_axis`` of
  :func:`in_width`/:func:`out_width` bits, one beat = one time step, channel ``c`` at
  ``[c*BITS +: BITS]`` (two's complement);
* compute stages read two ``$readmemh`` files, one ROM word per fold step (:func:`rom_lines`);
* the checks are the HLS backend's (:func:`check`), so both backends accept the same stages;
* :func:`fold_count` / :func:`ideal_cycles` are the cycles the modules take: the cost model's own
  functions (nas/rtl_timing.py ``fold_count`` / ``stage_period``, one place), measured against
  Verilator by ``tests/test_rtl_modules.py``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from sustainml import REPO_ROOT
from sustainml.host.hlsgen.cpp import check_stage
from sustainml.nas.golden import saturate
from sustainml.nas.quantized import Stage
from sustainml.nas.rtl_timing import fold_count  # noqa: F401 (re-exported: cycles per output beat)
from sustainml.nas.rtl_timing import stage_period as ideal_cycles  # noqa: F401 (cycles per sample)

#: The Verilog library folder.
LIBRARY_DIR = REPO_ROOT / "hls" / "rtl"
#: Files of the library that belong to the top level (rtl-top), not to the stage library.
TOP_PREFIXES = ("sml_axi", "sml_dnnu")
#: ``Stage`` fields passed to every module, in this order.
PARAMS = ("in_len", "in_ch", "in_bits", "in_signed", "out_len", "out_ch", "out_bits", "out_signed", "kernel",
          "stride", "padding", "w_bits", "shift", "acc_bits", "relu", "pe", "simd", "kp")


def library_files() -> List[Path]:
    """The stage library's Verilog files (every ``sml_*.v`` except the top-level ones), sorted."""
    return sorted(p for p in LIBRARY_DIR.glob("sml_*.v") if not p.name.startswith(TOP_PREFIXES))


def module_name(stage: Stage) -> str:
    return f"sml_{stage.kind}"


def in_width(stage: Stage) -> int:
    """Bits of one input beat."""
    return stage.in_ch * stage.in_bits


def out_width(stage: Stage) -> int:
    """Bits of one output beat."""
    return stage.out_ch * stage.out_bits


def check(stage: Stage, w: Optional[np.ndarray], b: Optional[np.ndarray], where: str) -> None:
    """Raise :class:`~sustainml.host.hlsgen.HlsGenError` (one line) unless the library can
    implement ``stage`` bit-exactly (the same checks as the HLS backend)."""
    check_stage(stage, w, b, where)


def _hex_words(fields: np.ndarray, bits: int) -> List[str]:
    """One hex line per row of ``fields`` (row r, field i at bits [i*bits +: bits], two's complement)."""
    fields = np.asarray(fields, dtype=object)
    digits = (fields.shape[1] * bits + 3) // 4
    mask = (1 << bits) - 1
    lines = []
    for row in fields:
        word = 0
        for i, v in enumerate(row):
            word |= (int(v) & mask) << (i * bits)
        lines.append(format(word, f"0{digits}x"))
    return lines


def rom_lines(stage: Stage, w: Optional[np.ndarray], b: Optional[np.ndarray]
              ) -> Tuple[Optional[List[str]], Optional[List[str]]]:
    """(weight ROM lines, bias ROM lines) of a compute stage; (None, None) for pooling.

    Weight word ``nf*SF + sf`` holds lane ``(p, j)`` at ``[(p*CHUNK + j)*W_BITS +: W_BITS]``, in the
    contract's fold order (nas/quantized.py): conv1d ``sf = cf*KF + kf`` (channel blocks outer, tap
    blocks inner), lane ``j = kk*SIMD + ss`` = ``w[kf*KP + kk][cf*SIMD + ss][nf*PE + p]``;
    pwconv1d/dense ``w[sf*SIMD + j][nf*PE + p]``; dwconv1d ``w[sf*KP + j][nf*PE + p]``. Bias word
    ``nf`` holds ``b[nf*PE + p]`` at ``[p*ACC_BITS +: ACC_BITS]``, wrapped to ACC_BITS, or saturated
    when the stage saturates (the accumulator's start value, as the golden model's).
    """
    if not stage.is_compute:
        return None, None
    pe, nf_n = stage.pe, stage.out_ch // stage.pe
    w = np.asarray(w, dtype=np.int64)
    if stage.kind == "dwconv1d":
        chunk = stage.kp
        # word (nf, sf), lane (p, j) = w[sf*KP + j][nf*PE + p]
        grid = w.reshape(stage.kernel // chunk, chunk, nf_n, pe).transpose(2, 0, 3, 1)  # (nf, sf, p, j)
    elif stage.kind == "conv1d":
        simd, kp = stage.simd, stage.kp
        chunk = simd * kp
        # word (nf, cf, kf), lane (p, kk, ss) = w[kf*KP + kk][cf*SIMD + ss][nf*PE + p]
        grid = w.reshape(stage.kernel // kp, kp, stage.in_ch // simd, simd, nf_n, pe).transpose(4, 2, 0, 5, 1, 3)
    else:
        chunk = stage.simd
        flat = w.reshape(-1, stage.out_ch)  # (N, OUT_CH), dense: time-major
        grid = flat.reshape(flat.shape[0] // chunk, chunk, nf_n, pe).transpose(2, 0, 3, 1)  # (nf, sf, p, j)
    words = _hex_words(grid.reshape(-1, pe * chunk), stage.w_bits)
    bias = np.zeros(stage.out_ch, dtype=np.int64) if b is None else np.asarray(b, dtype=np.int64)
    if stage.acc_overflow == "saturate":
        bias = saturate(bias, stage.acc_bits)
    bwords = _hex_words(bias.reshape(-1, pe), stage.acc_bits)
    return words, bwords


def write_roms(stage: Stage, w: Optional[np.ndarray], b: Optional[np.ndarray], folder: Union[str, Path],
               prefix: str) -> Tuple[Optional[Path], Optional[Path]]:
    """Write ``{prefix}_w.hex`` and ``{prefix}_b.hex`` into ``folder`` (compute stages; a stage
    without biases gets a zero bias file); returns their paths, (None, None) for pooling."""
    words, bwords = rom_lines(stage, w, b)
    if words is None or bwords is None:
        return None, None
    folder = Path(folder)
    paths = folder / f"{prefix}_w.hex", folder / f"{prefix}_b.hex"
    for path, lines in zip(paths, (words, bwords)):
        path.write_text("\n".join(lines) + "\n")
    return paths


def parameters(stage: Stage, wfile: str = "", bfile: str = "") -> Dict[str, Union[int, str]]:
    """The module's parameters (upper-case names) for ``stage``; ``acc_overflow`` becomes
    ``ACC_SAT`` (1 = saturate)."""
    out: Dict[str, Union[int, str]] = {name.upper(): int(getattr(stage, name)) for name in PARAMS}
    out["AVG_MULT"] = int(stage.avg_mult)
    out["ACC_SAT"] = int(stage.acc_overflow == "saturate")
    out["WEIGHTS_FILE"] = str(wfile)
    out["BIAS_FILE"] = str(bfile)
    return out


def _value(v: Union[int, str]) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(v) if v >= 0 else f"-{-v}"


def instance(stage: Stage, name: str, wfile: Union[str, Path, None] = "", bfile: Union[str, Path, None] = "",
             s: str = "s_axis", m: str = "m_axis", clk: str = "ap_clk", rst: str = "ap_rst_n") -> str:
    """Verilog text instantiating ``stage`` as ``name``, streams on wires ``{s}_t*`` / ``{m}_t*``."""
    params = parameters(stage, str(wfile or ""), str(bfile or ""))
    plist = ",\n".join(f"    .{k}({_value(v)})" for k, v in params.items())
    ports = [f".ap_clk({clk})", f".ap_rst_n({rst})"]
    ports += [f".s_axis_t{p}({s}_t{p})" for p in ("data", "valid", "ready")]
    ports += [f".m_axis_t{p}({m}_t{p})" for p in ("data", "valid", "ready")]
    return f"{module_name(stage)} #(\n{plist}\n) {name} (\n    " + ",\n    ".join(ports) + "\n);\n"


def standalone_top(stage: Stage, wfile: Union[str, Path, None] = "", bfile: Union[str, Path, None] = "",
                   top: str = "stage_top", name: str = "u_stage") -> str:
    """Verilog of a module ``top`` whose ports are the stage's (``ap_clk``, ``ap_rst_n``,
    ``s_axis_*``, ``m_axis_*``) and which holds the stage alone as ``name``: synthesize one stage."""
    return (f"module {top} (input wire ap_clk, input wire ap_rst_n,\n"
            f"    input wire [{in_width(stage) - 1}:0] s_axis_tdata, input wire s_axis_tvalid, "
            f"output wire s_axis_tready,\n    output wire [{out_width(stage) - 1}:0] m_axis_tdata, "
            f"output wire m_axis_tvalid, input wire m_axis_tready);\n"
            + instance(stage, name, wfile, bfile) + "\nendmodule\n")


def pack_beats(x: np.ndarray, bits: int) -> List[int]:
    """Beats (N*L, C) of integers as stream words (channel c at [c*bits +: bits])."""
    x = np.asarray(x, dtype=np.int64)
    mask = (1 << bits) - 1
    return [sum((int(v) & mask) << (c * bits) for c, v in enumerate(row)) for row in x.reshape(-1, x.shape[-1])]


def unpack_beats(words: Sequence[int], channels: int, bits: int, signed: bool) -> np.ndarray:
    """Inverse of :func:`pack_beats`: (len(words), channels) int64."""
    mask = (1 << bits) - 1
    out = np.zeros((len(words), channels), dtype=np.int64)
    for i, word in enumerate(words):
        for c in range(channels):
            v = (int(word) >> (c * bits)) & mask
            out[i, c] = v - (1 << bits) if signed and v >> (bits - 1) else v
    return out
