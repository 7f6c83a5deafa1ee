// sustainml DNNU library: accumulator overflow (the contract of nas/quantized.py, "Accumulator
// overflow"). A compute stage forms, per fold step, the exact sum p of its SIMD*KP products and
// adds it to the output channel's accumulator (started at the bias) with accum<CFG>::add:
//
//   ACC_SAT false (wrap):      acc = (acc + p) mod 2**ACC_BITS, two's complement. Modular, so the
//                              result never depends on the summation order or on PE/SIMD/KP; the
//                              partial sum may itself wrap at ACC_BITS (part_t is acc_t).
//   ACC_SAT true  (saturate):  acc = clip(acc + p, -2**(ACC_BITS-1), 2**(ACC_BITS-1) - 1) after
//                              every fold step; p is exact (part_t holds SIMD*KP full products).
//                              The result depends on SIMD/KP and the fold order (never on PE); the
//                              golden model (nas/golden.py fold_steps) follows the same order.
// The bias (the accumulator's start) is emitted already wrapped or saturated to ACC_BITS.
// Pragmas (Vitis HLS): INLINE -- combinational logic inside the caller's pipelined fold loop.
#ifndef SUSTAINML_ACCUMULATE_H
#define SUSTAINML_ACCUMULATE_H

#include "types.h"

namespace sml {

template <class CFG> struct accum {
    typedef typename compute<CFG>::acc_t acc_t;
    // Exact width of one fold step's sum: a product of IN_BITS x W_BITS operands needs
    // IN_BITS + W_BITS signed bits (unsigned inputs included), plus clog2(terms).
    static const int PART_BITS = CFG::IN_BITS + CFG::W_BITS + clog2<CFG::SIMD * CFG::KP>::value;
    typedef ap_int<CFG::ACC_SAT ? PART_BITS : CFG::ACC_BITS> part_t;

    // acc + p at ACC_BITS: wrapped (ACC_SAT false) or saturated (ACC_SAT true).
    static acc_t add(const acc_t& a, const part_t& p) {
        SML_PRAGMA(HLS INLINE)
        if (!CFG::ACC_SAT) return acc_t(a + p);
        typedef ap_int<imax<CFG::ACC_BITS, PART_BITS>::value + 1> sum_t;
        const sum_t s = sum_t(a) + sum_t(p);
        acc_t lo = 0;
        lo[CFG::ACC_BITS - 1] = 1;  // -2**(ACC_BITS-1)
        const acc_t hi = ~lo;       //  2**(ACC_BITS-1) - 1
        if (s > sum_t(hi)) return hi;
        if (s < sum_t(lo)) return lo;
        return acc_t(s);
    }
};

}  // namespace sml

#endif
