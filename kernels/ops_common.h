/* Helpers shared by the elementwise kernels of every dialect: C++, CUDA C and OpenCL C.
 *
 * Written in the subset of C that all three accept.  The including source defines TS_INLINE (the function qualifier
 * of its dialect); kernels/codegen.py then instantiates the helper families below once per dtype it compiles, e.g.
 * TS_SIGNED_HELPERS(int32, int, unsigned int).  Helper names end in the dtype name so that no dialect needs
 * overloading.
 *
 * Semantics follow NumPy: integer division by zero gives 0 (not a trap), INT_MIN // -1 wraps, floor division and
 * remainder round towards negative infinity, and the remainder takes the sign of the divisor.  Where the Array API
 * standard's special cases and NumPy differ, the standard wins: Note [Elementwise special cases] in
 * kernels/optable.py.
 */
#ifndef TS_OPS_COMMON_H
#define TS_OPS_COMMON_H

/* inlined whatever GCC's heuristics say: the cpu backend's ISA clones vectorise only what is inlined into them (a
 * call leaves the code of the baseline build, one element at a time) */
#if defined(__GNUC__) && !defined(__OPENCL_VERSION__) && !defined(__CUDACC__)
#define TS_FORCE_INLINE TS_INLINE __attribute__((always_inline))
#else
#define TS_FORCE_INLINE TS_INLINE
#endif

/* Shifts as NumPy's npy_lshift/npy_rshift: a count outside [0, bits) shifts every bit out (0, or -1 for a negative
 * number shifted right), where C leaves it undefined and OpenCL C takes the count modulo the width.  A left shift
 * runs in the unsigned type UT (the bits wrap, as NumPy's do; a signed left shift that overflows is undefined in
 * C), and a negative number shifts right as ~(~a >> b): arithmetic, whatever the dialect does with a signed >>. */
#define TS_SIGNED_HELPERS(NAME, T, UT)                                             \
    TS_INLINE T ts_floor_divide_##NAME(T a, T b) {                                 \
        if (b == 0) return 0;                                                      \
        if (b == -1) return (T)(0 - a);                                            \
        T q = (T)(a / b);                                                          \
        if ((a % b != 0) && ((a < 0) != (b < 0))) q = (T)(q - 1);                  \
        return q;                                                                  \
    }                                                                              \
    TS_INLINE T ts_remainder_##NAME(T a, T b) {                                    \
        if (b == 0 || b == -1) return 0;                                           \
        T r = (T)(a % b);                                                          \
        if (r != 0 && ((r < 0) != (b < 0))) r = (T)(r + b);                        \
        return r;                                                                  \
    }                                                                              \
    TS_INLINE T ts_ipow_##NAME(T a, T b) {                                         \
        if (b < 0) return (T)(a == 1 ? 1 : (a == -1 ? ((b & 1) ? -1 : 1) : 0));    \
        T r = 1;                                                                   \
        while (b) {                                                                \
            if (b & 1) r = (T)(r * a);                                             \
            a = (T)(a * a);                                                        \
            b = (T)(b >> 1);                                                       \
        }                                                                          \
        return r;                                                                  \
    }                                                                              \
    TS_INLINE T ts_left_shift_##NAME(T a, T b) {                                   \
        if (b < 0 || b >= (T)(8 * sizeof(T))) return 0;                            \
        return (T)((UT)((UT)a << b));                                              \
    }                                                                              \
    TS_INLINE T ts_right_shift_##NAME(T a, T b) {                                  \
        if (b < 0 || b >= (T)(8 * sizeof(T))) return (T)(a < 0 ? -1 : 0);          \
        return a < 0 ? (T)~((T)~a >> b) : (T)(a >> b);                             \
    }

#define TS_UNSIGNED_HELPERS(NAME, T)                                               \
    TS_INLINE T ts_floor_divide_##NAME(T a, T b) { return (T)(b == 0 ? 0 : a / b); } \
    TS_INLINE T ts_remainder_##NAME(T a, T b) { return (T)(b == 0 ? 0 : a % b); }  \
    TS_INLINE T ts_ipow_##NAME(T a, T b) {                                         \
        T r = 1;                                                                   \
        while (b) {                                                                \
            if (b & 1) r = (T)(r * a);                                             \
            a = (T)(a * a);                                                        \
            b = (T)(b >> 1);                                                       \
        }                                                                          \
        return r;                                                                  \
    }                                                                              \
    TS_INLINE T ts_left_shift_##NAME(T a, T b) { return (T)(b >= 8 * sizeof(T) ? 0 : a << b); } \
    TS_INLINE T ts_right_shift_##NAME(T a, T b) { return (T)(b >= 8 * sizeof(T) ? 0 : a >> b); }

/* The remainder is NumPy's npy_divmod: floor division that agrees with the remainder, a == b * (a // b) + a % b.
 * Floor division follows it for finite operands, but takes the standard's floor(a / b) where exactly one operand is
 * infinite (Note [Elementwise special cases]): inf // 2 is inf (NaN in NumPy and Python), 1 // -inf is -0 (-1).
 * logaddexp is npy_logaddexp: equal arguments (infinities of one sign among them) give a + log(2) without inf - inf,
 * a NaN falls through every comparison to the NaN of a - b. */
/* Note [Fast float fmod]: fmod of floats as libm computes it (exact, by shifting and subtracting) cost 20 ns an
 * element on the cpu backend, and floor_divide and remainder of 1M float32 took 12x PyTorch's time.  For float
 * operands whose quotient is below 2^24 it is exactly a - trunc(a / b) * b in double: the double quotient, within
 * 2^-29 of a/b, truncates as a/b does (a/b not an integer is at least 2^-24 from one, for |a| >= |b|, and below 1
 * otherwise), trunc(a / b) * b has at most 48 bits, and the remainder, smaller than b and a multiple of b's last
 * place, is exact in double and in float.  Larger quotients, infinite b, NaN and b = 0 take libm's fmod; a zero
 * remainder's sign may differ from fmod's (the helpers below set it themselves).  Not on CUDA (slow doubles) nor
 * on OpenCL devices without fp64. */
#if defined(__CUDACC__) || (defined(__OPENCL_VERSION__) && !defined(TS_HAS_FP64))
#define TS_FMOD(T, a, b) fmod(a, b)
#define TS_FLOAT_FAST_HELPERS(NAME, T)
#else
#define TS_FMOD(T, a, b) (sizeof(T) == 4 ? ts_fmod_narrow(a, b) : fmod(a, b))
/* whether the fast fmod below is exact for floats a, b: b finite (fmod(a, inf) is a, 0 * inf NaN) and the quotient
 * below 2^24 */
TS_FORCE_INLINE int ts_fmod_fits(float a, float b) {
    const double q = (double)a / (double)b;
    return q < 16777216.0 && q > -16777216.0 && b - b == 0;
}
TS_FORCE_INLINE float ts_fmod_fast(float a, float b) {
    return (float)((double)a - trunc((double)a / (double)b) * (double)b);
}
TS_INLINE float ts_fmod_narrow(float a, float b) {
    return ts_fmod_fits(a, b) ? ts_fmod_fast(a, b) : (float)fmod((double)a, (double)b);
}

/* Note [Two-pass float division]: the fmod of the helpers below goes to libm where the fast fmod does not fit, a
 * call that kept the cpu backend's loops of floor_divide and remainder scalar (with the branches the helpers had
 * then: 10-15 ns an element, 8-12x PyTorch's time).  For float (and float16, computed in float) the cpu backend's
 * contiguous loops (kernels/cpu/kernels.h, binary_contig) instead take a block of elements in two passes: NAME_fast,
 * the helpers' own selects (ts_remainder_by_NAME, ts_floor_divide_by_NAME) with the fast fmod for every element,
 * vectorised, noting whether any element of the block needs libm's fmod (ts_fmod_slow_NAME); then, only if one
 * did, the exact helper again for those.  Where the fast fmod fits it is the helper's own, so every element gets
 * the helper's bits. */
#define TS_FLOAT_FAST_HELPERS(NAME, T)                                             \
    TS_FORCE_INLINE int ts_fmod_slow_##NAME(T a, T b) { return sizeof(T) != 4 || !ts_fmod_fits(a, b); } \
    TS_FORCE_INLINE T ts_remainder_fast_##NAME(T a, T b) {                         \
        return ts_remainder_by_##NAME(a, b, (T)ts_fmod_fast(a, b));                \
    }                                                                              \
    TS_FORCE_INLINE T ts_floor_divide_fast_##NAME(T a, T b) {                      \
        return ts_floor_divide_by_##NAME(a, b, (T)ts_fmod_fast(a, b));             \
    }
#endif

/* remainder and floor division given m = fmod(a, b), with selects for branches (Note [Two-pass float division]
 * passes its fast fmod, the helpers TS_FMOD) */
#define TS_FLOAT_HELPERS(NAME, T)                                                  \
    TS_FORCE_INLINE T ts_remainder_by_##NAME(T a, T b, T m) {                      \
        const T s = (b < 0) != (m < 0) ? m + b : m;                                \
        return m != 0 ? s : copysign((T)0, b);                                     \
    }                                                                              \
    TS_FORCE_INLINE T ts_floor_divide_by_##NAME(T a, T b, T m) {                   \
        const T q = a / b;                                                         \
        T d = (a - m) / b;                                                         \
        d = m != 0 && (b < 0) != (m < 0) ? d - 1 : d;                              \
        T f = floor(d);                                                            \
        f = d - f > (T)0.5 ? f + 1 : f;                                            \
        d = d != 0 ? f : copysign((T)0, q);                                        \
        return b == 0 || (isinf(a) != 0) != (isinf(b) != 0) ? q : d;               \
    }                                                                              \
    TS_INLINE T ts_remainder_##NAME(T a, T b) { return ts_remainder_by_##NAME(a, b, TS_FMOD(T, a, b)); } \
    TS_INLINE T ts_floor_divide_##NAME(T a, T b) {                                 \
        return ts_floor_divide_by_##NAME(a, b, TS_FMOD(T, a, b));                  \
    }                                                                              \
    TS_INLINE T ts_logaddexp_##NAME(T a, T b) { /* selects, no branches: vectorised */ \
        const T d = a - b, m = d > 0 ? a : b, r = m + log1p(exp(-fabs(d)));        \
        return a == b ? a + (T)0.693147180559945309417232121458176568 : (d != d ? d : r); \
    }                                                                              \
    TS_INLINE T ts_angle_##NAME(T a) { /* NumPy's atan2(0, a): pi below zero and at -0 */ \
        return isnan(a) ? a : (signbit(a) ? (T)3.14159265358979323846 : (T)0);    \
    }

/* nextafter of float32: C's, except on CUDA, whose libdevice flushes subnormal steps under CuPy's -ftz=true: there
 * ::ts::nextafter_bits of kernels/cuda/common.cu steps the bits instead. */
#ifdef __CUDACC__
#define TS_NEXTAFTER_FLOAT(a, b) ::ts::nextafter_bits(a, b)
#define TS_NEXTAFTER_DOUBLE(a, b) nextafter(a, b)
#elif defined(__cplusplus)
/* On cpu, float32 and float64 step the bits too, with selects: C's nextafter is a call per element that no loop
 * vectorises (1M float32 took 15x PyTorch's time).  The same answers as C: NaN from a NaN operand (a + b), b where
 * a == b (-0 and +0 included), the smallest subnormal of b's sign from a zero, else one step of a's bits towards b
 * (up in magnitude where b lies beyond a away from zero): inf from the largest float, -0 from -2^-149 upwards. */
template <class F, class U>
TS_FORCE_INLINE F ts_nextafter_by_bits(F a, F b) {
    const U sign = (U)1 << (8 * sizeof(U) - 1);
    const U ia = __builtin_bit_cast(U, a), ib = __builtin_bit_cast(U, b);
    const U step = (b > a) == (a > 0) ? (U)(ia + 1) : (U)(ia - 1);
    const F r = __builtin_bit_cast(F, a == 0 ? (U)((ib & sign) | 1) : step);
    return (a != a || b != b) ? a + b : (a == b ? b : r);
}
#define TS_NEXTAFTER_FLOAT(a, b) ts_nextafter_by_bits<float, unsigned int>(a, b)
#define TS_NEXTAFTER_DOUBLE(a, b) ts_nextafter_by_bits<double, unsigned long long>(a, b)
#else
#define TS_NEXTAFTER_FLOAT(a, b) nextafter(a, b)
#define TS_NEXTAFTER_DOUBLE(a, b) nextafter(a, b)
#endif

/* float16 computes in float, where the C library's nextafter would step by a float's spacing; this steps by a
 * float16's.  a and b hold float16 values exactly.  The spacing of float16 numbers in [2^e, 2^(e+1)) is 2^(e-10),
 * and 2^-24 below 2^-14 (subnormals); stepping down from a power of two 2^e > 2^-14 takes the finer spacing below it.
 * Every step is exact in float; a step past 65504 gives 65536, which the float16 store rounds to inf.  A step to
 * zero keeps a's sign. */
#define TS_HALF_HELPERS                                                            \
    TS_INLINE float ts_nextafter_half(float a, float b) {                          \
        if (a != a || b != b) return a + b;                                        \
        if (a == b) return b;                                                      \
        if (a == 0) return b > 0 ? 5.9604644775390625e-8f : -5.9604644775390625e-8f; \
        if (isinf(a)) return a > 0 ? 65504.0f : -65504.0f;                         \
        const float m = fabs(a);                                                   \
        const int e = (int)logb(m);                                                \
        float step = e < -14 ? 5.9604644775390625e-8f : ldexp(1.0f, e - 10);       \
        if ((b > a) != (a > 0) && e > -14 && m == ldexp(1.0f, e)) step *= 0.5f;    \
        const float r = b > a ? a + step : a - step;                               \
        return r == 0 ? copysign(0.0f, a) : r; /* -2^-24 up is -0, as in C */      \
    }

/* Note [Complex kernels]
 * ~~~~~~~~~~~~~~~~~~~~~~
 * complex64 and complex128 are two floats (real, imaginary) in memory on every backend, as in NumPy, C99 and DLPack.
 * The op table's complex expressions call only the ts_c*_<dtype> helpers below, never C's operators: on OpenCL's
 * float2 ``a * b`` multiplies componentwise and ``a == b`` gives a vector.  Each dialect provides the same names:
 *   C++ (the cpu backend)  std::complex<float|double>; arithmetic by the formulas NumPy uses (the schoolbook product,
 *                          Smith's division), the functions from <complex>, which libstdc++ takes from the C
 *                          library's cexp, clog, csqrt, ... (C99 Annex G: the standard's special cases);
 *   OpenCL C and CUDA C    float2/double2 (.x real, .y imaginary), with the same formulas written out.
 * Beyond the C library: log1p, expm1 and log2 (not in C99) are written from log1p/expm1 of the parts, so that small
 * arguments keep their digits; sign is z / |z| (0 at 0; z scaled by its largest part first, since |z| may
 * overflow); pow follows NumPy 2 at the edges (z ** 0 is 1, 0 ** w is 0 where real(w) > 0 and NaN otherwise) and
 * is exp(w log z) elsewhere; round rounds both parts half to even.
 */
#if !defined(__OPENCL_VERSION__) && !defined(__CUDACC__) && !defined(TS_DEVICE_COMPLEX)
#define TS_COMPLEX_HELPERS(NAME, C, R)                                             \
    TS_INLINE C ts_cneg_##NAME(C a) { return C(-a.real(), -a.imag()); }          \
    TS_INLINE C ts_cadd_##NAME(C a, C b) { return C(a.real() + b.real(), a.imag() + b.imag()); } \
    TS_INLINE C ts_csub_##NAME(C a, C b) { return C(a.real() - b.real(), a.imag() - b.imag()); } \
    TS_INLINE C ts_cmul_##NAME(C a, C b) {                                         \
        return C(a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()); \
    }                                                                              \
    TS_INLINE C ts_cdiv_##NAME(C a, C b) { /* Smith's algorithm, as NumPy */       \
        const R ar = a.real(), ai = a.imag(), br = b.real(), bi = b.imag();        \
        const R abs_br = fabs(br), abs_bi = fabs(bi);                              \
        if (abs_br >= abs_bi) {                                                    \
            if (abs_br == 0 && abs_bi == 0) return C(ar / abs_br, ai / abs_bi);    \
            const R rat = bi / br, scl = (R)1 / (br + bi * rat);                   \
            return C((ar + ai * rat) * scl, (ai - ar * rat) * scl);                \
        }                                                                          \
        if (abs_bi != abs_bi) return C(abs_bi, abs_bi); /* NaN */                 \
        const R rat = br / bi, scl = (R)1 / (bi + br * rat);                       \
        return C((ar * rat + ai) * scl, (ai * rat - ar) * scl);                    \
    }                                                                              \
    TS_INLINE C ts_creciprocal_##NAME(C a) { return ts_cdiv_##NAME(C((R)1, (R)0), a); } \
    TS_INLINE R ts_cabs_##NAME(C a) { return hypot(a.real(), a.imag()); }         \
    TS_INLINE R ts_creal_##NAME(C a) { return a.real(); }                          \
    TS_INLINE R ts_cimag_##NAME(C a) { return a.imag(); }                          \
    TS_INLINE R ts_cangle_##NAME(C a) { return atan2(a.imag(), a.real()); }        \
    TS_INLINE C ts_cconj_##NAME(C a) { return C(a.real(), -a.imag()); }           \
    TS_INLINE bool ts_ceq_##NAME(C a, C b) { return a.real() == b.real() && a.imag() == b.imag(); } \
    TS_INLINE bool ts_cnonzero_##NAME(C a) { return a.real() != 0 || a.imag() != 0; } \
    TS_INLINE bool ts_cisnan_##NAME(C a) { return isnan(a.real()) || isnan(a.imag()); } \
    TS_INLINE bool ts_cisinf_##NAME(C a) { return isinf(a.real()) || isinf(a.imag()); } \
    TS_INLINE bool ts_cisfinite_##NAME(C a) { return isfinite(a.real()) && isfinite(a.imag()); } \
    TS_INLINE C ts_cround_##NAME(C a) { return C(rint(a.real()), rint(a.imag())); } \
    TS_INLINE C ts_csign_##NAME(C a) {                                             \
        if (a.real() == 0 && a.imag() == 0) return C((R)0, (R)0);                  \
        if (ts_cisnan_##NAME(a)) return C(NAN, NAN);                               \
        if (ts_cisinf_##NAME(a)) { /* the direction of the infinite parts */       \
            const R x = isinf(a.real()) ? copysign((R)1, a.real()) : (R)0;         \
            const R y = isinf(a.imag()) ? copysign((R)1, a.imag()) : (R)0;         \
            const R m = hypot(x, y);                                               \
            return C(x / m, y / m);                                                \
        }                                                                          \
        const R big = fmax(fabs(a.real()), fabs(a.imag())); /* |z| may overflow */ \
        const R x = a.real() / big, y = a.imag() / big, m = hypot(x, y);           \
        return C(x / m, y / m);                                                    \
    }                                                                              \
    TS_INLINE C ts_cexp_##NAME(C a) { return exp(a); }                             \
    TS_INLINE C ts_clog_##NAME(C a) { return log(a); }                             \
    TS_INLINE C ts_csqrt_##NAME(C a) { return sqrt(a); }                           \
    TS_INLINE C ts_csin_##NAME(C a) { return sin(a); }                             \
    TS_INLINE C ts_ccos_##NAME(C a) { return cos(a); }                             \
    TS_INLINE C ts_ctan_##NAME(C a) { /* tan(x +- inf i): the standard's +-0 +- i */ \
        if (isinf(a.imag())) return C(copysign((R)0, a.real()), copysign((R)1, a.imag())); \
        return tan(a);                                                             \
    }                                                                              \
    TS_INLINE C ts_csinh_##NAME(C a) { return sinh(a); }                           \
    TS_INLINE C ts_ccosh_##NAME(C a) { return cosh(a); }                           \
    TS_INLINE C ts_ctanh_##NAME(C a) { /* tanh(+-inf + yi): the standard's +-1 + 0i, 0 with y's sign */ \
        if (isinf(a.real())) return C(copysign((R)1, a.real()), copysign((R)0, a.imag())); \
        return tanh(a);                                                            \
    }                                                                              \
    TS_INLINE C ts_casin_##NAME(C a) { return asin(a); }                           \
    TS_INLINE C ts_cacos_##NAME(C a) { return acos(a); }                           \
    TS_INLINE C ts_catan_##NAME(C a) { return atan(a); }                           \
    TS_INLINE C ts_casinh_##NAME(C a) { return asinh(a); }                         \
    TS_INLINE C ts_cacosh_##NAME(C a) { return acosh(a); }                         \
    TS_INLINE C ts_catanh_##NAME(C a) { return atanh(a); }                         \
    TS_INLINE C ts_clog10_##NAME(C a) {                                            \
        const C l = log(a);                                                        \
        return C(l.real() * (R)0.434294481903251827651, l.imag() * (R)0.434294481903251827651); \
    }                                                                              \
    TS_INLINE C ts_clog2_##NAME(C a) {                                             \
        const C l = log(a);                                                        \
        return C(l.real() * (R)1.44269504088896340736, l.imag() * (R)1.44269504088896340736); \
    }                                                                              \
    TS_INLINE C ts_clog1p_##NAME(C a) { /* log|1 + z| = log1p(2x + x^2 + y^2) / 2 keeps small z's digits */ \
        const R x = a.real(), y = a.imag();                                        \
        if (!isfinite(x) || !isfinite(y) || fabs(x) > (R)0.5 || fabs(y) > (R)0.5)  \
            return log(C(x + (R)1, y));                                            \
        return C((R)0.5 * log1p(x * ((R)2 + x) + y * y), atan2(y, x + (R)1));      \
    }                                                                              \
    TS_INLINE C ts_cexpm1_##NAME(C a) { /* expm1(x) cos(y) - 2 sin^2(y / 2) + i e^x sin(y) */ \
        const R x = a.real(), y = a.imag();                                        \
        if (!isfinite(x) || !isfinite(y)) {                                        \
            const C e = exp(a);                                                    \
            return C(e.real() - (R)1, e.imag());                                   \
        }                                                                          \
        if (x == 0 && y == 0) return C((R)0, y); /* +0 for -0 too, as exp(z) - 1 */ \
        if (y == 0) return C(expm1(x), y); /* e^x sin(0) would be inf * 0 for huge x */  \
        const R s = sin(y / 2);                                                    \
        return C(expm1(x) * cos(y) - (R)2 * s * s, exp(x) * sin(y));               \
    }                                                                              \
    TS_INLINE C ts_cpow_##NAME(C a, C b) {                                         \
        if (b.real() == 0 && b.imag() == 0) return C((R)1, (R)0);                  \
        if (a.real() == 0 && a.imag() == 0) { /* NumPy 2: 0 ** w is 0 where real(w) > 0 */ \
            if (b.real() > 0) return C((R)0, (R)0);                                \
            return C(NAN, NAN);                                                    \
        }                                                                          \
        return exp(ts_cmul_##NAME(b, log(a)));                                     \
    }
#else
/* Note [Device complex functions]
 * ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
 * OpenCL C and CUDA C have no complex library, so the device branch writes each function from real ones, on
 * float2/double2 (.x real, .y imaginary; TS_CMAKE builds one: a vector literal in OpenCL, make_float2/make_double2
 * in CUDA).  Arithmetic is the C++ branch's formulas (the schoolbook product, Smith's division) with every product
 * rounded on its own (TS_CMUL_RN): a fused multiply-add would make z * conj(z) complex and flip the signs of zeros
 * that NumPy gives.  The C99 functions take Annex G's special values (the Array API standard's complex special
 * cases; the C library's signs where Annex G leaves them open) first, in explicit branches, then compute finite
 * arguments so that no intermediate overflows or loses a subnormal's digits:
 *   exp, sinh, cosh  e^x cis(y), sinh(x) cos(y) + i cosh(x) sin(y), ...; past TS_CEXP_MAX e^x is 2^k e^r
 *                    (ts_cexp_big: the ldexp of e^r cos y rounds once), so a finite result survives e^x = inf
 *   log              log|z| as log1p((|z|max - 1)(|z|max + 1) + |z|min^2) / 2 for |z|max in [0.5, 2) (no
 *                    cancellation near |z| = 1), else log(hypot) with the parts halved (huge) or scaled by
 *                    2^TS_CSCALE (tiny) first; arg is atan2, exact on the diagonals (ts_catan2: OpenCL allows
 *                    atan2 6 ulp, and z ** w amplifies arg's last bit)
 *   sqrt             t = sqrt((|x| + |z|) / 2), then (t, |y| / 2t) or (|y| / 2t, t) by the sign of x: no
 *                    cancellation; the parts scaled by 1/4 or 2^TS_CSCALE at the extremes, back by 2 or 2^-S/2
 *   tanh             Kahan's formula ((1 + t^2) sqrt(1 + s^2) s + i t) / (1 + (1 + t^2) s^2), t = tan y, s = sinh x;
 *                    +-1 + 4 sin y cos y e^-2|x| i past TS_CTANH_ONE
 *   asin, acos       Kahan's ("Branch cuts for complex elementary functions"), from s1 = sqrt(1 - z) and
 *                    s2 = sqrt(1 + z), which get the branch cuts and signed zeros right through csqrt; 1 - z is
 *                    (1 - x, -y) so that the sign of a zero imaginary part flips exactly; log(2z) + the quadrant
 *                    past TS_CBIG, where z^2 - 1 is z^2
 *   asinh, acosh     -i asin(iz), and +-i acos(z) by the sign of y (the one with real part >= 0)
 *   atanh            log1p(4|x| / ((1 - |x|)^2 + y^2)) / 4 + i atan2(2|y|, (1 - |x|)(1 + |x|) - y^2) / 2 with the
 *                    signs of x and y (log|1 + z| - log|1 - z| where the denominator is tiny); Re(1/z) + i pi/2
 *                    past TS_CBIG
 *   sin, cos, tan, atan  -i sinh(iz), cosh(iz), -i tanh(iz), -i atanh(iz), as C99 defines them.
 * log1p, expm1, log2, log10 and pow are the C++ branch's formulas over these, with the answers of the conformance
 * references (Note [Complex special values] in tensorswitch/testing/reference.py) where those are sharper than the
 * C++ branch: sign is z / |z| with z scaled by its largest part first (|z| may overflow), expm1(x + 0i) is
 * expm1(x) + 0i with the zero's sign (e^x sin(0) would be inf * 0 = NaN for huge x), and 0 ** w is 0 for every
 * w with real part > 0 (NumPy 2).
 */
#ifdef __OPENCL_VERSION__
#define TS_CMAKE(C, re, im) ((C)((re), (im)))
#define TS_CNAN(R) ((R)NAN)
#define TS_CINF(R) ((R)INFINITY)
#define TS_CMUL_RN(a, b) ((a) * (b)) /* OpenCL contracts within one expression only: a product on its own stays */
#else
#define TS_CMAKE(C, re, im) make_##C((re), (im))
#define TS_CNAN(R) ::ts::nan_of((R)0)
#define TS_CINF(R) ::ts::inf_of((R)0)
#define TS_CMUL_RN(a, b) ::ts::mul_rn((a), (b)) /* __fmul_rn/__dmul_rn: never fused, whatever --fmad says */
#endif
/* constants of the part type R: float, or double */
#define TS_CPREC(R, F, D) ((R)(sizeof(R) == 4 ? (F) : (D)))
#define TS_CPI(R) ((R)3.14159265358979323846264338327950288)
#define TS_CPI_2(R) ((R)1.57079632679489661923132169163975144)
#define TS_CPI_4(R) ((R)0.785398163397448309615660845819875721)
#define TS_C3PI_4(R) ((R)2.35619449019234492884698253745962716)
#define TS_CLN2(R) ((R)0.693147180559945309417232121458176568)
#define TS_CEXP_MAX(R) TS_CPREC(R, 88.0, 709.0)     /* exp(x) is finite below */
#define TS_CEXP_CAP(R) TS_CPREC(R, 200.0, 1500.0)   /* e^x times the least subnormal overflows above */
#define TS_CLN2_HI(R) TS_CPREC(R, 0.693145751953125, 6.93147180369123816490e-01) /* trailing zero bits */
#define TS_CLN2_LO(R) TS_CPREC(R, 1.428606765330187045e-06, 1.90821492927058770002e-10)
#define TS_CTANH_ONE(R) TS_CPREC(R, 9.0, 22.0)      /* tanh(x) rounds to +-1 above */
#define TS_CBIG(R) TS_CPREC(R, 1e18, 1e150)         /* |z|^2 +- 1 is |z|^2, and |z|^2 does not overflow */
#define TS_CHUGE(R) TS_CPREC(R, 8.5e37, 4.4e307)    /* a quarter of the largest finite value */
#define TS_CTINY(R) TS_CPREC(R, 1e-30, 1e-290)      /* below: scaled by 2^TS_CSCALE first (subnormal digits) */
#define TS_CSCALE(R) (sizeof(R) == 4 ? 64 : 600)
#define TS_COMPLEX_HELPERS(NAME, C, R)                                                                               \
    TS_INLINE C ts_cneg_##NAME(C a) { return TS_CMAKE(C, -a.x, -a.y); }                                              \
    TS_INLINE C ts_cadd_##NAME(C a, C b) { return TS_CMAKE(C, a.x + b.x, a.y + b.y); }                               \
    TS_INLINE C ts_csub_##NAME(C a, C b) { return TS_CMAKE(C, a.x - b.x, a.y - b.y); }                               \
    TS_INLINE C ts_cmul_##NAME(C a, C b) { /* products rounded before the sums (no fused multiply-add): z conj(z) */ \
        const R xx = TS_CMUL_RN(a.x, b.x), yy = TS_CMUL_RN(a.y, b.y); /* is real, (x + xi)^2 imaginary, as NumPy's */ \
        const R xy = TS_CMUL_RN(a.x, b.y), yx = TS_CMUL_RN(a.y, b.x);                                                \
        return TS_CMAKE(C, xx - yy, xy + yx);                                                                        \
    }                                                                                                                \
    TS_INLINE C ts_cdiv_##NAME(C a, C b) { /* Smith's algorithm, as NumPy; products unfused, as in ts_cmul */        \
        const R abs_br = fabs(b.x), abs_bi = fabs(b.y);                                                              \
        if (abs_br >= abs_bi) {                                                                                      \
            if (abs_br == 0 && abs_bi == 0) return TS_CMAKE(C, a.x / abs_br, a.y / abs_bi);                          \
            const R rat = b.y / b.x, d = TS_CMUL_RN(b.y, rat), scl = (R)1 / (b.x + d);                               \
            const R p = TS_CMUL_RN(a.y, rat), q = TS_CMUL_RN(a.x, rat);                                              \
            return TS_CMAKE(C, (a.x + p) * scl, (a.y - q) * scl);                                                    \
        }                                                                                                            \
        if (abs_bi != abs_bi) return TS_CMAKE(C, abs_bi, abs_bi); /* NaN */                                          \
        const R rat = b.x / b.y, d = TS_CMUL_RN(b.x, rat), scl = (R)1 / (b.y + d);                                   \
        const R p = TS_CMUL_RN(a.x, rat), q = TS_CMUL_RN(a.y, rat);                                                  \
        return TS_CMAKE(C, (p + a.y) * scl, (q - a.x) * scl);                                                        \
    }                                                                                                                \
    TS_INLINE C ts_creciprocal_##NAME(C a) { return ts_cdiv_##NAME(TS_CMAKE(C, (R)1, (R)0), a); }                    \
    TS_INLINE R ts_cabs_##NAME(C a) { return hypot(a.x, a.y); }                                                      \
    TS_INLINE R ts_creal_##NAME(C a) { return a.x; }                                                                 \
    TS_INLINE R ts_cimag_##NAME(C a) { return a.y; }                                                                 \
    TS_INLINE R ts_catan2_##NAME(R y, R x) { /* atan2, exact on the diagonals (OpenCL allows atan2 6 ulp) */         \
        if (fabs(x) == fabs(y) && x != 0 && isfinite(x)) return copysign(x > 0 ? TS_CPI_4(R) : TS_C3PI_4(R), y);     \
        return atan2(y, x);                                                                                          \
    }                                                                                                                \
    TS_INLINE R ts_cangle_##NAME(C a) { return ts_catan2_##NAME(a.y, a.x); }                                         \
    TS_INLINE C ts_cconj_##NAME(C a) { return TS_CMAKE(C, a.x, -a.y); }                                              \
    TS_INLINE int ts_ceq_##NAME(C a, C b) { return a.x == b.x && a.y == b.y; }                                       \
    TS_INLINE int ts_cnonzero_##NAME(C a) { return a.x != 0 || a.y != 0; }                                           \
    TS_INLINE int ts_cisnan_##NAME(C a) { return isnan(a.x) || isnan(a.y); }                                         \
    TS_INLINE int ts_cisinf_##NAME(C a) { return isinf(a.x) || isinf(a.y); }                                         \
    TS_INLINE int ts_cisfinite_##NAME(C a) { return isfinite(a.x) && isfinite(a.y); }                                \
    TS_INLINE C ts_cround_##NAME(C a) { return TS_CMAKE(C, rint(a.x), rint(a.y)); }                                  \
    TS_INLINE C ts_csign_##NAME(C a) {                                                                               \
        if (a.x == 0 && a.y == 0) return TS_CMAKE(C, (R)0, (R)0);                                                    \
        if (ts_cisnan_##NAME(a)) return TS_CMAKE(C, TS_CNAN(R), TS_CNAN(R));                                         \
        if (ts_cisinf_##NAME(a)) { /* the direction of the infinite parts */                                         \
            const R x = isinf(a.x) ? copysign((R)1, a.x) : (R)0;                                                     \
            const R y = isinf(a.y) ? copysign((R)1, a.y) : (R)0;                                                     \
            const R m = hypot(x, y);                                                                                 \
            return TS_CMAKE(C, x / m, y / m);                                                                        \
        }                                                                                                            \
        const R m = fmax(fabs(a.x), fabs(a.y)), x = a.x / m, y = a.y / m; /* scaled: |z| may overflow */             \
        const R h = hypot(x, y);                                                                                     \
        return TS_CMAKE(C, x / h, y / h);                                                                            \
    }                                                                                                                \
    TS_INLINE C ts_cexp_big_##NAME(R x, R c, R s) { /* e^x (c, s) for x > TS_CEXP_MAX: 2^k e^r, ldexp rounds once */ \
        if (x > TS_CEXP_CAP(R)) return TS_CMAKE(C, TS_CINF(R) * c, s == 0 ? s : TS_CINF(R) * s); /* inf even * 2^-1074 */ \
        const int k = (int)(x * (R)1.44269504088896340736);                                                          \
        const R e = exp(x - (R)k * TS_CLN2_HI(R) - (R)k * TS_CLN2_LO(R)); /* k ln2_hi is exact */                    \
        return TS_CMAKE(C, ldexp(e * c, k), s == 0 ? s : ldexp(e * s, k));                                           \
    }                                                                                                                \
    TS_INLINE C ts_cexp_##NAME(C a) {                                                                                \
        const R x = a.x, y = a.y;                                                                                    \
        if (isfinite(x) && isfinite(y)) {                                                                            \
            if (x > TS_CEXP_MAX(R)) return ts_cexp_big_##NAME(x, cos(y), sin(y)); /* e^x overflows, e^x cos y may not */ \
            if (y == 0) return TS_CMAKE(C, exp(x), y);                                                               \
            const R e = exp(x);                                                                                      \
            return TS_CMAKE(C, e * cos(y), e * sin(y));                                                              \
        }                                                                                                            \
        if (y == 0) return TS_CMAKE(C, exp(x), y); /* +-inf + 0i, NaN + 0i */                                        \
        if (isinf(x)) {                                                                                              \
            if (x < 0)                                                                                               \
                return isfinite(y) ? TS_CMAKE(C, (R)0 * cos(y), (R)0 * sin(y)) : TS_CMAKE(C, (R)0, copysign((R)0, y)); \
            return isfinite(y) ? TS_CMAKE(C, x * cos(y), x * sin(y)) : TS_CMAKE(C, x, y - y);                        \
        }                                                                                                            \
        return TS_CMAKE(C, TS_CNAN(R), TS_CNAN(R));                                                                  \
    }                                                                                                                \
    TS_INLINE R ts_clogabs_##NAME(R x, R y) { /* log|x + iy|, finite parts, not both zero */                         \
        R ax = fabs(x), ay = fabs(y);                                                                                \
        if (ax < ay) { const R t = ax; ax = ay; ay = t; }                                                            \
        if (ax >= (R)0.5 && ax < (R)2) /* near |z| = 1: log1p of |z|^2 - 1 keeps the digits */                       \
            return (R)0.5 * log1p((ax - (R)1) * (ax + (R)1) + ay * ay);                                              \
        if (ax > TS_CHUGE(R)) return log(hypot(ax * (R)0.5, ay * (R)0.5)) + TS_CLN2(R);                              \
        if (ax < TS_CTINY(R)) { /* subnormal parts: scale by 2^S first, exactly */                                   \
            const int s = TS_CSCALE(R);                                                                              \
            return (log(hypot(ldexp(ax, s), ldexp(ay, s))) - (R)s * TS_CLN2_HI(R)) - (R)s * TS_CLN2_LO(R);           \
        }                                                                                                            \
        return log(hypot(ax, ay));                                                                                   \
    }                                                                                                                \
    TS_INLINE C ts_clog_##NAME(C a) {                                                                                \
        const R x = a.x, y = a.y;                                                                                    \
        if (isinf(x) || isinf(y)) return TS_CMAKE(C, TS_CINF(R), atan2(y, x));                                       \
        if (isnan(x) || isnan(y)) return TS_CMAKE(C, TS_CNAN(R), TS_CNAN(R));                                        \
        if (x == 0 && y == 0) return TS_CMAKE(C, -TS_CINF(R), atan2(y, x));                                          \
        return TS_CMAKE(C, ts_clogabs_##NAME(x, y), ts_catan2_##NAME(y, x));                                         \
    }                                                                                                                \
    TS_INLINE C ts_csqrt_##NAME(C a) {                                                                               \
        const R x = a.x, y = a.y;                                                                                    \
        if (isinf(y)) return TS_CMAKE(C, TS_CINF(R), y);                                                             \
        if (isnan(x)) return TS_CMAKE(C, x, x);                                                                      \
        if (isinf(x)) {                                                                                              \
            if (x > 0) return TS_CMAKE(C, x, isnan(y) ? y : copysign((R)0, y));                                      \
            return TS_CMAKE(C, isnan(y) ? y : (R)0, copysign(TS_CINF(R), y));                                        \
        }                                                                                                            \
        if (isnan(y)) return TS_CMAKE(C, y, y);                                                                      \
        if (x == 0 && y == 0) return TS_CMAKE(C, (R)0, y);                                                           \
        R ax = fabs(x), ay = fabs(y);                                                                                \
        int s = 0; /* the result is scaled by 2^-s: no overflow of ax + |z|, no subnormal digits lost */             \
        if (ax > TS_CHUGE(R) || ay > TS_CHUGE(R)) {                                                                  \
            ax *= (R)0.25; ay *= (R)0.25; s = -2;                                                                    \
        } else if (ax < TS_CTINY(R) && ay < TS_CTINY(R)) {                                                           \
            s = TS_CSCALE(R); ax = ldexp(ax, s); ay = ldexp(ay, s);                                                  \
        }                                                                                                            \
        const R t = sqrt((ax + hypot(ax, ay)) * (R)0.5);                                                             \
        const R u = ay / (t + t);                                                                                    \
        const R re = ldexp(x >= 0 ? t : u, -s / 2), im = ldexp(x >= 0 ? u : t, -s / 2);                              \
        return TS_CMAKE(C, re, copysign(im, y));                                                                     \
    }                                                                                                                \
    TS_INLINE C ts_csinh_##NAME(C a) {                                                                               \
        const R x = a.x, y = a.y;                                                                                    \
        if (isfinite(x) && isfinite(y)) {                                                                            \
            if (y == 0) return TS_CMAKE(C, sinh(x), y);                                                              \
            if (fabs(x) > TS_CEXP_MAX(R)) { /* sinh(x) ~ cosh(x) ~ e^|x| / 2, which alone may overflow */            \
                const C e = ts_cexp_big_##NAME(fabs(x), (R)0.5 * cos(y), (R)0.5 * sin(y));                           \
                return TS_CMAKE(C, copysign((R)1, x) * e.x, e.y);                                                    \
            }                                                                                                        \
            return TS_CMAKE(C, sinh(x) * cos(y), cosh(x) * sin(y));                                                  \
        }                                                                                                            \
        if (x == 0) return TS_CMAKE(C, x, y - y); /* +-0 + inf i, +-0 + NaN i */                                     \
        if (isinf(x)) {                                                                                              \
            if (y == 0) return TS_CMAKE(C, x, y);                                                                    \
            if (isfinite(y)) return TS_CMAKE(C, x * cos(y), fabs(x) * sin(y));                                       \
            return TS_CMAKE(C, TS_CINF(R), y - y); /* Annex G's +-inf: the C library's +inf */                       \
        }                                                                                                            \
        if (y == 0) return TS_CMAKE(C, x, y); /* NaN + 0i */                                                         \
        return TS_CMAKE(C, TS_CNAN(R), TS_CNAN(R));                                                                  \
    }                                                                                                                \
    TS_INLINE C ts_ccosh_##NAME(C a) {                                                                               \
        const R x = a.x, y = a.y;                                                                                    \
        if (isfinite(x) && isfinite(y)) {                                                                            \
            if (y == 0) return TS_CMAKE(C, cosh(x), copysign((R)0, x) * y); /* sinh(x) sin(y) is a signed 0 */       \
            if (fabs(x) > TS_CEXP_MAX(R)) {                                                                          \
                const C e = ts_cexp_big_##NAME(fabs(x), (R)0.5 * cos(y), (R)0.5 * sin(y));                           \
                return TS_CMAKE(C, e.x, copysign((R)1, x) * e.y);                                                    \
            }                                                                                                        \
            return TS_CMAKE(C, cosh(x) * cos(y), sinh(x) * sin(y));                                                  \
        }                                                                                                            \
        if (x == 0) return TS_CMAKE(C, y - y, (R)0); /* NaN +-0i */                                                  \
        if (isinf(x)) {                                                                                              \
            if (y == 0) return TS_CMAKE(C, TS_CINF(R), copysign((R)0, x) * y);                                       \
            if (isfinite(y)) return TS_CMAKE(C, TS_CINF(R) * cos(y), x * sin(y));                                    \
            return TS_CMAKE(C, TS_CINF(R), y - y);                                                                   \
        }                                                                                                            \
        if (y == 0) return TS_CMAKE(C, x, y); /* NaN + 0i */                                                         \
        return TS_CMAKE(C, TS_CNAN(R), TS_CNAN(R));                                                                  \
    }                                                                                                                \
    TS_INLINE C ts_ctanh_##NAME(C a) { /* Kahan's formula; e^-2|x| where tanh(x) is +-1 */                           \
        const R x = a.x, y = a.y;                                                                                    \
        if (isinf(x))                                                                                                \
            return TS_CMAKE(C, copysign((R)1, x), copysign((R)0, y)); /* the standard's 1 + 0j, not C99's 0 sin 2y */ \
        if (isnan(x)) return TS_CMAKE(C, x, y == 0 ? y : x);                                                         \
        if (!isfinite(y)) return TS_CMAKE(C, x == 0 ? x : y - y, y - y);                                             \
        if (fabs(x) > TS_CTANH_ONE(R))                                                                               \
            return TS_CMAKE(C, copysign((R)1, x), (R)4 * sin(y) * cos(y) * exp((R)-2 * fabs(x)));                    \
        const R t = tan(y), beta = (R)1 + t * t, s = sinh(x), rho = sqrt((R)1 + s * s);                              \
        const R d = (R)1 + beta * s * s;                                                                             \
        return TS_CMAKE(C, beta * rho * s / d, t / d);                                                               \
    }                                                                                                                \
    TS_INLINE C ts_csin_##NAME(C a) { /* sin z = -i sinh(iz) */                                                      \
        if (!isfinite(a.x) && isinf(a.y)) return TS_CMAKE(C, a.x - a.x, TS_CINF(R)); /* NaN +-inf i: the C library's */ \
        const C w = ts_csinh_##NAME(TS_CMAKE(C, -a.y, a.x));                                                         \
        return TS_CMAKE(C, w.y, -w.x);                                                                               \
    }                                                                                                                \
    TS_INLINE C ts_ccos_##NAME(C a) { return ts_ccosh_##NAME(TS_CMAKE(C, -a.y, a.x)); }                              \
    TS_INLINE C ts_ctan_##NAME(C a) { /* tan z = -i tanh(iz) */                                                      \
        const C w = ts_ctanh_##NAME(TS_CMAKE(C, -a.y, a.x));                                                         \
        return TS_CMAKE(C, w.y, -w.x);                                                                               \
    }                                                                                                                \
    TS_INLINE C ts_clog2z_##NAME(R x, R y) { /* log(2z) for huge |z| (no special values): asinh, acosh there */      \
        const C l = ts_clog_##NAME(TS_CMAKE(C, x, y));                                                               \
        return TS_CMAKE(C, l.x + TS_CLN2(R), l.y);                                                                   \
    }                                                                                                                \
    TS_INLINE C ts_casin_finite_##NAME(R x, R y) { /* Kahan: atan2(x, Re(s1 s2)) + i asinh(Im(conj(s1) s2)) */       \
        const C s1 = ts_csqrt_##NAME(TS_CMAKE(C, (R)1 - x, -y)), s2 = ts_csqrt_##NAME(TS_CMAKE(C, (R)1 + x, y));     \
        return TS_CMAKE(C, atan2(x, s1.x * s2.x - s1.y * s2.y), asinh(s1.x * s2.y - s1.y * s2.x));                   \
    }                                                                                                                \
    TS_INLINE C ts_casinh_##NAME(C a) {                                                                              \
        const R x = a.x, y = a.y;                                                                                    \
        if (isnan(x) || isnan(y)) {                                                                                  \
            if (isinf(x)) return TS_CMAKE(C, x, y);                                                                  \
            if (isinf(y)) return TS_CMAKE(C, copysign(TS_CINF(R), x), x); /* +-inf + NaN i: the sign of the NaN */   \
            if (y == 0) return TS_CMAKE(C, x, y);                                                                    \
            return TS_CMAKE(C, TS_CNAN(R), TS_CNAN(R));                                                              \
        }                                                                                                            \
        if (isinf(x) || isinf(y))                                                                                    \
            return TS_CMAKE(C, copysign(TS_CINF(R), x),                                                              \
                            copysign(isinf(y) ? (isinf(x) ? TS_CPI_4(R)                                              \
                                                          : TS_CPI_2(R)) : (R)0, y));                                \
        if (fabs(x) > TS_CBIG(R) || fabs(y) > TS_CBIG(R)) {                                                          \
            const C l = ts_clog2z_##NAME(fabs(x), fabs(y));                                                          \
            return TS_CMAKE(C, copysign(l.x, x), copysign(l.y, y));                                                  \
        }                                                                                                            \
        const C w = ts_casin_finite_##NAME(-y, x); /* asinh z = -i asin(iz) */                                       \
        return TS_CMAKE(C, w.y, -w.x);                                                                               \
    }                                                                                                                \
    TS_INLINE C ts_casin_##NAME(C a) { /* asin z = -i asinh(iz) */                                                   \
        const C w = ts_casinh_##NAME(TS_CMAKE(C, -a.y, a.x));                                                        \
        return TS_CMAKE(C, w.y, -w.x);                                                                               \
    }                                                                                                                \
    TS_INLINE C ts_cacos_##NAME(C a) { /* Kahan: 2 atan2(Re s1, Re s2) + i asinh(Im(conj(s2) s1)) */                 \
        const R x = a.x, y = a.y;                                                                                    \
        if (isnan(x) || isnan(y)) {                                                                                  \
            if (isinf(x)) return TS_CMAKE(C, y, -copysign(TS_CINF(R), y)); /* NaN +-inf i, as the C library */       \
            if (isinf(y)) return TS_CMAKE(C, x, -y);                                                                 \
            if (x == 0) return TS_CMAKE(C, TS_CPI_2(R), y);                                                          \
            return TS_CMAKE(C, TS_CNAN(R), TS_CNAN(R));                                                              \
        }                                                                                                            \
        if (isinf(x) || isinf(y)) {                                                                                  \
            R re;                                                                                                    \
            if (isinf(y)) re = isinf(x) ? (x < 0 ? TS_C3PI_4(R)                                                      \
                                                 : TS_CPI_4(R))                                                      \
                                        : TS_CPI_2(R);                                                               \
            else re = x < 0 ? TS_CPI(R) : (R)0;                                                                      \
            return TS_CMAKE(C, re, -copysign(TS_CINF(R), y));                                                        \
        }                                                                                                            \
        if (fabs(x) > TS_CBIG(R) || fabs(y) > TS_CBIG(R)) { /* acosh z ~ log(2z), and acos z = +-i acosh z */        \
            const C l = ts_clog2z_##NAME(x, y);                                                                      \
            return TS_CMAKE(C, fabs(l.y), -copysign(l.x, y));                                                        \
        }                                                                                                            \
        const C s1 = ts_csqrt_##NAME(TS_CMAKE(C, (R)1 - x, -y)), s2 = ts_csqrt_##NAME(TS_CMAKE(C, (R)1 + x, y));     \
        return TS_CMAKE(C, (R)2 * atan2(s1.x, s2.x), asinh(s2.x * s1.y - s2.y * s1.x));                              \
    }                                                                                                                \
    TS_INLINE C ts_cacosh_##NAME(C a) { /* acosh z = i acos z in the upper half plane, -i acos z in the lower */     \
        const C w = ts_cacos_##NAME(a);                                                                              \
        return TS_CMAKE(C, fabs(w.y), isnan(a.y) ? w.x : copysign(w.x, a.y)); /* +-0 + NaN i: NaN + pi/2 i */        \
    }                                                                                                                \
    TS_INLINE C ts_catanh_##NAME(C a) { /* log1p(4x / ((1 - x)^2 + y^2)) / 4 + i atan2(2y, (1 - x)(1 + x) - y^2) / 2 */ \
        const R x = a.x, y = a.y, ax = fabs(x), ay = fabs(y);                                                        \
        if (isnan(x) || isnan(y)) {                                                                                  \
            if (isinf(x)) return TS_CMAKE(C, copysign((R)0, x), y);                                                  \
            if (isinf(y)) return TS_CMAKE(C, copysign((R)0, x), copysign(TS_CPI_2(R), y));                           \
            if (x == 0) return TS_CMAKE(C, x, y);                                                                    \
            return TS_CMAKE(C, TS_CNAN(R), TS_CNAN(R));                                                              \
        }                                                                                                            \
        if (isinf(x) || isinf(y))                                                                                    \
            return TS_CMAKE(C, copysign((R)0, x), copysign(TS_CPI_2(R), y));                                         \
        if (ax == 1 && ay == 0) return TS_CMAKE(C, copysign(TS_CINF(R), x), y);                                      \
        if (ax > TS_CBIG(R) || ay > TS_CBIG(R)) { /* Re(1/z) + i pi/2 */                                             \
            const R m = ax > ay ? ax : ay, p = ax / m, q = ay / m;                                                   \
            return TS_CMAKE(C, copysign(p / (p * p + q * q) / m, x), copysign(TS_CPI_2(R), y));                      \
        }                                                                                                            \
        const R d = ((R)1 - ax) * ((R)1 - ax) + ay * ay; /* tiny near z = +-1: log|1 + z| - log|1 - z| there */      \
        const R re = d > TS_CTINY(R) ? (R)0.25 * log1p((R)4 * ax / d)                                                \
                                     : (R)0.5 * (ts_clogabs_##NAME((R)1 + ax, ay) - ts_clogabs_##NAME((R)1 - ax, ay)); \
        const R im = (R)0.5 * atan2((R)2 * ay, ((R)1 - ax) * ((R)1 + ax) - ay * ay);                                 \
        return TS_CMAKE(C, copysign(re, x), copysign(im, y));                                                        \
    }                                                                                                                \
    TS_INLINE C ts_catan_##NAME(C a) { /* atan z = -i atanh(iz) */                                                   \
        const C w = ts_catanh_##NAME(TS_CMAKE(C, -a.y, a.x));                                                        \
        return TS_CMAKE(C, w.y, -w.x);                                                                               \
    }                                                                                                                \
    TS_INLINE C ts_clog10_##NAME(C a) {                                                                              \
        const C l = ts_clog_##NAME(a);                                                                               \
        return TS_CMAKE(C, l.x * (R)0.434294481903251827651, l.y * (R)0.434294481903251827651);                      \
    }                                                                                                                \
    TS_INLINE C ts_clog2_##NAME(C a) {                                                                               \
        const C l = ts_clog_##NAME(a);                                                                               \
        return TS_CMAKE(C, l.x * (R)1.44269504088896340736, l.y * (R)1.44269504088896340736);                        \
    }                                                                                                                \
    TS_INLINE C ts_clog1p_##NAME(C a) { /* log|1 + z| = log1p(2x + x^2 + y^2) / 2 keeps small z's digits */          \
        const R x = a.x, y = a.y;                                                                                    \
        if (!isfinite(x) || !isfinite(y) || fabs(x) > (R)0.5 || fabs(y) > (R)0.5)                                    \
            return ts_clog_##NAME(TS_CMAKE(C, x + (R)1, y));                                                         \
        return TS_CMAKE(C, (R)0.5 * log1p(x * ((R)2 + x) + y * y), atan2(y, x + (R)1));                              \
    }                                                                                                                \
    TS_INLINE C ts_cexpm1_##NAME(C a) { /* expm1(x) cos(y) - 2 sin^2(y / 2) + i e^x sin(y) */                        \
        const R x = a.x, y = a.y;                                                                                    \
        if (x == 0 && y == 0) return TS_CMAKE(C, (R)0, y); /* the standard: +0 for -0 too, as exp(z) - 1 */          \
        if (y == 0 && !isnan(x)) return TS_CMAKE(C, expm1(x), y); /* the real axis: e^x sin(0) is no inf * 0 = NaN */ \
        if (!isfinite(x) || !isfinite(y)) {                                                                          \
            const C e = ts_cexp_##NAME(a);                                                                           \
            return TS_CMAKE(C, e.x - (R)1, e.y);                                                                     \
        }                                                                                                            \
        const R s = sin(y / 2);                                                                                      \
        return TS_CMAKE(C, expm1(x) * cos(y) - (R)2 * s * s, exp(x) * sin(y));                                       \
    }                                                                                                                \
    TS_INLINE C ts_cpow_##NAME(C a, C b) {                                                                           \
        if (b.x == 0 && b.y == 0) return TS_CMAKE(C, (R)1, (R)0);                                                    \
        if (a.x == 0 && a.y == 0) {                                                                                  \
            if (b.x > 0) return TS_CMAKE(C, (R)0, (R)0); /* NumPy 2's 0 ** w, and exp(w log 0) = 0 there */          \
            return TS_CMAKE(C, TS_CNAN(R), TS_CNAN(R));                                                              \
        }                                                                                                            \
        return ts_cexp_##NAME(ts_cmul_##NAME(b, ts_clog_##NAME(a)));                                                 \
    }
#endif

#endif /* TS_OPS_COMMON_H */
