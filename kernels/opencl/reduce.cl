/* Reductions over any set of axes for one input dtype IN_T.  backends/opencl.py generates, per op NAME, from
 * kernels/optable.py REDUCTIONS:
 *     ts_init_NAME()                   the identity (the type's lowest/highest value for max/min/argmax/argmin)
 *     ts_read_NAME(x, off)             one input element as the accumulator type
 *     ts_fold_NAME(&acc, &idx, v, i)   fold value v (with its reduced index i) into (acc, idx)
 *     ts_write_NAME(out, o, acc, idx)  the result
 * and instantiates TS_REDUCTION(NAME, ACC, OUT).  meta holds the kept dims (shape, strides) then the reduced dims,
 * each coalesced by the host; the reduced index is C order over the reduced axes (what argmax returns).
 *
 * Three kernels: _serial (one work-item per output: many outputs or a short reduced extent), _group (G work-groups
 * per output, each a tree reduction in local memory; with G == 1 it writes the result) and _finish (the second pass
 * when G > 1: folds the G partial results of each output). */

#ifndef TS_RL
#define TS_RL 256
#endif

/* Fold READ(x, base + offset(r)) for r in [lo, hi) by step into (acc, idx) with FOLD (callers paste the names:
 * NAME itself may be a macro, such as all or any); one reduced dim (the common case after the
 * host merged what it could) is a multiply, more dims unravel r. */
#define TS_REDUCE_RANGE(FOLD, READ, ACC, lo, hi, step)                                                  \
    if (nr == 1 && (step) == 1) {                                                                       \
        /* four independent accumulators, so the folds do not wait on each other; every fold is a total \
         * order (argmax: first index wins), so merging them at the end gives the same answer */        \
        const long rs = rmeta[1];                                                                       \
        ACC acc1 = acc, acc2 = acc, acc3 = acc;                                                         \
        long idx1 = idx, idx2 = idx, idx3 = idx;                                                        \
        long r = (lo);                                                                                  \
        for (; r + 4 <= (hi); r += 4) {                                                                 \
            FOLD(&acc, &idx, READ(x, base + r * rs), r);                                                \
            FOLD(&acc1, &idx1, READ(x, base + (r + 1) * rs), r + 1);                                    \
            FOLD(&acc2, &idx2, READ(x, base + (r + 2) * rs), r + 2);                                    \
            FOLD(&acc3, &idx3, READ(x, base + (r + 3) * rs), r + 3);                                    \
        }                                                                                               \
        for (; r < (hi); ++r)                                                                           \
            FOLD(&acc, &idx, READ(x, base + r * rs), r);                                                \
        FOLD(&acc, &idx, acc1, idx1);                                                                   \
        FOLD(&acc, &idx, acc2, idx2);                                                                   \
        FOLD(&acc, &idx, acc3, idx3);                                                                   \
    } else if (nr == 1) {                                                                               \
        const long rs = rmeta[1];                                                                       \
        for (long r = (lo); r < (hi); r += (step))                                                      \
            FOLD(&acc, &idx, READ(x, base + r * rs), r);                                                \
    } else {                                                                                            \
        for (long r = (lo); r < (hi); r += (step))                                                      \
            FOLD(&acc, &idx, READ(x, base + ts_offset(r, nr, rmeta, rmeta + nr)), r);                   \
    }

/* Which part of a group's range [start, end) each item folds.  GPUs: items interleave (neighbours read
 * neighbouring addresses, so loads coalesce).  CPUs (TS_CPU): each item takes one contiguous run, which the
 * compiler streams through the cache and vectorises; interleaving was 3x slower on PoCL. */
#ifdef TS_CPU
#define TS_GROUP_RANGE(FOLD, READ, ACC)                                                                  \
    const long per = (end - start + TS_RL - 1) / TS_RL;                                                 \
    const long lo = start + lid * per;                                                                  \
    TS_REDUCE_RANGE(FOLD, READ, ACC, lo, min(end, lo + per), 1)
#else
#define TS_GROUP_RANGE(FOLD, READ, ACC) TS_REDUCE_RANGE(FOLD, READ, ACC, start + lid, end, TS_RL)
#endif

#define TS_REDUCTION(NAME, ACC, OUT)                                                                    \
    __kernel void NAME##_serial(__global OUT* out, long out_off, __global const IN_T* x, long x_off,    \
                                __global const long* meta, long nk, long nr, long n_out, long R) {      \
        const long o = get_global_id(0);                                                                \
        if (o >= n_out) return;                                                                         \
        const long base = x_off + ts_offset(o, nk, meta, meta + nk);                                    \
        __global const long* rmeta = meta + 2 * nk;                                                     \
        ACC acc = ts_init_##NAME();                                                                     \
        long idx = LONG_MAX;                                                                            \
        TS_REDUCE_RANGE(ts_fold_##NAME, ts_read_##NAME, ACC, 0, R, 1)                                        \
        ts_write_##NAME(out, out_off + o, acc, idx);                                                    \
    }                                                                                                   \
    __kernel void NAME##_group(__global OUT* out, long out_off, __global ACC* part, __global long* part_idx, \
                               __global const IN_T* x, long x_off, __global const long* meta, long nk,  \
                               long nr, long R, long G) {                                               \
        __local ACC lacc[TS_RL];                                                                        \
        __local long lidx[TS_RL];                                                                       \
        const long g = get_group_id(0);                                                                 \
        const long o = g / G, c = g % G;                                                                \
        const int lid = get_local_id(0);                                                                \
        const long chunk = (R + G - 1) / G;                                                             \
        const long start = c * chunk;                                                                   \
        const long end = min(R, start + chunk);                                                         \
        const long base = x_off + ts_offset(o, nk, meta, meta + nk);                                    \
        __global const long* rmeta = meta + 2 * nk;                                                     \
        ACC acc = ts_init_##NAME();                                                                     \
        long idx = LONG_MAX;                                                                            \
        TS_GROUP_RANGE(ts_fold_##NAME, ts_read_##NAME, ACC)                                                  \
        lacc[lid] = acc;                                                                                \
        lidx[lid] = idx;                                                                                \
        barrier(CLK_LOCAL_MEM_FENCE);                                                                   \
        for (int s = TS_RL / 2; s > 0; s >>= 1) {                                                       \
            if (lid < s) {                                                                              \
                ACC a = lacc[lid];                                                                      \
                long ia = lidx[lid];                                                                    \
                ts_fold_##NAME(&a, &ia, lacc[lid + s], lidx[lid + s]);                                  \
                lacc[lid] = a;                                                                          \
                lidx[lid] = ia;                                                                         \
            }                                                                                           \
            barrier(CLK_LOCAL_MEM_FENCE);                                                               \
        }                                                                                               \
        if (lid == 0) {                                                                                 \
            if (G == 1) {                                                                               \
                ts_write_##NAME(out, out_off + o, lacc[0], lidx[0]);                                    \
            } else {                                                                                    \
                part[g] = lacc[0];                                                                      \
                part_idx[g] = lidx[0];                                                                  \
            }                                                                                           \
        }                                                                                               \
    }                                                                                                   \
    __kernel void NAME##_finish(__global OUT* out, long out_off, __global const ACC* part,              \
                                __global const long* part_idx, long n_out, long G) {                    \
        const long o = get_global_id(0);                                                                \
        if (o >= n_out) return;                                                                         \
        ACC acc = part[o * G];                                                                          \
        long idx = part_idx[o * G];                                                                     \
        for (long c = 1; c < G; ++c) ts_fold_##NAME(&acc, &idx, part[o * G + c], part_idx[o * G + c]);  \
        ts_write_##NAME(out, out_off + o, acc, idx);                                                    \
    }
