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
    TS_REDUCE_RANGE(FOLD, READ, ACC, lo, TS_MIN(end, lo + per), 1)
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
        const long end = TS_MIN(R, start + chunk);                                                      \
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

/* Note [Vector reductions]: on CPU devices a work-group's items each fold a contiguous run with scalar loads, which
 * PoCL's work-group vectoriser turns into gathers across the items' runs (sum of 16M floats at half the cpu
 * backend's speed, max at a tenth).  sum, max and min of float dtypes over one contiguous reduced run (the common
 * x.sum(), x.max(), x.sum(axis=-1)) instead take NAME_vec: G work-items per output, each folding a TS_VN-aligned
 * chunk in four TS_VN-wide accumulators (TS_VSTEP), then the lanes and the tail with the scalar fold; a NaN seen by
 * max or min is kept in a flag (a vector compare drops it) and wins at the end.  ``partial`` leaves the G partials
 * of each output for NAME_finish above, in the same layout as NAME_group's.  A reduced block of contiguous rows (the
 * sum of a view x[:1000, :1000]) runs the same kernel with the rows as one more kept dim (``meta``), every row a
 * partial, and NAME_finish folds each output's rows.  A run may also take every other element (S == 2: the sum of
 * x[:, ::2]): each vector is then the even lanes of two contiguous loads, as NAME_vrows does, for every vector but
 * one whose second load would read past the run's last element, which the scalar tail takes. */
#ifdef TS_VN
#define TS_RV_T TS_CAT(IN_T, TS_VN)
#define TS_RV_LOAD(k, p) TS_GLOAD(IN_T, TS_VN, k, p)  /* Note [Inline vector loads] */
#define TS_RV_STORE TS_CAT(vstore, TS_VN)
/* vector k of the run at p, S == 1 or 2 (the even lanes of two loads) */
#define TS_RV_AT(k) (S == 1 ? TS_RV_LOAD(k, p) \
                            : (TS_RV_T)(TS_RV_LOAD(2 * (k), p).even, TS_RV_LOAD(2 * (k) + 1, p).even))

#define TS_REDUCTION_VEC(NAME, OUT, VSTEP, NAN_WINS)                                                  \
    __kernel void NAME##_vec(__global OUT* out, long out_off, __global IN_T* part, __global long* part_idx, \
                             __global const IN_T* x, long x_off, __global const long* meta, long nk,   \
                             long R, long G, long partial, long S) {                                    \
        const long g = get_global_id(0);                                                                \
        const long o = g / G, c = g % G;                                                                \
        const long chunk = ((R + G - 1) / G + TS_VN - 1) / TS_VN * TS_VN;                               \
        const long start = TS_MIN(R, c * chunk), end = TS_MIN(R, start + chunk);                        \
        __global const IN_T* p = x + x_off + ts_offset(o, nk, meta, meta + nk) + start * S;             \
        const long n = end - start, nv = S == 1 ? n / TS_VN : (n > 0 ? (n - 1) / TS_VN : 0);            \
        const TS_RV_T init = (TS_RV_T)ts_init_##NAME();                                                 \
        TS_RV_T a0 = init, a1 = init, a2 = init, a3 = init;                                             \
        TS_RV_T nan = (TS_RV_T)0;                                                                       \
        long k = 0;                                                                                     \
        for (; k + 4 <= nv; k += 4) {                                                                   \
            const TS_RV_T v0 = TS_RV_AT(k), v1 = TS_RV_AT(k + 1);                                       \
            const TS_RV_T v2 = TS_RV_AT(k + 2), v3 = TS_RV_AT(k + 3);                                   \
            VSTEP(a0, v0); VSTEP(a1, v1); VSTEP(a2, v2); VSTEP(a3, v3);                                 \
            if (NAN_WINS) {                                                                             \
                nan = (v0 != v0) ? v0 : nan;                                                            \
                nan = (v1 != v1) ? v1 : nan;                                                            \
                nan = (v2 != v2) ? v2 : nan;                                                            \
                nan = (v3 != v3) ? v3 : nan;                                                            \
            }                                                                                           \
        }                                                                                               \
        for (; k < nv; ++k) {                                                                           \
            const TS_RV_T v = TS_RV_AT(k);                                                              \
            VSTEP(a0, v);                                                                               \
            if (NAN_WINS) nan = (v != v) ? v : nan;                                                     \
        }                                                                                               \
        VSTEP(a0, a1); VSTEP(a2, a3); VSTEP(a0, a2);                                                    \
        IN_T lanes[TS_VN], flags[TS_VN];                                                                \
        TS_RV_STORE(a0, 0, lanes);                                                                      \
        TS_RV_STORE(nan, 0, flags);                                                                     \
        IN_T acc = lanes[0];                                                                            \
        long idx = 0;                                                                                   \
        for (int j = 1; j < TS_VN; ++j) ts_fold_##NAME(&acc, &idx, lanes[j], 0);                        \
        for (int j = 0; j < TS_VN; ++j) if (flags[j] != flags[j]) acc = flags[j];                       \
        for (long j = nv * TS_VN; j < n; ++j) ts_fold_##NAME(&acc, &idx, p[j * S], 0);                  \
        if (!partial) {                                                                                 \
            ts_write_##NAME(out, out_off + o, acc, 0);                                                  \
        } else {                                                                                        \
            part[g] = acc;                                                                              \
            part_idx[g] = 0;                                                                            \
        }                                                                                               \
    }

/* NAME_vcols: the column reductions (sum(axis=0) of a matrix: a bias's gradient), outputs contiguous in x (kept
 * stride 1) and one reduced dim of stride rs: each work-item folds TS_VN neighbouring columns down the R rows in
 * one vector accumulator; the last item takes the columns left over one at a time. */
#define TS_REDUCTION_VEC_COLS(NAME, OUT, VSTEP, NAN_WINS)                                             \
    __kernel void NAME##_vcols(__global OUT* out, long out_off, __global const IN_T* x, long x_off,    \
                               long n_out, long R, long rs) {                                          \
        const long c0 = get_global_id(0) * TS_VN;                                                       \
        if (c0 >= n_out) return;                                                                        \
        __global const IN_T* p = x + x_off + c0;                                                        \
        long idx = 0;                                                                                   \
        if (c0 + TS_VN <= n_out) {                                                                      \
            TS_RV_T a = (TS_RV_T)ts_init_##NAME(), nan = (TS_RV_T)0;                                    \
            for (long r = 0; r < R; ++r) {                                                              \
                const TS_RV_T v = TS_RV_LOAD(0, p + r * rs);                                            \
                VSTEP(a, v);                                                                            \
                if (NAN_WINS) nan = (v != v) ? v : nan;                                                 \
            }                                                                                           \
            IN_T lanes[TS_VN], flags[TS_VN];                                                            \
            TS_RV_STORE(a, 0, lanes);                                                                   \
            TS_RV_STORE(nan, 0, flags);                                                                 \
            for (int j = 0; j < TS_VN; ++j)                                                             \
                ts_write_##NAME(out, out_off + c0 + j, flags[j] != flags[j] ? flags[j] : lanes[j], 0);  \
        } else {                                                                                        \
            for (long c = c0; c < n_out; ++c) {                                                         \
                IN_T acc = ts_init_##NAME();                                                            \
                for (long r = 0; r < R; ++r) ts_fold_##NAME(&acc, &idx, p[r * rs + (c - c0)], 0);        \
                ts_write_##NAME(out, out_off + c, acc, 0);                                              \
            }                                                                                           \
        }                                                                                               \
    }

#define TS_RV_SUM(a, v) a += (v)
#define TS_RV_MAX(a, v) a = ((v) > (a)) ? (v) : (a)
#define TS_RV_MIN(a, v) a = ((v) < (a)) ? (v) : (a)
#endif
