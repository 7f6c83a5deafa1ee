// sustainml DNNU library: requantization (the golden contract of nas/quantized.py).
//
//   y = round_half_even(acc / 2**SHIFT)   (SHIFT > 0; SHIFT <= 0 is an exact left shift)
//   y = max(y, 0)                          if RELU
//   y = clip(y, out_min, out_max)          OUT_BITS, signed unless the stage ends in ReLU
//
// Average pooling uses the same rounding: y = clip(round_half_even(sum * AVG_MULT / 2**16)).
// Pragmas (Vitis HLS): INLINE on every function -- they are combinational logic inside the
// caller's pipelined fold loop.
#ifndef SUSTAINML_REQUANT_H
#define SUSTAINML_REQUANT_H

#include "types.h"

namespace sml {

// round_half_even(v / 2**SHIFT) of an ap_int<W>; `type` holds the exact result.
template <int W, int SHIFT, bool RIGHT = (SHIFT > 0)> struct shift_round;

template <int W, int SHIFT> struct shift_round<W, SHIFT, true> {
    static const int VW = imax<W, SHIFT>::value + 1;       // v sign-extended so SHIFT may exceed W
    static const int QW = imax<W - SHIFT + 1, 2>::value;   // quotient + room for the round-up
    typedef ap_int<QW> type;
    static type run(const ap_int<W>& acc) {
        SML_PRAGMA(HLS INLINE)
        const ap_int<VW> v = acc;
        const ap_int<QW> q = v >> SHIFT;                   // arithmetic shift = floor division
        const ap_uint<SHIFT> r = v(SHIFT - 1, 0);          // remainder in [0, 2**SHIFT)
        const ap_uint<SHIFT> half = ap_uint<SHIFT>(1) << (SHIFT - 1);
        const bool up = r > half || (r == half && q[0]);   // ties to even
        return q + ap_int<2>(up ? 1 : 0);
    }
};

template <int W, int SHIFT> struct shift_round<W, SHIFT, false> {
    typedef ap_int<W - SHIFT> type;                         // exact left shift by -SHIFT
    static type run(const ap_int<W>& acc) {
        SML_PRAGMA(HLS INLINE)
        return type(acc) << (-SHIFT);
    }
};

// Saturate an exact integer to the activation type (ReLU first when fused).
template <int BITS, bool SIGNED, bool RELU, int W>
typename act<BITS, SIGNED>::type clip(const ap_int<W>& y) {
    SML_PRAGMA(HLS INLINE)
    const long long lo = SIGNED ? -(1LL << (BITS - 1)) : 0;
    const long long hi = SIGNED ? (1LL << (BITS - 1)) - 1 : (1LL << BITS) - 1;
    ap_int<W> v = y;
    if (RELU && v < 0) v = 0;
    if (v < lo) return typename act<BITS, SIGNED>::type(lo);
    if (v > hi) return typename act<BITS, SIGNED>::type(hi);
    return typename act<BITS, SIGNED>::type(v);
}

// Requantize a compute stage's accumulator to its output activation.
template <class CFG>
typename io<CFG>::out_t requantize(const typename compute<CFG>::acc_t& acc) {
    SML_PRAGMA(HLS INLINE)
    typedef shift_round<CFG::ACC_BITS, CFG::SHIFT> sr;
    return clip<CFG::OUT_BITS, CFG::OUT_SIGNED, CFG::RELU>(sr::run(acc));
}

// Average of a window sum: round_half_even(sum * AVG_MULT / 2**16), clipped.
static const int AVG_SHIFT = 16;

template <class CFG, int SW>
typename io<CFG>::out_t average(const ap_int<SW>& sum) {
    SML_PRAGMA(HLS INLINE)
    const int PW = SW + 18;  // AVG_MULT <= 2**16 needs 17 unsigned bits
    const ap_int<PW> p = ap_int<PW>(sum) * ap_int<18>(CFG::AVG_MULT);
    return clip<CFG::OUT_BITS, CFG::OUT_SIGNED, false>(shift_round<PW, AVG_SHIFT>::run(p));
}

}  // namespace sml

#endif
