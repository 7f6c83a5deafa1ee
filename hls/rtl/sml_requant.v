// sml_requant: requantization of one accumulator (combinational; the golden contract of
// nas/quantized.py): the ACC_BITS-bit two's-complement accumulator (already wrapped) is shifted
// right by SHIFT with round-half-to-even (SHIFT <= 0: exact left shift), ReLU'd when RELU,
// and clipped to OUT_BITS (signed when OUT_SIGNED). Also the average of a window sum
// (SHIFT = 16, the sum already multiplied by AVG_MULT).
module sml_requant #(
    parameter ACC_BITS   = 32,
    parameter SHIFT      = 0,
    parameter RELU       = 0,
    parameter OUT_BITS   = 8,
    parameter OUT_SIGNED = 1
) (
    input  wire [ACC_BITS-1:0] acc,
    output wire [OUT_BITS-1:0] y
);
    localparam LS = (SHIFT < 0) ? -SHIFT : 0;
    localparam RS = (SHIFT > 0) ? SHIFT : 0;
    localparam W0 = (ACC_BITS > RS + 1) ? ACC_BITS : RS + 1;
    localparam W  = ((W0 > OUT_BITS) ? W0 : OUT_BITS) + LS + 2;
    localparam integer OMAX = OUT_SIGNED ? (1 << (OUT_BITS - 1)) - 1 : (1 << OUT_BITS) - 1;
    localparam integer OMIN = OUT_SIGNED ? -(1 << (OUT_BITS - 1)) : 0;

    wire signed [W-1:0] ext = {{(W - ACC_BITS){acc[ACC_BITS-1]}}, acc};
    wire signed [W-1:0] shifted;
    generate
        if (RS > 0) begin : g_round
            wire signed [W-1:0] q    = ext >>> RS;
            wire                half = ext[RS-1];
            wire                rest = |(ext & ({W{1'b1}} >> (W - RS + 1)));  // bits below the half bit
            assign shifted = q + {{(W - 1){1'b0}}, half & (rest | q[0])};
        end else begin : g_left
            assign shifted = ext <<< LS;
        end
    endgenerate

    wire signed [W-1:0] relu_d = (RELU != 0 && shifted < 0) ? {W{1'b0}} : shifted;
    wire signed [W-1:0] clipped = (relu_d > OMAX) ? OMAX : (relu_d < OMIN) ? OMIN : relu_d;
    assign y = clipped[OUT_BITS-1:0];
endmodule
