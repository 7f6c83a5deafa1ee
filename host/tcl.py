"""Vitis HLS and Vivado Tcl scripts of a generated project (templates in ``templates/``).

Templates use ``@NAME@`` placeholders (Tcl's own ``$`` and ``[]`` stay untouched); rendering
fails on a placeholder without a value, so a script never reaches a tool half-filled. Output
depends only on the inputs (no dates, no host paths), so the same model and board give a
byte-identical project. PS specifics per catalogue ``ps`` type:

* ``ps7`` (Zynq-7000, ``processing_system7``): FCLK_CLK0, M_AXI_GP0 for control, S_AXI_HP0
  (64 bit, clock S_AXI_HP0_ACLK) for the DNNU's m_axi; board preset from the PYNQ-Z1/Z2 board files;
* ``ps8`` (Zynq UltraScale+, ``zynq_ultra_ps_e``): pl_clk0, M_AXI_HPM0_FPD, S_AXI_HP0_FPD (128 bit,
  clock saxihp0_fpd_aclk).

Both m_axi masters of the DNNU (bundles gmem0 and gmem1) reach the HP port through one
SmartConnect (``axi_smc``), as Vivado's automation does for a second master on a taken port.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Mapping

from sustainml.board.sim.hwh import PS_INSTANCE, dnnu_base_address
from sustainml.nas.catalogue import Board

from .errors import UserError

TEMPLATES = Path(__file__).with_name("templates")
TOP = "dnnu"
VENDOR, LIBRARY, IP_VERSION = "sustainml.org", "hls", "1.0"
VLNV = f"{VENDOR}:{LIBRARY}:{TOP}:{IP_VERSION}"
IP_NAME = "dnnu_0"
#: The SmartConnect that merges the DNNU's m_axi masters (gmem0, gmem1) into one HP port.
SMC_NAME = "axi_smc"

PS = {
    "ps7": {"PS_IP": "processing_system7", "PL_CLK": "FCLK_CLK0", "GP_PORT": "M_AXI_GP0", "HP_PORT": "S_AXI_HP0",
            "HP_CLK": "S_AXI_HP0_ACLK",
            "PS_AUTOMATION": 'make_external "FIXED_IO, DDR" apply_board_preset $preset Master Disable Slave Disable'},
    "ps8": {"PS_IP": "zynq_ultra_ps_e", "PL_CLK": "pl_clk0", "GP_PORT": "M_AXI_HPM0_FPD", "HP_PORT": "S_AXI_HP0_FPD",
            "HP_CLK": "saxihp0_fpd_aclk",
            "PS_AUTOMATION": "apply_board_preset $preset"},
}


def _fmt(v: float) -> str:
    """Stable number text: no trailing zeros (100.0 -> 100, 142.857 -> 142.857)."""
    return f"{v:.6f}".rstrip("0").rstrip(".")


def ps_config(board: Board, clock_mhz: float) -> str:
    """CONFIG.* properties that enable the ports and set PL clock 0."""
    f = _fmt(clock_mhz)
    if board.ps == "ps7":
        props = {"PCW_USE_M_AXI_GP0": 1, "PCW_USE_S_AXI_HP0": 1, "PCW_S_AXI_HP0_DATA_WIDTH": board.hp_port_bits,
                 "PCW_EN_CLK0_PORT": 1, "PCW_FPGA0_PERIPHERAL_FREQMHZ": f}
    else:
        props = {"PSU__USE__M_AXI_GP0": 1, "PSU__USE__M_AXI_GP1": 0, "PSU__USE__M_AXI_GP2": 0,
                 "PSU__USE__S_AXI_GP2": 1, "PSU__SAXIGP2__DATA_WIDTH": board.hp_port_bits,
                 "PSU__FPGA_PL0_ENABLE": 1, "PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ": f}
    return " ".join(f"CONFIG.{k} {{{v}}}" for k, v in props.items())


def render(template: str, values: Mapping[str, object]) -> str:
    """Fill ``@KEY@`` placeholders; every placeholder must have a value."""
    text = (TEMPLATES / template).read_text()
    missing = sorted(set(re.findall(r"@([A-Z0-9_]+)@", text)) - set(values))
    if missing:
        raise UserError(f"{TEMPLATES / template}: no value for placeholder(s) {', '.join(missing)}")
    return re.sub(r"@([A-Z0-9_]+)@", lambda m: str(values[m.group(1)]), text)


def board_part_glob(board: Board) -> str:
    """``vendor:board:part0:1.0`` -> ``*:board:part0:*`` (any installed file version)."""
    parts = board.board_part.split(":")
    return f"*:{parts[1]}:{parts[2]}:*" if len(parts) == 4 else board.board_part


def hls_script(model_name: str, board: Board, clock_mhz: float) -> str:
    return render("run_hls.tcl", {
        "MODEL": model_name, "BOARD": board.name, "PART": board.part, "CLOCK_MHZ": _fmt(clock_mhz),
        "PERIOD_NS": _fmt(round(1000.0 / clock_mhz, 3)), "TOP": TOP, "VENDOR": VENDOR, "LIBRARY": LIBRARY,
        "IP_VERSION": IP_VERSION, "VLNV": VLNV})


#: Where build_overlay.tcl finds the DNNU IP, and the step that packages it (HLS backend).
HLS_IP_REPO, HLS_IP_STEP = "$here/../hls/dnnu_prj/sol1/impl/ip", "hls/run_hls.tcl"


def vivado_script(name: str, board: Board, clock_mhz: float, jobs: int = 4, vlnv: str = VLNV,
                  ip_repo: str = HLS_IP_REPO, ip_step: str = HLS_IP_STEP) -> str:
    """The block design + bitstream script; ``vlnv``/``ip_repo``/``ip_step`` name the DNNU IP
    (the RTL backend passes its packaged Verilog IP, host/rtl_vivado.py)."""
    ps = PS[board.ps]
    return render("build_overlay.tcl", {"IP_REPO": ip_repo, "IP_STEP": ip_step,
        **ps, "NAME": name, "BOARD": board.name, "PART": board.part, "BOARD_PART": board.board_part,
        "BOARD_PART_GLOB": board_part_glob(board), "CLOCK_MHZ": _fmt(clock_mhz), "PS_INSTANCE": PS_INSTANCE[board.ps],
        "PS_CONFIG": ps_config(board, clock_mhz), "VLNV": vlnv, "IP_NAME": IP_NAME, "SMC_NAME": SMC_NAME,
        "BASE_ADDR": f"0x{dnnu_base_address(board.ps):08X}", "JOBS": jobs})


def write_scripts(build_dir: Path, model_name: str, overlay_name: str, board: Board, clock_mhz: float) -> Dict[str, Path]:
    """Write ``hls/run_hls.tcl`` and ``vivado/build_overlay.tcl`` under ``build_dir``."""
    out = {"hls": build_dir / "hls" / "run_hls.tcl", "vivado": build_dir / "vivado" / "build_overlay.tcl"}
    for p in out.values():
        p.parent.mkdir(parents=True, exist_ok=True)
    out["hls"].write_text(hls_script(model_name, board, clock_mhz))
    out["vivado"].write_text(vivado_script(overlay_name, board, clock_mhz))
    return out

