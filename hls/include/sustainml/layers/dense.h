// sustainml DNNU library: Dense (stage kind "dense"), also the classifier that produces logits.
//
//   out[o] = requantize(b[o] + sum_{i<IN_LEN*IN_CH} x[i] * w[i][o]),  x[t*IN_CH + c] = in[t][c]
//
// The input is flattened time-major, the order it streams in; one output beat (OUT_LEN == 1)
// per sample. Unrolling: PE neurons x SIMD input features per cycle (KP must be 1); a sample
// takes FOLD = (OUT_CH/PE)*(NIN/SIMD) fold steps, pf outer, cf inner. Weights come folded:
// wf[FOLD][PE*SIMD], lane pp*SIMD + ss of step pf*CF + cf holding w[cf*SIMD+ss][pf*PE+pp]
// (host/hlsgen/cpp.py); biases bf[PF][PE]. Steps are added by accum<CFG>::add (accumulate.h):
// wrapping gives the same bits at any PE/SIMD; saturation clips after every step, cf ascending.
// Schedule: one loop over the batch, pipelined at II=1. The input is double-buffered
// (x[sample % 2]): while sample n folds, sample n+1's beats are written into the other
// buffer, one per iteration. A sample takes max(IN_LEN, FOLD) iterations, IN_LEN more once
// per call (the first sample's fill); no per-sample bubble.
// Pragmas (Vitis HLS): PIPELINE II=1 and LOOP_TRIPCOUNT (per sample) on the loop;
// ARRAY_PARTITION complete dim=2 on the folded weights and biases; the input buffer
// x[2][NIN/XF][XF] complete on dims 1 and 3 (XF = the smallest divisor of NIN >= max(IN_CH,
// SIMD), so a beat's write and a fold step's read each touch distinct banks); complete on
// accumulators and output beat; UNROLL on the lane loops; BIND_OP of multiply.h.
#ifndef SUSTAINML_LAYERS_DENSE_H
#define SUSTAINML_LAYERS_DENSE_H

#include "../accumulate.h"
#include "../multiply.h"
#include "../requant.h"
#include "window.h"

namespace sml {

template <class CFG> struct dense_geom {
    static const int NIN = CFG::IN_LEN * CFG::IN_CH;
    static const int PF = CFG::OUT_CH / CFG::PE, CF = NIN / CFG::SIMD;
    static const int FOLD = PF * CF, LANES = CFG::PE * CFG::SIMD;
    static const int XF = divisor_at_least<NIN, (CFG::IN_CH > CFG::SIMD ? CFG::IN_CH : CFG::SIMD)>::value;
};

template <class CFG>
void dense(hls::stream<typename io<CFG>::in_vec>& in, hls::stream<typename io<CFG>::out_vec>& out, int batch,
           const typename compute<CFG>::w_t wf[dense_geom<CFG>::FOLD][dense_geom<CFG>::LANES],
           const typename compute<CFG>::acc_t bf[dense_geom<CFG>::PF][CFG::PE]) {
    SML_PRAGMA(HLS ARRAY_PARTITION variable=wf complete dim=2)
    SML_PRAGMA(HLS ARRAY_PARTITION variable=bf complete dim=2)
    typedef dense_geom<CFG> g;
    typedef typename io<CFG>::in_t in_t;
    typedef typename io<CFG>::in_vec in_vec;
    typedef typename io<CFG>::out_t out_t;
    typedef typename compute<CFG>::acc_t acc_t;
    const int L = CFG::IN_LEN, XF = g::XF;
    enum { ITERS = L > g::FOLD ? L : g::FOLD };  // LOOP_TRIPCOUNT

    in_t x[2][g::NIN / XF][XF];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=x complete dim=1)
    SML_PRAGMA(HLS ARRAY_PARTITION variable=x complete dim=3)
    acc_t acc[CFG::PE];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=acc complete dim=1)
    out_t res[CFG::OUT_CH];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=res complete dim=1)

    int rn = 0, t = 0;                  // sample being read, beats of it read
    int fn = 0, f = 0, pf = 0, cf = 0;  // sample folding, its fold step and counters
    while (fn < batch) {
        SML_PRAGMA(HLS PIPELINE II=1)
        SML_PRAGMA(HLS LOOP_TRIPCOUNT min=ITERS max=ITERS)
        SML_COUNT_ITERATION();
        const bool fold = rn > fn;                  // sample fn fully buffered
        const bool rd = rn < batch && rn < fn + 2;  // sample fn + 2 would overwrite fn's buffer
        if (fold) {
            for (int pp = 0; pp < CFG::PE; pp++) {
                SML_PRAGMA(HLS UNROLL)
                const acc_t a0 = cf == 0 ? bf[pf][pp] : acc[pp];
                typename accum<CFG>::part_t s = 0;  // this fold step's products (accumulate.h)
                for (int ss = 0; ss < CFG::SIMD; ss++) {
                    SML_PRAGMA(HLS UNROLL)
                    const int i = cf * CFG::SIMD + ss;
                    s += mul<CFG>(x[fn & 1][i / XF][i % XF], wf[f][pp * CFG::SIMD + ss]);
                }
                const acc_t a = accum<CFG>::add(a0, s);  // wrap or saturate at ACC_BITS
                acc[pp] = a;
                if (cf == g::CF - 1) res[pf * CFG::PE + pp] = requantize<CFG>(a);
            }
        }
        if (rd) {
            const in_vec beat = in.read();
            for (int c = 0; c < CFG::IN_CH; c++) {
                SML_PRAGMA(HLS UNROLL)
                const int i = t * CFG::IN_CH + c;
                x[rn & 1][i / XF][i % XF] = beat.d[c];
            }
            if (++t == L) {
                t = 0;
                rn++;
            }
        }
        if (fold) {
            if (++cf == g::CF) {
                cf = 0;
                pf++;
            }
            if (++f == g::FOLD) {
                write_beat(out, res);
                f = pf = 0;
                fn++;
            }
        }
    }
}

}  // namespace sml

#endif
