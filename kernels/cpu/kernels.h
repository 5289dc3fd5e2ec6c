// The cpu kernels: one template per op family, instantiated per dtype from one switch (TS_DISPATCH).
#pragma once

#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#if defined(__x86_64__)
#include <emmintrin.h>  // SSE2, part of every x86-64
#endif

#include "loops.h"
#include "vexp.h"

// Note [Vector math]
// ~~~~~~~~~~~~~~~~~~
// The op table's exp(a), log(a), sin(a), ... are C library calls, one per element, which keep a loop from
// vectorising.  glibc's libmvec (x86-64, with every glibc since 2.22) has vector variants of them, each in an SSE,
// AVX, AVX2 and AVX-512 form, and GCC calls those from a vectorised loop when the function's declaration says they
// exist (the simd attribute; glibc's own headers say so only under -ffast-math, which we do not use).  So the
// declarations below add the attribute, and each TS_HOT clone (Note [Runtime ISA dispatch]) calls the variant of its
// width: 8 expf at a time on AVX2.  libmvec keeps the C library's special cases (NaN, infinities, signed zeros,
// overflow to inf, subnormal results; it falls back to the scalar function for the lanes that need it) and is
// within 4 ulp (glibc's libm-test-ulps), far inside the conformance suite's tolerances.  -fno-math-errno (CMake)
// is what lets GCC treat these as pure functions.  The second group came with glibc 2.35; elsewhere (other
// architectures, other C libraries, clang) nothing changes.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 22))
#define TS_VECTOR_MATH 1
#define TS_SIMD_DECL(R, NAME, ARGS) extern "C" R NAME ARGS noexcept __attribute__((simd("notinbranch")));
#define TS_SIMD_MATH(NAME, ARGS_D, ARGS_F) TS_SIMD_DECL(double, NAME, ARGS_D) TS_SIMD_DECL(float, NAME##f, ARGS_F)
TS_SIMD_MATH(exp, (double), (float))
TS_SIMD_MATH(log, (double), (float))
TS_SIMD_MATH(sin, (double), (float))
TS_SIMD_MATH(cos, (double), (float))
TS_SIMD_MATH(pow, (double, double), (float, float))
#if __GLIBC__ > 2 || __GLIBC_MINOR__ >= 35
TS_SIMD_MATH(acos, (double), (float))
TS_SIMD_MATH(acosh, (double), (float))
TS_SIMD_MATH(asin, (double), (float))
TS_SIMD_MATH(asinh, (double), (float))
TS_SIMD_MATH(atan, (double), (float))
TS_SIMD_MATH(atan2, (double, double), (float, float))
TS_SIMD_MATH(atanh, (double), (float))
TS_SIMD_MATH(cosh, (double), (float))
TS_SIMD_MATH(erf, (double), (float))
TS_SIMD_MATH(exp2, (double), (float))
TS_SIMD_MATH(expm1, (double), (float))
TS_SIMD_MATH(hypot, (double, double), (float, float))
TS_SIMD_MATH(log10, (double), (float))
TS_SIMD_MATH(log1p, (double), (float))
TS_SIMD_MATH(log2, (double), (float))
TS_SIMD_MATH(sinh, (double), (float))
TS_SIMD_MATH(tan, (double), (float))
TS_SIMD_MATH(tanh, (double), (float))
#endif
#undef TS_SIMD_MATH
#undef TS_SIMD_DECL
#else
#define TS_VECTOR_MATH 0
#endif

namespace ts {

using half = _Float16;

// The type a dtype computes in: float16 in float, and uint16 in uint32, because C++ promotes a uint16_t to int, where
// a product such as 65535 * 65535 overflows (undefined); uint32 arithmetic wraps and the store keeps the low 16 bits
// (kernels/codegen.py's compute_type says the same for the generated kernels).
template <class T> struct compute { using type = T; };
template <> struct compute<half> { using type = float; };
template <> struct compute<uint16_t> { using type = uint32_t; };
template <class T> using compute_t = typename compute<T>::type;

template <class T> constexpr bool is_unsigned_int_v = std::is_unsigned<T>::value && !std::is_same<T, bool>::value;

// Accumulators of sum and prod: the Array API result dtype, uint64 for unsigned integers and int64 for signed ones
// and bool (kernels/optable.py's sum_dtype); floats to double.
template <class T> struct accum {
    using type = std::conditional_t<std::is_floating_point<T>::value, double,
                                    std::conditional_t<is_unsigned_int_v<T>, uint64_t, int64_t>>;
};
template <> struct accum<half> { using type = double; };
// complex64 sums in complex128, as float32 sums in double (Note [Complex kernels] in kernels/ops_common.h)
template <> struct accum<std::complex<float>> { using type = std::complex<double>; };
template <> struct accum<std::complex<double>> { using type = std::complex<double>; };
template <class T> using accum_t = typename accum<T>::type;

template <class T> constexpr bool is_float_v = std::is_floating_point<T>::value || std::is_same<T, half>::value;
template <class T> struct is_complex : std::false_type {};
template <class R> struct is_complex<std::complex<R>> : std::true_type {};
template <class T> constexpr bool is_complex_v = is_complex<T>::value;

// Float to integer in defined behaviour, following Note [Float to integer casts] in dispatch/dtypes.py: trunc(v) when
// -2^(bits-1) <= trunc(v) < 2^(bits-1), else the type's minimum (NaN and +-inf too).  This is NumPy's answer on x86-64,
// where cvttss2si/cvttsd2si (and cvttps2dq) return that minimum, the "integer indefinite", for every value that does
// not fit.  A C++ cast of such a value is undefined behaviour, so:
//   - on x86-64, double sources and int64 targets use those instructions through their intrinsics (defined; and as
//     fast as the old plain cast: there is no SSE2 vector form for int64, and for double the scalar instruction
//     beat a vectorised compare and select);
//   - elsewhere, and for float to int32 (which vectorises with cvttps2dq), the value is first replaced by the minimum
//     when it does not fit, so that the cast only ever sees values that do: one compare and a select per lane.
template <class I, class F>
inline I float_to_int(F v) {
    static_assert(std::is_same<I, int32_t>::value || std::is_same<I, int64_t>::value, "int32 or int64 targets");
#if defined(__x86_64__)
    constexpr bool is_double = std::is_same<F, double>::value, is_int64 = std::is_same<I, int64_t>::value;
    if constexpr (is_double && is_int64) return _mm_cvttsd_si64(_mm_set_sd(v));
    if constexpr (is_double && !is_int64) return _mm_cvttsd_si32(_mm_set_sd(v));
    if constexpr (!is_double && is_int64) return _mm_cvttss_si64(_mm_set_ss(v));
#endif
    constexpr F lo = static_cast<F>(std::numeric_limits<I>::min());  // -2^(bits-1): exact in float and double
    constexpr F hi = -lo;
    // trunc(v) >= lo is v > lo - 1 where F holds lo - 1 (double and int32); elsewhere lo - 1 rounds to lo, no F lies
    // between them, and it is v >= lo.  NaN fails both compares.
    constexpr bool below_exact = lo - F(1) != lo;
    const bool fits = (below_exact ? v > lo - F(1) : v >= lo) && v < hi;
    return static_cast<I>(fits ? v : lo);
}

// Every conversion of astype, fill and the rest (see Note [Float to integer casts] in dispatch/dtypes.py):
//   to bool          v != 0 (NaN gives true)
//   float to int64   float_to_int<int64_t>
//   float to int8, int16, int32, uint8, uint16
//                    float_to_int<int32_t>, then wrapped to the width (low bits): 300.7 -> int8 44, -1.0 -> uint8 255
//   float to uint32  float_to_int<int64_t>, then wrapped to 32 bits (NaN and +-inf give 0)
//   float to uint64  float_to_int<int64_t> below 2^63; from 2^63 up float_to_int<int64_t>(v - 2^63) ^ 2^63
//   float16 sources  convert exactly to float first
//   to a float       rounds once (double to float16 directly: 65519.999 gives 65504, not inf)
//   int to int       wraps (low bits, two's complement)
//   complex to bool  either part nonzero; complex to a real dtype: the real part, converted as above (NumPy's
//                    answer, which warns); a real dtype to complex: the value, converted to the part's type, and +0
template <class D, class S>
inline D convert(S v) {
    if constexpr (is_complex_v<S> && std::is_same<D, bool>::value) {
        return v.real() != 0 || v.imag() != 0;
    } else if constexpr (is_complex_v<S> && is_complex_v<D>) {
        using R = typename D::value_type;
        return D(static_cast<R>(v.real()), static_cast<R>(v.imag()));
    } else if constexpr (is_complex_v<S>) {
        return convert<D>(v.real());
    } else if constexpr (is_complex_v<D>) {
        using R = typename D::value_type;
        return D(convert<R>(v), R(0));
    } else if constexpr (std::is_same<D, bool>::value) {
        return static_cast<compute_t<S>>(v) != 0;
    } else if constexpr (is_float_v<S> && !is_float_v<D>) {
        using F = compute_t<S>;
        if constexpr (std::is_same<D, int64_t>::value) {
            return float_to_int<int64_t>(static_cast<F>(v));
        } else if constexpr (std::is_same<D, uint32_t>::value) {
            return static_cast<uint32_t>(float_to_int<int64_t>(static_cast<F>(v)));
        } else if constexpr (std::is_same<D, uint64_t>::value) {
            // from 2^63 up: int64(v - 2^63) with the top bit set, as x86-64 compilers convert (and NumPy with them);
            // v - 2^63 is exact below 2^64, where v is a multiple of its spacing, and stays >= 2^63 above it (then 0)
            const F f = static_cast<F>(v);
            constexpr F two63 = static_cast<F>(9223372036854775808.0);
            if (f >= two63) return static_cast<uint64_t>(float_to_int<int64_t>(f - two63)) ^ (uint64_t(1) << 63);
            return static_cast<uint64_t>(float_to_int<int64_t>(f));
        } else {
            return static_cast<D>(float_to_int<int32_t>(static_cast<F>(v)));
        }
    } else {
        return static_cast<D>(v);
    }
}

#define TS_CASE(CODE, TYPE, ...) \
    case CODE: {                 \
        using T = TYPE;          \
        __VA_ARGS__;             \
        break;                   \
    }
// The cases of the real dtypes, in code order (kernels/optable.DTYPE_NAMES).
#define TS_REAL_CASES(...)                                                          \
    TS_CASE(0, bool, __VA_ARGS__)                                                   \
    TS_CASE(1, int8_t, __VA_ARGS__)                                                 \
    TS_CASE(2, int16_t, __VA_ARGS__)                                                \
    TS_CASE(3, int32_t, __VA_ARGS__)                                                \
    TS_CASE(4, int64_t, __VA_ARGS__)                                                \
    TS_CASE(5, uint8_t, __VA_ARGS__)                                                \
    TS_CASE(6, ::ts::half, __VA_ARGS__)                                             \
    TS_CASE(7, float, __VA_ARGS__)                                                  \
    TS_CASE(8, double, __VA_ARGS__)                                                 \
    TS_CASE(9, uint16_t, __VA_ARGS__)                                               \
    TS_CASE(10, uint32_t, __VA_ARGS__)                                              \
    TS_CASE(11, uint64_t, __VA_ARGS__)
// Runs the body with T bound to the C++ type of dtype code ``code``: the real dtypes.
#define TS_DISPATCH(code, ...)                                                      \
    switch (code) {                                                                 \
        TS_REAL_CASES(__VA_ARGS__)                                                  \
        default: throw std::invalid_argument("unknown dtype code");                 \
    }
// The same with complex64 and complex128 too: the families whose kernels take complex numbers (kernels/optable.py's
// COVERAGE), which are the ones whose templates compile for std::complex.  Every other family dispatches on the real
// dtypes only; the registry never hands it a complex tensor.
#define TS_DISPATCH_ALL(code, ...)                                                  \
    switch (code) {                                                                 \
        TS_REAL_CASES(__VA_ARGS__)                                                  \
        TS_CASE(12, std::complex<float>, __VA_ARGS__)                               \
        TS_CASE(13, std::complex<double>, __VA_ARGS__)                              \
        default: throw std::invalid_argument("unknown dtype code");                 \
    }

constexpr int kNumDtypes = 14;
constexpr int kItemsize[kNumDtypes] = {1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8, 8, 16};

// -- elementwise (op functors come from the generated table) ------------------------------------------------------

// An entry of the generated tables (&ts::unary_kernel<F>): the loop and the widths of what it writes and reads, so that
// an entry point can check the dtype codes it was handed against the loop it runs (see Note [Bounds checks] in
// module.cpp): a wrong out dtype code would otherwise let the loop write past the checked bytes.
struct UnaryEntry {
    void (*run)(const Dims<2>&, char* const*, int64_t cost);
    int out_size, in_size;
};
struct BinaryEntry {
    void (*run)(const Dims<3>&, char* const*, int64_t cost);
    int out_size, in_size;
};
using UnaryKernel = const UnaryEntry*;
using BinaryKernel = const BinaryEntry*;

// Note [Elementwise grain]
// ~~~~~~~~~~~~~~~~~~~~~~~~
// grain() counts elements of cheap work: an add or a compare, well under a nanosecond an element.  An op that calls
// the C library (exp, sin, pow: Note [Vector math]) costs several nanoseconds an element even vectorised, so the
// entry points weigh each of its elements as ``cost`` cheap ones (module.cpp's unary_cost and binary_cost: kLibmCost
// for the ops its list names, 1 otherwise), and the loop goes parallel, and releases the GIL, after grain() / cost
// elements: exp of 64K floats runs on every thread, as PyTorch's does.

// The element types whose contiguous loops get ISA clones (Note [Runtime ISA dispatch]): the real numbers.  Other
// types (complex) get the one baseline loop.
template <class T> constexpr bool hot_type_v = std::is_integral<T>::value || is_float_v<T>;

// The contiguous runs of an elementwise op: out and input contiguous.
template <class F>
__attribute__((always_inline)) inline void unary_contig(typename F::Out* o, const typename F::In* x, int64_t n) {
    using C = typename F::C;
    for (int64_t i = 0; i < n; ++i) o[i] = F::apply(static_cast<C>(x[i]));
}
template <class F>
TS_HOT void unary_contig_hot(typename F::Out* o, const typename F::In* x, int64_t n) {
    unary_contig<F>(o, x, n);
}

// The contiguous runs of a binary op: out contiguous, and both inputs (kBoth), or a with b a broadcast scalar
// (kScalarB), or b with a a broadcast scalar (kScalarA).
enum BinaryForm { kBoth, kScalarB, kScalarA };
// Whether functor F has a vectorisable fast form and the test of the elements it is not right for (F::fast,
// F::slow): Note [Two-pass float division] in kernels/ops_common.h.
template <class F, class = void> struct has_fast_form : std::false_type {};
template <class F> struct has_fast_form<F, std::void_t<decltype(&F::fast)>> : std::true_type {};

// o[i] = F(A(i), B(i)) for i < n by blocks: F::fast for all of a block (vectorised), then F::apply again for the
// elements F::slow names, only in a block that has one.
template <class F, class A, class B>
__attribute__((always_inline)) inline void two_pass(typename F::Out* o, int64_t n, A av, B bv) {
    constexpr int64_t kBlock = 512;
    for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
        const int64_t i1 = std::min(n, i0 + kBlock);
        int slow = 0;
        for (int64_t i = i0; i < i1; ++i) {
            o[i] = F::fast(av(i), bv(i));
            slow |= F::slow(av(i), bv(i));
        }
        if (slow)
            for (int64_t i = i0; i < i1; ++i)
                if (F::slow(av(i), bv(i))) o[i] = F::apply(av(i), bv(i));
    }
}

template <class F>
__attribute__((always_inline)) inline void binary_contig(typename F::Out* o, const typename F::In* a,
                                                         const typename F::In* b, int64_t n, BinaryForm form) {
    using C = typename F::C;
    if constexpr (has_fast_form<F>::value) {
        const auto at = [a](int64_t i) { return static_cast<C>(a[i]); };
        const auto bt = [b](int64_t i) { return static_cast<C>(b[i]); };
        if (n <= 0) return;
        if (form == kBoth) {
            two_pass<F>(o, n, at, bt);
        } else if (form == kScalarB) {
            const C bs = static_cast<C>(*b);
            two_pass<F>(o, n, at, [bs](int64_t) { return bs; });
        } else {
            const C as = static_cast<C>(*a);
            two_pass<F>(o, n, [as](int64_t) { return as; }, bt);
        }
        return;
    }
    if (form == kBoth) {
        for (int64_t i = 0; i < n; ++i) o[i] = F::apply(static_cast<C>(a[i]), static_cast<C>(b[i]));
    } else if (form == kScalarB) {
        const C bv = static_cast<C>(*b);
        for (int64_t i = 0; i < n; ++i) o[i] = F::apply(static_cast<C>(a[i]), bv);
    } else {
        const C av = static_cast<C>(*a);
        for (int64_t i = 0; i < n; ++i) o[i] = F::apply(av, static_cast<C>(b[i]));
    }
}
template <class F>
TS_HOT void binary_contig_hot(typename F::Out* o, const typename F::In* a, const typename F::In* b, int64_t n,
                              BinaryForm form) {
    binary_contig<F>(o, a, b, n, form);
}

// Whether functor F is exp of float32 (kernels/codegen.py marks it ``own_exp``): Note [Own vector exp] in vexp.h.
template <class F, class = void> struct is_own_exp : std::false_type {};
template <class F> struct is_own_exp<F, std::void_t<decltype(F::own_exp)>> : std::true_type {};

template <class F>
void unary_loop(const Dims<2>& d, char* const* base, int64_t cost) {
    using In = typename F::In;
    using Out = typename F::Out;
    using C = typename F::C;
    parallel_runs<2>(d, base, [](char** p, int64_t n, const int64_t* s) {
        if (s[0] == sizeof(Out) && s[1] == sizeof(In)) {
            Out* o = reinterpret_cast<Out*>(p[0]);
            const In* x = reinterpret_cast<const In*>(p[1]);
            if constexpr (is_own_exp<F>::value) {
                if (own_vector_exp()) return exp_f32_avx512(x, o, n);
            }
            if constexpr (hot_type_v<In> && hot_type_v<Out>) unary_contig_hot<F>(o, x, n);
            else unary_contig<F>(o, x, n);
        } else {
            for (int64_t i = 0; i < n; ++i)
                *reinterpret_cast<Out*>(p[0] + i * s[0]) =
                    F::apply(static_cast<C>(*reinterpret_cast<const In*>(p[1] + i * s[1])));
        }
    }, cost);
}

template <class F>
void binary_loop(const Dims<3>& d, char* const* base, int64_t cost) {
    using In = typename F::In;
    using Out = typename F::Out;
    using C = typename F::C;
    parallel_runs<3>(d, base, [](char** p, int64_t n, const int64_t* s) {
        Out* o = reinterpret_cast<Out*>(p[0]);
        const In* a = reinterpret_cast<const In*>(p[1]);
        const In* b = reinterpret_cast<const In*>(p[2]);
        const int64_t item = sizeof(In);
        const bool contig = s[0] == sizeof(Out) && (s[1] == item || s[1] == 0) && (s[2] == item || s[2] == 0) &&
                            (s[1] | s[2]) != 0;
        if (contig) {
            const BinaryForm form = s[1] == 0 ? kScalarA : s[2] == 0 ? kScalarB : kBoth;
            if constexpr (hot_type_v<In> && hot_type_v<Out>) binary_contig_hot<F>(o, a, b, n, form);
            else binary_contig<F>(o, a, b, n, form);
        } else {
            for (int64_t i = 0; i < n; ++i)
                *reinterpret_cast<Out*>(p[0] + i * s[0]) =
                    F::apply(static_cast<C>(*reinterpret_cast<const In*>(p[1] + i * s[1])),
                             static_cast<C>(*reinterpret_cast<const In*>(p[2] + i * s[2])));
        }
    }, cost);
}

template <class F>
inline constexpr UnaryEntry unary_kernel{&unary_loop<F>, sizeof(typename F::Out), sizeof(typename F::In)};
template <class F>
inline constexpr BinaryEntry binary_kernel{&binary_loop<F>, sizeof(typename F::Out), sizeof(typename F::In)};

// where's contiguous runs: out and cond contiguous, a and b contiguous (true) or one scalar (false).  Bools hold 0
// or 1 (Note [Kernel contract]), so 0 - c is the all-ones or all-zeros mask.
template <class U, bool A, bool B>
TS_HOT void where_contig(U* o, const uint8_t* c, const U* a, const U* b, int64_t n) {
    if (n <= 0) return;
    const U a0 = a[0], b0 = b[0];
    for (int64_t i = 0; i < n; ++i) {
        const U mask = static_cast<U>(static_cast<U>(0) - static_cast<U>(c[i]));
        const U x = A ? a[i] : a0, y = B ? b[i] : b0;
        o[i] = static_cast<U>((x & mask) | (y & static_cast<U>(~mask)));
    }
}

template <class T>
void where_kernel(const Dims<4>& d, char* const* base) {
    if constexpr (sizeof(T) == 16) {  // complex128: the two 8-byte halves as two selects
        parallel_runs<4>(d, base, [](char** p, int64_t n, const int64_t* s) {
            for (int64_t i = 0; i < n; ++i) {
                uint64_t a[2], b[2], r[2];
                std::memcpy(a, p[2] + i * s[2], 16);
                std::memcpy(b, p[3] + i * s[3], 16);
                const uint64_t mask = uint64_t(0) - uint64_t(*reinterpret_cast<const bool*>(p[1] + i * s[1]));
                r[0] = (a[0] & mask) | (b[0] & ~mask);
                r[1] = (a[1] & mask) | (b[1] & ~mask);
                std::memcpy(p[0] + i * s[0], r, 16);
            }
        });
    } else {
        // A bit-mask select of both values: with a branch (which GCC keeps even for a plain ?: on loaded values), a
        // random mask (relu's backward, dropout) mispredicts half the time and costs ~4 ns an element, not ~0.5.
        using U = std::conditional_t<sizeof(T) == 1, uint8_t, std::conditional_t<sizeof(T) == 2, uint16_t,
                                     std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>>;
        static_assert(sizeof(U) == sizeof(T), "where: no unsigned type of this size");
        parallel_runs<4>(d, base, [](char** p, int64_t n, const int64_t* s) {
            // contiguous out and cond, each value contiguous or one broadcast scalar (relu's backward
            // where(x > 0, g, 0), masks): strides known at compile time, so the select vectorises (~8x)
            if (s[0] == sizeof(U) && s[1] == 1 && (s[2] == sizeof(U) || s[2] == 0) &&
                (s[3] == sizeof(U) || s[3] == 0)) {
                U* o = reinterpret_cast<U*>(p[0]);
                const uint8_t* c = reinterpret_cast<const uint8_t*>(p[1]);
                const U* a = reinterpret_cast<const U*>(p[2]);
                const U* b = reinterpret_cast<const U*>(p[3]);
                if (s[2] && s[3]) where_contig<U, true, true>(o, c, a, b, n);
                else if (s[2]) where_contig<U, true, false>(o, c, a, b, n);
                else if (s[3]) where_contig<U, false, true>(o, c, a, b, n);
                else where_contig<U, false, false>(o, c, a, b, n);
                return;
            }
            for (int64_t i = 0; i < n; ++i) {
                U a, b;
                std::memcpy(&a, p[2] + i * s[2], sizeof(U));
                std::memcpy(&b, p[3] + i * s[3], sizeof(U));
                const U mask = static_cast<U>(0) - static_cast<U>(*reinterpret_cast<const bool*>(p[1] + i * s[1]));
                const U r = static_cast<U>((a & mask) | (b & static_cast<U>(~mask)));
                std::memcpy(p[0] + i * s[0], &r, sizeof(U));
            }
        });
    }
}

// The contiguous runs of astype.
template <class D, class S>
__attribute__((always_inline)) inline void astype_contig(D* o, const S* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) o[i] = convert<D>(x[i]);
}
template <class D, class S>
TS_HOT void astype_contig_hot(D* o, const S* x, int64_t n) {
    astype_contig<D, S>(o, x, n);
}

template <class D, class S>
void astype_kernel(const Dims<2>& d, char* const* base) {
    parallel_runs<2>(d, base, [](char** p, int64_t n, const int64_t* s) {
        if (s[0] == sizeof(D) && s[1] == sizeof(S)) {
            D* o = reinterpret_cast<D*>(p[0]);
            const S* x = reinterpret_cast<const S*>(p[1]);
            if constexpr (hot_type_v<D> && hot_type_v<S>) astype_contig_hot<D, S>(o, x, n);
            else astype_contig<D, S>(o, x, n);
        } else {
            for (int64_t i = 0; i < n; ++i)
                *reinterpret_cast<D*>(p[0] + i * s[0]) = convert<D>(*reinterpret_cast<const S*>(p[1] + i * s[1]));
        }
    });
}

// The value fill writes: a float one converts by the astype rules, an integer one wraps; complex takes (fv, fimag).
template <class T>
T fill_value(double fv, int64_t iv, bool from_float, double fimag) {
    if constexpr (is_complex_v<T>) {
        using R = typename T::value_type;
        return T(static_cast<R>(from_float ? fv : static_cast<double>(iv)), static_cast<R>(fimag));
    } else {
        return is_float_v<T> || from_float ? convert<T>(fv) : static_cast<T>(iv);
    }
}

template <class T>
void fill_kernel(const Dims<1>& d, char* const* base, T value) {
    parallel_runs<1>(d, base, [value](char** p, int64_t n, const int64_t* s) {
        for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(p[0] + i * s[0]) = value;
    });
}

// -- random numbers: Philox4x32-10, see Note [Random numbers] in dispatch/registry.py -----------------------------

struct Philox {
    uint32_t x[4];
    Philox(uint64_t seed, uint64_t i, uint64_t offset) {
        uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
        uint32_t c0 = static_cast<uint32_t>(i), c1 = static_cast<uint32_t>(i >> 32);
        uint32_t c2 = static_cast<uint32_t>(offset), c3 = static_cast<uint32_t>(offset >> 32);
        for (int r = 0; r < 10; ++r) {
            if (r) {
                k0 += 0x9E3779B9u;
                k1 += 0xBB67AE85u;
            }
            const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
            const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
            const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
            const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
            c0 = hi1 ^ c1 ^ k0;
            c1 = lo1;
            c2 = hi0 ^ c3 ^ k1;
            c3 = lo0;
        }
        x[0] = c0, x[1] = c1, x[2] = c2, x[3] = c3;
    }
};

template <class T>
T uniform(const Philox& r) {
    if constexpr (std::is_same<T, double>::value)
        return ((r.x[0] >> 5) * 67108864.0 + (r.x[1] >> 6)) * (1.0 / 9007199254740992.0);
    else if constexpr (std::is_same<T, half>::value)
        return static_cast<T>((r.x[0] >> 21) * (1.0f / 2048.0f));
    else
        return static_cast<T>((r.x[0] >> 8) * (1.0f / 16777216.0f));
}

template <class T>
T normal(const Philox& r) {
    const double u1 = (r.x[0] + 1.0) * (1.0 / 4294967296.0);
    const double u2 = r.x[1] * (1.0 / 4294967296.0);
    return static_cast<T>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

}  // namespace ts
