// sustainml DNNU library: the flattened, pipelined loop of windowed modules (Conv1D,
// DepthwiseConv1D, max/avg pooling), a sliding-window generator fused with the compute.
//
// One loop per call, pipelined at II=1, runs over the whole batch. Each iteration may
//   * read one input beat into the line buffer buf[DEPTH][IN_CH] (buf[DEPTH-1] newest), and
//   * run one fold step of the current output position on its window win[KERNEL][IN_CH];
//     the window is snapshot from the line buffer (and this iteration's beat) at fold step 0,
//     with padding positions read as zeros, so reading runs on while the output folds.
// Reading stops only where the next output's window would leave the line buffer (padding is
// never stored, so only the window's input beats count): the buffer
// holds DEPTH = 2*KERNEL beats, enough for reads to run ahead across strides and sample
// boundaries. So the loop makes no per-position or per-sample bubble: in steady state a
// sample takes ITERS = max(IN_LEN, OUT_LEN*FOLD) iterations -- one beat per iteration when a
// stage is fully unrolled (FOLD=1, stride 1), exactly its fold count per output when it is
// folded -- plus, once per call, the fill of the first window (at most KERNEL iterations).
// This holds for PADDING < KERNEL and STRIDE <= KERNEL (Keras "same"/"valid" layers); wider
// padding or strides stay bit-exact and may cost an iteration per sample.
// Counters: `ahead` = beats read, counted from the first beat of the output's sample (it may
// exceed IN_LEN when reads run into the next sample); `left` = beats still to read.
// The window select buf[DEPTH - ahead + j] is a (DEPTH+1):1 multiplexer per tap and channel.
// Pragmas: PIPELINE II=1 and LOOP_TRIPCOUNT (per sample: the batch is a run-time value) on the
// loop; ARRAY_PARTITION complete on buffer, window and output beat; UNROLL on beat-wide
// copies; INLINE helpers.
#ifndef SUSTAINML_LAYERS_WINDOW_H
#define SUSTAINML_LAYERS_WINDOW_H

#include "../types.h"

namespace sml {

// Copy a fully partitioned array into a stream beat and write it.
template <typename V, typename T>
void write_beat(hls::stream<V>& out, const T res[V::size]) {
    SML_PRAGMA(HLS INLINE)
    V o;
    for (int c = 0; c < V::size; c++) {
        SML_PRAGMA(HLS UNROLL)
        o.d[c] = res[c];
    }
    out.write(o);
}

// Compile-time facts of a windowed module with FOLD fold steps per output position.
template <class CFG, int FOLD> struct window_plan {
    static const int K = CFG::KERNEL, S = CFG::STRIDE, P = CFG::PADDING, L = CFG::IN_LEN;
    static const int DEPTH = 2 * K;
    static const int ITERS = L > CFG::OUT_LEN * FOLD ? L : CFG::OUT_LEN * FOLD;

    // Beats of its sample output t needs before its window is complete.
    static int need(int t) {
        SML_PRAGMA(HLS INLINE)
        const int r = t * S + K - P;
        return r < 0 ? 0 : r > L ? L : r;
    }
    // Index, within its sample, of the first (possibly padding) position of output t's window.
    static int first(int t) {
        SML_PRAGMA(HLS INLINE)
        return t * S - P;
    }
    // The first input beat of output t's window that the line buffer must still hold.
    static int kept(int t) {
        SML_PRAGMA(HLS INLINE)
        const int j = first(t);
        return j < 0 ? 0 : j > L ? L : j;
    }
};

// Run a windowed module over `batch` samples. STEP computes: step.run(win, f, res, args...) does
// fold step f (0..FOLD-1) of one output position and fills res; the beat is written after the last.
template <class CFG, int FOLD, class STEP, class... A>
void window_loop(hls::stream<typename io<CFG>::in_vec>& in, hls::stream<typename io<CFG>::out_vec>& out, int batch,
                 STEP& step, typename io<CFG>::out_t res[CFG::OUT_CH], A&... args) {
    SML_PRAGMA(HLS INLINE)
    typedef window_plan<CFG, FOLD> plan;
    typedef typename io<CFG>::in_t in_t;
    typedef typename io<CFG>::in_vec in_vec;
    const int K = CFG::KERNEL, D = plan::DEPTH, C = CFG::IN_CH;
    enum { ITERS = plan::ITERS };  // LOOP_TRIPCOUNT (an enum: unused in C simulation)

    in_t buf[D][C];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=buf complete dim=0)
    in_t win[K][C];
    SML_PRAGMA(HLS ARRAY_PARTITION variable=win complete dim=0)

    int ahead = 0, t = 0, f = 0, n = 0;
    long left = static_cast<long>(batch) * CFG::IN_LEN;
    while (n < batch || left > 0) {  // a stride may leave beats after the last window: read them
        SML_PRAGMA(HLS PIPELINE II=1)
        SML_PRAGMA(HLS LOOP_TRIPCOUNT min=ITERS max=ITERS)
        SML_COUNT_ITERATION();
        const bool last_t = t == CFG::OUT_LEN - 1;
        const int next_kept = last_t ? CFG::IN_LEN : plan::kept(t + 1);  // next sample: its first beat
        const bool ready = f == 0 && ahead >= plan::need(t);
        const int limit = (f > 0 || ready ? next_kept : plan::kept(t)) + D;
        const bool rd = left > 0 && (ahead < limit || n == batch);
        in_vec beat;
        if (rd) beat = in.read();
        const bool go = n < batch && (f > 0 || ready || (rd && ahead + 1 >= plan::need(t)));
        if (f == 0 && go) {  // snapshot the window of output t (buffer before this read, plus the beat)
            for (int k = 0; k < K; k++) {
                SML_PRAGMA(HLS UNROLL)
                const int j = plan::first(t) + k;        // position within the sample
                const int at = D - ahead + j;            // where it sits: buf[at], or the beat when at == D
                const bool pad = j < 0 || j >= CFG::IN_LEN;
                const int idx = at < 0 ? 0 : at >= D ? D - 1 : at;
                for (int c = 0; c < C; c++) {
                    SML_PRAGMA(HLS UNROLL)
                    win[k][c] = pad ? in_t(0) : at == D ? beat.d[c] : buf[idx][c];
                }
            }
        }
        if (rd) {
            for (int k = 0; k < D - 1; k++) {
                SML_PRAGMA(HLS UNROLL)
                for (int c = 0; c < C; c++) {
                    SML_PRAGMA(HLS UNROLL)
                    buf[k][c] = buf[k + 1][c];
                }
            }
            for (int c = 0; c < C; c++) {
                SML_PRAGMA(HLS UNROLL)
                buf[D - 1][c] = beat.d[c];
            }
            ahead++;
            left--;
        }
        if (go) {
            step.run(win, f, res, args...);
            if (f == FOLD - 1) {
                write_beat(out, res);
                f = 0;
                if (last_t) {
                    t = 0;
                    n++;
                    ahead -= CFG::IN_LEN;
                } else {
                    t++;
                }
            } else {
                f++;
            }
        }
    }
}

}  // namespace sml

#endif
