// matmul for the dtypes and layouts cuBLAS does not take (backends/cuda.py sends float32/float64 with BLAS-ready
// layouts to cuBLAS): out[b] (M x N, contiguous) = a[b] (M x K) @ b[b] (K x N), any element strides.
//
// IO gives T (storage), Acc (accumulator: float for float16 and float32, double for float64, unsigned 64-bit for integers, so
// integer products wrap exactly as NumPy's do, float2/double2 for complex64/complex128), ``load`` and ``store``.  Batch offsets come from
//     meta = [nd, batch shape, a batch strides, b batch strides]      (Note [Strided metadata] in common.cu)
// with the output's batch index the C-order linear index.
#ifndef TS_CUDA_MATMUL_CU
#define TS_CUDA_MATMUL_CU
#include "common.cu"

namespace ts {

#define TS_TILE 16

// The accumulator's zero and acc + a * b: C++'s operators for real types, the complex product for float2/double2
// (CUDA's vector types have no arithmetic operators).
template <class Acc>
__device__ __forceinline__ Acc mm_zero() {
    return Acc(0);
}
template <>
__device__ __forceinline__ float2 mm_zero<float2>() {
    return make_float2(0.0f, 0.0f);
}
template <>
__device__ __forceinline__ double2 mm_zero<double2>() {
    return make_double2(0.0, 0.0);
}
template <class Acc>
__device__ __forceinline__ Acc mm_madd(Acc acc, Acc a, Acc b) {
    return acc + a * b;
}
__device__ __forceinline__ float2 mm_madd(float2 acc, float2 a, float2 b) {
    return make_float2(acc.x + a.x * b.x - a.y * b.y, acc.y + a.x * b.y + a.y * b.x);
}
__device__ __forceinline__ double2 mm_madd(double2 acc, double2 a, double2 b) {
    return make_double2(acc.x + a.x * b.x - a.y * b.y, acc.y + a.x * b.y + a.y * b.x);
}

template <class IO>
__device__ __forceinline__ void matmul_tiled(i64 M, i64 N, i64 K, i64 batches, typename IO::T* c,
                                             const typename IO::T* a, i64 ars, i64 acs, const typename IO::T* b,
                                             i64 brs, i64 bcs, const i64* meta) {
    typedef typename IO::Acc Acc;
    __shared__ Acc as[TS_TILE][TS_TILE + 1];
    __shared__ Acc bs[TS_TILE][TS_TILE + 1];
    const int tx = threadIdx.x, ty = threadIdx.y;
    // every loop bound depends on block indices only, so all threads of a block reach each __syncthreads
    for (i64 bt = blockIdx.z; bt < batches; bt += gridDim.z) {
        i64 off[2];
        offsets<2>(bt, meta, off);
        const typename IO::T* ab = a + off[0];
        const typename IO::T* bb = b + off[1];
        typename IO::T* cb = c + bt * M * N;
        for (i64 tm = blockIdx.y; tm * TS_TILE < M; tm += gridDim.y) {
            for (i64 tn = blockIdx.x; tn * TS_TILE < N; tn += gridDim.x) {
                const i64 row = tm * TS_TILE + ty, col = tn * TS_TILE + tx;
                Acc acc = mm_zero<Acc>();
                for (i64 k0 = 0; k0 < K; k0 += TS_TILE) {
                    const Acc zero = mm_zero<Acc>();
                    as[ty][tx] = (row < M && k0 + tx < K) ? IO::load(ab, row * ars + (k0 + tx) * acs) : zero;
                    bs[ty][tx] = (k0 + ty < K && col < N) ? IO::load(bb, (k0 + ty) * brs + col * bcs) : zero;
                    __syncthreads();
#pragma unroll
                    for (int kk = 0; kk < TS_TILE; ++kk) acc = mm_madd(acc, as[ty][kk], bs[kk][tx]);
                    __syncthreads();
                }
                if (row < M && col < N) IO::store(cb, row * N + col, acc);
            }
        }
    }
}

}  // namespace ts

#define TS_MATMUL_KERNEL(NAME, IO)                                                                                 \
    extern "C" __global__ void __launch_bounds__(TS_TILE * TS_TILE)                                                \
        NAME(::ts::i64 M, ::ts::i64 N, ::ts::i64 K, ::ts::i64 batches, IO::T* c, const IO::T* a, ::ts::i64 ars,     \
             ::ts::i64 acs, const IO::T* b, ::ts::i64 brs, ::ts::i64 bcs, const ::ts::i64* meta) {                  \
        ::ts::matmul_tiled<IO>(M, N, K, batches, c, a, ars, acs, b, brs, bcs, meta);                               \
    }

#endif  // TS_CUDA_MATMUL_CU
