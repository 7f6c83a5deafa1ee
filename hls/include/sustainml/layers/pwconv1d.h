// sustainml DNNU library: pointwise (1x1) Conv1D (stage kind "pwconv1d", second half of a
// DepthwiseSeparableConv1D).
//
//   out[t][o] = requantize(b[o] + sum_{c<IN_CH} in[t][c] * w[c][o])
//
// Weights w[IN_CH][OUT_CH], biases b[OUT_CH]. Unrolling: PE output channels x SIMD input
// channels per cycle (KP must be 1); one output beat takes (OUT_CH/PE)*(IN_CH/SIMD) cycles.
// accum<CFG>::add per fold step (accumulate.h): wrap-around does not depend on PE/SIMD;
// saturation clips after each step of SIMD channels.
// Pragmas (Vitis HLS): PIPELINE II=1 on the fold loop; ARRAY_PARTITION cyclic factor=SIMD
// dim=1 and factor=PE dim=2 on the weights, factor=PE on the biases; input beat, accumulators
// and output beat complete.
#ifndef SUSTAINML_LAYERS_PWCONV1D_H
#define SUSTAINML_LAYERS_PWCONV1D_H

#include "../accumulate.h"
#include "../requant.h"
#include "window.h"

namespace sml {

template <class CFG>
void pwconv1d(hls::stream<typename io<CFG>::in_vec>& in, hls::stream<typename io<CFG>::out_vec>& out, int batch,
              const typename compute<CFG>::w_t w[CFG::IN_CH][CFG::OUT_CH],
              const typename compute<CFG>::acc_t b[CFG::OUT_CH]) {
    SML_PRAGMA(HLS ARRAY_PARTITION variable=w cyclic factor=CFG::SIMD dim=1)
    SML_PRAGMA(HLS ARRAY_PARTITION variable=w cyclic factor=CFG::PE dim=2)
    SML_PRAGMA(HLS ARRAY_PARTITION variable=b cyclic factor=CFG::PE dim=1)
    typedef typename io<CFG>::in_vec in_vec;
    typedef typename io<CFG>::out_t out_t;
    typedef typename compute<CFG>::acc_t acc_t;
    const int PF = CFG::OUT_CH / CFG::PE, CF = CFG::IN_CH / CFG::SIMD;

    acc_t acc[CFG::PE];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=acc complete dim=1)
    out_t res[CFG::OUT_CH];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=res complete dim=1)

    for (int n = 0; n < batch; n++) {
        for (int t = 0; t < CFG::IN_LEN; t++) {
            const in_vec x = in.read();
            int pf = 0, cf = 0;
            for (int f = 0; f < PF * CF; f++) {
                SML_PRAGMA(HLS PIPELINE II=1)
                for (int pp = 0; pp < CFG::PE; pp++) {
                    const int o = pf * CFG::PE + pp;
                    typename accum<CFG>::part_t s = 0;
                    for (int ss = 0; ss < CFG::SIMD; ss++) {
                        const int c = cf * CFG::SIMD + ss;
                        s += x.d[c] * w[c][o];
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
}

}  // namespace sml

#endif
