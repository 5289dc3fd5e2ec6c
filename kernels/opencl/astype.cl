/* astype from one source dtype IN_T to every destination: kernels/opencl_source.py generates
 * ts_convert_DST(out, o, x, i) with codegen.load, codegen.cast (bool is != 0; float to integer by Note [Float to
 * integer casts] in dispatch/dtypes.py, through the helpers of common.cl) and codegen.store (float16 rounds once,
 * from a double where the source is float64), then instantiates TS_ASTYPE(DST, OUT) once per destination dtype. */

#define TS_ASTYPE(DST, OUT)                                                                              \
    __kernel void to_##DST##_contig(__global OUT* out, long out_off, __global const IN_T* x, long x_off, \
                                    long n) {                                                        \
        out += out_off;                                                                              \
        x += x_off;                                                                                  \
        TS_FOR_INDEX(n, ts_convert_##DST(out, i, x, i);)                                             \
    }                                                                                                \
    __kernel void to_##DST##_strided(__global OUT* out, long out_off, __global const IN_T* x,          \
                                     long x_off, __global const long* meta, long ndim, long n) {     \
        const long i = get_global_id(0);                                                             \
        if (i >= n) return;                                                                          \
        long off[2];                                                                                 \
        ts_offsets(i, ndim, 2, meta, off);                                                           \
        ts_convert_##DST(out, out_off + off[0], x, x_off + off[1]);                                  \
    }                                                                                                \
    /* Note [Row kernels] in elementwise.cl: one work-item per row (copies of transposes and views) */ \
    __kernel void to_##DST##_rows(__global OUT* out, long out_off, __global const IN_T* x, long x_off, \
                                  __global const long* meta, long ndim, long os, long xs, long inner, \
                                  long last, long rows) {                                            \
        const long r = get_global_id(0);                                                             \
        if (r >= rows) return;                                                                       \
        long off[2];                                                                                 \
        const long len = ts_row(r, rows, inner, last, ndim, 2, meta, off);                           \
        for (long j = 0; j < len; ++j) ts_convert_##DST(out, out_off + off[0] + j * os, x, x_off + off[1] + j * xs); \
    }                                                                                                \
    /* Note [Tile kernels] in common.cl: copies of transposes */                                     \
    __kernel void to_##DST##_tiles(__global OUT* out, long out_off, __global const IN_T* x, long x_off, \
                                   __global const long* meta, long ndim, long os, long xs, long inner, \
                                   long last, long rows) {                                           \
        const long t = get_global_id(0);                                                             \
        if (t * TS_TILE >= rows) return;                                                             \
        long off[TS_TILE * 2], len[TS_TILE];                                                         \
        const int nr = ts_tile_rows(t, rows, inner, last, ndim, 2, meta, off, len);                  \
        for (long jj = 0; jj < inner; jj += TS_TILE)                                                 \
            for (int b = 0; b < nr; ++b) {                                                           \
                const long o = out_off + off[2 * b], i = x_off + off[2 * b + 1];                     \
                const long end = TS_MIN(jj + TS_TILE, len[b]);                                       \
                for (long j = jj; j < end; ++j) ts_convert_##DST(out, o + j * os, x, i + j * xs);    \
            }                                                                                        \
    }
