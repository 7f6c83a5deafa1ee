// sustainml DNNU library: DMA between external memory (m_axi) and the layer streams.
//
// The top function's pointers are plain integer containers (int8_t / int16_t / int32_t, see
// docs/CONTRACTS.md): the input batch is (batch, LEN, CH) row-major, the output (batch, CH)
// logits. Each mover is one flat, sequential loop pipelined at II=1, the access pattern Vitis
// HLS turns into AXI bursts (the burst length is set on the top's INTERFACE pragma).
// Values are converted between the container and the ap_int/ap_uint activation type by
// plain assignment: inputs must already lie in the input range (the host quantizes and
// clips them); outputs always fit their container.
// Pragmas (Vitis HLS): PIPELINE II=1 on the copy loops; LOOP_TRIPCOUNT (per sample: the
// batch is a run-time value) so csynth reports cycles instead of `undef`.
#ifndef SUSTAINML_IO_DMA_H
#define SUSTAINML_IO_DMA_H

#include "../types.h"

namespace sml {

// Read `batch` samples of LEN beats from memory into a stream of beats.
template <int LEN, typename T, typename V>
void dma_read(const T* mem, hls::stream<V>& out, int batch) {
    enum { ITERS = LEN * V::size };  // LOOP_TRIPCOUNT, per sample
    V beat;
    int c = 0;
    for (int i = 0; i < batch * LEN * V::size; i++) {
        SML_PRAGMA(HLS PIPELINE II=1)
        SML_PRAGMA(HLS LOOP_TRIPCOUNT min=ITERS max=ITERS)
        beat.d[c] = mem[i];
        if (++c == V::size) {
            out.write(beat);
            c = 0;
        }
    }
}

// Write `batch` samples of LEN beats from a stream to memory (the output stage: logits).
template <int LEN, typename T, typename V>
void dma_write(hls::stream<V>& in, T* mem, int batch) {
    enum { ITERS = LEN * V::size };  // LOOP_TRIPCOUNT, per sample
    V beat;
    int c = 0;
    for (int i = 0; i < batch * LEN * V::size; i++) {
        SML_PRAGMA(HLS PIPELINE II=1)
        SML_PRAGMA(HLS LOOP_TRIPCOUNT min=ITERS max=ITERS)
        if (c == 0) beat = in.read();
        mem[i] = beat.d[c].to_int64();
        if (++c == V::size) c = 0;
    }
}

}  // namespace sml

#endif
