// sustainml DNNU library: depthwise Conv1D (stage kind "dwconv1d", first half of a
// DepthwiseSeparableConv1D).
//
//   out[t][c] = requantize(b[c] + sum_{k<KERNEL} in[t*STRIDE + k - PADDING][c] * w[k][c])
//
// OUT_CH == IN_CH; b is zero unless the model has a bias. Unrolling: PE channels x KP kernel
// taps per cycle (SIMD must be 1: a channel only meets its own filter); an output position
// takes FOLD = (IN_CH/PE)*(KERNEL/KP) fold steps, pf outer, kf inner. Weights come folded:
// wf[FOLD][PE*KP], lane pp*KP + kk of step pf*KF + kf holding w[kf*KP+kk][pf*PE+pp]
// (host/hlsgen/cpp.py); biases bf[PF][PE]. Each step's products are added by accum<CFG>::add
// (accumulate.h): wrapping (ACC_SAT false) gives the same bits at any PE/KP; saturation clips
// after every step, in the order kf runs (nas/quantized.py).
// Schedule: window_loop (window.h), one pipelined iteration per fold step, reading ahead.
// Pragmas (Vitis HLS): ARRAY_PARTITION complete dim=2 on the folded weights and biases,
// complete on accumulators and output beat; UNROLL on the lane loops; the loop pragmas of
// window.h; BIND_OP of multiply.h.
#ifndef SUSTAINML_LAYERS_DWCONV1D_H
#define SUSTAINML_LAYERS_DWCONV1D_H

#include "../accumulate.h"
#include "../multiply.h"
#include "../requant.h"
#include "window.h"

namespace sml {

template <class CFG> struct dwconv1d_geom {
    static const int PF = CFG::IN_CH / CFG::PE, KF = CFG::KERNEL / CFG::KP;
    static const int FOLD = PF * KF, LANES = CFG::PE * CFG::KP;
};

// One fold step of the depthwise convolution on a window: fold counters pf, kf.
template <class CFG> struct dwconv1d_step {
    typedef dwconv1d_geom<CFG> g;
    typedef typename io<CFG>::in_t in_t;
    typedef typename io<CFG>::out_t out_t;
    typedef typename compute<CFG>::acc_t acc_t;
    typedef typename compute<CFG>::w_t w_t;
    int pf, kf;

    void run(const in_t win[CFG::KERNEL][CFG::IN_CH], int f, out_t res[CFG::OUT_CH], const w_t wf[g::FOLD][g::LANES],
             const acc_t bf[g::PF][CFG::PE], acc_t acc[CFG::PE]) {
        SML_PRAGMA(HLS INLINE)
        if (f == 0) pf = kf = 0;
        for (int pp = 0; pp < CFG::PE; pp++) {
            SML_PRAGMA(HLS UNROLL)
            const int c = pf * CFG::PE + pp;
            const acc_t a0 = kf == 0 ? bf[pf][pp] : acc[pp];
            typename accum<CFG>::part_t s = 0;  // this fold step's products (accumulate.h)
            for (int kk = 0; kk < CFG::KP; kk++) {
                SML_PRAGMA(HLS UNROLL)
                s += mul<CFG>(win[kf * CFG::KP + kk][c], wf[f][pp * CFG::KP + kk]);
            }
            const acc_t a = accum<CFG>::add(a0, s);  // wrap or saturate at ACC_BITS
            acc[pp] = a;
            if (kf == g::KF - 1) res[c] = requantize<CFG>(a);
        }
        if (++kf == g::KF) {
            kf = 0;
            pf++;
        }
    }
};

template <class CFG>
void dwconv1d(hls::stream<typename io<CFG>::in_vec>& in, hls::stream<typename io<CFG>::out_vec>& out, int batch,
              const typename compute<CFG>::w_t wf[dwconv1d_geom<CFG>::FOLD][dwconv1d_geom<CFG>::LANES],
              const typename compute<CFG>::acc_t bf[dwconv1d_geom<CFG>::PF][CFG::PE]) {
    SML_PRAGMA(HLS ARRAY_PARTITION variable=wf complete dim=2)
    SML_PRAGMA(HLS ARRAY_PARTITION variable=bf complete dim=2)
    typename compute<CFG>::acc_t acc[CFG::PE];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=acc complete dim=1)
    typename io<CFG>::out_t res[CFG::OUT_CH];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=res complete dim=1)
    dwconv1d_step<CFG> step;
    window_loop<CFG, dwconv1d_geom<CFG>::FOLD>(in, out, batch, step, res, wf, bf, acc);
}

}  // namespace sml

#endif
