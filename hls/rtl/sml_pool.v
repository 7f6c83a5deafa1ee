// sml_pool: folded max or average over a window (maxpool1d, avgpool1d).
//
// Input: one window of KERNEL x IN_CH values per output beat (from sml_swg; value k*IN_CH + c
// at [(k*IN_CH + c)*IN_BITS +: IN_BITS]). Output: IN_CH values of IN_BITS (pooling keeps the
// width and signedness). AVG = 0: y[c] = max_k x[k][c]; AVG = 1: y[c] = clip(round_half_even(
// sum_k x[k][c] * AVG_MULT / 2**16)) (nas/quantized.py). PE channels per cycle: IN_CH/PE cycles
// per output beat, back to back; latency from the first fold step to m_axis_tvalid: IN_CH/PE + 1.
module sml_pool #(
    parameter IN_CH     = 1,
    parameter IN_BITS   = 8,
    parameter IN_SIGNED = 1,
    parameter KERNEL    = 2,
    parameter PE        = 1,
    parameter AVG       = 0,
    parameter AVG_MULT  = 32768
) (
    input  wire                            ap_clk,
    input  wire                            ap_rst_n,
    input  wire [KERNEL*IN_CH*IN_BITS-1:0] s_axis_tdata,
    input  wire                            s_axis_tvalid,
    output wire                            s_axis_tready,
    output wire [IN_CH*IN_BITS-1:0]        m_axis_tdata,
    output wire                            m_axis_tvalid,
    input  wire                            m_axis_tready
);
    localparam NF  = IN_CH / PE;
    localparam NFW = (NF > 1) ? $clog2(NF) : 1;
    localparam SB  = IN_BITS + 1 + $clog2(KERNEL + 1);  // window sum
    localparam MB  = SB + 18;                          // sum * AVG_MULT (AVG_MULT <= 2**16)

    wire en;
    reg [NFW-1:0] nf;
    wire last_nf = (nf == NF - 1);
    assign s_axis_tready = en && last_nf;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) nf <= 0;
        else if (en && s_axis_tvalid) nf <= last_nf ? 0 : nf + 1'b1;
    end

    // lane p, tap k at [(p*KERNEL + k)*IN_BITS] = x[k][nf*PE + p]: per lane a table over nf wired
    // at elaboration and a mux on nf (no index arithmetic: hls/rtl/README.md "Area")
    wire [PE*KERNEL*IN_BITS-1:0] xsel;
    genvar gl, gq;
    generate
        for (gl = 0; gl < PE*KERNEL; gl = gl + 1) begin : g_x
            wire [IN_BITS-1:0] opt [0:NF-1];
            for (gq = 0; gq < NF; gq = gq + 1) begin : g_q
                assign opt[gq] = s_axis_tdata[((gl % KERNEL)*IN_CH + gq*PE + gl / KERNEL)*IN_BITS +: IN_BITS];
            end
            assign xsel[gl*IN_BITS +: IN_BITS] = (NF == 1) ? opt[0] : opt[nf];
        end
    endgenerate

    reg                         v1, lastnf1;
    reg [NFW-1:0]               nf1;
    reg [PE*KERNEL*IN_BITS-1:0] x1;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) v1 <= 1'b0;
        else if (en) v1 <= s_axis_tvalid;
    end
    always @(posedge ap_clk) begin
        if (en) begin
            lastnf1 <= last_nf;
            nf1     <= nf;
            x1      <= xsel;
        end
    end

    wire [PE*IN_BITS-1:0] ys;
    genvar gp;
    generate
        for (gp = 0; gp < PE; gp = gp + 1) begin : g_lane
            reg signed [IN_BITS:0] v, best;
            reg signed [SB-1:0]    sum;
            integer t;
            always @* begin
                best = 0;
                sum  = 0;
                for (t = 0; t < KERNEL; t = t + 1) begin
                    v = IN_SIGNED ? $signed({x1[(gp*KERNEL + t)*IN_BITS + IN_BITS - 1],
                                             x1[(gp*KERNEL + t)*IN_BITS +: IN_BITS]})
                                  : $signed({1'b0, x1[(gp*KERNEL + t)*IN_BITS +: IN_BITS]});
                    if (t == 0 || v > best) best = v;
                    sum = sum + v;
                end
            end
            if (AVG) begin : g_avg
                wire signed [MB-1:0] scaled = sum * $signed({1'b0, AVG_MULT[16:0]});
                sml_requant #(.ACC_BITS(MB), .SHIFT(16), .RELU(0), .OUT_BITS(IN_BITS), .OUT_SIGNED(IN_SIGNED)) rq (
                    .acc(scaled), .y(ys[gp*IN_BITS +: IN_BITS]));
            end else begin : g_max
                assign ys[gp*IN_BITS +: IN_BITS] = best[IN_BITS-1:0];
            end
        end
    endgenerate

    sml_collect #(.OUT_CH(IN_CH), .OUT_BITS(IN_BITS), .PE(PE)) collect (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .en(en), .valid(v1), .last(lastnf1), .slot(nf1), .ys(ys),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready), .ready(en));
endmodule
