// sml_axil_ctrl: AXI4-Lite slave with the Vitis HLS ap_ctrl_hs register map of the DNNU.
//
// Register map (docs/CONTRACTS.md, byte offsets, 32-bit registers):
//   0x00 ap_ctrl  bit0 ap_start (R/W, held until the call finishes), bit1 ap_done (clear on read),
//                 bit2 ap_idle (RO), bit3 ap_ready (clear on read)
//   0x04 GIE      bit0 global interrupt enable
//   0x08 IER      bit0 ap_done, bit1 ap_ready interrupt enables
//   0x0c ISR      bit0 ap_done, bit1 ap_ready interrupt status (toggle on write)
//   0x10/0x14     in_addr  (64-bit, low word first)
//   0x1c/0x20     out_addr (64-bit)
//   0x28          batch (signed; <= 0 finishes at once without touching memory)
// A call: ap_start rises while idle -> `start` pulses for one cycle with the latched arguments;
// the core runs until `finish` pulses; then ap_done/ap_ready are set (ap_ready = ap_done, as for a
// non-pipelined Vitis HLS top) and ap_start clears. `interrupt` = GIE & (ISR != 0).
// One write and one read transaction in flight at a time (AXI4-Lite); BRESP/RRESP always OKAY.
module sml_axil_ctrl #(
    parameter ADDR_BITS = 6
) (
    input  wire                 ap_clk,
    input  wire                 ap_rst_n,
    input  wire [ADDR_BITS-1:0] s_axi_control_AWADDR,
    input  wire                 s_axi_control_AWVALID,
    output wire                 s_axi_control_AWREADY,
    input  wire [31:0]          s_axi_control_WDATA,
    input  wire [3:0]           s_axi_control_WSTRB,
    input  wire                 s_axi_control_WVALID,
    output wire                 s_axi_control_WREADY,
    output wire [1:0]           s_axi_control_BRESP,
    output wire                 s_axi_control_BVALID,
    input  wire                 s_axi_control_BREADY,
    input  wire [ADDR_BITS-1:0] s_axi_control_ARADDR,
    input  wire                 s_axi_control_ARVALID,
    output wire                 s_axi_control_ARREADY,
    output wire [31:0]          s_axi_control_RDATA,
    output wire [1:0]           s_axi_control_RRESP,
    output wire                 s_axi_control_RVALID,
    input  wire                 s_axi_control_RREADY,
    output wire                 interrupt,
    // core side
    output reg                  start,      // one-cycle pulse: a call begins with the values below
    output reg  [63:0]          in_addr,
    output reg  [63:0]          out_addr,
    output reg  [31:0]          batch,
    input  wire                 finish      // one-cycle pulse: the call's last write was acknowledged
);
    localparam A_CTRL = 6'h00, A_GIE = 6'h04, A_IER = 6'h08, A_ISR = 6'h0c, A_IN_LO = 6'h10, A_IN_HI = 6'h14,
               A_OUT_LO = 6'h1c, A_OUT_HI = 6'h20, A_BATCH = 6'h28;

    // ---------------------------------------------------------------- write channel
    reg [ADDR_BITS-1:0] waddr;
    reg aw_got, w_got, bvalid;
    reg [31:0] wdata;
    reg [3:0] wstrb;
    assign s_axi_control_AWREADY = !aw_got && !bvalid;
    assign s_axi_control_WREADY = !w_got && !bvalid;
    assign s_axi_control_BVALID = bvalid;
    assign s_axi_control_BRESP = 2'b00;
    wire aw_fire = s_axi_control_AWVALID && s_axi_control_AWREADY;
    wire w_fire = s_axi_control_WVALID && s_axi_control_WREADY;
    wire [ADDR_BITS-1:0] wa = aw_fire ? s_axi_control_AWADDR : waddr;
    wire [31:0] wd = w_fire ? s_axi_control_WDATA : wdata;
    wire [3:0] ws = w_fire ? s_axi_control_WSTRB : wstrb;
    wire do_write = (aw_got || aw_fire) && (w_got || w_fire) && !bvalid;

    // ---------------------------------------------------------------- read channel
    reg rvalid;
    reg [31:0] rdata;
    assign s_axi_control_ARREADY = !rvalid;
    assign s_axi_control_RVALID = rvalid;
    assign s_axi_control_RDATA = rdata;
    assign s_axi_control_RRESP = 2'b00;
    wire ar_fire = s_axi_control_ARVALID && s_axi_control_ARREADY;

    // ---------------------------------------------------------------- registers
    reg ap_start, ap_done, ap_ready, busy, gie;
    reg [1:0] ier, isr;
    wire ap_idle = !busy;
    wire [5:0] wa6 = wa;
    wire [5:0] ra6 = s_axi_control_ARADDR;
    assign interrupt = gie && (isr != 2'b00);

    function [31:0] merge(input [31:0] old, input [31:0] d, input [3:0] s);
        merge = {s[3] ? d[31:24] : old[31:24], s[2] ? d[23:16] : old[23:16],
                 s[1] ? d[15:8] : old[15:8], s[0] ? d[7:0] : old[7:0]};
    endfunction

    wire rd_ctrl = ar_fire && ra6 == A_CTRL;
    wire launch = ap_start && !busy && !start;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            aw_got <= 1'b0; w_got <= 1'b0; bvalid <= 1'b0; rvalid <= 1'b0; rdata <= 32'd0;
            waddr <= {ADDR_BITS{1'b0}}; wdata <= 32'd0; wstrb <= 4'd0;
            ap_start <= 1'b0; ap_done <= 1'b0; ap_ready <= 1'b0; busy <= 1'b0; start <= 1'b0;
            gie <= 1'b0; ier <= 2'b00; isr <= 2'b00;
            in_addr <= 64'd0; out_addr <= 64'd0; batch <= 32'd0;
        end else begin
            start <= 1'b0;
            // write address/data capture
            if (aw_fire) begin waddr <= s_axi_control_AWADDR; aw_got <= 1'b1; end
            if (w_fire) begin wdata <= s_axi_control_WDATA; wstrb <= s_axi_control_WSTRB; w_got <= 1'b1; end
            if (bvalid && s_axi_control_BREADY) bvalid <= 1'b0;
            if (do_write) begin
                aw_got <= 1'b0; w_got <= 1'b0; bvalid <= 1'b1;
                case (wa6)
                    A_CTRL:   if (ws[0] && wd[0]) ap_start <= 1'b1;
                    A_GIE:    if (ws[0]) gie <= wd[0];
                    A_IER:    if (ws[0]) ier <= wd[1:0];
                    A_ISR:    if (ws[0]) isr <= isr ^ wd[1:0];
                    A_IN_LO:  in_addr[31:0] <= merge(in_addr[31:0], wd, ws);
                    A_IN_HI:  in_addr[63:32] <= merge(in_addr[63:32], wd, ws);
                    A_OUT_LO: out_addr[31:0] <= merge(out_addr[31:0], wd, ws);
                    A_OUT_HI: out_addr[63:32] <= merge(out_addr[63:32], wd, ws);
                    A_BATCH:  batch <= merge(batch, wd, ws);
                    default: ;
                endcase
            end
            // reads (ap_done / ap_ready clear on a read of ap_ctrl)
            if (rvalid && s_axi_control_RREADY) rvalid <= 1'b0;
            if (ar_fire) begin
                rvalid <= 1'b1;
                case (ra6)
                    A_CTRL:   rdata <= {28'd0, ap_ready, ap_idle, ap_done, ap_start};
                    A_GIE:    rdata <= {31'd0, gie};
                    A_IER:    rdata <= {30'd0, ier};
                    A_ISR:    rdata <= {30'd0, isr};
                    A_IN_LO:  rdata <= in_addr[31:0];
                    A_IN_HI:  rdata <= in_addr[63:32];
                    A_OUT_LO: rdata <= out_addr[31:0];
                    A_OUT_HI: rdata <= out_addr[63:32];
                    A_BATCH:  rdata <= batch;
                    default:  rdata <= 32'd0;
                endcase
            end
            if (rd_ctrl) begin ap_done <= 1'b0; ap_ready <= 1'b0; end
            // the call
            if (launch) begin
                busy <= 1'b1;
                start <= 1'b1;
            end
            if (finish && busy) begin
                busy <= 1'b0; ap_start <= 1'b0; ap_done <= 1'b1; ap_ready <= 1'b1;  // set wins over clear-on-read
                if (ier[0]) isr[0] <= 1'b1;
                if (ier[1]) isr[1] <= 1'b1;
            end
        end
    end
endmodule
