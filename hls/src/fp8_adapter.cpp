// FP8 DMA adapter: a stand-alone HLS module between an AXI DMA and an FP32 core.
//
//   mode 0 (to memory):   n FP32 words in  -> ceil(n/4) words of packed FP8 codes out
//   mode 1 (from memory): ceil(n/4) packed FP8 words in -> n FP32 words out
//
// bias (0..63), n, mode and saturate are AXI-Lite registers, set per transfer by the host
// (the bias of the tensor stream being moved, chosen by nas/fp8.py's statistics unit).
// Word layout and rounding: hls/include/sustainml/io/fp8_dma.h, hls/include/sustainml/fp8.h.
#include "sustainml/io/fp8_dma.h"

void fp8_adapter(hls::stream<sml::word32_t>& in, hls::stream<sml::word32_t>& out, int n, ap_uint<6> bias,
                 ap_uint<1> mode, ap_uint<1> saturate) {
    SML_PRAGMA(HLS INTERFACE axis port=in)
    SML_PRAGMA(HLS INTERFACE axis port=out)
    SML_PRAGMA(HLS INTERFACE s_axilite port=n)
    SML_PRAGMA(HLS INTERFACE s_axilite port=bias)
    SML_PRAGMA(HLS INTERFACE s_axilite port=mode)
    SML_PRAGMA(HLS INTERFACE s_axilite port=saturate)
    SML_PRAGMA(HLS INTERFACE s_axilite port=return)
    if (mode == 0) {
        sml::fp8_pack_stream(in, out, n, bias, saturate == 1);
    } else {
        sml::fp8_unpack_stream(in, out, n, bias);
    }
}
