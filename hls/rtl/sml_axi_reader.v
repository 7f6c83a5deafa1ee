// sml_axi_reader: AXI4 read master that streams a batch of input samples from memory as beats.
//
// Memory holds `beats` time steps, each CH values in little-endian containers of EB bytes
// (row-major (batch, L, C), docs/CONTRACTS.md) from byte address `addr` (any alignment: the
// words are read from the aligned address below it and the bytes before `addr` are dropped).
// Reads INCR bursts of at most MAX_BURST beats of DW bits that never cross a 4 KB boundary, with
// several bursts in flight: a burst is requested only when the word FIFO has room for it and for
// every word still outstanding, so RREADY stays high and the memory's latency is hidden.
// Out: one beat per time step, value c (the low BITS bits of its container) in
// m_axis_tdata[c*BITS +: BITS]; exactly `beats` beats per call; bytes past the last one are dropped.
// `start` (one cycle) takes addr/beats; `idle` is high when all words were received and sent on.
module sml_axi_reader #(
    parameter DW = 64,
    parameter CH = 1,
    parameter BITS = 8,
    parameter EB = 1,              // container bytes per value
    parameter MAX_BURST = 16,
    parameter FIFO_DEPTH = 64      // words; >= 2 * MAX_BURST
) (
    input  wire              ap_clk,
    input  wire              ap_rst_n,
    input  wire              start,
    input  wire [63:0]       addr,
    input  wire [39:0]       beats,
    output wire              idle,
    // AXI4 read master
    output wire [63:0]       m_axi_ARADDR,
    output wire [7:0]        m_axi_ARLEN,
    output wire [2:0]        m_axi_ARSIZE,
    output wire [1:0]        m_axi_ARBURST,
    output wire [3:0]        m_axi_ARCACHE,
    output wire [2:0]        m_axi_ARPROT,
    output wire              m_axi_ARVALID,
    input  wire              m_axi_ARREADY,
    input  wire [DW-1:0]     m_axi_RDATA,
    input  wire [1:0]        m_axi_RRESP,
    input  wire              m_axi_RLAST,
    input  wire              m_axi_RVALID,
    output wire              m_axi_RREADY,
    // beats out
    output wire [CH*BITS-1:0] m_axis_tdata,
    output wire              m_axis_tvalid,
    input  wire              m_axis_tready
);
    localparam WB = DW / 8;                         // bytes per word
    localparam OB = CH * EB;                        // bytes per beat
    localparam BUFB = 2 * (OB > WB ? OB : WB) + WB; // gearbox bytes
    localparam CW = 16;                             // counter width of the gearbox / FIFO fill
    localparam AW = $clog2(FIFO_DEPTH);
    localparam SZ = $clog2(WB);

    // ---------------------------------------------------------------- request side
    reg [63:0] ar_addr;
    reg [39:0] ar_left;       // words still to request
    reg [39:0] beats_left;    // beats still to send
    reg [CW-1:0] credit;      // FIFO words neither occupied nor promised to an outstanding burst
    reg arvalid;
    reg [8:0] ar_len;         // beats of the burst being requested
    localparam W4K = 4096 / WB;
    wire [12:0] to_4k = W4K - ar_addr[11:SZ];       // words to the next 4 KB boundary
    wire [39:0] want = ar_left < MAX_BURST ? ar_left : MAX_BURST;
    wire [39:0] len_next = want < to_4k ? want : to_4k;
    assign m_axi_ARADDR = ar_addr;
    assign m_axi_ARLEN = ar_len[7:0] - 8'd1;
    assign m_axi_ARSIZE = SZ;
    assign m_axi_ARBURST = 2'b01;
    assign m_axi_ARCACHE = 4'b0011;
    assign m_axi_ARPROT = 3'b000;
    assign m_axi_ARVALID = arvalid;
    assign m_axi_RREADY = 1'b1;  // room is reserved before a burst is requested
    wire ar_fire = arvalid && m_axi_ARREADY;
    wire issue = !arvalid && ar_left != 0 && credit >= len_next;

    // ---------------------------------------------------------------- word FIFO
    reg [DW-1:0] mem [0:FIFO_DEPTH-1];
    reg [AW:0] wp, rp;
    wire [AW:0] fill = wp - rp;
    wire r_fire = m_axi_RVALID;
    wire f_empty = fill == 0;

    // ---------------------------------------------------------------- gearbox
    reg [8*BUFB-1:0] gbuf;
    reg [CW-1:0] cnt;
    assign m_axis_tvalid = cnt >= OB && beats_left != 0;
    wire out_fire = m_axis_tvalid && m_axis_tready;
    wire in_fire = !f_empty && cnt + WB <= BUFB;
    wire [CW-1:0] cnt1 = out_fire ? cnt - OB : cnt;
    wire [8*BUFB-1:0] shifted = out_fire ? gbuf >> (8 * OB) : gbuf;
    reg [SZ-1:0] skip;            // bytes to drop from the next word (the first one of an unaligned call)
    wire [8*BUFB-1:0] word_in = {{(8*BUFB-DW){1'b0}}, mem[rp[AW-1:0]]} >> (8 * skip);
    genvar c;
    generate
        for (c = 0; c < CH; c = c + 1) begin : g_ch
            assign m_axis_tdata[c*BITS +: BITS] = gbuf[8*EB*c +: BITS];
        end
    endgenerate

    assign idle = ar_left == 0 && !arvalid && beats_left == 0 && credit == FIFO_DEPTH;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            ar_addr <= 64'd0; ar_left <= 40'd0; beats_left <= 40'd0; credit <= FIFO_DEPTH; arvalid <= 1'b0;
            ar_len <= 9'd0; wp <= 0; rp <= 0; cnt <= 0; gbuf <= 0; skip <= 0;
        end else if (start) begin
            ar_addr <= {addr[63:SZ], {SZ{1'b0}}};
            ar_left <= (addr[SZ-1:0] + beats * OB + WB - 1) / WB;
            skip <= addr[SZ-1:0];
            beats_left <= beats;
            credit <= FIFO_DEPTH; arvalid <= 1'b0; wp <= 0; rp <= 0; cnt <= 0; gbuf <= 0;
        end else begin
            // requests
            if (ar_fire) begin
                arvalid <= 1'b0;
                ar_addr <= ar_addr + (ar_len << SZ);
            end
            if (issue) begin
                arvalid <= 1'b1;
                ar_len <= len_next[8:0];
                ar_left <= ar_left - len_next;
            end
            credit <= credit - (issue ? len_next[CW-1:0] : 0) + (in_fire ? 1 : 0);
            // data in
            if (r_fire) begin
                mem[wp[AW-1:0]] <= m_axi_RDATA;
                wp <= wp + 1;
            end
            // gearbox
            if (in_fire) begin
                rp <= rp + 1;
                gbuf <= shifted | (word_in << (8 * cnt1));
                cnt <= cnt1 + WB - skip;
                skip <= 0;
            end else begin
                gbuf <= shifted;
                cnt <= cnt1;
            end
            if (out_fire) begin
                beats_left <= beats_left - 1;
                if (beats_left == 1) begin cnt <= 0; end  // drop the padding after the last beat
            end
        end
    end
endmodule
