// softmax and log_softmax along one axis, numerically stable: y = exp(x - max) / sum(exp(x - max)).
// x may have any strides; out is contiguous.  The rows (every index but the axis) are numbered in C order: row r is
// (o, i) with o = r / inner, i = r % inner, and its elements sit at out[o * n * inner + j * inner + i].
//     meta = [nd, row shape, row x strides]      (the non-axis dims, coalesced; Note [Strided metadata])
// IO gives T, C (compute: float, or double for float64), Acc (the sum: float for float16, double otherwise),
// ``load`` and ``store``.
//
// Note [Softmax of non-finite rows]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Every backend gives PyTorch's answer: the row's max (NaN-propagating) is subtracted even when it is not finite.
// So a row holding a NaN, or whose max is +inf (inf - inf is NaN, and NaN reaches the sum), or that is all -inf
// (-inf - -inf is NaN) is NaN in every position, for softmax and log_softmax alike; a row with a finite max and some
// -inf entries gives 0 there (log_softmax: -inf) and the ordinary values elsewhere.  kernels/opencl/softmax.cl does
// the same.
//     _threads  one thread per row (short rows, or rows along an outer axis: neighbouring threads, neighbouring i)
//     _blocks   one block per row, tree reductions for the max and the sum (long rows)
#ifndef TS_CUDA_SOFTMAX_CU
#define TS_CUDA_SOFTMAX_CU
#include "common.cu"

namespace ts {

template <class C>
__device__ __forceinline__ C nan_max(C m, C v) {  // NaN wins and stays
    return ((v > m || v != v) && m == m) ? v : m;
}

template <class IO, bool LOG>
__device__ __forceinline__ void softmax_threads(i64 rows, i64 n, i64 inner, i64 sa, typename IO::T* out,
                                                const typename IO::T* x, const i64* meta) {
    typedef typename IO::C C;
    typedef typename IO::Acc Acc;
    TS_GRID_LOOP(r, rows) {
        const typename IO::T* xr = x + offset1(r, meta);
        typename IO::T* yr = out + (r / inner) * n * inner + r % inner;
        C mx = -inf_of(C(0));
        for (i64 j = 0; j < n; ++j) mx = nan_max(mx, IO::load(xr, j * sa));  // subtracted as it is: see the Note
        Acc sum = 0;
        for (i64 j = 0; j < n; ++j) sum += (Acc)exp(IO::load(xr, j * sa) - mx);
        const C lse = (C)log(sum);
        for (i64 j = 0; j < n; ++j) {
            const C v = IO::load(xr, j * sa) - mx - lse;
            IO::store(yr, j * inner, LOG ? v : exp(v));
        }
    }
}

template <class T>
struct NanMax {
    __device__ __forceinline__ T operator()(T a, T b) const { return nan_max(a, b); }
};
template <class T>
struct Plus {
    __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};

template <class IO, bool LOG>
__device__ __forceinline__ void softmax_blocks(i64 rows, i64 n, i64 inner, i64 sa, typename IO::T* out,
                                               const typename IO::T* x, const i64* meta) {
    typedef typename IO::C C;
    typedef typename IO::Acc Acc;
    __shared__ C cbuf[TS_MAX_BLOCK];
    __shared__ Acc abuf[TS_MAX_BLOCK];
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {  // uniform across the block
        const typename IO::T* xr = x + offset1(r, meta);
        typename IO::T* yr = out + (r / inner) * n * inner + r % inner;
        C mx = -inf_of(C(0));
        for (i64 j = threadIdx.x; j < n; j += blockDim.x) mx = nan_max(mx, IO::load(xr, j * sa));
        mx = block_reduce(cbuf, mx, NanMax<C>());  // subtracted as it is: see the Note
        Acc sum = 0;
        for (i64 j = threadIdx.x; j < n; j += blockDim.x) sum += (Acc)exp(IO::load(xr, j * sa) - mx);
        const C lse = (C)log(block_reduce(abuf, sum, Plus<Acc>()));
        for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
            const C v = IO::load(xr, j * sa) - mx - lse;
            IO::store(yr, j * inner, LOG ? v : exp(v));
        }
    }
}

}  // namespace ts

#define TS_SOFTMAX_KERNELS(NAME, LOG, IO)                                                                          \
    extern "C" __global__ void __launch_bounds__(TS_MAX_BLOCK)                                                     \
        NAME##_threads(::ts::i64 rows, ::ts::i64 n, ::ts::i64 inner, ::ts::i64 sa, IO::T* out, const IO::T* x,      \
                       const ::ts::i64* meta) {                                                                    \
        ::ts::softmax_threads<IO, LOG>(rows, n, inner, sa, out, x, meta);                                          \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(TS_MAX_BLOCK)                                                     \
        NAME##_blocks(::ts::i64 rows, ::ts::i64 n, ::ts::i64 inner, ::ts::i64 sa, IO::T* out, const IO::T* x,       \
                      const ::ts::i64* meta) {                                                                     \
        ::ts::softmax_blocks<IO, LOG>(rows, n, inner, sa, out, x, meta);                                           \
    }

#endif  // TS_CUDA_SOFTMAX_CU
