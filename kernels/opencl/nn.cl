/* The neural-network kernel families: the rows im2col to scatter_add of Note [Kernel contract] in
 * dispatch/registry.py.  kernels/opencl_source.py makes three programs from this file, by what it defines first:
 *     TS_NN_WINDOWS  im2col, col2im and the pooling kernels of one float dtype IN_T, computing in C_T
 *                    (TS_LOAD(p, i) and ts_store(out, i, value) as elsewhere)
 *     TS_NN_TAKE     take_along_axis of one dtype, moving its storage bits as COPY_T (a half is never looked at)
 *     TS_NN_SCATTER  scatter_add of one numeric dtype: TS_LOAD, ts_store and TS_ADD(a, b), a sum that wraps for
 *                    integers
 * One work-item per output element and no atomics anywhere, so every result is deterministic: col2im and the
 * pooling backward passes gather (each pixel loops over the windows that read it) instead of scattering.
 *
 * Note [Window geometry]
 * ~~~~~~~~~~~~~~~~~~~~~~
 * Images are NCHW: C, H, W (the input image) and OH, OW (the windows), and every 2-D kernel takes the geometry
 * KH, KW, SH, SW, PH, PW, DH, DW (kernel size, stride, padding, dilation) as long arguments, in that order
 * (TS_GEOMETRY).  Tap (i, j) of window (oh, ow) reads pixel (oh*SH - PH + i*DH, ow*SW - PW + j*DW); a tap outside
 * the image reads 0 (im2col, avg) or nothing (max).  Strided inputs come with their four strides (sN, sC, sH, sW;
 * im2col's cols: sN, sR (rows), sL (columns)); outputs are contiguous.  A pixel (h, w) is read by tap i of the
 * window row oh = (h + PH - i*DH) / SH when that division is exact and 0 <= oh < OH, and likewise for columns.
 * Sums into one pixel are added in a fixed order, the one the numpy plugin (examples/numpy_backend) and
 * kernels/cuda/nn.cu use too: col2im in tap order (i, j), the pooling backward passes in window order (oh, ow),
 * which is i and j descending.
 */

#define TS_GEOMETRY long KH, long KW, long SH, long SW, long PH, long PW, long DH, long DW

#ifdef TS_NN_WINDOWS

/* The window row (or column) that tap ``i`` reads pixel ``h`` from, or -1 when no window's tap i reads it. */
static inline long ts_window_of(long h, long i, long P, long D, long S, long O) {
    const long t = h + P - i * D;
    if (t < 0 || t % S != 0) return -1;
    return t / S < O ? t / S : -1;
}

/* TS_EACH_WINDOW_READING(h, w) statement: runs the statement once for every window (oh, ow) whose tap (i, j) reads
 * pixel (h, w), in window order (i and j descending): the one order, Note [Window geometry], in which both pooling
 * backward passes sum.  The statement sees i, j, oh and ow; the geometry, OH and OW are the kernel's arguments. */
#define TS_EACH_WINDOW_READING(h, w)                                                                               \
    for (long i = KH - 1, oh; i >= 0; --i)                                                                         \
        if ((oh = ts_window_of(h, i, PH, DH, SH, OH)) >= 0)                                                        \
            for (long j = KW - 1, ow; j >= 0; --j)                                                                 \
                if ((ow = ts_window_of(w, j, PW, DW, SW, OW)) >= 0)

/* How many of the K taps from ``start`` (step D) lie in [lo, hi): one dimension of an avg_pool2d divisor. */
static inline long ts_taps_in(long start, long K, long D, long lo, long hi) {
    long n = 0;
    for (long i = 0; i < K; ++i) n += (start + i * D >= lo && start + i * D < hi);
    return n;
}

/* avg_pool2d's divisor for window (oh, ow): the taps inside the padded image (PyTorch clips the window's end at
 * H + PH) with count_include_pad, else the taps inside the image. */
static inline C_T ts_avg_divisor(long oh, long ow, long H, long W, long cip, TS_GEOMETRY) {
    const long hs = oh * SH - PH, ws = ow * SW - PW;
    const long rows = cip ? ts_taps_in(hs, KH, DH, -PH, H + PH) : ts_taps_in(hs, KH, DH, 0, H);
    const long cols = cip ? ts_taps_in(ws, KW, DW, -PW, W + PW) : ts_taps_in(ws, KW, DW, 0, W);
    return (C_T)(rows * cols);
}

/* The first maximum of window (oh, ow) of the plane at ``x + base``, in tap order: its tap index i*KW + j, or -1
 * when every tap is in the padding; the maximum in *best.  NaN beats everything and the first NaN stays. */
static inline long ts_window_argmax(__global const IN_T* x, long base, long sH, long sW, long H, long W, long oh,
                                    long ow, TS_GEOMETRY, C_T* best) {
    const long hs = oh * SH - PH, ws = ow * SW - PW;
    C_T m = -INFINITY;
    long arg = -1;
    for (long i = 0; i < KH; ++i) {
        const long h = hs + i * DH;
        if (h < 0 || h >= H) continue;
        for (long j = 0; j < KW; ++j) {
            const long w = ws + j * DW;
            if (w < 0 || w >= W) continue;
            const C_T v = TS_LOAD(x, base + h * sH + w * sW);
            if (arg < 0 || ((v > m || v != v) && m == m)) {
                m = v;
                arg = i * KW + j;
            }
        }
    }
    *best = m;
    return arg;
}

/* out (N, C*KH*KW, OH*OW): one work-item per element. */
__kernel void im2col(__global IN_T* out, long out_off, __global const IN_T* x, long x_off, long sN, long sC, long sH,
                     long sW, long C, long H, long W, long OH, long OW, TS_GEOMETRY, long n) {
    const long e = get_global_id(0);
    if (e >= n) return;
    const long ow = e % OW, oh = e / OW % OH, r = e / (OW * OH);
    const long j = r % KW, i = r / KW % KH, c = r / (KW * KH) % C, b = r / (KW * KH * C);
    const long h = oh * SH - PH + i * DH, w = ow * SW - PW + j * DW;
    C_T v = 0;
    if (h >= 0 && h < H && w >= 0 && w < W) v = TS_LOAD(x, x_off + b * sN + c * sC + h * sH + w * sW);
    ts_store(out, out_off + e, v);
}

/* im2col on CPU devices: one work-item per row of out (one tap of one window row: n / OW of them), the divisions
 * once per row instead of per element (7 of them: 6 ms of LeNet's 25 ms step on PoCL); the same values. */
__kernel void im2col_rows(__global IN_T* out, long out_off, __global const IN_T* x, long x_off, long sN, long sC,
                          long sH, long sW, long C, long H, long W, long OH, long OW, TS_GEOMETRY, long rows) {
    const long q = get_global_id(0);
    if (q >= rows) return;
    const long oh = q % OH, r = q / OH;
    const long j = r % KW, i = r / KW % KH, c = r / (KW * KH) % C, b = r / (KW * KH * C);
    const long h = oh * SH - PH + i * DH;
    __global IN_T* o = out + out_off + q * OW;
    if (h < 0 || h >= H) {
        for (long ow = 0; ow < OW; ++ow) ts_store(o, ow, (C_T)0);
        return;
    }
    const long base = x_off + b * sN + c * sC + h * sH, w0 = j * DW - PW;
    if (SW == 1 && sW == 1 && w0 >= 0 && w0 + OW <= W) {  /* the row a contiguous run of x (stride 1, no padding) */
        __global const IN_T* p = x + base + w0;
        for (long ow = 0; ow < OW; ++ow) ts_store(o, ow, (C_T)TS_LOAD(p, ow));
        return;
    }
    for (long ow = 0; ow < OW; ++ow) {
        const long w = ow * SW + w0;
        const long wc = w < 0 ? 0 : (w >= W ? W - 1 : w);  /* loaded unconditionally, then selected */
        const C_T v = TS_LOAD(x, base + wc * sW);
        ts_store(o, ow, (w >= 0 && w < W) ? v : (C_T)0);
    }
}

#ifdef TS_NN_ROWS
/* On CPU devices, for dtypes that compute in their own type (IN_T is C_T, so a pixel's running sum may live in out):
 * col2im and max_pool2d's backward one image row per work-item.  The item walks the windows that read its row
 * instead of asking, for every pixel and tap, which window that is (two divisions each), and adds into each pixel
 * in the same order as the per-pixel kernels (Note [Window geometry]), so the results are the same bits. */
__kernel void col2im_rows(__global IN_T* out, long out_off, __global const IN_T* cols, long cols_off, long sN,
                          long sR, long sL, long C, long H, long W, long OH, long OW, TS_GEOMETRY, long rows) {
    const long q = get_global_id(0);
    if (q >= rows) return;
    const long h = q % H, c = q / H % C, b = q / (H * C);
    __global IN_T* o = out + out_off + q * W;
    for (long w = 0; w < W; ++w) o[w] = 0;
    for (long i = 0; i < KH; ++i) {  /* tap order (i, j): each pixel gets at most one window per tap */
        const long oh = ts_window_of(h, i, PH, DH, SH, OH);
        if (oh < 0) continue;
        for (long j = 0; j < KW; ++j) {
            __global const IN_T* src = cols + cols_off + b * sN + ((c * KH + i) * KW + j) * sR + oh * OW * sL;
            for (long ow = 0; ow < OW; ++ow) {
                const long w = ow * SW - PW + j * DW;
                if (w >= 0 && w < W) o[w] += src[ow * sL];
            }
        }
    }
}

__kernel void max_pool2d_backward_rows(__global IN_T* out, long out_off, __global const IN_T* grad, long g_off,
                                       long sN, long sC, long sH, long sW, __global const int* arg, long C, long H,
                                       long W, long OH, long OW, TS_GEOMETRY, long rows) {
    const long q = get_global_id(0);
    if (q >= rows) return;
    const long h = q % H, plane = q / H;  /* plane = b * C + c */
    const long c = plane % C, b = plane / C;
    __global IN_T* o = out + out_off + q * W;
    __global const int* won = arg + plane * OH * OW;
    const long g_base = g_off + b * sN + c * sC;
    for (long w = 0; w < W; ++w) o[w] = 0;
    for (long i = KH - 1; i >= 0; --i) {  /* window order: oh ascending, then ow ascending (i, j descending) */
        const long oh = ts_window_of(h, i, PH, DH, SH, OH);
        if (oh < 0) continue;
        for (long ow = 0; ow < OW; ++ow) {
            const int a = won[oh * OW + ow];
            if (a < 0 || a / KW != i) continue;
            o[ow * SW - PW + (a % KW) * DW] += grad[g_base + oh * sH + ow * sW];
        }
    }
}
#endif

/* out (N, C, H, W) = the adjoint of im2col: one work-item per pixel sums the cols entries of the taps that read it. */
__kernel void col2im(__global IN_T* out, long out_off, __global const IN_T* cols, long cols_off, long sN, long sR,
                     long sL, long C, long H, long W, long OH, long OW, TS_GEOMETRY, long n) {
    const long e = get_global_id(0);
    if (e >= n) return;
    const long w = e % W, h = e / W % H, c = e / (W * H) % C, b = e / (W * H * C);
    C_T acc = 0;
    for (long i = 0; i < KH; ++i) {
        const long oh = ts_window_of(h, i, PH, DH, SH, OH);
        if (oh < 0) continue;
        for (long j = 0; j < KW; ++j) {
            const long ow = ts_window_of(w, j, PW, DW, SW, OW);
            if (ow < 0) continue;
            acc += TS_LOAD(cols, cols_off + b * sN + ((c * KH + i) * KW + j) * sR + (oh * OW + ow) * sL);
        }
    }
    ts_store(out, out_off + e, acc);
}

/* out (N, C, OH, OW): the max of each window (-inf for a window wholly in the padding). */
__kernel void max_pool2d(__global IN_T* out, long out_off, __global const IN_T* x, long x_off, long sN, long sC,
                         long sH, long sW, long C, long H, long W, long OH, long OW, TS_GEOMETRY, long n) {
    const long e = get_global_id(0);
    if (e >= n) return;
    const long ow = e % OW, oh = e / OW % OH, c = e / (OW * OH) % C, b = e / (OW * OH * C);
    C_T m;
    ts_window_argmax(x, x_off + b * sN + c * sC, sH, sW, H, W, oh, ow, KH, KW, SH, SW, PH, PW, DH, DW, &m);
    ts_store(out, out_off + e, m);
}

#ifdef TS_CPU
/* max_pool2d and max_pool2d_backward's first pass on CPU devices: one row of windows (b, c, oh) per work-item, the
 * index unravelled once per row instead of per window; it writes the maxima into out and/or the argmax taps into
 * arg, whichever is not null. */
__kernel void max_pool2d_rows(__global IN_T* out, long out_off, __global int* arg, __global const IN_T* x, long x_off,
                              long sN, long sC, long sH, long sW, long C, long H, long W, long OH, long OW,
                              TS_GEOMETRY, long rows) {
    const long q = get_global_id(0);
    if (q >= rows) return;
    const long oh = q % OH, c = q / OH % C, b = q / (OH * C);
    const long base = x_off + b * sN + c * sC;
    C_T m;
    for (long ow = 0; ow < OW; ++ow) {
        const long a = ts_window_argmax(x, base, sH, sW, H, W, oh, ow, KH, KW, SH, SW, PH, PW, DH, DW, &m);
        if (out) ts_store(out, out_off + q * OW + ow, m);
        if (arg) arg[q * OW + ow] = (int)a;
    }
}
#endif

/* max_pool2d_rows for the common window, 2 x 2 of stride 2 without padding or dilation, every window inside the
 * image: the four taps unrolled, no bounds to test (LeNet's pools 2.6x faster on PoCL); the same answers as
 * ts_window_argmax (the first maximum in tap order, NaN beating everything, the first NaN staying). */
#ifdef TS_CPU
#define TS_POOL_TAKE(v, tap) if (((v) > m || (v) != (v)) && m == m) { m = (v); a = (tap); }
__kernel void max_pool2d_rows22(__global IN_T* out, long out_off, __global int* arg, __global const IN_T* x,
                                long x_off, long sN, long sC, long sH, long sW, long C, long OH, long OW, long rows) {
    const long q = get_global_id(0);
    if (q >= rows) return;
    const long oh = q % OH, c = q / OH % C, b = q / (OH * C);
    const long base = x_off + b * sN + c * sC + 2 * oh * sH;
    for (long ow = 0; ow < OW; ++ow) {
        const long p = base + 2 * ow * sW;
        C_T m = TS_LOAD(x, p);
        int a = 0;
        const C_T v1 = TS_LOAD(x, p + sW), v2 = TS_LOAD(x, p + sH), v3 = TS_LOAD(x, p + sH + sW);
        TS_POOL_TAKE(v1, 1)
        TS_POOL_TAKE(v2, 2)
        TS_POOL_TAKE(v3, 3)
        if (out) ts_store(out, out_off + q * OW + ow, m);
        if (arg) arg[q * OW + ow] = a;
    }
}
#endif

#if defined(TS_CPU) && defined(TS_NN_ROWS)
/* max_pool2d_backward_rows for the windows of max_pool2d_rows22: each pixel in at most one window, so it is that
 * window's gradient where it won the window, else 0 (a -0.0 gradient stays -0.0, as the cpu backend's 2 x 2 path
 * writes it; the general kernels' sums make it 0.0, as PyTorch's). */
__kernel void max_pool2d_backward_rows22(__global IN_T* out, long out_off, __global const IN_T* grad, long g_off,
                                         long sN, long sC, long sH, long sW, __global const int* arg, long C, long H,
                                         long W, long OH, long OW, long rows) {
    const long q = get_global_id(0);
    if (q >= rows) return;
    const long h = q % H, plane = q / H;
    const long c = plane % C, b = plane / C, oh = h / 2;
    __global IN_T* o = out + out_off + q * W;
    if (oh >= OH) {
        for (long w = 0; w < W; ++w) o[w] = 0;
        return;
    }
    __global const int* won = arg + (plane * OH + oh) * OW;
    __global const IN_T* g = grad + g_off + b * sN + c * sC + oh * sH;
    const int row = (int)(h & 1) * 2;
    for (long w = 0; w < W; ++w) {
        const long ow = w / 2;
        o[w] = (ow < OW && won[ow] == row + (int)(w & 1)) ? g[ow * sW] : (IN_T)0;
    }
}
#endif

/* The first pass of max_pool2d_backward: each window's argmax tap (contiguous (N, C, OH, OW), -1: none). */
__kernel void max_pool2d_argmax(__global int* arg, __global const IN_T* x, long x_off, long sN, long sC, long sH,
                                long sW, long C, long H, long W, long OH, long OW, TS_GEOMETRY, long n) {
    const long e = get_global_id(0);
    if (e >= n) return;
    const long ow = e % OW, oh = e / OW % OH, c = e / (OW * OH) % C, b = e / (OW * OH * C);
    C_T m;
    arg[e] = (int)ts_window_argmax(x, x_off + b * sN + c * sC, sH, sW, H, W, oh, ow, KH, KW, SH, SW, PH, PW, DH,
                                   DW, &m);
}

/* The second pass: each pixel sums the gradients of the windows whose argmax it is, in window order. */
__kernel void max_pool2d_backward(__global IN_T* out, long out_off, __global const IN_T* grad, long g_off, long sN,
                                  long sC, long sH, long sW, __global const int* arg, long C, long H, long W, long OH,
                                  long OW, TS_GEOMETRY, long n) {
    const long e = get_global_id(0);
    if (e >= n) return;
    const long w = e % W, h = e / W % H, c = e / (W * H) % C, b = e / (W * H * C);
    __global const int* plane = arg + (b * C + c) * OH * OW;
    const long g_base = g_off + b * sN + c * sC;
    C_T acc = 0;
    TS_EACH_WINDOW_READING(h, w) {
        if (plane[oh * OW + ow] == i * KW + j) acc += TS_LOAD(grad, g_base + oh * sH + ow * sW);
    }
    ts_store(out, out_off + e, acc);
}

/* out (N, C, OH, OW): each window's sum over its divisor (a window wholly in the padding: 0 / 0). */
__kernel void avg_pool2d(__global IN_T* out, long out_off, __global const IN_T* x, long x_off, long sN, long sC,
                         long sH, long sW, long C, long H, long W, long OH, long OW, TS_GEOMETRY, long cip, long n) {
    const long e = get_global_id(0);
    if (e >= n) return;
    const long ow = e % OW, oh = e / OW % OH, c = e / (OW * OH) % C, b = e / (OW * OH * C);
    const long base = x_off + b * sN + c * sC, hs = oh * SH - PH, ws = ow * SW - PW;
    C_T acc = 0;
    for (long i = 0; i < KH; ++i) {
        const long h = hs + i * DH;
        if (h < 0 || h >= H) continue;
        for (long j = 0; j < KW; ++j) {
            const long w = ws + j * DW;
            if (w >= 0 && w < W) acc += TS_LOAD(x, base + h * sH + w * sW);
        }
    }
    ts_store(out, out_off + e, acc / ts_avg_divisor(oh, ow, H, W, cip, KH, KW, SH, SW, PH, PW, DH, DW));
}

/* out (N, C, H, W) = the adjoint of avg_pool2d: each pixel sums grad / divisor of the windows that read it. */
__kernel void avg_pool2d_backward(__global IN_T* out, long out_off, __global const IN_T* grad, long g_off, long sN,
                                  long sC, long sH, long sW, long C, long H, long W, long OH, long OW, TS_GEOMETRY,
                                  long cip, long n) {
    const long e = get_global_id(0);
    if (e >= n) return;
    const long w = e % W, h = e / W % H, c = e / (W * H) % C, b = e / (W * H * C);
    const long g_base = g_off + b * sN + c * sC;
    C_T acc = 0;
    TS_EACH_WINDOW_READING(h, w) {
        acc += TS_LOAD(grad, g_base + oh * sH + ow * sW) /
               ts_avg_divisor(oh, ow, H, W, cip, KH, KW, SH, SW, PH, PW, DH, DW);
    }
    ts_store(out, out_off + e, acc);
}

#endif /* TS_NN_WINDOWS */

#ifdef TS_NN_TAKE
/* out[p] = x[p with p[axis] replaced by index[p]], one work-item per element of out.  meta (common.cl's layout) has
 * out's shape and the strides of out, index and x, x's along the axis set to 0 so that the axis position comes from
 * the index instead: x's element is then at off[2] + index * xs (xs: x's stride along the axis). */
__kernel void take_along_axis(__global COPY_T* out, long out_off, __global const COPY_T* x, long x_off,
                              __global const long* index, long index_off, __global const long* meta, long ndim,
                              long xs, long n) {
    const long e = get_global_id(0);
    if (e >= n) return;
    long off[3];
    ts_offsets(e, ndim, 3, meta, off);
    out[out_off + off[0]] = x[x_off + off[2] + index[index_off + off[1]] * xs];
}
#endif /* TS_NN_TAKE */

#ifdef TS_NN_SCATTER
/* In place: out[p with p[axis] replaced by index[p]] += src[p].  One work-item per position of the other axes (meta:
 * their shape and the strides of out, index and src), looping along the axis (length L; strides os, is, ss) in
 * increasing order: the work-items own disjoint parts of out, so repeated indices need no atomics and the sum's
 * order is fixed. */
__kernel void scatter_add(__global IN_T* out, long out_off, __global const long* index, long index_off,
                          __global const IN_T* src, long src_off, __global const long* meta, long ndim, long L,
                          long os, long is, long ss, long n) {
    const long e = get_global_id(0);
    if (e >= n) return;
    long off[3];
    ts_offsets(e, ndim, 3, meta, off);
    const long o = out_off + off[0], ix = index_off + off[1], s = src_off + off[2];
    for (long k = 0; k < L; ++k) {
        const long t = o + index[ix + k * is] * os;
        ts_store(out, t, TS_ADD(TS_LOAD(out, t), TS_LOAD(src, s + k * ss)));
    }
}
#endif /* TS_NN_SCATTER */
