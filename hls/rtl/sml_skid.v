// sml_skid: 2-entry skid buffer on an AXI4-Stream-like channel.
//
// s_axis_tready is a register (= the spare entry is empty), so no combinational path runs from
// m_axis_tready to s_axis_tready; m_axis_tvalid/tdata come straight from a register. Full rate:
// one transfer per cycle in and out when both sides are ready. Latency: 1 cycle.
// Every stage module ends in one; its registered ready is the enable of the stage's pipeline.
module sml_skid #(
    parameter WIDTH = 8
) (
    input  wire             ap_clk,
    input  wire             ap_rst_n,
    input  wire [WIDTH-1:0] s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    output wire [WIDTH-1:0] m_axis_tdata,
    output wire             m_axis_tvalid,
    input  wire             m_axis_tready
);
    reg [WIDTH-1:0] main_d, spare_d;
    reg             main_v, spare_v;

    assign s_axis_tready = !spare_v;
    assign m_axis_tvalid = main_v;
    assign m_axis_tdata  = main_d;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            main_v  <= 1'b0;
            spare_v <= 1'b0;
        end else if (!main_v || m_axis_tready) begin  // the main entry frees up this cycle
            if (spare_v) begin
                main_d  <= spare_d;
                main_v  <= 1'b1;
                spare_v <= 1'b0;
            end else begin
                main_d <= s_axis_tdata;
                main_v <= s_axis_tvalid;
            end
        end else if (s_axis_tvalid && !spare_v) begin
            spare_d <= s_axis_tdata;
            spare_v <= 1'b1;
        end
    end
endmodule
