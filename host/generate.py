"""``generate``: a trained model → a self-contained HLS + Vivado project for one board.

Steps: profile the accumulators on calibration data and narrow them (nas/accumulators.py),
choose the unrolling for the board's budget and the objective (nas/folding.py), emit the DNNU
sources (host/hlsgen), a C-simulation testbench with golden vectors, the Vitis HLS and Vivado
Tcl (host/tcl.py), the cost estimates (nas/costmodel.py) and a report. Layout::

    BUILD_DIR/build.yaml          what was generated (read by `sustainml build`)
    BUILD_DIR/report.md           unrolling, cycles per layer, accumulators, estimates
    BUILD_DIR/estimates.yaml      cost-model output + its feature vector
    BUILD_DIR/model/              the model as built (acc_bits, pe/simd/kp applied)
    BUILD_DIR/golden/             golden_input.npy / golden_output.npy (nas/golden.py)
    BUILD_DIR/hls/                src/ (dnnu.cpp, config.h, weights.h, tb_dnnu.cpp), include/
                                  (the DNNU library), golden/*.bin, run_hls.tcl
    BUILD_DIR/vivado/build_overlay.tcl

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
from sustainml.nas.costmodel import features
from sustainml.nas.folding import Folding, fold
from sustainml.nas.quantized import QuantizedModel

from . import tcl
from .errors import UserError
from .hlsgen.dnnu_io import DnnuIO, fp8_golden
from .hlsgen.emit import COSIM_BATCH, CSIM_ARGS, CSIM_SYMBOL, emit_dnnu, registers
from .hlsgen.errors import HlsGenError

BUILD_FORMAT = "sustainml-build/1"
GOLDEN_SAMPLES = 8
#: ``--io`` choices -> manifest encoding.
IO_ENCODINGS = {"int": "int", "fp8": FP8_ENCODING}
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
           "## Accumulators\n\n",
           f"Profiled on {record['calibration']['samples']} calibration samples ({record['calibration']['source']}), "
           f"margin {record['calibration']['margin_bits']} bit(s).\n\n",
           _markdown(["stage", "kind", "observed range", "observed bits", "naive bits", "weight bound bits", "chosen bits"],
                     [[a["stage"], a["kind"], f"[{a['lo']}, {a['hi']}]", a["observed_bits"], a["naive_bits"],
                       a["bound_bits"], a["chosen_bits"]] for a in record["accumulators"]]),
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
             margin_bits: int = 1, name: Optional[str] = None, golden_inputs: Optional[np.ndarray] = None,
             model: Optional[QuantizedModel] = None, keep_acc_bits: bool = False,
             cost_model: Union[str, Path, None] = None, io: str = "int", in_bias: Optional[int] = None,
             out_bias: Optional[int] = None) -> Generated:
    """Generate the project (see module docstring). ``model`` skips loading ``model_dir``;
    ``keep_acc_bits`` keeps the model's accumulator widths (an error if the calibration data
    overflows any of them) instead of narrowing them to the profile. ``cost_model`` is an explicit
    coefficients file; by default refined coefficients are used when present, else the prior
    (nas/cost_sources.py). ``io`` is ``int`` or ``fp8`` (``in_bias``/``out_bias``: the FP8 bias
    registers' default values; chosen from the calibration data when None)."""
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
    if margin_bits < 0:
        raise UserError(f"--margin-bits {margin_bits} must be >= 0")
    x_cal = calibration_inputs(m, calibration, calibration_limit)
    if keep_acc_bits:  # the model's own widths: refuse them if the calibration data overflows one
        acc_rows = accumulators.require_no_overflow(m, x_cal, f"model {m.topology.name!r}")
        margin_bits = 0
    else:
        acc_rows = accumulators.profile(m, x_cal, margin_bits)
        m = accumulators.apply(m, acc_rows)
    folding = fold(m.stages, b, objective, target_fps, coeffs=cost.coeffs, clock_mhz=clock)
    m = dataclasses.replace(m, stages=folding.stages)
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

    est = folding.estimate
    estimates = {**est.to_dict(), "coefficients": _describe_cost(cost)}
    record: Dict[str, Any] = {
        "format": BUILD_FORMAT, "name": overlay, "model": m.topology.name, "board": b.name, "part": b.part,
        "ps": b.ps, "clock_mhz": clock, "objective": folding.objective, "target_fps": target_fps,
        "coefficients": _describe_cost(cost),
        "ip": {"name": tcl.IP_NAME, "vlnv": tcl.VLNV, "top": tcl.TOP}, "registers": registers(encoding),
        "io": io, "sim": {"symbol": CSIM_SYMBOL, **({"args": CSIM_ARGS[encoding]} if CSIM_ARGS[encoding] else {})},
        "golden": {"input": "golden/golden_input.npy", "output": "golden/golden_output.npy", "samples": len(gx_c)},
        "calibration": {"source": _describe(calibration, m), "samples": int(len(x_cal)), "margin_bits": margin_bits},
        "accumulators": accumulators.table(acc_rows),
        "folding": {"interval_cycles": folding.interval, "floor_cycles": folding.floor, "stages": folding.table()},
        "stage_layers": [s.layer for s in m.stages],
        "estimates": estimates,
    }
    if encoding == FP8_ENCODING:
        record["dma_bytes_per_sample"] = DnnuIO.of_model(m, encoding).dma_bytes()
    (out / "estimates.yaml").write_text(yaml.safe_dump({**estimates, "features": features(est)}, sort_keys=False))
    (out / "build.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    (out / "report.md").write_text(report_markdown(record))
    return Generated(out, m, b, folding, acc_rows, record)


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


