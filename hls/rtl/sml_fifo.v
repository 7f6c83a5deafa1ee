// sml_fifo: synchronous stream FIFO, WIDTH bits x DEPTH entries (DEPTH a power of two >= 2).
//
// Registered flags: s_axis_tready = not full, m_axis_tvalid = not empty; the output word is read
// combinationally at the read pointer (first-word fall-through), so the memory maps to
// distributed RAM (LUTRAM), not BRAM.
// One write and one read per cycle; latency 1 cycle (a word written is visible the next cycle).
// For stream buffering between stages (rtl-top sizes them); not used inside the stage modules.
module sml_fifo #(
    parameter WIDTH = 8,
    parameter DEPTH = 16
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
    localparam AW = (DEPTH > 2) ? $clog2(DEPTH) : 1;
    reg [WIDTH-1:0] mem [0:DEPTH-1];
    reg [AW:0]      wr, rd;  // one extra bit tells full from empty

    wire empty = (wr == rd);
    wire full  = (wr[AW-1:0] == rd[AW-1:0]) && (wr[AW] != rd[AW]);
    wire push  = s_axis_tvalid && !full;
    wire pop   = m_axis_tready && !empty;

    assign s_axis_tready = !full;
    assign m_axis_tvalid = !empty;
    assign m_axis_tdata  = mem[rd[AW-1:0]];

    always @(posedge ap_clk) begin
        if (push) mem[wr[AW-1:0]] <= s_axis_tdata;
    end

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            wr <= 0;
            rd <= 0;
        end else begin
            if (push) wr <= wr + 1'b1;
            if (pop) rd <= rd + 1'b1;
        end
    end
endmodule
