// sml_avgpool1d: stage kind avgpool1d (nas/quantized.py). AvgPool1D: y[t][c] = clip(round_half_even(sum_k
// x[t*STRIDE+k][c] * AVG_MULT / 2**16)).
// sml_swg -> sml_pool (AVG = 1). IN_CH/PE cycles per output beat; cycles per sample
// max(IN_LEN, OUT_LEN*IN_CH/PE).
// Streams, parameters (every Stage field; unused ones ignored) and ROM files: hls/rtl/README.md.
// Measured in Verilator (scripts/bench_rtl_modules.py, batch 8, steady state): L20 C4 K2 S2 PE4: F=1, 20 cycles/sample
// = IN_LEN (input-bound), first output after 5.
module sml_avgpool1d #(
    parameter IN_LEN = 8, parameter IN_CH = 1, parameter IN_BITS = 8, parameter IN_SIGNED = 1,
    parameter OUT_LEN = 8, parameter OUT_CH = 1, parameter OUT_BITS = 8, parameter OUT_SIGNED = 1,
    parameter KERNEL = 1, parameter STRIDE = 1, parameter PADDING = 0, parameter W_BITS = 8,
    parameter SHIFT = 0, parameter ACC_BITS = 32, parameter RELU = 0, parameter PE = 1, parameter SIMD = 1,
    parameter KP = 1, parameter AVG_MULT = 65536, parameter WEIGHTS_FILE = "", parameter BIAS_FILE = "",
    parameter ACC_SAT = 0
) (
    input  wire                       ap_clk,
    input  wire                       ap_rst_n,
    input  wire [IN_CH*IN_BITS-1:0]   s_axis_tdata,
    input  wire                       s_axis_tvalid,
    output wire                       s_axis_tready,
    output wire [OUT_CH*OUT_BITS-1:0] m_axis_tdata,
    output wire                       m_axis_tvalid,
    input  wire                       m_axis_tready
);
    localparam F    = IN_CH/PE;  // fold count: cycles per window
    localparam LP   = IN_LEN + 2*0;
    localparam TAIL = LP - ((LP - KERNEL)/STRIDE)*STRIDE;
    localparam LOOK = (F > STRIDE && TAIL > F) ? TAIL - F : 0;
    localparam WIN = KERNEL;
    wire [WIN*IN_CH*IN_BITS-1:0] win_tdata;
    wire                         win_tvalid, win_tready;
    sml_swg #(.IN_LEN(IN_LEN), .IN_CH(IN_CH), .IN_BITS(IN_BITS),
              .KERNEL(WIN), .STRIDE(STRIDE), .PADDING(0), .LOOKAHEAD(LOOK)) swg (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
        .m_axis_tdata(win_tdata), .m_axis_tvalid(win_tvalid), .m_axis_tready(win_tready));
    sml_pool #(.IN_CH(IN_CH), .IN_BITS(IN_BITS), .IN_SIGNED(IN_SIGNED), .KERNEL(KERNEL), .PE(PE), .AVG(1),
               .AVG_MULT(AVG_MULT)) pool (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s_axis_tdata(win_tdata), .s_axis_tvalid(win_tvalid), .s_axis_tready(win_tready),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready));
endmodule
