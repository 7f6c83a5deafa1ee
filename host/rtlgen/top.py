"""The generated Verilog top ``dnnu`` of a model, and the RTL project folder that holds it.

Contract. ``write_project(model, folder)`` writes, deterministically (same model -> same bytes):

* ``dnnu.v``: module ``dnnu`` with the ports of the Vitis HLS DNNU IP (``ap_clk``, ``ap_rst_n``,
  ``s_axi_control_*``, ``m_axi_gmem0_*`` (input reads), ``m_axi_gmem1_*`` (output writes),
  ``interrupt``), composed of ``sml_axil_ctrl`` (ap_ctrl_hs register map, docs/CONTRACTS.md)
  -> ``sml_axi_reader`` -> the stage modules in model order -> ``sml_axi_writer``;
* a copy of every library module it uses (``hls/rtl/*.v``) and the ROM files ``s{i}_w.hex`` /
  ``s{i}_b.hex``, all in the one folder, so ``$readmemh`` paths are relative to it for
  Verilator and Yosys alike;
* ``sources.txt``: the Verilog files in compile order (top last);
* ``dnnu_act.v``: the simulation-only activity monitor around ``dnnu`` (:mod:`.activity`), which
  Verilator builds as its top; it is not in ``sources.txt`` (never synthesized).

Under ``define SML_STALLS`` (simulation only, never in synthesis) every stream between two
modules passes through ``sml_dnnu_stall``, which withholds the handshake on pseudo-random cycles
(seeded per stream), to prove the stages honour backpressure and bubbles.

``passthrough_project`` builds the same top with no stage at all (the input beats are the output
beats): it tests the AXI and DMA path on its own.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from sustainml import REPO_ROOT
from sustainml.nas.quantized import QuantizedModel

from ..hlsgen.dnnu_io import container
from ..hlsgen.errors import HlsGenError

LIBRARY_DIR = REPO_ROOT / "hls" / "rtl"
TOP = "dnnu"
#: AXI4 data width of both masters (the Zynq-7000 HP ports are 64 bits wide).
AXI_DW = 64
#: Longest INCR burst requested (16 beats: legal as AXI3 too, the Zynq-7000 HP ports' protocol).
MAX_BURST = 16
#: Files of the top level (owned here, not part of the stage library).
TOP_FILES = ("sml_axil_ctrl.v", "sml_axi_reader.v", "sml_axi_writer.v", "sml_dnnu_stall.v")


@dataclass(frozen=True)
class TopIO:
    """Shapes and containers at the two DMA ends of the pipeline."""

    in_len: int
    in_ch: int
    in_bits: int
    in_bytes: int  # container bytes per input value
    out_len: int
    out_ch: int
    out_bits: int
    out_signed: bool
    out_bytes: int

    @classmethod
    def of_model(cls, model: QuantizedModel) -> "TopIO":
        first, last = model.stages[0], model.stages[-1]
        return cls(first.in_len, first.in_ch, first.in_bits, container(first.in_bits).itemsize,
                   last.out_len, last.out_ch, last.out_bits, last.out_signed,
                   container(last.out_bits, last.out_signed).itemsize)


def _axi_ports(prefix: str, read: bool) -> List[str]:
    if read:
        return [f"output wire [63:0] {prefix}_ARADDR", f"output wire [7:0] {prefix}_ARLEN",
                f"output wire [2:0] {prefix}_ARSIZE", f"output wire [1:0] {prefix}_ARBURST",
                f"output wire [3:0] {prefix}_ARCACHE", f"output wire [2:0] {prefix}_ARPROT",
                f"output wire {prefix}_ARVALID", f"input wire {prefix}_ARREADY",
                f"input wire [{AXI_DW - 1}:0] {prefix}_RDATA", f"input wire [1:0] {prefix}_RRESP",
                f"input wire {prefix}_RLAST", f"input wire {prefix}_RVALID", f"output wire {prefix}_RREADY"]
    return [f"output wire [63:0] {prefix}_AWADDR", f"output wire [7:0] {prefix}_AWLEN",
            f"output wire [2:0] {prefix}_AWSIZE", f"output wire [1:0] {prefix}_AWBURST",
            f"output wire [3:0] {prefix}_AWCACHE", f"output wire [2:0] {prefix}_AWPROT",
            f"output wire {prefix}_AWVALID", f"input wire {prefix}_AWREADY",
            f"output wire [{AXI_DW - 1}:0] {prefix}_WDATA", f"output wire [{AXI_DW // 8 - 1}:0] {prefix}_WSTRB",
            f"output wire {prefix}_WLAST", f"output wire {prefix}_WVALID", f"input wire {prefix}_WREADY",
            f"input wire [1:0] {prefix}_BRESP", f"input wire {prefix}_BVALID", f"output wire {prefix}_BREADY"]


def _connect(prefix: str, read: bool) -> str:
    names = [p.split()[-1] for p in _axi_ports(prefix, read)]
    return ", ".join(f".m_axi_{n[len(prefix) + 1:]}({n})" for n in names)


def _stream_wires(name: str, width: int) -> List[str]:
    return [f"    wire [{width - 1}:0] {name}_tdata;", f"    wire {name}_tvalid;", f"    wire {name}_tready;"]


def _stall(k: int, src: str, dst: str, width: int) -> List[str]:
    """Stream ``src`` -> ``dst``: straight wires, or a stall injector under SML_STALLS."""
    return ["`ifdef SML_STALLS",
            f"    sml_dnnu_stall #(.WIDTH({width}), .SEED({0x1234 + 7919 * k})) u_stall{k} (.ap_clk(ap_clk), "
            f".ap_rst_n(ap_rst_n), .s_axis_tdata({src}_tdata), .s_axis_tvalid({src}_tvalid), "
            f".s_axis_tready({src}_tready), .m_axis_tdata({dst}_tdata), .m_axis_tvalid({dst}_tvalid), "
            f".m_axis_tready({dst}_tready));",
            "`else",
            f"    assign {dst}_tdata = {src}_tdata;", f"    assign {dst}_tvalid = {src}_tvalid;",
            f"    assign {src}_tready = {dst}_tready;",
            "`endif"]


def top_ports() -> List[str]:
    """Declarations of the ports of ``dnnu`` (those of the Vitis HLS DNNU IP)."""
    return (["input wire ap_clk", "input wire ap_rst_n"]
            + ["input wire [5:0] s_axi_control_AWADDR", "input wire s_axi_control_AWVALID",
                "output wire s_axi_control_AWREADY", "input wire [31:0] s_axi_control_WDATA",
                "input wire [3:0] s_axi_control_WSTRB", "input wire s_axi_control_WVALID",
                "output wire s_axi_control_WREADY", "output wire [1:0] s_axi_control_BRESP",
                "output wire s_axi_control_BVALID", "input wire s_axi_control_BREADY",
                "input wire [5:0] s_axi_control_ARADDR", "input wire s_axi_control_ARVALID",
                "output wire s_axi_control_ARREADY", "output wire [31:0] s_axi_control_RDATA",
                "output wire [1:0] s_axi_control_RRESP", "output wire s_axi_control_RVALID",
                "input wire s_axi_control_RREADY"]
            + _axi_ports("m_axi_gmem0", True) + _axi_ports("m_axi_gmem1", False) + ["output wire interrupt"])


def top_verilog(io: TopIO, widths: Sequence[int], instances: Sequence[str], title: str) -> str:
    """Text of ``dnnu.v``. ``widths``: tdata width of stream k (k = 0: reader output; k = i + 1:
    output of stage i); ``instances[i]`` instantiates stage i between ``a{i}_*`` and ``z{i}_*``."""
    n = len(instances)
    ports = top_ports()
    ctl = ", ".join(f".s_axi_control_{p}(s_axi_control_{p})" for p in (
        "AWADDR", "AWVALID", "AWREADY", "WDATA", "WSTRB", "WVALID", "WREADY", "BRESP", "BVALID", "BREADY",
        "ARADDR", "ARVALID", "ARREADY", "RDATA", "RRESP", "RVALID", "RREADY"))
    lines = [f"// DNNU top: {title}.",
             "// Generated by sustainml.host.rtlgen.top; do not edit. Ports and registers as the Vitis HLS DNNU.",
             "`default_nettype none",
             f"module {TOP} (", ",\n".join(f"    {p}" for p in ports), ");",
             "    wire start, finish, writer_done;",
             "    wire [63:0] in_addr, out_addr;",
             "    wire [31:0] batch;",
             "    reg empty_done;",
             f"    sml_axil_ctrl u_ctrl (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n), {ctl}, .interrupt(interrupt),",
             "        .start(start), .in_addr(in_addr), .out_addr(out_addr), .batch(batch), .finish(finish));",
             "    // batch <= 0: finish at once, memory untouched (as the HLS top's loops run zero times)",
             "    wire go = start && !batch[31] && batch != 32'd0;",
             "    always @(posedge ap_clk) empty_done <= ap_rst_n && start && !go;",
             "    assign finish = writer_done || empty_done;",
             f"    wire [39:0] in_beats = batch * 40'd{io.in_len};",
             f"    wire [39:0] out_beats = batch * 40'd{io.out_len};"]
    lines += _stream_wires("rd", widths[0])
    for i in range(n):
        lines += _stream_wires(f"a{i}", widths[i]) + _stream_wires(f"z{i}", widths[i + 1])
    lines += _stream_wires("wr", widths[-1])
    lines += [f"    sml_axi_reader #(.DW({AXI_DW}), .CH({io.in_ch}), .BITS({io.in_bits}), .EB({io.in_bytes}), "
              f".MAX_BURST({MAX_BURST}), .FIFO_DEPTH({4 * MAX_BURST})) u_reader (.ap_clk(ap_clk), "
              ".ap_rst_n(ap_rst_n), .start(go), .addr(in_addr), .beats(in_beats), .idle(),",
              f"        {_connect('m_axi_gmem0', True)},",
              "        .m_axis_tdata(rd_tdata), .m_axis_tvalid(rd_tvalid), .m_axis_tready(rd_tready));"]
    for i, inst in enumerate(instances):
        lines += _stall(i, "rd" if i == 0 else f"z{i - 1}", f"a{i}", widths[i])
        lines.append(inst)
    lines += _stall(n, f"z{n - 1}" if n else "rd", "wr", widths[-1])
    lines += [f"    sml_axi_writer #(.DW({AXI_DW}), .CH({io.out_ch}), .BITS({io.out_bits}), "
              f".SIGNED({int(io.out_signed)}), .EB({io.out_bytes}), .MAX_BURST({MAX_BURST}), "
              f".FIFO_DEPTH({2 * MAX_BURST})) u_writer (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .start(go), "
              ".addr(out_addr), .beats(out_beats), .done(writer_done),",
              "        .s_axis_tdata(wr_tdata), .s_axis_tvalid(wr_tvalid), .s_axis_tready(wr_tready),",
              f"        {_connect('m_axi_gmem1', False)});",
              "endmodule", "`default_nettype wire", ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class RtlProject:
    """A written RTL project folder."""

    folder: Path
    sources: List[str]  # Verilog files in compile order, relative to folder (top last)
    io: TopIO


def _copy_library(folder: Path, names: Sequence[str]) -> None:
    for name in names:
        src = LIBRARY_DIR / name
        if not src.is_file():
            raise HlsGenError(f"{src}: RTL library module missing")
        shutil.copyfile(src, folder / name)


def _finish(folder: Path, lib: Sequence[str], top_text: str, io: TopIO, widths: Sequence[int],
            stages: Sequence[object]) -> RtlProject:
    from .activity import ACT_FILE, monitor_verilog

    _copy_library(folder, lib)
    (folder / f"{TOP}.v").write_text(top_text)
    (folder / ACT_FILE).write_text(monitor_verilog(top_ports(), widths, stages))
    sources = list(lib) + [f"{TOP}.v"]
    (folder / "sources.txt").write_text("\n".join(sources) + "\n")
    return RtlProject(folder, sources, io)


def write_project(model: QuantizedModel, folder: Path) -> RtlProject:
    """The RTL project of ``model`` in ``folder`` (see module docstring)."""
    from . import stages as rtl

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.hex"):
        old.unlink()
    instances = []
    for i, s in enumerate(model.stages):
        where = f"model {model.topology.name!r} stage {i}"
        w, b = (model.w(i), model.b(i)) if s.is_compute else (None, None)
        rtl.check(s, w, b, where)
        wpath, bpath = rtl.write_roms(s, w, b, folder, f"s{i}") if s.is_compute else (None, None)
        instances.append(rtl.instance(s, f"u_s{i}_{s.kind}", Path(wpath).name if wpath else "",
                                      Path(bpath).name if bpath else "", s=f"a{i}", m=f"z{i}"))
    widths = [rtl.in_width(model.stages[0])] + [rtl.out_width(s) for s in model.stages]
    io = TopIO.of_model(model)
    title = f"model '{model.topology.name}': DMA in -> {' -> '.join(s.kind for s in model.stages)} -> DMA out"
    lib = sorted(set(TOP_FILES) | {Path(p).name for p in rtl.library_files()})
    return _finish(folder, lib, top_verilog(io, widths, instances, title), io, widths, model.stages)


def passthrough_project(folder: Path, length: int, channels: int, bits: int,
                        out_bits: Optional[int] = None) -> RtlProject:
    """A DNNU with no stage: input beats go straight to the writer (tests the AXI/DMA path).
    ``out_bits`` (>= bits) widens each value in a wider output container (sign-extended)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ob = out_bits or bits
    io = TopIO(length, channels, bits, container(bits).itemsize, length, channels, bits, True, container(ob).itemsize)
    text = top_verilog(io, [channels * bits], [], f"pass-through, {length} x {channels} values of {bits} bits")
    return _finish(folder, sorted(TOP_FILES), text, io, [channels * bits], ())
