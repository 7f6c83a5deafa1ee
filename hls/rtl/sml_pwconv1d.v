// sml_pwconv1d: stage kind pwconv1d (nas/quantized.py). Pointwise (1x1) Conv1D: y[t][o] = requant(b[o] + sum_c x[t][c]
// * w[c][o]).
// sml_mvu on each input beat (N = IN_CH, CHUNK = SIMD); no window generator.
// Fold count F = (OUT_CH/PE) * (IN_CH/SIMD); cycles per sample IN_LEN*F.
// Streams, parameters (every Stage field; unused ones ignored) and ROM files: hls/rtl/README.md.
// Measured in Verilator (scripts/bench_rtl_modules.py, batch 8, steady state): L20 C4->4 PE2 SIMD2: F=4, 80
// cycles/sample = ideal, outputs 4 apart, first output after 6.
module sml_pwconv1d #(
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
    sml_mvu #(.N(IN_CH), .IN_BITS(IN_BITS), .IN_SIGNED(IN_SIGNED), .OUT_CH(OUT_CH), .OUT_BITS(OUT_BITS),
              .OUT_SIGNED(OUT_SIGNED), .PE(PE), .CHUNK(SIMD), .DEPTHWISE(0), .W_BITS(W_BITS),
              .ACC_BITS(ACC_BITS), .ACC_SAT(ACC_SAT),
              .SHIFT(SHIFT), .RELU(RELU), .WEIGHTS_FILE(WEIGHTS_FILE), .BIAS_FILE(BIAS_FILE)) mvu (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),
        .x_step(), .x_rdata({(SIMD)*IN_BITS{1'b0}}));
endmodule
