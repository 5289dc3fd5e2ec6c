/* softmax and log_softmax along one axis, for one float dtype IN_T computing in C_T; out is contiguous.
 * One work-item per row (every position of the other axes); three passes over the row: the max (NaN propagates),
 * the sum of exp(x - max), then the results.  See Note [Softmax of non-finite rows] in kernels/cuda/softmax.cu:
 * the max is subtracted even when it is not finite, so a row holding NaN or +inf, or all -inf, is NaN everywhere
 * (PyTorch's answer), and a row with some -inf gives 0 (log_softmax: -inf) there.
 * backends/opencl.py defines TS_LOAD(p, i) and ts_store(out, i, value).  meta: the other axes' shape and x's
 * strides along them (coalesced); the axis has length L and stride xs in x, ``inner`` is the product of the
 * extents after it in out. */

/* exp and log: tensorswitch's own where the program has them (float32 on CPU devices: Note [Own float math on CPU
 * devices] in vmath.cl), scalar and vector alike; the builtins otherwise */
#if TS_OWN_MATH
#define TS_EXP ts_exp
#define TS_LOG ts_log
#else
#define TS_EXP exp
#define TS_LOG log
#endif

#define TS_SOFTMAX(NAME, LOG)                                                                            \
    __kernel void NAME(__global IN_T* out, long out_off, __global const IN_T* x, long x_off,           \
                       __global const long* meta, long nk, long L, long xs, long inner, long rows) {  \
        const long row = get_global_id(0);                                                           \
        if (row >= rows) return;                                                                     \
        const long base = x_off + ts_offset(row, nk, meta, meta + nk);                               \
        const long ob = out_off + (row / inner) * L * inner + row % inner;                           \
        C_T m = -INFINITY;                                                                           \
        for (long k = 0; k < L; ++k) {                                                               \
            const C_T v = TS_LOAD(x, base + k * xs);                                                 \
            if ((v > m || v != v) && m == m) m = v;                                                  \
        }                                                                                            \
        C_T s = 0;                                                                                   \
        for (long k = 0; k < L; ++k) s += TS_EXP(TS_LOAD(x, base + k * xs) - m);                     \
        if (LOG) {                                                                                   \
            const C_T ls = TS_LOG(s);                                                                \
            for (long k = 0; k < L; ++k) ts_store(out, ob + k * inner, TS_LOAD(x, base + k * xs) - m - ls); \
        } else {                                                                                     \
            for (long k = 0; k < L; ++k) ts_store(out, ob + k * inner, TS_EXP(TS_LOAD(x, base + k * xs) - m) / s); \
        }                                                                                            \
    }

TS_SOFTMAX(softmax, 0)
TS_SOFTMAX(log_softmax, 1)

/* The vector variant (Note [Vector elementwise kernels]) for CPU devices: rows contiguous along the axis in x and in
 * out (xs == 1, the axis last), TS_VN elements at a time, and exp(x - max) computed once: stored into out by the
 * sum's pass, multiplied by 1 / sum (log_softmax: x - max - log(sum)) in place by the last.  The same NaN and
 * infinity rules as above, a row whose max is NaN or infinite answered before any exp. */
#ifdef TS_VN
#define TS_V TS_CAT(IN_T, TS_VN)
#define TS_VLOAD(k, p) TS_GLOAD(IN_T, TS_VN, k, p)         /* global memory: Note [Inline vector loads] */
#define TS_VSTORE(v, k, p) TS_GSTORE(IN_T, TS_VN, v, k, p)
#define TS_PSTORE TS_CAT(vstore, TS_VN)                     /* into a private array */

/* exp(v) for the vector kernels' v = x - max (v <= 0, -inf, or NaN: a NaN of the row; a row whose max is not
 * finite never gets here).  For float, the cpu backend's exp_poly (kernels/cpu/module.cpp: Cephes' expf, a degree-6
 * polynomial on [-ln2/2, ln2/2] times a power of two built from bits), within 2 ulp of expf for v <= 0 and 0 (or a
 * subnormal) below -87.34 where expf's results are subnormal, as the cpu backend's without libmvec.  With PoCL's
 * vector exp a (4096, 1024) softmax took 1.5 ms, 0.64 of them in its exps; with this one, 1.39.  The rounding to
 * the nearest integer adds and subtracts 1.5 * 2^23 (the integer is then the low bits of the sum), which PoCL keeps
 * in vector registers where convert_int and rint were not.  double keeps the built-in exp. */
#if TS_FLOAT_SOFTMAX_EXP
#define TS_VI TS_CAT(int, TS_VN)
#define TS_AS_VI TS_CAT(as_int, TS_VN)
#define TS_AS_V TS_CAT(as_float, TS_VN)
static inline TS_V ts_softmax_exp(TS_V x) {
    /* x <= 0 needs no upper clamp; a NaN passes the select, and NaN comes out (the caller's sign of a NaN).  At
     * the clamp, -88, n is -127 and the power of two built from its bits is 0: 0 comes out with no select of its
     * own (the results between -87.34 and -87.68 subnormal, below it 0, where expf's are subnormal) */
    const TS_V lo = (TS_V)-88.0f, magic = (TS_V)12582912.f;
    const TS_V xc = x < lo ? lo : x;
    const TS_V big = xc * 1.44269504088896341f + magic;  /* round(xc / ln 2) + 1.5 * 2^23 */
    const TS_V fn = big - magic;
    const TS_VI n = TS_AS_VI(big) - TS_AS_VI(magic);
    const TS_V r = (xc - fn * 0.693359375f) + fn * 2.12194440e-4f;
    TS_V p = (TS_V)1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return p * TS_AS_V((n + 127) << 23);
}
static inline float ts_softmax_exp1(float x) {
    return ts_softmax_exp((TS_V)x).s0;  /* a row's last few elements: the same operations, the same bits */
}
#else
#define ts_softmax_exp(v) exp(v)
#define ts_softmax_exp1(v) exp(v)
#endif

/* The max of vectors [0, nv) of a row, given as four running maxima m0..m3 of them and nanv (a NaN lane where a
 * NaN was seen: the compares drop it), and of its scalar tail x[nv * TS_VN .. L): NaN when the row holds one. */
static inline IN_T ts_vrow_max_finish(TS_V m0, TS_V m1, TS_V m2, TS_V m3, TS_V nanv, __global const IN_T* x, long nv,
                                      long L) {
    m0 = m1 > m0 ? m1 : m0;
    m2 = m3 > m2 ? m3 : m2;
    m0 = m2 > m0 ? m2 : m0;
    IN_T lanes[TS_VN], flags[TS_VN];
    TS_PSTORE(m0, 0, lanes);
    TS_PSTORE(nanv, 0, flags);
    IN_T m = -INFINITY;
    int nan = 0;
    for (int j = 0; j < TS_VN; ++j) {
        m = lanes[j] > m ? lanes[j] : m;
        nan |= flags[j] != flags[j];
    }
    for (long k = nv * TS_VN; k < L; ++k) {
        nan |= x[k] != x[k];
        m = x[k] > m ? x[k] : m;
    }
    return nan ? (IN_T)NAN : m;
}

/* The max of a row of L contiguous elements (NaN when it holds one): four running maxima, since one would wait on
 * its compare each step. */
static inline IN_T ts_vrow_max(__global const IN_T* x, long L) {
    const long nv = L / TS_VN;
    TS_V m0 = (TS_V)(-INFINITY), m1 = m0, m2 = m0, m3 = m0, nanv = (TS_V)0;
    long k = 0;
    for (; k + 4 <= nv; k += 4) {
        const TS_V v0 = TS_VLOAD(k, x), v1 = TS_VLOAD(k + 1, x), v2 = TS_VLOAD(k + 2, x), v3 = TS_VLOAD(k + 3, x);
        m0 = v0 > m0 ? v0 : m0;
        m1 = v1 > m1 ? v1 : m1;
        m2 = v2 > m2 ? v2 : m2;
        m3 = v3 > m3 ? v3 : m3;
        nanv = (v0 != v0) ? v0 : nanv;
        nanv = (v1 != v1) ? v1 : nanv;
        nanv = (v2 != v2) ? v2 : nanv;
        nanv = (v3 != v3) ? v3 : nanv;
    }
    for (; k < nv; ++k) {
        const TS_V v = TS_VLOAD(k, x);
        m0 = v > m0 ? v : m0;
        nanv = (v != v) ? v : nanv;
    }
    return ts_vrow_max_finish(m0, m1, m2, m3, nanv, x, nv, L);
}

/* A work-item takes ``per`` consecutive rows, three passes over each (a row of up to some thousands of floats stays
 * in the core's caches between them): its max; exp(x - max) with four vector sums in flight, stored by softmax
 * (log_softmax stores nothing yet); then the results in place, times 1 / sum (log_softmax: x - max - log(sum)).  An
 * earlier form did the next row's max and the previous row's last pass inside this row's exp loop, to overlap
 * memory with arithmetic: on PoCL's AVX2 code it spilled registers, and the (4096, 1024) softmax took 1.38-1.48 ms
 * there against 1.10-1.16 for these passes (the cpu backend's 0.74). */
#define TS_SOFTMAX_VEC(NAME, LOG)                                                                        \
    __kernel void NAME##_vec(__global IN_T* out, long out_off, __global const IN_T* x, long x_off,     \
                             __global const long* meta, long nk, long L, long rows, long per) {      \
        const long r0 = get_global_id(0) * per;                                                      \
        if (r0 >= rows) return;                                                                      \
        const long r1 = TS_MIN(rows, r0 + per), nv = L / TS_VN;                                      \
        for (long row = r0; row < r1; ++row) {                                                       \
            __global const IN_T* xr = x + x_off + ts_offset(row, nk, meta, meta + nk);               \
            __global IN_T* o = out + out_off + row * L;                                              \
            const IN_T m = ts_vrow_max(xr, L);                                                       \
            if (!(m > -INFINITY && m < INFINITY)) { /* Note [Softmax of non-finite rows] */          \
                for (long k = 0; k < L; ++k) o[k] = NAN;                                             \
                continue;                                                                            \
            }                                                                                        \
            TS_V s0 = (TS_V)0, s1 = s0, s2 = s0, s3 = s0;                                            \
            long k = 0;                                                                              \
            for (; k + 4 <= nv; k += 4) {                                                            \
                const TS_V e0 = ts_softmax_exp(TS_VLOAD(k, xr) - m);                                 \
                const TS_V e1 = ts_softmax_exp(TS_VLOAD(k + 1, xr) - m);                             \
                const TS_V e2 = ts_softmax_exp(TS_VLOAD(k + 2, xr) - m);                             \
                const TS_V e3 = ts_softmax_exp(TS_VLOAD(k + 3, xr) - m);                             \
                s0 += e0;                                                                            \
                s1 += e1;                                                                            \
                s2 += e2;                                                                            \
                s3 += e3;                                                                            \
                if (!LOG) {                                                                          \
                    TS_VSTORE(e0, k, o);                                                             \
                    TS_VSTORE(e1, k + 1, o);                                                         \
                    TS_VSTORE(e2, k + 2, o);                                                         \
                    TS_VSTORE(e3, k + 3, o);                                                         \
                }                                                                                    \
            }                                                                                        \
            for (; k < nv; ++k) {                                                                    \
                const TS_V e = ts_softmax_exp(TS_VLOAD(k, xr) - m);                                  \
                s0 += e;                                                                             \
                if (!LOG) TS_VSTORE(e, k, o);                                                        \
            }                                                                                        \
            IN_T lanes[TS_VN];                                                                       \
            TS_PSTORE((s0 + s1) + (s2 + s3), 0, lanes);                                              \
            IN_T s = 0;                                                                              \
            for (int j = 0; j < TS_VN; ++j) s += lanes[j];                                           \
            for (long j = nv * TS_VN; j < L; ++j) {                                                  \
                const IN_T e = ts_softmax_exp1(xr[j] - m);                                           \
                s += e;                                                                              \
                if (!LOG) o[j] = e;                                                                  \
            }                                                                                        \
            if (s != s) { /* the row held a NaN, which the max passed over: Note [Softmax of non-finite rows] */ \
                for (long j = 0; j < L; ++j) o[j] = NAN;                                             \
                continue;                                                                            \
            }                                                                                        \
            if (LOG) {                                                                               \
                const IN_T c = TS_LOG(s);                                                            \
                for (long j = 0; j < nv; ++j) TS_VSTORE((TS_VLOAD(j, xr) - m) - c, j, o);            \
                for (long j = nv * TS_VN; j < L; ++j) o[j] = (xr[j] - m) - c;                        \
            } else {                                                                                 \
                const IN_T c = (IN_T)1 / s; /* a product by 1 / s, as the cpu kernel */              \
                for (long j = 0; j < nv; ++j) TS_VSTORE(TS_VLOAD(j, o) * c, j, o);                   \
                for (long j = nv * TS_VN; j < L; ++j) o[j] *= c;                                     \
            }                                                                                        \
        }                                                                                            \
    }

TS_SOFTMAX_VEC(softmax, 0)
TS_SOFTMAX_VEC(log_softmax, 1)
#endif

/* Cross entropy's common case (Note [Fused cross entropy] in kernels/cpu/module.cpp): the nll of log_softmax over
 * the rows of (N, C) logits x, element (r, j) at x_off + r * rs + j * cs (any strides), and int64 targets at
 * t_off + r * tst.  backends/opencl.py defines TS_RL (the work-group size of nll_total, a power of two), TS_NLL_ACC
 * (the sum of the row losses: double where the device has fp64, else float) and TS_ROUND(v) (v rounded to IN_T and
 * back: float16's scale is a half, as the cpu kernel's).  The forward takes two launches and no atomics:
 *     nll_rows    a work-item per row: -((x[t] - max) - log(sum exp(x - max))) in C_T into loss[r]; NaN for a row
 *                 that is not finite (Note [Softmax of non-finite rows]), 0 for a target outside [0, C), whose x it
 *                 does not read
 *     nll_total   one work-group: item l sums rows l, l + TS_RL, ... in that order, then a tree over the items (a
 *                 fixed order: the same bits every run), and finds the first target outside [0, C) the same way;
 *                 writes the 0-d loss (over N in C_T for the mean, as the cpu kernel) and info = {that row or N, its
 *                 target}, the one thing the host reads back.
 * The backward, a work-item per row of the contiguous out: softmax(x[r]) * c, plus -c at the target, with c = g / N
 * (mean) or g read from g[g_off] on the device. */

static inline C_T ts_nll_max(__global const IN_T* x, long base, long c, long cs) {
    C_T m = -INFINITY;
    for (long j = 0; j < c; ++j) {
        const C_T v = TS_LOAD(x, base + j * cs);
        if ((v > m || v != v) && m == m) m = v;
    }
    return m;
}

static inline C_T ts_nll_sum(__global const IN_T* x, long base, long c, long cs, C_T m) {
    C_T s = 0;
    for (long j = 0; j < c; ++j) s += TS_EXP(TS_LOAD(x, base + j * cs) - m);
    return s;
}

__kernel void nll_rows(__global C_T* loss, __global const IN_T* x, long x_off, long c, long rs, long cs,
                       __global const long* t, long t_off, long tst, long n) {
    const long r = get_global_id(0);
    if (r >= n) return;
    const long k = t[t_off + r * tst];
    if (k < 0 || k >= c) {  /* reported by nll_total */
        loss[r] = 0;
        return;
    }
    const long base = x_off + r * rs;
    const C_T m = ts_nll_max(x, base, c, cs);
    if (!(m < INFINITY && m > -INFINITY)) {  /* a NaN, a max of +inf, or all -inf */
        loss[r] = NAN;
        return;
    }
    const C_T ls = TS_LOG(ts_nll_sum(x, base, c, cs, m));
    loss[r] = -((TS_LOAD(x, base + k * cs) - m) - ls);  /* log_softmax's rounding, then the negation */
}

__kernel void nll_total(__global IN_T* out, long out_off, __global long* info, __global const C_T* loss, long n,
                        long c, __global const long* t, long t_off, long tst, long mean) {
    __local TS_NLL_ACC sums[TS_RL];
    __local long firsts[TS_RL];
    const int l = get_local_id(0);
    TS_NLL_ACC s = 0;
    long first = n;
    for (long r = l; r < n; r += TS_RL) {
        s += (TS_NLL_ACC)loss[r];
        const long k = t[t_off + r * tst];
        if (first == n && (k < 0 || k >= c)) first = r;
    }
    sums[l] = s;
    firsts[l] = first;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = TS_RL / 2; h > 0; h >>= 1) {
        if (l < h) {
            sums[l] += sums[l + h];
            firsts[l] = TS_MIN(firsts[l], firsts[l + h]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) {
        const long f = firsts[0];
        info[0] = f;
        info[1] = f < n ? t[t_off + f * tst] : 0;
        const C_T total = (C_T)sums[0];  /* rounds once to C_T, then divides in it (the composition's order) */
        ts_store(out, out_off, mean ? total / (C_T)n : total);
    }
}

__kernel void nll_backward(__global IN_T* out, long out_off, __global const IN_T* x, long x_off, long c, long rs,
                           long cs, __global const long* t, long t_off, long tst, __global const IN_T* g, long g_off,
                           long mean, long n) {
    const long r = get_global_id(0);
    if (r >= n) return;
    const C_T gv = TS_LOAD(g, g_off);
    const C_T sc = TS_ROUND(mean ? gv / (C_T)n : gv);
    const long base = x_off + r * rs, ob = out_off + r * c;
    const long k = t[t_off + r * tst];
    const C_T m = ts_nll_max(x, base, c, cs);  /* subtracted as it is: a non-finite row is NaN throughout */
    const C_T ls = TS_LOG(ts_nll_sum(x, base, c, cs, m));
    for (long j = 0; j < c; ++j) {
        const C_T v = TS_EXP((TS_LOAD(x, base + j * cs) - m) - ls) * sc;  /* exp(log_softmax): the composition's */
        ts_store(out, ob + j, j == k ? v + (-sc) : v);
    }
}

/* The vector variants of nll_rows and nll_backward for CPU devices (Note [Vector elementwise kernels]): rows
 * contiguous in x (cs == 1), IN_T == C_T, the max and the sum of exp(x - max) TS_VN elements at a time, with the
 * scalar kernels' NaN and infinity rules. */
#ifdef TS_VN
static inline IN_T ts_nll_vsum(__global const IN_T* x, long L, IN_T m) {
    const long nv = L / TS_VN;
    TS_V s0 = (TS_V)0, s1 = s0;
    long k = 0;
    for (; k + 2 <= nv; k += 2) {
        s0 += TS_EXP(TS_VLOAD(k, x) - m);
        s1 += TS_EXP(TS_VLOAD(k + 1, x) - m);
    }
    for (; k < nv; ++k) s0 += TS_EXP(TS_VLOAD(k, x) - m);
    IN_T lanes[TS_VN];
    TS_PSTORE(s0 + s1, 0, lanes);
    IN_T s = 0;
    for (int j = 0; j < TS_VN; ++j) s += lanes[j];
    for (long j = nv * TS_VN; j < L; ++j) s += TS_EXP(x[j] - m);
    return s;
}

__kernel void nll_rows_vec(__global IN_T* loss, __global const IN_T* x, long x_off, long c, long rs,
                           __global const long* t, long t_off, long tst, long n) {
    const long r = get_global_id(0);
    if (r >= n) return;
    const long k = t[t_off + r * tst];
    if (k < 0 || k >= c) {
        loss[r] = 0;
        return;
    }
    x += x_off + r * rs;
    const IN_T m = ts_vrow_max(x, c);
    if (!(m < INFINITY && m > -INFINITY)) {
        loss[r] = NAN;
        return;
    }
    const IN_T ls = TS_LOG(ts_nll_vsum(x, c, m));
    loss[r] = -((x[k] - m) - ls);
}

__kernel void nll_backward_vec(__global IN_T* out, long out_off, __global const IN_T* x, long x_off, long c, long rs,
                               __global const long* t, long t_off, long tst, __global const IN_T* g, long g_off,
                               long mean, long n) {
    const long r = get_global_id(0);
    if (r >= n) return;
    const IN_T gv = g[g_off];
    const IN_T sc = mean ? gv / (IN_T)n : gv;
    const long k = t[t_off + r * tst];
    x += x_off + r * rs;
    out += out_off + r * c;
    const IN_T m = ts_vrow_max(x, c);  /* subtracted as it is: a non-finite row is NaN throughout */
    const IN_T ls = TS_LOG(ts_nll_vsum(x, c, m));  /* p = exp(log_softmax(x)): the composition's arithmetic */
    const long nv = c / TS_VN;
    for (long j = 0; j < nv; ++j) TS_VSTORE(TS_EXP((TS_VLOAD(j, x) - m) - ls) * sc, j, out);
    for (long j = nv * TS_VN; j < c; ++j) out[j] = TS_EXP((x[j] - m) - ls) * sc;
    out[k] = out[k] + (-sc);  /* the stored p * c, then -c: the scalar kernel's two roundings */
}
#endif
