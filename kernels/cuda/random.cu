// arange and the random generators.  Outputs are contiguous; IO gives T (storage), C (compute) and ``store``.
//
// Random numbers follow Note [Random numbers] in dispatch/registry.py bit for bit: element i takes the Philox4x32-10
// block of key (seed lo, seed hi) and counter (i lo, i hi, offset lo, offset hi).
#ifndef TS_CUDA_RANDOM_CU
#define TS_CUDA_RANDOM_CU
#include "common.cu"

namespace ts {

struct Philox {
    unsigned x[4];
    __device__ __forceinline__ Philox(u64 seed, u64 i, u64 offset) {
        unsigned k0 = (unsigned)seed, k1 = (unsigned)(seed >> 32);
        unsigned c0 = (unsigned)i, c1 = (unsigned)(i >> 32), c2 = (unsigned)offset, c3 = (unsigned)(offset >> 32);
#pragma unroll
        for (int r = 0; r < 10; ++r) {
            if (r) {
                k0 += 0x9E3779B9u;
                k1 += 0xBB67AE85u;
            }
            const unsigned hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
            const unsigned hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
            c0 = hi1 ^ c1 ^ k0;
            c1 = lo1;
            c2 = hi0 ^ c3 ^ k1;
            c3 = lo0;
        }
        x[0] = c0;
        x[1] = c1;
        x[2] = c2;
        x[3] = c3;
    }
};

// rand: exact dyadic values, so the conversion to the storage type never rounds up to 1
__device__ __forceinline__ float uniform_of(const Philox& r, __half*) { return (r.x[0] >> 21) * (1.0f / 2048.0f); }
__device__ __forceinline__ float uniform_of(const Philox& r, float*) { return (r.x[0] >> 8) * (1.0f / 16777216.0f); }
__device__ __forceinline__ double uniform_of(const Philox& r, double*) {
    return ((r.x[0] >> 5) * 67108864.0 + (r.x[1] >> 6)) * (1.0 / 9007199254740992.0);
}

// randn: Box-Muller in double
__device__ __forceinline__ double normal_of(const Philox& r) {
    const double u1 = (r.x[0] + 1.0) * (1.0 / 4294967296.0);
    const double u2 = r.x[1] * (1.0 / 4294967296.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

template <class IO>
__device__ __forceinline__ void rand_kernel(i64 n, typename IO::T* out, u64 seed, u64 offset) {
    TS_GRID_LOOP(i, n) {
        const Philox r(seed, (u64)i, offset);
        IO::store(out, i, uniform_of(r, (typename IO::T*)0));
    }
}

template <class IO>
__device__ __forceinline__ void randn_kernel(i64 n, typename IO::T* out, u64 seed, u64 offset) {
    TS_GRID_LOOP(i, n) {
        const Philox r(seed, (u64)i, offset);
        IO::store(out, i, normal_of(r));  // from the double: one rounding
    }
}

// randint: low + (64 random bits mod span), in unsigned 64-bit arithmetic, wrapped into T.  span = high - low as an
// unsigned 64-bit number (the host computes it: high may be 2^63, which no int64 holds); 0 stands for 2^64, the
// whole range, where every 64-bit value is drawn as it is.
template <class IO>
__device__ __forceinline__ void randint_kernel(i64 n, typename IO::T* out, u64 seed, u64 offset, i64 low, u64 span) {
    TS_GRID_LOOP(i, n) {
        const Philox r(seed, (u64)i, offset);
        const u64 bits = ((u64)r.x[1] << 32) | r.x[0];
        out[i] = (typename IO::T)((u64)low + (span ? bits % span : bits));
    }
}

// arange: out[i] = start + i * step, in double for floats (stored from the double: one rounding, float16 too) and in
// unsigned 64-bit arithmetic for integers (it wraps, as NumPy's arange does, where int64 overflow would be
// undefined; then wrapped into T)
template <class IO, bool IsFloat>
__device__ __forceinline__ void arange_kernel(i64 n, typename IO::T* out, double fstart, double fstep, i64 istart,
                                              i64 istep) {
    TS_GRID_LOOP(i, n) {
        if (IsFloat) IO::store(out, i, fstart + (double)i * fstep);
        else IO::store(out, i, (typename IO::C)((u64)istart + (u64)i * (u64)istep));
    }
}

}  // namespace ts

#define TS_ARANGE_KERNEL(NAME, IO, IS_FLOAT)                                                                       \
    extern "C" __global__ void NAME(::ts::i64 n, IO::T* out, double fstart, double fstep, ::ts::i64 istart,        \
                                    ::ts::i64 istep) {                                                             \
        ::ts::arange_kernel<IO, IS_FLOAT>(n, out, fstart, fstep, istart, istep);                                   \
    }

#define TS_RAND_KERNELS(RAND, RANDN, IO)                                                                           \
    extern "C" __global__ void RAND(::ts::i64 n, IO::T* out, ::ts::u64 seed, ::ts::u64 offset) {                   \
        ::ts::rand_kernel<IO>(n, out, seed, offset);                                                               \
    }                                                                                                              \
    extern "C" __global__ void RANDN(::ts::i64 n, IO::T* out, ::ts::u64 seed, ::ts::u64 offset) {                  \
        ::ts::randn_kernel<IO>(n, out, seed, offset);                                                              \
    }

#define TS_RANDINT_KERNEL(NAME, IO)                                                                                \
    extern "C" __global__ void NAME(::ts::i64 n, IO::T* out, ::ts::u64 seed, ::ts::u64 offset, ::ts::i64 low,      \
                                    ::ts::u64 span) {                                                              \
        ::ts::randint_kernel<IO>(n, out, seed, offset, low, span);                                                 \
    }

#endif  // TS_CUDA_RANDOM_CU
