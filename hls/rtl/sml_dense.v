// sml_dense: stage kind dense (nas/quantized.py). Dense: y[o] = requant(b[o] + sum_i x[i] * w[i][o]) with i = t*IN_CH +
// c (time-major).
// The sample -> sml_mvu (N = IN_LEN*IN_CH, CHUNK = SIMD). The sample is held either in an addressed
// two-bank memory (sml_sbuf, read one SIMD block per fold step: distributed RAM or BRAM) when
// IN_LEN > 1 and SIMD divides IN_CH or IN_CH divides SIMD, or else in sml_swg's registers
// (KERNEL = IN_LEN: one window = the whole sample, muxed SIMD values per step). One output beat
// per sample; fold count F = (OUT_CH/PE) * (IN_LEN*IN_CH/SIMD); cycles per sample max(IN_LEN, F).
// Streams, parameters (every Stage field; unused ones ignored) and ROM files: hls/rtl/README.md.
// Measured in Verilator (scripts/bench_rtl_modules.py, batch 8, steady state): L6 C2->4 SIMD2: F=24, 24 cycles/sample =
// ideal, first output after 32 (IN_LEN + F + 2; 33 through sml_swg);
//   PE4 SIMD12 (F=1): 6 = IN_LEN cycles/sample.
module sml_dense #(
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
    localparam F    = (OUT_CH/PE)*(IN_LEN*IN_CH/SIMD);  // fold count: cycles per sample
    localparam N    = IN_LEN*IN_CH;
    // the sample in an addressed memory (sml_sbuf) when it is more than one beat and SIMD blocks
    // align with beats; else the window generator's registers (sml_swg, KERNEL = IN_LEN)
    localparam MEM  = (IN_LEN > 1) && (IN_CH % SIMD == 0 || SIMD % IN_CH == 0);
    localparam LOOK = (!MEM && F > 1 && IN_LEN > F) ? IN_LEN - F : 0;  // tail = IN_LEN (one window)
    wire [(MEM ? 1 : N*IN_BITS)-1:0] win_tdata;
    wire                             win_tvalid, win_tready, x_step;
    wire [SIMD*IN_BITS-1:0]          x_rdata;
    generate
        if (MEM) begin : g_mem
            sml_sbuf #(.IN_LEN(IN_LEN), .IN_CH(IN_CH), .IN_BITS(IN_BITS), .SIMD(SIMD)) sbuf (
                .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
                .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
                .m_tvalid(win_tvalid), .m_tready(win_tready), .step(x_step), .x_rdata(x_rdata));
            assign win_tdata = 1'b0;
        end else begin : g_swg
            sml_swg #(.IN_LEN(IN_LEN), .IN_CH(IN_CH), .IN_BITS(IN_BITS),
                      .KERNEL(IN_LEN), .STRIDE(1), .PADDING(0), .LOOKAHEAD(LOOK)) swg (
                .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
                .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
                .m_axis_tdata(win_tdata), .m_axis_tvalid(win_tvalid), .m_axis_tready(win_tready));
            assign x_rdata = {SIMD*IN_BITS{1'b0}};
        end
    endgenerate
    sml_mvu #(.N(N), .IN_BITS(IN_BITS), .IN_SIGNED(IN_SIGNED), .OUT_CH(OUT_CH), .OUT_BITS(OUT_BITS),
              .OUT_SIGNED(OUT_SIGNED), .PE(PE), .CHUNK(SIMD), .DEPTHWISE(0), .W_BITS(W_BITS),
              .ACC_BITS(ACC_BITS), .ACC_SAT(ACC_SAT), .XMEM(MEM),
              .SHIFT(SHIFT), .RELU(RELU), .WEIGHTS_FILE(WEIGHTS_FILE), .BIAS_FILE(BIAS_FILE)) mvu (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s_axis_tdata(win_tdata), .s_axis_tvalid(win_tvalid), .s_axis_tready(win_tready),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),
        .x_step(x_step), .x_rdata(x_rdata));
endmodule
