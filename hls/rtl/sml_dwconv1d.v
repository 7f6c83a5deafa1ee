// sml_dwconv1d: stage kind dwconv1d (nas/quantized.py). Depthwise Conv1D: y[t][c] = requant(b[c] + sum_k
// x[t*STRIDE+k-PADDING][c] * w[k][c]).
// sml_swg -> sml_mvu (DEPTHWISE = 1, PE channels x KP taps per cycle).
// Fold count F = (IN_CH/PE) * (KERNEL/KP); cycles per sample max(IN_LEN + 2*PADDING, OUT_LEN*F).
// Streams, parameters (every Stage field; unused ones ignored) and ROM files: hls/rtl/README.md.
// Measured in Verilator (scripts/bench_rtl_modules.py, batch 8, steady state): L20 C4 K3 S2 P1 PE2: F=6, 60
// cycles/sample = ideal, outputs 6 apart, first
//   output after 12 cycles; K4 P2 PE4 KP4 (F=1): 24 = IN_LEN+2P.
module sml_dwconv1d #(
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
    localparam F    = (IN_CH/PE)*(KERNEL/KP);  // fold count: cycles per window
    localparam LP   = IN_LEN + 2*PADDING;
    localparam TAIL = LP - ((LP - KERNEL)/STRIDE)*STRIDE;
    localparam LOOK = (F > STRIDE && TAIL > F) ? TAIL - F : 0;
    localparam WIN = KERNEL;
    wire [WIN*IN_CH*IN_BITS-1:0] win_tdata;
    wire                         win_tvalid, win_tready;
    sml_swg #(.IN_LEN(IN_LEN), .IN_CH(IN_CH), .IN_BITS(IN_BITS),
              .KERNEL(WIN), .STRIDE(STRIDE), .PADDING(PADDING), .LOOKAHEAD(LOOK)) swg (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
        .m_axis_tdata(win_tdata), .m_axis_tvalid(win_tvalid), .m_axis_tready(win_tready));
    sml_mvu #(.N(KERNEL*IN_CH), .IN_BITS(IN_BITS), .IN_SIGNED(IN_SIGNED), .OUT_CH(OUT_CH), .OUT_BITS(OUT_BITS),
              .OUT_SIGNED(OUT_SIGNED), .PE(PE), .CHUNK(KP), .DEPTHWISE(1), .W_BITS(W_BITS),
              .ACC_BITS(ACC_BITS), .ACC_SAT(ACC_SAT),
              .SHIFT(SHIFT), .RELU(RELU), .WEIGHTS_FILE(WEIGHTS_FILE), .BIAS_FILE(BIAS_FILE)) mvu (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s_axis_tdata(win_tdata), .s_axis_tvalid(win_tvalid), .s_axis_tready(win_tready),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),
        .x_step(), .x_rdata({(KP)*IN_BITS{1'b0}}));
endmodule
