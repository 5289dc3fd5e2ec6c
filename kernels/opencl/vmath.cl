/* Note [Own float math on CPU devices]
 * ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
 * PoCL's math builtins are calls into its kernel library, and where that library was built for another CPU than the
 * one the kernels are compiled for (PoCL 3.0 on an AVX-512 AMD EPYC: AVX-512 library, znver3 kernels) nothing of it
 * is inlined: exp of 1M float32 took 2.8x the cpu backend's time, log 3.2x, floor 3.3x, and sin, cos and tan (whose
 * vector forms PoCL gets wrong for tiny inputs, so they ran scalar) 50-60x.  On CPU devices the float32 exp, log,
 * expm1, log2, erf, sin, cos, tan, atan, sinh, cosh, tanh, fabs, floor, ceil, trunc and rint of the elementwise
 * kernels (and softmax's and cross entropy's exp and log), and pow where the device has doubles, are therefore
 * these, written with arithmetic, bit casts and selects only, so that they inline and vectorise, for float and for
 * the device's vector width (TS_VMATH below, instantiated by kernels/opencl_source.py: OWN_MATH).  The scalar and the
 * vector forms are the same operations, so an element gets the same bits whichever kernel (contiguous, strided,
 * vector, tail) computes it.
 *   exp   Cephes' expf, as the cpu backend's exp16 (kernels/cpu/vexp.h): x clamped to [-104, 89] (a NaN passes the
 *         compares), x = k ln2 + r with ln2 in two parts, the degree-6 polynomial on [-ln2/2, ln2/2], times 2^k in
 *         two factors 2^(k/2) 2^(k - k/2) so that a subnormal result is rounded once and 2^128 overflows to inf.
 *   log   Cephes' logf: x = 2^e m with m in [sqrt(1/2), sqrt(2)), the degree-9 polynomial of m - 1, e ln2 in two
 *         parts; subnormal x scaled by 2^23 first; log(+-0) = -inf, log(x < 0) = NaN, log(inf) = inf.  log2 is
 *         e + ln(1 + m) log2(e) from the same parts: exact at the powers of two.
 *   sin, cos, tan  x = q pi/2 + z with q = round(|x| 2/pi) and pi/2 in six parts of at most 11 bits (the products
 *         exact for |x| <= 8192; Cephes' three parts of pi/4 left sin(3529.58) 68 ulp off), then Cephes' sinf or
 *         cosf polynomial of z by the quadrant, and its sign; tan is their quotient.  A lane with |x| > 8192 (or
 *         infinite) takes the scalar builtin for that one element.  sin(-0) = -0, tan(-0) = -0.
 *   expm1, atan, sinh, cosh, tanh, erf  see each below (Cephes' where it has one); fabs, rint, trunc, floor, ceil
 *         by bits and the float addition's own rounding.
 * Against float64 NumPy over dense sweeps (tests/test_opencl_vmath.py): exp within 1.01 ulp, expm1 1.41, log 0.81,
 * log2 1.68, erf 2.27, sin 2.17, cos 2.04, tan 3.30, atan 2.67, sinh and cosh 2.3, tanh 1.27; the roundings and fabs
 * exact; NaN, infinities and signed zeros exact.  1M float32 on PoCL, 2 cores (the cpu backend's time in brackets):
 * exp 302 -> 257 us (106), expm1 917 -> 385 (182), log 548 -> 433 (172), log2 855 -> 402 (111), erf 1856 -> 653
 * (331), sin 9184 -> 395 (154), atan 766 -> 263 (234), sinh 976 -> 482 (182), tanh 580 -> 461 (224), floor 165 ->
 * 114 (47), abs 130 -> 73 (47).  Integer rounding uses the 1.5 * 2^23 trick (the integer is then in the low bits of
 * a float sum), since PoCL does not keep convert_int or rint in vector registers either. */

#define TS_VMATH(T, IT, N)                                                                               \
    static inline T __attribute__((overloadable)) ts_exp(T x) {                                          \
        const T xc = x < (T)(-104.0f) ? (T)(-104.0f) : (x > (T)(89.0f) ? (T)(89.0f) : x);                \
        const T big = xc * 1.44269504088896341f + 12582912.0f; /* round(x / ln2) + 1.5 * 2^23 */         \
        const T k = big - 12582912.0f;                                                                   \
        const IT ki = as_##IT(big) - 0x4b400000;                                                         \
        T r = xc - k * 0.693359375f;                                                                     \
        r = r - k * -2.12194440e-4f;                                                                     \
        T p = (T)(1.9875691500e-4f);                                                                     \
        p = p * r + 1.3981999507e-3f;                                                                    \
        p = p * r + 8.3334519073e-3f;                                                                    \
        p = p * r + 4.1665795894e-2f;                                                                    \
        p = p * r + 1.6666665459e-1f;                                                                    \
        p = p * r + 5.0000001201e-1f;                                                                    \
        p = (p * r * r + r) + 1.0f;                                                                      \
        const IT k1 = ki >> 1, k2 = ki - k1;                                                             \
        return (p * as_##T((k1 + 127) << 23)) * as_##T((k2 + 127) << 23);                                \
    }                                                                                                    \
    /* Cephes' logf up to its e ln2 terms: x = 2^e (1 + m), e as a float into ef, m, m^2 into z, and the     \
     * polynomial's m^3 P(m) returned */                                                                   \
    static inline T __attribute__((overloadable)) ts_log_parts(T x, T* ef, T* mp, T* zp) {                \
        const IT sub = x < (T)(1.17549435e-38f);                                                          \
        const IT bits = as_##IT(sub ? x * 8388608.0f : x);                                                \
        IT e = ((bits >> 23) & 0xff) - (sub ? (IT)(126 + 23) : (IT)(126));                                \
        T m = as_##T((bits & 0x007fffff) | 0x3f000000); /* [0.5, 1) */                                    \
        const IT low = m < (T)(0.707106781186547524f);                                                    \
        e = low ? e - 1 : e;                                                                              \
        m = (low ? m + m : m) - 1.0f;                                                                     \
        *ef = as_##T(e + 0x4b400000) - 12582912.0f;                                                       \
        const T z = m * m;                                                                                \
        T y = (T)(7.0376836292e-2f);                                                                      \
        y = y * m - 1.1514610310e-1f;                                                                     \
        y = y * m + 1.1676998740e-1f;                                                                     \
        y = y * m - 1.2420140846e-1f;                                                                     \
        y = y * m + 1.4249322787e-1f;                                                                     \
        y = y * m - 1.6668057665e-1f;                                                                     \
        y = y * m + 2.0000714765e-1f;                                                                     \
        y = y * m - 2.4999993993e-1f;                                                                     \
        y = y * m + 3.3333331174e-1f;                                                                     \
        *mp = m;                                                                                          \
        *zp = z;                                                                                          \
        return y * m * z;                                                                                 \
    }                                                                                                     \
    /* log's answers at 0, below 0, inf and NaN (log2's too) */                                           \
    static inline T __attribute__((overloadable)) ts_log_edges(T x, T res) {                              \
        res = x == (T)(INFINITY) ? x : res;                                                               \
        res = x == (T)(0.0f) ? (T)(-INFINITY) : res;                                                      \
        res = x < (T)(0.0f) ? (T)(NAN) : res;                                                             \
        return x != x ? x : res;                                                                          \
    }                                                                                                     \
    static inline T __attribute__((overloadable)) ts_log(T x) {                                           \
        T ef, m, z;                                                                                       \
        const T y = (ts_log_parts(x, &ef, &m, &z) + ef * -2.12194440e-4f) - 0.5f * z;                    \
        return ts_log_edges(x, (m + y) + ef * 0.693359375f);                                              \
    }                                                                                                     \
    /* log2: e + ln(1 + f) log2(e), exact at the powers of two */                                          \
    static inline T __attribute__((overloadable)) ts_log2(T x) {                                          \
        T ef, m, z;                                                                                       \
        const T y = ts_log_parts(x, &ef, &m, &z) - 0.5f * z;                                              \
        return ts_log_edges(x, (m + y) * 1.44269504088896341f + ef);                                      \
    }                                                                                                     \
    /* log1p: log(u) for u = 1 + x, less the error of that sum relative to u ((u - 1) - x) / u (Goldberg's     \
     * correction); x itself where u rounds to 1 (-0 and the subnormals kept), -inf at -1, inf at inf */        \
    static inline T __attribute__((overloadable)) ts_log1p(T x) {                                         \
        const T u = 1.0f + x;                                                                             \
        T r = ts_log(u) - ((u - 1.0f) - x) / u;                                                           \
        r = u == (T)(1.0f) ? x : r;                                                                       \
        r = u == (T)(0.0f) ? (T)(-INFINITY) : r;                                                          \
        return x == (T)(INFINITY) ? x : r;                                                                \
    }                                                                                                     \
    /* sin (which 0), cos (1) or tan (2) of x, the lanes with |x| > 8192 left to the caller */           \
    static inline T __attribute__((overloadable)) ts_trig_core(T x, int which) {                         \
        const T ax = as_##T(as_##IT(x) & 0x7fffffff);                                                    \
        const T big = ax * 0.636619772f + 12582912.0f; /* round(|x| 2 / pi) + 1.5 * 2^23 */              \
        const T y = big - 12582912.0f;                                                                   \
        const IT q = as_##IT(big) - 0x4b400000;                                                          \
        T z = ax - y * 1.5703125f; /* pi / 2 in six parts: the products exact for y < 2^13 */            \
        z = z - y * 4.837512969970703e-4f;                                                               \
        z = z - y * 7.549533620476723e-8f;                                                               \
        z = z - y * 2.5632829192545614e-12f;                                                             \
        z = z - y * 6.120321263680673e-17f;                                                              \
        z = z - y * 2.9127320270547964e-20f;                                                             \
        const T zz = z * z;                                                                              \
        const T pc = (((2.443315711809948e-5f * zz - 1.388731625493765e-3f) * zz + 4.166664568298827e-2f) \
                      * zz) * zz - 0.5f * zz + 1.0f;                                                     \
        const T ps = ((-1.9515295891e-4f * zz + 8.3321608736e-3f) * zz - 1.6666654611e-1f) * zz * z + z; \
        const IT odd = (q & 1) != 0; /* quadrant q: sin is S, C, -S, -C; cos is C, -S, -C, S */          \
        const IT sx = as_##IT(x) & (IT)(INT_MIN);                                                        \
        const T s = as_##T(as_##IT(odd ? pc : ps) ^ (((q & 2) != 0 ? (IT)(INT_MIN) : (IT)(0)) ^ sx));    \
        if (which == 0) return s;                                                                        \
        const T c = as_##T(as_##IT(odd ? ps : pc) ^ (((q + 1) & 2) != 0 ? (IT)(INT_MIN) : (IT)(0)));     \
        return which == 1 ? c : s / c;                                                                   \
    }                                                                                                    \
    static inline T __attribute__((overloadable)) ts_trig(T x, int which) {                              \
        union { T v; float s[N]; } r, xs;                                                                \
        union { IT v; int s[N]; } big;                                                                   \
        r.v = ts_trig_core(x, which);                                                                    \
        big.v = as_##T(as_##IT(x) & 0x7fffffff) > (T)(8192.0f) ? (IT)(-1) : (IT)(0);                     \
        int any = 0;                                                                                     \
        for (int l = 0; l < N; ++l) any |= big.s[l];                                                     \
        if (any) {                                                                                       \
            xs.v = x;                                                                                    \
            for (int l = 0; l < N; ++l)                                                                  \
                if (big.s[l])                                                                            \
                    r.s[l] = which == 0 ? sin(xs.s[l]) : (which == 1 ? cos(xs.s[l]) : tan(xs.s[l]));     \
        }                                                                                                \
        return r.v;                                                                                      \
    }                                                                                                    \
    static inline T __attribute__((overloadable)) ts_fabs(T x) { return as_##T(as_##IT(x) & 0x7fffffff); }  \
    /* |x| < 2^23 rounded to the nearest integer, ties to even, by the float addition itself; larger |x|, inf     \
     * and NaN are their own answer; the sign put back, so that rint(-0.4) is -0 */                      \
    static inline T __attribute__((overloadable)) ts_rint(T x) {                                         \
        const T ax = ts_fabs(x);                                                                         \
        const T r = ax < (T)(8388608.0f) ? (ax + 8388608.0f) - 8388608.0f : ax;                          \
        return as_##T(as_##IT(r) | (as_##IT(x) & (IT)(INT_MIN)));                                        \
    }                                                                                                    \
    static inline T __attribute__((overloadable)) ts_trunc(T x) {                                        \
        const T ax = ts_fabs(x);                                                                         \
        T r = (ax + 8388608.0f) - 8388608.0f;                                                            \
        r = r > ax ? r - 1.0f : r;                                                                       \
        r = ax < (T)(8388608.0f) ? r : ax;                                                               \
        return as_##T(as_##IT(r) | (as_##IT(x) & (IT)(INT_MIN)));                                        \
    }                                                                                                    \
    static inline T __attribute__((overloadable)) ts_floor(T x) {                                        \
        const T t = ts_trunc(x);                                                                         \
        return x < t ? t - 1.0f : t;                                                                     \
    }                                                                                                    \
    static inline T __attribute__((overloadable)) ts_ceil(T x) {                                         \
        const T t = ts_trunc(x);                                                                         \
        return x > t ? t + 1.0f : t;                                                                     \
    }                                                                                                    \
    /* Cephes' tanhf: x + x^3 P(x^2) below 0.625, 1 - 2 / (exp(2|x|) + 1) above (1 once exp overflows), the    \
     * sign of x put back (tanh(-0) = -0, NaN through the polynomial) */                                 \
    static inline T __attribute__((overloadable)) ts_tanh(T x) {                                         \
        const T ax = ts_fabs(x), z = ax * ax;                                                            \
        T p = (T)(-5.70498872745e-3f);                                                                   \
        p = p * z + 2.06390887954e-2f;                                                                   \
        p = p * z - 5.37397155531e-2f;                                                                   \
        p = p * z + 1.33314422036e-1f;                                                                   \
        p = p * z - 3.33332819422e-1f;                                                                   \
        const T small = p * z * ax + ax;                                                                 \
        const T large = 1.0f - 2.0f / (ts_exp(ax + ax) + 1.0f);                                          \
        const T r = ax >= (T)(0.625f) ? large : small;                                                   \
        return as_##T(as_##IT(r) | (as_##IT(x) & (IT)(INT_MIN)));                                        \
    }                                                                                                    \
    /* Cephes' erff and erfcf: |x| T(x^2) below 1, else 1 - erfc(|x|) with erfc = exp(-x^2) / |x| times P or R  \
     * of 1 / x^2 (below and above 2); the sign of x put back (erf(-0) = -0, +-1 at +-inf, NaN through erfc) */ \
    static inline T __attribute__((overloadable)) ts_erf(T x) {                                           \
        const T ax = ts_fabs(x), z = ax * ax;                                                             \
        T t = (T)(7.853861353153693e-5f);                                                                 \
        t = t * z - 8.010193625184903e-4f;                                                                \
        t = t * z + 5.188327685732524e-3f;                                                                \
        t = t * z - 2.685381193529856e-2f;                                                                \
        t = t * z + 1.128358514861418e-1f;                                                                \
        t = t * z - 3.761262582423300e-1f;                                                                \
        t = t * z + 1.128379165726710e0f;                                                                 \
        const T q = 1.0f / ax, y = q * q;                                                                 \
        T p = (T)(2.326819970068386e-2f);                                                                 \
        p = p * y - 1.387039388740657e-1f;                                                                \
        p = p * y + 3.687424674597105e-1f;                                                                \
        p = p * y - 5.824733027278666e-1f;                                                                \
        p = p * y + 6.210004621745983e-1f;                                                                \
        p = p * y - 4.944515323274145e-1f;                                                                \
        p = p * y + 3.404879937665872e-1f;                                                                \
        p = p * y - 2.741127028184656e-1f;                                                                \
        p = p * y + 5.638259427386472e-1f;                                                                \
        T r = (T)(-1.047766399936249e1f);                                                                 \
        r = r * y + 1.297719955372516e1f;                                                                 \
        r = r * y - 7.495518717768503e0f;                                                                 \
        r = r * y + 2.921019019210786e0f;                                                                 \
        r = r * y - 1.015265279202700e0f;                                                                 \
        r = r * y + 4.218463358204948e-1f;                                                                \
        r = r * y - 2.820767439740514e-1f;                                                                \
        r = r * y + 5.641895067754075e-1f;                                                                \
        const T erfc = ts_exp(-z) * q * (ax < (T)(2.0f) ? p : r);                                         \
        const T e = ax < (T)(1.0f) ? ax * t : 1.0f - erfc;                                                \
        return as_##T(as_##IT(e) | (as_##IT(x) & (IT)(INT_MIN)));                                         \
    }                                                                                                     \
    /* expm1: the Taylor polynomial to r^8 on |r| <= ln2 / 2, and beyond x = k ln2 + r (ln2 in two parts),     \
     * 2^k expm1(r) + (2^k - 1), the latter exact for k >= -24 (x clamped to [-104, 89]: -1 and inf); -0 kept  \
     * and NaN through the final selects; past k = 20, (expm1(r) + 1) 2^k - 1, which 2^128 does not overflow */  \
    static inline T __attribute__((overloadable)) ts_expm1(T x) {                                         \
        const T xc = x < (T)(-104.0f) ? (T)(-104.0f) : (x > (T)(89.0f) ? (T)(89.0f) : x);                 \
        const T big = xc * 1.44269504088896341f + 12582912.0f;                                            \
        T k = big - 12582912.0f;                                                                          \
        IT ki = as_##IT(big) - 0x4b400000;                                                                \
        const IT inner = ts_fabs(x) <= (T)(0.34657359f);                                                   \
        k = inner ? (T)(0.0f) : k;                                                                         \
        ki = inner ? (IT)(0) : ki;                                                                         \
        const T r = (xc - k * 0.693359375f) - k * -2.12194440e-4f;                                        \
        T p = (T)(1.0f / 40320);                                                                          \
        p = p * r + 1.0f / 5040;                                                                          \
        p = p * r + 1.0f / 720;                                                                           \
        p = p * r + 1.0f / 120;                                                                           \
        p = p * r + 1.0f / 24;                                                                            \
        p = p * r + 1.0f / 6;                                                                             \
        p = p * r + 0.5f;                                                                                 \
        const T em = p * r * r + r;                                                                       \
        const IT k1 = ki >> 1, k2 = ki - k1; /* 2^k in two factors: 2^128 overflows to inf */              \
        const T s1 = as_##T((k1 + 127) << 23), s2 = as_##T((k2 + 127) << 23);                             \
        const T res = ki > 20 ? ((em + 1.0f) * s1) * s2 - 1.0f : (s1 * s2 - 1.0f) + (em * s1) * s2;         \
        const T e = inner ? em : res;                                                                      \
        return ((x == (T)(0.0f)) | (x != x)) ? x : e;                                                       \
    }                                                                                                     \
    /* Cephes' sinhf and coshf: x + x^3 P(x^2) for |sinh| below 1, else (e - 1/e) / 2 and (e + 1/e) / 2 of     \
     * e = exp|x|, past 88 as (exp(|x|/2) / 2) exp(|x|/2), which stays finite to 89.41 */                      \
    static inline T __attribute__((overloadable)) ts_sinh_cosh(T x, int cosh_) {                          \
        const T ax = ts_fabs(x), z = ax * ax;                                                             \
        const IT huge = ax > (T)(88.0f);                                                                  \
        const T e = ts_exp(huge ? 0.5f * ax : ax);                                                        \
        const T hv = huge ? (0.5f * e) * e : (T)(0.0f);                                                 \
        if (cosh_) return huge ? hv : 0.5f * e + 0.5f / e;                                              \
        T p = (T)(2.03721912945e-4f);                                                                     \
        p = p * z + 8.33028376239e-3f;                                                                    \
        p = p * z + 1.66667160211e-1f;                                                                    \
        const T small = p * z * ax + ax;                                                                  \
        const T r = huge ? hv : (ax > (T)(1.0f) ? 0.5f * e - 0.5f / e : small);                         \
        return as_##T(as_##IT(r) | (as_##IT(x) & (IT)(INT_MIN)));                                         \
    }                                                                                                     \
    /* Cephes' atanf: |x| reduced by tan(3 pi/8) and tan(pi/8) to |x| <= tan(pi/8), the degree-9 odd polynomial,  \
     * pi/2 or pi/4 added back; the sign of x (atan(-0) = -0, +-pi/2 at +-inf, NaN through the polynomial) */     \
    static inline T __attribute__((overloadable)) ts_atan(T x) {                                          \
        const T ax = ts_fabs(x);                                                                          \
        const IT big = ax > (T)(2.414213562373095f), mid = ax > (T)(0.4142135623730950f);                 \
        const T t = big ? -1.0f / ax : (mid ? (ax - 1.0f) / (ax + 1.0f) : ax);                            \
        const T base = big ? (T)(1.5707963267948966f) : (mid ? (T)(0.7853981633974483f) : (T)(0.0f));     \
        const T z = t * t;                                                                                \
        T p = (T)(8.05374449538e-2f);                                                                     \
        p = p * z - 1.38776856032e-1f;                                                                    \
        p = p * z + 1.99777106478e-1f;                                                                    \
        p = p * z - 3.33329491539e-1f;                                                                    \
        const T r = base + (p * z * t + t);                                                               \
        return as_##T(as_##IT(r) | (as_##IT(x) & (IT)(INT_MIN)));                                         \
    }                                                                                                     \
    static inline T __attribute__((overloadable)) ts_sinh(T x) { return ts_sinh_cosh(x, 0); }             \
    static inline T __attribute__((overloadable)) ts_cosh(T x) { return ts_sinh_cosh(x, 1); }             \
    static inline T __attribute__((overloadable)) ts_sin(T x) { return ts_trig(x, 0); }                  \
    static inline T __attribute__((overloadable)) ts_cos(T x) { return ts_trig(x, 1); }                  \
    static inline T __attribute__((overloadable)) ts_tan(T x) { return ts_trig(x, 2); }

/* pow(x, y) of float32, the scalar form only (the work-group vectoriser makes the loops over it vector code), where
 * the device has doubles: 2^(y log2|x|) in double, rounded once to float.  log2|x| = e + 2 atanh(t) / ln2 with
 * |x| = 2^e m, m in [sqrt(1/2), sqrt(2)) and t = (m - 1) / (m + 1), |t| <= 0.172, the series to t^13 (2^-40 of
 * log2 m); y log2|x| clamped to [-200, 200] (float's 0 and inf lie inside), split into n + f, |f| <= 1/2, and 2^f by
 * its Taylor polynomial of degree 11 in f ln2 (2^-42).  The error before the final rounding is about 1e-12 of the
 * result, so the answer is within 0.5 ulp but where a result lies within that of a tie (0.50001 measured): exact
 * for the integer powers floats hold (3^2, 2^-3) and x^1 = x.  1M float32: pow(a, b) 64 ms -> 2.3 (the cpu
 * backend's libm: 1.0); a ** 2.7 64 -> 9.4 ms, its pow_scalar_b loop left scalar by PoCL, which vectorises it when
 * the exponent is a kernel argument and not when it is read from memory, restrict or not (x ** 2, ** 0.5 and ** -1
 * never get here: Note [Scalar powers] in dispatch/dispatcher.py).  C99's special cases after the core: pow(x, +-0)
 * = 1 even for NaN x, pow(1, y) = 1, pow(-1, +-inf) = 1, a negative finite x with a non-integer y is NaN, zeros and
 * infinities as bases explicitly (the core's 2^(y log2 0) is 1 for a tiny y), the sign of x for odd integer y. */
TS_VMATH(float, int, 1)  /* the scalar forms; kernels/opencl_source.py instantiates the device's vector width */

#ifdef TS_HAS_FP64
static inline float ts_pow(float x, float y) {
    const double ad = (double)ts_fabs(x);
    const long bits = as_long(ad);
    long e = ((bits >> 52) & 0x7ff) - 1023;
    double m = as_double((bits & 0x000fffffffffffffL) | 0x3ff0000000000000L);
    const int high = m > 1.4142135623730951;
    m = high ? m * 0.5 : m;
    e = high ? e + 1 : e;
    const double t = (m - 1.0) / (m + 1.0), t2 = t * t;
    double s = 1.0 / 13;
    s = s * t2 + 1.0 / 11;
    s = s * t2 + 1.0 / 9;
    s = s * t2 + 1.0 / 7;
    s = s * t2 + 1.0 / 5;
    s = s * t2 + 1.0 / 3;
    s = s * t2 + 1.0;
    const double lg = (double)e + (2.0 * t * s) * 1.4426950408889634;  /* log2|x|: e exact, ln m / ln 2 */
    double w = (double)y * lg;
    w = w < -200.0 ? -200.0 : (w > 200.0 ? 200.0 : w);
    const double big = w + 6755399441055744.0;                       /* round(w) + 1.5 * 2^52 */
    const double n = big - 6755399441055744.0;
    const long ni = as_long(big) - 0x4338000000000000L;
    const double u = (w - n) * 0.6931471805599453;                    /* f ln2, |u| <= 0.347 */
    double p = 1.0 / 39916800;                                        /* 1 / 11! */
    p = p * u + 1.0 / 3628800;
    p = p * u + 1.0 / 362880;
    p = p * u + 1.0 / 40320;
    p = p * u + 1.0 / 5040;
    p = p * u + 1.0 / 720;
    p = p * u + 1.0 / 120;
    p = p * u + 1.0 / 24;
    p = p * u + 1.0 / 6;
    p = p * u + 0.5;
    p = p * u + 1.0;
    p = p * u + 1.0;
    float r = (float)(p * as_double((ni + 1023) << 52));
    /* y an integer (every float from 2^24 on is an even one), odd or not */
    const float ay = ts_fabs(y);
    const int yint = ts_trunc(y) == y;
    const int yodd = yint & ((int)(ay < 16777216.0f ? y : 0.0f) & 1);  /* (int) of NaN or 2^31 is undefined */
    r = ad == 0.0 ? (y < 0.0f ? INFINITY : 0.0f) : r;  /* the core's 2^(y log2 0) is 1 for a tiny y */
    r = ad == (double)INFINITY ? (y < 0.0f ? 0.0f : INFINITY) : r;
    r = ((as_int(x) < 0) & yodd) ? -r : r;
    r = ((x < 0.0f) & (x > -INFINITY) & !yint) ? NAN : r;
    r = ((x != x) | (y != y)) ? NAN : r;
    r = ((x == -1.0f) & (ay == INFINITY)) ? 1.0f : r;
    return ((x == 1.0f) | (y == 0.0f)) ? 1.0f : r;
}
#endif

/* atan2(y, x) of float32, the scalar form (the work-group vectoriser makes the loops over it vector code; PoCL's
 * builtin took 69x the cpu backend's time for 1M pairs): t = min(|x|, |y|) / max(|x|, |y|) in [0, 1], reduced by
 * tan(pi/8) as Cephes' atanf reduces, its degree-9 odd polynomial, then pi/2 - a where |y| > |x|, pi - a where
 * x < 0, and y's sign; in float only, as the other forms here.  The quotient carries the zero and infinite operands
 * as C99 says (+-pi/2 for x = +-0, +-0 or +-pi for y = +-0, +-pi/2 for an infinite y and +-0 or +-pi for an
 * infinite x) but where both are zero (+-0 for x = +0, +-pi for x = -0) or both infinite (+-pi/4, +-3pi/4), set
 * apart; NaN comes through the quotient. */
static inline float ts_atan2(float y, float x) {
    const float ax = ts_fabs(x), ay = ts_fabs(y);
    const int swap = ay > ax;
    const float t = (swap ? ax : ay) / (swap ? ay : ax);
    const int mid = t > 0.4142135623730950f;
    const float u = mid ? (t - 1.0f) / (t + 1.0f) : t, z = u * u;
    float p = 8.05374449538e-2f;
    p = p * z - 1.38776856032e-1f;
    p = p * z + 1.99777106478e-1f;
    p = p * z - 3.33329491539e-1f;
    float a = (mid ? 0.785398163397448f : 0.0f) + (p * z * u + u);
    a = swap ? 1.57079632679490f - a : a;
    const int xneg = as_int(x) < 0, zeros = (ax == 0.0f) & (ay == 0.0f);
    a = x < 0.0f ? 3.14159265358979f - a : a;
    a = (ax == INFINITY) & (ay == INFINITY) ? (xneg ? 2.35619449019234f : 0.785398163397448f) : a;
    a = zeros ? (xneg ? 3.14159265358979f : 0.0f) : a;
    return as_float(as_int(a) | (as_int(y) & INT_MIN));
}

/* hypot(x, y) of float32 (PoCL's builtin took 171x the cpu backend's time): big * sqrt(1 + (small / big)^2) with
 * big and small the larger and smaller magnitude, which neither overflows nor underflows before the result does
 * (within 2 ulp: 1.94 measured); zeros give +0, an infinite operand inf even with a NaN, as C99 says.  The square
 * root is the instruction (__builtin_sqrtf): PoCL's sqrt is a call, which keeps the loops over it scalar. */
#if defined(__clang__) && __has_builtin(__builtin_sqrtf)
#define TS_SQRTF __builtin_sqrtf
#else
#define TS_SQRTF sqrt
#endif
static inline float ts_hypot(float x, float y) {
    const float ax = ts_fabs(x), ay = ts_fabs(y), big = ax > ay ? ax : ay, small = ax > ay ? ay : ax;
    const float t = small / big;
    const float r = big * TS_SQRTF(1.0f + t * t);
    return ((ax == INFINITY) | (ay == INFINITY)) ? INFINITY : (((ax == 0.0f) & (ay == 0.0f)) ? 0.0f : r);
}
