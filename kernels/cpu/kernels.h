// The cpu kernels: one template per op family, instantiated per dtype from one switch (TS_DISPATCH).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "loops.h"

namespace ts {

using half = _Float16;

template <class T> struct compute { using type = T; };
template <> struct compute<half> { using type = float; };
template <class T> using compute_t = typename compute<T>::type;

// Accumulators of sum and prod: integers widen to int64 (the Array API result dtype), floats to double.
template <class T> struct accum { using type = std::conditional_t<std::is_floating_point<T>::value, double, int64_t>; };
template <> struct accum<half> { using type = double; };
template <class T> using accum_t = typename accum<T>::type;

template <class T> constexpr bool is_float_v = std::is_floating_point<T>::value || std::is_same<T, half>::value;

// NumPy's conversion rules: anything to bool is "!= 0"; float to unsigned goes through int64 (wraps, not UB).
template <class D, class S>
inline D convert(S v) {
    if constexpr (std::is_same<D, bool>::value) {
        return static_cast<compute_t<S>>(v) != 0;
    } else if constexpr (is_float_v<S> && std::is_unsigned<D>::value) {
        return static_cast<D>(static_cast<int64_t>(static_cast<compute_t<S>>(v)));
    } else if constexpr (std::is_same<S, half>::value) {
        return static_cast<D>(static_cast<float>(v));
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
// Runs the body with T bound to the C++ type of dtype code ``code`` (the order of kernels/optable.DTYPE_NAMES).
#define TS_DISPATCH(code, ...)                                                      \
    switch (code) {                                                                 \
        TS_CASE(0, bool, __VA_ARGS__)                                               \
        TS_CASE(1, int8_t, __VA_ARGS__)                                             \
        TS_CASE(2, int16_t, __VA_ARGS__)                                            \
        TS_CASE(3, int32_t, __VA_ARGS__)                                            \
        TS_CASE(4, int64_t, __VA_ARGS__)                                            \
        TS_CASE(5, uint8_t, __VA_ARGS__)                                            \
        TS_CASE(6, ::ts::half, __VA_ARGS__)                                               \
        TS_CASE(7, float, __VA_ARGS__)                                              \
        TS_CASE(8, double, __VA_ARGS__)                                             \
        default: throw std::invalid_argument("unknown dtype code");                 \
    }

constexpr int kItemsize[9] = {1, 1, 2, 4, 8, 1, 2, 4, 8};

// -- elementwise (op functors come from the generated table) ------------------------------------------------------

using UnaryKernel = void (*)(const Dims<2>&, char* const*);
using BinaryKernel = void (*)(const Dims<3>&, char* const*);

template <class F>
void unary_kernel(const Dims<2>& d, char* const* base) {
    using In = typename F::In;
    using Out = typename F::Out;
    using C = typename F::C;
    parallel_runs<2>(d, base, [](char** p, int64_t n, const int64_t* s) {
        if (s[0] == sizeof(Out) && s[1] == sizeof(In)) {
            Out* o = reinterpret_cast<Out*>(p[0]);
            const In* x = reinterpret_cast<const In*>(p[1]);
            for (int64_t i = 0; i < n; ++i) o[i] = F::apply(static_cast<C>(x[i]));
        } else {
            for (int64_t i = 0; i < n; ++i)
                *reinterpret_cast<Out*>(p[0] + i * s[0]) =
                    F::apply(static_cast<C>(*reinterpret_cast<const In*>(p[1] + i * s[1])));
        }
    });
}

template <class F>
void binary_kernel(const Dims<3>& d, char* const* base) {
    using In = typename F::In;
    using Out = typename F::Out;
    using C = typename F::C;
    parallel_runs<3>(d, base, [](char** p, int64_t n, const int64_t* s) {
        Out* o = reinterpret_cast<Out*>(p[0]);
        const In* a = reinterpret_cast<const In*>(p[1]);
        const In* b = reinterpret_cast<const In*>(p[2]);
        if (s[0] == sizeof(Out) && s[1] == sizeof(In) && s[2] == sizeof(In)) {
            for (int64_t i = 0; i < n; ++i) o[i] = F::apply(static_cast<C>(a[i]), static_cast<C>(b[i]));
        } else if (s[0] == sizeof(Out) && s[1] == sizeof(In) && s[2] == 0) {  // tensor op scalar
            const C bv = static_cast<C>(*b);
            for (int64_t i = 0; i < n; ++i) o[i] = F::apply(static_cast<C>(a[i]), bv);
        } else if (s[0] == sizeof(Out) && s[1] == 0 && s[2] == sizeof(In)) {  // scalar op tensor
            const C av = static_cast<C>(*a);
            for (int64_t i = 0; i < n; ++i) o[i] = F::apply(av, static_cast<C>(b[i]));
        } else {
            for (int64_t i = 0; i < n; ++i)
                *reinterpret_cast<Out*>(p[0] + i * s[0]) =
                    F::apply(static_cast<C>(*reinterpret_cast<const In*>(p[1] + i * s[1])),
                             static_cast<C>(*reinterpret_cast<const In*>(p[2] + i * s[2])));
        }
    });
}

template <class T>
void where_kernel(const Dims<4>& d, char* const* base) {
    parallel_runs<4>(d, base, [](char** p, int64_t n, const int64_t* s) {
        for (int64_t i = 0; i < n; ++i)
            *reinterpret_cast<T*>(p[0] + i * s[0]) = *reinterpret_cast<const bool*>(p[1] + i * s[1])
                                                          ? *reinterpret_cast<const T*>(p[2] + i * s[2])
                                                          : *reinterpret_cast<const T*>(p[3] + i * s[3]);
    });
}

template <class D, class S>
void astype_kernel(const Dims<2>& d, char* const* base) {
    parallel_runs<2>(d, base, [](char** p, int64_t n, const int64_t* s) {
        if (s[0] == sizeof(D) && s[1] == sizeof(S)) {
            D* o = reinterpret_cast<D*>(p[0]);
            const S* x = reinterpret_cast<const S*>(p[1]);
            for (int64_t i = 0; i < n; ++i) o[i] = convert<D>(x[i]);
        } else {
            for (int64_t i = 0; i < n; ++i)
                *reinterpret_cast<D*>(p[0] + i * s[0]) = convert<D>(*reinterpret_cast<const S*>(p[1] + i * s[1]));
        }
    });
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
