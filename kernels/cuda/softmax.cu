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

// Cross entropy's common case (Note [Fused cross entropy] in kernels/cpu/module.cpp): the nll of log_softmax over the
// rows of (N, C) logits x, element (r, j) at x[r * rs + j * cs] (any strides), int64 targets at t[r * ts].  The
// forward is two launches and no atomics:
//     nll_rows_{threads,blocks}  each row's -((x[t] - max) - log(sum exp(x - max))) in C, as a double into loss[r];
//                                NaN for a row that is not finite (as log_softmax: the Note above), 0 for a target
//                                outside [0, C), whose x is not read
//     nll_total                  one block: thread i sums rows i, i + blockDim.x, ... in double, then the tree (a
//                                fixed order: the same bits every run), and finds the first target outside [0, C) the
//                                same way; writes the 0-d loss (rounded to C, then over N in C for the mean, as the
//                                cpu kernel) and info = {that row or N, its target}, all the host reads back
// The backward writes out (N, C) contiguous: softmax(x[r]) * c, plus -c at the target, c = g / N (mean) or g, read
// from the device and rounded to T (a float16 scale is a half, as the cpu kernel's).

template <class IO>
__device__ __forceinline__ typename IO::C nll_scale(const typename IO::T* g, i64 rows, int mean) {
    typedef typename IO::C C;
    const C gv = IO::load(g, 0);
    typename IO::T rounded[1];
    IO::store(rounded, 0, mean ? gv / (C)rows : gv);
    return IO::load(rounded, 0);
}

template <class C>
__device__ __forceinline__ bool finite_max(C mx) {  // false for NaN, +inf and -inf (an all -inf row)
    return mx < inf_of(C(0)) && mx > -inf_of(C(0));
}

template <class IO>
__device__ __forceinline__ void nll_rows_threads(i64 rows, i64 c, i64 rs, i64 cs, const typename IO::T* x,
                                                 const i64* t, i64 ts_, double* loss) {
    typedef typename IO::C C;
    typedef typename IO::Acc Acc;
    TS_GRID_LOOP(r, rows) {
        const i64 k = t[r * ts_];
        if (k < 0 || k >= c) {  // reported by nll_total
            loss[r] = 0;
            continue;
        }
        const typename IO::T* xr = x + r * rs;
        C mx = -inf_of(C(0));
        for (i64 j = 0; j < c; ++j) mx = nan_max(mx, IO::load(xr, j * cs));
        if (!finite_max(mx)) {
            loss[r] = (double)nan_of(C(0));
            continue;
        }
        Acc sum = 0;
        for (i64 j = 0; j < c; ++j) sum += (Acc)exp(IO::load(xr, j * cs) - mx);
        const C lse = (C)log(sum);
        loss[r] = (double)(-((IO::load(xr, k * cs) - mx) - lse));  // log_softmax's rounding, then the negation
    }
}

template <class IO>
__device__ __forceinline__ void nll_rows_blocks(i64 rows, i64 c, i64 rs, i64 cs, const typename IO::T* x,
                                                const i64* t, i64 ts_, double* loss) {
    typedef typename IO::C C;
    typedef typename IO::Acc Acc;
    __shared__ C cbuf[TS_MAX_BLOCK];
    __shared__ Acc abuf[TS_MAX_BLOCK];
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {  // every branch below is uniform across the block
        const i64 k = t[r * ts_];
        if (k < 0 || k >= c) {
            if (threadIdx.x == 0) loss[r] = 0;
            continue;
        }
        const typename IO::T* xr = x + r * rs;
        C mx = -inf_of(C(0));
        for (i64 j = threadIdx.x; j < c; j += blockDim.x) mx = nan_max(mx, IO::load(xr, j * cs));
        mx = block_reduce(cbuf, mx, NanMax<C>());
        if (!finite_max(mx)) {
            if (threadIdx.x == 0) loss[r] = (double)nan_of(C(0));
            continue;
        }
        Acc sum = 0;
        for (i64 j = threadIdx.x; j < c; j += blockDim.x) sum += (Acc)exp(IO::load(xr, j * cs) - mx);
        const C lse = (C)log(block_reduce(abuf, sum, Plus<Acc>()));
        if (threadIdx.x == 0) loss[r] = (double)(-((IO::load(xr, k * cs) - mx) - lse));
    }
}

template <class T>
struct Min {
    __device__ __forceinline__ T operator()(T a, T b) const { return b < a ? b : a; }
};

template <class IO>
__device__ __forceinline__ void nll_total(i64 rows, i64 c, const double* loss, const i64* t, i64 ts_, int mean,
                                          typename IO::T* out, i64* info) {
    typedef typename IO::C C;
    __shared__ double sbuf[TS_MAX_BLOCK];
    __shared__ i64 ibuf[TS_MAX_BLOCK];
    double s = 0;
    i64 first = rows;
    for (i64 r = threadIdx.x; r < rows; r += blockDim.x) {
        s += loss[r];
        const i64 k = t[r * ts_];
        if (first == rows && (k < 0 || k >= c)) first = r;
    }
    s = block_reduce(sbuf, s, Plus<double>());
    first = block_reduce(ibuf, first, Min<i64>());
    if (threadIdx.x == 0) {
        info[0] = first;
        info[1] = first < rows ? t[first * ts_] : 0;
        const C total = (C)s;
        IO::store(out, 0, mean ? total / (C)rows : total);
    }
}

template <class IO>
__device__ __forceinline__ void nll_backward_row(i64 r, i64 c, i64 rs, i64 cs, typename IO::T* out,
                                                 const typename IO::T* x, i64 k, typename IO::C mx,
                                                 typename IO::C lse, typename IO::C sc, i64 j0, i64 step) {
    typedef typename IO::C C;
    const typename IO::T* xr = x + r * rs;
    typename IO::T* yr = out + r * c;
    for (i64 j = j0; j < c; j += step) {
        const C v = exp(IO::load(xr, j * cs) - mx - lse) * sc;  // softmax as this backend's softmax computes it
        IO::store(yr, j, j == k ? v + (-sc) : v);
    }
}

template <class IO>
__device__ __forceinline__ void nll_backward_threads(i64 rows, i64 c, i64 rs, i64 cs, typename IO::T* out,
                                                     const typename IO::T* x, const i64* t, i64 ts_,
                                                     const typename IO::T* g, int mean) {
    typedef typename IO::C C;
    typedef typename IO::Acc Acc;
    const C sc = nll_scale<IO>(g, rows, mean);
    TS_GRID_LOOP(r, rows) {
        const typename IO::T* xr = x + r * rs;
        C mx = -inf_of(C(0));
        for (i64 j = 0; j < c; ++j) mx = nan_max(mx, IO::load(xr, j * cs));  // subtracted as it is: see the Note
        Acc sum = 0;
        for (i64 j = 0; j < c; ++j) sum += (Acc)exp(IO::load(xr, j * cs) - mx);
        nll_backward_row<IO>(r, c, rs, cs, out, x, t[r * ts_], mx, (C)log(sum), sc, 0, 1);
    }
}

template <class IO>
__device__ __forceinline__ void nll_backward_blocks(i64 rows, i64 c, i64 rs, i64 cs, typename IO::T* out,
                                                    const typename IO::T* x, const i64* t, i64 ts_,
                                                    const typename IO::T* g, int mean) {
    typedef typename IO::C C;
    typedef typename IO::Acc Acc;
    __shared__ C cbuf[TS_MAX_BLOCK];
    __shared__ Acc abuf[TS_MAX_BLOCK];
    const C sc = nll_scale<IO>(g, rows, mean);
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const typename IO::T* xr = x + r * rs;
        C mx = -inf_of(C(0));
        for (i64 j = threadIdx.x; j < c; j += blockDim.x) mx = nan_max(mx, IO::load(xr, j * cs));
        mx = block_reduce(cbuf, mx, NanMax<C>());
        Acc sum = 0;
        for (i64 j = threadIdx.x; j < c; j += blockDim.x) sum += (Acc)exp(IO::load(xr, j * cs) - mx);
        const C lse = (C)log(block_reduce(abuf, sum, Plus<Acc>()));
        nll_backward_row<IO>(r, c, rs, cs, out, x, t[r * ts_], mx, lse, sc, threadIdx.x, blockDim.x);
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

// cross entropy's fused kernels of one float dtype (IO adds the Acc typedef, as for softmax)
#define TS_NLL_KERNELS(NAME, IO)                                                                                   \
    extern "C" __global__ void __launch_bounds__(TS_MAX_BLOCK)                                                     \
        NAME##_rows_threads(::ts::i64 rows, ::ts::i64 c, ::ts::i64 rs, ::ts::i64 cs, const IO::T* x,               \
                            const ::ts::i64* t, ::ts::i64 ts_, double* loss) {                                     \
        ::ts::nll_rows_threads<IO>(rows, c, rs, cs, x, t, ts_, loss);                                              \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(TS_MAX_BLOCK)                                                     \
        NAME##_rows_blocks(::ts::i64 rows, ::ts::i64 c, ::ts::i64 rs, ::ts::i64 cs, const IO::T* x,                \
                           const ::ts::i64* t, ::ts::i64 ts_, double* loss) {                                      \
        ::ts::nll_rows_blocks<IO>(rows, c, rs, cs, x, t, ts_, loss);                                               \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(TS_MAX_BLOCK)                                                     \
        NAME##_total(::ts::i64 rows, ::ts::i64 c, const double* loss, const ::ts::i64* t, ::ts::i64 ts_, int mean, \
                     IO::T* out, ::ts::i64* info) {                                                                \
        ::ts::nll_total<IO>(rows, c, loss, t, ts_, mean, out, info);                                               \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(TS_MAX_BLOCK)                                                     \
        NAME##_backward_threads(::ts::i64 rows, ::ts::i64 c, ::ts::i64 rs, ::ts::i64 cs, IO::T* out,               \
                                const IO::T* x, const ::ts::i64* t, ::ts::i64 ts_, const IO::T* g, int mean) {     \
        ::ts::nll_backward_threads<IO>(rows, c, rs, cs, out, x, t, ts_, g, mean);                                  \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(TS_MAX_BLOCK)                                                     \
        NAME##_backward_blocks(::ts::i64 rows, ::ts::i64 c, ::ts::i64 rs, ::ts::i64 cs, IO::T* out,                \
                               const IO::T* x, const ::ts::i64* t, ::ts::i64 ts_, const IO::T* g, int mean) {      \
        ::ts::nll_backward_blocks<IO>(rows, c, rs, cs, out, x, t, ts_, g, mean);                                   \
    }

#endif  // TS_CUDA_SOFTMAX_CU
