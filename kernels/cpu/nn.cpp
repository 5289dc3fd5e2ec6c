// The nn kernel families on the cpu: one template per family, instantiated per dtype from TS_DISPATCH (kernels.h).
// See nn.h for the layouts and Note [Kernel contract] in dispatch/registry.py for what each computes.
//
// Every loop is parallel over independent rows of its output (OpenMP, one thread below ts::grain() elements of
// work), and every sum is taken in a fixed order that does not depend on the thread count, so results are the same
// on every run.  Windows that reach into the padding are clipped once per row or column (the ranges below), so inner
// loops have no per-element bounds tests.
#include "nn.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels.h"

namespace ts {
namespace nn {
namespace {

using Shape = std::vector<int64_t>;

// floor(a / b) and ceil(a / b) for b > 0, for negative a too (C++ division truncates towards zero)
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// The k in [0, count) for which start + k * step lies in [0, size): [lo, hi), empty as lo == hi.
struct Range {
    int64_t lo, hi;
};
inline Range inside(int64_t start, int64_t step, int64_t count, int64_t size) {
    const int64_t lo = std::max<int64_t>(0, ceil_div(-start, step));
    const int64_t hi = std::min<int64_t>(count, ceil_div(size - start, step));
    return {lo, std::max(lo, hi)};
}

// body(begin, end) over [0, rows) split in contiguous chunks across threads, one thread below grain() of ``work``.
template <class Body>
void parallel_rows(int64_t rows, int64_t work, Body&& body) {
    const int64_t by_work = std::max<int64_t>(1, work / grain());
    const int threads = static_cast<int>(std::min<int64_t>({static_cast<int64_t>(max_threads()), by_work, rows}));
    if (threads <= 1) {
        body(int64_t(0), rows);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
#ifdef _OPENMP
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
        const int t = 0, nt = 1;
#endif
        const int64_t chunk = (rows + nt - 1) / nt;
        body(t * chunk, std::min(rows, (t + 1) * chunk));
    }
}

// The accumulator of sums and maxima: float for float16 and float32, double for double.
template <class T> using acc_t = compute_t<T>;

// Row loops walk (n, c, ...) with counters carried from row to row: a 64-bit division costs tens of cycles, and the
// rows here are short (LeNet's are 8 to 24 elements).

// -- im2col -------------------------------------------------------------------------------------------------------

template <class T>
void im2col_typed(const Image& x, T* out, int64_t OH, int64_t OW, const Geometry& g) {
    const int64_t C = x.c, L = OH * OW, KH = g.kh, KW = g.kw, rows = x.n * C * KH * KW;
    // per kernel row i (column j): the output rows (columns) whose input row (column) is inside x
    std::vector<Range> row_in(KH), col_in(KW);
    for (int64_t i = 0; i < KH; ++i) row_in[i] = inside(i * g.dh - g.ph, g.sh, OH, x.h);
    for (int64_t j = 0; j < KW; ++j) col_in[j] = inside(j * g.dw - g.pw, g.sw, OW, x.w);
    parallel_rows(rows, rows * L, [&](int64_t begin, int64_t end) {
        const int64_t sh = g.sh, sw = g.sw, ph = g.ph, pw = g.pw, dh = g.dh, dw = g.dw, xsh = x.sh, xsw = x.sw;
        const bool runs = sw == 1 && xsw == 1;  // each output row copies a run of input elements
        int64_t j = begin % KW, i = (begin / KW) % KH, c = (begin / (KW * KH)) % C, n = begin / (KW * KH * C);
        for (int64_t r = begin; r < end; ++r) {
            const T* plane = reinterpret_cast<const T*>(x.data) + n * x.sn + c * x.sc;
            T* o = out + r * L;
            const Range rr = row_in[i], cr = col_in[j];
            const int64_t w0 = j * dw - pw;  // input column of output column 0
            std::fill(o, o + rr.lo * OW, T(0));
            for (int64_t oh = rr.lo; oh < rr.hi; ++oh) {
                const T* xr = plane + (oh * sh - ph + i * dh) * xsh;
                T* orow = o + oh * OW;
                std::fill(orow, orow + cr.lo, T(0));
                if (runs) {  // short: a loop, not a memcpy call
                    const T* src = xr + w0;
                    for (int64_t ow = cr.lo; ow < cr.hi; ++ow) orow[ow] = src[ow];
                } else {
                    for (int64_t ow = cr.lo; ow < cr.hi; ++ow) orow[ow] = xr[(ow * sw + w0) * xsw];
                }
                std::fill(orow + cr.hi, orow + OW, T(0));
            }
            std::fill(o + rr.hi * OW, o + L, T(0));
            if (++j == KW) {
                j = 0;
                if (++i == KH) {
                    i = 0;
                    if (++c == C) c = 0, ++n;
                }
            }
        }
    });
}

// -- col2im: the gather, one output row (n, c, ih) at a time --------------------------------------------------------

template <class T>
void col2im_typed(const Image& cols, T* out, int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW,
                  const Geometry& g) {
    using A = acc_t<T>;
    const int64_t KH = g.kh, KW = g.kw;
    std::vector<Range> col_in(KW);
    for (int64_t j = 0; j < KW; ++j) col_in[j] = inside(j * g.dw - g.pw, g.sw, OW, W);
    // window_row[ih * KH + i]: the output row oh whose kernel row i reads input row ih, or -1
    std::vector<int64_t> window_row(H * KH, -1);
    for (int64_t ih = 0; ih < H; ++ih)
        for (int64_t i = 0; i < KH; ++i) {
            const int64_t t = ih + g.ph - i * g.dh;  // = oh * SH when kernel row i of window oh covers ih
            if (t >= 0 && t % g.sh == 0 && t / g.sh < OH) window_row[ih * KH + i] = t / g.sh;
        }
    const int64_t rows = N * C * H;
    parallel_rows(rows, rows * W * KH * KW / std::max<int64_t>(1, g.sh * g.sw), [&](int64_t begin, int64_t end) {
        const int64_t sw = g.sw, dw = g.dw, pw = g.pw, csn = cols.sn, csc = cols.sc, csl = cols.sh;
        const bool runs = sw == 1 && csl == 1;
        std::vector<A> buffer(std::is_same<A, T>::value ? 0 : W);
        int64_t ih = begin % H, c = (begin / H) % C, n = begin / (H * C);
        for (int64_t r = begin; r < end; ++r) {
            A* acc = std::is_same<A, T>::value ? reinterpret_cast<A*>(out + r * W) : buffer.data();
            std::fill(acc, acc + W, A(0));
            const T* cn = reinterpret_cast<const T*>(cols.data) + n * csn;
            // each pixel adds its terms in increasing (i, j): the order of the gather formulation
            for (int64_t i = 0; i < KH; ++i) {
                const int64_t oh = window_row[ih * KH + i];
                if (oh < 0) continue;
                for (int64_t j = 0; j < KW; ++j) {
                    const Range cr = col_in[j];
                    const int64_t w0 = j * dw - pw;
                    const T* src = cn + ((c * KH + i) * KW + j) * csc + oh * OW * csl;
                    if (runs) {
                        A* a = acc + w0;
                        for (int64_t ow = cr.lo; ow < cr.hi; ++ow) a[ow] += static_cast<A>(src[ow]);
                    } else {
                        for (int64_t ow = cr.lo; ow < cr.hi; ++ow) acc[ow * sw + w0] += static_cast<A>(src[ow * csl]);
                    }
                }
            }
            if constexpr (!std::is_same<A, T>::value)
                for (int64_t iw = 0; iw < W; ++iw) out[r * W + iw] = static_cast<T>(acc[iw]);
            if (++ih == H) {
                ih = 0;
                if (++c == C) c = 0, ++n;
            }
        }
    });
}

// -- max pooling --------------------------------------------------------------------------------------------------

// The in-bounds kernel rows (or columns) of every output row (column).
std::vector<Range> window_ranges(int64_t n_out, int64_t size, int64_t k, int64_t s, int64_t p, int64_t d) {
    std::vector<Range> out(n_out);
    for (int64_t o = 0; o < n_out; ++o) out[o] = inside(o * s - p, d, k, size);
    return out;
}

// The output columns of each kernel column j whose input column is inside x: [lo, hi) of ow.
std::vector<Range> column_ranges(int64_t n_out, int64_t size, int64_t k, int64_t s, int64_t p, int64_t d) {
    std::vector<Range> out(k);
    for (int64_t j = 0; j < k; ++j) out[j] = inside(j * d - p, s, n_out, size);
    return out;
}

// One output row at a time, kernel position by kernel position with the output columns innermost: a select per
// element over a strided run, no per-element bounds tests.  The max does not depend on the order; NaN propagates.
template <class T>
void max_pool2d_typed(const Image& x, T* out, int64_t OH, int64_t OW, const Geometry& g) {
    using A = acc_t<T>;
    const std::vector<Range> rr = window_ranges(OH, x.h, g.kh, g.sh, g.ph, g.dh);
    const std::vector<Range> cr = column_ranges(OW, x.w, g.kw, g.sw, g.pw, g.dw);
    const int64_t rows = x.n * x.c * OH;
    parallel_rows(rows, rows * OW * g.kh * g.kw, [&](int64_t begin, int64_t end) {
        std::vector<A> best(OW);
        for (int64_t r = begin; r < end; ++r) {
            const int64_t oh = r % OH, nc = r / OH;
            const T* plane = reinterpret_cast<const T*>(x.data) + (nc / x.c) * x.sn + (nc % x.c) * x.sc;
            A* b = best.data();
            std::fill(b, b + OW, -std::numeric_limits<A>::infinity());  // a window wholly in the padding: -inf
            for (int64_t i = rr[oh].lo; i < rr[oh].hi; ++i) {
                const T* xr = plane + (oh * g.sh - g.ph + i * g.dh) * x.sh;
                for (int64_t j = 0; j < g.kw; ++j) {
                    const T* xj = xr + (j * g.dw - g.pw) * x.sw;  // input column of ow is ow * SW from here
                    const int64_t step = g.sw * x.sw;
                    for (int64_t ow = cr[j].lo; ow < cr[j].hi; ++ow) {
                        const A v = static_cast<A>(xj[ow * step]);
                        b[ow] = (v > b[ow] || v != v) ? v : b[ow];
                    }
                }
            }
            T* o = out + r * OW;
            for (int64_t ow = 0; ow < OW; ++ow) o[ow] = static_cast<T>(b[ow]);
        }
    });
}

// ``take ? yes : no`` without a branch (a select on random data mispredicts half of the time, and compilers turn
// ``x = c ? y : x`` on memory into a conditional store, which is a branch).
template <class V>
inline V pick(bool take, V yes, V no) {
    using U = std::conditional_t<sizeof(V) == 8, uint64_t, std::conditional_t<sizeof(V) == 4, uint32_t, uint16_t>>;
    U y, n;
    std::memcpy(&y, &yes, sizeof y);
    std::memcpy(&n, &no, sizeof n);
    const U mask = static_cast<U>(U(0) - static_cast<U>(take));
    const U r = static_cast<U>((y & mask) | (n & static_cast<U>(~mask)));
    V out;
    std::memcpy(&out, &r, sizeof out);
    return out;
}

// Each plane (n, c) belongs to one thread, which adds its windows' grads in increasing (oh, ow): deterministic.  A row
// of windows takes two passes, each a select per element with no branch (random data would mispredict half of the
// branches): the max as in max_pool2d, then, kernel position by position in reverse window order, the last position
// seen that holds the max, which is the first in window order.  "Holds" is v == max, or v is NaN: a window with a
// NaN has max NaN, so its first NaN wins; a window without has no NaN to match.
template <class T, class Pos>
void max_pool2d_backward_positions(const Image& grad, const Image& x, T* out, const Geometry& g) {
    using A = acc_t<T>;
    const int64_t OH = grad.h, OW = grad.w, H = x.h, W = x.w, HW = H * W;
    const std::vector<Range> rr = window_ranges(OH, H, g.kh, g.sh, g.ph, g.dh);
    const std::vector<Range> cr = column_ranges(OW, W, g.kw, g.sw, g.pw, g.dw);
    const int64_t planes = x.n * x.c;
    parallel_rows(planes, planes * (OH * OW * g.kh * g.kw + HW), [&](int64_t begin, int64_t end) {
        // locals: the loops store int64 positions, which the compiler must otherwise assume may change g and x
        const int64_t sh = g.sh, sw = g.sw, ph = g.ph, pw = g.pw, dh = g.dh, dw = g.dw, kw = g.kw;
        const int64_t xsh = x.sh, xsw = x.sw, gsh = grad.sh, gsw = grad.sw, C = x.c, width = W;
        const Range* rows = rr.data();
        const Range* cols = cr.data();
        std::vector<A> buffer(std::is_same<A, T>::value ? 0 : HW), best_row(OW);
        std::vector<Pos> at_row(OW);
        A* best = best_row.data();
        Pos* at = at_row.data();
        for (int64_t p = begin; p < end; ++p) {
            const T* xp = reinterpret_cast<const T*>(x.data) + (p / C) * x.sn + (p % C) * x.sc;
            const T* gp = reinterpret_cast<const T*>(grad.data) + (p / C) * grad.sn + (p % C) * grad.sc;
            A* acc = std::is_same<A, T>::value ? reinterpret_cast<A*>(out + p * HW) : buffer.data();
            std::fill(acc, acc + HW, A(0));
            for (int64_t oh = 0; oh < OH; ++oh) {
                const int64_t h0 = oh * sh - ph;
                std::fill(best, best + OW, -std::numeric_limits<A>::infinity());
                for (int64_t i = rows[oh].lo; i < rows[oh].hi; ++i) {
                    const T* xr = xp + (h0 + i * dh) * xsh;
                    for (int64_t j = 0; j < kw; ++j) {
                        const T* xj = xr + (j * dw - pw) * xsw;
                        const int64_t step = sw * xsw;
                        for (int64_t ow = cols[j].lo; ow < cols[j].hi; ++ow) {
                            const A v = static_cast<A>(xj[ow * step]);
                            best[ow] = (v > best[ow] || v != v) ? v : best[ow];
                        }
                    }
                }
                std::fill(at, at + OW, Pos(-1));  // stays -1 for a window with no real element
                for (int64_t i = rows[oh].hi - 1; i >= rows[oh].lo; --i) {
                    const int64_t ih = h0 + i * dh;
                    const T* xr = xp + ih * xsh;
                    for (int64_t j = kw - 1; j >= 0; --j) {
                        const int64_t w0 = j * dw - pw;
                        for (int64_t ow = cols[j].lo; ow < cols[j].hi; ++ow) {
                            const int64_t iw = ow * sw + w0;
                            const A v = static_cast<A>(xr[iw * xsw]);
                            at[ow] = pick((v == best[ow]) | (v != v), static_cast<Pos>(ih * width + iw), at[ow]);
                        }
                    }
                }
                const T* gr = gp + oh * gsh;
                for (int64_t ow = 0; ow < OW; ++ow)
                    if (at[ow] >= 0) acc[at[ow]] += static_cast<A>(gr[ow * gsw]);
            }
            if constexpr (!std::is_same<A, T>::value)
                for (int64_t k = 0; k < HW; ++k) out[p * HW + k] = static_cast<T>(acc[k]);
        }
    });
}

// Positions within a plane as int32 where they fit: the selects of the second pass then work on 32-bit lanes.
template <class T>
void max_pool2d_backward_typed(const Image& grad, const Image& x, T* out, const Geometry& g) {
    if (x.h * x.w < (int64_t(1) << 31)) max_pool2d_backward_positions<T, int32_t>(grad, x, out, g);
    else max_pool2d_backward_positions<T, int64_t>(grad, x, out, g);
}

// -- average pooling ----------------------------------------------------------------------------------------------

// One axis of every window: the in-bounds span [lo, hi) and the padded extent PyTorch divides by with
// count_include_pad (the window's end clipped at size + padding).
struct Span {
    int64_t lo, hi, padded;
};
std::vector<Span> avg_spans(int64_t n_out, int64_t size, int64_t k, int64_t s, int64_t p) {
    std::vector<Span> out(n_out);
    for (int64_t o = 0; o < n_out; ++o) {
        const int64_t start = o * s - p, stop = std::min(start + k, size + p);
        out[o] = {std::max<int64_t>(start, 0), std::min(stop, size), stop - start};
        if (out[o].hi < out[o].lo) out[o].hi = out[o].lo;
    }
    return out;
}

template <class A>
inline A divisor(const Span& r, const Span& c, bool include_pad) {
    return include_pad ? static_cast<A>(r.padded * c.padded) : static_cast<A>((r.hi - r.lo) * (c.hi - c.lo));
}

// Like max_pool2d: one output row at a time, summing kernel position by kernel position (each window's terms in
// increasing (i, j), the order of the window), output columns innermost.
template <class T>
void avg_pool2d_typed(const Image& x, T* out, int64_t OH, int64_t OW, const Geometry& g, bool include_pad) {
    using A = acc_t<T>;
    const std::vector<Span> rs = avg_spans(OH, x.h, g.kh, g.sh, g.ph), cs = avg_spans(OW, x.w, g.kw, g.sw, g.pw);
    const std::vector<Range> cr = column_ranges(OW, x.w, g.kw, g.sw, g.pw, 1);
    const int64_t rows = x.n * x.c * OH;
    parallel_rows(rows, rows * OW * g.kh * g.kw, [&](int64_t begin, int64_t end) {
        std::vector<A> sum(OW);
        for (int64_t r = begin; r < end; ++r) {
            const int64_t oh = r % OH, nc = r / OH;
            const T* plane = reinterpret_cast<const T*>(x.data) + (nc / x.c) * x.sn + (nc % x.c) * x.sc;
            A* s = sum.data();
            std::fill(s, s + OW, A(0));
            for (int64_t ih = rs[oh].lo; ih < rs[oh].hi; ++ih) {
                const T* xr = plane + ih * x.sh;
                for (int64_t j = 0; j < g.kw; ++j) {
                    const T* xj = xr + (j - g.pw) * x.sw;
                    const int64_t step = g.sw * x.sw;
                    for (int64_t ow = cr[j].lo; ow < cr[j].hi; ++ow) s[ow] += static_cast<A>(xj[ow * step]);
                }
            }
            T* o = out + r * OW;
            for (int64_t ow = 0; ow < OW; ++ow) o[ow] = static_cast<T>(s[ow] / divisor<A>(rs[oh], cs[ow], include_pad));
        }
    });
}

// The gather: output row (n, c, ih) sums grad / divisor over the windows that cover it, in increasing (oh, ow).
template <class T>
void avg_pool2d_backward_typed(const Image& grad, T* out, int64_t H, int64_t W, const Geometry& g, bool include_pad) {
    using A = acc_t<T>;
    const int64_t OH = grad.h, OW = grad.w, C = grad.c;
    const std::vector<Span> rs = avg_spans(OH, H, g.kh, g.sh, g.ph), cs = avg_spans(OW, W, g.kw, g.sw, g.pw);
    const int64_t rows = grad.n * C * H;
    parallel_rows(rows, rows * W * g.kh * g.kw / std::max<int64_t>(1, g.sh * g.sw), [&](int64_t begin, int64_t end) {
        std::vector<A> buffer(std::is_same<A, T>::value ? 0 : W);
        for (int64_t r = begin; r < end; ++r) {
            const int64_t ih = r % H, c = (r / H) % C, n = r / (H * C);
            A* acc = std::is_same<A, T>::value ? reinterpret_cast<A*>(out + r * W) : buffer.data();
            std::fill(acc, acc + W, A(0));
            // windows oh with oh*SH - PH <= ih < oh*SH - PH + KH
            const int64_t oh_lo = std::max<int64_t>(0, ceil_div(ih + g.ph - g.kh + 1, g.sh));
            const int64_t oh_hi = std::min<int64_t>(OH, floor_div(ih + g.ph, g.sh) + 1);
            for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
                const T* gr = reinterpret_cast<const T*>(grad.data) + n * grad.sn + c * grad.sc + oh * grad.sh;
                for (int64_t ow = 0; ow < OW; ++ow) {
                    const A v = static_cast<A>(gr[ow * grad.sw]) / divisor<A>(rs[oh], cs[ow], include_pad);
                    for (int64_t iw = cs[ow].lo; iw < cs[ow].hi; ++iw) acc[iw] += v;
                }
            }
            if constexpr (!std::is_same<A, T>::value)
                for (int64_t iw = 0; iw < W; ++iw) out[r * W + iw] = static_cast<T>(acc[iw]);
        }
    });
}

// -- take_along_axis ----------------------------------------------------------------------------------------------

// Walks (out, index, x) over out's shape with x's stride along axis set to 0; the index adds that term per element.
template <class T>
bool take_along_axis_typed(const Shape& shape, char* out, const Shape& os, const char* x, const Shape& xs,
                           int64_t x_axis_size, const int64_t* index, const Shape& is, int axis) {
    Shape xs0 = xs;
    xs0[axis] = 0;
    const Shape* st[3] = {&os, &is, &xs0};
    const int item[3] = {static_cast<int>(sizeof(T)), 8, static_cast<int>(sizeof(T))};
    const Dims<3> d = make_dims<3>(shape, st, item);
    char* base[3] = {out, reinterpret_cast<char*>(const_cast<int64_t*>(index)), const_cast<char*>(x)};
    const int64_t step = xs[axis] * static_cast<int64_t>(sizeof(T));
    const uint64_t n = static_cast<uint64_t>(x_axis_size);
    std::atomic<bool> bad{false};
    parallel_runs<3>(d, base, [&](char** p, int64_t count, const int64_t* s) {
        bool wrong = false;
        for (int64_t k = 0; k < count; ++k) {
            const int64_t at = *reinterpret_cast<const int64_t*>(p[1] + k * s[1]);
            if (static_cast<uint64_t>(at) >= n) {  // never trusted: a bad index would read outside x
                wrong = true;
                continue;
            }
            *reinterpret_cast<T*>(p[0] + k * s[0]) = *reinterpret_cast<const T*>(p[2] + k * s[2] + at * step);
        }
        if (wrong) bad.store(true, std::memory_order_relaxed);
    });
    return !bad.load();
}

// -- scatter_add --------------------------------------------------------------------------------------------------

// src viewed as (outer, A, inner): work items are (outer position, chunk of inner), in parallel; each walks a in
// increasing order, so every output element adds its terms in increasing p[axis] whatever the thread count.
template <class T>
bool scatter_add_typed(const Shape& shape, T* out, int64_t n_out, const int64_t* index, const Shape& is,
                       const T* src, const Shape& ss, int axis) {
    const int nd = static_cast<int>(shape.size());
    int64_t outer = 1, inner = 1;
    for (int k = 0; k < axis; ++k) outer *= shape[k];
    for (int k = axis + 1; k < nd; ++k) inner *= shape[k];
    const int64_t A = shape[axis];
    const Shape inner_shape(shape.begin() + axis + 1, shape.end());
    const Shape inner_ss(ss.begin() + axis + 1, ss.end()), inner_is(is.begin() + axis + 1, is.end());
    const Shape* st[2] = {&inner_ss, &inner_is};
    const int item[2] = {static_cast<int>(sizeof(T)), 8};
    const Dims<2> d = make_dims<2>(inner_shape, st, item);
    // the element offsets of outer position o in src and index
    auto outer_offset = [&](int64_t o, const Shape& strides) {
        int64_t off = 0;
        for (int k = axis - 1; k >= 0; --k) {
            off += (o % shape[k]) * strides[k];
            o /= shape[k];
        }
        return off;
    };
    const int64_t total = outer * A * inner;
    const int64_t threads = std::min<int64_t>(max_threads(), std::max<int64_t>(1, total / grain()));
    // few outer positions: split the inner range too, so that every thread has work
    const int64_t chunks = outer >= threads ? 1 : std::min<int64_t>(inner, (threads + outer - 1) / outer);
    const int64_t chunk = (inner + chunks - 1) / chunks;
    const uint64_t limit = static_cast<uint64_t>(n_out);
    std::atomic<bool> bad{false};
    parallel_rows(outer * chunks, total, [&](int64_t begin, int64_t end) {
        bool wrong = false;
        for (int64_t item_ = begin; item_ < end; ++item_) {
            const int64_t o = item_ / chunks, lo = (item_ % chunks) * chunk, hi = std::min(inner, lo + chunk);
            if (lo >= hi) continue;
            const int64_t so = outer_offset(o, ss), io = outer_offset(o, is);
            T* out_o = out + o * n_out * inner;
            for (int64_t a = 0; a < A; ++a) {
                char* b[2] = {reinterpret_cast<char*>(const_cast<T*>(src + so + a * ss[axis])),
                              reinterpret_cast<char*>(const_cast<int64_t*>(index + io + a * is[axis]))};
                int64_t pos = lo;
                for_each_run<2>(d, b, lo, hi, [&](char** p, int64_t count, const int64_t* s) {
                    for (int64_t k = 0; k < count; ++k) {
                        const int64_t at = *reinterpret_cast<const int64_t*>(p[1] + k * s[1]);
                        if (static_cast<uint64_t>(at) >= limit) {  // never trusted: it would write outside out
                            wrong = true;
                            continue;
                        }
                        T& dst = out_o[at * inner + pos + k];
                        dst = static_cast<T>(static_cast<compute_t<T>>(dst) +
                                             static_cast<compute_t<T>>(*reinterpret_cast<const T*>(p[0] + k * s[0])));
                    }
                    pos += count;
                });
            }
        }
        if (wrong) bad.store(true, std::memory_order_relaxed);
    });
    return !bad.load();
}

// The float dtypes' switch: the image kernels are registered for float16, float32 and float64 only.
#define TS_FLOAT_DISPATCH(code, name, ...)                                                     \
    switch (code) {                                                                            \
        TS_CASE(6, ::ts::half, __VA_ARGS__)                                                    \
        TS_CASE(7, float, __VA_ARGS__)                                                         \
        TS_CASE(8, double, __VA_ARGS__)                                                        \
        default: throw std::invalid_argument(std::string(name) + " needs a floating dtype");  \
    }

}  // namespace

void im2col(int dt, const Image& x, char* out, int64_t oh, int64_t ow, const Geometry& g) {
    TS_FLOAT_DISPATCH(dt, "im2col", im2col_typed<T>(x, reinterpret_cast<T*>(out), oh, ow, g));
}

void col2im(int dt, const Image& cols, char* out, int64_t n, int64_t c, int64_t h, int64_t w, int64_t oh, int64_t ow,
            const Geometry& g) {
    TS_FLOAT_DISPATCH(dt, "col2im", col2im_typed<T>(cols, reinterpret_cast<T*>(out), n, c, h, w, oh, ow, g));
}

void max_pool2d(int dt, const Image& x, char* out, int64_t oh, int64_t ow, const Geometry& g) {
    TS_FLOAT_DISPATCH(dt, "max_pool2d", max_pool2d_typed<T>(x, reinterpret_cast<T*>(out), oh, ow, g));
}

void max_pool2d_backward(int dt, const Image& grad, const Image& x, char* out, const Geometry& g) {
    TS_FLOAT_DISPATCH(dt, "max_pool2d_backward", max_pool2d_backward_typed<T>(grad, x, reinterpret_cast<T*>(out), g));
}

void avg_pool2d(int dt, const Image& x, char* out, int64_t oh, int64_t ow, const Geometry& g, bool include_pad) {
    TS_FLOAT_DISPATCH(dt, "avg_pool2d", avg_pool2d_typed<T>(x, reinterpret_cast<T*>(out), oh, ow, g, include_pad));
}

void avg_pool2d_backward(int dt, const Image& grad, char* out, int64_t h, int64_t w, const Geometry& g,
                         bool include_pad) {
    TS_FLOAT_DISPATCH(dt, "avg_pool2d_backward",
                      avg_pool2d_backward_typed<T>(grad, reinterpret_cast<T*>(out), h, w, g, include_pad));
}

bool take_along_axis(int dt, const Shape& shape, char* out, const Shape& out_strides, const char* x,
                     const Shape& x_strides, int64_t x_axis_size, const int64_t* index, const Shape& index_strides,
                     int axis) {
    bool ok = true;
    TS_DISPATCH(dt, ok = take_along_axis_typed<T>(shape, out, out_strides, x, x_strides, x_axis_size, index,
                                                  index_strides, axis));
    return ok;
}

bool scatter_add(int dt, const Shape& shape, char* out, int64_t out_axis_size, const int64_t* index,
                 const Shape& index_strides, const char* src, const Shape& src_strides, int axis) {
    if (dt == 0) throw std::invalid_argument("scatter_add has no bool kernel (adding booleans is not defined)");
    bool ok = true;
    TS_DISPATCH(dt, if constexpr (!std::is_same<T, bool>::value) ok = scatter_add_typed<T>(
                        shape, reinterpret_cast<T*>(out), out_axis_size, index, index_strides,
                        reinterpret_cast<const T*>(src), src_strides, axis));
    return ok;
}

}  // namespace nn
}  // namespace ts
