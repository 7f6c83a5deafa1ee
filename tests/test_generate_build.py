"""generate + build: deterministic projects checked against the catalogue, sim overlays that
equal the golden model bit for bit, clear errors without the Xilinx tools."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from random_models import SMALL, random_model
from sustainml.board import sim
from sustainml.board.bundle import BundleError, load_bundle
from sustainml.board.dnnu import Dnnu
from sustainml.host import tcl
from sustainml.host.build import ToolFailedError, ToolsMissingError, build, missing_tools, run_tool
from sustainml.host.cli import main
from sustainml.host.generate import generate
from sustainml.host.hlsgen import csim
from sustainml.nas import golden
from sustainml.nas.catalogue import boards, get_board
from sustainml.nas.quantized import QuantizedModel


@pytest.fixture(scope="module")
def small_model_dir(tmp_path_factory):
    return random_model(SMALL, seed=7).save(tmp_path_factory.mktemp("models") / "small")


@pytest.fixture(scope="module")
def small_calibration():
    return np.random.default_rng(0).normal(size=(64, 32, 1))


def tree(d: Path):
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("board", boards())
def test_tcl_matches_the_catalogue(board):
    b = get_board(board)
    hls, viv = tcl.hls_script("m", b, b.clock_mhz), tcl.vivado_script("ov", b, b.clock_mhz)
    for text in (hls, viv):
        assert not re.search(r"@[A-Z0-9_]+@", text)
    assert f"set_part {b.part}\n" in hls
    assert f"create_clock -period {1000 / b.clock_mhz:g} -name default" in hls
    assert "export_design -format ip_catalog" in hls and "csim_design" in hls and "csynth_design" in hls
    assert f"create_project -force $name $here/prj -part {b.part}\n" in viv
    ps_ip = {"ps7": "processing_system7", "ps8": "zynq_ultra_ps_e"}[b.ps]
    assert f"get_ipdefs -filter {{NAME == {ps_ip}}}" in viv and f"bd_rule:{ps_ip}" in viv
    clock_prop = {"ps7": "PCW_FPGA0_PERIPHERAL_FREQMHZ", "ps8": "PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ"}[b.ps]
    assert f"CONFIG.{clock_prop} {{{b.clock_mhz:g}}}" in viv
    gp, hp = {"ps7": ("M_AXI_GP0", "S_AXI_HP0"), "ps8": ("M_AXI_HPM0_FPD", "S_AXI_HP0_FPD")}[b.ps]
    assert f"Master /{tcl.PS_INSTANCE[b.ps]}/{gp} Slave /dnnu_0/s_axi_control" in viv
    assert f"[get_bd_intf_pins {tcl.SMC_NAME}/M00_AXI] [get_bd_intf_pins {tcl.PS_INSTANCE[b.ps]}/{hp}]" in viv
    assert b.board_part.split(":")[1] in viv and tcl.VLNV in viv
    assert "write_bitstream" in viv and "$name.hwh" in viv


def test_project_is_deterministic_and_uses_the_board(tmp_path, small_model_dir, small_calibration):
    a = generate(small_model_dir, tmp_path / "a", "zcu104", calibration=small_calibration, clock_mhz=150)
    generate(small_model_dir, tmp_path / "b", "zcu104", calibration=small_calibration, clock_mhz=150)
    ta, tb = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert ta == tb
    assert {"hls/run_hls.tcl", "vivado/build_overlay.tcl", "hls/src/dnnu.cpp", "hls/src/config.h", "hls/src/weights.h",
            "hls/src/tb_dnnu.cpp", "hls/include/sustainml/dnnu.h", "report.md", "estimates.yaml",
            "build.yaml"} <= set(ta)
    viv = ta["vivado/build_overlay.tcl"].decode()
    assert "xczu7ev-ffvc1156-2-e" in viv and "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ {150}" in viv
    assert "create_clock -period 6.667" in ta["hls/run_hls.tcl"].decode()
    rec = yaml.safe_load(ta["build.yaml"])
    assert rec["part"] == "xczu7ev-ffvc1156-2-e" and rec["clock_mhz"] == 150
    config = ta["hls/src/config.h"].decode()
    for s in a.model.stages:  # the chosen unrolling and accumulator widths reach the HLS configuration
        if s.is_compute:
            assert f"ACC_BITS = {s.acc_bits};" in config
        assert f"PE = {s.pe}, SIMD = {s.simd}, KP = {s.kp};" in config
    report = ta["report.md"].decode()
    assert "| stage | layer | kind | pe | simd | kp |" in report and "chosen bits" in report
    assert a.folding.estimate.board == "zcu104" and a.folding.estimate.clock_mhz == 150
    c = generate(small_model_dir, tmp_path / "c", "zcu104", calibration=small_calibration, clock_mhz=100)
    assert tree(tmp_path / "c")["vivado/build_overlay.tcl"] != ta["vivado/build_overlay.tcl"]
    assert c.folding.estimate.clock_mhz == 100


def test_sim_overlay_equals_golden_and_verifies(tmp_path, small_model_dir, small_calibration):
    g = generate(small_model_dir, tmp_path / "build", "pynq-z2", calibration=small_calibration, objective="latency")
    assert main(["build", str(tmp_path / "build"), "--sim", "--out", str(tmp_path / "overlays")]) == 0
    b = load_bundle(tmp_path / "overlays" / "small_sim", part="xc7z020clg400-1")
    m = b.manifest
    assert m["kind"] == "sim" and m["board"] == "pynq-z2" and m["clock_mhz"] == 100
    assert m["registers"]["batch"] == 0x28 and m["ip"]["vlnv"] == tcl.VLNV
    assert m["estimates"]["interval_cycles"] == g.folding.estimate.interval
    assert m["model"]["quantization"]["stages"] == [s.to_dict() for s in g.model.stages]
    assert {"small_sim.so", "small_sim.hwh", "golden_input.npy", "golden_output.npy", "model.yaml"} <= set(m["files"])
    x = g.model.quantize_input(np.random.default_rng(5).normal(size=(200, 32, 1)))
    assert np.array_equal(csim.run_dnnu(b.bitfile, m["io"], x), golden.run(g.model, x))
    gx, gy = b.golden()
    assert np.array_equal(golden.run(g.model, gx), gy)
    # the board runtime runs it on the simulated board behind the DNNU's registers
    sim.activate("pynq-z2")
    try:
        dnnu = Dnnu.load(b.path, max_batch=64)
        assert dnnu.smoke_test()["ok"]
        xf = np.random.default_rng(6).normal(size=(100, 32, 1))
        assert np.array_equal(dnnu.predict(xf).logits, golden.run(g.model, g.model.quantize_input(xf)))
    finally:
        sim.deactivate()
    # tampering is caught by the bundle check
    (b.path / "golden_output.npy").write_bytes(b"x")
    with pytest.raises(BundleError, match="sha256"):
        load_bundle(b.path)


def test_reference_sim_overlay_is_bit_identical_on_the_test_set(tmp_path, reference_model_dir, ecg5000):
    g = generate(reference_model_dir, tmp_path / "build", "pynq-z2")
    b = load_bundle(build(tmp_path / "build", tmp_path / "overlays", sim=True, echo=lambda _: None))
    x = g.model.quantize_input(ecg5000.test.x)
    assert len(x) == 4500
    hw = csim.run_dnnu(b.bitfile, b.manifest["io"], x)
    assert np.array_equal(hw, golden.run(g.model, x))
    trained = QuantizedModel.load(reference_model_dir)
    assert np.array_equal(hw, golden.run(trained, x))  # narrowing the accumulators changed nothing
    acc = float((hw.argmax(axis=1) == ecg5000.test.y).mean())
    assert acc == pytest.approx(trained.metrics["test_acc"], abs=1e-9)


def test_bitstream_build_without_tools_names_them(tmp_path, small_model_dir, small_calibration, monkeypatch, capsys):
    generate(small_model_dir, tmp_path / "build", "pynq-z2", calibration=small_calibration)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert missing_tools() == ["vitis_hls", "vivado"]
    with pytest.raises(ToolsMissingError, match="not found: vitis_hls, vivado"):
        build(tmp_path / "build", tmp_path / "overlays")
    assert main(["build", str(tmp_path / "build"), "--out", str(tmp_path / "overlays")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "vitis_hls" in err[0] and "--sim" in err[0]
    assert not (tmp_path / "overlays").exists()


def test_tool_output_is_streamed_and_logged(tmp_path):
    seen = []
    run_tool(["sh", "-c", "echo one; echo two 1>&2"], tmp_path, tmp_path / "logs" / "t.log", seen.append)
    assert seen == ["one", "two"]
    assert (tmp_path / "logs" / "t.log").read_text().splitlines()[1:] == ["one", "two"]
    with pytest.raises(ToolFailedError, match=r"exited with status 3 \(log: .*bad.log\)"):
        run_tool(["sh", "-c", "exit 3"], tmp_path, tmp_path / "bad.log", seen.append)


def test_not_a_project_is_one_line(tmp_path, capsys):
    assert main(["build", str(tmp_path), "--sim"]) == 2
    assert "not a generated project" in capsys.readouterr().err


@pytest.mark.vivado
@pytest.mark.skipif(bool(missing_tools()), reason="needs vitis_hls and vivado on PATH")
def test_bitstream_build(tmp_path, small_model_dir, small_calibration):
    generate(small_model_dir, tmp_path / "build", "pynq-z2", calibration=small_calibration)
    b = load_bundle(build(tmp_path / "build", tmp_path / "overlays"), part="xc7z020clg400-1")
    assert b.kind == "bitstream" and (b.path / "small.bit").is_file()
    rep = b.manifest["reports"]
    assert rep["utilization"]["resources"]["lut"] > 0 and rep["hls"]["top"] == "dnnu"
    shutil.rmtree(tmp_path / "build" / "vivado" / "prj", ignore_errors=True)
