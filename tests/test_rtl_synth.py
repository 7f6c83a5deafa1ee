"""sustainml synth: Yosys synth_xilinx cell counts per stage (real Yosys on small designs), the
report in the bundle manifest, one-line errors, the fit refusal of generate, and the RTL
backend's Vivado Tcl (run under tclsh with stub Vivado commands; real Vivado: marked vivado)."""
from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from random_models import random_model
from sustainml.board.bundle import load_bundle, read_manifest
from sustainml.host import rtl_vivado, synth, tcl, yosys
from sustainml.host.build import build
from sustainml.host.cli import main
from sustainml.host.generate import generate
from sustainml.nas.catalogue import get_board
from sustainml.nas.topology import Topology

SMALL = Topology.from_dict({
    "name": "small", "input": {"length": 32, "channels": 1, "bits": 8}, "classes": 3,
    "layers": [{"type": "Conv1D", "filters": 4, "kernel": 3, "padding": 1}, {"type": "ReLU"},
               {"type": "MaxPool1D", "pool": 2}, {"type": "GlobalAvgPool1D"},
               {"type": "Dense", "units": 3, "act_bits": 16}]})

#: A small hand-written design (not a DNNU) with one of each thing the report must tell apart.
FIXTURE_V = """
module sml_fx_mac #(parameter W = 8) (
    input wire ap_clk, input wire ap_rst_n, input wire [W-1:0] a, input wire [W-1:0] b, output reg [2*W+3:0] acc);
    always @(posedge ap_clk)
        if (!ap_rst_n) acc <= 0; else acc <= acc + $signed(a) * $signed(b);
endmodule
module sml_fx_rom #(parameter DEPTH = 1024, parameter W = 16, parameter WEIGHTS_FILE = "rom.hex") (
    input wire ap_clk, input wire [$clog2(DEPTH)-1:0] addr, output reg [W-1:0] q);
    reg [W-1:0] mem [0:DEPTH-1];
    initial $readmemh(WEIGHTS_FILE, mem);
    always @(posedge ap_clk) q <= mem[addr];
endmodule
module sml_fx_delay #(parameter N = 16, parameter W = 4) (
    input wire ap_clk, input wire [W-1:0] d, output wire [W-1:0] q);
    reg [W-1:0] r [0:N-1];
    integer i;
    always @(posedge ap_clk) begin
        r[0] <= d;
        for (i = 1; i < N; i = i + 1) r[i] <= r[i-1];
    end
    assign q = r[N-1];
endmodule
module dnnu (input wire ap_clk, input wire ap_rst_n, input wire [15:0] x, output reg [31:0] y);
    wire [19:0] m0;
    wire [9:0] m1;
    wire [15:0] q;
    wire [3:0] d;
    sml_fx_mac #(.W(8)) stage0 (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .a(x[7:0]), .b(x[15:8]), .acc(m0));
    sml_fx_mac #(.W(3)) stage1 (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .a(x[2:0]), .b(x[5:3]), .acc(m1));
    sml_fx_rom #(.WEIGHTS_FILE("weights/rom.hex")) stage2 (.ap_clk(ap_clk), .addr(x[9:0]), .q(q));
    sml_fx_delay delay (.ap_clk(ap_clk), .d(x[3:0]), .q(d));
    always @(posedge ap_clk) y <= {m0[11:0], m1, q[5:0], d} ^ {16'd0, x};
endmodule
"""


def write_fixture(folder: Path, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dnnu.v").write_text(FIXTURE_V)
    (folder / "weights").mkdir(exist_ok=True)
    words = np.random.default_rng(seed).integers(0, 1 << 16, 1024)
    (folder / "weights" / "rom.hex").write_text("".join(f"{w:04x}\n" for w in words))
    return folder


@pytest.fixture(scope="module", autouse=True)
def shared_cache(tmp_path_factory):
    """One Yosys result cache for this module's tests (those that need a cold one use `cache`)."""
    old = os.environ.get("SUSTAINML_CACHE")
    os.environ["SUSTAINML_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        del os.environ["SUSTAINML_CACHE"]
    else:
        os.environ["SUSTAINML_CACHE"] = old


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """A private Yosys result cache (so a test sees its own first run)."""
    monkeypatch.setenv("SUSTAINML_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "yosys"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A generated project of a small model whose rtl/ holds the fixture design."""
    root = tmp_path_factory.mktemp("synth")
    mdir = random_model(SMALL, seed=3).save(root / "model")
    g = generate(mdir, root / "build", board="pynq-z2", calibration=np.random.default_rng(0).normal(size=(32, 32, 1)))
    write_fixture(g.build_dir / "rtl")
    return g.build_dir


# ------------------------------------------------------------------------------ parsing (no Yosys)
def test_module_totals_expand_the_hierarchy_and_keep_unknown_cells():
    stat = {"modules": {
        "\\leaf": {"num_cells_by_type": {"LUT6": 3, "LUT2": 1, "FDRE": 4, "RAM32M": 2, "SRLC32E": 1, "XORCY": 1}},
        "\\mid": {"num_cells_by_type": {"\\leaf": 2, "DSP48E1": 1, "CARRY4": 2}},
        "\\top": {"num_cells_by_type": {"\\mid": 1, "\\leaf": 1, "FDSE": 1, "RAMB36E1": 1, "RAMB18E1": 1, "INV": 1}}}}
    t = yosys.module_totals(stat)
    leaf = t["leaf"].summary()
    assert (leaf["lut"], leaf["ff"], leaf["lutram"], leaf["srl"], leaf["lut_sites"]) == (4, 4, 8, 1, 13)
    assert leaf["unknown"] == ["XORCY"] and leaf["other"] == 1
    top = t["top"].summary()
    assert (top["lut"], top["ff"], top["dsp"], top["carry"]) == (3 * 4 + 1, 3 * 4 + 1, 1, 2)
    assert (top["bram18"], top["bram36"], top["bram36_equiv"]) == (1, 1, 1.5)
    assert top["lut_by_size"] == {"INV": 1, "LUT2": 3, "LUT6": 9}
    own = yosys.own_cells(stat, "top").summary()
    assert (own["ff"], own["lut"], own["dsp"]) == (1, 1, 0)
    with pytest.raises(yosys.YosysError, match="instantiates itself"):
        yosys.module_totals({"modules": {"a": {"num_cells_by_type": {"b": 1}}, "b": {"num_cells_by_type": {"a": 1}}}})


def test_stage_names_and_estimate_error():
    m = synth.stage_of_instances(["stage0", "s1_conv", "u_stage12", "ctrl", "stage_3", "stages"], None)
    assert m == {"stage0": 0, "s1_conv": 1, "u_stage12": 12, "stage_3": 3}
    assert synth.stage_of_instances(["a", "b"], ["b", "a"]) == {"b": 0, "a": 1}
    cmp = synth._compare({"lut": 150, "ff": 0, "dsp": 2, "bram36": 1.0},
                         {"lut_sites": 100, "ff": 0, "dsp": 0, "bram36_equiv": 2.0})
    assert cmp["lut"]["error"] == 0.5 and cmp["ff"]["error"] == 0.0
    assert cmp["dsp"]["error"] is None and cmp["bram36"]["error"] == -0.5


# ------------------------------------------------------------------------------ real Yosys
def test_yosys_counts_each_instance_and_caches(tmp_path, cache):
    src = write_fixture(tmp_path / "rtl")
    net = yosys.synthesize(src, "dnnu", "xc7", "fixture")
    assert not net.cached and "Yosys" in net.version
    inst = {i.name: i.cells.summary() for i in net.instances}
    assert set(inst) == {"stage0", "stage1", "stage2", "delay"}
    assert inst["stage0"]["dsp"] == 1  # 8x8 signed product on a DSP48E1
    assert inst["stage1"]["dsp"] == 0 and inst["stage1"]["lut"] > 5  # 3x3 product in LUTs
    assert inst["stage2"]["bram18"] + 2 * inst["stage2"]["bram36"] >= 1 and inst["stage2"]["lut"] == 0  # ROM in BRAM
    assert inst["delay"]["srl"] >= 1 and inst["delay"]["ff"] == 0  # delay line in SRLs
    total = net.total.summary()
    glue = net.glue.summary()
    for k in yosys.COUNTS:
        assert total[k] == glue[k] + sum(s[k] for s in inst.values()), k
    assert glue["ff"] >= 32  # the output register of the top
    again = yosys.synthesize(src, "dnnu", "xc7", "fixture")
    assert again.cached and again.total.summary() == total and again.key == net.key
    assert yosys.cache_key(src, net.version, net.script) == net.key
    (src / "weights" / "rom.hex").write_text((src / "weights" / "rom.hex").read_text() + "0\n")
    assert yosys.cache_key(src, net.version, net.script) != net.key  # a ROM image is part of the key


def _synth_in_process(args):
    src, cache_dir = args
    import os
    os.environ["SUSTAINML_CACHE"] = cache_dir
    from sustainml.host import yosys as y
    n = y.synthesize(Path(src), "dnnu", "xcup", "fixture")
    return n.cached, n.key, n.total.summary()["dsp"]


def test_concurrent_runs_synthesize_once(tmp_path):
    src = write_fixture(tmp_path / "rtl", seed=5)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        got = pool.map(_synth_in_process, [(str(src), str(tmp_path / "c"))] * 2)
    assert sorted(c for c, _, _ in got) == [False, True]  # the second waited and reused the first
    assert got[0][1:] == got[1][1:]
    assert [p.name for p in (tmp_path / "c" / "yosys" / got[0][1]).iterdir() if p.is_dir()] == ["result"]


def test_yosys_failure_is_one_line_naming_design_and_log(tmp_path, project, capsys):
    src = write_fixture(tmp_path / "rtl")
    (src / "dnnu.v").write_text(FIXTURE_V.replace("output reg [31:0] y);", "output reg [31:0] y)"))
    with pytest.raises(yosys.YosysError) as exc:
        yosys.synthesize(src, "dnnu", "xc7", "broken_design")
    msg = str(exc.value)
    assert "\n" not in msg and "broken_design" in msg and "ERROR" in msg
    log = Path(msg.rsplit("(log: ", 1)[1].rstrip(")"))
    assert log.is_file() and "syntax error" in log.read_text()
    # through the CLI: exit 2, one line, no traceback
    bad = tmp_path / "bad_build"
    shutil.copytree(project, bad, ignore=shutil.ignore_patterns("synth", "logs"))
    (bad / "rtl" / "dnnu.v").write_text(FIXTURE_V.replace("endmodule\nmodule dnnu", "module dnnu", 1))
    assert main(["synth", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and str(bad) in err and "log: " in err
    shutil.rmtree(bad / "rtl")
    assert main(["synth", str(bad)]) == 2
    assert "--backend rtl" in capsys.readouterr().err


def test_yosys_timeout_is_a_one_line_error(tmp_path, cache):
    src = write_fixture(tmp_path / "rtl", seed=9)
    with pytest.raises(yosys.YosysError, match=r"design slow_one failed: ERROR: timed out after 0.2 s \(log: "):
        yosys.synthesize(src, "dnnu", "xc7", "slow_one", timeout_s=0.2)
    assert not any(p.name == "result" for p in cache.rglob("result"))  # nothing cached from a killed run


def test_synth_command_writes_report_and_bundle_manifest(tmp_path, project, capsys):
    assert main(["synth", str(project)]) == 0
    out = capsys.readouterr().out
    assert yosys.LABEL in out.replace("\n", " ") or "Yosys synth_xilinx" in out
    doc = yaml.safe_load((project / "synth" / "yosys_pynq-z2.yaml").read_text())
    assert doc["label"] == yosys.LABEL and doc["part"] == "xc7z020clg400-1" and doc["family"] == "xc7"
    assert "synth_xilinx -family xc7 -top dnnu" in doc["command"]
    rec = yaml.safe_load((project / "build.yaml").read_text())
    est = {s["stage"]: s for s in rec["estimates"]["stages"]}
    assert [s["stage"] for s in doc["stages"]] == [0, 1, 2]
    for s in doc["stages"]:  # the cost model's numbers beside Yosys's, per stage
        assert s["kind"] == est[s["stage"]]["kind"] and s["compare"]["dsp"]["estimate"] == est[s["stage"]]["dsp"]
        assert s["compare"]["lut"]["yosys"] == s["yosys"]["lut_sites"]
    assert doc["stages"][0]["yosys"]["dsp"] == 1 and doc["stages"][1]["yosys"]["dsp"] == 0
    assert [o["instance"] for o in doc["other"]] == ["delay", "(top-level logic)"]
    assert doc["compare"]["lut"]["estimate"] == rec["estimates"]["resources"]["lut"]
    assert doc["utilization"]["dsp"] == pytest.approx(doc["total"]["dsp"] / 220, abs=1e-4)
    md = (project / "synth" / "yosys_pynq-z2.md").read_text()
    assert yosys.LABEL in md and "**total**" in md
    assert (project / "logs" / "yosys_pynq-z2.log").is_file()
    assert synth.manifest_report(project) == doc
    # another board's part: the UltraScale+ family, its own report
    doc_up = synth.synth(project, board="zcu104", echo=lambda s: None)
    assert doc_up["family"] == "xcup" and doc_up["part"] == "xczu7ev-ffvc1156-2-e"
    assert (project / "synth" / "yosys_zcu104.yaml").is_file()
    from sustainml.nas.costmodel import estimate
    from sustainml.nas.quantized import QuantizedModel
    est_up = estimate(QuantizedModel.load(project / "model"), "zcu104").to_dict()  # the same stages, zcu104's model
    assert doc_up["compare"]["lut"]["estimate"] == est_up["resources"]["lut"]
    assert [s["compare"]["ff"]["estimate"] for s in doc_up["stages"]] == [s["ff"] for s in est_up["stages"][:3]]
    assert doc_up["utilization"]["dsp"] == pytest.approx(doc_up["total"]["dsp"] / 1728, abs=1e-4)

    # into a bundle's manifest, digest rules kept (every file hashed, manifest verifies)
    bundle = build(project, tmp_path / "overlays", sim=True, echo=lambda s: None)
    before = read_manifest(bundle)
    assert main(["synth", str(project), "--bundle", str(bundle)]) == 0
    after = load_bundle(bundle).manifest
    assert after["reports"]["yosys"] == doc and after["files"] == before["files"]
    assert {k: v for k, v in after.items() if k != "reports"} == before
    # a bundle of another design is refused
    other = dict(before)
    other["model"] = json.loads(json.dumps(before["model"]))
    other["model"]["quantization"]["stages"][0]["pe"] = 99
    from sustainml.board.bundle import write_manifest
    write_manifest(bundle, other)
    assert main(["synth", str(project), "--bundle", str(bundle)]) == 2
    assert "differ" in capsys.readouterr().err


def test_manifest_report_is_dropped_when_the_verilog_changes(tmp_path, project):
    p = tmp_path / "p"
    shutil.copytree(project, p)
    synth.synth(p, echo=lambda s: None)
    assert synth.manifest_report(p) is not None
    (p / "rtl" / "dnnu.v").write_text(FIXTURE_V + "\n// changed\n")
    assert synth.manifest_report(p) is None


# ------------------------------------------------------------------------------ fit refusal
def test_generate_refuses_a_design_that_does_not_fit_before_any_tool(tmp_path, capsys):
    big = Topology.from_dict({
        "name": "big", "input": {"length": 256, "channels": 64, "bits": 8}, "classes": 3,
        "layers": [{"type": "Conv1D", "filters": 256, "kernel": 9, "padding": 4, "weight_bits": 8},
                   {"type": "Conv1D", "filters": 256, "kernel": 9, "padding": 4, "weight_bits": 8},
                   {"type": "Conv1D", "filters": 256, "kernel": 9, "padding": 4, "weight_bits": 8},
                   {"type": "Conv1D", "filters": 256, "kernel": 9, "padding": 4, "weight_bits": 8},
                   {"type": "GlobalAvgPool1D"}, {"type": "Dense", "units": 3, "act_bits": 16}]})
    mdir = random_model(big, seed=1).save(tmp_path / "big")
    np.save(tmp_path / "cal.npy", np.random.default_rng(0).normal(size=(4, 256, 64)))
    out = tmp_path / "build"
    assert main(["generate", str(mdir), "--board", "pynq-z2", "--backend", "rtl",
                 "--calibration", str(tmp_path / "cal.npy"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not fit pynq-z2" in err and "bram18" in err
    assert not out.exists()  # refused before anything was written or any tool ran


# ------------------------------------------------------------------------------ Vivado Tcl
STUBS = r"""
set ::calls {}
proc unknown {args} {
    lappend ::calls $args
    set cmd [lindex $args 0]
    if {$cmd eq "get_property" && [lindex $args 1] eq "PROGRESS"} { return "100%" }
    if {$cmd eq "get_property" && [lindex $args 1] eq "NAME"} { return "s_axi_control" }
    if {$cmd eq "get_property" && [lindex $args 1] eq "DIRECTORY"} { return $::here_stub }
    return "obj_[llength $::calls]"
}
"""


def run_tcl(script: Path, tmp: Path, prepare: str = "") -> list:
    driver = tmp / "driver.tcl"
    driver.write_text(STUBS + f"set ::here_stub {{{script.parent}}}\n" + prepare
                      + f"source {{{script}}}\nforeach c $::calls {{ puts [list CALL {{*}}$c] }}\n")
    proc = subprocess.run(["tclsh", str(driver)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [ln.split(" ", 1)[1] for ln in proc.stdout.splitlines() if ln.startswith("CALL ")]


@pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed")
@pytest.mark.parametrize("board", ["pynq-z2", "zcu104"])
def test_rtl_vivado_scripts_run_under_stub_vivado(tmp_path, board):
    b = get_board(board)
    write_fixture(tmp_path / "rtl")
    (tmp_path / "rtl" / "sml_extra.v").write_text("module sml_extra; endmodule\n")
    paths = rtl_vivado.write_scripts(tmp_path, "small", "ov", b, 125.0)
    again = rtl_vivado.write_scripts(tmp_path / "again", "small", "ov", b, 125.0)
    assert paths["package"].read_bytes() == again["package"].read_bytes()
    text = paths["package"].read_text() + paths["vivado"].read_text()
    assert not re.search(r"@[A-Z0-9_]+@", text)  # every placeholder filled
    calls = run_tcl(paths["package"], tmp_path)
    joined = "\n".join(calls)
    assert f"create_project -force dnnu_ip {tmp_path / 'vivado_rtl' / 'ip_prj'} -part {b.part}" in joined
    added = next(c for c in calls if c.startswith("add_files -norecurse") and ".v" in c)
    assert str(tmp_path / "rtl" / "dnnu.v") in added and str(tmp_path / "rtl" / "sml_extra.v") in added
    assert any(c.startswith("add_files") and "rom.hex" in c for c in calls)  # ROM images travel with the IP
    pkg = next(c for c in calls if c.startswith("ipx::package_project"))
    vendor, library, name, version = rtl_vivado.RTL_VLNV.split(":")
    assert f"-vendor {vendor} -library {library}" in pkg and "-import_files" in pkg
    assert f"set_property name {name}" in joined and f"set_property version {version}" in joined
    assert "ipx::infer_bus_interfaces xilinx.com:interface:aximm_rtl:1.0" in joined
    assert "ipx::associate_bus_interfaces -clock ap_clk -reset ap_rst_n" in joined
    assert "set_property value ACTIVE_LOW" in joined and "ipx::save_core" in joined
    # the block design: same as the HLS one, with the packaged IP's repository and VLNV
    viv = paths["vivado"]
    handoff = tmp_path / "vivado_rtl" / "prj" / "ov.gen" / "sources_1" / "bd" / "ov" / "hw_handoff"
    handoff.mkdir(parents=True)
    (handoff / "ov.hwh").write_text("h")
    (tmp_path / "vivado_rtl" / "ov_wrapper.bit").write_text("b")
    calls = run_tcl(viv, tmp_path)
    joined = "\n".join(calls)
    assert f"set_property ip_repo_paths {tmp_path / 'vivado_rtl' / 'ip'}" in joined
    assert f"create_bd_cell -type ip -vlnv {rtl_vivado.RTL_VLNV} {tcl.IP_NAME}" in joined
    assert tcl.vivado_script("ov", b, 125.0).replace(tcl.VLNV, rtl_vivado.RTL_VLNV).replace(
        tcl.HLS_IP_REPO, rtl_vivado.RTL_IP_REPO).replace(tcl.HLS_IP_STEP, rtl_vivado.RTL_IP_STEP) == viv.read_text()
    assert (tmp_path / "vivado_rtl" / "out" / "ov.bit").is_file()
    assert (tmp_path / "vivado_rtl" / "out" / "ov.hwh").is_file()


@pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed")
def test_package_script_refuses_a_project_without_verilog(tmp_path):
    paths = rtl_vivado.write_scripts(tmp_path, "m", "ov", get_board("pynq-z2"), 100.0)
    (tmp_path / "rtl").mkdir()
    driver = tmp_path / "d.tcl"
    driver.write_text(STUBS + f"source {{{paths['package']}}}\n")
    proc = subprocess.run(["tclsh", str(driver)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "no Verilog sources" in proc.stderr


def test_rtl_bitstream_build_needs_vivado(project, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    from sustainml.host.build import ToolsMissingError
    with pytest.raises(ToolsMissingError, match="vivado"):
        rtl_vivado.build_hw(project)


@pytest.mark.vivado
def test_rtl_bitstream_with_vivado(tmp_path):
    """Where Vivado exists: package the generated RTL IP, build the block design, bundle bit + hwh."""
    mdir = random_model(TINY, seed=2).save(tmp_path / "model")
    g = generate(mdir, tmp_path / "build", board="pynq-z2", objective="dsp", backend="rtl",
                 calibration=np.random.default_rng(1).normal(size=(16, 16, 1)))
    dst = rtl_vivado.build_hw(g.build_dir, tmp_path / "overlays")
    m = load_bundle(dst).manifest
    assert m["kind"] == "bitstream" and m["ip"]["vlnv"] == rtl_vivado.RTL_VLNV
    assert rtl_vivado.RTL_VLNV in (dst / f"{dst.name}.hwh").read_text()


# ------------------------------------------------------------------------------ a generated design
TINY = Topology.from_dict({
    "name": "tiny", "input": {"length": 16, "channels": 1, "bits": 8}, "classes": 2,
    "layers": [{"type": "Conv1D", "filters": 2, "kernel": 3, "padding": 1, "weight_bits": 8, "act_bits": 3},
               {"type": "ReLU"}, {"type": "GlobalAvgPool1D"},
               {"type": "Dense", "units": 2, "weight_bits": 3, "act_bits": 16}]})


def test_synth_of_a_generated_rtl_design(tmp_path):
    """`generate --backend rtl` + `synth`: every stage of the generated top gets its own row; an
    8x8-bit product lands on DSPs, a 3x3-bit one in LUTs; the RTL Vivado scripts sit beside."""
    mdir = random_model(TINY, seed=2).save(tmp_path / "model")
    np.save(tmp_path / "cal.npy", np.random.default_rng(1).normal(size=(16, 16, 1)))
    out = tmp_path / "build"
    assert main(["generate", str(mdir), "--board", "pynq-z2", "--backend", "rtl", "--objective", "dsp",
                 "--calibration", str(tmp_path / "cal.npy"), "--out", str(out)]) == 0
    assert (out / "vivado_rtl" / "package_rtl_ip.tcl").is_file() and (out / "vivado" / "build_overlay.tcl").is_file()
    assert rtl_vivado.RTL_VLNV in (out / "vivado_rtl" / "build_overlay.tcl").read_text()
    assert rtl_vivado.RTL_VLNV not in (out / "vivado" / "build_overlay.tcl").read_text()  # the HLS flow unchanged
    doc = synth.synth(out, echo=lambda s: None)
    rec = yaml.safe_load((out / "build.yaml").read_text())
    kinds = [s["kind"] for s in rec["estimates"]["stages"]]
    assert [s["kind"] for s in doc["stages"]] == kinds == ["conv1d", "gap1d", "dense"]
    assert [s["instance"] for s in doc["stages"]] == rec["rtl"]["stage_instances"]
    conv, _, dense = doc["stages"]
    assert conv["module"] == "sml_conv1d" and conv["yosys"]["dsp"] >= conv["multipliers"] >= 1
    assert conv["multipliers_on"] == "DSP"
    assert dense["yosys"]["dsp"] == 0 and dense["multipliers_on"] == "LUT" and dense["yosys"]["lut"] > 0
    names = {o["instance"] for o in doc["other"]}
    assert {"u_ctrl", "u_reader", "u_writer"} <= names
    total = doc["total"]
    for k in ("lut", "ff", "dsp", "carry", "bram18", "lutram"):
        assert total[k] == sum(r["yosys"][k] for r in doc["stages"] + doc["other"]), k
