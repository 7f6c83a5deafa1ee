// sustainml DNNU library: sliding window over time (Conv1D, DepthwiseConv1D, pooling).
//
// A module keeps the last KERNEL beats of its zero-padded input in taps[KERNEL][IN_CH]
// (taps[0] oldest), partitioned complete so every tap is read in parallel. Streaming position p
// runs over the padded length IN_LEN + 2*PADDING; padding positions shift in zeros, the others
// read one beat. window_clock says when an output is due: once KERNEL beats are in, then every
// STRIDE positions, OUT_LEN times per sample.
// Pragmas: UNROLL on the shift and unpack loops (the caller partitions taps complete).
#ifndef SUSTAINML_LAYERS_WINDOW_H
#define SUSTAINML_LAYERS_WINDOW_H

#include "../types.h"

namespace sml {

template <class CFG> struct window_clock {
    int phase;  // positions since the last output
    int made;   // outputs made in this sample

    void reset() {
        phase = CFG::STRIDE - CFG::KERNEL;  // first output when KERNEL beats are in
        made = 0;
    }

    // Count one position; true when an output is due.
    bool tick() {
        SML_PRAGMA(HLS INLINE)
        const bool due = ++phase == CFG::STRIDE;
        if (due) phase = 0;
        if (due && made < CFG::OUT_LEN) {
            made++;
            return true;
        }
        return false;
    }
};

// Shift padded position p of the current sample into the window.
template <class CFG, typename T, typename V>
void shift_in(hls::stream<V>& in, T taps[CFG::KERNEL][CFG::IN_CH], int p) {
    SML_PRAGMA(HLS INLINE)
    const bool pad = p < CFG::PADDING || p >= CFG::PADDING + CFG::IN_LEN;
    const V beat = pad ? zeros<V>() : in.read();
    for (int k = 0; k < CFG::KERNEL - 1; k++) {
        SML_PRAGMA(HLS UNROLL)
        for (int c = 0; c < CFG::IN_CH; c++) {
            SML_PRAGMA(HLS UNROLL)
            taps[k][c] = taps[k + 1][c];
        }
    }
    for (int c = 0; c < CFG::IN_CH; c++) {
        SML_PRAGMA(HLS UNROLL)
        taps[CFG::KERNEL - 1][c] = beat.d[c];
    }
}

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

}  // namespace sml

#endif
