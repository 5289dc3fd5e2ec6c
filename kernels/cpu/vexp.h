// exp of float32 runs with AVX-512: tensorswitch's own, where the CPU has it (Note [Own vector exp]).
#pragma once

#include <cstdint>

#include "loops.h"

// Note [Own vector exp]
// ~~~~~~~~~~~~~~~~~~~~~
// libmvec's AVX-512 expf (Note [Vector math] in kernels.h) costs 0.24 ns an element on one core of the 2-core VM;
// PyTorch's (SLEEF) 0.16, so exp of 64K to 1M floats, where the arithmetic and not the memory is the limit, ran at
// 0.6x PyTorch.  exp16 below is Cephes' expf (the degree-6 polynomial of kernels/cpu/module.cpp's exp_poly, on
// [-ln2/2, ln2/2] after x = k ln2 + r with ln2 in two parts) in AVX-512F intrinsics with fused multiply-adds, and
// the power of two applied by VSCALEFPS, which rounds once into the subnormals and overflows to inf by itself: x is
// first clamped to [-104, 89], where the result is already 0 (below the smallest subnormal's log) or inf, and
// MAXPS/MINPS return their second operand for a NaN, so NaN stays NaN through every step.  0.165 ns an element;
// within 1.02 ulp of the correctly rounded exp over a sweep of every seventh float in [-110, 90], subnormal results
// included, and exact at 0, +-inf and NaN.  The contiguous runs of exp on float32, and float32 softmax's exps,
// take it when the CPU has AVX-512F and the module dispatches by ISA (Note [Runtime ISA dispatch] in loops.h; a build without dispatch keeps
// the baseline loops); otherwise libmvec or libm.  Its bits may differ from libmvec's in the last place, as
// libmvec's variants do from each other.
#if TS_ISA_CLONES
#include <immintrin.h>

namespace ts {

__attribute__((target("avx512f"), always_inline)) inline __m512 exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_set1_ps(89.0f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x));
    const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r);
    return _mm512_scalef_ps(_mm512_add_ps(p, _mm512_set1_ps(1.0f)), k);
}

// y[i] = exp(x[i]) for i < n (y may be x); the last n % 16 through masked loads and stores.
__attribute__((target("avx512f"), noinline)) inline void exp_f32_avx512(const float* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, exp16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, exp16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

// y[i] = exp(x[i] - shift) for i < n: softmax's exps (kernels/cpu/module.cpp's exp_shifted).
__attribute__((target("avx512f"), noinline)) inline void exp_shifted_f32_avx512(const float* x, float* y, float shift,
                                                                              int64_t n) {
    const __m512 s = _mm512_set1_ps(shift);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), s)));
    if (i < n) {
        const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), s)));
    }
}

// Whether exp_f32_avx512 can run here (read once).
inline bool own_vector_exp() {
    static const bool yes = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") != 0;
    }();
    return yes;
}

}  // namespace ts
#else
namespace ts {
inline bool own_vector_exp() { return false; }
inline void exp_f32_avx512(const float*, float*, int64_t) {}
inline void exp_shifted_f32_avx512(const float*, float*, float, int64_t) {}
}  // namespace ts
#endif
