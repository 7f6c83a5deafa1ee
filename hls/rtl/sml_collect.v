// sml_collect: gathers the PE results of each neuron/channel fold into one output beat and hands
// the beat to an output skid buffer (sml_skid).
//
// When `valid`, the PE values `ys` belong to fold `slot` (channels slot*PE .. slot*PE+PE-1);
// `last` marks the final fold of the beat, which is pushed (with `ys` merged in, no extra cycle)
// into the skid. `ready` is the skid's registered ready: the enable of the producing pipeline
// (nothing is taken while it is low, and the producer holds valid/slot/ys).
module sml_collect #(
    parameter OUT_CH   = 4,
    parameter OUT_BITS = 8,
    parameter PE       = 1
) (
    input  wire                       ap_clk,
    input  wire                       ap_rst_n,
    input  wire                       en,
    input  wire                       valid,
    input  wire                       last,
    input  wire [((OUT_CH / PE > 1) ? $clog2(OUT_CH / PE) : 1)-1:0] slot,
    input  wire [PE*OUT_BITS-1:0]     ys,
    output wire [OUT_CH*OUT_BITS-1:0] m_axis_tdata,
    output wire                       m_axis_tvalid,
    input  wire                       m_axis_tready,
    output wire                       ready
);
    localparam OW = OUT_CH * OUT_BITS;
    localparam PW = PE * OUT_BITS;
    reg [OW-1:0] beat;
    wire [OW-1:0] merged;
    // fold q's PE fields take ys when slot == q (a compare per fold, no index arithmetic)
    genvar gq;
    generate
        for (gq = 0; gq < OUT_CH / PE; gq = gq + 1) begin : g_slot
            assign merged[gq*PW +: PW] = (slot == gq) ? ys : beat[gq*PW +: PW];
        end
    endgenerate
    always @(posedge ap_clk) begin
        if (en && valid) beat <= merged;
    end
    sml_skid #(.WIDTH(OW)) skid (
        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),
        .s_axis_tdata(merged), .s_axis_tvalid(valid && last), .s_axis_tready(ready),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready));
endmodule
