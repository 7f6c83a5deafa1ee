// sustainml DNNU library: the multiplier of compute stages, bound to DSP or LUT fabric.
//
// mul<CFG>(x, w) is the exact product x*w (prod_t: IN_BITS + W_BITS + 1 bits, so an unsigned
// input times a signed weight never overflows). CFG::MUL_DSP states where Vitis HLS must place
// it: true -> BIND_OP impl=dsp (a DSP48), false -> impl=fabric (LUTs). The generator sets
// MUL_DSP from the cost model's rule (nas/costmodel.py `multiplier_on_dsp`), so the resource
// estimate and the synthesized design agree: a weight that is a constant (a fully folded-out
// weight bank of one word) or a narrow product goes to LUTs, a wide variable one to a DSP.
// Pragmas (Vitis HLS): BIND_OP variable=p op=mul impl=dsp|fabric; INLINE.
#ifndef SUSTAINML_MULTIPLY_H
#define SUSTAINML_MULTIPLY_H

#include "types.h"

namespace sml {

template <bool DSP> struct mul_bind;

template <> struct mul_bind<true> {
    template <typename P, typename X, typename W> static P run(const X& x, const W& w) {
        SML_PRAGMA(HLS INLINE)
        const P p = x * w;
        SML_PRAGMA(HLS BIND_OP variable=p op=mul impl=dsp)
        return p;
    }
};

template <> struct mul_bind<false> {
    template <typename P, typename X, typename W> static P run(const X& x, const W& w) {
        SML_PRAGMA(HLS INLINE)
        const P p = x * w;
        SML_PRAGMA(HLS BIND_OP variable=p op=mul impl=fabric)
        return p;
    }
};

// x * w of a compute stage, on the multiplier resource CFG::MUL_DSP names.
template <class CFG, typename X>
typename compute<CFG>::prod_t mul(const X& x, const typename compute<CFG>::w_t& w) {
    SML_PRAGMA(HLS INLINE)
    return mul_bind<CFG::MUL_DSP>::template run<typename compute<CFG>::prod_t>(x, w);
}

}  // namespace sml

#endif
