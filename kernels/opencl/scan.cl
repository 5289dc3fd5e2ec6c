/* The OpenCL kernels of the scan family: cumulative sums and products, nonzero (stream compaction), and the gather
 * and put kernels of integer-array indexing: the cumsum to put rows of Note [Kernel contract] in dispatch/registry.py.
 * backends/opencl.py (its issue 8 scans section) prepends common.cl and the #defines below, one program per
 * (part, dtype):
 *
 *   TS_SCAN     cumsum or cumprod of IN_T: ACC_T the accumulator, TS_READ(p, i) an element as ACC_T, TS_OP(a, b),
 *               TS_IDENTITY, ts_store(out, i, v) (kernels/opencl_source.py's _io), TS_SL the work-group size
 *               (a power of two)
 *   TS_COMPACT  nonzero of IN_T: TS_NONZERO(p, i) is 1 where element i is nonzero, TS_SL as above
 *   TS_GATHER   gather and put of COPY_T (the storage bits: a half as ushort)
 *
 * Note [Parallel scans]
 * Many short rows: one work-item per row walks it in order (_rows).  Few long rows: each row is cut into G blocks
 * of TS_SL * K elements, a work-group per block, each work-item taking K consecutive elements; three passes, each
 * reading the input once: the block totals (_block_totals: each item folds its K elements, then a tree over the
 * group), their exclusive prefix per row (_block_prefix, one work-item per row: G is at most 1024), and the block
 * scans (_blocks: each item folds its K elements again, a work-efficient Blelloch scan over the group's item totals
 * in local memory gives each item where it starts, and the item walks its elements from there, writing each
 * output).  nonzero runs the same three passes over contiguous chunks of the flat index range, counting nonzero
 * elements, and the last pass writes each one's coordinates at its place: the compaction is stable (C order).
 */

/* The exclusive scan of v over the work-group (Blelloch: an up-sweep then a down-sweep of a tree in local memory,
 * 2 * TS_SL operations), and the group's total in *total.  Every item of the group must call it. */
#define TS_GROUP_SCAN(T, OP, IDENTITY)                                                                       \
    static inline T ts_group_scan(__local T* buf, T v, __local T* total) {                                   \
        const int lid = get_local_id(0);                                                                     \
        buf[lid] = v;                                                                                        \
        barrier(CLK_LOCAL_MEM_FENCE);                                                                        \
        for (int step = 1; step < TS_SL; step <<= 1) {                                                       \
            const int i = (lid + 1) * (step << 1) - 1;                                                       \
            if (i < TS_SL) buf[i] = OP(buf[i - step], buf[i]);                                               \
            barrier(CLK_LOCAL_MEM_FENCE);                                                                    \
        }                                                                                                    \
        if (lid == 0) {                                                                                      \
            *total = buf[TS_SL - 1];                                                                         \
            buf[TS_SL - 1] = IDENTITY;                                                                       \
        }                                                                                                    \
        barrier(CLK_LOCAL_MEM_FENCE);                                                                        \
        for (int step = TS_SL >> 1; step > 0; step >>= 1) {                                                  \
            const int i = (lid + 1) * (step << 1) - 1;                                                       \
            if (i < TS_SL) {                                                                                 \
                const T t = buf[i - step];                                                                   \
                buf[i - step] = buf[i];                                                                      \
                buf[i] = OP(buf[i], t);                                                                      \
            }                                                                                                \
            barrier(CLK_LOCAL_MEM_FENCE);                                                                    \
        }                                                                                                    \
        const T out = buf[lid];                                                                              \
        barrier(CLK_LOCAL_MEM_FENCE); /* buf may be reused at once */                                        \
        return out;                                                                                          \
    }

#ifdef TS_SCAN
TS_GROUP_SCAN(ACC_T, TS_OP, TS_IDENTITY)

/* meta: the shape of the dims other than the axis (nk of them, coalesced), then their strides in out and in x.  The
 * axis has n elements, stride os in out and xs in x. */
__kernel void scan_rows(__global IN_T* out, long out_off, __global const IN_T* x, long x_off,
                        __global const long* meta, long nk, long n, long os, long xs, long rows) {
    const long r = get_global_id(0);
    if (r >= rows) return;
    long off[2];
    ts_offsets(r, nk, 2, meta, off);
    const long o = out_off + off[0], b = x_off + off[1];
    ACC_T acc = TS_IDENTITY;
    for (long i = 0; i < n; ++i) {
        acc = TS_OP(acc, TS_READ(x, b + i * xs));
        ts_store(out, o + i * os, acc);
    }
}

/* The part of the row that work-item lid of block b folds: [lo, hi). */
#define TS_ITEM_RANGE                                                                                        \
    const long g = get_group_id(0), r = g / G, blk = g % G;                                                  \
    const int lid = get_local_id(0);                                                                         \
    const long lo = TS_MIN(n, (blk * TS_SL + lid) * K), hi = TS_MIN(n, lo + K);                               \
    long off[2];                                                                                             \
    ts_offsets(r, nk, 2, meta, off);                                                                         \
    const long b = x_off + off[1];                                                                           \
    ACC_T v = TS_IDENTITY;                                                                                   \
    for (long i = lo; i < hi; ++i) v = TS_OP(v, TS_READ(x, b + i * xs));

__kernel void scan_block_totals(__global ACC_T* part, __global const IN_T* x, long x_off, __global const long* meta,
                                long nk, long n, long xs, long G, long K) {
    __local ACC_T buf[TS_SL];
    __local ACC_T total;
    TS_ITEM_RANGE
    ts_group_scan(buf, v, &total);
    if (lid == 0) part[g] = total;
}

__kernel void scan_block_prefix(__global ACC_T* part, long G, long rows) {
    const long r = get_global_id(0);
    if (r >= rows) return;
    ACC_T acc = TS_IDENTITY;
    for (long k = 0; k < G; ++k) {
        const ACC_T t = part[r * G + k];
        part[r * G + k] = acc;
        acc = TS_OP(acc, t);
    }
}

__kernel void scan_blocks(__global IN_T* out, long out_off, __global const ACC_T* part, __global const IN_T* x,
                          long x_off, __global const long* meta, long nk, long n, long os, long xs, long G, long K) {
    __local ACC_T buf[TS_SL];
    __local ACC_T total;
    TS_ITEM_RANGE
    ACC_T acc = TS_OP(part[g], ts_group_scan(buf, v, &total));
    const long o = out_off + off[0];
    for (long i = lo; i < hi; ++i) {
        acc = TS_OP(acc, TS_READ(x, b + i * xs));
        ts_store(out, o + i * os, acc);
    }
}
#endif /* TS_SCAN */

#ifdef TS_COMPACT
#define TS_ADD_LONG(a, b) ((a) + (b))
TS_GROUP_SCAN(long, TS_ADD_LONG, 0)

/* meta: x's shape (nd dims, not coalesced: the coordinates are in it), then its strides.  Work-group g takes the flat
 * positions [g * TS_SL * K, (g + 1) * TS_SL * K), item lid the K from (g * TS_SL + lid) * K. */
#define TS_CHUNK                                                                                             \
    const long g = get_group_id(0);                                                                          \
    const int lid = get_local_id(0);                                                                         \
    const long lo = TS_MIN(N, (g * TS_SL + lid) * K), hi = TS_MIN(N, lo + K);                                 \
    long c = 0;                                                                                              \
    for (long e = lo; e < hi; ++e) c += TS_NONZERO(x, x_off + ts_offset(e, nd, meta, meta + nd));

__kernel void nonzero_count(__global long* counts, __global const IN_T* x, long x_off, __global const long* meta,
                            long nd, long N, long K) {
    __local long buf[TS_SL];
    __local long total;
    TS_CHUNK
    ts_group_scan(buf, c, &total);
    if (lid == 0) counts[g] = total;
}

__kernel void nonzero_prefix(__global long* counts, long G) {
    if (get_global_id(0) != 0) return;
    long acc = 0;
    for (long k = 0; k < G; ++k) {
        const long t = counts[k];
        counts[k] = acc;
        acc += t;
    }
}

/* out (nd, count): coordinate d of the k-th nonzero element at out[d * count + k]. */
__kernel void nonzero_write(__global long* out, long out_off, long count, __global const long* counts,
                            __global const IN_T* x, long x_off, __global const long* meta, long nd, long N, long K) {
    __local long buf[TS_SL];
    __local long total;
    TS_CHUNK
    long k = counts[g] + ts_group_scan(buf, c, &total);
    for (long e = lo; e < hi; ++e) {
        if (!TS_NONZERO(x, x_off + ts_offset(e, nd, meta, meta + nd))) continue;
        if (k < count) {  /* never past out, whatever the memory held */
            long rest = e;
            for (long d = nd - 1; d >= 0; --d) {
                out[out_off + d * count + k] = rest % meta[d];
                rest /= meta[d];
            }
        }
        ++k;
    }
}
#endif /* TS_COMPACT */

#ifdef TS_GATHER
/* One work-item per element of the result (n of them).  meta (common.cl's layout, dims coalesced): the result's
 * shape, then the strides of the indexed tensor's view (0 along the dims the indices supply) and of each index
 * operand (and, for put, of the values).  Index operand j comes as (pointer, offset, extent n_j, step s_j): its value
 * w, plus n_j when negative, steps s_j elements along the indexed tensor.  The host has checked every index; one
 * that is still out of range makes the item do nothing rather than touch memory outside the tensor.  The _raw
 * variants take one operand holding each element's whole offset (the host's sum over more than four indices). */
#define TS_INDEX_PARAMS(j) , __global const long *i##j, long i##j##_off, long n##j, long s##j
#define TS_ADD_INDEX(j)                                                                                      \
    {                                                                                                        \
        long w = i##j[i##j##_off + off[1 + j]];                                                              \
        if (w < 0) w += n##j;                                                                                \
        if (w < 0 || w >= n##j) return;                                                                      \
        o += w * s##j;                                                                                       \
    }
#define TS_RAW_PARAMS , __global const long *i0, long i0_off
#define TS_ADD_RAW o += i0[i0_off + off[1]];

#define TS_GATHER_KERNEL(NAME, K, PARAMS, ADDS)                                                              \
    __kernel void gather_##NAME(__global COPY_T* out, long out_off, __global const COPY_T* x, long x_off,    \
                                __global const long* meta, long ndim PARAMS, long n) {                       \
        const long e = get_global_id(0);                                                                     \
        if (e >= n) return;                                                                                  \
        long off[1 + K];                                                                                     \
        ts_offsets(e, ndim, 1 + K, meta, off);                                                               \
        long o = x_off + off[0];                                                                             \
        ADDS                                                                                                 \
        out[out_off + e] = x[o];                                                                             \
    }
#define TS_PUT_KERNEL(NAME, K, PARAMS, ADDS)                                                                 \
    __kernel void put_##NAME(__global COPY_T* out, long out_off, __global const long* meta,                  \
                             long ndim PARAMS, __global const COPY_T* values, long values_off, long n) {     \
        const long e = get_global_id(0);                                                                     \
        if (e >= n) return;                                                                                  \
        long off[2 + K];                                                                                     \
        ts_offsets(e, ndim, 2 + K, meta, off);                                                               \
        long o = out_off + off[0];                                                                           \
        ADDS                                                                                                 \
        out[o] = values[values_off + off[1 + K]];                                                            \
    }
#define TS_INDEX_KERNELS(MAKE)                                                                               \
    MAKE(1, 1, TS_INDEX_PARAMS(0), TS_ADD_INDEX(0))                                                          \
    MAKE(2, 2, TS_INDEX_PARAMS(0) TS_INDEX_PARAMS(1), TS_ADD_INDEX(0) TS_ADD_INDEX(1))                       \
    MAKE(3, 3, TS_INDEX_PARAMS(0) TS_INDEX_PARAMS(1) TS_INDEX_PARAMS(2),                                     \
         TS_ADD_INDEX(0) TS_ADD_INDEX(1) TS_ADD_INDEX(2))                                                    \
    MAKE(4, 4, TS_INDEX_PARAMS(0) TS_INDEX_PARAMS(1) TS_INDEX_PARAMS(2) TS_INDEX_PARAMS(3),                  \
         TS_ADD_INDEX(0) TS_ADD_INDEX(1) TS_ADD_INDEX(2) TS_ADD_INDEX(3))                                    \
    MAKE(raw, 1, TS_RAW_PARAMS, TS_ADD_RAW)
TS_INDEX_KERNELS(TS_GATHER_KERNEL)
TS_INDEX_KERNELS(TS_PUT_KERNEL)
#endif /* TS_GATHER */
