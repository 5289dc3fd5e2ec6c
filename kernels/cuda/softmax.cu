// softmax and log_softmax along one axis, numerically stable: y = exp(x - max) / sum(exp(x - max)).
// x may have any strides; out is contiguous.  The rows (every index but the axis) are numbered in C order: row r is
// (o, i) with o = r / inner, i = r % inner, and its elements sit at out[o * n * inner + j * inner + i].
//     meta = [nd, row shape, row x strides]      (the non-axis dims, coalesced; Note [Strided metadata])
// IO gives T, C (compute: float, or double for float64), Acc (the sum: float for float16, double otherwise),
// ``load`` and ``store``.  Rows whose max is not finite subtract 0 instead (as the NumPy reference does): a NaN
// makes the row NaN, a row of -inf gives NaN, a +inf gives NaN there and 0 elsewhere.
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

template <class C>
__device__ __forceinline__ C row_shift(C mx) {  // the value subtracted before exp: the max where finite, else 0
    return (mx - mx == C(0)) ? mx : C(0);
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
        for (i64 j = 0; j < n; ++j) mx = nan_max(mx, IO::load(xr, j * sa));
        mx = row_shift(mx);
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
        mx = row_shift(block_reduce(cbuf, mx, NanMax<C>()));
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
