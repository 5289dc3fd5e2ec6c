// matmul for the dtypes and layouts cuBLAS does not take (backends/cuda.py sends float32/float64 with BLAS-ready
// layouts to cuBLAS): out[b] (M x N, contiguous) = a[b] (M x K) @ b[b] (K x N), any element strides.
//
// IO gives T (storage), Acc (accumulator: float for float16 and float32, double for float64, unsigned 64-bit for integers, so
// integer products wrap exactly as NumPy's do), ``load`` and ``store``.  Batch offsets come from
//     meta = [nd, batch shape, a batch strides, b batch strides]      (Note [Strided metadata] in common.cu)
// with the output's batch index the C-order linear index.
#ifndef TS_CUDA_MATMUL_CU
#define TS_CUDA_MATMUL_CU
#include "common.cu"

namespace ts {

#define TS_TILE 16

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
                Acc acc = Acc(0);
                for (i64 k0 = 0; k0 < K; k0 += TS_TILE) {
                    as[ty][tx] = (row < M && k0 + tx < K) ? IO::load(ab, row * ars + (k0 + tx) * acs) : Acc(0);
                    bs[ty][tx] = (k0 + ty < K && col < N) ? IO::load(bb, (k0 + ty) * brs + col * bcs) : Acc(0);
                    __syncthreads();
#pragma unroll
                    for (int kk = 0; kk < TS_TILE; ++kk) acc += as[ty][kk] * bs[kk][tx];
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
