// sustainml DNNU library: C-simulation helpers (host only, never synthesized).
//
// Move int64 arrays in and out of layer streams so a single module can be driven from Python
// (sustainml.host.hlsgen.csim). Layout: (batch, len, channels) row-major.
#ifndef SUSTAINML_IO_TESTBENCH_H
#define SUSTAINML_IO_TESTBENCH_H

#ifndef __SYNTHESIS__
#include "../types.h"

namespace sml {

template <typename V>
void feed(const long long* x, long beats, hls::stream<V>& s) {
    for (long i = 0; i < beats; i++) {
        V beat;
        for (int c = 0; c < V::size; c++) beat.d[c] = x[i * V::size + c];
        s.write(beat);
    }
}

// Drain exactly `beats` beats; returns the number of beats that were missing (0 = all there).
template <typename V>
long drain(hls::stream<V>& s, long long* y, long beats) {
    long missing = 0;
    for (long i = 0; i < beats; i++) {
        if (s.empty()) {
            missing++;
            continue;
        }
        const V beat = s.read();
        for (int c = 0; c < V::size; c++) y[i * V::size + c] = beat.d[c].to_int64();
    }
    return missing;
}

}  // namespace sml

#endif  // __SYNTHESIS__
#endif
