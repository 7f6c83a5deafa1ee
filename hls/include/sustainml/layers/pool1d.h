// sustainml DNNU library: pooling over time (stage kinds "maxpool1d", "avgpool1d", "gap1d").
//
//   maxpool1d: out[t][c] = max_{k<KERNEL} in[t*STRIDE + k][c]
//   avgpool1d: out[t][c] = average(sum_{k<KERNEL} in[t*STRIDE + k][c])
//   gap1d:     out[0][c] = average(sum_{t<IN_LEN} in[t][c])
// with average(s) = clip(round_half_even(s * AVG_MULT / 2**16)), AVG_MULT = round(2**16/window)
// (requant.h). No padding; activations keep their width and signedness.
// Unrolling: PE channels per cycle (SIMD and KP must be 1; the KERNEL taps of a window are
// always combined in one cycle). The result does not depend on PE.
// Pragmas (Vitis HLS): PIPELINE II=1 on the channel-fold loops (and the gap1d accumulate
// loop, one beat per cycle); line buffer, running sums and output beat partitioned complete.
#ifndef SUSTAINML_LAYERS_POOL1D_H
#define SUSTAINML_LAYERS_POOL1D_H

#include "../requant.h"
#include "window.h"

namespace sml {

// Window sum width: input width + log2(window) + a sign bit for unsigned inputs.
template <class CFG, int WINDOW> struct pool_sum {
    typedef ap_int<CFG::IN_BITS + clog2<WINDOW>::value + 1> type;
};

// Sliding-window pooling; MAX selects maxpool1d, otherwise avgpool1d.
template <class CFG, bool MAX>
void pool1d(hls::stream<typename io<CFG>::in_vec>& in, hls::stream<typename io<CFG>::out_vec>& out, int batch) {
    typedef typename io<CFG>::in_t in_t;
    typedef typename io<CFG>::out_t out_t;
    typedef typename pool_sum<CFG, CFG::KERNEL>::type sum_t;
    const int PF = CFG::IN_CH / CFG::PE;

    in_t taps[CFG::KERNEL][CFG::IN_CH];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=taps complete dim=0)
    out_t res[CFG::OUT_CH];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=res complete dim=1)
    window_clock<CFG> clock;

    for (int n = 0; n < batch; n++) {
        clock.reset();
        for (int p = 0; p < CFG::IN_LEN; p++) {
            shift_in<CFG>(in, taps, p);
            if (!clock.tick()) continue;
            for (int pf = 0; pf < PF; pf++) {
                SML_PRAGMA(HLS PIPELINE II=1)
                for (int pp = 0; pp < CFG::PE; pp++) {
                    const int c = pf * CFG::PE + pp;
                    if (MAX) {
                        in_t m = taps[0][c];
                        for (int k = 1; k < CFG::KERNEL; k++) m = taps[k][c] > m ? taps[k][c] : m;
                        res[c] = m;
                    } else {
                        sum_t s = 0;
                        for (int k = 0; k < CFG::KERNEL; k++) s += taps[k][c];
                        res[c] = average<CFG>(s);
                    }
                }
            }
            write_beat(out, res);
        }
    }
}

template <class CFG>
void maxpool1d(hls::stream<typename io<CFG>::in_vec>& in, hls::stream<typename io<CFG>::out_vec>& out, int batch) {
    pool1d<CFG, true>(in, out, batch);
}

template <class CFG>
void avgpool1d(hls::stream<typename io<CFG>::in_vec>& in, hls::stream<typename io<CFG>::out_vec>& out, int batch) {
    pool1d<CFG, false>(in, out, batch);
}

// Global average pooling: one running sum per channel, one output beat per sample.
template <class CFG>
void gap1d(hls::stream<typename io<CFG>::in_vec>& in, hls::stream<typename io<CFG>::out_vec>& out, int batch) {
    typedef typename io<CFG>::in_vec in_vec;
    typedef typename io<CFG>::out_t out_t;
    typedef typename pool_sum<CFG, CFG::IN_LEN>::type sum_t;
    const int PF = CFG::IN_CH / CFG::PE;

    sum_t sums[CFG::IN_CH];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=sums complete dim=1)
    out_t res[CFG::OUT_CH];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=res complete dim=1)

    for (int n = 0; n < batch; n++) {
        for (int t = 0; t < CFG::IN_LEN; t++) {
            SML_PRAGMA(HLS PIPELINE II=1)
            const in_vec beat = in.read();
            for (int c = 0; c < CFG::IN_CH; c++) sums[c] = (t == 0 ? sum_t(0) : sums[c]) + beat.d[c];
        }
        for (int pf = 0; pf < PF; pf++) {
            SML_PRAGMA(HLS PIPELINE II=1)
            for (int pp = 0; pp < CFG::PE; pp++) {
                const int c = pf * CFG::PE + pp;
                res[c] = average<CFG>(sums[c]);
            }
        }
        write_beat(out, res);
    }
}

}  // namespace sml

#endif
