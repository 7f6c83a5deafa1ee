// sml_mvu: folded matrix-vector unit with bias, wrapping or saturating accumulation and requantization.
//
// Input: one vector of N values (IN_BITS each, value i in [i*IN_BITS +: IN_BITS]) per output
// beat, e.g. a window from sml_swg. Output: one beat of OUT_CH x OUT_BITS.
// DEPTHWISE = 0 (conv1d, pwconv1d, dense): y[o] = b[o] + sum_i x[i] * w[i][o], o < OUT_CH. The
//   vector is TAPS taps of CH = N/TAPS channels, tap-major (i = k*CH + c); each cycle PE outputs x
//   CHUNK inputs, CHUNK = SIMD*KP (SIMD channels x KP taps): NF = OUT_CH/PE neuron folds (outer),
//   then CF = CH/SIMD channel blocks, then KF = TAPS/KP tap blocks (innermost): fold step
//   sf = cf*KF + kf takes x[(kf*KP + kk)*CH + cf*SIMD + ss], lane j = kk*SIMD + ss. This is the
//   fold order of the accumulator contract (nas/quantized.py: conv1d channel blocks outer, taps
//   inner; pwconv1d/dense TAPS = KP = 1: channel blocks ascending).
// DEPTHWISE = 1 (dwconv1d, N = KERNEL*OUT_CH, CHUNK = KP): y[c] = b[c] + sum_k x[k*OUT_CH + c] *
//   w[k][c]; each cycle PE channels x KP taps; NF = OUT_CH/PE, SF = KF = KERNEL/KP (CF = 1).
// Accumulators are ACC_BITS wide. ACC_SAT = 0: they wrap (two's complement), so the fold order
// never changes the result. ACC_SAT = 1: after every fold step acc = clip(acc + p, -2**(ACC_BITS-1),
// 2**(ACC_BITS-1) - 1), p the exact sum of the step's CHUNK products (the bias ROM holds the
// saturated bias, the accumulator's start), as nas/quantized.py "Accumulator overflow" says.
// Then sml_requant (SHIFT, RELU, OUT_BITS, OUT_SIGNED).
//
// ROMs ($readmemh, one word per fold step, hls/rtl/README.md): WEIGHTS_FILE has NF*SF words of
// PE*CHUNK*W_BITS bits, word nf*SF + sf, lane (p, j) at [(p*CHUNK + j)*W_BITS +: W_BITS];
// BIAS_FILE has NF words of PE*ACC_BITS bits, b[nf*PE + p] at [p*ACC_BITS +: ACC_BITS].
//
// Pipeline (one enable = the output skid's registered ready): S0 fold counters read the input
// vector in place (it is held by the producer until the last fold step takes it) and address
// the ROMs (synchronous read); S1 holds operands and weights; S2 the accumulators; requant is
// combinational into the output skid. Cycles: NF*SF per output beat, back to back (no bubble
// between vectors or samples); latency from the first fold step to m_axis_tvalid: NF*SF + 2.
// XMEM = 1 (sml_dense with sml_sbuf): the vector is not on s_axis_tdata but in the buffer's
// memory; s_axis_tvalid/tready hand over a buffered sample, the buffer reads the step's CHUNK
// values on x_step (= the S0 enable) and registers them (x_rdata, the S1 operands).
// Operands are picked through tables wired at elaboration and a mux on the step counter, never
// by arithmetic on fold counters inside a part-select (hls/rtl/README.md "Area").
module sml_mvu #(
    parameter N            = 4,
    parameter IN_BITS      = 8,
    parameter IN_SIGNED    = 1,
    parameter OUT_CH       = 4,
    parameter OUT_BITS     = 8,
    parameter OUT_SIGNED   = 1,
    parameter PE           = 1,
    parameter CHUNK        = 1,
    parameter DEPTHWISE    = 0,
    parameter TAPS         = 1,   // DEPTHWISE = 0: taps in the vector (conv1d KERNEL)
    parameter KP           = 1,   // DEPTHWISE = 0: taps per fold step (CHUNK = SIMD*KP)
    parameter W_BITS       = 8,
    parameter ACC_BITS     = 32,
    parameter ACC_SAT      = 0,   // 1: saturate after every fold step; 0: wrap
    parameter XMEM         = 0,   // 1: operands from a sample buffer's read port (x_rdata), not s_axis_tdata
    parameter SHIFT        = 0,
    parameter RELU         = 0,
    parameter WEIGHTS_FILE = "",
    parameter BIAS_FILE    = ""
) (
    input  wire                       ap_clk,
    input  wire                       ap_rst_n,
    input  wire [(XMEM ? 1 : N*IN_BITS)-1:0] s_axis_tdata,
    input  wire                       s_axis_tvalid,
    output wire                       s_axis_tready,
    output wire [OUT_CH*OUT_BITS-1:0] m_axis_tdata,
    output wire                       m_axis_tvalid,
    input  wire                       m_axis_tready,
    // XMEM = 1 (dense with sml_sbuf): s_axis_tvalid/tready hand over a buffered sample (tdata is
    // unused); x_step = the S0 enable (a fold step when s_axis_tvalid), x_rdata = that step's
    // CHUNK values, registered by the buffer (valid in S1)
    output wire                       x_step,
    input  wire [CHUNK*IN_BITS-1:0]   x_rdata
);
    localparam NF    = OUT_CH / PE;
    localparam SIMD  = DEPTHWISE ? 1 : CHUNK / KP;              // channels per fold step
    localparam CH    = DEPTHWISE ? OUT_CH : N / TAPS;           // channels per tap
    localparam KF    = DEPTHWISE ? N / (OUT_CH * CHUNK) : TAPS / KP;  // tap blocks (inner)
    localparam CF    = DEPTHWISE ? 1 : CH / SIMD;               // channel blocks (outer)
    localparam SF    = CF * KF;
    localparam STEPS = NF * SF;
    localparam NFW   = (NF > 1) ? $clog2(NF) : 1;
    localparam SFW   = (SF > 1) ? $clog2(SF) : 1;
    localparam AW    = (STEPS > 1) ? $clog2(STEPS) : 1;
    localparam XL    = DEPTHWISE ? PE * CHUNK : CHUNK;        // operand values per step
    localparam PB    = IN_BITS + 1 + W_BITS;                   // exact product width
    localparam PS    = PB + ((CHUNK > 1) ? $clog2(CHUNK) : 0); // exact width of a step's sum
    localparam SW    = ((ACC_BITS > PS) ? ACC_BITS : PS) + 1;  // exact width of acc + step sum
    localparam DW    = ACC_SAT ? SW : ACC_BITS;                // step sum: exact, or wrapped
    localparam XW    = (DW > PB) ? DW : PB;
    localparam WWORD = PE * CHUNK * W_BITS;
    localparam BWORD = PE * ACC_BITS;
    localparam OB    = PE * OUT_BITS;

    reg [WWORD-1:0] wrom [0:STEPS-1];
    reg [BWORD-1:0] brom [0:NF-1];
    generate
        if (WEIGHTS_FILE != "") begin : g_rom  // "" only in a tool's parameterless elaboration
            initial begin
                $readmemh(WEIGHTS_FILE, wrom);
                $readmemh(BIAS_FILE, brom);
            end
        end
    endgenerate

    wire en;  // pipeline enable: the output skid has room

    // ---- S0: fold counters over the held input vector. `sf` counts the input blocks of a neuron
    // fold (cf*KF + kf: tap blocks inner, channel blocks outer), `addr` the fold steps (nf*SF + sf).
    reg [NFW-1:0] nf;
    reg [SFW-1:0] sf;
    reg [AW-1:0]  addr;
    wire last_sf = (sf == SF - 1);
    wire last_nf = (nf == NF - 1);
    wire step    = en && s_axis_tvalid;
    assign s_axis_tready = en && last_sf && last_nf;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            nf   <= 0;
            sf   <= 0;
            addr <= 0;
        end else if (step) begin
            sf   <= (last_sf || SF == 1) ? 0 : sf + 1'b1;
            addr <= (last_sf && last_nf) ? 0 : addr + 1'b1;
            if (last_sf) nf <= (last_nf || NF == 1) ? 0 : nf + 1'b1;
        end
    end

    // operands of this step. Each lane has a table of the window values it takes, one per fold
    // step, wired at elaboration (constant indices), and a mux on the step counter picks one:
    // NSEL = 1 (one fold step) is plain wiring. (Indexing the window with fold counters in the
    // part-select, x[((kf*KP + i)*CH + cf*SIMD + j)*IN_BITS +: IN_BITS], made Yosys build 32-bit
    // index multipliers, mapped to DSP48s, and a barrel shifter over the whole window per lane,
    // even when the counters are constant: hls/rtl/README.md "Area".)
    // DEPTHWISE: lane (p, j) of step (nf, kf) takes (kf*KP + j)*OUT_CH + nf*PE + p, table index
    // nf*KF + kf = addr. Else lane (kk, ss) of block (cf, kf) takes (kf*KP + kk)*CH + cf*SIMD + ss,
    // table index cf*KF + kf = sf (the same for every neuron fold).
    localparam NSEL = DEPTHWISE ? STEPS : SF;
    wire [XL*IN_BITS-1:0] xsel;
    wire [AW-1:0] sel = DEPTHWISE ? addr : sf;
    assign x_step = en;
    genvar gl, gq;
    generate
        if (XMEM) begin : g_xmem
            assign xsel = {XL*IN_BITS{1'b0}};
        end
        for (gl = 0; gl < (XMEM ? 0 : XL); gl = gl + 1) begin : g_x
            wire [NSEL*IN_BITS-1:0] opts;
            for (gq = 0; gq < NSEL; gq = gq + 1) begin : g_q
                localparam integer KB  = gq % KF;   // tap block
                localparam integer FB = gq / KF;   // neuron fold (DEPTHWISE) or channel block
                localparam integer IDX = DEPTHWISE
                    ? (KB*CHUNK + gl % CHUNK)*OUT_CH + FB*PE + gl / CHUNK
                    : (KB*KP + gl / SIMD)*CH + FB*SIMD + gl % SIMD;
                assign opts[gq*IN_BITS +: IN_BITS] = s_axis_tdata[IDX*IN_BITS +: IN_BITS];
            end
            if (NSEL == 1) begin : g_wire
                assign xsel[gl*IN_BITS +: IN_BITS] = opts;
            end else begin : g_mux
                wire [IN_BITS-1:0] opt [0:NSEL-1];
                for (gq = 0; gq < NSEL; gq = gq + 1) begin : g_o
                    assign opt[gq] = opts[gq*IN_BITS +: IN_BITS];
                end
                assign xsel[gl*IN_BITS +: IN_BITS] = opt[sel];
            end
        end
    endgenerate

    // ---- S1: operands, weights, bias (synchronous ROM reads)
    reg               v1, first1, last1, lastnf1;
    reg [NFW-1:0]     nf1;
    reg [XL*IN_BITS-1:0] x1;
    reg [WWORD-1:0]   w1;
    reg [BWORD-1:0]   b1;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) v1 <= 1'b0;
        else if (en) v1 <= s_axis_tvalid;
    end
    always @(posedge ap_clk) begin
        if (en) begin
            first1  <= (sf == 0);
            last1   <= last_sf;
            lastnf1 <= last_nf;
            nf1     <= nf;
        end
    end
    always @(posedge ap_clk) if (en) x1 <= xsel;  // (XMEM: unused, the buffer registers x_rdata)
    wire [XL*IN_BITS-1:0] xop = XMEM ? x_rdata : x1;
    always @(posedge ap_clk) if (en) w1 <= wrom[addr];
    always @(posedge ap_clk) if (en) b1 <= brom[nf];

    // ---- S2: accumulate PE dot products of CHUNK products each
    reg           v2, lastnf2;
    reg [NFW-1:0] nf2;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) v2 <= 1'b0;
        else if (en) v2 <= v1 && last1;
    end
    always @(posedge ap_clk) begin
        if (en) begin
            lastnf2 <= lastnf1;
            nf2     <= nf1;
        end
    end

    wire [OB-1:0] ys;
    genvar gp;
    generate
        for (gp = 0; gp < PE; gp = gp + 1) begin : g_lane
            reg [ACC_BITS-1:0] acc;
            reg [DW-1:0]       dot;
            reg signed [IN_BITS:0]   xv;
            reg signed [W_BITS-1:0]  wv;
            reg signed [PB-1:0]      pr;
            reg signed [XW-1:0]      prx;
            integer k;
            always @* begin
                dot = {DW{1'b0}};
                for (k = 0; k < CHUNK; k = k + 1) begin
                    xv  = IN_SIGNED ? $signed({xop[(DEPTHWISE*gp*CHUNK + k)*IN_BITS + IN_BITS - 1],
                                               xop[(DEPTHWISE*gp*CHUNK + k)*IN_BITS +: IN_BITS]})
                                    : $signed({1'b0, xop[(DEPTHWISE*gp*CHUNK + k)*IN_BITS +: IN_BITS]});
                    wv  = w1[(gp*CHUNK + k)*W_BITS +: W_BITS];
                    pr  = xv * wv;
                    prx = pr;
                    dot = dot + prx[DW-1:0];
                end
            end
            wire [ACC_BITS-1:0] start = first1 ? b1[gp*ACC_BITS +: ACC_BITS] : acc;
            if (ACC_SAT) begin : g_sat
                // exact start + step sum in SW bits; out of the ACC_BITS range -> the rail of its sign
                wire [SW-1:0] sum = {{(SW - ACC_BITS){start[ACC_BITS-1]}}, start} + dot;
                wire          ovf = (sum[SW-1:ACC_BITS-1] != {(SW - ACC_BITS + 1){sum[SW-1]}});
                always @(posedge ap_clk)
                    if (en && v1) acc <= ovf ? {sum[SW-1], {(ACC_BITS - 1){~sum[SW-1]}}} : sum[ACC_BITS-1:0];
            end else begin : g_wrap
                always @(posedge ap_clk)
                    if (en && v1) acc <= start + dot;
            end
            sml_requant #(.ACC_BITS(ACC_BITS), .SHIFT(SHIFT), .RELU(RELU), .OUT_BITS(OUT_BITS),
                          .OUT_SIGNED(OUT_SIGNED)) rq (.acc(acc), .y(ys[gp*OUT_BITS +: OUT_BITS]));
        end
    endgenerate

    sml_collect #(.OUT_CH(OUT_CH), .OUT_BITS(OUT_BITS), .PE(PE)) collect (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n), .en(en), .valid(v2), .last(lastnf2), .slot(nf2), .ys(ys),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready), .ready(en));
endmodule
