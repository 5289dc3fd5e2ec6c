/* Helpers shared by the elementwise kernels of every dialect: C++, CUDA C and OpenCL C.
 *
 * Written in the subset of C that all three accept.  The including source defines TS_INLINE (the function qualifier
 * of its dialect); kernels/codegen.py then instantiates the helper families below once per dtype it compiles, e.g.
 * TS_SIGNED_HELPERS(int32, int).  Helper names end in the dtype name so that no dialect needs overloading.
 *
 * Semantics follow NumPy: integer division by zero gives 0 (not a trap), INT_MIN // -1 wraps, floor division and
 * remainder round towards negative infinity, and the remainder takes the sign of the divisor.
 */
#ifndef TS_OPS_COMMON_H
#define TS_OPS_COMMON_H

#define TS_SIGNED_HELPERS(NAME, T)                                                 \
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
    }

/* NumPy's npy_divmod: floor division that agrees with the remainder, so that a == b * (a // b) + a % b. */
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
        if (b == 0) return a / b;                                                  \
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
    }

#endif /* TS_OPS_COMMON_H */
