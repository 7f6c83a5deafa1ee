// sustainml DNNU library: pooling over time (stage kinds "maxpool1d", "avgpool1d", "gap1d").
//
//   maxpool1d: out[t][c] = max_{k<KERNEL} in[t*STRIDE + k][c]
//   avgpool1d: out[t][c] = average(sum_{k<KERNEL} in[t*STRIDE + k][c])
//   gap1d:     out[0][c] = average(sum_{t<IN_LEN} in[t][c])
// with average(s) = clip(round_half_even(s * AVG_MULT / 2**16)), AVG_MULT = round(2**16/window)
// (requant.h). No padding; activations keep their width and signedness.
// Unrolling: PE channels per cycle (SIMD and KP must be 1; the KERNEL taps of a window are
// always combined in one cycle); FOLD = IN_CH/PE steps per output. The result does not
// depend on PE.
// Schedules: max/avg pooling run window_loop (window.h), one iteration per channel fold. gap1d
// runs one pipelined loop over the batch that adds each beat into running sums (one beat per
// iteration) while it averages the previous sample's sums, PE channels per iteration, from a
// second set of sums: max(IN_LEN, FOLD) iterations per sample, IN_LEN more once per call.
// Pragmas (Vitis HLS): the loop pragmas of window.h; for gap1d PIPELINE II=1 and
// LOOP_TRIPCOUNT on its loop; ARRAY_PARTITION complete on sums and output beats; UNROLL on
// the lane loops.
#ifndef SUSTAINML_LAYERS_POOL1D_H
#define SUSTAINML_LAYERS_POOL1D_H

#include "../requant.h"
#include "window.h"

namespace sml {

// Window sum width: input width + log2(window) + a sign bit for unsigned inputs.
template <class CFG, int WINDOW> struct pool_sum {
    typedef ap_int<CFG::IN_BITS + clog2<WINDOW>::value + 1> type;
};

// One channel fold of max (MAX) or average pooling on a window.
template <class CFG, bool MAX> struct pool1d_step {
    typedef typename io<CFG>::in_t in_t;
    typedef typename io<CFG>::out_t out_t;
    typedef typename pool_sum<CFG, CFG::KERNEL>::type sum_t;
    int pf;

    void run(const in_t win[CFG::KERNEL][CFG::IN_CH], int f, out_t res[CFG::OUT_CH]) {
        SML_PRAGMA(HLS INLINE)
        if (f == 0) pf = 0;
        for (int pp = 0; pp < CFG::PE; pp++) {
            SML_PRAGMA(HLS UNROLL)
            const int c = pf * CFG::PE + pp;
            if (MAX) {
                in_t m = win[0][c];
                for (int k = 1; k < CFG::KERNEL; k++) m = win[k][c] > m ? win[k][c] : m;
                res[c] = m;
            } else {
                sum_t s = 0;
                for (int k = 0; k < CFG::KERNEL; k++) s += win[k][c];
                res[c] = average<CFG>(s);
            }
        }
        pf++;
    }
};

// Sliding-window pooling; MAX selects maxpool1d, otherwise avgpool1d.
template <class CFG, bool MAX>
void pool1d(hls::stream<typename io<CFG>::in_vec>& in, hls::stream<typename io<CFG>::out_vec>& out, int batch) {
    SML_PRAGMA(HLS INLINE)
    typename io<CFG>::out_t res[CFG::OUT_CH];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=res complete dim=1)
    pool1d_step<CFG, MAX> step;
    window_loop<CFG, CFG::IN_CH / CFG::PE>(in, out, batch, step, res);
}

template <class CFG>
void maxpool1d(hls::stream<typename io<CFG>::in_vec>& in, hls::stream<typename io<CFG>::out_vec>& out, int batch) {
    pool1d<CFG, true>(in, out, batch);
}

template <class CFG>
void avgpool1d(hls::stream<typename io<CFG>::in_vec>& in, hls::stream<typename io<CFG>::out_vec>& out, int batch) {
    pool1d<CFG, false>(in, out, batch);
}

// Global average pooling (see the header comment for the schedule).
template <class CFG>
void gap1d(hls::stream<typename io<CFG>::in_vec>& in, hls::stream<typename io<CFG>::out_vec>& out, int batch) {
    typedef typename io<CFG>::in_vec in_vec;
    typedef typename io<CFG>::out_t out_t;
    typedef typename pool_sum<CFG, CFG::IN_LEN>::type sum_t;
    const int FOLD = CFG::IN_CH / CFG::PE, L = CFG::IN_LEN;
    enum { ITERS = L > FOLD ? L : FOLD };  // LOOP_TRIPCOUNT

    sum_t sums[2][CFG::IN_CH];  // sums[sample % 2]: one adds, the other is averaged
    SML_PRAGMA(HLS ARRAY_PARTITION variable=sums complete dim=0)
    out_t res[CFG::OUT_CH];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=res complete dim=1)

    int rn = 0, t = 0;  // sample being read, beats of it read
    int fn = 0, f = 0;  // sample being averaged, channel fold
    while (fn < batch) {
        SML_PRAGMA(HLS PIPELINE II=1)
        SML_PRAGMA(HLS LOOP_TRIPCOUNT min=ITERS max=ITERS)
        SML_COUNT_ITERATION();
        const bool avg = rn > fn;            // sample fn fully added
        const bool rd = rn < batch && rn < fn + 2;  // sample fn + 2 would add into fn's sums
        if (avg) {
            for (int pp = 0; pp < CFG::PE; pp++) {
                SML_PRAGMA(HLS UNROLL)
                const int c = f * CFG::PE + pp;
                res[c] = average<CFG>(sums[fn & 1][c]);
            }
        }
        if (rd) {
            const in_vec beat = in.read();
            for (int c = 0; c < CFG::IN_CH; c++) {
                SML_PRAGMA(HLS UNROLL)
                sums[rn & 1][c] = (t == 0 ? sum_t(0) : sums[rn & 1][c]) + beat.d[c];
            }
            if (++t == L) {
                t = 0;
                rn++;
            }
        }
        if (avg && ++f == FOLD) {
            write_beat(out, res);
            f = 0;
            fn++;
        }
    }
}

}  // namespace sml

#endif
