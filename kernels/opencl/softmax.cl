/* softmax and log_softmax along one axis, for one float dtype IN_T computing in C_T; out is contiguous.
 * One work-item per row (every position of the other axes); three passes over the row: the max (NaN propagates),
 * the sum of exp(x - max), then the results.  See Note [Softmax of non-finite rows] in kernels/cuda/softmax.cu:
 * the max is subtracted even when it is not finite, so a row holding NaN or +inf, or all -inf, is NaN everywhere
 * (PyTorch's answer), and a row with some -inf gives 0 (log_softmax: -inf) there.
 * backends/opencl.py defines TS_LOAD(p, i) and ts_store(out, i, value).  meta: the other axes' shape and x's
 * strides along them (coalesced); the axis has length L and stride xs in x, ``inner`` is the product of the
 * extents after it in out. */

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
        for (long k = 0; k < L; ++k) s += exp(TS_LOAD(x, base + k * xs) - m);                        \
        if (LOG) {                                                                                   \
            const C_T ls = log(s);                                                                   \
            for (long k = 0; k < L; ++k) ts_store(out, ob + k * inner, TS_LOAD(x, base + k * xs) - m - ls); \
        } else {                                                                                     \
            for (long k = 0; k < L; ++k) ts_store(out, ob + k * inner, exp(TS_LOAD(x, base + k * xs) - m) / s); \
        }                                                                                            \
    }

TS_SOFTMAX(softmax, 0)
TS_SOFTMAX(log_softmax, 1)

/* The vector variant (Note [Vector elementwise kernels]) for CPU devices: rows contiguous along the axis in x and in
 * out (xs == 1, the axis last), TS_VN elements at a time, and exp(x - max) computed once: stored into out by the
 * sum's pass, divided by the sum (log_softmax: x - max - log(sum)) in place by the last.  The same NaN and
 * infinity rules as above: a NaN anywhere makes the max NaN. */
#ifdef TS_VN
#define TS_V TS_CAT(IN_T, TS_VN)
#define TS_CAT2(a, b) a##b
#define TS_CAT(a, b) TS_CAT2(a, b)
#define TS_VLOAD TS_CAT(vload, TS_VN)
#define TS_VSTORE TS_CAT(vstore, TS_VN)

#define TS_SOFTMAX_VEC(NAME, LOG)                                                                        \
    __kernel void NAME##_vec(__global IN_T* out, long out_off, __global const IN_T* x, long x_off,     \
                             __global const long* meta, long nk, long L, long rows) {                \
        const long row = get_global_id(0);                                                           \
        if (row >= rows) return;                                                                     \
        x += x_off + ts_offset(row, nk, meta, meta + nk);                                            \
        out += out_off + row * L;                                                                    \
        const long nv = L / TS_VN;                                                                   \
        TS_V mv = (TS_V)(-INFINITY);                                                                 \
        int nan = 0;                                                                                 \
        for (long k = 0; k < nv; ++k) {                                                              \
            const TS_V v = TS_VLOAD(k, x);                                                           \
            nan |= any(isnan(v));                                                                    \
            mv = fmax(mv, v);                                                                        \
        }                                                                                            \
        IN_T m = -INFINITY;                                                                          \
        for (int j = 0; j < TS_VN; ++j) m = fmax(m, ((IN_T*)&mv)[j]);                                \
        for (long k = nv * TS_VN; k < L; ++k) {                                                      \
            nan |= isnan(x[k]);                                                                      \
            m = fmax(m, x[k]);                                                                       \
        }                                                                                            \
        if (nan) m = NAN;                                                                            \
        TS_V sv = (TS_V)0;                                                                           \
        for (long k = 0; k < nv; ++k) {                                                              \
            const TS_V v = TS_VLOAD(k, x) - m;                                                       \
            const TS_V e = exp(v);                                                                   \
            sv += e;                                                                                 \
            TS_VSTORE(LOG ? v : e, k, out);                                                          \
        }                                                                                            \
        IN_T s = 0;                                                                                  \
        for (int j = 0; j < TS_VN; ++j) s += ((IN_T*)&sv)[j];                                        \
        for (long k = nv * TS_VN; k < L; ++k) {                                                      \
            const IN_T v = x[k] - m, e = exp(v);                                                     \
            s += e;                                                                                  \
            out[k] = LOG ? v : e;                                                                    \
        }                                                                                            \
        if (LOG) {                                                                                   \
            const IN_T ls = log(s);                                                                  \
            for (long k = 0; k < nv; ++k) TS_VSTORE(TS_VLOAD(k, out) - ls, k, out);                  \
            for (long k = nv * TS_VN; k < L; ++k) out[k] -= ls;                                      \
        } else {                                                                                     \
            for (long k = 0; k < nv; ++k) TS_VSTORE(TS_VLOAD(k, out) / s, k, out);                   \
            for (long k = nv * TS_VN; k < L; ++k) out[k] /= s;                                       \
        }                                                                                            \
    }

TS_SOFTMAX_VEC(softmax, 0)
TS_SOFTMAX_VEC(log_softmax, 1)
#endif
