// sustainml DNNU library: pointwise (1x1) Conv1D (stage kind "pwconv1d", second half of a
// DepthwiseSeparableConv1D).
//
//   out[t][o] = requantize(b[o] + sum_{c<IN_CH} in[t][c] * w[c][o])
//
// Unrolling: PE output channels x SIMD input channels per cycle (KP must be 1); a beat takes
// FOLD = (OUT_CH/PE)*(IN_CH/SIMD) fold steps, pf outer, cf inner. Weights come folded:
// wf[FOLD][PE*SIMD], lane pp*SIMD + ss of step pf*CF + cf holding w[cf*SIMD+ss][pf*PE+pp]
// (host/hlsgen/cpp.py); biases bf[PF][PE]. Each step's products are added by accum<CFG>::add
// (accumulate.h): wrapping (ACC_SAT false) gives the same bits at any PE/SIMD; saturation clips
// after every step, in the order cf runs (nas/quantized.py).
// Schedule: one loop over the whole batch, pipelined at II=1, of batch*IN_LEN*FOLD
// iterations: a beat is read at fold step 0 and held while it folds, the output beat written
// at the last step. A fully unrolled stage takes one beat per iteration; no bubbles.
// Pragmas (Vitis HLS): PIPELINE II=1 and LOOP_TRIPCOUNT (per sample) on the loop;
// ARRAY_PARTITION complete dim=2 on the folded weights and biases, complete on accumulators
// and output beat; UNROLL on the lane loops; BIND_OP of multiply.h.
#ifndef SUSTAINML_LAYERS_PWCONV1D_H
#define SUSTAINML_LAYERS_PWCONV1D_H

#include "../accumulate.h"
#include "../multiply.h"
#include "../requant.h"
#include "window.h"

namespace sml {

template <class CFG> struct pwconv1d_geom {
    static const int PF = CFG::OUT_CH / CFG::PE, CF = CFG::IN_CH / CFG::SIMD;
    static const int FOLD = PF * CF, LANES = CFG::PE * CFG::SIMD;
};

template <class CFG>
void pwconv1d(hls::stream<typename io<CFG>::in_vec>& in, hls::stream<typename io<CFG>::out_vec>& out, int batch,
              const typename compute<CFG>::w_t wf[pwconv1d_geom<CFG>::FOLD][pwconv1d_geom<CFG>::LANES],
              const typename compute<CFG>::acc_t bf[pwconv1d_geom<CFG>::PF][CFG::PE]) {
    SML_PRAGMA(HLS ARRAY_PARTITION variable=wf complete dim=2)
    SML_PRAGMA(HLS ARRAY_PARTITION variable=bf complete dim=2)
    typedef pwconv1d_geom<CFG> g;
    typedef typename io<CFG>::in_vec in_vec;
    typedef typename io<CFG>::out_t out_t;
    typedef typename compute<CFG>::acc_t acc_t;
    const int ITERS = CFG::IN_LEN * g::FOLD;

    acc_t acc[CFG::PE];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=acc complete dim=1)
    out_t res[CFG::OUT_CH];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=res complete dim=1)
    in_vec x;

    int f = 0, pf = 0, cf = 0;
    for (long i = 0; i < static_cast<long>(batch) * ITERS; i++) {
        SML_PRAGMA(HLS PIPELINE II=1)
        SML_PRAGMA(HLS LOOP_TRIPCOUNT min=ITERS max=ITERS)
        SML_COUNT_ITERATION();
        if (f == 0) x = in.read();
        for (int pp = 0; pp < CFG::PE; pp++) {
            SML_PRAGMA(HLS UNROLL)
            const acc_t a0 = cf == 0 ? bf[pf][pp] : acc[pp];
            typename accum<CFG>::part_t s = 0;  // this fold step's products (accumulate.h)
            for (int ss = 0; ss < CFG::SIMD; ss++) {
                SML_PRAGMA(HLS UNROLL)
                s += mul<CFG>(x.d[cf * CFG::SIMD + ss], wf[f][pp * CFG::SIMD + ss]);
            }
            const acc_t a = accum<CFG>::add(a0, s);  // wrap or saturate at ACC_BITS
            acc[pp] = a;
            if (cf == g::CF - 1) res[pf * CFG::PE + pp] = requantize<CFG>(a);
        }
        if (++cf == g::CF) {
            cf = 0;
            pf++;
        }
        if (++f == g::FOLD) {
            write_beat(out, res);
            f = pf = 0;
        }
    }
}

}  // namespace sml

#endif
