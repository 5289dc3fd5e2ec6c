// Elementwise kernels: unary and binary ops of kernels/optable.py, where, astype and fill.  One template per family;
// backends/cuda.py generates only the op functors and the extern "C" instantiations (the TS_*_KERNELS macros below).
//
// A functor F gives In/Out (storage types), ``load`` (storage -> compute type, from kernels/codegen.py), ``apply``
// (the op table's C expression) and ``store`` (compute -> storage, codegen again).  Each family comes in three
// layouts, chosen per call by the backend:
//     _contig    every operand contiguous: out[i] = f(x[i])
//     _strided1  one dimension after coalescing: a stride per operand passed by value (broadcast scalars land here)
//     _strided   any layout: a device-resident metadata array, see Note [Strided metadata] in common.cu
#ifndef TS_CUDA_ELEMENTWISE_CU
#define TS_CUDA_ELEMENTWISE_CU
#include "common.cu"

namespace ts {

// -- unary --------------------------------------------------------------------------------------------------------

template <class F>
__device__ __forceinline__ void unary_contig(i64 n, typename F::Out* o, const typename F::In* x) {
    TS_GRID_LOOP(i, n) F::store(o, i, F::apply(F::load(x, i)));
}

template <class F>
__device__ __forceinline__ void unary_strided1(i64 n, typename F::Out* o, i64 so, const typename F::In* x, i64 sx) {
    TS_GRID_LOOP(i, n) F::store(o, i * so, F::apply(F::load(x, i * sx)));
}

template <class F>
__device__ __forceinline__ void unary_strided(i64 n, typename F::Out* o, const typename F::In* x, const i64* meta) {
    TS_GRID_LOOP(i, n) {
        i64 off[2];
        offsets<2>(i, meta, off);
        F::store(o, off[0], F::apply(F::load(x, off[1])));
    }
}

// -- binary -------------------------------------------------------------------------------------------------------

template <class F>
__device__ __forceinline__ void binary_contig(i64 n, typename F::Out* o, const typename F::In* a,
                                              const typename F::In* b) {
    TS_GRID_LOOP(i, n) F::store(o, i, F::apply(F::load(a, i), F::load(b, i)));
}

template <class F>
__device__ __forceinline__ void binary_strided1(i64 n, typename F::Out* o, i64 so, const typename F::In* a, i64 sa,
                                                const typename F::In* b, i64 sb) {
    TS_GRID_LOOP(i, n) F::store(o, i * so, F::apply(F::load(a, i * sa), F::load(b, i * sb)));
}

template <class F>
__device__ __forceinline__ void binary_strided(i64 n, typename F::Out* o, const typename F::In* a,
                                               const typename F::In* b, const i64* meta) {
    TS_GRID_LOOP(i, n) {
        i64 off[3];
        offsets<3>(i, meta, off);
        F::store(o, off[0], F::apply(F::load(a, off[1]), F::load(b, off[2])));
    }
}

// -- where: out = cond ? a : b (cond is bool; a, b and out share one dtype, copied as storage) ------------------------

template <class T>
__device__ __forceinline__ void where_contig(i64 n, T* o, const bool* c, const T* a, const T* b) {
    TS_GRID_LOOP(i, n) o[i] = c[i] ? a[i] : b[i];
}

template <class T>
__device__ __forceinline__ void where_strided1(i64 n, T* o, i64 so, const bool* c, i64 sc, const T* a, i64 sa,
                                               const T* b, i64 sb) {
    TS_GRID_LOOP(i, n) o[i * so] = c[i * sc] ? a[i * sa] : b[i * sb];
}

template <class T>
__device__ __forceinline__ void where_strided(i64 n, T* o, const bool* c, const T* a, const T* b, const i64* meta) {
    TS_GRID_LOOP(i, n) {
        i64 off[4];
        offsets<4>(i, meta, off);
        o[off[0]] = c[off[1]] ? a[off[2]] : b[off[3]];
    }
}

// -- fill: the value arrives as the little-endian bytes of the target dtype, converted on the host, in two 64-bit
// words (lo, then hi: a complex128 takes 16 bytes; every narrower dtype leaves hi 0) --------------------------------

struct __align__(16) FillBits {
    u64 w[2];
};

template <class T>
__device__ __forceinline__ T from_bits(u64 lo, u64 hi) {
    const FillBits b = {{lo, hi}};  // 16-byte aligned: a double2 load from it is aligned too
    return *reinterpret_cast<const T*>(&b);  // little-endian: the value's bytes come first
}

template <class T>
__device__ __forceinline__ void fill_contig(i64 n, T* o, u64 lo, u64 hi) {
    const T v = from_bits<T>(lo, hi);
    TS_GRID_LOOP(i, n) o[i] = v;
}

template <class T>
__device__ __forceinline__ void fill_strided1(i64 n, T* o, i64 so, u64 lo, u64 hi) {
    const T v = from_bits<T>(lo, hi);
    TS_GRID_LOOP(i, n) o[i * so] = v;
}

template <class T>
__device__ __forceinline__ void fill_strided(i64 n, T* o, u64 lo, u64 hi, const i64* meta) {
    const T v = from_bits<T>(lo, hi);
    TS_GRID_LOOP(i, n) {
        i64 off[1];
        offsets<1>(i, meta, off);
        o[off[0]] = v;
    }
}

}  // namespace ts

// extern "C" entry points: NAME_contig, NAME_strided1, NAME_strided for functor (or type) F.
#define TS_UNARY_KERNELS(NAME, F)                                                                                  \
    extern "C" __global__ void NAME##_contig(::ts::i64 n, F::Out* o, const F::In* x) {                             \
        ::ts::unary_contig<F>(n, o, x);                                                                            \
    }                                                                                                              \
    extern "C" __global__ void NAME##_strided1(::ts::i64 n, F::Out* o, ::ts::i64 so, const F::In* x,               \
                                               ::ts::i64 sx) {                                                     \
        ::ts::unary_strided1<F>(n, o, so, x, sx);                                                                  \
    }                                                                                                              \
    extern "C" __global__ void NAME##_strided(::ts::i64 n, F::Out* o, const F::In* x, const ::ts::i64* meta) {     \
        ::ts::unary_strided<F>(n, o, x, meta);                                                                     \
    }

#define TS_BINARY_KERNELS(NAME, F)                                                                                 \
    extern "C" __global__ void NAME##_contig(::ts::i64 n, F::Out* o, const F::In* a, const F::In* b) {             \
        ::ts::binary_contig<F>(n, o, a, b);                                                                        \
    }                                                                                                              \
    extern "C" __global__ void NAME##_strided1(::ts::i64 n, F::Out* o, ::ts::i64 so, const F::In* a,               \
                                               ::ts::i64 sa, const F::In* b, ::ts::i64 sb) {                       \
        ::ts::binary_strided1<F>(n, o, so, a, sa, b, sb);                                                          \
    }                                                                                                              \
    extern "C" __global__ void NAME##_strided(::ts::i64 n, F::Out* o, const F::In* a, const F::In* b,              \
                                              const ::ts::i64* meta) {                                             \
        ::ts::binary_strided<F>(n, o, a, b, meta);                                                                 \
    }

#define TS_WHERE_KERNELS(NAME, T)                                                                                  \
    extern "C" __global__ void NAME##_contig(::ts::i64 n, T* o, const bool* c, const T* a, const T* b) {           \
        ::ts::where_contig<T>(n, o, c, a, b);                                                                      \
    }                                                                                                              \
    extern "C" __global__ void NAME##_strided1(::ts::i64 n, T* o, ::ts::i64 so, const bool* c, ::ts::i64 sc,       \
                                               const T* a, ::ts::i64 sa, const T* b, ::ts::i64 sb) {               \
        ::ts::where_strided1<T>(n, o, so, c, sc, a, sa, b, sb);                                                    \
    }                                                                                                              \
    extern "C" __global__ void NAME##_strided(::ts::i64 n, T* o, const bool* c, const T* a, const T* b,            \
                                              const ::ts::i64* meta) {                                             \
        ::ts::where_strided<T>(n, o, c, a, b, meta);                                                               \
    }

#define TS_FILL_KERNELS(NAME, T)                                                                                   \
    extern "C" __global__ void NAME##_contig(::ts::i64 n, T* o, ::ts::u64 lo, ::ts::u64 hi) {                      \
        ::ts::fill_contig<T>(n, o, lo, hi);                                                                        \
    }                                                                                                              \
    extern "C" __global__ void NAME##_strided1(::ts::i64 n, T* o, ::ts::i64 so, ::ts::u64 lo, ::ts::u64 hi) {      \
        ::ts::fill_strided1<T>(n, o, so, lo, hi);                                                                  \
    }                                                                                                              \
    extern "C" __global__ void NAME##_strided(::ts::i64 n, T* o, ::ts::u64 lo, ::ts::u64 hi,                       \
                                              const ::ts::i64* meta) {                                             \
        ::ts::fill_strided<T>(n, o, lo, hi, meta);                                                                 \
    }

#endif  // TS_CUDA_ELEMENTWISE_CU
