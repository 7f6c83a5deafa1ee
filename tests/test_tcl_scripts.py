"""The generated Vivado script, run by a real Tcl interpreter (tclsh) against stub Vivado
commands that record every call: both m_axi masters of the DNNU (gmem0, gmem1) end up
connected, once each, through one SmartConnect into the one HP port, on PS7 and ZU+ boards."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sustainml.host import tcl
from sustainml.nas.catalogue import get_board

STUBS = Path(__file__).with_name("tcl") / "vivado_stubs.tcl"
pytestmark = pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed (Debian package tcl)")


def _run(tmp_path: Path, board_name: str):
    board = get_board(board_name)
    script = tmp_path / "vivado" / "build_overlay.tcl"
    script.parent.mkdir(parents=True)
    script.write_text(tcl.vivado_script("ovl", board, 100.0))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "ovl_wrapper.bit").write_bytes(b"bit")
    hwh = tmp_path / "vivado" / "prj" / "ovl.gen" / "sources_1" / "bd" / "ovl" / "hw_handoff" / "ovl.hwh"
    hwh.parent.mkdir(parents=True)
    hwh.write_text("<hwh/>")
    log = tmp_path / "calls.log"
    driver = tmp_path / "driver.tcl"
    driver.write_text(f"set ::stub_log {{{log}}}\nset ::stub_run_dir {{{run_dir}}}\nset argv {{}}\n"
                      f"source {{{STUBS}}}\nsource {{{script}}}\nclose $::stub_fd\n")
    proc = subprocess.run(["tclsh", str(driver)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return board, _parse(log.read_text().splitlines(), tmp_path), tmp_path


def _parse(lines, tmp_path):
    """Tcl lists -> Python lists, by tclsh itself (no hand-written Tcl parser)."""
    src = tmp_path / "lines.txt"
    src.write_text("\n".join(lines) + "\n")
    prog = tmp_path / "split.tcl"
    prog.write_text("set f [open [lindex $argv 0]]\nwhile {[gets $f l] >= 0} { puts [join $l \\x1f] }\n")
    out = subprocess.run(["tclsh", str(prog), str(src)], capture_output=True, text=True, check=True).stdout
    return [ln.split("\x1f") for ln in out.splitlines()]


@pytest.mark.parametrize("board_name", ["pynq-z2", "zcu104"])
def test_both_masters_reach_the_hp_port_once_each(tmp_path, board_name):
    board, calls, _ = _run(tmp_path, board_name)
    ps = tcl.PS[board.ps]
    inst = tcl.PS_INSTANCE[board.ps]
    hp = f"/{inst}/{ps['HP_PORT']}"
    smc = tcl.SMC_NAME
    intf = [c[1:] for c in calls if c[0] == "connect_bd_intf_net"]
    masters = ["/dnnu_0/m_axi_gmem0", "/dnnu_0/m_axi_gmem1"]
    for m in masters:
        ends = [pair for pair in intf if m in pair]
        assert len(ends) == 1, f"{m} connected {len(ends)} times: {intf}"
        assert ends[0][1].startswith(f"/{smc}/S0") and ends[0][1].endswith("_AXI")
    assert sorted(pair[1] for pair in intf if pair[0] in masters) == [f"/{smc}/S00_AXI", f"/{smc}/S01_AXI"]
    assert [pair for pair in intf if hp in pair] == [[f"/{smc}/M00_AXI", hp]]
    # the SmartConnect has exactly as many slave ports as there are masters
    props = [c for c in calls if c[0] == "set_property" and c[-1] == smc]
    assert props and "CONFIG.NUM_SI 2" in props[0][2] and "CONFIG.NUM_MI 1" in props[0][2]
    # no automation run targets the HP port (a second one would find it taken)
    auto = [c for c in calls if c[0] == "apply_bd_automation"]
    assert not [c for c in auto if hp in " ".join(c)]
    assert any("s_axi_control" in c[-1] for c in auto)
    # SmartConnect and HP port are clocked by the PL clock, reset by the automation's reset block
    nets = [c[1:] for c in calls if c[0] == "connect_bd_net"]
    clk = next(n for n in nets if n[0] == f"/{inst}/{ps['PL_CLK']}")
    assert set(clk[1:]) == {f"/{smc}/aclk", f"/{inst}/{ps['HP_CLK']}"}
    assert ["/rst_ps_0_100M/peripheral_aresetn", f"/{smc}/aresetn"] in nets


def test_script_runs_to_the_end_and_copies_outputs(tmp_path):
    _, calls, root = _run(tmp_path, "pynq-z1")
    names = [c[0] for c in calls]
    for cmd in ("create_bd_design", "validate_bd_design", "launch_runs", "report_timing_summary"):
        assert cmd in names
    assert names.index("validate_bd_design") > max(i for i, n in enumerate(names) if n.startswith("connect_bd"))
    assert (root / "vivado" / "out" / "ovl.bit").read_bytes() == b"bit"
    assert (root / "vivado" / "out" / "ovl.hwh").exists()
