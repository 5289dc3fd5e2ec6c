// The neural-network kernel families: the rows im2col to scatter_add of Note [Kernel contract] in
// dispatch/registry.py, the same algorithms as kernels/opencl/nn.cl (whose Note [Window geometry] describes the
// geometry, the gather formulation and the fixed order of every sum).  One thread per output element (a grid-stride
// loop), 64-bit indices throughout, no atomics: col2im and the pooling backward passes gather, and scatter_add gives
// each thread the positions of the other axes, looping along the axis in increasing order, so every result is
// deterministic.
//
// IO (ts_io_<dtype> of kernels/cuda_source.py) gives T (storage), C (compute: float for float16), ``load`` and
// ``store``.  Image operands come with their four element strides (sN, sC, sH, sW; cols: sN, sR, sL); outputs are
// contiguous.  take_along_axis copies storage as it is (a half as its 16 bits); scatter_add adds in IO::Acc (the
// compute type for floats, so float16 rounds after each addition; unsigned 64-bit for integers, which wraps).
#ifndef TS_CUDA_NN_CU
#define TS_CUDA_NN_CU
#include "common.cu"

namespace ts {

// The image (C, H, W), its windows (OH, OW) and the geometry (KH, KW, SH, SW, PH, PW, DH, DW).
struct Window {
    i64 C, H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW;
};

// The window row (or column) whose tap i reads pixel h, or -1 when none does.
__device__ __forceinline__ i64 window_of(i64 h, i64 i, i64 P, i64 D, i64 S, i64 O) {
    const i64 t = h + P - i * D;
    if (t < 0 || t % S != 0) return -1;
    return t / S < O ? t / S : -1;
}

// How many of the K taps from ``start`` (step D) lie in [lo, hi): one dimension of an avg_pool2d divisor.
__device__ __forceinline__ i64 taps_in(i64 start, i64 K, i64 D, i64 lo, i64 hi) {
    i64 n = 0;
    for (i64 i = 0; i < K; ++i) n += (start + i * D >= lo && start + i * D < hi);
    return n;
}

// Calls f(oh, ow, tap) for every window (oh, ow) whose tap i*KW + j reads pixel (h, w), in window order (i and j
// descending): the one order, Note [Window geometry], in which both pooling backward passes sum.
template <class F>
__device__ __forceinline__ void each_window_reading(i64 h, i64 w, const Window& g, F f) {
    for (i64 i = g.KH - 1; i >= 0; --i) {
        const i64 oh = window_of(h, i, g.PH, g.DH, g.SH, g.OH);
        if (oh < 0) continue;
        for (i64 j = g.KW - 1; j >= 0; --j) {
            const i64 ow = window_of(w, j, g.PW, g.DW, g.SW, g.OW);
            if (ow >= 0) f(oh, ow, i * g.KW + j);
        }
    }
}

// avg_pool2d's divisor for window (oh, ow): the taps inside the padded image (the window's end clipped at H + PH, as
// PyTorch does) with count_include_pad, else the taps inside the image.
template <class C>
__device__ __forceinline__ C avg_divisor(i64 oh, i64 ow, i64 cip, const Window& g) {
    const i64 hs = oh * g.SH - g.PH, ws = ow * g.SW - g.PW;
    const i64 rows = cip ? taps_in(hs, g.KH, g.DH, -g.PH, g.H + g.PH) : taps_in(hs, g.KH, g.DH, 0, g.H);
    const i64 cols = cip ? taps_in(ws, g.KW, g.DW, -g.PW, g.W + g.PW) : taps_in(ws, g.KW, g.DW, 0, g.W);
    return (C)(rows * cols);
}

// The first maximum of window (oh, ow) of the plane at ``x``, in tap order: its tap index i*KW + j, or -1 when every
// tap is in the padding; the maximum in *best (-inf then).  NaN beats everything and the first NaN stays.
template <class IO>
__device__ __forceinline__ i64 window_argmax(const typename IO::T* x, i64 sH, i64 sW, i64 oh, i64 ow, const Window& g,
                                             typename IO::C* best) {
    typedef typename IO::C C;
    const i64 hs = oh * g.SH - g.PH, ws = ow * g.SW - g.PW;
    C m = -inf_of(C(0));
    i64 arg = -1;
    for (i64 i = 0; i < g.KH; ++i) {
        const i64 h = hs + i * g.DH;
        if (h < 0 || h >= g.H) continue;
        for (i64 j = 0; j < g.KW; ++j) {
            const i64 w = ws + j * g.DW;
            if (w < 0 || w >= g.W) continue;
            const C v = IO::load(x, h * sH + w * sW);
            if (arg < 0 || ((v > m || v != v) && m == m)) {
                m = v;
                arg = i * g.KW + j;
            }
        }
    }
    *best = m;
    return arg;
}

// out (N, C*KH*KW, OH*OW)
template <class IO>
__device__ __forceinline__ void im2col(i64 n, typename IO::T* out, const typename IO::T* x, i64 sN, i64 sC, i64 sH,
                                       i64 sW, const Window& g) {
    typedef typename IO::C C;
    TS_GRID_LOOP(e, n) {
        const i64 ow = e % g.OW, oh = e / g.OW % g.OH, r = e / (g.OW * g.OH);
        const i64 j = r % g.KW, i = r / g.KW % g.KH, c = r / (g.KW * g.KH) % g.C, b = r / (g.KW * g.KH * g.C);
        const i64 h = oh * g.SH - g.PH + i * g.DH, w = ow * g.SW - g.PW + j * g.DW;
        C v = C(0);
        if (h >= 0 && h < g.H && w >= 0 && w < g.W) v = IO::load(x, b * sN + c * sC + h * sH + w * sW);
        IO::store(out, e, v);
    }
}

// out (N, C, H, W): each pixel sums the cols entries of the taps that read it, in tap order
template <class IO>
__device__ __forceinline__ void col2im(i64 n, typename IO::T* out, const typename IO::T* cols, i64 sN, i64 sR, i64 sL,
                                       const Window& g) {
    typedef typename IO::C C;
    TS_GRID_LOOP(e, n) {
        const i64 w = e % g.W, h = e / g.W % g.H, c = e / (g.W * g.H) % g.C, b = e / (g.W * g.H * g.C);
        C acc = C(0);
        for (i64 i = 0; i < g.KH; ++i) {
            const i64 oh = window_of(h, i, g.PH, g.DH, g.SH, g.OH);
            if (oh < 0) continue;
            for (i64 j = 0; j < g.KW; ++j) {
                const i64 ow = window_of(w, j, g.PW, g.DW, g.SW, g.OW);
                if (ow < 0) continue;
                acc += IO::load(cols, b * sN + ((c * g.KH + i) * g.KW + j) * sR + (oh * g.OW + ow) * sL);
            }
        }
        IO::store(out, e, acc);
    }
}

// out (N, C, OH, OW)
template <class IO>
__device__ __forceinline__ void max_pool2d(i64 n, typename IO::T* out, const typename IO::T* x, i64 sN, i64 sC,
                                           i64 sH, i64 sW, const Window& g) {
    TS_GRID_LOOP(e, n) {
        const i64 ow = e % g.OW, oh = e / g.OW % g.OH, c = e / (g.OW * g.OH) % g.C, b = e / (g.OW * g.OH * g.C);
        typename IO::C m;
        window_argmax<IO>(x + b * sN + c * sC, sH, sW, oh, ow, g, &m);
        IO::store(out, e, m);
    }
}

// max_pool2d_backward's first pass: each window's argmax tap into ``arg`` (contiguous (N, C, OH, OW); -1: none)
template <class IO>
__device__ __forceinline__ void max_pool2d_argmax(i64 n, int* arg, const typename IO::T* x, i64 sN, i64 sC, i64 sH,
                                                  i64 sW, const Window& g) {
    TS_GRID_LOOP(e, n) {
        const i64 ow = e % g.OW, oh = e / g.OW % g.OH, c = e / (g.OW * g.OH) % g.C, b = e / (g.OW * g.OH * g.C);
        typename IO::C m;
        arg[e] = (int)window_argmax<IO>(x + b * sN + c * sC, sH, sW, oh, ow, g, &m);
    }
}

// The second pass: each pixel sums the grads of the windows whose argmax it is, in window order (i, j descending)
template <class IO>
__device__ __forceinline__ void max_pool2d_backward(i64 n, typename IO::T* out, const typename IO::T* grad, i64 sN,
                                                    i64 sC, i64 sH, i64 sW, const int* arg, const Window& g) {
    typedef typename IO::C C;
    TS_GRID_LOOP(e, n) {
        const i64 w = e % g.W, h = e / g.W % g.H, c = e / (g.W * g.H) % g.C, b = e / (g.W * g.H * g.C);
        const int* plane = arg + (b * g.C + c) * g.OH * g.OW;
        const typename IO::T* gp = grad + b * sN + c * sC;
        C acc = C(0);
        each_window_reading(h, w, g, [&](i64 oh, i64 ow, i64 tap) {
            if (plane[oh * g.OW + ow] == tap) acc += IO::load(gp, oh * sH + ow * sW);
        });
        IO::store(out, e, acc);
    }
}

// out (N, C, OH, OW): each window's sum over its divisor
template <class IO>
__device__ __forceinline__ void avg_pool2d(i64 n, typename IO::T* out, const typename IO::T* x, i64 sN, i64 sC,
                                           i64 sH, i64 sW, const Window& g, i64 cip) {
    typedef typename IO::C C;
    TS_GRID_LOOP(e, n) {
        const i64 ow = e % g.OW, oh = e / g.OW % g.OH, c = e / (g.OW * g.OH) % g.C, b = e / (g.OW * g.OH * g.C);
        const typename IO::T* xp = x + b * sN + c * sC;
        const i64 hs = oh * g.SH - g.PH, ws = ow * g.SW - g.PW;
        C acc = C(0);
        for (i64 i = 0; i < g.KH; ++i) {
            const i64 h = hs + i * g.DH;
            if (h < 0 || h >= g.H) continue;
            for (i64 j = 0; j < g.KW; ++j) {
                const i64 w = ws + j * g.DW;
                if (w >= 0 && w < g.W) acc += IO::load(xp, h * sH + w * sW);
            }
        }
        IO::store(out, e, acc / avg_divisor<C>(oh, ow, cip, g));
    }
}

// out (N, C, H, W): each pixel sums grad / divisor of the windows that read it, in window order
template <class IO>
__device__ __forceinline__ void avg_pool2d_backward(i64 n, typename IO::T* out, const typename IO::T* grad, i64 sN,
                                                    i64 sC, i64 sH, i64 sW, const Window& g, i64 cip) {
    typedef typename IO::C C;
    TS_GRID_LOOP(e, n) {
        const i64 w = e % g.W, h = e / g.W % g.H, c = e / (g.W * g.H) % g.C, b = e / (g.W * g.H * g.C);
        const typename IO::T* gp = grad + b * sN + c * sC;
        C acc = C(0);
        each_window_reading(h, w, g, [&](i64 oh, i64 ow, i64) {
            acc += IO::load(gp, oh * sH + ow * sW) / avg_divisor<C>(oh, ow, cip, g);
        });
        IO::store(out, e, acc);
    }
}

// out[p] = x[p with p[axis] replaced by index[p]].  meta (Note [Strided metadata]): out's shape and the strides of
// out, index and x, x's along the axis 0: the index supplies that position, times xs (x's stride along the axis).
template <class T>
__device__ __forceinline__ void take_along_axis(i64 n, T* out, const T* x, const i64* index, i64 xs, const i64* meta) {
    TS_GRID_LOOP(e, n) {
        i64 off[3];
        offsets<3>(e, meta, off);
        out[off[0]] = x[off[2] + index[off[1]] * xs];
    }
}

// In place: out[p with p[axis] replaced by index[p]] += src[p].  One thread per position of the other axes (meta:
// their shape and the strides of out, index and src), looping along the axis (length L; strides os, is, ss).
template <class IO>
__device__ __forceinline__ void scatter_add(i64 n, i64 L, typename IO::T* out, i64 os, const i64* index, i64 is,
                                            const typename IO::T* src, i64 ss, const i64* meta) {
    typedef typename IO::Acc Acc;
    TS_GRID_LOOP(e, n) {
        i64 off[3];
        offsets<3>(e, meta, off);
        typename IO::T* o = out + off[0];
        const i64* ix = index + off[1];
        const typename IO::T* s = src + off[2];
        for (i64 k = 0; k < L; ++k) {
            const i64 t = ix[k * is] * os;
            IO::store(o, t, (Acc)IO::load(o, t) + (Acc)IO::load(s, k * ss));
        }
    }
}

}  // namespace ts

#define TS_WINDOW_PARAMS                                                                                           \
    ::ts::i64 C, ::ts::i64 H, ::ts::i64 W, ::ts::i64 OH, ::ts::i64 OW, ::ts::i64 KH, ::ts::i64 KW, ::ts::i64 SH,     \
        ::ts::i64 SW, ::ts::i64 PH, ::ts::i64 PW, ::ts::i64 DH, ::ts::i64 DW
#define TS_WINDOW_OF_PARAMS {C, H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW}
#define TS_IMAGE_PARAMS(IO, P) const IO::T *P, ::ts::i64 sN, ::ts::i64 sC, ::ts::i64 sH, ::ts::i64 sW

// extern "C" entry points ts_<op>_<D> of one float dtype D with IO ts_io_<D>: every kernel of the windows program.
#define TS_WINDOW_KERNELS(D, IO)                                                                                   \
    extern "C" __global__ void ts_im2col_##D(::ts::i64 n, IO::T* out, TS_IMAGE_PARAMS(IO, x),                      \
                                             TS_WINDOW_PARAMS) {                                                   \
        const ::ts::Window g = TS_WINDOW_OF_PARAMS;                                                                \
        ::ts::im2col<IO>(n, out, x, sN, sC, sH, sW, g);                                                            \
    }                                                                                                              \
    extern "C" __global__ void ts_col2im_##D(::ts::i64 n, IO::T* out, const IO::T* cols, ::ts::i64 sN,             \
                                             ::ts::i64 sR, ::ts::i64 sL, TS_WINDOW_PARAMS) {                       \
        const ::ts::Window g = TS_WINDOW_OF_PARAMS;                                                                \
        ::ts::col2im<IO>(n, out, cols, sN, sR, sL, g);                                                             \
    }                                                                                                              \
    extern "C" __global__ void ts_max_pool2d_##D(::ts::i64 n, IO::T* out, TS_IMAGE_PARAMS(IO, x),                  \
                                                 TS_WINDOW_PARAMS) {                                               \
        const ::ts::Window g = TS_WINDOW_OF_PARAMS;                                                                \
        ::ts::max_pool2d<IO>(n, out, x, sN, sC, sH, sW, g);                                                        \
    }                                                                                                              \
    extern "C" __global__ void ts_max_pool2d_argmax_##D(::ts::i64 n, int* arg, TS_IMAGE_PARAMS(IO, x),             \
                                                        TS_WINDOW_PARAMS) {                                        \
        const ::ts::Window g = TS_WINDOW_OF_PARAMS;                                                                \
        ::ts::max_pool2d_argmax<IO>(n, arg, x, sN, sC, sH, sW, g);                                                 \
    }                                                                                                              \
    extern "C" __global__ void ts_max_pool2d_backward_##D(::ts::i64 n, IO::T* out, TS_IMAGE_PARAMS(IO, grad),      \
                                                          const int* arg, TS_WINDOW_PARAMS) {                      \
        const ::ts::Window g = TS_WINDOW_OF_PARAMS;                                                                \
        ::ts::max_pool2d_backward<IO>(n, out, grad, sN, sC, sH, sW, arg, g);                                       \
    }                                                                                                              \
    extern "C" __global__ void ts_avg_pool2d_##D(::ts::i64 n, IO::T* out, TS_IMAGE_PARAMS(IO, x),                  \
                                                 TS_WINDOW_PARAMS, ::ts::i64 cip) {                                \
        const ::ts::Window g = TS_WINDOW_OF_PARAMS;                                                                \
        ::ts::avg_pool2d<IO>(n, out, x, sN, sC, sH, sW, g, cip);                                                   \
    }                                                                                                              \
    extern "C" __global__ void ts_avg_pool2d_backward_##D(::ts::i64 n, IO::T* out, TS_IMAGE_PARAMS(IO, grad),      \
                                                          TS_WINDOW_PARAMS, ::ts::i64 cip) {                       \
        const ::ts::Window g = TS_WINDOW_OF_PARAMS;                                                                \
        ::ts::avg_pool2d_backward<IO>(n, out, grad, sN, sC, sH, sW, g, cip);                                       \
    }

// take_along_axis of one dtype, moving its storage T (unsigned short for float16: its bits, untouched)
#define TS_TAKE_KERNEL(NAME, T)                                                                                    \
    extern "C" __global__ void NAME(::ts::i64 n, T* out, const T* x, const ::ts::i64* index, ::ts::i64 xs,         \
                                    const ::ts::i64* meta) {                                                       \
        ::ts::take_along_axis<T>(n, out, x, index, xs, meta);                                                      \
    }

// scatter_add of one numeric dtype: IO adds the Acc typedef
#define TS_SCATTER_KERNEL(NAME, IO)                                                                                \
    extern "C" __global__ void NAME(::ts::i64 n, ::ts::i64 L, IO::T* out, ::ts::i64 os, const ::ts::i64* index,    \
                                    ::ts::i64 is, const IO::T* src, ::ts::i64 ss, const ::ts::i64* meta) {         \
        ::ts::scatter_add<IO>(n, L, out, os, index, is, src, ss, meta);                                            \
    }

#endif  // TS_CUDA_NN_CU
