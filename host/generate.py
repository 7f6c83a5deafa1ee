"""``generate``: a trained model → a self-contained HLS + Vivado project for one board.

Steps: choose the accumulator widths (nas/accumulators.py: by default the width no input can
overflow; ``acc_width="observed"`` narrows them to the calibration range + ``margin_bits``, and
``acc_overflow="saturate"`` makes an overflow clip instead of wrap), choose the unrolling for
the board's budget and the objective (nas/folding.py), emit the DNNU sources (host/hlsgen), a
C-simulation testbench with golden vectors, the Vitis HLS and Vivado Tcl (host/tcl.py), the
cost estimates (nas/costmodel.py) and a report. Layout::

    BUILD_DIR/build.yaml          what was generated (read by `sustainml build`)
    BUILD_DIR/report.md           unrolling, cycles per layer, accumulators, estimates
    BUILD_DIR/estimates.yaml      cost-model output + its feature vector
    BUILD_DIR/model/              the model as built (acc_bits, pe/simd/kp applied)
    BUILD_DIR/golden/             golden_input.npy / golden_output.npy (nas/golden.py)
    BUILD_DIR/hls/                src/ (dnnu.cpp, config.h, weights.h, tb_dnnu.cpp), include/
                                  (the DNNU library), golden/*.bin, run_hls.tcl
    BUILD_DIR/vivado/build_overlay.tcl
    BUILD_DIR/rtl/                --backend rtl: dnnu.v (generated top), the hls/rtl/ modules it uses,
                                  ROM files s<i>_w.hex / s<i>_b.hex, sources.txt (host/rtlgen/top.py)

``io="fp8"`` (``--io fp8``) gives the DNNU FP8 I/O: E5M2 codes (1 byte per value) over DMA with
the biases as run-time registers (``in_bias``, ``out_bias``; defaults chosen from the
calibration data by the seed's bias table unless given); golden vectors are then codes.

Everything written depends only on the inputs: the same model, board and options give a
byte-identical directory.
"""
from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import yaml

from sustainml import REPO_ROOT
from sustainml.board.bundle import FP8_ENCODING
from sustainml.board.fp8 import check_bias
from sustainml.board.fp8 import encode as fp8_encode
from sustainml.errors import SustainmlError
from sustainml.nas import accumulators, golden
from sustainml.nas.catalogue import Board, get_board
from sustainml.nas.cost_sources import resolve
from sustainml.nas.costmodel import estimate as cost_estimate
from sustainml.nas.costmodel import features, hardware_time_band
from sustainml.nas.folding import Folding, fold
from sustainml.nas.quantized import ACC_OVERFLOW, QuantizedModel

from . import tcl
from .errors import UserError
from .hlsgen.dnnu_io import DnnuIO, fp8_golden
from .hlsgen.emit import COSIM_BATCH, CSIM_ARGS, CSIM_SYMBOL, emit_dnnu, registers
from .hlsgen.errors import HlsGenError

BUILD_FORMAT = "sustainml-build/1"
GOLDEN_SAMPLES = 8
#: ``--io`` choices -> manifest encoding.
IO_ENCODINGS = {"int": "int", "fp8": FP8_ENCODING}
#: ``--backend`` choices: the HLS project only, or also the Verilog project (host/rtlgen).
BACKENDS = ("hls", "rtl")
LIBRARY = REPO_ROOT / "hls" / "include" / "sustainml"


@dataclass
class Generated:
    """What :func:`generate` produced."""

    build_dir: Path
    model: QuantizedModel
    board: Board
    folding: Folding
    accumulators: List[accumulators.AccProfile]
    record: Dict[str, Any]


def calibration_inputs(model: QuantizedModel, source: Union[str, Path, np.ndarray, None] = None,
                       limit: Optional[int] = None) -> np.ndarray:
    """Integer calibration inputs (N, L, C): an array (float samples or already integers), a
    ``.npy`` of float samples, or a UCR dataset name/path (its training split); default: the
    dataset the model was trained on."""
    if source is None:
        source = model.metrics.get("dataset")
        if not source:
            raise UserError(f"model {model.topology.name!r} records no dataset; pass --calibration DATASET or FILE.npy")
    if isinstance(source, np.ndarray):
        x = source
    elif str(source).endswith(".npy"):
        p = Path(source)
        if not p.is_file():
            raise UserError(f"{p}: calibration file not found")
        x = np.load(p)
    else:
        from sustainml.nas.data import load_dataset
        x = load_dataset(source).train.x
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[:, :, None]
    expect = (model.topology.input.length, model.topology.input.channels)
    if x.ndim != 3 or x.shape[1:] != expect:
        raise UserError(f"calibration data has shape {x.shape[1:]}, the model expects (length, channels) {expect}")
    if limit:
        x = x[:limit]
    return x.astype(np.int64) if np.issubdtype(x.dtype, np.integer) else model.quantize_input(x)


def _markdown(headers: List[str], rows: List[List[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


RESOURCES = ("lut", "ff", "bram36", "dsp")
WIDTH_TEXT = {"bound": "the overflow-free width (no input can overflow it; the default)",
              "observed": "the calibration range + {margin} margin bit(s) (`--acc-width observed`)",
              "model": "the model's own widths (`--keep-acc-bits`)"}


def accumulator_section(record: Dict[str, Any]) -> List[str]:
    """The report's accumulator section: choice, warning, per-stage widths, cost of each choice."""
    acc, cal = record["accumulators"], record["calibration"]
    width = WIDTH_TEXT[acc["width"]].format(margin=cal["margin_bits"])
    out = ["## Accumulators\n\n",
           f"Widths: {width}; on overflow: {acc['overflow']}. Profiled on {cal['samples']} calibration samples "
           f"({cal['source']}).\n\n"]
    if acc["warning"]:
        out.append(f"**Warning:** {acc['warning']}.\n\n")
    out.append(_markdown(["stage", "kind", "observed range", "observed bits", "naive bits", "overflow-free bits",
                          "running-sum bits", "chosen bits", "overflow-free"],
                         [[a["stage"], a["kind"], f"[{a['lo']}, {a['hi']}]", a["observed_bits"], a["naive_bits"],
                           a["bound_bits"], "-" if a["running_bits"] is None else a["running_bits"], a["chosen_bits"],
                           "yes" if a["safe"] else "no"] for a in acc["stages"]]))
    cost = acc["cost"]
    out += [f"\nResource cost of the accumulator choices at this unrolling (cost-model estimate, not synthesis; "
            f"{acc['overflow']}; observed widths with margin {cost['observed']['margin_bits']}, before any widening "
            "for saturating running sums):\n\n",
            _markdown(["widths", "acc bits per stage", "LUT", "FF", "BRAM36", "DSP"],
                      [[k, " ".join(map(str, cost[k]["acc_bits"]))] + [cost[k][r] for r in RESOURCES]
                       for k in ("bound", "observed")]
                      + [["bound - observed", ""] + [cost["delta"][r] for r in RESOURCES]])]
    return out


def report_markdown(record: Dict[str, Any]) -> str:
    """The human-readable report of a generated project."""
    est = record["estimates"]
    out = [f"# DNNU of `{record['model']}` on {record['board']} ({record['part']}, {record['clock_mhz']} MHz)\n\n",
           f"Objective: {record['objective']}. Estimates are from the closed-form cost model "
           f"(coefficients: {record['coefficients']}), not from synthesis.\n\n",
           "## Unrolling and cycles per layer\n\n",
           _markdown(["stage", "layer", "kind", "pe", "simd", "kp", "multipliers", "cycles/sample", "DSP", "LUT", "BRAM36"],
                     [[s["stage"], record["stage_layers"][s["stage"]], s["kind"], s["pe"], s["simd"], s["kp"],
                       s["multipliers"], s["interval_cycles"], s["dsp"], s["lut"], s["bram36"]] for s in est["stages"]]),
           f"\nBottleneck: {est['bottleneck']} at {est['interval_cycles']} cycles per sample "
           f"(lowest any unrolling reaches: {record['folding']['floor_cycles']}).\n\n",
           *accumulator_section(record),
           "\n## Estimates\n\n",
           _markdown(["quantity", "value"], [
               ["latency, batch 1 (us)", est["latency_us"]], ["latency (cycles)", est["latency_cycles"]],
               ["throughput (inferences/s)", est["throughput_fps"]], ["LUT", est["resources"]["lut"]],
               ["FF", est["resources"]["ff"]], ["BRAM36", est["resources"]["bram36"]], ["DSP", est["resources"]["dsp"]],
               ["PL power static + dynamic (W)", f"{est['power_w']['static']} + {est['power_w']['dynamic']}"],
               ["PS power (W)", est["power_w"]["ps"]],
               ["PL energy per inference (uJ)", est["energy_per_inference_uj"]],
               ["PL+PS energy per inference (uJ)", est["energy_per_inference_system_uj"]],
               ["fits the part", est["fits"]]]),
           ]
    if "dma_bytes_per_sample" in record:
        d, io = record["dma_bytes_per_sample"], record["io"]
        out += ["\n## I/O: FP8 E5M2 over DMA\n\n",
                f"Input codes decoded at register in_bias (default {io['input']['bias']}) and quantized on chip to "
                f"{io['input']['bits']}-bit samples (frac {io['input']['frac']}); logits (frac {io['output']['frac']}) "
                f"encoded at register out_bias (default {io['output']['bias']}).\n\n",
                _markdown(["per sample", "bytes", "FP32 I/O bytes", "ratio"],
                          [[side, d[side], d[f"{side}_fp32"], f"{d[side] / d[side + '_fp32']:.2f}"]
                           for side in ("input", "output")])]
    return "".join(out)


TESTBENCH = """// C-simulation testbench of the DNNU (Vitis HLS csim_design): runs the golden input vectors
// through dnnu() and compares with the golden model's outputs bit for bit.
// Generated by sustainml generate; do not edit.
#include <cstdio>
#include <vector>
#include "config.h"

@DECL@

static bool load(const char* dir, const char* name, void* dst, size_t bytes) {
    char path[1024];
    std::snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE* f = std::fopen(path, "rb");
    if (!f) { std::printf("cannot open %s\\n", path); return false; }
    const size_t got = std::fread(dst, 1, bytes, f);
    std::fclose(f);
    if (got != bytes) { std::printf("%s: %zu bytes, expected %zu\\n", path, got, bytes); return false; }
    return true;
}

int main(int argc, char** argv) {
    const char* dir = argc > 1 ? argv[1] : "golden";
    const int n = @SAMPLES@;
    std::vector<dnnu_in_t> in((size_t)n * DNNU_IN_LEN * DNNU_IN_CH);
    std::vector<dnnu_out_t> want((size_t)n * DNNU_CLASSES), got((size_t)n * DNNU_CLASSES);
    if (!load(dir, "input.bin", in.data(), in.size() * sizeof(dnnu_in_t))) return 2;
    if (!load(dir, "output.bin", want.data(), want.size() * sizeof(dnnu_out_t))) return 2;
    @CALL@;
    int bad = 0;
    for (size_t i = 0; i < got.size(); i++) {
        if (got[i] != want[i]) {
            if (bad < 10) std::printf("mismatch at sample %zu class %zu: got %d, golden %d\\n",
                                      i / DNNU_CLASSES, i % DNNU_CLASSES, (int)got[i], (int)want[i]);
            bad++;
        }
    }
    std::printf("%s: %d of %zu outputs differ from the golden model\\n", bad ? "FAIL" : "PASS", bad, got.size());
    return bad ? 1 : 0;
}
"""


#: The testbench's declaration and call of the top, per I/O encoding.
TB_TOP = {"int": ("void dnnu(const dnnu_in_t* in, dnnu_out_t* out, int batch);", "dnnu(in.data(), got.data(), n)"),
          FP8_ENCODING: ("#include <ap_int.h>\nvoid dnnu(const dnnu_in_t* in, dnnu_out_t* out, int batch, ap_uint<6> in_bias, "
                         "ap_uint<6> out_bias);", "dnnu(in.data(), got.data(), n, @IN_BIAS@, @OUT_BIAS@)")}


def testbench(n: int, encoding: str = "int", in_bias: Optional[int] = None, out_bias: Optional[int] = None) -> str:
    """``tb_dnnu.cpp`` for ``n`` golden samples (FP8 I/O: run at the default biases)."""
    decl, call = TB_TOP[encoding]
    call = call.replace("@IN_BIAS@", str(in_bias)).replace("@OUT_BIAS@", str(out_bias))
    return TESTBENCH.replace("@SAMPLES@", str(n)).replace("@DECL@", decl).replace("@CALL@", call)


def _io(model: QuantizedModel, encoding: str = "int", in_bias: Optional[int] = None,
        out_bias: Optional[int] = None) -> Dict[str, Any]:
    io = DnnuIO.of_model(model, encoding)
    doc = {"input": {"shape": [io.length, io.channels], "dtype": str(io.in_dtype), "bits": io.in_bits, "signed": True,
                     "frac": int(model.input_frac)},
           "output": {"shape": [io.classes], "dtype": str(io.out_dtype), "bits": io.out_bits, "signed": True,
                      "frac": int(model.output_frac)}}
    if io.fp8:
        doc["input"].update(encoding=encoding, bias=in_bias, register="in_bias")
        doc["output"].update(encoding=encoding, bias=out_bias, register="out_bias")
    return doc


def fp8_default_biases(model: QuantizedModel, x_int: np.ndarray) -> Tuple[int, int]:
    """Bias registers for FP8 I/O from calibration inputs (integers on the input grid): the seed's
    table applied to the median non-zero magnitude of the input samples and of the logits."""
    from sustainml.nas.fp8 import choose_bias

    def median(v: np.ndarray) -> float:
        nz = np.abs(v[v != 0])
        return float(np.median(nz)) if nz.size else 0.0

    x = x_int[:512]
    logits = golden.run(model, x) * 2.0 ** -model.output_frac
    return choose_bias(median(x * 2.0 ** -model.input_frac)), choose_bias(median(logits))


def _fp8_bias_option(value: Optional[int], flag: str) -> Optional[int]:
    if value is None:
        return None
    try:
        return check_bias(value, flag)
    except SustainmlError as exc:
        raise UserError(str(exc)) from None


def generate(model_dir: Union[str, Path], out_dir: Union[str, Path], board: str = "pynq-z2",
             objective: str = "latency", target_fps: Optional[float] = None, clock_mhz: Optional[float] = None,
             calibration: Union[str, Path, np.ndarray, None] = None, calibration_limit: Optional[int] = None,
             margin_bits: Optional[int] = None, name: Optional[str] = None, golden_inputs: Optional[np.ndarray] = None,
             model: Optional[QuantizedModel] = None, keep_acc_bits: bool = False,
             cost_model: Union[str, Path, None] = None, io: str = "int", in_bias: Optional[int] = None,
             out_bias: Optional[int] = None, acc_width: Optional[str] = None, acc_overflow: str = "wrap",
             backend: str = "hls") -> Generated:
    """Generate the project (see module docstring). ``model`` skips loading ``model_dir``.
    Accumulators: ``acc_width`` ``bound`` (default: overflow-free for any input) or ``observed``
    (calibration range + ``margin_bits``, default 1); ``keep_acc_bits`` keeps the model's widths
    instead (an error if the calibration data overflows any of them); ``acc_overflow`` ``wrap``
    or ``saturate`` (nas/quantized.py). ``backend`` ``hls`` or ``rtl`` (the Verilog project in
    ``BUILD_DIR/rtl`` beside the HLS one). ``cost_model`` is an explicit
    coefficients file; by default refined coefficients are used when present, else the prior
    (nas/cost_sources.py). ``io`` is ``int`` or ``fp8`` (``in_bias``/``out_bias``: the FP8 bias
    registers' default values; chosen from the calibration data when None). ``backend="rtl"`` also
    writes the Verilog project ``BUILD_DIR/rtl/`` (host/rtlgen/top.py) and records it in build.yaml."""
    if backend not in BACKENDS:
        raise UserError(f"--backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend == "rtl" and io != "int":
        raise UserError(f"--backend rtl --io {io}: the Verilog DNNU has integer I/O only (use --io int)")
    if io not in IO_ENCODINGS:
        raise UserError(f"--io {io!r}: expected one of {', '.join(IO_ENCODINGS)}")
    encoding = IO_ENCODINGS[io]
    if encoding != FP8_ENCODING and (in_bias is not None or out_bias is not None):
        raise UserError("--in-bias/--out-bias apply to FP8 I/O only (add --io fp8)")
    in_bias, out_bias = _fp8_bias_option(in_bias, "--in-bias"), _fp8_bias_option(out_bias, "--out-bias")
    b = get_board(board)
    cost = resolve(b, cost_model)
    src = Path(model_dir)
    m = model if model is not None else QuantizedModel.load(src)
    if clock_mhz is not None and not clock_mhz > 0:
        raise UserError(f"--clock {clock_mhz} must be a positive frequency in MHz")
    clock = float(clock_mhz or b.clock_mhz)
    width, margin_bits = _acc_options(acc_width, margin_bits, keep_acc_bits, acc_overflow)
    x_cal = calibration_inputs(m, calibration, calibration_limit)
    if keep_acc_bits:  # the model's own widths: refuse them if the calibration data overflows one
        acc_rows = accumulators.require_no_overflow(m, x_cal, f"model {m.topology.name!r}")
    else:
        acc_rows = accumulators.profile(m, x_cal, margin_bits, width)
    m = accumulators.apply(m, acc_rows, acc_overflow)
    folding = fold(m.stages, b, objective, target_fps, coeffs=cost.coeffs, clock_mhz=clock)
    m = dataclasses.replace(m, stages=folding.stages)
    if acc_overflow == "saturate" and not all(r.safe for r in acc_rows):
        m, folding, acc_rows = _fit_running_sums(m, folding, acc_rows, x_cal, margin_bits, keep_acc_bits, b, cost,
                                                 clock)
    acc_record = {"width": width, "overflow": acc_overflow, "margin_bits": margin_bits,
                  "warning": accumulators.wrap_warning(acc_rows, acc_overflow), "stages": accumulators.table(acc_rows),
                  "cost": _acc_cost(m, x_cal, b, cost, clock, margin_bits if width == "observed" else 1)}
    overlay = name or m.topology.name
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # model as built (weights.npz copied byte-for-byte: np.savez stamps the time into its zip)
    mdir = out / "model"
    m.save(mdir)
    if (src / "weights.npz").is_file():
        shutil.copyfile(src / "weights.npz", mdir / "weights.npz")

    # golden vectors: a few samples through the golden model (FP8 I/O: codes, through the torch codec)
    gx = x_cal[:GOLDEN_SAMPLES] if golden_inputs is None else calibration_inputs(m, golden_inputs)
    if encoding == FP8_ENCODING:
        try:
            DnnuIO.of_model(m, encoding)
        except HlsGenError as exc:
            raise UserError(str(exc)) from None
        auto_in, auto_out = fp8_default_biases(m, x_cal)
        in_bias = auto_in if in_bias is None else in_bias
        out_bias = auto_out if out_bias is None else out_bias
        gx_c = fp8_encode(gx * 2.0 ** -m.input_frac, in_bias)
        gy_c = fp8_golden(m, gx_c, in_bias, out_bias)
    io = _io(m, encoding, in_bias, out_bias)
    if encoding != FP8_ENCODING:
        gx_c = gx.astype(io["input"]["dtype"])
        gy_c = golden.run(m, gx).astype(io["output"]["dtype"])
    gdir = out / "golden"
    gdir.mkdir(exist_ok=True)
    np.save(gdir / "golden_input.npy", gx_c)
    np.save(gdir / "golden_output.npy", gy_c)

    # HLS project
    hls = out / "hls"
    emit_dnnu(m, hls / "src", encoding)
    n_tb = min(len(gx_c), COSIM_BATCH)  # the m_axi depth emitted for C/RTL co-simulation
    (hls / "src" / "tb_dnnu.cpp").write_text(testbench(n_tb, encoding, in_bias, out_bias))
    (hls / "golden").mkdir(parents=True, exist_ok=True)
    (hls / "golden" / "input.bin").write_bytes(np.ascontiguousarray(gx_c[:n_tb]).tobytes())
    (hls / "golden" / "output.bin").write_bytes(np.ascontiguousarray(gy_c[:n_tb]).tobytes())
    lib = hls / "include" / "sustainml"
    if lib.exists():
        shutil.rmtree(lib)
    shutil.copytree(LIBRARY, lib)
    tcl.write_scripts(out, m.topology.name, overlay, b, clock)
    rtl_record = _write_rtl(m, out / "rtl") if backend == "rtl" else None
    if rtl_record is not None:  # the RTL backend's Vivado flow: package the Verilog IP, same block design
        from .rtl_vivado import write_scripts as write_rtl_vivado_scripts
        write_rtl_vivado_scripts(out, m.topology.name, overlay, b, clock, rtl_record["dir"], rtl_record["top"])

    est = folding.estimate
    estimates = {**est.to_dict(), "coefficients": _describe_cost(cost),
                 "hw_time_band": hardware_time_band(est, cost.coeffs, cost.kind)}
    record: Dict[str, Any] = {
        "format": BUILD_FORMAT, "name": overlay, "model": m.topology.name, "board": b.name, "part": b.part,
        "ps": b.ps, "clock_mhz": clock, "objective": folding.objective, "target_fps": target_fps,
        "coefficients": _describe_cost(cost),
        "ip": {"name": tcl.IP_NAME, "vlnv": tcl.VLNV, "top": tcl.TOP}, "registers": registers(encoding),
        "io": io, "sim": {"symbol": CSIM_SYMBOL, **({"args": CSIM_ARGS[encoding]} if CSIM_ARGS[encoding] else {})},
        "golden": {"input": "golden/golden_input.npy", "output": "golden/golden_output.npy", "samples": len(gx_c)},
        "calibration": {"source": _describe(calibration, m), "samples": int(len(x_cal)), "margin_bits": margin_bits},
        "accumulators": acc_record,
        "folding": {"interval_cycles": folding.interval, "floor_cycles": folding.floor, "stages": folding.table()},
        "stage_layers": [s.layer for s in m.stages],
        "estimates": estimates,
        "backend": backend,
    }
    if rtl_record is not None:
        record["rtl"] = rtl_record
    if encoding == FP8_ENCODING:
        record["dma_bytes_per_sample"] = DnnuIO.of_model(m, encoding).dma_bytes()
    (out / "estimates.yaml").write_text(yaml.safe_dump({**estimates, "features": features(est)}, sort_keys=False))
    (out / "build.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    (out / "report.md").write_text(report_markdown(record))
    return Generated(out, m, b, folding, acc_rows, record)


def _acc_options(acc_width: Optional[str], margin_bits: Optional[int], keep: bool, overflow: str) -> Tuple[str, int]:
    """(width choice, margin bits) from the accumulator options; UserError on a bad combination."""
    if overflow not in ACC_OVERFLOW:
        raise UserError(f"--acc-overflow {overflow!r}: expected one of {', '.join(ACC_OVERFLOW)}")
    if acc_width is not None and acc_width not in accumulators.WIDTHS:
        raise UserError(f"--acc-width {acc_width!r}: expected one of {', '.join(accumulators.WIDTHS)}")
    if keep and acc_width is not None:
        raise UserError("--keep-acc-bits and --acc-width exclude each other")
    width = "model" if keep else acc_width or "bound"
    if margin_bits is not None and width != "observed":
        raise UserError(f"--margin-bits applies to --acc-width observed only (widths here: {width})")
    if margin_bits is not None and margin_bits < 0:
        raise UserError(f"--margin-bits {margin_bits} must be >= 0")
    return width, (1 if margin_bits is None else margin_bits) if width == "observed" else 0


def _fit_running_sums(m: QuantizedModel, folding: Folding, rows: List[accumulators.AccProfile], x_cal: np.ndarray,
                      margin_bits: int, keep: bool, board: Board, cost, clock: float):
    """Saturating narrow accumulators clip after each fold step: widen the stages whose running
    sums (at the chosen SIMD/KP) leave their width on the calibration data, and re-estimate."""
    wider = accumulators.widen_for_saturation(m, rows, x_cal, margin_bits)
    if all(r.chosen_bits == w.chosen_bits for r, w in zip(rows, wider)):
        return m, folding, wider
    if keep:
        bad = [f"stage {w.stage}: running sums need {w.running_bits} bits, acc_bits={w.current_bits}"
               for r, w in zip(rows, wider) if w.chosen_bits != r.chosen_bits]
        raise UserError(f"model {m.topology.name!r}: saturating accumulators would clip on the calibration data: "
                        + "; ".join(bad))
    m = accumulators.apply(m, wider)
    est = cost_estimate(m.stages, board, cost.coeffs, clock_mhz=clock)
    return m, dataclasses.replace(folding, stages=m.stages, estimate=est, interval=est.interval), wider


def _acc_cost(m: QuantizedModel, x_cal: np.ndarray, board: Board, cost, clock: float,
              margin_bits: int = 1) -> Dict[str, Any]:
    """Cost-model resources of this design (same unrolling, same overflow mode) at the overflow-free
    widths and at the observed widths (+ ``margin_bits``), and their difference."""
    out: Dict[str, Any] = {}
    for width in accumulators.WIDTHS:
        design = accumulators.apply(m, accumulators.profile(m, x_cal, margin_bits, width))
        res = cost_estimate(design.stages, board, cost.coeffs, clock_mhz=clock).resources
        out[width] = {"acc_bits": [s.acc_bits for s in design.stages if s.is_compute],
                      **{k: res[k] for k in RESOURCES}}
    out["observed"]["margin_bits"] = margin_bits
    out["delta"] = {k: round(out["bound"][k] - out["observed"][k], 1) for k in RESOURCES}
    return out


def _write_rtl(model: QuantizedModel, folder: Path) -> Dict[str, Any]:
    """The Verilog project of ``model`` in ``folder`` (replaced), and its build.yaml ``rtl`` section."""
    from .rtlgen.top import TOP, write_project

    if folder.exists():
        shutil.rmtree(folder)
    proj = write_project(model, folder)
    return {"dir": folder.name, "top": TOP, "sources": proj.sources,
            "stage_instances": [f"u_s{i}_{s.kind}" for i, s in enumerate(model.stages)]}


def _describe_cost(cost) -> str:
    """Which coefficients were used, with paths inside the repository made relative (so the
    same inputs give the same report on every machine)."""
    try:
        shown = cost.path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        shown = str(cost.path)
    return f"{shown} ({cost.kind}, source: {cost.coeffs.source or 'unspecified'})"


def _describe(calibration: Any, model: QuantizedModel) -> str:
    if calibration is None:
        return f"dataset {model.metrics.get('dataset')} (train split)"
    if isinstance(calibration, np.ndarray):
        return "array given by the caller"
    return str(calibration)


def load_record(build_dir: Union[str, Path]) -> Dict[str, Any]:
    """``build.yaml`` of a generated project; raises UserError if it is not one."""
    p = Path(build_dir) / "build.yaml"
    if not p.is_file():
        raise UserError(f"{build_dir}: not a generated project (no build.yaml; run `sustainml generate` first)")
    doc = yaml.safe_load(p.read_text())
    if not isinstance(doc, dict) or doc.get("format") != BUILD_FORMAT:
        raise UserError(f"{p}: format is {doc.get('format') if isinstance(doc, dict) else None!r}, expected {BUILD_FORMAT!r}")
    return doc


def model_doc(model: QuantizedModel) -> Dict[str, Any]:
    """The manifest's ``model`` section (topology + quantization as in model.yaml)."""
    return {"topology": model.topology.to_dict(),
            "quantization": {"input_frac": int(model.input_frac), "stages": [s.to_dict() for s in model.stages]},
            "preprocessing": dict(model.preprocessing)}


