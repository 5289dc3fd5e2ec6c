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
        /* four running maxima (one would wait on its compare each step); a NaN lane is remembered in   \
         * nv_, since the compares drop it */                                                        \
        TS_V m0 = (TS_V)(-INFINITY), m1 = m0, m2 = m0, m3 = m0, nv_ = (TS_V)0;                       \
        long k = 0;                                                                                  \
        for (; k + 4 <= nv; k += 4) {                                                                \
            const TS_V v0 = TS_VLOAD(k, x), v1 = TS_VLOAD(k + 1, x);                                 \
            const TS_V v2 = TS_VLOAD(k + 2, x), v3 = TS_VLOAD(k + 3, x);                             \
            m0 = v0 > m0 ? v0 : m0;                                                                  \
            m1 = v1 > m1 ? v1 : m1;                                                                  \
            m2 = v2 > m2 ? v2 : m2;                                                                  \
            m3 = v3 > m3 ? v3 : m3;                                                                  \
            nv_ = (v0 != v0) ? v0 : nv_;                                                             \
            nv_ = (v1 != v1) ? v1 : nv_;                                                             \
            nv_ = (v2 != v2) ? v2 : nv_;                                                             \
            nv_ = (v3 != v3) ? v3 : nv_;                                                             \
        }                                                                                            \
        for (; k < nv; ++k) {                                                                        \
            const TS_V v = TS_VLOAD(k, x);                                                           \
            m0 = v > m0 ? v : m0;                                                                    \
            nv_ = (v != v) ? v : nv_;                                                                \
        }                                                                                            \
        m0 = m1 > m0 ? m1 : m0;                                                                      \
        m2 = m3 > m2 ? m3 : m2;                                                                      \
        m0 = m2 > m0 ? m2 : m0;                                                                      \
        IN_T lanes[TS_VN], flags[TS_VN];                                                             \
        TS_VSTORE(m0, 0, lanes);                                                                     \
        TS_VSTORE(nv_, 0, flags);                                                                    \
        IN_T m = -INFINITY;                                                                          \
        int nan = 0;                                                                                 \
        for (int j = 0; j < TS_VN; ++j) {                                                            \
            m = lanes[j] > m ? lanes[j] : m;                                                         \
            nan |= flags[j] != flags[j];                                                             \
        }                                                                                            \
        for (long k = nv * TS_VN; k < L; ++k) {                                                      \
            nan |= x[k] != x[k];                                                                     \
            m = x[k] > m ? x[k] : m;                                                                 \
        }                                                                                            \
        if (nan) m = NAN;                                                                            \
        TS_V s0 = (TS_V)0, s1 = s0;                                                                  \
        k = 0;                                                                                       \
        for (; k + 2 <= nv; k += 2) {                                                                \
            const TS_V v0 = TS_VLOAD(k, x) - m, v1 = TS_VLOAD(k + 1, x) - m;                         \
            const TS_V e0 = exp(v0), e1 = exp(v1);                                                   \
            s0 += e0;                                                                                \
            s1 += e1;                                                                                \
            TS_VSTORE(LOG ? v0 : e0, k, out);                                                        \
            TS_VSTORE(LOG ? v1 : e1, k + 1, out);                                                    \
        }                                                                                            \
        for (; k < nv; ++k) {                                                                        \
            const TS_V v = TS_VLOAD(k, x) - m;                                                       \
            const TS_V e = exp(v);                                                                   \
            s0 += e;                                                                                 \
            TS_VSTORE(LOG ? v : e, k, out);                                                          \
        }                                                                                            \
        TS_VSTORE(s0 + s1, 0, lanes);                                                                \
        IN_T s = 0;                                                                                  \
        for (int j = 0; j < TS_VN; ++j) s += lanes[j];                                               \
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
