/* The OpenCL kernels of the sort family: sort and argsort (a bitonic sort of (key, position) pairs), searchsorted
 * (a binary search).  backends/opencl.py (its sorting section) defines COPY_T (the dtype's storage bits: ushort for
 * float16) and TS_KEY(x, i), the ordered key of element i, before this file.
 *
 * Keys are Note [Sort order] of kernels/cpu/sort.cpp, as ulong: an element orders before another exactly when its
 * key is smaller; a descending sort takes ~key.  Each row of the sort is padded to P = a power of two >= n with
 * (ULONG_MAX, j >= n), and the pairs are compared as (key, position): all positions differ, so the order is strict
 * and total, the bitonic network (which is not stable by itself) gives the one sorted order there is, and equal keys
 * end in position order: a stable sort.  The padding sorts after every real element (a real key may be ULONG_MAX
 * too, but its position is smaller).
 *
 * The host (backends/opencl.py) runs sort_keys, then sort_blocks (every block of B = 2 * local size elements sorted
 * in local memory: the network's stages k <= B), then for each k from 2B to P the steps j >= B one launch each
 * (bitonic_step) and the steps j < B in one launch (merge_block), then sort_values or sort_indices.
 */

static inline ulong ts_key_float(float v) {
    if (isnan(v)) return 0xffffffffUL;
    const uint b = as_uint(v == 0.0f ? 0.0f : v); /* -0.0 sorts with +0.0 */
    return (ulong)((b & 0x80000000u) ? ~b : (b | 0x80000000u));
}

#ifdef TS_HAS_FP64
static inline ulong ts_key_double(double v) {
    if (isnan(v)) return ULONG_MAX;
    const ulong b = as_ulong(v == 0.0 ? 0.0 : v);
    return (b & 0x8000000000000000UL) ? ~b : (b | 0x8000000000000000UL);
}
#endif

/* a orders before b: (key, position) lexicographically */
#define TS_BEFORE(ka, ia, kb, ib) ((ka) < (kb) || ((ka) == (kb) && (ia) < (ib)))

/* keys[r * P + j], pos[r * P + j] for each row r and j < P.  meta: the other dims' shape, then x's and out's strides
 * over them (common.cl's layout; ndim 0 for a 1-D x).  x's stride along the axis is xs. */
__kernel void sort_keys(__global ulong* keys, __global long* pos, __global const COPY_T* x, long x_off,
                        __global const long* meta, long ndim, long n, long xs, long P, long descending, long total) {
    const long g = get_global_id(0);
    if (g >= total) return;
    const long r = g / P, j = g % P;
    ulong key = ULONG_MAX;
    if (j < n) {
        long off[2];
        ts_offsets(r, ndim, 2, meta, off);
        key = TS_KEY(x, x_off + off[0] + j * xs);
        if (descending) key = ~key;
    }
    keys[g] = key;
    pos[g] = j;
}

/* One compare-exchange of the network per work-item: stage k, step j (both powers of two, j < k <= P). */
__kernel void bitonic_step(__global ulong* keys, __global long* pos, long P, long k, long j, long total) {
    const long g = get_global_id(0);
    if (g >= total) return;
    const long pairs = P >> 1;
    const long r = g / pairs, t = g % pairs;
    const long i = (t / j) * 2 * j + t % j; /* the lower of the pair, bit j clear */
    const long a = r * P + i, b = a + j;
    const ulong ka = keys[a], kb = keys[b];
    const long ia = pos[a], ib = pos[b];
    const int up = (i & k) == 0;
    if (up ? TS_BEFORE(kb, ib, ka, ia) : TS_BEFORE(ka, ia, kb, ib)) {
        keys[a] = kb;
        keys[b] = ka;
        pos[a] = ib;
        pos[b] = ia;
    }
}

/* The steps j = j0 .. 1 of stage k on a block of B = 2 * local size elements in local memory; i counts within the
 * row (the block starts at row position base).  Every work-item owns one pair per step. */
static inline void ts_merge_local(__local ulong* lk, __local long* lp, long base, long k, long j0) {
    const long t = get_local_id(0);
    for (long j = j0; j > 0; j >>= 1) {
        barrier(CLK_LOCAL_MEM_FENCE);
        const long i = (t / j) * 2 * j + t % j;
        const ulong ka = lk[i], kb = lk[i + j];
        const long ia = lp[i], ib = lp[i + j];
        const int up = ((base + i) & k) == 0;
        if (up ? TS_BEFORE(kb, ib, ka, ia) : TS_BEFORE(ka, ia, kb, ib)) {
            lk[i] = kb;
            lk[i + j] = ka;
            lp[i] = ib;
            lp[i + j] = ia;
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}

#define TS_BLOCK_IO(body)                                                                    \
    {                                                                                        \
        const long t = get_local_id(0), L = get_local_size(0);                               \
        const long start = get_group_id(0) * 2 * L; /* blocks never straddle rows: B | P */  \
        const long base = start % P;                                                         \
        lk[t] = keys[start + t];                                                             \
        lk[t + L] = keys[start + t + L];                                                     \
        lp[t] = pos[start + t];                                                              \
        lp[t + L] = pos[start + t + L];                                                      \
        body;                                                                                \
        keys[start + t] = lk[t];                                                             \
        keys[start + t + L] = lk[t + L];                                                     \
        pos[start + t] = lp[t];                                                              \
        pos[start + t + L] = lp[t + L];                                                      \
    }

/* Stages k = 2 .. B of the network, each block in local memory. */
__kernel void sort_blocks(__global ulong* keys, __global long* pos, long P, __local ulong* lk, __local long* lp) {
    TS_BLOCK_IO({
        for (long k = 2; k <= 2 * L; k <<= 1) ts_merge_local(lk, lp, base, k, k >> 1);
    })
}

/* The steps j = j0 .. 1 of stage k (j0 < B), each block in local memory. */
__kernel void merge_block(__global ulong* keys, __global long* pos, long P, long k, long j0, __local ulong* lk,
                          __local long* lp) {
    TS_BLOCK_IO(ts_merge_local(lk, lp, base, k, j0))
}

/* out (x's shape, contiguous; os its stride along the axis): the sorted values, or the positions. */
__kernel void sort_values(__global COPY_T* out, long out_off, __global const long* pos, __global const COPY_T* x,
                          long x_off, __global const long* meta, long ndim, long n, long xs, long os, long P,
                          long total) {
    const long g = get_global_id(0);
    if (g >= total) return;
    const long r = g / n, j = g % n;
    long off[2];
    ts_offsets(r, ndim, 2, meta, off);
    out[out_off + off[1] + j * os] = x[x_off + off[0] + pos[r * P + j] * xs];
}

__kernel void sort_indices(__global long* out, long out_off, __global const long* pos, __global const long* meta,
                           long ndim, long n, long os, long P, long total) {
    const long g = get_global_id(0);
    if (g >= total) return;
    const long r = g / n, j = g % n;
    long off[2];
    ts_offsets(r, ndim, 2, meta, off);
    out[out_off + off[1] + j * os] = pos[r * P + j];
}

/* out[g] (contiguous) = the count of x1's elements (n1 of them, stride s1; read at sorter[m * ss] when has_sorter,
 * indices the host has range-checked) ordering before x2's element g (right: not after it).  meta: x2's shape and
 * strides (common.cl's layout). */
__kernel void searchsorted(__global long* out, long out_off, __global const COPY_T* x1, long x1_off, long n1, long s1,
                           __global const long* sorter, long sorter_off, long ss, long has_sorter,
                           __global const COPY_T* x2, long x2_off, __global const long* meta, long ndim, long right,
                           long total) {
    const long g = get_global_id(0);
    if (g >= total) return;
    long off[1];
    ts_offsets(g, ndim, 1, meta, off);
    const ulong v = TS_KEY(x2, x2_off + off[0]);
    long lo = 0, hi = n1;
    while (lo < hi) {
        const long mid = lo + (hi - lo) / 2;
        const long at = has_sorter ? sorter[sorter_off + mid * ss] : mid;
        const ulong key = TS_KEY(x1, x1_off + at * s1);
        if (right ? key <= v : key < v) lo = mid + 1;
        else hi = mid;
    }
    out[out_off + g] = lo;
}
