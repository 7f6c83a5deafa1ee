// sustainml DNNU library: Conv1D (stage kind "conv1d").
//
//   out[t][o] = requantize(b[o] + sum_{k<KERNEL, c<IN_CH} in[t*STRIDE + k - PADDING][c] * w[k][c][o])
//
// Unrolling: PE output channels x SIMD input channels x KP kernel taps per cycle; each factor
// divides its dimension. An output position takes FOLD = (OUT_CH/PE)*(IN_CH/SIMD)*(KERNEL/KP)
// fold steps, in the order pf (outer), cf, kf (inner). Weights come folded, as FINN's MVAU
// stores them: wf[FOLD][LANES] with LANES = PE*KP*SIMD, lane (pp*KP + kk)*SIMD + ss of fold
// step (pf*CF + cf)*KF + kf holding w[kf*KP+kk][cf*SIMD+ss][pf*PE+pp] (host/hlsgen/cpp.py
// writes it), so each lane is one ROM read in sequence; biases bf[PF][PE].
// Each fold step's products are summed exactly and added to the accumulator by accum<CFG>::add
// (accumulate.h): wrap-around (ACC_SAT false) gives the same result at any PE/SIMD/KP; saturation
// (ACC_SAT true) clips after every fold step, in the order the steps run (nas/quantized.py).
// Schedule: window_loop (window.h), one pipelined iteration per fold step, reading ahead.
// Pragmas (Vitis HLS): ARRAY_PARTITION complete dim=2 on the folded weights and biases (one
// bank per lane, never a cyclic factor=1 no-op), complete on accumulators and output beat;
// UNROLL on the lane loops; the loop pragmas of window.h; BIND_OP of multiply.h.
#ifndef SUSTAINML_LAYERS_CONV1D_H
#define SUSTAINML_LAYERS_CONV1D_H

#include "../accumulate.h"
#include "../multiply.h"
#include "../requant.h"
#include "window.h"

namespace sml {

template <class CFG> struct conv1d_geom {
    static const int PF = CFG::OUT_CH / CFG::PE, CF = CFG::IN_CH / CFG::SIMD, KF = CFG::KERNEL / CFG::KP;
    static const int FOLD = PF * CF * KF, LANES = CFG::PE * CFG::KP * CFG::SIMD;
};

// One fold step of Conv1D on a window (see window_loop): fold counters pf, cf, kf.
template <class CFG> struct conv1d_step {
    typedef conv1d_geom<CFG> g;
    typedef typename io<CFG>::in_t in_t;
    typedef typename io<CFG>::out_t out_t;
    typedef typename compute<CFG>::acc_t acc_t;
    typedef typename compute<CFG>::w_t w_t;
    int pf, cf, kf;

    void run(const in_t win[CFG::KERNEL][CFG::IN_CH], int f, out_t res[CFG::OUT_CH], const w_t wf[g::FOLD][g::LANES],
             const acc_t bf[g::PF][CFG::PE], acc_t acc[CFG::PE]) {
        SML_PRAGMA(HLS INLINE)
        if (f == 0) pf = cf = kf = 0;
        const bool first = cf == 0 && kf == 0;
        const bool last = cf == g::CF - 1 && kf == g::KF - 1;
        for (int pp = 0; pp < CFG::PE; pp++) {
            SML_PRAGMA(HLS UNROLL)
            const acc_t a0 = first ? bf[pf][pp] : acc[pp];
            typename accum<CFG>::part_t s = 0;  // this fold step's products (accumulate.h)
            for (int kk = 0; kk < CFG::KP; kk++) {
                SML_PRAGMA(HLS UNROLL)
                for (int ss = 0; ss < CFG::SIMD; ss++) {
                    SML_PRAGMA(HLS UNROLL)
                    const int lane = (pp * CFG::KP + kk) * CFG::SIMD + ss;
                    s += mul<CFG>(win[kf * CFG::KP + kk][cf * CFG::SIMD + ss], wf[f][lane]);
                }
            }
            const acc_t a = accum<CFG>::add(a0, s);  // wrap or saturate at ACC_BITS
            acc[pp] = a;
            if (last) res[pf * CFG::PE + pp] = requantize<CFG>(a);
        }
        if (++kf == g::KF) {
            kf = 0;
            if (++cf == g::CF) {
                cf = 0;
                pf++;
            }
        }
    }
};

template <class CFG>
void conv1d(hls::stream<typename io<CFG>::in_vec>& in, hls::stream<typename io<CFG>::out_vec>& out, int batch,
            const typename compute<CFG>::w_t wf[conv1d_geom<CFG>::FOLD][conv1d_geom<CFG>::LANES],
            const typename compute<CFG>::acc_t bf[conv1d_geom<CFG>::PF][CFG::PE]) {
    SML_PRAGMA(HLS ARRAY_PARTITION variable=wf complete dim=2)
    SML_PRAGMA(HLS ARRAY_PARTITION variable=bf complete dim=2)
    typename compute<CFG>::acc_t acc[CFG::PE];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=acc complete dim=1)
    typename io<CFG>::out_t res[CFG::OUT_CH];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=res complete dim=1)
    conv1d_step<CFG> step;
    window_loop<CFG, conv1d_geom<CFG>::FOLD>(in, out, batch, step, res, wf, bf, acc);
}

}  // namespace sml

#endif
