// sustainml DNNU library: data types, stage configuration convention, pragma macro.
//
// Every module is a function template over a configuration struct CFG whose members are
// the Stage fields of nas/quantized.py (emitted into config.h by sustainml.host.hlsgen):
//
//   IN_LEN, IN_CH, IN_BITS, IN_SIGNED      input feature map (time steps, channels, width)
//   OUT_LEN, OUT_CH, OUT_BITS, OUT_SIGNED  output feature map
//   KERNEL, STRIDE, PADDING                sliding window (conv / pooling)
//   W_BITS, SHIFT, ACC_BITS, RELU          compute stages: weights, requantization, accumulator
//   ACC_SAT                                accumulator overflow: saturate (true) or wrap (accumulate.h)
//   PE, SIMD, KP                           unrolling: output channels, input channels, kernel taps
//   AVG_MULT                               average pooling: round(2**16 / window)
//   MUL_DSP                                compute stages: multipliers on DSPs (else LUT fabric)
//
// Feature maps stream one time step per beat: vec<T, CHANNELS>, channels fully partitioned.
//
// Pragmas are written SML_PRAGMA(HLS PIPELINE II=1): the operand is stringized as written
// (one macro level, so no token in it is macro-expanded -- ap_common.h defines INLINE, for
// one) into `#pragma HLS PIPELINE II=1` via C99 _Pragma, which Vitis HLS accepts (UG1399,
// "Using #define with Pragma Directives"). It expands only when Vitis HLS synthesizes
// (__SYNTHESIS__) or SML_EMIT_PRAGMAS is defined (to inspect the pragmas with g++ -E); in C
// simulation it vanishes, so the library builds with g++ -Wall -Wextra free of
// unknown-pragma warnings. Pragma operands may name template constants (factor=CFG::PE),
// which Vitis HLS evaluates per instantiation.
#ifndef SUSTAINML_TYPES_H
#define SUSTAINML_TYPES_H

#include <ap_int.h>
#include <hls_stream.h>

#if defined(__SYNTHESIS__) || defined(SML_EMIT_PRAGMAS)
#define SML_PRAGMA(x) _Pragma(#x)
#else
#define SML_PRAGMA(x)
#endif

// SML_COUNT_ITERATION() at the top of a module's pipelined loop counts its iterations in C
// simulation when SML_COUNT_ITERATIONS is defined (the single-module bench does, so a test can
// check iterations per sample against the fold count); otherwise, and in synthesis, nothing.
#if defined(SML_COUNT_ITERATIONS) && !defined(__SYNTHESIS__)
namespace sml {
inline long& iteration_counter() {
    static long n = 0;
    return n;
}
}  // namespace sml
#define SML_COUNT_ITERATION() (++sml::iteration_counter())
#else
#define SML_COUNT_ITERATION()
#endif

namespace sml {

// Activation type of a feature map: ap_int<BITS> when signed, ap_uint<BITS> after ReLU.
template <int BITS, bool SIGNED> struct act { typedef ap_int<BITS> type; };
template <int BITS> struct act<BITS, false> { typedef ap_uint<BITS> type; };

// One stream beat: the N channels of one time step.
template <typename T, int N> struct vec {
    typedef T value_type;
    static const int size = N;
    T d[N];
};

// ceil(log2(N)) for N >= 1, at compile time.
template <unsigned N> struct clog2 { enum { value = 1 + clog2<(N + 1) / 2>::value }; };
template <> struct clog2<1> { enum { value = 0 }; };

template <int A, int B> struct imax { enum { value = A > B ? A : B }; };

// Types every stage derives from its CFG.
template <class CFG> struct io {
    typedef typename act<CFG::IN_BITS, CFG::IN_SIGNED>::type in_t;
    typedef typename act<CFG::OUT_BITS, CFG::OUT_SIGNED>::type out_t;
    typedef vec<in_t, CFG::IN_CH> in_vec;
    typedef vec<out_t, CFG::OUT_CH> out_vec;
};

// Types of compute stages (weights, biases, accumulators).
template <class CFG> struct compute {
    typedef ap_int<CFG::W_BITS> w_t;
    typedef ap_int<CFG::ACC_BITS> acc_t;  // also the bias type (bias is the accumulator's start)
    typedef ap_int<CFG::IN_BITS + CFG::W_BITS + 1> prod_t;  // exact product, signed or unsigned input
    static const int PF = CFG::OUT_CH / CFG::PE;  // output-channel (neuron) folds
};

// Smallest divisor of N that is >= M (N when none is smaller), at compile time.
template <int N, int M, int D = (M < 1 ? 1 : M), bool OK = (D >= N || N % D == 0)> struct divisor_at_least {
    enum { value = divisor_at_least<N, M, D + 1>::value };
};
template <int N, int M, int D> struct divisor_at_least<N, M, D, true> { enum { value = D < N ? D : N }; };

// A beat of zeros (padding).
template <typename V> inline V zeros() {
    V v;
    for (int i = 0; i < V::size; i++) {
        SML_PRAGMA(HLS UNROLL)
        v.d[i] = 0;
    }
    return v;
}

}  // namespace sml

#endif
