// C-simulation harness of the FP8 codec and DMA adapter (tests/test_fp8_hls.py): extern "C"
// entry points over plain arrays, loaded with ctypes.
#include <stdint.h>

#include "fp8_adapter.cpp"

extern "C" {

void fp8_encode_array(const uint32_t* bits, uint8_t* codes, int n, int bias, int saturate) {
    for (int i = 0; i < n; i++) codes[i] = sml::fp8_encode_bits<5, 2>(bits[i], bias, saturate != 0).to_uint();
}

void fp8_decode_array(const uint8_t* codes, uint32_t* bits, int n, int bias) {
    for (int i = 0; i < n; i++) bits[i] = sml::fp8_decode_bits<5, 2>(codes[i], bias).to_uint();
}

// Runs the adapter top: mode 0 packs n FP32 words into (n+3)/4 words, mode 1 unpacks.
int fp8_adapter_run(const uint32_t* in, int n_in, uint32_t* out, int n, int bias, int mode, int saturate) {
    hls::stream<sml::word32_t> s_in, s_out;
    for (int i = 0; i < n_in; i++) s_in.write(in[i]);
    fp8_adapter(s_in, s_out, n, bias, mode, saturate);
    int k = 0;
    while (!s_out.empty()) out[k++] = s_out.read().to_uint();
    return s_in.empty() ? k : -1;  // -1: the adapter left input unread
}

// The m_axi movers: encode n floats to packed words in memory and decode them back.
void fp8_dma_roundtrip(const float* x, uint32_t* words, float* y, int n, int bias, int saturate) {
    hls::stream<float> a, b;
    for (int i = 0; i < n; i++) a.write(x[i]);
    sml::fp8_dma_write(a, reinterpret_cast<sml::word32_t*>(words), n, bias, saturate != 0);
    sml::fp8_dma_read(reinterpret_cast<const sml::word32_t*>(words), b, n, bias);
    for (int i = 0; i < n; i++) y[i] = b.read();
}
}
