"""Hardware handoffs as pynq.Overlay reads them on a board (pynqmetadata's Metadata wrapped in
RuntimeMetadataParser): the runtime's IP discovery (by VLNV, register offsets, PL clock) on
real Vivado handoffs from ../shared/fixtures/xilinx, and the generated simulation handoff
yielding an ip_dict of the same structure, with gmem0/gmem1 through a SmartConnect."""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from sustainml import REPO_ROOT
from sustainml.board.dnnu import _check_registers, _find_ip
from sustainml.board.errors import BoardError
from sustainml.board.sim.hwh import IO_PLL_MHZ, render_hwh
from sustainml.host import tcl

pytest.importorskip("pynqmetadata", reason="pynq's metadata parser (pynq >= 3.0) is not installed")
from pynqmetadata.frontends import Metadata  # noqa: E402
from pynqmetadata.views.runtime import RuntimeMetadataParser  # noqa: E402

#: ../shared/fixtures/xilinx next to the repository (CI), or $SUSTAINML_XILINX_FIXTURES.
XILINX = Path(os.environ.get("SUSTAINML_XILINX_FIXTURES") or REPO_ROOT.parent / "shared" / "fixtures" / "xilinx")
REAL = {"pynq-z1/z2": ("bnn_lfcW1A1_pynqz1z2_vivado2019_2.hwh", 0x43C00000, 0, 100.0),
        "ultra96": ("bnn_lfcW1A1_ultra96_vivado2019_2.hwh", 0xA0000000, 2, 300.0)}
REGISTERS = {"ap_ctrl": 0x00, "gie": 0x04, "ier": 0x08, "isr": 0x0C, "in_addr": 0x10, "out_addr": 0x1C, "batch": 0x28}
BNN_VLNV = "xilinx.com:hls:BlackBoxJam:1.0"


def parse(path: Path) -> RuntimeMetadataParser:
    """What pynq.Overlay does with NAME.hwh on a board (pynq 3.0.1 and 4.0.0)."""
    return RuntimeMetadataParser(Metadata(input=str(path)))


def real(name: str) -> Path:
    p = XILINX / REAL[name][0]
    if not p.is_file():
        pytest.skip(f"real Vivado handoffs not found at {XILINX} (../shared/fixtures/xilinx is absent)")
    return p


def _bundle(ip_name: str, vlnv: str, registers=REGISTERS):
    return SimpleNamespace(ip_name=ip_name, manifest={"ip": {"name": ip_name, "vlnv": vlnv}}, registers=registers,
                           bitfile=Path("x.bit"))


def _pl_mhz(ps: str, clock: dict) -> float:
    return IO_PLL_MHZ[ps] / (clock["divisor0"] * clock["divisor1"])


@pytest.mark.parametrize("name", sorted(REAL))
def test_runtime_finds_the_hls_ip_in_a_real_handoff(name):
    path = real(name)
    _, base, pl, mhz = REAL[name]
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf"  # real handoffs start with a UTF-8 BOM
    md = parse(path)
    desc = _find_ip(md.ip_dict, _bundle("dnnu_0", BNN_VLNV))  # not by name: by VLNV
    assert desc["type"] == BNN_VLNV and desc["phys_addr"] == base and desc["addr_range"] == 65536
    regs = {k: v["address_offset"] for k, v in desc["registers"].items()}
    # Vitis HLS's 64-bit pointer split, and the very register map docs/CONTRACTS.md gives the DNNU
    assert {k: regs[k] for k in ("CTRL", "GIER", "IP_IER", "IP_ISR", "in_V_1", "in_V_2", "out_V_1", "out_V_2")} == \
        {"CTRL": 0, "GIER": 4, "IP_IER": 8, "IP_ISR": 12, "in_V_1": 16, "in_V_2": 20, "out_V_1": 28, "out_V_2": 32}
    _check_registers(desc, _bundle("dnnu_0", BNN_VLNV))
    with pytest.raises(BoardError, match="CTRL at 0x0"):
        _check_registers(desc, _bundle("dnnu_0", BNN_VLNV, {**REGISTERS, "ap_ctrl": 0x40}))
    with pytest.raises(BoardError, match="has no IP"):
        _find_ip(md.ip_dict, _bundle("dnnu_0", "sustainml.org:hls:dnnu:1.0"))
    ps = "ps7" if name.startswith("pynq") else "ps8"
    assert _pl_mhz(ps, md.clock_dict[pl]) == pytest.approx(mhz, rel=0.01)


def _masters(path: Path, instance: str):
    root = ET.fromstring(path.read_bytes().decode("utf-8-sig"))
    mod = next(m for m in root.iter("MODULE") if m.get("INSTANCE") == instance)
    return {b.get("NAME"): b.get("BUSNAME") for b in mod.iter("BUSINTERFACE") if b.get("TYPE") == "MASTER"}, root


@pytest.mark.parametrize("name, part, board", [("pynq-z1/z2", "xc7z020clg400-1", "pynq-z2"),
                                               ("ultra96", "xczu3eg-sbva484-1-i", "ultra96v2")])
def test_sim_handoff_has_the_structure_of_a_real_one(tmp_path, name, part, board):
    path = real(name)
    ours = tmp_path / "ovl.hwh"
    ours.write_text(render_hwh("ovl", part, 100.0, tcl.IP_NAME, tcl.VLNV, REGISTERS))
    theirs_md, ours_md = parse(path), parse(ours)
    theirs_ip = _find_ip(theirs_md.ip_dict, _bundle("x", BNN_VLNV))
    ours_ip = _find_ip(ours_md.ip_dict, _bundle("other_name", tcl.VLNV))
    assert set(ours_ip) == set(theirs_ip)
    reg_keys = {k for r in theirs_ip["registers"].values() for k in r}
    assert all(set(r) == reg_keys for r in ours_ip["registers"].values())
    assert {k: v["address_offset"] for k, v in ours_ip["registers"].items()} == {
        "CTRL": 0, "GIER": 4, "IP_IER": 8, "IP_ISR": 12, "in_r_1": 16, "in_r_2": 20, "out_r_1": 28, "out_r_2": 32,
        "batch": 40}
    assert ours_ip["type"] == tcl.VLNV and ours_ip["addr_range"] == theirs_ip["addr_range"]
    assert set(ours_md.clock_dict[0]) == set(theirs_md.clock_dict[0])
    ps = "ps7" if part.startswith("xc7z") else "ps8"
    assert _pl_mhz(ps, ours_md.clock_dict[0]) == pytest.approx(100.0, rel=0.01)
    # masters: theirs one (m_axi_hostmem) through an interconnect; ours one per bundle through axi_smc
    theirs_m, theirs_root = _masters(path, theirs_ip["fullpath"])
    ours_m, ours_root = _masters(ours, tcl.IP_NAME)
    assert list(theirs_m) == ["m_axi_hostmem"] and sorted(ours_m) == ["m_axi_gmem0", "m_axi_gmem1"]
    for m, root in ((theirs_m, theirs_root), (ours_m, ours_root)):
        for bus in m.values():  # each master's bus ends at a slave port of a BUS-class module (interconnect)
            slaves = [mod for mod in root.iter("MODULE") for b in mod.iter("BUSINTERFACE")
                      if b.get("BUSNAME") == bus and b.get("TYPE") == "SLAVE"]
            assert len(slaves) == 1 and slaves[0].get("MODCLASS") == "BUS"


def test_sim_handoff_without_shared_fixtures_still_parses(tmp_path):
    """Runs everywhere: the generated handoff alone, as pynq parses it."""
    ours = tmp_path / "ovl.hwh"
    ours.write_text(render_hwh("ovl", "xczu7ev-ffvc1156-2-e", 187.5, tcl.IP_NAME, tcl.VLNV, REGISTERS))
    md = parse(ours)
    ip = md.ip_dict[tcl.IP_NAME]
    assert ip["phys_addr"] == 0xA0000000 and ip["registers"]["out_r_2"]["address_offset"] == 0x20
    assert _pl_mhz("ps8", md.clock_dict[0]) == pytest.approx(187.5, rel=0.01)
    _check_registers(ip, _bundle(tcl.IP_NAME, tcl.VLNV))
