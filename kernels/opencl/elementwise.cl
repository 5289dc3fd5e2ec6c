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

/* Note [Row kernels]: the _strided kernels unravel every element's index (a 64-bit division per dim per element),
 * which on a CPU device costs 7x the contiguous loop for a 1000x1000 view of a larger matrix.  Where the layout's
 * innermost dim (after coalescing in the output's memory order) is long, the host launches NAME_rows instead: one
 * work-item per row, the row's offsets unravelled once from meta (the outer dims: shape, then each operand's
 * strides), then a walk along the row by each operand's inner stride (xs, ys, os).  A single strided dim (x[::2])
 * is cut into rows of ``inner`` elements, the last one ``last`` long. */
#define TS_UNARY_ROWS(NAME, OUT)                                                                         \
    __kernel void NAME##_rows(__global OUT* out, long out_off, __global const IN_T* x, long x_off,     \
                              __global const long* meta, long ndim, long os, long xs, long inner,     \
                              long last, long rows) {                                                \
        const long r = get_global_id(0);                                                             \
        if (r >= rows) return;                                                                       \
        long off[2];                                                                                 \
        const long len = ts_row(r, rows, inner, last, ndim, 2, meta, off);                           \
        const long o = out_off + off[0], i = x_off + off[1];                                         \
        for (long j = 0; j < len; ++j) ts_apply_##NAME(out, o + j * os, x, i + j * xs);              \
    }

/* Note [Tile kernels] in common.cl */
#define TS_BINARY_TILES(NAME, OUT)                                                                       \
    __kernel void NAME##_tiles(__global OUT* out, long out_off, __global const IN_T* x, long x_off,    \
                               __global const IN_T* y, long y_off, __global const long* meta,         \
                               long ndim, long os, long xs, long ys, long inner, long last,           \
                               long rows) {                                                          \
        const long t = get_global_id(0);                                                             \
        if (t * TS_TILE >= rows) return;                                                             \
        long off[TS_TILE * 3], len[TS_TILE];                                                         \
        const int nr = ts_tile_rows(t, rows, inner, last, ndim, 3, meta, off, len);                  \
        for (long jj = 0; jj < inner; jj += TS_TILE)                                                 \
            for (int b = 0; b < nr; ++b) {                                                           \
                const long o = out_off + off[3 * b], i = x_off + off[3 * b + 1], k = y_off + off[3 * b + 2]; \
                const long end = TS_MIN(jj + TS_TILE, len[b]);                                       \
                for (long j = jj; j < end; ++j) ts_apply_##NAME(out, o + j * os, x, i + j * xs, y, k + j * ys); \
            }                                                                                        \
    }

#define TS_BINARY_ROWS(NAME, OUT)                                                                        \
    __kernel void NAME##_rows(__global OUT* out, long out_off, __global const IN_T* x, long x_off,     \
                              __global const IN_T* y, long y_off, __global const long* meta,          \
                              long ndim, long os, long xs, long ys, long inner, long last,            \
                              long rows) {                                                           \
        const long r = get_global_id(0);                                                             \
        if (r >= rows) return;                                                                       \
        long off[3];                                                                                 \
        const long len = ts_row(r, rows, inner, last, ndim, 3, meta, off);                           \
        const long o = out_off + off[0], i = x_off + off[1], k = y_off + off[2];                     \
        for (long j = 0; j < len; ++j) ts_apply_##NAME(out, o + j * os, x, i + j * xs, y, k + j * ys); \
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
 * get NAME_vec: one work-item per TS_VN elements of contiguous operands, ts_vapply_NAME the expression on a vector.
 * The last item's few elements go through the same vector code, gathered into (and scattered from) a private
 * vector: a scalar tail of its own made PoCL's work-group loop 1.4x slower for the inlined math of Note [Own float
 * math on CPU devices] (exp of 1M floats 393 us against 253), and the tail's elements get the vector lanes' bits. */
#define TS_UNARY_VEC(NAME, VN)                                                                           \
    __kernel void NAME##_vec(__global IN_T* out, long out_off, __global const IN_T* x, long x_off,     \
                             long n) {                                                               \
        out += out_off;                                                                              \
        x += x_off;                                                                                  \
        const long i = get_global_id(0), m = n - i * VN;                                             \
        union { TS_CAT(IN_T, VN) v; IN_T s[VN]; } u;                                                 \
        if (m >= VN) {                                                                               \
            u.v = TS_GLOAD(IN_T, VN, i, x);                                                          \
        } else {                                                                                     \
            for (int j = 0; j < VN; ++j) u.s[j] = j < m ? x[i * VN + j] : (IN_T)0;                   \
        }                                                                                            \
        u.v = ts_vapply_##NAME(u.v);                                                                 \
        if (m >= VN) {                                                                               \
            TS_GSTORE(IN_T, VN, u.v, i, out);                                                        \
        } else {                                                                                     \
            for (int j = 0; j < m; ++j) out[i * VN + j] = u.s[j];                                    \
        }                                                                                            \
    }

/* NAME_vrows: the rows of Note [Row kernels] for the ops of Note [Vector elementwise kernels], TS_VN elements at
 * a time: vector loads and stores where the row is contiguous, the even lanes of two loads where it takes every other
 * element, a gather into (and scatter from) a private vector otherwise, so that the math runs on vectors either
 * way. */
#define TS_UNARY_VEC_ROWS(NAME, VN)                                                                      \
    __kernel void NAME##_vrows(__global IN_T* out, long out_off, __global const IN_T* x, long x_off,   \
                               __global const long* meta, long ndim, long os, long xs, long inner,   \
                               long last, long rows) {                                               \
        const long r = get_global_id(0);                                                             \
        if (r >= rows) return;                                                                       \
        long off[2];                                                                                 \
        const long len = ts_row(r, rows, inner, last, ndim, 2, meta, off), nv = len / VN;            \
        __global IN_T* o = out + out_off + off[0];                                                   \
        __global const IN_T* i = x + x_off + off[1];                                                 \
        IN_T lanes[VN];                                                                              \
        for (long j = 0; j < nv; ++j) {                                                              \
            TS_CAT(IN_T, VN) v;                                                                      \
            if (xs == 1) {                                                                           \
                v = TS_GLOAD(IN_T, VN, j, i);                                                        \
            } else if (xs == 2 && j + 1 < nv) {                                                      \
                /* every other element (x[:, ::2]): two contiguous loads, their even lanes; not for the  \
                 * last vector, whose second load would read one element past the row */             \
                const TS_CAT(IN_T, VN) v0 = TS_GLOAD(IN_T, VN, 2 * j, i);                           \
                const TS_CAT(IN_T, VN) v1 = TS_GLOAD(IN_T, VN, 2 * j + 1, i);                       \
                v = (TS_CAT(IN_T, VN))(v0.even, v1.even);                                            \
            } else {                                                                                 \
                for (int l = 0; l < VN; ++l) lanes[l] = i[(j * VN + l) * xs];                        \
                v = vload##VN(0, lanes);                                                             \
            }                                                                                        \
            v = ts_vapply_##NAME(v);                                                                 \
            if (os == 1) {                                                                           \
                TS_GSTORE(IN_T, VN, v, j, o);                                                        \
            } else {                                                                                 \
                vstore##VN(v, 0, lanes);                                                             \
                for (int l = 0; l < VN; ++l) o[(j * VN + l) * os] = lanes[l];                        \
            }                                                                                        \
        }                                                                                            \
        for (long j = nv * VN; j < len; ++j) ts_apply_##NAME(o, j * os, i, j * xs);                  \
    }

/* where(cond, a, b): cond is bool (uchar); a, b and out are IN_T.  ts_apply_where is generated too.  _contig: every
 * operand contiguous; _scalar_a/_scalar_b: that branch a broadcast scalar, the rest contiguous (relu's backward,
 * where(y > 0, g, 0)): one index, instead of the row kernel's loops (221K floats on PoCL: 27 us against 416). */
#define TS_WHERE_FLAT(NAME, XI, YI)                                                                      \
    __kernel void NAME(__global IN_T* out, long out_off, __global const uchar* c, long c_off,           \
                       __global const IN_T* x, long x_off, __global const IN_T* y, long y_off, long n) { \
        out += out_off;                                                                              \
        c += c_off;                                                                                  \
        x += x_off;                                                                                  \
        y += y_off;                                                                                  \
        TS_FOR_INDEX(n, ts_apply_where(out, i, c, i, x, XI, y, YI);)                                 \
    }
TS_WHERE_FLAT(where_contig, i, i)
TS_WHERE_FLAT(where_scalar_a, 0, i)
TS_WHERE_FLAT(where_scalar_b, i, 0)

__kernel void where_strided(__global IN_T* out, long out_off, __global const uchar* c, long c_off,
                            __global const IN_T* x, long x_off, __global const IN_T* y, long y_off,
                            __global const long* meta, long ndim, long n) {
    const long i = get_global_id(0);
    if (i >= n) return;
    long off[4];
    ts_offsets(i, ndim, 4, meta, off);
    ts_apply_where(out, out_off + off[0], c, c_off + off[1], x, x_off + off[2], y, y_off + off[3]);
}

/* where along rows (Note [Row kernels]): os, cs, xs, ys the inner strides of out, cond, x and y. */
__kernel void where_rows(__global IN_T* out, long out_off, __global const uchar* c, long c_off,
                         __global const IN_T* x, long x_off, __global const IN_T* y, long y_off,
                         __global const long* meta, long ndim, long os, long cs, long xs, long ys, long inner,
                         long last, long rows) {
    const long r = get_global_id(0);
    if (r >= rows) return;
    long off[4];
    const long len = ts_row(r, rows, inner, last, ndim, 4, meta, off);
    for (long j = 0; j < len; ++j)
        ts_apply_where(out, out_off + off[0] + j * os, c, c_off + off[1] + j * cs, x, x_off + off[2] + j * xs, y,
                       y_off + off[3] + j * ys);
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

/* Note [Vector transposes]: a copy of a transposed matrix (out[r, c] = x[c, r] with x's row stride xc and unit
 * stride along r, out's row stride on) by 8 x 8 blocks, TS_TR_RB down by TS_TR_CB across per work-item (global
 * size: column blocks / TS_TR_CB, row blocks / TS_TR_RB; _tr_geometry in backends/opencl.py): eight vector loads
 * of x's rows (out's columns), a transpose in registers, eight vector stores of out's rows.  The tile kernels of
 * Note [Tile kernels] walk such a copy an element at a time (4.9x a contiguous copy of a 1000 x 1000 float32 on
 * PoCL; this kernel 1.3x to 2x).  The portable transpose is three rounds of the perfect shuffle: row i of a round
 * is the even lanes of rows 2i and 2i + 1 of the last, row i + 4 their odd lanes; a round moves the row index's bits
 * one place down into the column index, so three rounds exchange them (TS_TR_8X8 below: x86's shuffles where the
 * compiler is clang).  Blocks at the edges copy element by element. */
#ifdef TS_TR_VEC
#define TS_TR_V TS_CAT(IN_T, 8)
#define TS_TR_ROUND(a, n)                                                                                  \
    n##0 = (TS_TR_V)((a##0).even, (a##1).even); n##1 = (TS_TR_V)((a##2).even, (a##3).even);                \
    n##2 = (TS_TR_V)((a##4).even, (a##5).even); n##3 = (TS_TR_V)((a##6).even, (a##7).even);                \
    n##4 = (TS_TR_V)((a##0).odd, (a##1).odd); n##5 = (TS_TR_V)((a##2).odd, (a##3).odd);                    \
    n##6 = (TS_TR_V)((a##4).odd, (a##5).odd); n##7 = (TS_TR_V)((a##6).odd, (a##7).odd);

/* The same transpose (rows t0..t7 into v0..v7, t overwritten) in the 24 shuffles of x86's AVX 8 x 8 transpose
 * (unpack pairs of rows, shuffle pairs of those, swap 128-bit halves), through clang's __builtin_shufflevector
 * (PoCL's and most CPU drivers' compiler), which become single instructions where the three rounds above take two
 * each (a shuffle and a permute): on PoCL's AVX2 code (Zen 3) c + x.T of a 1000 x 1000 float32 went from 1.5-1.7x
 * c + x to 1.1-1.5x, and the transposed copy from 1.45-1.55x a contiguous copy to 1.3-1.45x.  Elsewhere, the rounds. */
#if defined(__clang__) && __has_builtin(__builtin_shufflevector)
#define TS_TR_SV __builtin_shufflevector
#define TS_TR_8X8(t, v)                                                                                    \
    v##0 = TS_TR_SV(t##0, t##1, 0, 8, 1, 9, 4, 12, 5, 13); v##1 = TS_TR_SV(t##0, t##1, 2, 10, 3, 11, 6, 14, 7, 15); \
    v##2 = TS_TR_SV(t##2, t##3, 0, 8, 1, 9, 4, 12, 5, 13); v##3 = TS_TR_SV(t##2, t##3, 2, 10, 3, 11, 6, 14, 7, 15); \
    v##4 = TS_TR_SV(t##4, t##5, 0, 8, 1, 9, 4, 12, 5, 13); v##5 = TS_TR_SV(t##4, t##5, 2, 10, 3, 11, 6, 14, 7, 15); \
    v##6 = TS_TR_SV(t##6, t##7, 0, 8, 1, 9, 4, 12, 5, 13); v##7 = TS_TR_SV(t##6, t##7, 2, 10, 3, 11, 6, 14, 7, 15); \
    t##0 = TS_TR_SV(v##0, v##2, 0, 1, 8, 9, 4, 5, 12, 13); t##1 = TS_TR_SV(v##0, v##2, 2, 3, 10, 11, 6, 7, 14, 15); \
    t##2 = TS_TR_SV(v##1, v##3, 0, 1, 8, 9, 4, 5, 12, 13); t##3 = TS_TR_SV(v##1, v##3, 2, 3, 10, 11, 6, 7, 14, 15); \
    t##4 = TS_TR_SV(v##4, v##6, 0, 1, 8, 9, 4, 5, 12, 13); t##5 = TS_TR_SV(v##4, v##6, 2, 3, 10, 11, 6, 7, 14, 15); \
    t##6 = TS_TR_SV(v##5, v##7, 0, 1, 8, 9, 4, 5, 12, 13); t##7 = TS_TR_SV(v##5, v##7, 2, 3, 10, 11, 6, 7, 14, 15); \
    v##0 = TS_TR_SV(t##0, t##4, 0, 1, 2, 3, 8, 9, 10, 11); v##4 = TS_TR_SV(t##0, t##4, 4, 5, 6, 7, 12, 13, 14, 15); \
    v##1 = TS_TR_SV(t##1, t##5, 0, 1, 2, 3, 8, 9, 10, 11); v##5 = TS_TR_SV(t##1, t##5, 4, 5, 6, 7, 12, 13, 14, 15); \
    v##2 = TS_TR_SV(t##2, t##6, 0, 1, 2, 3, 8, 9, 10, 11); v##6 = TS_TR_SV(t##2, t##6, 4, 5, 6, 7, 12, 13, 14, 15); \
    v##3 = TS_TR_SV(t##3, t##7, 0, 1, 2, 3, 8, 9, 10, 11); v##7 = TS_TR_SV(t##3, t##7, 4, 5, 6, 7, 12, 13, 14, 15);
#else
#define TS_TR_8X8(t, v) TS_TR_ROUND(t, v) TS_TR_ROUND(v, t) TS_TR_ROUND(t, v)
#endif

/* The 8 x 8 block at p of an operand whose element (r, c) is at p[r * rs + c * cs], as its rows v0..v7: vector loads
 * where cs == 1, else (rs == 1, or 0 where a column is broadcast) eight loads of its columns transposed. */
#define TS_TR_BLOCK(v, t, p, rs, cs)                                                                       \
    if (cs == 1) {                                                                                         \
        v##0 = TS_GLOAD(IN_T, 8, 0, p); v##1 = TS_GLOAD(IN_T, 8, 0, p + rs);                               \
        v##2 = TS_GLOAD(IN_T, 8, 0, p + 2 * rs); v##3 = TS_GLOAD(IN_T, 8, 0, p + 3 * rs);                  \
        v##4 = TS_GLOAD(IN_T, 8, 0, p + 4 * rs); v##5 = TS_GLOAD(IN_T, 8, 0, p + 5 * rs);                  \
        v##6 = TS_GLOAD(IN_T, 8, 0, p + 6 * rs); v##7 = TS_GLOAD(IN_T, 8, 0, p + 7 * rs);                  \
    } else {                                                                                               \
        t##0 = TS_GLOAD(IN_T, 8, 0, p); t##1 = TS_GLOAD(IN_T, 8, 0, p + cs);                               \
        t##2 = TS_GLOAD(IN_T, 8, 0, p + 2 * cs); t##3 = TS_GLOAD(IN_T, 8, 0, p + 3 * cs);                  \
        t##4 = TS_GLOAD(IN_T, 8, 0, p + 4 * cs); t##5 = TS_GLOAD(IN_T, 8, 0, p + 5 * cs);                  \
        t##6 = TS_GLOAD(IN_T, 8, 0, p + 6 * cs); t##7 = TS_GLOAD(IN_T, 8, 0, p + 7 * cs);                  \
        TS_TR_8X8(t, v)                                                                                    \
    }

/* out's 8 rows of the block at o (row stride on): F(a_i, b_i) for row i (the copy passes the row itself). */
#define TS_TR_STORE(o, on, F, a, b)                                                                        \
    TS_GSTORE(IN_T, 8, F(a##0, b##0), 0, (o) + 0 * (on));                                                  \
    TS_GSTORE(IN_T, 8, F(a##1, b##1), 0, (o) + 1 * (on));                                                  \
    TS_GSTORE(IN_T, 8, F(a##2, b##2), 0, (o) + 2 * (on));                                                  \
    TS_GSTORE(IN_T, 8, F(a##3, b##3), 0, (o) + 3 * (on));                                                  \
    TS_GSTORE(IN_T, 8, F(a##4, b##4), 0, (o) + 4 * (on));                                                  \
    TS_GSTORE(IN_T, 8, F(a##5, b##5), 0, (o) + 5 * (on));                                                  \
    TS_GSTORE(IN_T, 8, F(a##6, b##6), 0, (o) + 6 * (on));                                                  \
    TS_GSTORE(IN_T, 8, F(a##7, b##7), 0, (o) + 7 * (on));
#define TS_TR_FIRST(v, w) (v)
/* the same, row i of one operand read at the store (p + i * rs: a row-major block) instead of held in registers:
 * its eight vectors beside the other operand's eight and the eight a transpose works in would not fit AVX2's 16 */
#define TS_TR_LD(p, rs, i) TS_GLOAD(IN_T, 8, 0, (p) + (i) * (rs))
#define TS_TR_STORE_RL(o, on, F, a, q, rs)                                                                 \
    TS_GSTORE(IN_T, 8, F(a##0, TS_TR_LD(q, rs, 0)), 0, (o) + 0 * (on));                                    \
    TS_GSTORE(IN_T, 8, F(a##1, TS_TR_LD(q, rs, 1)), 0, (o) + 1 * (on));                                    \
    TS_GSTORE(IN_T, 8, F(a##2, TS_TR_LD(q, rs, 2)), 0, (o) + 2 * (on));                                    \
    TS_GSTORE(IN_T, 8, F(a##3, TS_TR_LD(q, rs, 3)), 0, (o) + 3 * (on));                                    \
    TS_GSTORE(IN_T, 8, F(a##4, TS_TR_LD(q, rs, 4)), 0, (o) + 4 * (on));                                    \
    TS_GSTORE(IN_T, 8, F(a##5, TS_TR_LD(q, rs, 5)), 0, (o) + 5 * (on));                                    \
    TS_GSTORE(IN_T, 8, F(a##6, TS_TR_LD(q, rs, 6)), 0, (o) + 6 * (on));                                    \
    TS_GSTORE(IN_T, 8, F(a##7, TS_TR_LD(q, rs, 7)), 0, (o) + 7 * (on));
#define TS_TR_STORE_LR(o, on, F, p, rs, b)                                                                 \
    TS_GSTORE(IN_T, 8, F(TS_TR_LD(p, rs, 0), b##0), 0, (o) + 0 * (on));                                    \
    TS_GSTORE(IN_T, 8, F(TS_TR_LD(p, rs, 1), b##1), 0, (o) + 1 * (on));                                    \
    TS_GSTORE(IN_T, 8, F(TS_TR_LD(p, rs, 2), b##2), 0, (o) + 2 * (on));                                    \
    TS_GSTORE(IN_T, 8, F(TS_TR_LD(p, rs, 3), b##3), 0, (o) + 3 * (on));                                    \
    TS_GSTORE(IN_T, 8, F(TS_TR_LD(p, rs, 4), b##4), 0, (o) + 4 * (on));                                    \
    TS_GSTORE(IN_T, 8, F(TS_TR_LD(p, rs, 5), b##5), 0, (o) + 5 * (on));                                    \
    TS_GSTORE(IN_T, 8, F(TS_TR_LD(p, rs, 6), b##6), 0, (o) + 6 * (on));                                    \
    TS_GSTORE(IN_T, 8, F(TS_TR_LD(p, rs, 7), b##7), 0, (o) + 7 * (on));

__kernel void transpose_vec(__global IN_T* out, long out_off, long on, __global const IN_T* x, long x_off, long xc,
                            long rows, long cols, long ob, long xb) {
    out_off += get_global_id(2) * ob;  /* a batch of matrices (x.transpose(1, 2) copied): the third dim */
    x_off += get_global_id(2) * xb;
    for (long h = 0; h < TS_TR_RB * TS_TR_CB; ++h) {
        const long r0 = (get_global_id(1) * TS_TR_RB + h / TS_TR_CB) * 8;
        const long c0 = (get_global_id(0) * TS_TR_CB + h % TS_TR_CB) * 8;
        if (r0 >= rows) return;
        if (c0 >= cols) continue;
        __global IN_T* o = out + out_off + r0 * on + c0;
        __global const IN_T* p = x + x_off + c0 * xc + r0;
        if (r0 + 8 <= rows && c0 + 8 <= cols) {
            TS_TR_V a0, a1, a2, a3, a4, a5, a6, a7, t0, t1, t2, t3, t4, t5, t6, t7;
            TS_TR_BLOCK(a, t, p, 1, xc)
            TS_TR_STORE(o, on, TS_TR_FIRST, a, a)
        } else {
            const long nr = TS_MIN(8L, rows - r0), nc = TS_MIN(8L, cols - c0);
            for (long r = 0; r < nr; ++r)
                for (long c = 0; c < nc; ++c) o[r * on + c] = p[c * xc + r];
        }
    }
}

/* NAME_tr: out = x OP y for a matrix whose rows are out's (unit stride), each input read by rows (xc == 1) or by
 * columns (xr == 1: a transpose, or a broadcast column), by the blocks of transpose_vec; TS_VAPPLY2_NAME(a, b) is
 * the op's expression on vectors (a macro: a function taking a double8 would change the ABI where vectors are 256
 * bits, Note [Vector width probe]). */
#define TS_BINARY_TR(NAME)                                                                                 \
    __kernel void NAME##_tr(__global IN_T* out, long out_off, long on, __global const IN_T* x, long x_off, \
                            long xr, long xc, __global const IN_T* y, long y_off, long yr, long yc, long rows,\
                            long cols) {                                                                   \
        for (long h = 0; h < TS_TR_RB * TS_TR_CB; ++h) {                                                   \
            const long r0 = (get_global_id(1) * TS_TR_RB + h / TS_TR_CB) * 8;                              \
            const long c0 = (get_global_id(0) * TS_TR_CB + h % TS_TR_CB) * 8;                              \
            if (r0 >= rows) return;                                                                        \
            if (c0 >= cols) continue;                                                                      \
            __global IN_T* o = out + out_off + r0 * on + c0;                                               \
            __global const IN_T* p = x + x_off + r0 * xr + c0 * xc;                                        \
            __global const IN_T* q = y + y_off + r0 * yr + c0 * yc;                                        \
            if (r0 + 8 <= rows && c0 + 8 <= cols) {                                                        \
                TS_TR_V a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7;                    \
                TS_TR_V t0, t1, t2, t3, t4, t5, t6, t7;                                                    \
                if (xc == 1) { /* x by rows, y transposed */                                               \
                    TS_TR_BLOCK(b, t, q, yr, yc)                                                           \
                    TS_TR_STORE_LR(o, on, TS_VAPPLY2_##NAME, p, xr, b)                                     \
                } else if (yc == 1) {                                                                      \
                    TS_TR_BLOCK(a, t, p, xr, xc)                                                           \
                    TS_TR_STORE_RL(o, on, TS_VAPPLY2_##NAME, a, q, yr)                                     \
                } else {                                                                                   \
                    TS_TR_BLOCK(a, t, p, xr, xc)                                                           \
                    TS_TR_BLOCK(b, t, q, yr, yc)                                                           \
                    TS_TR_STORE(o, on, TS_VAPPLY2_##NAME, a, b)                                            \
                }                                                                                          \
            } else {                                                                                       \
                const long nr = TS_MIN(8L, rows - r0), nc = TS_MIN(8L, cols - c0);                         \
                for (long r = 0; r < nr; ++r)                                                              \
                    for (long c = 0; c < nc; ++c)                                                          \
                        ts_apply_##NAME(o, r * on + c, p, r * xr + c * xc, q, r * yr + c * yc);            \
            }                                                                                              \
        }                                                                                                  \
    }

/* NAME_vrows: the rows of TS_BINARY_ROWS for the ops of NAME_tr, 8 elements at a time where out's row is contiguous
 * and each input's takes every element or every other one (x[:, ::2] + y: the even lanes of two loads, as
 * TS_UNARY_VEC_ROWS reads them, never for a row's last vector, whose second load could pass the row's end). */
#define TS_V8_AT(p, s, j)                                                                                  \
    (s == 1 ? TS_GLOAD(IN_T, 8, j, p)                                                                      \
            : (TS_TR_V)(TS_GLOAD(IN_T, 8, 2 * (j), p).even, TS_GLOAD(IN_T, 8, 2 * (j) + 1, p).even))
#define TS_BINARY_VROWS(NAME)                                                                              \
    __kernel void NAME##_vrows(__global IN_T* out, long out_off, __global const IN_T* x, long x_off,        \
                               __global const IN_T* y, long y_off, __global const long* meta, long ndim,    \
                               long os, long xs, long ys, long inner, long last, long rows) {               \
        const long r = get_global_id(0);                                                                   \
        if (r >= rows) return;                                                                             \
        long off[3];                                                                                       \
        const long len = ts_row(r, rows, inner, last, ndim, 3, meta, off), nv = len / 8;                   \
        __global IN_T* o = out + out_off + off[0];                                                         \
        __global const IN_T* xp = x + x_off + off[1];                                                      \
        __global const IN_T* yp = y + y_off + off[2];                                                      \
        long j = 0;                                                                                        \
        for (; j + 1 < nv; ++j)                                                                            \
            TS_GSTORE(IN_T, 8, TS_VAPPLY2_##NAME(TS_V8_AT(xp, xs, j), TS_V8_AT(yp, ys, j)), j, o);         \
        for (long e = j * 8; e < len; ++e) ts_apply_##NAME(o, e, xp, e * xs, yp, e * ys);                  \
    }
#endif
