// sml_swg: sliding-window generator. Beats of IN_CH x IN_BITS in (one time step each, IN_LEN per
// sample, samples back to back); one window per output position out: KERNEL beats of the
// zero-padded input, tap k = 0 the oldest (x[t*STRIDE + k - PADDING]), tap k in bits
// [k*IN_CH*IN_BITS +: IN_CH*IN_BITS] (so value i = k*IN_CH + c sits at [i*IN_BITS +: IN_BITS]).
//
// Write side: a shift register of KERNEL + LOOKAHEAD beats takes one padded position per cycle
// (a padding position shifts in a zero beat without reading the input; left padding waits for the
// sample's first beat to be offered). Read side: `lead` counts
// the positions written beyond the newest position of the next window; the window is ready when
// lead >= 0 and is copied into the output register, which keeps it until the consumer takes it
// (a folded consumer reads it in place during its fold steps and takes it on the last one).
// LOOKAHEAD lets the write side run ahead of a slower consumer, so the positions between the
// last window of a sample and the first of the next (the sample's tail, the padding and KERNEL
// new positions) are written while the consumer still works: no bubble between windows or
// samples. The stage modules set LOOKAHEAD = max(0, tail - F) for a consumer of F cycles per
// window (F > STRIDE), tail = IN_LEN + 2*PADDING - (OUT_LEN - 1)*STRIDE; 0 when F <= STRIDE.
// Cycles per sample: max(IN_LEN + 2*PADDING, OUT_LEN * F) (measured in Verilator,
// tests/test_rtl_modules.py::test_cycles_per_sample); latency 1 cycle (position -> window).
// m_axis_tready may depend combinationally on m_axis_tvalid/tdata (a folded consumer's last
// step); s_axis_tready depends combinationally on m_axis_tready (inside a stage module only).
module sml_swg #(
    parameter IN_LEN    = 8,
    parameter IN_CH     = 1,
    parameter IN_BITS   = 8,
    parameter KERNEL    = 3,
    parameter STRIDE    = 1,
    parameter PADDING   = 0,
    parameter LOOKAHEAD = 0
) (
    input  wire                            ap_clk,
    input  wire                            ap_rst_n,
    input  wire [IN_CH*IN_BITS-1:0]        s_axis_tdata,
    input  wire                            s_axis_tvalid,
    output wire                            s_axis_tready,
    output wire [KERNEL*IN_CH*IN_BITS-1:0] m_axis_tdata,
    output wire                            m_axis_tvalid,
    input  wire                            m_axis_tready
);
    localparam BW      = IN_CH * IN_BITS;
    localparam WW      = KERNEL * BW;
    localparam L       = KERNEL + LOOKAHEAD;             // beats held
    localparam LP      = IN_LEN + 2 * PADDING;           // padded positions per sample
    localparam OUT_LEN = (LP - KERNEL) / STRIDE + 1;
    localparam TAIL    = LP - (OUT_LEN - 1) * STRIDE;    // last window of a sample -> first of the next
    localparam PW      = $clog2(LP + 1);
    localparam OW      = $clog2(OUT_LEN + 1);
    localparam LW      = $clog2(LP + LOOKAHEAD + KERNEL + 1) + 2;  // signed lead

    reg [PW-1:0]        wpos;  // padded position written next
    reg [OW-1:0]        j;     // index of the next window in its sample
    reg signed [LW-1:0] lead;
    reg [L*BW-1:0]      buffer; // newest beat in the top bits
    reg [WW-1:0]        out_d;
    reg                 out_v;

    wire pad_left = ({1'b0, wpos} < PADDING);
    wire pad      = pad_left || ({1'b0, wpos} >= PADDING + IN_LEN);
    wire ready_w  = (lead >= 0);
    wire out_free = !out_v || m_axis_tready;
    wire emit     = ready_w && out_free;
    wire room     = (lead < LOOKAHEAD) || emit;
    // a left-padding position waits until the sample's first beat is offered (not taken), so no
    // window of a sample is emitted before that sample has begun to arrive
    wire write    = room && (s_axis_tvalid || (pad && !pad_left));
    wire last_j   = ({1'b0, j} == OUT_LEN - 1);
    wire [BW-1:0] beat = pad ? {BW{1'b0}} : s_axis_tdata;
    wire [WW-1:0] window;

    generate
        if (LOOKAHEAD == 0) begin : g_direct
            assign window = buffer;
        end else begin : g_select  // the window ending `lead` beats below the newest: a mux on lead
            wire [WW-1:0] opt [0:LOOKAHEAD];  // (lead < 0: no window is emitted, the value is unused)
            genvar gq;
            for (gq = 0; gq <= LOOKAHEAD; gq = gq + 1) begin : g_q
                assign opt[gq] = buffer[(LOOKAHEAD - gq)*BW +: WW];
            end
            assign window = opt[lead[LW-2:0]];
        end
    endgenerate

    assign s_axis_tready = room && !pad;
    assign m_axis_tvalid = out_v;
    assign m_axis_tdata  = out_d;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            wpos  <= 0;
            j     <= 0;
            lead  <= -KERNEL;
            out_v <= 1'b0;
        end else begin
            if (out_v && m_axis_tready) out_v <= 1'b0;
            if (emit) begin
                out_d <= window;
                out_v <= 1'b1;
                j     <= last_j ? 0 : j + 1'b1;
            end
            lead <= lead + (write ? 1 : 0) - (emit ? (last_j ? TAIL : STRIDE) : 0);
            if (write) wpos <= ({1'b0, wpos} == LP - 1) ? 0 : wpos + 1'b1;
        end
    end

    generate
        if (L == 1) begin : g_one
            always @(posedge ap_clk) if (write) buffer <= beat;
        end else begin : g_shift
            always @(posedge ap_clk) if (write) buffer <= {beat, buffer[L*BW-1:BW]};
        end
    endgenerate
endmodule
