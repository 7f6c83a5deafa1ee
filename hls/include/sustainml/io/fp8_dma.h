// sustainml DNNU library: FP8 over DMA -- FP32 <-> FP8 (E5M2, run-time bias) conversion of the
// data the DNNU moves to and from external memory, 4 codes per 32-bit bus word (4x fewer
// bytes than FP32).
//
// Word layout: element 4k+j of a tensor sits in bits [8j+7 : 8j] of word k (little-endian
// lanes, so the word array viewed as bytes is the code array); a partial last word is padded
// with +0 codes. Each converter is one pipelined loop at II=1 (one element per cycle).
#ifndef SUSTAINML_IO_FP8_DMA_H
#define SUSTAINML_IO_FP8_DMA_H

#include <hls_stream.h>
#include <stdint.h>

#include "../fp8.h"
#include "../types.h"

namespace sml {

typedef ap_uint<32> word32_t;

inline int fp8_words(int n) { return (n + 3) / 4; }

// n floats (as FP32 bit patterns) -> fp8_words(n) words of 4 FP8 codes.
inline void fp8_pack_stream(hls::stream<word32_t>& in, hls::stream<word32_t>& out, int n, fp8_bias_t bias,
                            bool saturate) {
    word32_t w = 0;
    for (int i = 0; i < fp8_words(n) * 4; i++) {
        SML_PRAGMA(HLS PIPELINE II=1)
        fp8_t code = 0;
        if (i < n) code = fp8_encode_bits<5, 2>(in.read(), bias, saturate);
        w((i % 4) * 8 + 7, (i % 4) * 8) = code;
        if (i % 4 == 3) {
            out.write(w);
            w = 0;
        }
    }
}

// fp8_words(n) words of 4 FP8 codes -> n floats (as FP32 bit patterns).
inline void fp8_unpack_stream(hls::stream<word32_t>& in, hls::stream<word32_t>& out, int n, fp8_bias_t bias) {
    word32_t w = 0;
    for (int i = 0; i < fp8_words(n) * 4; i++) {
        SML_PRAGMA(HLS PIPELINE II=1)
        if (i % 4 == 0) w = in.read();
        fp8_t code = w((i % 4) * 8 + 7, (i % 4) * 8);
        if (i < n) out.write(fp8_decode_bits<5, 2>(code, bias));
    }
}

// Memory-side movers for a DNNU with FP8 I/O: read packed FP8 from m_axi into a float stream,
// write a float stream to m_axi as packed FP8.
inline void fp8_dma_read(const word32_t* mem, hls::stream<float>& out, int n, fp8_bias_t bias) {
    word32_t w = 0;
    for (int i = 0; i < n; i++) {
        SML_PRAGMA(HLS PIPELINE II=1)
        if (i % 4 == 0) w = mem[i / 4];
        out.write(fp8_decode(fp8_t(w((i % 4) * 8 + 7, (i % 4) * 8)), bias));
    }
}

inline void fp8_dma_write(hls::stream<float>& in, word32_t* mem, int n, fp8_bias_t bias, bool saturate) {
    word32_t w = 0;
    for (int i = 0; i < fp8_words(n) * 4; i++) {
        SML_PRAGMA(HLS PIPELINE II=1)
        fp8_t code = 0;
        if (i < n) code = fp8_encode(in.read(), bias, saturate);
        w((i % 4) * 8 + 7, (i % 4) * 8) = code;
        if (i % 4 == 3) mem[i / 4] = w;
    }
}

// ---------------------------------------------------------------------------------------------
// DNNU with FP8 I/O (`sustainml generate --io fp8`): one E5M2 code (1 byte) per value in DDR,
// bias from a run-time register. The input is quantized on chip to the first stage's integer
// grid exactly as the PS quantizes floats (round half even of x * 2^FRAC, clip); the logits
// (integers with FRAC fractional bits) are encoded once (round to nearest even, saturating).
// Same loop shape as dma_read / dma_write (io/dma.h): one value per cycle, II=1.

// `batch` samples of (CFG::IN_LEN, CFG::IN_CH) codes -> beats of CFG's input stream.
template <class CFG, int FRAC>
void fp8_dma_read_fixed(const uint8_t* mem, hls::stream<typename io<CFG>::in_vec>& out, int batch,
                        fp8_bias_t bias) {
    typename io<CFG>::in_vec beat;
    int c = 0;
    for (int i = 0; i < batch * CFG::IN_LEN * CFG::IN_CH; i++) {
        SML_PRAGMA(HLS PIPELINE II=1)
        beat.d[c] = fp8_to_fixed<CFG::IN_BITS, FRAC>(fp8_t(mem[i]), bias);
        if (++c == CFG::IN_CH) {
            out.write(beat);
            c = 0;
        }
    }
}

// Beats of CFG's output stream (logits, FRAC fractional bits) -> `batch` samples of codes.
template <class CFG, int FRAC>
void fp8_dma_write_fixed(hls::stream<typename io<CFG>::out_vec>& in, uint8_t* mem, int batch, fp8_bias_t bias) {
    typename io<CFG>::out_vec beat;
    int c = 0;
    for (int i = 0; i < batch * CFG::OUT_LEN * CFG::OUT_CH; i++) {
        SML_PRAGMA(HLS PIPELINE II=1)
        if (c == 0) beat = in.read();
        mem[i] = fixed_to_fp8<CFG::OUT_BITS, FRAC>(ap_int<CFG::OUT_BITS>(beat.d[c]), bias).to_uint();
        if (++c == CFG::OUT_CH) c = 0;
    }
}

}  // namespace sml

#endif
