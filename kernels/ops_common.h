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
#define TS_FLOAT_HELPERS(NAME, T)                                                  \
    TS_INLINE T ts_remainder_##NAME(T a, T b) {                                    \
        T m = fmod(a, b);                                                          \
        if (m != 0) {                                                              \
            if ((b < 0) != (m < 0)) m += b;                                        \
        } else {                                                                   \
            m = copysign((T)0, b);                                                 \
        }                                                                          \
        return m;                                                                  \
    }                                                                              \
    TS_INLINE T ts_floor_divide_##NAME(T a, T b) {                                 \
        if (b == 0 || (isinf(a) != 0) != (isinf(b) != 0)) return a / b;           \
        T m = fmod(a, b);                                                          \
        T d = (a - m) / b;                                                         \
        if (m != 0 && ((b < 0) != (m < 0))) d -= 1;                                \
        if (d != 0) {                                                              \
            T f = floor(d);                                                        \
            if (d - f > (T)0.5) f += 1;                                            \
            d = f;                                                                 \
        } else {                                                                   \
            d = copysign((T)0, a / b);                                             \
        }                                                                          \
        return d;                                                                  \
    }                                                                              \
    TS_INLINE T ts_logaddexp_##NAME(T a, T b) {                                    \
        if (a == b) return a + (T)0.693147180559945309417232121458176568;          \
        T d = a - b;                                                               \
        if (d > 0) return a + log1p(exp(-d));                                      \
        if (d <= 0) return b + log1p(exp(d));                                      \
        return d;                                                                  \
    }

/* nextafter of float32: C's, except on CUDA, whose libdevice flushes subnormal steps under CuPy's -ftz=true: there
 * ::ts::nextafter_bits of kernels/cuda/common.cu steps the bits instead. */
#ifdef __CUDACC__
#define TS_NEXTAFTER_FLOAT(a, b) ::ts::nextafter_bits(a, b)
#else
#define TS_NEXTAFTER_FLOAT(a, b) nextafter(a, b)
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

#endif /* TS_OPS_COMMON_H */
