// sml_axi_writer: AXI4 write master that stores the output beats of a batch in memory.
//
// In: `beats` beats of CH values (value c in s_axis_tdata[c*BITS +: BITS], SIGNED says how to
// widen it); each value is stored in a little-endian container of EB bytes, beats back to back
// (row-major (batch, CLASSES), docs/CONTRACTS.md) from byte address `addr` (any alignment: the
// first word's strobes leave the bytes before `addr` untouched).
// Words gather in a FIFO; an INCR burst (at most MAX_BURST beats, never across a 4 KB boundary) is
// requested once all its words are in the FIFO, so WVALID never waits on the pipeline mid-burst;
// the last word carries a partial WSTRB. `done` pulses once every burst's write response arrived.
module sml_axi_writer #(
    parameter DW = 64,
    parameter CH = 5,
    parameter BITS = 16,
    parameter SIGNED = 1,
    parameter EB = 2,
    parameter MAX_BURST = 16,
    parameter FIFO_DEPTH = 32      // words; >= MAX_BURST
) (
    input  wire              ap_clk,
    input  wire              ap_rst_n,
    input  wire              start,
    input  wire [63:0]       addr,
    input  wire [39:0]       beats,
    output reg               done,
    // beats in
    input  wire [CH*BITS-1:0] s_axis_tdata,
    input  wire              s_axis_tvalid,
    output wire              s_axis_tready,
    // AXI4 write master
    output wire [63:0]       m_axi_AWADDR,
    output wire [7:0]        m_axi_AWLEN,
    output wire [2:0]        m_axi_AWSIZE,
    output wire [1:0]        m_axi_AWBURST,
    output wire [3:0]        m_axi_AWCACHE,
    output wire [2:0]        m_axi_AWPROT,
    output wire              m_axi_AWVALID,
    input  wire              m_axi_AWREADY,
    output wire [DW-1:0]     m_axi_WDATA,
    output wire [DW/8-1:0]   m_axi_WSTRB,
    output wire              m_axi_WLAST,
    output wire              m_axi_WVALID,
    input  wire              m_axi_WREADY,
    input  wire [1:0]        m_axi_BRESP,
    input  wire              m_axi_BVALID,
    output wire              m_axi_BREADY
);
    localparam WB = DW / 8;
    localparam IB = CH * EB;                        // bytes per beat
    localparam BUFB = 2 * (IB > WB ? IB : WB) + WB;
    localparam CW = 16;
    localparam AW = $clog2(FIFO_DEPTH);
    localparam SZ = $clog2(WB);
    localparam W4K = 4096 / WB;

    // ---------------------------------------------------------------- beat -> container bytes
    wire [8*IB-1:0] packed_beat;
    genvar c;
    generate
        for (c = 0; c < CH; c = c + 1) begin : g_ch
            wire [BITS-1:0] v = s_axis_tdata[c*BITS +: BITS];
            if (8 * EB > BITS) begin : g_ext
                assign packed_beat[8*EB*c +: 8*EB] = {{(8*EB-BITS){SIGNED ? v[BITS-1] : 1'b0}}, v};
            end else begin : g_same
                assign packed_beat[8*EB*c +: 8*EB] = v;
            end
        end
    endgenerate

    // ---------------------------------------------------------------- gearbox -> word FIFO
    reg [39:0] beats_left;
    reg [39:0] words_left_in;     // words still to push into the FIFO
    reg [8*BUFB-1:0] gbuf;
    reg [CW-1:0] cnt;
    reg [DW-1:0] fdata [0:FIFO_DEPTH-1];
    reg [WB-1:0] fstrb [0:FIFO_DEPTH-1];
    reg [AW:0] wp, rp;
    wire [AW:0] fill = wp - rp;
    wire f_full = fill == FIFO_DEPTH;
    wire last_word = beats_left == 0 && words_left_in == 1;
    wire push = !f_full && words_left_in != 0 && (cnt >= WB || (last_word && cnt != 0));
    assign s_axis_tready = beats_left != 0 && cnt + IB <= BUFB;
    wire in_fire = s_axis_tvalid && s_axis_tready;
    wire [CW-1:0] cnt1 = push ? (cnt >= WB ? cnt - WB : 0) : cnt;
    wire [8*BUFB-1:0] shifted = push ? gbuf >> DW : gbuf;
    reg [WB-1:0] lead;            // strobes of the first word (bytes from `addr` on)
    wire [WB-1:0] strb = (cnt >= WB ? {WB{1'b1}} : ~({WB{1'b1}} << cnt)) & lead;

    // ---------------------------------------------------------------- bursts
    reg [63:0] aw_addr;
    reg [39:0] aw_left;            // words not yet covered by a requested burst
    reg awvalid, wactive;
    reg [8:0] aw_len, w_left;
    reg [39:0] b_pending;          // bursts requested whose response has not arrived
    reg running;
    wire [12:0] to_4k = W4K - aw_addr[11:SZ];
    wire [39:0] want = aw_left < MAX_BURST ? aw_left : MAX_BURST;
    wire [39:0] len_next = want < to_4k ? want : to_4k;
    wire issue = running && !awvalid && !wactive && aw_left != 0 && fill >= len_next;
    assign m_axi_AWADDR = aw_addr;
    assign m_axi_AWLEN = aw_len[7:0] - 8'd1;
    assign m_axi_AWSIZE = SZ;
    assign m_axi_AWBURST = 2'b01;
    assign m_axi_AWCACHE = 4'b0011;
    assign m_axi_AWPROT = 3'b000;
    assign m_axi_AWVALID = awvalid;
    assign m_axi_WDATA = fdata[rp[AW-1:0]];
    assign m_axi_WSTRB = fstrb[rp[AW-1:0]];
    assign m_axi_WVALID = wactive;     // the whole burst is in the FIFO
    assign m_axi_WLAST = w_left == 1;
    assign m_axi_BREADY = 1'b1;
    wire w_fire = wactive && m_axi_WREADY;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            beats_left <= 0; words_left_in <= 0; gbuf <= 0; cnt <= 0; wp <= 0; rp <= 0;
            aw_addr <= 0; aw_left <= 0; awvalid <= 1'b0; wactive <= 1'b0; aw_len <= 0; w_left <= 0;
            b_pending <= 0; running <= 1'b0; done <= 1'b0; lead <= {WB{1'b1}};
        end else if (start) begin
            beats_left <= beats;
            words_left_in <= (addr[SZ-1:0] + beats * IB + WB - 1) / WB;
            aw_left <= (addr[SZ-1:0] + beats * IB + WB - 1) / WB;
            aw_addr <= {addr[63:SZ], {SZ{1'b0}}};
            lead <= {WB{1'b1}} << addr[SZ-1:0];
            gbuf <= 0; cnt <= addr[SZ-1:0]; wp <= 0; rp <= 0; awvalid <= 1'b0; wactive <= 1'b0; b_pending <= 0;
            running <= 1'b1; done <= 1'b0;
        end else begin
            done <= 1'b0;
            // gearbox
            if (in_fire) begin
                gbuf <= shifted | ({{(8*BUFB-8*IB){1'b0}}, packed_beat} << (8 * cnt1));
                cnt <= cnt1 + IB;
                beats_left <= beats_left - 1;
            end else begin
                gbuf <= shifted;
                cnt <= cnt1;
            end
            if (push) begin
                fdata[wp[AW-1:0]] <= gbuf[DW-1:0];
                fstrb[wp[AW-1:0]] <= strb;
                lead <= {WB{1'b1}};
                wp <= wp + 1;
                words_left_in <= words_left_in - 1;
            end
            // address / data / response
            if (issue) begin
                awvalid <= 1'b1;
                aw_len <= len_next[8:0];
                w_left <= len_next[8:0];
                aw_left <= aw_left - len_next;
            end
            if (awvalid && m_axi_AWREADY) begin
                awvalid <= 1'b0;
                wactive <= 1'b1;
                aw_addr <= aw_addr + (aw_len << SZ);
            end
            if (w_fire) begin
                rp <= rp + 1;
                w_left <= w_left - 1;
                if (w_left == 1) wactive <= 1'b0;
            end
            b_pending <= b_pending + (issue ? 1 : 0) - (m_axi_BVALID ? 1 : 0);
            if (running && aw_left == 0 && !awvalid && !wactive && !issue && b_pending == (m_axi_BVALID ? 1 : 0)) begin
                running <= 1'b0;
                done <= 1'b1;
            end
        end
    end
endmodule
