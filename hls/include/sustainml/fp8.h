// sustainml FP8 codec with a run-time exponent bias (HALF seed, Section 5).
//
// Format FP8<E, M>: 1 sign, E exponent, M mantissa bits, IEEE-style (top exponent = Inf/NaN),
// exponent bias a run-time register (ap_uint<6>, 0..63) instead of the fixed 2^(E-1)-1:
//
//   e == 0              (-1)^s * 2^(1-bias) * m/2^M            subnormals, +-0
//   0 < e < 2^E-1       (-1)^s * 2^(e-bias) * (1 + m/2^M)
//   e == 2^E-1, m == 0  +-Inf;  m != 0: NaN (encoded 0x7F | sign)
//
// E5M2 (fp8_encode / fp8_decode on floats) is the seed's format. Encoding rounds to nearest, ties to even; with
// `saturate` finite magnitudes beyond the largest finite value become +-max (+-Inf stays
// +-Inf), without it overflow gives +-Inf. FP32 subnormal inputs encode to +-0 (they lie far
// below half the smallest FP8 subnormal for every bias <= 63). Decoding is exact in FP32 for
// every bias 0..63; NaN decodes to the quiet NaN 0x7FC00000 | sign.
// The same definition as nas/fp8.py (bit-exact, checked by tests/test_fp8_hls.py).
//
// All functions are combinational (no loops that are not fully unrolled): inline them in a
// pipelined loop and they take one II=1 slot.
#ifndef SUSTAINML_FP8_H
#define SUSTAINML_FP8_H

#include <ap_int.h>

#if defined(__SYNTHESIS__) || defined(SML_EMIT_PRAGMAS)
#ifndef SML_PRAGMA
#define SML_PRAGMA(x) _Pragma(#x)
#endif
#else
#ifndef SML_PRAGMA
#define SML_PRAGMA(x)
#endif
#endif

namespace sml {

typedef ap_uint<8> fp8_t;        // one FP8 code
typedef ap_uint<6> fp8_bias_t;   // the run-time bias register

template <int E, int M> struct fp8_format {
    static const int TOP = (1 << E) - 1;                 // Inf/NaN exponent field
    static const int INF_MAG = TOP << M;                  // magnitude code of Inf
    static const int MAX_MAG = INF_MAG - 1;               // magnitude code of the largest finite value
    static const int NAN_MAG = 0x7F;
};

// Round-to-nearest-even of sig / 2^shift (sig < 2^24, 1 <= shift).
inline ap_uint<26> fp8_rne_shift(ap_uint<24> sig, int shift) {
    if (shift > 25) return 0;  // sig < 2^24 <= half of 2^shift: rounds to zero
    ap_uint<26> q = sig >> shift;
    ap_uint<26> rem = sig & ((ap_uint<26>(1) << shift) - 1);
    ap_uint<26> half = ap_uint<26>(1) << (shift - 1);
    bool up = rem > half || (rem == half && q[0] == 1);
    return q + (up ? 1 : 0);
}

// FP32 bit pattern -> FP8<E, M> code.
template <int E, int M>
fp8_t fp8_encode_bits(ap_uint<32> f, fp8_bias_t bias, bool saturate = true) {
    typedef fp8_format<E, M> F;
    ap_uint<8> sign = f[31] ? 0x80 : 0x00;
    int exp32 = f(30, 23);
    ap_uint<24> man32 = f(22, 0);
    if (exp32 == 255) return sign | (man32 != 0 ? ap_uint<8>(F::NAN_MAG) : ap_uint<8>(F::INF_MAG));
    if (exp32 == 0) return sign;  // +-0 and FP32 subnormals
    ap_uint<24> sig = man32 | (ap_uint<24>(1) << 23);
    int ef = exp32 - 127 + (int)bias;               // target exponent field (may be <= 0 or >= TOP)
    int shift = (23 - M) + (ef >= 1 ? 0 : 1 - ef);  // subnormals shift further right
    // (ef - 1) << M plus the rounded significand (hidden one included): a mantissa carry
    // walks into the exponent, a subnormal rounding up to 2^M becomes the smallest normal.
    int mag = (ef >= 1 ? (ef - 1) << M : 0) + (int)fp8_rne_shift(sig, shift);
    if (mag >= F::INF_MAG) mag = saturate ? F::MAX_MAG : F::INF_MAG;
    return sign | ap_uint<8>(mag);
}

// FP8<E, M> code -> FP32 bit pattern (exact for every bias 0..63).
template <int E, int M>
ap_uint<32> fp8_decode_bits(fp8_t code, fp8_bias_t bias) {
    typedef fp8_format<E, M> F;
    ap_uint<32> sign = code[7] ? ap_uint<32>(0x80000000u) : ap_uint<32>(0);
    int ef = code(6, M);
    int m = code(M - 1, 0);
    if (ef == F::TOP) return m == 0 ? (sign | ap_uint<32>(0x7F800000u)) : (sign | ap_uint<32>(0x7FC00000u));
    if (ef == 0 && m == 0) return sign;
    int exp2;          // unbiased exponent of the leading one
    ap_uint<23> frac;  // the bits after it
    if (ef != 0) {
        exp2 = ef - (int)bias;
        frac = ap_uint<23>(m) << (23 - M);
    } else {  // subnormal: normalize m (leading one at bit p)
        int p = 0;
        for (int i = M - 1; i > 0; i--) {
            SML_PRAGMA(HLS UNROLL)
            if (p == 0 && ((m >> i) & 1)) p = i;
        }
        exp2 = p + 1 - (int)bias - M;
        frac = ap_uint<23>(m - (1 << p)) << (23 - p);
    }
    return sign | (ap_uint<32>(exp2 + 127) << 23) | ap_uint<32>(frac);
}

// float <-> bit pattern (a union: what Vitis HLS synthesizes to wires).
inline ap_uint<32> fp32_bits(float x) {
    union { float f; unsigned int u; } c;
    c.f = x;
    return c.u;
}

inline float fp32_from_bits(ap_uint<32> b) {
    union { float f; unsigned int u; } c;
    c.u = b.to_uint();
    return c.f;
}

// E5M2 (the seed's format) on floats.
inline fp8_t fp8_encode(float x, fp8_bias_t bias, bool saturate = true) {
    return fp8_encode_bits<5, 2>(fp32_bits(x), bias, saturate);
}

inline float fp8_decode(fp8_t code, fp8_bias_t bias) {
    return fp32_from_bits(fp8_decode_bits<5, 2>(code, bias));
}

// ---------------------------------------------------------------------------------------------
// FP8 <-> the DNNU's fixed-point grid (FP8 I/O of a DNNU), integer arithmetic only.

// Round-to-nearest-even of v / 2^shift for v < 2^33 (shift >= 1).
inline ap_uint<64> fp8_rne_shift64(ap_uint<64> v, int shift) {
    if (shift > 34) return 0;  // v < 2^33 < half of 2^shift
    ap_uint<64> q = v >> shift;
    ap_uint<64> rem = v & ((ap_uint<64>(1) << shift) - 1);
    ap_uint<64> half = ap_uint<64>(1) << (shift - 1);
    bool up = rem > half || (rem == half && q[0] == 1);
    return q + (up ? 1 : 0);
}

// E5M2 code at `bias` -> signed BITS-bit integer clip(round_half_even(value * 2^FRAC)), the
// quantization the PS applies to float samples. +-Inf clip to the range ends, NaN gives 0.
// Exact: a finite value is N * 2^(-1-bias) with N = m (subnormal) or (4+m) << (e-1), N < 2^32.
template <int BITS, int FRAC>
ap_int<BITS> fp8_to_fixed(fp8_t code, fp8_bias_t bias) {
    const ap_uint<64> pos_max = (ap_uint<64>(1) << (BITS - 1)) - 1;  // |min| is pos_max + 1
    const bool neg = code[7] == 1;
    const int ef = code(6, 2);
    const int m = code(1, 0);
    const ap_uint<64> lim = neg ? ap_uint<64>(pos_max + 1) : pos_max;
    ap_uint<64> mag;
    if (ef == 31) {
        if (m != 0) return 0;  // NaN
        mag = lim;             // +-Inf
    } else {
        const ap_uint<64> n = ef == 0 ? ap_uint<64>(m) : ap_uint<64>(4 + m) << (ef - 1);
        const int sh = FRAC - 1 - (int)bias;
        if (sh >= 0) {
            mag = (n != 0 && sh >= 32) ? lim : ap_uint<64>(n << sh);  // n << sh < 2^64 for sh < 32
        } else {
            mag = fp8_rne_shift64(n, -sh);
        }
        if (mag > lim) mag = lim;
    }
    const ap_int<BITS + 1> v = ap_int<BITS + 1>(mag);  // mag <= 2^(BITS-1) fits BITS+1 signed bits
    return ap_int<BITS>(neg ? ap_int<BITS + 1>(-v) : v);
}

// Signed W-bit integer v (W <= 24) times 2^-FRAC -> E5M2 code at `bias` (one rounding; the
// FP32 value v * 2^-FRAC is exact, so this equals encoding that float). Requires the exponent
// of v * 2^-FRAC to be an FP32 normal exponent: -126 + FRAC <= W - 1 and FRAC <= 126.
template <int W, int FRAC>
fp8_t fixed_to_fp8(ap_int<W> v, fp8_bias_t bias, bool saturate = true) {
    if (v == 0) return 0;
    const ap_uint<32> sign = v < 0 ? ap_uint<32>(0x80000000u) : ap_uint<32>(0);
    const ap_uint<W> a = v < 0 ? ap_uint<W>(-ap_int<W + 1>(v)) : ap_uint<W>(v);  // |min| fits W unsigned bits
    int p = 0;  // position of the leading one
    for (int i = W - 1; i > 0; i--) {
        SML_PRAGMA(HLS UNROLL)
        if (p == 0 && a[i] == 1) p = i;
    }
    const ap_uint<32> man = (ap_uint<32>(a) << (23 - p)) & ap_uint<32>(0x7FFFFF);
    const ap_uint<32> bits = sign | (ap_uint<32>(p - FRAC + 127) << 23) | man;
    return fp8_encode_bits<5, 2>(bits, bias, saturate);
}

}  // namespace sml

#endif
