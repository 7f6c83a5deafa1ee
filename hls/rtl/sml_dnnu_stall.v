// sml_dnnu_stall: simulation-only stall injector on a stream (instantiated by the generated top
// under `define SML_STALLS, never in synthesis). On pseudo-random cycles (about one in four; a
// 16-bit Galois LFSR seeded by SEED) it withholds the transfer by holding both tvalid towards the
// consumer and tready towards the producer low; otherwise it is a wire. Data is never altered.
module sml_dnnu_stall #(
    parameter WIDTH = 8,
    parameter SEED = 16'h1234
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
    reg [15:0] lfsr;
    wire pass = lfsr[1:0] != 2'b00;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) lfsr <= (SEED & 16'hffff) | 16'h0001;
        else lfsr <= lfsr[0] ? (lfsr >> 1) ^ 16'hb400 : lfsr >> 1;
    end
    assign m_axis_tdata = s_axis_tdata;
    assign m_axis_tvalid = s_axis_tvalid && pass;
    assign s_axis_tready = m_axis_tready && pass;
endmodule
