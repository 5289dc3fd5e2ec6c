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
