// sml_sbuf: sample buffer of a dense stage in an addressed memory (two banks, ping-pong), read
// one SIMD block per fold step by sml_mvu (XMEM = 1). Replaces sml_swg (KERNEL = IN_LEN) when the
// sample is long: the window generator holds the sample twice in flip-flops and the MVU muxes
// SIMD values out of all of them; here Yosys/Vivado map the buffer to distributed RAM or BRAM.
//
// Layout: a sample is N = IN_LEN*IN_CH values x[i], i = t*IN_CH + c (time-major, the golden
// flattening). A memory word holds WV = max(IN_CH, SIMD) consecutive values (value v of word w at
// [v*IN_BITS +: IN_BITS]); requires IN_CH % SIMD == 0 (a word is one beat, B = IN_CH/SIMD blocks
// of SIMD values) or SIMD % IN_CH == 0 (a word is R = SIMD/IN_CH beats, gathered in a small
// register before it is written; B = 1). WPS = N/WV words per sample, bank k at k*WPS.
//
// Write side: one beat per cycle into the bank being filled; a bank is full after its last word
// and is then read. s_axis_tready is low while the bank to fill is still full (it may rise in the
// cycle the reader releases it: m_tready, combinational, inside the stage module only).
// Read side (the MVU's fold steps): m_tvalid = the bank being read is full; each `step` (the
// MVU's S0 enable while valid) reads block rb of word rw (synchronous read, x_rdata valid in the
// MVU's S1), ascending, and starts over after the last block (the next neuron fold re-reads the
// sample); `m_tready` (the MVU takes the sample on its last step) releases the bank. The memory
// is read-first, so a write and the release of the same bank in one cycle never collide.
// Cycles per sample: max(IN_LEN, F), as with sml_swg; the first fold step of a sample comes one
// cycle after its last beat is written (sml_swg: two).
module sml_sbuf #(
    parameter IN_LEN  = 8,
    parameter IN_CH   = 1,
    parameter IN_BITS = 8,
    parameter SIMD    = 1
) (
    input  wire                    ap_clk,
    input  wire                    ap_rst_n,
    input  wire [IN_CH*IN_BITS-1:0] s_axis_tdata,
    input  wire                    s_axis_tvalid,
    output wire                    s_axis_tready,
    output wire                    m_tvalid,    // a whole sample is buffered
    input  wire                    m_tready,    // the MVU takes it (its last fold step)
    input  wire                    step,        // the MVU's S0 enable (a fold step when m_tvalid)
    output wire [SIMD*IN_BITS-1:0] x_rdata      // the step's SIMD values, one cycle after the step
);
    localparam BW  = IN_CH * IN_BITS;
    localparam WV  = (IN_CH > SIMD) ? IN_CH : SIMD;      // values per word
    localparam R   = WV / IN_CH;                          // beats per word
    localparam B   = WV / SIMD;                           // SIMD blocks per word
    localparam WPS = IN_LEN * IN_CH / WV;                 // words per sample
    localparam WW  = WV * IN_BITS;
    localparam XW  = SIMD * IN_BITS;
    localparam AW  = $clog2(2 * WPS);
    localparam PW  = (WPS > 1) ? $clog2(WPS) : 1;
    localparam RW  = (R > 1) ? $clog2(R) : 1;
    localparam BBW = (B > 1) ? $clog2(B) : 1;

    reg [WW-1:0] mem [0:2*WPS-1];
    reg [1:0]    full;
    reg          wbank, rbank;
    reg [PW-1:0] wword, rword;
    reg [RW-1:0] wbeat;
    reg [BBW-1:0] rblk, rblk_q;
    reg [WW-1:0] rdata_q;

    wire release_ = m_tvalid && m_tready;
    wire wfree    = !full[wbank] || (release_ && rbank == wbank);
    wire take     = s_axis_tvalid && wfree;
    wire wlast_b  = (wbeat == R - 1);
    wire wlast_w  = (wword == WPS - 1);
    wire rlast_b  = (rblk == B - 1);
    wire rlast_w  = (rword == WPS - 1);
    wire rstep    = step && m_tvalid;
    wire [AW-1:0] waddr = wbank ? wword + WPS : {1'b0, wword};
    wire [AW-1:0] raddr = rbank ? rword + WPS : {1'b0, rword};
    wire [WW-1:0] wdata;

    assign s_axis_tready = wfree;
    assign m_tvalid      = full[rbank];

    generate
        if (R == 1) begin : g_beat
            assign wdata = s_axis_tdata;
        end else begin : g_gather  // R-1 earlier beats of the word, oldest in the low bits
            reg [(R-1)*BW-1:0] gath;
            if (R == 2) begin : g_one
                always @(posedge ap_clk) if (take) gath <= s_axis_tdata;
            end else begin : g_shift
                always @(posedge ap_clk) if (take) gath <= {s_axis_tdata, gath[(R-1)*BW-1:BW]};
            end
            assign wdata = {s_axis_tdata, gath};
        end
    endgenerate

    always @(posedge ap_clk) begin
        if (take && wlast_b) mem[waddr] <= wdata;
        if (step) rdata_q <= mem[raddr];
    end
    always @(posedge ap_clk) if (step) rblk_q <= rblk;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            full  <= 2'b00;
            wbank <= 1'b0;
            rbank <= 1'b0;
            wword <= 0;
            wbeat <= 0;
            rword <= 0;
            rblk  <= 0;
        end else begin
            if (release_) begin
                full[rbank] <= 1'b0;
                rbank       <= ~rbank;
            end
            if (take) begin
                wbeat <= (wlast_b || R == 1) ? 0 : wbeat + 1'b1;
                if (wlast_b) wword <= (wlast_w || WPS == 1) ? 0 : wword + 1'b1;
                if (wlast_b && wlast_w) begin
                    full[wbank] <= 1'b1;
                    wbank       <= ~wbank;
                end
            end
            if (rstep) begin
                rblk <= (rlast_b || B == 1) ? 0 : rblk + 1'b1;
                if (rlast_b) rword <= (rlast_w || WPS == 1) ? 0 : rword + 1'b1;
            end
        end
    end

    generate
        if (B == 1) begin : g_word
            assign x_rdata = rdata_q;
        end else begin : g_block
            wire [XW-1:0] blk [0:B-1];
            genvar gb;
            for (gb = 0; gb < B; gb = gb + 1) begin : g_b
                assign blk[gb] = rdata_q[gb*XW +: XW];
            end
            assign x_rdata = blk[rblk_q];
        end
    endgenerate
endmodule
