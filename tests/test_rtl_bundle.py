"""generate --backend rtl + build --rtlsim: a deterministic Verilog project, an rtlsim bundle that the
simulated board runs with the RTL's own cycle count as hardware time, one-line errors, and the
reference design streaming at its bottleneck stage's fold count."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from random_models import SMALL, random_model
from sustainml.board import sim
from sustainml.board.bundle import load_bundle
from sustainml.board.dnnu import Dnnu
from sustainml.host.cli import main
from sustainml.host.generate import generate
from sustainml.host.rtlgen import stages as rtl_stages
from sustainml.host.rtlgen import top
from sustainml.host.rtlgen.rtlsim import MEMORY_DEFAULTS, MemoryModel, open_project
from sustainml.nas import golden

@pytest.fixture(scope="module")
def small_model_dir(tmp_path_factory):
    return random_model(SMALL, seed=7).save(tmp_path_factory.mktemp("models") / "small")


@pytest.fixture(scope="module")
def small_calibration():
    return np.random.default_rng(0).normal(size=(64, 32, 1))


def _gen(model_dir, calibration, out: Path, *extra: str) -> int:
    np.save(out.parent / "cal.npy", calibration)
    return main(["generate", str(model_dir), "--board", "pynq-z2", "--calibration", str(out.parent / "cal.npy"),
                 "--out", str(out), *extra])


def tree(d: Path):
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_rtl_project_is_deterministic_and_recorded(tmp_path, small_model_dir, small_calibration):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert _gen(small_model_dir, small_calibration, tmp_path / "a" / "build", "--backend", "rtl") == 0
    assert _gen(small_model_dir, small_calibration, tmp_path / "b" / "build", "--backend", "rtl") == 0
    a, b = tree(tmp_path / "a" / "build" / "rtl"), tree(tmp_path / "b" / "build" / "rtl")
    assert a == b and "dnnu.v" in a and any(n.endswith("_w.hex") for n in a)
    rec = yaml.safe_load((tmp_path / "a" / "build" / "build.yaml").read_text())
    assert rec["backend"] == "rtl" and rec["rtl"]["top"] == "dnnu"
    assert rec["rtl"]["sources"][-1] == "dnnu.v" and all(s in a for s in rec["rtl"]["sources"])
    text = a["dnnu.v"].decode()
    for inst in rec["rtl"]["stage_instances"]:  # what `sustainml synth` attributes cells to
        assert re.search(rf"\) {inst} \(", text), inst
    assert "`ifdef SML_STALLS" in text  # stall injectors exist for simulation only


def test_rtlsim_bundle_runs_on_the_simulated_board(tmp_path, small_model_dir, small_calibration):
    assert _gen(small_model_dir, small_calibration, tmp_path / "build", "--backend", "rtl") == 0
    assert main(["build", str(tmp_path / "build"), "--rtlsim", "--out", str(tmp_path / "overlays")]) == 0
    b = load_bundle(tmp_path / "overlays" / "small_rtlsim", part="xc7z020clg400-1")
    assert b.kind == "rtlsim" and b.manifest["backend"] == "rtl"
    assert b.bitfile.name == "small_rtlsim.so" and (b.path / "rtl" / "dnnu.v").is_file()
    assert b.manifest["rtlsim"]["memory"] == MEMORY_DEFAULTS["ps7"].to_dict()
    assert b.manifest["rtlsim"]["golden_cycles"] > 0
    sim.activate("pynq-z2")
    try:
        d = Dnnu.load(b.path, max_batch=32)
        assert d.smoke_test()["ok"]
        model = generate(small_model_dir, tmp_path / "again", "pynq-z2", calibration=small_calibration).model
        x = np.random.default_rng(3).integers(-128, 128, size=(20, 32, 1))
        p = d.predict(x, batch=20)
        assert np.array_equal(p.logits.reshape(20, -1), golden.run(model, x))
        core = d.device.dnnu
        # the call's hardware time is the RTL's cycle count at the PL clock, not the cycle model's
        assert core.last_cycles > 20 * 26 and core.last_hw_ns == round(core.last_cycles * 1e3 / d.clock_mhz)
        assert p.timings[0].hw_ns > 0
        d.close()
    finally:
        sim.deactivate()


def test_rtlsim_needs_the_rtl_backend(tmp_path, small_model_dir, small_calibration, capsys):
    assert _gen(small_model_dir, small_calibration, tmp_path / "build") == 0
    capsys.readouterr()
    assert main(["build", str(tmp_path / "build"), "--rtlsim", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--backend rtl" in err and len(err.splitlines()) == 1


def test_rtl_backend_refuses_fp8_io(tmp_path, small_model_dir, small_calibration, capsys):
    assert _gen(small_model_dir, small_calibration, tmp_path / "build", "--backend", "rtl", "--io", "fp8") == 2
    assert "integer I/O only" in capsys.readouterr().err


def test_verilator_failure_is_one_line_naming_design_and_log(tmp_path, small_model_dir, small_calibration, capsys):
    assert _gen(small_model_dir, small_calibration, tmp_path / "build", "--backend", "rtl") == 0
    top_v = tmp_path / "build" / "rtl" / "dnnu.v"
    top_v.write_text(top_v.read_text() + "\nmodule broken (input wire a; endmodule\n")
    capsys.readouterr()
    assert main(["build", str(tmp_path / "build"), "--rtlsim", "--out", str(tmp_path / "o")]) == 2
    errors = [ln for ln in capsys.readouterr().err.splitlines() if "error:" in ln]
    assert len(errors) == 1 and "Verilator failed on design small" in errors[0]
    err = errors[0]
    log = re.search(r"\(log: (\S+)\)$", err)
    assert log and Path(log.group(1)).is_file() and "%Error" in Path(log.group(1)).read_text()
    assert not (tmp_path / "o").exists()


def test_a_stale_library_copy_is_refused(tmp_path, small_model_dir, small_calibration, capsys):
    assert _gen(small_model_dir, small_calibration, tmp_path / "build", "--backend", "rtl") == 0
    (tmp_path / "build" / "rtl" / "sml_axi_reader.v").write_text("// changed\n")
    assert main(["build", str(tmp_path / "build"), "--rtlsim", "--out", str(tmp_path / "o")]) == 2
    assert "the library changed since generate" in capsys.readouterr().err


def streaming(model, folder: Path, memory: MemoryModel, batch: int = 256) -> dict:
    """Cycles per sample of ``model``'s DNNU at ``batch`` vs the bottleneck stage's ideal cycles."""
    proj = top.write_project(model, folder)
    dut, _ = open_project(proj, model.topology.name)
    t = model.topology.input
    x = np.random.default_rng(0).integers(-(1 << (t.bits - 1)), 1 << (t.bits - 1), size=(batch, t.length, t.channels))
    dtype = np.dtype("int8" if t.bits <= 8 else "int16")
    out_dtype = np.dtype("int8" if proj.io.out_bits <= 8 else "int16" if proj.io.out_bits <= 16 else "int32")
    y, res = dut.run(x.astype(dtype), (proj.io.out_ch,), out_dtype, memory)
    assert np.array_equal(y.astype(np.int64), golden.run(model, x))
    _, one = dut.run(x[:1].astype(dtype), (proj.io.out_ch,), out_dtype, memory)
    ideal = [rtl_stages.ideal_cycles(s) for s in model.stages]
    return {"ideal": max(ideal), "bottleneck": int(np.argmax(ideal)), "per_sample": res[0].cycles / batch,
            "steady": (res[0].cycles - one[0].cycles) / (batch - 1), "first": one[0].cycles}


def test_reference_design_streams_at_its_bottleneck(reference_model, tmp_path):
    """Batch 256 of the trained reference model, unrolled for latency on the PYNQ-Z2: cycles per
    sample within 5% of the bottleneck stage's fold count (the DMA is not the bottleneck here)."""
    g = generate("unused", tmp_path / "build", "pynq-z2", model=reference_model, backend="rtl")
    r = streaming(g.model, tmp_path / "rtl", MEMORY_DEFAULTS["ps7"])
    assert abs(r["per_sample"] - r["ideal"]) <= 0.05 * r["ideal"], r


@pytest.mark.slow
@pytest.mark.parametrize("board", ["pynq-z2", "zcu104"])
@pytest.mark.parametrize("objective", ["dsp", "energy", "latency"])
def test_reference_design_streams_at_every_unrolling(reference_model, tmp_path, board, objective):
    """The same 5% bound for the unrollings the other objectives choose, on both PS families."""
    from sustainml.nas.catalogue import get_board

    g = generate("unused", tmp_path / "build", board, objective=objective, model=reference_model, backend="rtl")
    r = streaming(g.model, tmp_path / "rtl", MEMORY_DEFAULTS[get_board(board).ps])
    assert abs(r["per_sample"] - r["ideal"]) <= 0.05 * r["ideal"], r
