/* Elementwise kernels of one input dtype IN_T: the ops of kernels/optable.py, where and fill.
 *
 * backends/opencl.py generates, for each op NAME, ``ts_apply_NAME(out, o, x, i[, y, j])`` from the op's C expression
 * (codegen.load/store do the dtype's loads and stores), then instantiates the loops below.  Nothing per op is
 * written by hand here.  Variants: _contig (every operand contiguous: one index, see Note [Uniform guard]),
 * _scalar_a/_scalar_b (one input is a broadcast scalar, the rest contiguous: ``x + 1``), _strided (any layout). */

#define TS_UNARY(NAME, OUT)                                                                              \
    __kernel void NAME##_contig(__global OUT* out, long out_off, __global const IN_T* x, long x_off,   \
                                long n) {                                                            \
        out += out_off;                                                                              \
        x += x_off;                                                                                  \
        TS_FOR_INDEX(n, ts_apply_##NAME(out, i, x, i);)                                              \
    }                                                                                                \
    __kernel void NAME##_strided(__global OUT* out, long out_off, __global const IN_T* x, long x_off,  \
                                 __global const long* meta, long ndim, long n) {                     \
        const long i = get_global_id(0);                                                             \
        if (i >= n) return;                                                                          \
        long off[2];                                                                                 \
        ts_offsets(i, ndim, 2, meta, off);                                                           \
        ts_apply_##NAME(out, out_off + off[0], x, x_off + off[1]);                                   \
    }

#define TS_BINARY(NAME, OUT)                                                                             \
    __kernel void NAME##_contig(__global OUT* out, long out_off, __global const IN_T* x, long x_off,   \
                                __global const IN_T* y, long y_off, long n) {                        \
        out += out_off;                                                                              \
        x += x_off;                                                                                  \
        y += y_off;                                                                                  \
        TS_FOR_INDEX(n, ts_apply_##NAME(out, i, x, i, y, i);)                                        \
    }                                                                                                \
    __kernel void NAME##_scalar_a(__global OUT* out, long out_off, __global const IN_T* x, long x_off, \
                                  __global const IN_T* y, long y_off, long n) {                      \
        out += out_off;                                                                              \
        x += x_off;                                                                                  \
        y += y_off;                                                                                  \
        TS_FOR_INDEX(n, ts_apply_##NAME(out, i, x, 0, y, i);)                                        \
    }                                                                                                \
    __kernel void NAME##_scalar_b(__global OUT* out, long out_off, __global const IN_T* x, long x_off, \
                                  __global const IN_T* y, long y_off, long n) {                      \
        out += out_off;                                                                              \
        x += x_off;                                                                                  \
        y += y_off;                                                                                  \
        TS_FOR_INDEX(n, ts_apply_##NAME(out, i, x, i, y, 0);)                                        \
    }                                                                                                \
    __kernel void NAME##_strided(__global OUT* out, long out_off, __global const IN_T* x, long x_off,  \
                                 __global const IN_T* y, long y_off, __global const long* meta,      \
                                 long ndim, long n) {                                                \
        const long i = get_global_id(0);                                                             \
        if (i >= n) return;                                                                          \
        long off[3];                                                                                 \
        ts_offsets(i, ndim, 3, meta, off);                                                           \
        ts_apply_##NAME(out, out_off + off[0], x, x_off + off[1], y, y_off + off[2]);                \
    }

/* Note [Vector elementwise kernels]: PoCL vectorises the work-group loop of the kernels above across work-items,
 * except where an item calls a math builtin: exp(x[i]) stays a scalar call (40 ms for 16M floats on 2 cores).
 * Called on a vector the builtin is PoCL's vector (SLEEF) version, 7x faster at the same accuracy.  So for float
 * unary ops whose expression is builtins and arithmetic of a only (kernels/opencl_source.py decides), CPU devices
 * get NAME_vec: one work-item per TS_VN elements of contiguous operands, ts_vapply_NAME the expression on a vector,
 * the last item finishing the tail one element at a time. */
#define TS_UNARY_VEC(NAME, VN)                                                                           \
    __kernel void NAME##_vec(__global IN_T* out, long out_off, __global const IN_T* x, long x_off,     \
                             long n) {                                                               \
        out += out_off;                                                                              \
        x += x_off;                                                                                  \
        const long i = get_global_id(0);                                                             \
        if ((i + 1) * VN <= n) {                                                                     \
            vstore##VN(ts_vapply_##NAME(vload##VN(i, x)), i, out);                                   \
        } else {                                                                                     \
            for (long j = i * VN; j < n; ++j) ts_apply_##NAME(out, j, x, j);                         \
        }                                                                                            \
    }

/* where(cond, a, b): cond is bool (uchar); a, b and out are IN_T.  ts_apply_where is generated too. */
__kernel void where_contig(__global IN_T* out, long out_off, __global const uchar* c, long c_off,
                           __global const IN_T* x, long x_off, __global const IN_T* y, long y_off, long n) {
    out += out_off;
    c += c_off;
    x += x_off;
    y += y_off;
    TS_FOR_INDEX(n, ts_apply_where(out, i, c, i, x, i, y, i);)
}

__kernel void where_strided(__global IN_T* out, long out_off, __global const uchar* c, long c_off,
                            __global const IN_T* x, long x_off, __global const IN_T* y, long y_off,
                            __global const long* meta, long ndim, long n) {
    const long i = get_global_id(0);
    if (i >= n) return;
    long off[4];
    ts_offsets(i, ndim, 4, meta, off);
    ts_apply_where(out, out_off + off[0], c, c_off + off[1], x, x_off + off[2], y, y_off + off[3]);
}

/* fill(out, value): the value arrives as TS_FILL_T (long for integers and bool, the widest float otherwise). */
__kernel void fill_contig(__global IN_T* out, long out_off, TS_FILL_T value, long n) {
    out += out_off;
    TS_FOR_INDEX(n, ts_apply_fill(out, i, value);)
}

__kernel void fill_strided(__global IN_T* out, long out_off, TS_FILL_T value, __global const long* meta, long ndim,
                           long n) {
    const long i = get_global_id(0);
    if (i >= n) return;
    ts_apply_fill(out, out_off + ts_offset(i, ndim, meta, meta + ndim), value);
}
