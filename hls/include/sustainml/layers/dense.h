// sustainml DNNU library: Dense (stage kind "dense"), also the classifier that produces logits.
//
//   out[o] = requantize(b[o] + sum_{i<IN_LEN*IN_CH} x[i] * w[i][o]),  x[t*IN_CH + c] = in[t][c]
//
// The input is flattened time-major, the order it streams in. Weights w[IN_LEN*IN_CH][OUT_CH],
// biases b[OUT_CH]; one output beat (OUT_LEN == 1) per sample. Unrolling: PE neurons x SIMD
// input features per cycle (KP must be 1); a sample takes (OUT_CH/PE)*(IN_LEN*IN_CH/SIMD)
// cycles after its input is buffered. accum<CFG>::add per fold step (accumulate.h): wrap-around
// does not depend on PE/SIMD; saturation clips after each step of SIMD features.
// Pragmas (Vitis HLS): PIPELINE II=1 on the buffer fill and fold loops; ARRAY_PARTITION
// cyclic factor=SIMD on the input buffer and weight dim 1, factor=PE on weight dim 2 and the
// biases; accumulators and output beat complete.
#ifndef SUSTAINML_LAYERS_DENSE_H
#define SUSTAINML_LAYERS_DENSE_H

#include "../accumulate.h"
#include "../requant.h"
#include "window.h"

namespace sml {

template <class CFG>
void dense(hls::stream<typename io<CFG>::in_vec>& in, hls::stream<typename io<CFG>::out_vec>& out, int batch,
           const typename compute<CFG>::w_t w[CFG::IN_LEN * CFG::IN_CH][CFG::OUT_CH],
           const typename compute<CFG>::acc_t b[CFG::OUT_CH]) {
    SML_PRAGMA(HLS ARRAY_PARTITION variable=w cyclic factor=CFG::SIMD dim=1)
    SML_PRAGMA(HLS ARRAY_PARTITION variable=w cyclic factor=CFG::PE dim=2)
    SML_PRAGMA(HLS ARRAY_PARTITION variable=b cyclic factor=CFG::PE dim=1)
    typedef typename io<CFG>::in_t in_t;
    typedef typename io<CFG>::in_vec in_vec;
    typedef typename io<CFG>::out_t out_t;
    typedef typename compute<CFG>::acc_t acc_t;
    const int NIN = CFG::IN_LEN * CFG::IN_CH;
    const int PF = CFG::OUT_CH / CFG::PE, CF = NIN / CFG::SIMD;

    in_t x[NIN];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=x cyclic factor=CFG::SIMD dim=1)
    acc_t acc[CFG::PE];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=acc complete dim=1)
    out_t res[CFG::OUT_CH];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=res complete dim=1)

    for (int n = 0; n < batch; n++) {
        for (int t = 0; t < CFG::IN_LEN; t++) {
            SML_PRAGMA(HLS PIPELINE II=1)
            const in_vec beat = in.read();
            for (int c = 0; c < CFG::IN_CH; c++) x[t * CFG::IN_CH + c] = beat.d[c];
        }
        int pf = 0, cf = 0;
        for (int f = 0; f < PF * CF; f++) {
            SML_PRAGMA(HLS PIPELINE II=1)
            for (int pp = 0; pp < CFG::PE; pp++) {
                const int o = pf * CFG::PE + pp;
                typename accum<CFG>::part_t s = 0;
                for (int ss = 0; ss < CFG::SIMD; ss++) {
                    const int i = cf * CFG::SIMD + ss;
                    s += x[i] * w[i][o];
                }
                const acc_t a = accum<CFG>::add(cf == 0 ? b[o] : acc[pp], s);
                acc[pp] = a;
                if (cf == CF - 1) res[o] = requantize<CFG>(a);
            }
            if (++cf == CF) {
                cf = 0;
                pf++;
            }
        }
        write_beat(out, res);
    }
}

}  // namespace sml

#endif
