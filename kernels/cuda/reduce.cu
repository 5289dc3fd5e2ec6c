// Reductions over any set of axes: sum, prod, max, min, all, any (their init and combine come from
// kernels/optable.py REDUCTIONS) and argmax/argmin (ArgReduce below).
//
// A reduction functor R gives In, Out, Acc, ``identity()``, ``load(x, i)`` (storage -> Acc), ``step(acc, v, j)``
// (fold element number j of the reduced extent, visited in increasing j by one thread), ``merge(a, b)`` (combine two
// partial results; commutative, so any tree order gives the same answer up to float rounding) and
// ``finish(out, o, acc)``.
//
// Layout metadata (Note [Strided metadata] in common.cu, one operand per block):
//     meta = [nd_outer, outer shape, outer x strides,  nd_inner, inner shape, inner x strides]
// The output is contiguous and indexed by the C-order linear outer index; the inner index j is the C-order linear
// index over the reduced axes, which argmax/argmin return.  Both blocks are coalesced by the backend, which keeps
// linear indices unchanged.
//
// Three kernels per functor, chosen by plan_reduction() in backends/cuda.py:
//     _threads   one thread per output, a sequential loop over the reduced extent (short extents, or reductions
//                over an outer axis where neighbouring threads read neighbouring addresses)
//     _blocks    one block per (output, split): threads stride over the split's range, then a tree merge; with one
//                split it writes the output, with several it writes partial accumulators (the first pass of the
//                two-pass split used when there are few outputs and a long reduced extent)
//     _partials  the second pass: one block per output merges its splits' partial accumulators in a tree
#ifndef TS_CUDA_REDUCE_CU
#define TS_CUDA_REDUCE_CU
#include "common.cu"

namespace ts {

template <class R>
__device__ __forceinline__ void reduce_threads(i64 n_outer, i64 n_inner, typename R::Out* out,
                                               const typename R::In* x, const i64* meta) {
    const i64* inner = next_layout(meta);
    const bool flat = inner[0] == 1;
    const i64 step = inner[2];
    TS_GRID_LOOP(o, n_outer) {
        const typename R::In* base = x + offset1(o, meta);
        typename R::Acc acc = R::identity();
        if (flat) {
            for (i64 j = 0; j < n_inner; ++j) R::step(acc, R::load(base, j * step), j);
        } else {
            for (i64 j = 0; j < n_inner; ++j) R::step(acc, R::load(base, offset1(j, inner)), j);
        }
        R::finish(out, o, acc);
    }
}

template <class R>
struct MergeOf {
    __device__ __forceinline__ typename R::Acc operator()(typename R::Acc a, typename R::Acc b) const {
        return R::merge(a, b);
    }
};

template <class R>
__device__ __forceinline__ void reduce_blocks(i64 n_outer, i64 n_inner, i64 splits, typename R::Out* out,
                                              typename R::Acc* partial, const typename R::In* x, const i64* meta) {
    __shared__ typename R::Acc buf[TS_MAX_BLOCK];
    const i64* inner = next_layout(meta);
    const bool flat = inner[0] == 1;
    const i64 step = inner[2];
    const i64 chunk = (n_inner + splits - 1) / splits;
    for (i64 b = blockIdx.x; b < n_outer * splits; b += gridDim.x) {  // uniform across the block: syncs are safe
        const i64 o = b / splits;
        const i64 begin = (b % splits) * chunk;
        const i64 end = begin + chunk < n_inner ? begin + chunk : n_inner;
        const typename R::In* base = x + offset1(o, meta);
        typename R::Acc acc = R::identity();
        if (flat) {
            for (i64 j = begin + threadIdx.x; j < end; j += blockDim.x) R::step(acc, R::load(base, j * step), j);
        } else {
            for (i64 j = begin + threadIdx.x; j < end; j += blockDim.x)
                R::step(acc, R::load(base, offset1(j, inner)), j);
        }
        acc = block_reduce(buf, acc, MergeOf<R>());
        if (threadIdx.x == 0) {
            if (partial) partial[b] = acc;
            else R::finish(out, o, acc);
        }
    }
}

template <class R>
__device__ __forceinline__ void reduce_partials(i64 n_outer, i64 splits, typename R::Out* out,
                                                const typename R::Acc* partial) {
    __shared__ typename R::Acc buf[TS_MAX_BLOCK];
    for (i64 o = blockIdx.x; o < n_outer; o += gridDim.x) {
        typename R::Acc acc = R::identity();
        for (i64 s = threadIdx.x; s < splits; s += blockDim.x) acc = R::merge(acc, partial[o * splits + s]);
        acc = block_reduce(buf, acc, MergeOf<R>());
        if (threadIdx.x == 0) R::finish(out, o, acc);
    }
}

// -- the reductions of the op table: Ops gives In, Out, Acc, identity(), load(), combine() and finish() -----------

template <class Ops>
struct TableReduce : Ops {
    typedef typename Ops::Acc Acc;
    static __device__ __forceinline__ void step(Acc& acc, Acc v, i64) { acc = Ops::combine(acc, v); }
    static __device__ __forceinline__ Acc merge(Acc a, Acc b) { return Ops::combine(a, b); }
};

// -- argmax / argmin: the first index of the extreme; the first NaN wins (NumPy) ------------------------------------

template <class C>
struct ArgAcc {  // plain data: it lives in shared memory
    C v;
    i64 i;  // -1: nothing seen yet
};

template <class In_, class C, bool IsMax, class Load>
struct ArgReduce {
    typedef In_ In;
    typedef i64 Out;
    typedef ArgAcc<C> Acc;
    static __device__ __forceinline__ Acc identity() {
        Acc a;
        a.v = C(0);
        a.i = -1;
        return a;
    }
    static __device__ __forceinline__ Acc load(const In* p, i64 k) {
        Acc a;
        a.v = Load::load(p, k);
        a.i = 0;
        return a;
    }
    static __device__ __forceinline__ bool better(C v, C than) { return IsMax ? v > than : v < than; }
    // within one thread j only grows, so ties keep the earlier element
    static __device__ __forceinline__ void step(Acc& acc, Acc v, i64 j) {
        if (acc.i < 0 || (acc.v == acc.v && (v.v != v.v || better(v.v, acc.v)))) {
            acc.v = v.v;
            acc.i = j;
        }
    }
    // across threads and splits: order-free, ties and NaNs go to the smaller index
    static __device__ __forceinline__ Acc merge(Acc a, Acc b) {
        if (b.i < 0) return a;
        if (a.i < 0) return b;
        const bool an = a.v != a.v, bn = b.v != b.v;
        if (an || bn) return (an && bn) ? (b.i < a.i ? b : a) : (an ? a : b);
        if (better(b.v, a.v) || (b.v == a.v && b.i < a.i)) return b;
        return a;
    }
    static __device__ __forceinline__ void finish(Out* out, i64 o, const Acc& acc) { out[o] = acc.i; }
};

}  // namespace ts

#define TS_REDUCE_KERNELS(NAME, R)                                                                                 \
    extern "C" __global__ void __launch_bounds__(TS_MAX_BLOCK)                                                     \
        NAME##_threads(::ts::i64 n_outer, ::ts::i64 n_inner, R::Out* out, const R::In* x, const ::ts::i64* meta) { \
        ::ts::reduce_threads<R>(n_outer, n_inner, out, x, meta);                                                   \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(TS_MAX_BLOCK)                                                     \
        NAME##_blocks(::ts::i64 n_outer, ::ts::i64 n_inner, ::ts::i64 splits, R::Out* out, R::Acc* partial,        \
                      const R::In* x, const ::ts::i64* meta) {                                                     \
        ::ts::reduce_blocks<R>(n_outer, n_inner, splits, out, partial, x, meta);                                   \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(TS_MAX_BLOCK)                                                     \
        NAME##_partials(::ts::i64 n_outer, ::ts::i64 splits, R::Out* out, const R::Acc* partial) {                 \
        ::ts::reduce_partials<R>(n_outer, splits, out, partial);                                                   \
    }

#endif  // TS_CUDA_REDUCE_CU
