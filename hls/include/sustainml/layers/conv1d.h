// sustainml DNNU library: Conv1D (stage kind "conv1d").
//
//   out[t][o] = requantize(b[o] + sum_{k<KERNEL, c<IN_CH} in[t*STRIDE + k - PADDING][c] * w[k][c][o])
//
// Weights w[KERNEL][IN_CH][OUT_CH] and biases b[OUT_CH] as in nas/quantized.py.
// Unrolling: PE output channels x SIMD input channels x KP kernel taps per cycle; each factor
// divides its dimension. One output beat takes (OUT_CH/PE)*(IN_CH/SIMD)*(KERNEL/KP) cycles.
// Accumulation per fold step through accum<CFG>::add (accumulate.h): with wrap-around
// (ACC_SAT false) the result does not depend on PE/SIMD/KP; saturation (ACC_SAT true) clips after
// each fold step, in the order f runs (channel blocks outer, tap blocks inner).
// Pragmas (Vitis HLS): PIPELINE II=1 on the fold loop (the PE/KP/SIMD loops inside it are
// fully unrolled); ARRAY_PARTITION cyclic factor=KP/SIMD/PE on weight dims 1/2/3 and
// factor=PE on the biases, matching the unrolled accesses; the line buffer, accumulators and
// output beat are partitioned complete.
#ifndef SUSTAINML_LAYERS_CONV1D_H
#define SUSTAINML_LAYERS_CONV1D_H

#include "../accumulate.h"
#include "../requant.h"
#include "window.h"

namespace sml {

template <class CFG>
void conv1d(hls::stream<typename io<CFG>::in_vec>& in, hls::stream<typename io<CFG>::out_vec>& out, int batch,
            const typename compute<CFG>::w_t w[CFG::KERNEL][CFG::IN_CH][CFG::OUT_CH],
            const typename compute<CFG>::acc_t b[CFG::OUT_CH]) {
    SML_PRAGMA(HLS ARRAY_PARTITION variable=w cyclic factor=CFG::KP dim=1)
    SML_PRAGMA(HLS ARRAY_PARTITION variable=w cyclic factor=CFG::SIMD dim=2)
    SML_PRAGMA(HLS ARRAY_PARTITION variable=w cyclic factor=CFG::PE dim=3)
    SML_PRAGMA(HLS ARRAY_PARTITION variable=b cyclic factor=CFG::PE dim=1)
    typedef typename io<CFG>::in_t in_t;
    typedef typename io<CFG>::out_t out_t;
    typedef typename compute<CFG>::acc_t acc_t;
    const int PF = CFG::OUT_CH / CFG::PE, CF = CFG::IN_CH / CFG::SIMD, KF = CFG::KERNEL / CFG::KP;

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
            int pf = 0, cf = 0, kf = 0;
            for (int f = 0; f < PF * CF * KF; f++) {
                SML_PRAGMA(HLS PIPELINE II=1)
                const bool first = cf == 0 && kf == 0;
                const bool last = cf == CF - 1 && kf == KF - 1;
                for (int pp = 0; pp < CFG::PE; pp++) {
                    const int o = pf * CFG::PE + pp;
                    typename accum<CFG>::part_t s = 0;
                    for (int kk = 0; kk < CFG::KP; kk++) {
                        const int k = kf * CFG::KP + kk;
                        for (int ss = 0; ss < CFG::SIMD; ss++) {
                            const int c = cf * CFG::SIMD + ss;
                            s += taps[k][c] * w[k][c][o];
                        }
                    }
                    const acc_t a = accum<CFG>::add(first ? b[o] : acc[pp], s);
                    acc[pp] = a;
                    if (last) res[o] = requantize<CFG>(a);
                }
                if (++kf == KF) {
                    kf = 0;
                    if (++cf == CF) {
                        cf = 0;
                        pf++;
                    }
                }
            }
            write_beat(out, res);
        }
    }
}

}  // namespace sml

#endif
