// CUDA kernels of the scan/gather family: cumulative sums and products, nonzero (stream compaction), and the gather
// and put kernels of integer-array indexing: the cumsum to put rows of Note [Kernel contract] in dispatch/registry.py,
// the same algorithms as kernels/opencl/scan.cl (whose Note [Parallel scans] describes them): one thread per row for
// many short rows; for few long rows, blocks of TS_MAX_BLOCK * K elements in three passes (block totals, their
// exclusive prefix per row, block scans by a Blelloch scan in shared memory); nonzero counts, prefixes and writes
// over contiguous chunks of the flat index range, so the compaction is stable (C order).
//
// This file holds templates and the extern "C" instantiation macros only; backends/cuda.py (its issue 8 section)
// generates the per-dtype ops structs and instantiations and compiles them with the usual prelude.  A scan's ops
// struct S has T (storage), Acc, identity(), op(a, b), read(p, i) (an element as Acc) and store(p, i, acc).  Blocks
// are launched with TS_MAX_BLOCK threads (a power of two).
#ifndef TS_CUDA_SCAN_CU
#define TS_CUDA_SCAN_CU
#include "common.cu"

namespace ts {

// The exclusive scan of v over the block (Blelloch: up-sweep then down-sweep in shared memory); the block's total
// in *total.  Every thread of the block must call it.
template <class Acc, class Op>
__device__ __forceinline__ Acc block_exclusive_scan(Acc* buf, Acc v, Acc identity, Acc* total, Op op) {
    const int t = threadIdx.x;
    buf[t] = v;
    __syncthreads();
    for (int step = 1; step < TS_MAX_BLOCK; step <<= 1) {
        const int i = (t + 1) * (step << 1) - 1;
        if (i < TS_MAX_BLOCK) buf[i] = op(buf[i - step], buf[i]);
        __syncthreads();
    }
    if (t == 0) {
        *total = buf[TS_MAX_BLOCK - 1];
        buf[TS_MAX_BLOCK - 1] = identity;
    }
    __syncthreads();
    for (int step = TS_MAX_BLOCK >> 1; step > 0; step >>= 1) {
        const int i = (t + 1) * (step << 1) - 1;
        if (i < TS_MAX_BLOCK) {
            const Acc x = buf[i - step];
            buf[i - step] = buf[i];
            buf[i] = op(buf[i], x);
        }
        __syncthreads();
    }
    const Acc out = buf[t];
    __syncthreads();
    return out;
}

template <class S>
struct ScanOp {
    __device__ __forceinline__ typename S::Acc operator()(typename S::Acc a, typename S::Acc b) const {
        return S::op(a, b);
    }
};

// meta (Note [Strided metadata]): the dims other than the axis, with out's and x's strides.  The axis has n
// elements, strides os (out) and xs (x).
template <class S>
__device__ __forceinline__ void scan_rows(i64 rows, i64 n, typename S::T* out, i64 os, const typename S::T* x,
                                          i64 xs, const i64* meta) {
    TS_GRID_LOOP(r, rows) {
        i64 off[2];
        offsets<2>(r, meta, off);
        typename S::Acc acc = S::identity();
        for (i64 i = 0; i < n; ++i) {
            acc = S::op(acc, S::read(x, off[1] + i * xs));
            S::store(out, off[0] + i * os, acc);
        }
    }
}

// Block b of row r (blockIdx.x = r * G + b); thread t folds the K elements from (b * TS_MAX_BLOCK + t) * K.
template <class S>
__device__ __forceinline__ typename S::Acc item_total(const typename S::T* x, i64 n, i64 xs, i64 G, i64 K,
                                                      const i64* meta, i64 (&off)[2], i64& lo, i64& hi) {
    const i64 g = blockIdx.x, r = g / G, b = g % G;
    offsets<2>(r, meta, off);
    lo = min(n, (b * TS_MAX_BLOCK + threadIdx.x) * K);
    hi = min(n, lo + K);
    typename S::Acc v = S::identity();
    for (i64 i = lo; i < hi; ++i) v = S::op(v, S::read(x, off[1] + i * xs));
    return v;
}

template <class S>
__device__ __forceinline__ void scan_block_totals(typename S::Acc* part, const typename S::T* x, i64 n, i64 xs,
                                                  i64 G, i64 K, const i64* meta) {
    __shared__ typename S::Acc buf[TS_MAX_BLOCK];
    __shared__ typename S::Acc total;
    i64 off[2], lo, hi;
    const typename S::Acc v = item_total<S>(x, n, xs, G, K, meta, off, lo, hi);
    block_exclusive_scan(buf, v, S::identity(), &total, ScanOp<S>());
    if (threadIdx.x == 0) part[blockIdx.x] = total;
}

template <class S>
__device__ __forceinline__ void scan_block_prefix(typename S::Acc* part, i64 G, i64 rows) {
    TS_GRID_LOOP(r, rows) {
        typename S::Acc acc = S::identity();
        for (i64 k = 0; k < G; ++k) {
            const typename S::Acc t = part[r * G + k];
            part[r * G + k] = acc;
            acc = S::op(acc, t);
        }
    }
}

template <class S>
__device__ __forceinline__ void scan_blocks(typename S::T* out, i64 os, const typename S::Acc* part,
                                            const typename S::T* x, i64 n, i64 xs, i64 G, i64 K, const i64* meta) {
    __shared__ typename S::Acc buf[TS_MAX_BLOCK];
    __shared__ typename S::Acc total;
    i64 off[2], lo, hi;
    const typename S::Acc v = item_total<S>(x, n, xs, G, K, meta, off, lo, hi);
    typename S::Acc acc = S::op(part[blockIdx.x], block_exclusive_scan(buf, v, S::identity(), &total, ScanOp<S>()));
    for (i64 i = lo; i < hi; ++i) {
        acc = S::op(acc, S::read(x, off[1] + i * xs));
        S::store(out, off[0] + i * os, acc);
    }
}

// -- nonzero: meta is x's own layout [nd, shape.., strides..] (not coalesced: the coordinates are in its shape) -----

struct AddI64 {
    __device__ __forceinline__ i64 operator()(i64 a, i64 b) const { return a + b; }
};

template <class IO>
__device__ __forceinline__ i64 chunk_count(const typename IO::T* x, i64 N, i64 K, const i64* meta, i64& lo, i64& hi) {
    lo = min(N, ((i64)blockIdx.x * TS_MAX_BLOCK + threadIdx.x) * K);
    hi = min(N, lo + K);
    i64 c = 0;
    for (i64 e = lo; e < hi; ++e) c += is_nonzero(IO::load(x, offset1(e, meta)));
    return c;
}

template <class IO>
__device__ __forceinline__ void nonzero_count(i64* counts, const typename IO::T* x, i64 N, i64 K, const i64* meta) {
    __shared__ i64 buf[TS_MAX_BLOCK];
    __shared__ i64 total;
    i64 lo, hi;
    block_exclusive_scan(buf, chunk_count<IO>(x, N, K, meta, lo, hi), (i64)0, &total, AddI64());
    if (threadIdx.x == 0) counts[blockIdx.x] = total;
}

__device__ __forceinline__ void nonzero_prefix(i64* counts, i64 G) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    i64 acc = 0;
    for (i64 k = 0; k < G; ++k) {
        const i64 t = counts[k];
        counts[k] = acc;
        acc += t;
    }
}

// out (nd, count): coordinate d of the k-th nonzero element at out[d * count + k]
template <class IO>
__device__ __forceinline__ void nonzero_write(i64* out, i64 count, const i64* counts, const typename IO::T* x, i64 N,
                                              i64 K, const i64* meta) {
    __shared__ i64 buf[TS_MAX_BLOCK];
    __shared__ i64 total;
    i64 lo, hi;
    const i64 c = chunk_count<IO>(x, N, K, meta, lo, hi);
    i64 k = counts[blockIdx.x] + block_exclusive_scan(buf, c, (i64)0, &total, AddI64());
    const int nd = (int)meta[0];
    for (i64 e = lo; e < hi; ++e) {
        if (!is_nonzero(IO::load(x, offset1(e, meta)))) continue;
        if (k < count) {  // never past out, whatever the memory held
            i64 rest = e;
            for (int d = nd - 1; d >= 0; --d) {
                out[d * count + k] = rest % meta[1 + d];
                rest /= meta[1 + d];
            }
        }
        ++k;
    }
}

// -- gather and put -----------------------------------------------------------------------------------------------

// Up to four index operands (pointer, extent n, step s; unused ones null), or, with K < 0, one operand holding each
// element's whole offset (the host's sum over more indices).  meta: the result's shape and six operands' strides:
// the indexed view, the four indices, and put's values (unused ones zero).
struct Indices {
    const i64* p[4];
    i64 n[4], s[4];
};

__device__ __forceinline__ bool indexed(const Indices& ix, int K, const i64 (&off)[6], i64& o) {
    o = off[0];
    if (K < 0) {
        o += ix.p[0][off[1]];
        return true;
    }
    for (int j = 0; j < K; ++j) {
        i64 w = ix.p[j][off[1 + j]];
        if (w < 0) w += ix.n[j];
        if (w < 0 || w >= ix.n[j]) return false;  // the host has checked: never touch memory outside the tensor
        o += w * ix.s[j];
    }
    return true;
}

template <class T>
__device__ __forceinline__ void gather(i64 n, T* out, const T* x, const i64* meta, int K, const Indices& ix) {
    TS_GRID_LOOP(e, n) {
        i64 off[6], o;
        offsets<6>(e, meta, off);
        if (indexed(ix, K, off, o)) out[e] = x[o];
    }
}

template <class T>
__device__ __forceinline__ void put(i64 n, T* out, const T* values, const i64* meta, int K, const Indices& ix) {
    TS_GRID_LOOP(e, n) {
        i64 off[6], o;
        offsets<6>(e, meta, off);
        if (indexed(ix, K, off, o)) out[o] = values[off[5]];
    }
}

}  // namespace ts

#define TS_SCAN_KERNELS(NAME, S)                                                                                       \
    extern "C" __global__ void NAME##_rows(::ts::i64 rows, ::ts::i64 n, S::T* out, ::ts::i64 os, const S::T* x,        \
                                           ::ts::i64 xs, const ::ts::i64* meta) {                                      \
        ::ts::scan_rows<S>(rows, n, out, os, x, xs, meta);                                                             \
    }                                                                                                                  \
    extern "C" __global__ void NAME##_block_totals(S::Acc* part, const S::T* x, ::ts::i64 n, ::ts::i64 xs,             \
                                                   ::ts::i64 G, ::ts::i64 K, const ::ts::i64* meta) {                  \
        ::ts::scan_block_totals<S>(part, x, n, xs, G, K, meta);                                                        \
    }                                                                                                                  \
    extern "C" __global__ void NAME##_block_prefix(S::Acc* part, ::ts::i64 G, ::ts::i64 rows) {                        \
        ::ts::scan_block_prefix<S>(part, G, rows);                                                                     \
    }                                                                                                                  \
    extern "C" __global__ void NAME##_blocks(S::T* out, ::ts::i64 os, const S::Acc* part, const S::T* x,               \
                                             ::ts::i64 n, ::ts::i64 xs, ::ts::i64 G, ::ts::i64 K,                      \
                                             const ::ts::i64* meta) {                                                  \
        ::ts::scan_blocks<S>(out, os, part, x, n, xs, G, K, meta);                                                     \
    }

#define TS_NONZERO_KERNELS(NAME, IO)                                                                                   \
    extern "C" __global__ void NAME##_count(::ts::i64* counts, const IO::T* x, ::ts::i64 N, ::ts::i64 K,               \
                                            const ::ts::i64* meta) {                                                   \
        ::ts::nonzero_count<IO>(counts, x, N, K, meta);                                                                \
    }                                                                                                                  \
    extern "C" __global__ void NAME##_prefix(::ts::i64* counts, ::ts::i64 G) { ::ts::nonzero_prefix(counts, G); }      \
    extern "C" __global__ void NAME##_write(::ts::i64* out, ::ts::i64 count, const ::ts::i64* counts,                  \
                                            const IO::T* x, ::ts::i64 N, ::ts::i64 K, const ::ts::i64* meta) {         \
        ::ts::nonzero_write<IO>(out, count, counts, x, N, K, meta);                                                    \
    }

#define TS_INDEX_ARGS                                                                                                  \
    ::ts::i64 K, const ::ts::i64 *i0, ::ts::i64 n0, ::ts::i64 s0, const ::ts::i64 *i1, ::ts::i64 n1, ::ts::i64 s1,     \
        const ::ts::i64 *i2, ::ts::i64 n2, ::ts::i64 s2, const ::ts::i64 *i3, ::ts::i64 n3, ::ts::i64 s3
#define TS_INDICES {{i0, i1, i2, i3}, {n0, n1, n2, n3}, {s0, s1, s2, s3}}

// gather and put of one storage width: T copies the bits (a half as unsigned short)
#define TS_GATHER_KERNELS(NAME, T)                                                                                     \
    extern "C" __global__ void NAME##_gather(::ts::i64 n, T* out, const T* x, const ::ts::i64* meta,                   \
                                             TS_INDEX_ARGS) {                                                          \
        const ::ts::Indices ix = TS_INDICES;                                                                           \
        ::ts::gather<T>(n, out, x, meta, (int)K, ix);                                                                  \
    }                                                                                                                  \
    extern "C" __global__ void NAME##_put(::ts::i64 n, T* out, const T* values, const ::ts::i64* meta,                 \
                                          TS_INDEX_ARGS) {                                                             \
        const ::ts::Indices ix = TS_INDICES;                                                                           \
        ::ts::put<T>(n, out, values, meta, (int)K, ix);                                                                \
    }

#endif  // TS_CUDA_SCAN_CU
