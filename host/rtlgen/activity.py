"""The simulation-only activity monitor ``dnnu_act``: what the simulated board's power model reads.

Contract. :func:`monitor_verilog` writes module ``dnnu_act`` (file :data:`ACT_FILE`), which has
every port of the generated top ``dnnu`` plus ``output [64*N-1:0] sml_act``: it instantiates
``dnnu`` as ``u_dut`` and counts, through hierarchical references, while the DNNU is busy
(``u_ctrl.busy``, ap_start -> ap_done; reset by ``ap_rst_n``) the events named by
:func:`sustainml.board.sim.rtlsim.activity_counters` (the one definition of their order):
per stream beats and bit toggles between consecutive beats, per compute stage the cycles its
weight/bias ROMs are read (the MVU pipeline enable), the fold steps fired and the bit toggles of
the operand and weight registers that feed its multipliers (``mvu.xop``, ``mvu.w1``).

It is Verilator-only: it is never in ``sources.txt``, so Yosys and Vivado never see it, and the
DNNU it wraps is the same ``dnnu.v`` that is synthesized. Verilator builds it as the top
(:mod:`.verilator`), so the harness reads ``sml_act`` after ap_done. The counts are facts of the
simulation; how they become energy is the simulated board's business (``board/sim/power.py``),
which nothing on the host side reads.
"""
from __future__ import annotations

from typing import List, Sequence

from sustainml.board.sim.rtlsim import COMPUTE_KINDS, activity_counters

#: File of the monitor in the RTL project folder, and its module name.
ACT_FILE = "dnnu_act.v"
ACT_TOP = "dnnu_act"


def _operand_widths(s: object) -> tuple:
    """(xop bits, w1 bits) of a compute stage's MVU (see hls/rtl/sml_mvu.v: XL*IN_BITS, PE*CHUNK*W_BITS)."""
    kind, pe, simd, kp = s.kind, s.pe, s.simd, s.kp
    chunk = {"conv1d": simd * kp, "dwconv1d": kp}.get(kind, simd)
    xl = pe * chunk if kind == "dwconv1d" else chunk
    return xl * s.in_bits, pe * chunk * s.w_bits


def monitor_verilog(ports: Sequence[str], widths: Sequence[int], stages: Sequence[object]) -> str:
    """Text of ``dnnu_act.v``. ``ports``: the declarations of ``dnnu``'s ports; ``widths[k]``: tdata
    bits of stream k (k = 0: into stage 0, k = n: into the writer); ``stages``: the model's stages
    (``kind``, ``pe``, ``simd``, ``kp``, ``in_bits``, ``w_bits``; none for a pass-through)."""
    kinds = [s.kind for s in stages]
    names = activity_counters(kinds)
    n = len(stages)
    idx = {name: j for j, name in enumerate(names)}
    conns = ", ".join(f".{p.split()[-1]}({p.split()[-1]})" for p in ports)
    lines = ["// Simulation-only activity monitor of the DNNU (sustainml.host.rtlgen.activity); never synthesized.",
             "// Counts while the DNNU is busy; counter j of sml_act at [64*j +: 64]: " + ", ".join(names) + ".",
             "`default_nettype none",
             f"module {ACT_TOP} (", ",\n".join(f"    {p}" for p in ports)
             + f",\n    output wire [{64 * len(names) - 1}:0] sml_act", ");",
             f"    dnnu u_dut ({conns});",
             "    wire busy = u_dut.u_ctrl.busy;",
             "    reg [63:0] " + ", ".join(f"c{j}" for j in range(len(names))) + ";",
             "    assign sml_act = {" + ", ".join(f"c{j}" for j in reversed(range(len(names)))) + "};"]
    for k in range(n + 1):
        w = widths[k]
        st = f"u_dut.a{k}" if k < n else "u_dut.wr"
        b, t = idx[f"st{k}.beats"], idx[f"st{k}.toggles"]
        lines += [f"    reg [{w - 1}:0] last{k};",
                  f"    always @(posedge ap_clk) if (!ap_rst_n) begin last{k} <= {w}'d0; c{b} <= 0; c{t} <= 0; end",
                  f"        else if (busy && {st}_tvalid && {st}_tready) begin",
                  f"            c{b} <= c{b} + 64'd1;",
                  f"            c{t} <= c{t} + $countones({st}_tdata ^ last{k});",
                  f"            last{k} <= {st}_tdata;",
                  "        end"]
    for i, s in enumerate(stages):
        if s.kind not in COMPUTE_KINDS:
            continue
        m = f"u_dut.u_s{i}_{s.kind}.mvu"
        xw, ww = _operand_widths(s)
        r, st_, xt, wt = (idx[f"s{i}.{e}"] for e in ("rom_reads", "steps", "x_toggles", "w_toggles"))
        lines += [f"    reg [{xw - 1}:0] xq{i};", f"    reg [{ww - 1}:0] wq{i};",
                  f"    always @(posedge ap_clk) if (!ap_rst_n) begin xq{i} <= {xw}'d0; wq{i} <= {ww}'d0;",
                  f"            c{r} <= 0; c{st_} <= 0; c{xt} <= 0; c{wt} <= 0; end",
                  "        else if (busy) begin",
                  f"            if ({m}.en) c{r} <= c{r} + 64'd1;",
                  f"            if ({m}.step) c{st_} <= c{st_} + 64'd1;",
                  f"            c{xt} <= c{xt} + $countones({m}.xop ^ xq{i});",
                  f"            c{wt} <= c{wt} + $countones({m}.w1 ^ wq{i});",
                  f"            xq{i} <= {m}.xop;", f"            wq{i} <= {m}.w1;",
                  "        end"]
    lines += ["endmodule", "`default_nettype wire", ""]
    return "\n".join(lines)


def counter_names(stages: Sequence[object]) -> List[str]:
    """The counters of the monitor of a design with ``stages`` (see :func:`activity_counters`)."""
    return activity_counters([s.kind for s in stages])
