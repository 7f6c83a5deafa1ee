// sustainml DNNU library: depthwise Conv1D (stage kind "dwconv1d", first half of a
// DepthwiseSeparableConv1D).
//
//   out[t][c] = requantize(b[c] + sum_{k<KERNEL} in[t*STRIDE + k - PADDING][c] * w[k][c])
//
// Weights w[KERNEL][IN_CH] (OUT_CH == IN_CH); b[IN_CH] is zero unless the model has a bias.
// Unrolling: PE channels x KP kernel taps per cycle (SIMD must be 1: a channel only meets its
// own filter); one output beat takes (IN_CH/PE)*(KERNEL/KP) cycles. accum<CFG>::add per fold step
// (accumulate.h): wrap-around does not depend on PE/KP; saturation clips after each step of KP taps.
// Pragmas (Vitis HLS): PIPELINE II=1 on the fold loop; ARRAY_PARTITION cyclic factor=KP dim=1
// and factor=PE dim=2 on the weights, factor=PE on the biases; line buffer, accumulators and
// output beat complete.
#ifndef SUSTAINML_LAYERS_DWCONV1D_H
#define SUSTAINML_LAYERS_DWCONV1D_H

#include "../accumulate.h"
#include "../requant.h"
#include "window.h"

namespace sml {

template <class CFG>
void dwconv1d(hls::stream<typename io<CFG>::in_vec>& in, hls::stream<typename io<CFG>::out_vec>& out, int batch,
              const typename compute<CFG>::w_t w[CFG::KERNEL][CFG::IN_CH],
              const typename compute<CFG>::acc_t b[CFG::IN_CH]) {
    SML_PRAGMA(HLS ARRAY_PARTITION variable=w cyclic factor=CFG::KP dim=1)
    SML_PRAGMA(HLS ARRAY_PARTITION variable=w cyclic factor=CFG::PE dim=2)
    SML_PRAGMA(HLS ARRAY_PARTITION variable=b cyclic factor=CFG::PE dim=1)
    typedef typename io<CFG>::in_t in_t;
    typedef typename io<CFG>::out_t out_t;
    typedef typename compute<CFG>::acc_t acc_t;
    const int PF = CFG::IN_CH / CFG::PE, KF = CFG::KERNEL / CFG::KP;

    in_t taps[CFG::KERNEL][CFG::IN_CH];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=taps complete dim=0)
    acc_t acc[CFG::PE];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=acc complete dim=1)
    out_t res[CFG::OUT_CH];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=res complete dim=1)
    window_clock<CFG> clock;

    for (int n = 0; n < batch; n++) {
        clock.reset();
        for (int p = 0; p < CFG::IN_LEN + 2 * CFG::PADDING; p++) {
            shift_in<CFG>(in, taps, p);
            if (!clock.tick()) continue;
            int pf = 0, kf = 0;
            for (int f = 0; f < PF * KF; f++) {
                SML_PRAGMA(HLS PIPELINE II=1)
                for (int pp = 0; pp < CFG::PE; pp++) {
                    const int c = pf * CFG::PE + pp;
                    typename accum<CFG>::part_t s = 0;
                    for (int kk = 0; kk < CFG::KP; kk++) {
                        const int k = kf * CFG::KP + kk;
                        s += taps[k][c] * w[k][c];
                    }
                    const acc_t a = accum<CFG>::add(kf == 0 ? b[c] : acc[pp], s);
                    acc[pp] = a;
                    if (kf == KF - 1) res[c] = requantize<CFG>(a);
                }
                if (++kf == KF) {
                    kf = 0;
                    pf++;
                }
            }
            write_beat(out, res);
        }
    }
}

}  // namespace sml

#endif
