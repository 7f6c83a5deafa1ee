"""The ``NAME.hwh`` of a sim bundle: a generated description of the intended block design.

``pynq.Overlay`` reads the hardware handoff next to the bitstream to find the IP, its address
and its registers. A sim bundle has no Vivado run behind it, so the generator writes this
file instead: the PS (``processing_system7`` or ``zynq_ultra_ps_e``) with its PL clock 0 set to
the design clock, the DNNU's ``s_axi_control`` slave on the PS's general-purpose master port,
and its two m_axi masters (one per bundle, ``m_axi_gmem0`` for the input and ``m_axi_gmem1``
for the output, as Vitis HLS names them) through one SmartConnect (``axi_smc``, the block
design host/templates/build_overlay.tcl builds) into a high-performance port and PS DDR.
Register names are Vitis HLS's: ``CTRL``, ``GIER``, ``IP_IER``, ``IP_ISR``, 64-bit pointers as
``in_r_1``/``in_r_2`` and ``out_r_1``/``out_r_2`` (``in``/``out`` are HDL keywords), scalars by
name. Parsed by pynq's metadata parser it gives an ``ip_dict`` entry of the same structure
as a real Vivado handoff's HLS IP (tests/test_hwh_handoffs.py checks both). It is labelled
simulated (``VIVADOVERSION="sustainml-sim"``); nothing in it claims a Vivado run.

Board-side module (standard library only); the host's generator calls :func:`write_hwh`.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Mapping, Tuple, Union
from xml.sax.saxutils import quoteattr

SIM_TOOL = "sustainml-sim"

#: Per PS type: (ARCH, module type, VLNV, GP master, HP slave, DNNU base, DDR window, ref MHz).
_PS = {
    "ps7": ("zynq", "processing_system7", "xilinx.com:ip:processing_system7:5.5", "M_AXI_GP0", "S_AXI_HP0",
            0x43C00000, (0x00000000, 0x1FFFFFFF)),
    "ps8": ("zynquplus", "zynq_ultra_ps_e", "xilinx.com:ip:zynq_ultra_ps_e:3.3", "M_AXI_HPM0_FPD", "S_AXI_HP0_FPD",
            0xA0000000, (0x00000000, 0x7FFFFFFF)),
}
PS_INSTANCE = {"ps7": "processing_system7_0", "ps8": "zynq_ultra_ps_e_0"}
#: Source PLL feeding PL clock 0 (MHz) in the board presets: IO PLL.
IO_PLL_MHZ = {"ps7": 1000.0, "ps8": 1500.0}
ADDR_RANGE = 0x10000
#: The DNNU's m_axi bundles (input, output) and the SmartConnect that merges them.
BUNDLES = ("gmem0", "gmem1")
SMC_INSTANCE = "axi_smc"

_CTRL_FIELDS = (("AP_START", 0, 1), ("AP_DONE", 1, 1), ("AP_IDLE", 2, 1), ("AP_READY", 3, 1),
                ("AUTO_RESTART", 7, 1))


def ps_type(part: str) -> str:
    """``ps7`` for Zynq-7000 parts (xc7z...), ``ps8`` for Zynq UltraScale+ (xczu..., xck26...)."""
    p = part.lower()
    if p.startswith("xc7z"):
        return "ps7"
    if p.startswith(("xczu", "xck")):
        return "ps8"
    raise ValueError(f"part {part}: not a Zynq-7000 or Zynq UltraScale+ part")


def dnnu_base_address(ps: str) -> int:
    return _PS[ps][5]


def _split_part(part: str) -> Tuple[str, str, str]:
    m = re.match(r"^xc(\w+?)(clg|sbva|ffvc|ffvb|sfvc|fbg|ffg)(\d+)(-.*)$", part.lower())
    if not m:
        return part, "", ""
    return m.group(1), m.group(2) + m.group(3), m.group(4)


def _divisors(src_mhz: float, mhz: float) -> Tuple[int, int]:
    """Two 6-bit divisors whose product best approximates ``src_mhz / mhz``."""
    want = src_mhz / mhz
    best = min(((a, b) for a in range(1, 64) for b in range(1, 64)), key=lambda d: (abs(d[0] * d[1] - want), d[1]))
    return best


def _param(name: str, value: object) -> str:
    return f'<PARAMETER NAME={quoteattr(name)} VALUE={quoteattr(str(value))}/>'


def _ps_clock_params(ps: str, clock_mhz: float) -> Dict[str, object]:
    d0, d1 = _divisors(IO_PLL_MHZ[ps], clock_mhz)
    actual = IO_PLL_MHZ[ps] / (d0 * d1)
    out: Dict[str, object] = {}
    for i in range(4):
        on = 1 if i == 0 else 0
        if ps == "ps7":
            out.update({f"PCW_FPGA_FCLK{i}_ENABLE": on, f"PCW_FCLK{i}_PERIPHERAL_CLKSRC": 0,
                        f"PCW_FCLK{i}_PERIPHERAL_DIVISOR0": d0 if on else 1,
                        f"PCW_FCLK{i}_PERIPHERAL_DIVISOR1": d1 if on else 1,
                        f"PCW_FPGA{i}_PERIPHERAL_FREQMHZ": clock_mhz if on else 50})
        else:
            out.update({f"PSU__FPGA_PL{i}_ENABLE": on, f"PSU__CRL_APB__PL{i}_REF_CTRL__SRCSEL": 0,
                        f"PSU__CRL_APB__PL{i}_REF_CTRL__DIVISOR0": d0 if on else 1,
                        f"PSU__CRL_APB__PL{i}_REF_CTRL__DIVISOR1": d1 if on else 1})
        # The achieved rate, as Vivado records it; pynq.Overlay.download programs this clock.
        out[f"PSU__CRL_APB__PL{i}_REF_CTRL__ACT_FREQMHZ"] = round(actual, 6) if on else 50
    return out


def _register(name: str, offset: int, access: str, desc: str, fields=()) -> str:
    props = "".join(f'<PROPERTY NAME="{k}" VALUE={quoteattr(str(v))}/>' for k, v in
                    (("DESCRIPTION", desc), ("ADDRESS_OFFSET", hex(offset)), ("SIZE", 32), ("ACCESS", access),
                     ("IS_ENABLED", "true"), ("RESET_VALUE", "0x0")))
    fx = "".join(f'<FIELD NAME="{f}"><PROPERTY NAME="BIT_OFFSET" VALUE="{o}"/><PROPERTY NAME="BIT_WIDTH" '
                 f'VALUE="{w}"/><PROPERTY NAME="ACCESS" VALUE="{access}"/></FIELD>' for f, o, w in fields)
    return f'<REGISTER NAME={quoteattr(name)}>{props}<FIELDS>{fx}</FIELDS></REGISTER>'


def _registers(regs: Mapping[str, int]) -> str:
    """Vitis HLS names for the s_axilite registers of ``dnnu(in*, out*, int batch, ...)``."""
    out = [_register("CTRL", regs["ap_ctrl"], "read-write", "Control signals", _CTRL_FIELDS)]
    for key, name in (("gie", "GIER"), ("ier", "IP_IER"), ("isr", "IP_ISR")):
        if key in regs:
            out.append(_register(name, regs[key], "read-write", name))
    for key, arg in (("in_addr", "in_r"), ("out_addr", "out_r")):
        out.append(_register(f"{arg}_1", regs[key], "write-only", f"Data signal of {arg} (low word)"))
        out.append(_register(f"{arg}_2", regs[key] + 4, "write-only", f"Data signal of {arg} (high word)"))
    out.append(_register("batch", regs["batch"], "write-only", "Data signal of batch"))
    known = {"ap_ctrl", "gie", "ier", "isr", "in_addr", "out_addr", "batch"}
    for key in sorted(set(regs) - known, key=lambda k: regs[k]):  # further scalar arguments (FP8 I/O biases)
        out.append(_register(key, regs[key], "write-only", f"Data signal of {key}"))
    return "".join(out)


def render_hwh(name: str, part: str, clock_mhz: float, ip_name: str, vlnv: str,
               registers: Mapping[str, int]) -> str:
    """The hwh XML text of a sim overlay (see module docstring)."""
    ps = ps_type(part)
    arch, modtype, ps_vlnv, gp, hp, base, (ddr_lo, ddr_hi) = _PS[ps]
    dev, pkg, speed = _split_part(part)
    psi = PS_INSTANCE[ps]
    params = "".join(_param(k, v) for k, v in _ps_clock_params(ps, clock_mhz).items())
    hz = int(round(clock_mhz * 1e6))
    bus = lambda busname, itf, typ, width=32: (  # noqa: E731
        f'<BUSINTERFACE BUSNAME="{busname}" DATAWIDTH="{width}" NAME="{itf}" TYPE="{typ}" '
        f'VLNV="xilinx.com:interface:aximm:1.0">{_param("FREQ_HZ", hz)}</BUSINTERFACE>')
    gp_bus, hp_bus = f"{psi}_{gp}", f"{SMC_INSTANCE}_M00_AXI"
    masters = [(f"m_axi_{b}", f"{ip_name}_m_axi_{b}") for b in BUNDLES]
    ddr = "".join(
        f'<MEMRANGE ADDRESSBLOCK="HP0_DDR_LOWOCM" BASENAME="C_BASEADDR" BASEVALUE="{ddr_lo:#010x}" '
        f'HIGHNAME="C_HIGHADDR" '
        f'HIGHVALUE="{ddr_hi:#010x}" INSTANCE="{psi}" IS_DATA="TRUE" IS_INSTRUCTION="TRUE" MASTERBUSINTERFACE="{m}" '
        f'MEMTYPE="MEMORY" SLAVEBUSINTERFACE="{hp}"/>' for m, _ in masters)
    smc_class = 'MODCLASS="BUS" MODTYPE="smartconnect" VLNV="xilinx.com:ip:smartconnect:1.0"'
    dnnu_masters = "".join(bus(b, m, "MASTER") for m, b in masters)
    smc_slaves = "".join(bus(b, f"S{i:02d}_AXI", "SLAVE") for i, (_, b) in enumerate(masters))
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no" ?>
<EDKSYSTEM EDWVERSION="1.2" TIMESTAMP="simulated" VIVADOVERSION="{SIM_TOOL}">
  <SYSTEMINFO ARCH="{arch}" DEVICE="{dev}" NAME={quoteattr(name)} PACKAGE="{pkg}" SPEEDGRADE="{speed}"/>
  <EXTERNALPORTS/>
  <EXTERNALINTERFACES/>
  <MODULES>
    <MODULE FULLNAME="/{psi}" INSTANCE="{psi}" IPTYPE="PERIPHERAL" IS_ENABLE="1" IS_PL="FALSE" MODTYPE="{modtype}" VLNV="{ps_vlnv}">
      <PARAMETERS>{params}{_param("SUSTAINML_SIMULATED", "true")}{_param("SUSTAINML_PART", part)}</PARAMETERS>
      <PORTS/>
      <BUSINTERFACES>{bus(gp_bus, gp, "MASTER")}{bus(hp_bus, hp, "SLAVE", 64)}</BUSINTERFACES>
      <MEMORYMAP>
        <MEMRANGE ADDRESSBLOCK="Reg" BASENAME="C_S_AXI_CONTROL_BASEADDR" BASEVALUE="{base:#010x}" HIGHNAME="C_S_AXI_CONTROL_HIGHADDR" HIGHVALUE="{base + ADDR_RANGE - 1:#010x}" INSTANCE={quoteattr(ip_name)} IS_DATA="TRUE" IS_INSTRUCTION="TRUE" MASTERBUSINTERFACE="{gp}" MEMTYPE="REGISTER" SLAVEBUSINTERFACE="s_axi_control"/>
      </MEMORYMAP>
    </MODULE>
    <MODULE FULLNAME="/{ip_name}" HWVERSION="1.0" INSTANCE={quoteattr(ip_name)} IPTYPE="PERIPHERAL" IS_ENABLE="1" MODCLASS="PERIPHERAL" MODTYPE="dnnu" VLNV={quoteattr(vlnv)}>
      <PARAMETERS>{_param("C_S_AXI_CONTROL_BASEADDR", hex(base))}{_param("C_S_AXI_CONTROL_HIGHADDR", hex(base + ADDR_RANGE - 1))}{_param("CLK_FREQ_HZ", hz)}</PARAMETERS>
      <ADDRESSBLOCKS>
        <ADDRESSBLOCK ACCESS="read-write" INTERFACE="s_axi_control" NAME="Reg" RANGE="{ADDR_RANGE}" USAGE="register">
          <REGISTERS>{_registers(registers)}</REGISTERS>
        </ADDRESSBLOCK>
      </ADDRESSBLOCKS>
      <PORTS/>
      <BUSINTERFACES>{bus(gp_bus, "s_axi_control", "SLAVE")}{dnnu_masters}</BUSINTERFACES>
      <MEMORYMAP>{ddr}</MEMORYMAP>
    </MODULE>
    <MODULE FULLNAME="/{SMC_INSTANCE}" HWVERSION="1.0" INSTANCE="{SMC_INSTANCE}" IPTYPE="BUS" IS_ENABLE="1" {smc_class}>
      <PARAMETERS>{_param("NUM_SI", len(masters))}{_param("NUM_MI", 1)}</PARAMETERS>
      <PORTS/>
      <BUSINTERFACES>{smc_slaves}{bus(hp_bus, "M00_AXI", "MASTER", 64)}</BUSINTERFACES>
    </MODULE>
  </MODULES>
</EDKSYSTEM>
"""


def write_hwh(path: Union[str, Path], name: str, part: str, clock_mhz: float, ip_name: str, vlnv: str,
              registers: Mapping[str, int]) -> Path:
    """Write the sim overlay's hwh (see :func:`render_hwh`) and return its path."""
    p = Path(path)
    p.write_text(render_hwh(name, part, clock_mhz, ip_name, vlnv, registers), encoding="utf-8")
    return p
