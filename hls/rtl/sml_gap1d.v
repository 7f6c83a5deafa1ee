// sml_gap1d: global average pooling over time (stage kind gap1d), streaming.
//
// Input: IN_LEN beats of IN_CH x IN_BITS per sample; output: one beat of IN_CH x IN_BITS per
// sample, y[c] = clip(round_half_even(sum_t x[t][c] * AVG_MULT / 2**16)) (nas/quantized.py).
// PE channels are summed per cycle: IN_CH/PE cycles per input beat (IN_LEN*IN_CH/PE per
// sample), back to back across samples; latency from the last input beat's last fold step to
// m_axis_tvalid: 3 cycles. Takes every Stage parameter (unused ones are ignored).
// Measured in Verilator (scripts/bench_rtl_modules.py, batch 8, steady state): L20 C4 PE2: 2 cycles per input beat, 40
// cycles/sample = ideal, output 42 cycles after
// the first input.
module sml_gap1d #(
    parameter IN_LEN = 8, parameter IN_CH = 1, parameter IN_BITS = 8, parameter IN_SIGNED = 1,
    parameter OUT_LEN = 1, parameter OUT_CH = 1, parameter OUT_BITS = 8, parameter OUT_SIGNED = 1,
    parameter KERNEL = 1, parameter STRIDE = 1, parameter PADDING = 0, parameter W_BITS = 0,
    parameter SHIFT = 0, parameter ACC_BITS = 32, parameter RELU = 0, parameter PE = 1, parameter SIMD = 1,
    parameter KP = 1, parameter AVG_MULT = 8192, parameter WEIGHTS_FILE = "", parameter BIAS_FILE = "",
    parameter ACC_SAT = 0
) (
    input  wire                     ap_clk,
    input  wire                     ap_rst_n,
    input  wire [IN_CH*IN_BITS-1:0] s_axis_tdata,
    input  wire                     s_axis_tvalid,
    output wire                     s_axis_tready,
    output wire [IN_CH*IN_BITS-1:0] m_axis_tdata,
    output wire                     m_axis_tvalid,
    input  wire                     m_axis_tready
);
    localparam NF  = IN_CH / PE;
    localparam NFW = (NF > 1) ? $clog2(NF) : 1;
    localparam TW  = (IN_LEN > 1) ? $clog2(IN_LEN) : 1;
    localparam SB  = IN_BITS + 1 + $clog2(IN_LEN + 1);
    localparam MB  = SB + 18;

    wire en;
    reg [NFW-1:0] nf;
    reg [TW-1:0]  t;
    wire last_nf = (nf == NF - 1);
    wire last_t  = (t == IN_LEN - 1);
    assign s_axis_tready = en && last_nf;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            nf <= 0;
            t  <= 0;
        end else if (en && s_axis_tvalid) begin
            nf <= last_nf ? 0 : nf + 1'b1;
            if (last_nf) t <= last_t ? 0 : t + 1'b1;
        end
    end

    // the PE values of fold nf: a table over nf wired at elaboration, a mux on nf (hls/rtl/README.md "Area")
    localparam PB = PE * IN_BITS;
    wire [PB-1:0] xopt [0:NF-1];
    genvar gq;
    generate
        for (gq = 0; gq < NF; gq = gq + 1) begin : g_x
            assign xopt[gq] = s_axis_tdata[gq*PB +: PB];
        end
    endgenerate
    wire [PB-1:0] xsel = (NF == 1) ? xopt[0] : xopt[nf];

    // S1: the PE values of this step
    reg                   v1, first1, lastt1, lastnf1;
    reg [NFW-1:0]         nf1;
    reg [PE*IN_BITS-1:0]  x1;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) v1 <= 1'b0;
        else if (en) v1 <= s_axis_tvalid;
    end
    always @(posedge ap_clk) begin
        if (en) begin
            first1  <= (t == 0);
            lastt1  <= last_t;
            lastnf1 <= last_nf;
            nf1     <= nf;
            x1      <= xsel;
        end
    end

    // S2: running sums per channel; the final sums of a sample go to the averaging stage
    reg [PE*SB-1:0]    tot2;
    reg                v2, lastnf2;
    reg [NFW-1:0]      nf2;
    reg [PE*SB-1:0]    tot;
    wire [PE*SB-1:0]   sopt [0:NF-1];  // the running sums of fold q, read by a mux on nf1
    generate
        for (gq = 0; gq < NF; gq = gq + 1) begin : g_s
            reg [PE*SB-1:0] sums;
            assign sopt[gq] = sums;
            always @(posedge ap_clk) if (en && v1 && nf1 == gq) sums <= tot;
        end
    endgenerate
    wire [PE*SB-1:0] sold = (NF == 1) ? sopt[0] : sopt[nf1];
    integer p;
    always @* begin
        for (p = 0; p < PE; p = p + 1)
            tot[p*SB +: SB] = (first1 ? {SB{1'b0}} : sold[p*SB +: SB]) +
                              (IN_SIGNED ? {{(SB - IN_BITS){x1[p*IN_BITS + IN_BITS - 1]}}, x1[p*IN_BITS +: IN_BITS]}
                                         : {{(SB - IN_BITS){1'b0}}, x1[p*IN_BITS +: IN_BITS]});
    end
    always @(posedge ap_clk) begin
        if (!ap_rst_n) v2 <= 1'b0;
        else if (en) v2 <= v1 && lastt1;
    end
    always @(posedge ap_clk) begin
        if (en) begin
            tot2    <= tot;
            lastnf2 <= lastnf1;
            nf2     <= nf1;
        end
    end

    wire [PE*IN_BITS-1:0] ys;
    genvar gp;
    generate
        for (gp = 0; gp < PE; gp = gp + 1) begin : g_lane
            wire signed [MB-1:0] scaled = $signed(tot2[gp*SB +: SB]) * $signed({1'b0, AVG_MULT[16:0]});
            sml_requant #(.ACC_BITS(MB), .SHIFT(16), .RELU(0), .OUT_BITS(IN_BITS), .OUT_SIGNED(IN_SIGNED)) rq (
                .acc(scaled), .y(ys[gp*IN_BITS +: IN_BITS]));
        end
    endgenerate

    sml_collect #(.OUT_CH(IN_CH), .OUT_BITS(IN_BITS), .PE(PE)) collect (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .en(en), .valid(v2), .last(lastnf2), .slot(nf2), .ys(ys),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready), .ready(en));
endmodule
