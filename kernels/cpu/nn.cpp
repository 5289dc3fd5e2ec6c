// The nn kernel families on the cpu: one template per family, instantiated per dtype from TS_DISPATCH (kernels.h).
// See nn.h for the layouts and Note [Kernel contract] in dispatch/registry.py for what each computes.
//
// Every loop is parallel over independent rows or planes of its output (the pool's threads, one below ts::grain()
// elements of work), and every sum is taken in a fixed order that does not depend on the thread count, so results
// are the same on every run.  Windows that reach into the padding are clipped once per row or column (the ranges below), so inner
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

// The accumulator of sums and maxima: float for float16 and float32, double for double.
template <class T> using acc_t = compute_t<T>;

// Row loops walk (n, c, ...) with counters carried from row to row: a 64-bit division costs tens of cycles, and the
// rows here are short (LeNet's are 8 to 24 elements).  For the same reason the runs below are plain loops over
// __restrict pointers (no overlap test before each run, which costs as much as copying 8 elements) and a zero fill
// is only called when there is something to fill.

template <class T>
inline void zero(T* p, int64_t n) {
    if (n > 0) std::memset(static_cast<void*>(p), 0, static_cast<size_t>(n) * sizeof(T));  // 0.0 is all zero bits
}

// -- im2col -------------------------------------------------------------------------------------------------------

// One output row (n, c, i, j) at a time, in memory order: each is OH runs of OW elements, a run reading one input row
// (a contiguous run when SW == 1 and the input's rows are contiguous, whatever the dilation), with the columns that
// fall into the padding zeroed; rows wholly in the padding are zeroed in one fill.
template <class T>
void im2col_typed(const Image& x, T* out, int64_t OH, int64_t OW, const Geometry& g) {
    const int64_t C = x.c, L = OH * OW, KH = g.kh, KW = g.kw, rows = x.n * C * KH * KW;
    // per kernel row i (column j): the output rows (columns) whose input row (column) is inside x
    std::vector<Range> row_in(KH), col_in(KW);
    for (int64_t i = 0; i < KH; ++i) row_in[i] = inside(i * g.dh - g.ph, g.sh, OH, x.h);
    for (int64_t j = 0; j < KW; ++j) col_in[j] = inside(j * g.dw - g.pw, g.sw, OW, x.w);
    parallel_rows(rows, rows * L, [&](int64_t begin, int64_t end) {
        const int64_t sh = g.sh, sw = g.sw, ph = g.ph, pw = g.pw, dh = g.dh, dw = g.dw, xsh = x.sh, xsw = x.sw;
        const int64_t in_row_step = sh * xsh, in_col_step = sw * xsw;
        const bool runs = in_col_step == 1;  // each output row copies a run of input elements
        int64_t j = begin % KW, i = (begin / KW) % KH, c = (begin / (KW * KH)) % C, n = begin / (KW * KH * C);
        for (int64_t r = begin; r < end; ++r) {
            const T* plane = reinterpret_cast<const T*>(x.data) + n * x.sn + c * x.sc;
            T* o = out + r * L;
            const Range rr = row_in[i], cr = col_in[j];
            const int64_t lead = cr.lo, body = cr.hi - cr.lo, trail = OW - cr.hi;
            zero(o, rr.lo * OW);
            // the input element of output (rr.lo, cr.lo); each output row steps in_row_step further
            const T* src = plane + (rr.lo * sh - ph + i * dh) * xsh + (cr.lo * sw + j * dw - pw) * xsw;
            T* dst = o + rr.lo * OW;
            if (lead == 0 && trail == 0 && runs) {  // no padding in this row: OH plain copies
                for (int64_t oh = rr.lo; oh < rr.hi; ++oh, src += in_row_step, dst += OW) {
                    T* __restrict d = dst;
                    const T* __restrict s = src;
                    for (int64_t k = 0; k < body; ++k) d[k] = s[k];
                }
            } else {
                for (int64_t oh = rr.lo; oh < rr.hi; ++oh, src += in_row_step, dst += OW) {
                    zero(dst, lead);
                    T* __restrict d = dst + lead;
                    const T* __restrict s = src;
                    if (runs)
                        for (int64_t k = 0; k < body; ++k) d[k] = s[k];
                    else
                        for (int64_t k = 0; k < body; ++k) d[k] = s[k * in_col_step];
                    zero(d + body, trail);
                }
            }
            zero(o + rr.hi * OW, (OH - rr.hi) * OW);
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

// -- col2im: a scatter per plane (n, c) ---------------------------------------------------------------------------

// Each thread owns whole planes (no races).  A plane starts at zero and adds, for each kernel position (i, j) in
// increasing order, that position's column row: OH runs of OW elements, read in memory order, each added into one
// input row.  A pixel receives at most one term per (i, j), so it adds its terms in increasing (i, j), the order of
// the gather formulation, whatever the thread count.  float16 accumulates in a float plane.
template <class T>
void col2im_typed(const Image& cols, T* out, int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW,
                  const Geometry& g) {
    using A = acc_t<T>;
    const int64_t KH = g.kh, KW = g.kw, HW = H * W, planes = N * C;
    std::vector<Range> row_in(KH), col_in(KW);
    for (int64_t i = 0; i < KH; ++i) row_in[i] = inside(i * g.dh - g.ph, g.sh, OH, H);
    for (int64_t j = 0; j < KW; ++j) col_in[j] = inside(j * g.dw - g.pw, g.sw, OW, W);
    parallel_rows(planes, planes * KH * KW * OH * OW, [&](int64_t begin, int64_t end) {
        const int64_t sh = g.sh, sw = g.sw, ph = g.ph, pw = g.pw, dh = g.dh, dw = g.dw;
        const int64_t csn = cols.sn, csc = cols.sc, csl = cols.sh, out_row_step = sh * W;
        std::vector<A> buffer(std::is_same<A, T>::value ? 0 : HW);
        for (int64_t p = begin; p < end; ++p) {
            const int64_t n = p / C, c = p % C;
            A* acc = std::is_same<A, T>::value ? reinterpret_cast<A*>(out + p * HW) : buffer.data();
            zero(acc, HW);
            const T* cn = reinterpret_cast<const T*>(cols.data) + n * csn + c * KH * KW * csc;
            for (int64_t i = 0; i < KH; ++i) {
                const Range rr = row_in[i];
                for (int64_t j = 0; j < KW; ++j) {
                    const Range cr = col_in[j];
                    const int64_t body = cr.hi - cr.lo;
                    if (body <= 0) continue;
                    const T* src = cn + (i * KW + j) * csc + (rr.lo * OW + cr.lo) * csl;
                    A* dst = acc + (rr.lo * sh - ph + i * dh) * W + cr.lo * sw + j * dw - pw;
                    for (int64_t oh = rr.lo; oh < rr.hi; ++oh, src += OW * csl, dst += out_row_step) {
                        A* __restrict d = dst;
                        const T* __restrict s = src;
                        if (sw == 1 && csl == 1)
                            for (int64_t k = 0; k < body; ++k) d[k] += static_cast<A>(s[k]);
                        else
                            for (int64_t k = 0; k < body; ++k) d[k * sw] += static_cast<A>(s[k * csl]);
                    }
                }
            }
            if constexpr (!std::is_same<A, T>::value)
                for (int64_t k = 0; k < HW; ++k) out[p * HW + k] = static_cast<T>(acc[k]);
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

// One kernel position (i, j) of a row of disjoint windows, output columns [lo, hi): window ow's element is
// xj[ow * step], at plane position first + ow * sw; it takes over from best[ow] (at[ow]) when it is greater, or the
// window's first NaN (a NaN makes the max NaN, and the first NaN the argmax), or the window's first real element
// (at[ow] < 0).  Plain selects: a branch would mispredict half of the time on random data.
template <class A, class T, class Pos>
inline void argmax_step(const T* xj, int64_t step, Pos first, Pos sw, int64_t lo, int64_t hi, A* best, Pos* at) {
    for (int64_t ow = lo; ow < hi; ++ow) {
        const A v = static_cast<A>(xj[ow * step]), b = best[ow];
        const Pos a = at[ow];
        const bool take = (v > b) | ((v != v) & (b == b)) | (a < 0);
        best[ow] = pick(take, v, b);
        at[ow] = pick(take, static_cast<Pos>(first + static_cast<Pos>(ow) * sw), a);
    }
}

#if defined(__x86_64__)  // SSE2, which kernels.h includes there
// float with int32 positions: four windows at a time in SSE2 (every x86-64 has it; the module is built for that
// baseline, and GCC does not vectorise the loop above well for rows as short as LeNet's 12 windows).  Strides 1 and
// 2 (a 2x2 pool's) load whole vectors; others gather four elements.
template <>
inline void argmax_step<float, float, int32_t>(const float* xj, int64_t step, int32_t first, int32_t sw, int64_t lo,
                                               int64_t hi, float* best, int32_t* at) {
    int64_t ow = lo;
    const __m128i lane = _mm_setr_epi32(0, sw, 2 * sw, 3 * sw), zero_i = _mm_setzero_si128();
    for (; ow + 4 <= hi; ow += 4) {
        const float* e = xj + ow * step;
        __m128 v;
        if (step == 1) {
            v = _mm_loadu_ps(e);
        } else if (step == 2) {
            v = _mm_shuffle_ps(_mm_loadu_ps(e), _mm_loadu_ps(e + 4), _MM_SHUFFLE(2, 0, 2, 0));
        } else {
            v = _mm_setr_ps(e[0], e[step], e[2 * step], e[3 * step]);
        }
        const __m128 b = _mm_loadu_ps(best + ow);
        const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at + ow));
        const __m128 take = _mm_or_ps(_mm_or_ps(_mm_cmpgt_ps(v, b), _mm_and_ps(_mm_cmpunord_ps(v, v),
                                                                              _mm_cmpord_ps(b, b))),
                                      _mm_castsi128_ps(_mm_cmplt_epi32(a, zero_i)));
        const __m128i t = _mm_castps_si128(take);
        const __m128i pos = _mm_add_epi32(_mm_set1_epi32(first + static_cast<int32_t>(ow) * sw), lane);
        _mm_storeu_ps(best + ow, _mm_or_ps(_mm_and_ps(take, v), _mm_andnot_ps(take, b)));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(at + ow), _mm_or_si128(_mm_and_si128(t, pos),
                                                                           _mm_andnot_si128(t, a)));
    }
    for (; ow < hi; ++ow) {
        const float v = xj[ow * step], b = best[ow];
        const int32_t a = at[ow];
        const bool take = (v > b) | ((v != v) & (b == b)) | (a < 0);
        best[ow] = pick(take, v, b);
        at[ow] = pick(take, static_cast<int32_t>(first + static_cast<int32_t>(ow) * sw), a);
    }
}
#endif

// Windows that cannot overlap (each stride at least the window's extent along its axis, DH * (KH - 1) + 1 and
// DW * (KW - 1) + 1): every input element lies in at most one window, so a plane is zeroed and each window writes its
// grad at its first argmax, found in one pass over the window's elements in window order (argmax_step, the output
// columns innermost).  No accumulator and no second pass; each plane belongs to one thread.
template <class T, class Pos>
void max_pool2d_backward_disjoint(const Image& grad, const Image& x, T* out, const Geometry& g) {
    using A = acc_t<T>;
    const int64_t OH = grad.h, OW = grad.w, H = x.h, W = x.w, HW = H * W;
    const std::vector<Range> rr = window_ranges(OH, H, g.kh, g.sh, g.ph, g.dh);
    const std::vector<Range> cr = column_ranges(OW, W, g.kw, g.sw, g.pw, g.dw);
    const int64_t planes = x.n * x.c;
    parallel_rows(planes, planes * (OH * OW * g.kh * g.kw + HW), [&](int64_t begin, int64_t end) {
        const int64_t sh = g.sh, ph = g.ph, pw = g.pw, dh = g.dh, dw = g.dw, kw = g.kw;
        const int64_t xsh = x.sh, xsw = x.sw, gsh = grad.sh, gsw = grad.sw, C = x.c, width = W;
        const int64_t step = g.sw * xsw;
        const Pos sw = static_cast<Pos>(g.sw);
        const Range* rows = rr.data();
        const Range* cols = cr.data();
        std::vector<A> best_row(OW);
        std::vector<Pos> at_row(OW);
        A* best = best_row.data();
        Pos* at = at_row.data();
        for (int64_t p = begin; p < end; ++p) {
            const T* xp = reinterpret_cast<const T*>(x.data) + (p / C) * x.sn + (p % C) * x.sc;
            const T* gp = reinterpret_cast<const T*>(grad.data) + (p / C) * grad.sn + (p % C) * grad.sc;
            T* o = out + p * HW;
            zero(o, HW);
            for (int64_t oh = 0; oh < OH; ++oh) {
                const int64_t h0 = oh * sh - ph;
                std::fill(best, best + OW, -std::numeric_limits<A>::infinity());
                std::fill(at, at + OW, Pos(-1));  // stays -1 for a window with no real element
                bool first = true;
                for (int64_t i = rows[oh].lo; i < rows[oh].hi; ++i) {
                    const int64_t ih = h0 + i * dh;
                    const T* xr = xp + ih * xsh;
                    for (int64_t j = 0; j < kw; ++j) {
                        const int64_t w0 = j * dw - pw, lo = cols[j].lo, hi = cols[j].hi;  // input column ow*SW + w0
                        const T* xj = xr + w0 * xsw;
                        const Pos start = static_cast<Pos>(ih * width + w0);
                        if (first) {
                            // the row's first kernel position: each window it reaches has no element yet, so it
                            // takes them all (and stores without loading what the fills just stored: a load that
                            // spans several smaller stores cannot be forwarded from them and stalls)
                            for (int64_t ow = lo; ow < hi; ++ow) {
                                best[ow] = static_cast<A>(xj[ow * step]);
                                at[ow] = static_cast<Pos>(start + static_cast<Pos>(ow) * sw);
                            }
                            first = false;
                        } else {
                            argmax_step<A, T, Pos>(xj, step, start, sw, lo, hi, best, at);
                        }
                    }
                }
                const T* gr = gp + oh * gsh;
                for (int64_t ow = 0; ow < OW; ++ow)
                    if (at[ow] >= 0) o[at[ow]] = gr[ow * gsw];
            }
        }
    });
}

// -- the commonest pool: 2x2 windows, stride 2 --------------------------------------------------------------------

// Whether the pool is the commonest one, 2x2 windows with stride 2, no padding or dilation, over rows of contiguous
// elements, with every window wholly inside the input (the floor mode's OH = H / 2): its own loops below.
inline bool plain_2x2(const Geometry& g, const Image& x, int64_t OH, int64_t OW) {
    return g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 && g.dh == 1 && g.dw == 1 &&
           x.sw == 1 && 2 * OH <= x.h && 2 * OW <= x.w;
}

// The max of each 2x2 window, NaN if it holds one (as max_pool2d_typed: the order does not matter).
template <class T>
inline void pool2x2_windows(const T* r0, const T* r1, T* o, int64_t lo, int64_t hi) {
    using A = acc_t<T>;
    for (int64_t ow = lo; ow < hi; ++ow) {
        const A e[4] = {static_cast<A>(r0[2 * ow]), static_cast<A>(r0[2 * ow + 1]), static_cast<A>(r1[2 * ow]),
                        static_cast<A>(r1[2 * ow + 1])};
        A best = e[0];
        for (int k = 1; k < 4; ++k) best = (e[k] > best || e[k] != e[k]) ? e[k] : best;
        o[ow] = static_cast<T>(best);
    }
}

#if defined(__x86_64__)  // SSE2, which kernels.h includes there
template <>
inline void pool2x2_windows<float>(const float* r0, const float* r1, float* o, int64_t lo, int64_t hi) {
    int64_t ow = lo;
    for (; ow + 4 <= hi; ow += 4) {
        const __m128 x0 = _mm_loadu_ps(r0 + 2 * ow), x1 = _mm_loadu_ps(r0 + 2 * ow + 4);
        const __m128 y0 = _mm_loadu_ps(r1 + 2 * ow), y1 = _mm_loadu_ps(r1 + 2 * ow + 4);
        const __m128 a = _mm_shuffle_ps(x0, x1, _MM_SHUFFLE(2, 0, 2, 0));
        const __m128 b = _mm_shuffle_ps(x0, x1, _MM_SHUFFLE(3, 1, 3, 1));
        const __m128 c = _mm_shuffle_ps(y0, y1, _MM_SHUFFLE(2, 0, 2, 0));
        const __m128 d = _mm_shuffle_ps(y0, y1, _MM_SHUFFLE(3, 1, 3, 1));
        const __m128 m = _mm_max_ps(_mm_max_ps(a, b), _mm_max_ps(c, d));
        // maxps drops a NaN in its first operand: where the window holds one, its sum is NaN and is taken instead
        const __m128 nan = _mm_or_ps(_mm_cmpunord_ps(a, b), _mm_cmpunord_ps(c, d));
        const __m128 sum = _mm_add_ps(_mm_add_ps(a, b), _mm_add_ps(c, d));
        _mm_storeu_ps(o + ow, _mm_or_ps(_mm_and_ps(nan, sum), _mm_andnot_ps(nan, m)));
    }
    for (; ow < hi; ++ow) {
        const float e[4] = {r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]};
        float best = e[0];
        for (int k = 1; k < 4; ++k) best = (e[k] > best || e[k] != e[k]) ? e[k] : best;
        o[ow] = best;
    }
}
#endif

template <class T>
void max_pool2d_2x2(const Image& x, T* out, int64_t OH, int64_t OW) {
    const int64_t rows = x.n * x.c * OH;
    parallel_rows(rows, rows * OW * 4, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            const int64_t oh = r % OH, nc = r / OH;
            const T* r0 = reinterpret_cast<const T*>(x.data) + (nc / x.c) * x.sn + (nc % x.c) * x.sc + 2 * oh * x.sh;
            pool2x2_windows<T>(r0, r0 + x.sh, out + r * OW, 0, OW);
        }
    });
}

template <class T>
void max_pool2d_any(const Image& x, T* out, int64_t OH, int64_t OW, const Geometry& g) {
    if (plain_2x2(g, x, OH, OW)) max_pool2d_2x2<T>(x, out, OH, OW);
    else max_pool2d_typed<T>(x, out, OH, OW, g);
}

// The 2x2 pool's backward: a window's four elements are in registers, so every element of the two input rows is
// written once, with the grad or 0, and nothing is zeroed first but the rows and columns no window covers.  The first
// argmax in window order (a, b, c, d) = (x[2oh][2ow], x[2oh][2ow+1], x[2oh+1][2ow], x[2oh+1][2ow+1]), with the rules
// of argmax_step.
template <class T>
inline void pool2x2_backward_windows(const T* r0, const T* r1, const T* gr, int64_t gsw, T* o0, T* o1, int64_t lo,
                                     int64_t hi) {
    using A = acc_t<T>;
    for (int64_t ow = lo; ow < hi; ++ow) {
        const A e[4] = {static_cast<A>(r0[2 * ow]), static_cast<A>(r0[2 * ow + 1]), static_cast<A>(r1[2 * ow]),
                        static_cast<A>(r1[2 * ow + 1])};
        A best = e[0];
        int at = 0;
        for (int k = 1; k < 4; ++k) {
            const bool take = (e[k] > best) | ((e[k] != e[k]) & (best == best));
            best = pick(take, e[k], best);
            at = take ? k : at;
        }
        const T g = gr[ow * gsw], z = T(0);
        o0[2 * ow] = at == 0 ? g : z;
        o0[2 * ow + 1] = at == 1 ? g : z;
        o1[2 * ow] = at == 2 ? g : z;
        o1[2 * ow + 1] = at == 3 ? g : z;
    }
}

#if defined(__x86_64__)  // SSE2, which kernels.h includes there
// float: four windows at a time, from two 8-element loads per input row.
template <>
inline void pool2x2_backward_windows<float>(const float* r0, const float* r1, const float* gr, int64_t gsw, float* o0,
                                            float* o1, int64_t lo, int64_t hi) {
    int64_t ow = lo;
    for (; gsw == 1 && ow + 4 <= hi; ow += 4) {
        const __m128 x0 = _mm_loadu_ps(r0 + 2 * ow), x1 = _mm_loadu_ps(r0 + 2 * ow + 4);
        const __m128 y0 = _mm_loadu_ps(r1 + 2 * ow), y1 = _mm_loadu_ps(r1 + 2 * ow + 4);
        const __m128 e[4] = {_mm_shuffle_ps(x0, x1, _MM_SHUFFLE(2, 0, 2, 0)),   // even columns of row 0
                             _mm_shuffle_ps(x0, x1, _MM_SHUFFLE(3, 1, 3, 1)),   // odd columns of row 0
                             _mm_shuffle_ps(y0, y1, _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm_shuffle_ps(y0, y1, _MM_SHUFFLE(3, 1, 3, 1))};
        // is[k]: all ones in the lanes whose argmax is element k, as taken so far
        __m128 best = e[0], is[4];
        is[0] = _mm_castsi128_ps(_mm_set1_epi32(-1));
        for (int k = 1; k < 4; ++k) {
            const __m128 take = _mm_or_ps(_mm_cmpgt_ps(e[k], best),
                                          _mm_and_ps(_mm_cmpunord_ps(e[k], e[k]), _mm_cmpord_ps(best, best)));
            best = _mm_or_ps(_mm_and_ps(take, e[k]), _mm_andnot_ps(take, best));
            for (int q = 0; q < k; ++q) is[q] = _mm_andnot_ps(take, is[q]);
            is[k] = take;
        }
        const __m128 g = _mm_loadu_ps(gr + ow);
        const __m128 v0 = _mm_and_ps(is[0], g), v1 = _mm_and_ps(is[1], g), v2 = _mm_and_ps(is[2], g),
                     v3 = _mm_and_ps(is[3], g);
        _mm_storeu_ps(o0 + 2 * ow, _mm_unpacklo_ps(v0, v1));
        _mm_storeu_ps(o0 + 2 * ow + 4, _mm_unpackhi_ps(v0, v1));
        _mm_storeu_ps(o1 + 2 * ow, _mm_unpacklo_ps(v2, v3));
        _mm_storeu_ps(o1 + 2 * ow + 4, _mm_unpackhi_ps(v2, v3));
    }
    for (; ow < hi; ++ow) {
        const float e[4] = {r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]};
        float best = e[0];
        int at = 0;
        for (int k = 1; k < 4; ++k) {
            const bool take = (e[k] > best) | ((e[k] != e[k]) & (best == best));
            best = pick(take, e[k], best);
            at = take ? k : at;
        }
        const float g = gr[ow * gsw];
        o0[2 * ow] = at == 0 ? g : 0.0f;
        o0[2 * ow + 1] = at == 1 ? g : 0.0f;
        o1[2 * ow] = at == 2 ? g : 0.0f;
        o1[2 * ow + 1] = at == 3 ? g : 0.0f;
    }
}
#endif

template <class T>
void max_pool2d_backward_2x2(const Image& grad, const Image& x, T* out) {
    const int64_t OH = grad.h, OW = grad.w, H = x.h, W = x.w, HW = H * W, planes = x.n * x.c;
    parallel_rows(planes, planes * HW, [&](int64_t begin, int64_t end) {
        const int64_t C = x.c, xsh = x.sh, gsh = grad.sh, gsw = grad.sw;
        for (int64_t p = begin; p < end; ++p) {
            const T* xp = reinterpret_cast<const T*>(x.data) + (p / C) * x.sn + (p % C) * x.sc;
            const T* gp = reinterpret_cast<const T*>(grad.data) + (p / C) * grad.sn + (p % C) * grad.sc;
            T* o = out + p * HW;
            for (int64_t oh = 0; oh < OH; ++oh) {
                T* o0 = o + 2 * oh * W;
                pool2x2_backward_windows<T>(xp + 2 * oh * xsh, xp + (2 * oh + 1) * xsh, gp + oh * gsh, gsw, o0,
                                            o0 + W, 0, OW);
                zero(o0 + 2 * OW, W - 2 * OW);  // an odd last column: no window
                zero(o0 + W + 2 * OW, W - 2 * OW);
            }
            zero(o + 2 * OH * W, (H - 2 * OH) * W);  // an odd last row
        }
    });
}

// Whether no two windows share an input element: each stride at least the window's extent along its axis.
inline bool disjoint_windows(const Geometry& g) {
    return g.sh >= g.dh * (g.kh - 1) + 1 && g.sw >= g.dw * (g.kw - 1) + 1;
}

// Positions within a plane as int32 where they fit: the selects then work on 32-bit lanes.  ``general`` takes the
// two-pass path even for disjoint windows (for the tests that compare the two).
template <class T>
void max_pool2d_backward_typed(const Image& grad, const Image& x, T* out, const Geometry& g, bool general) {
    const bool small = x.h * x.w < (int64_t(1) << 31);
    if (!general && plain_2x2(g, x, grad.h, grad.w)) {
        max_pool2d_backward_2x2<T>(grad, x, out);
    } else if (!general && disjoint_windows(g)) {
        if (small) max_pool2d_backward_disjoint<T, int32_t>(grad, x, out, g);
        else max_pool2d_backward_disjoint<T, int64_t>(grad, x, out, g);
    } else {
        if (small) max_pool2d_backward_positions<T, int32_t>(grad, x, out, g);
        else max_pool2d_backward_positions<T, int64_t>(grad, x, out, g);
    }
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
    const int64_t threads = threads_for(total);
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
    TS_FLOAT_DISPATCH(dt, "max_pool2d", max_pool2d_any<T>(x, reinterpret_cast<T*>(out), oh, ow, g));
}

void max_pool2d_backward(int dt, const Image& grad, const Image& x, char* out, const Geometry& g, bool general) {
    TS_FLOAT_DISPATCH(dt, "max_pool2d_backward",
                      max_pool2d_backward_typed<T>(grad, x, reinterpret_cast<T*>(out), g, general));
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
    TS_DISPATCH_ALL(dt, ok = take_along_axis_typed<T>(shape, out, out_strides, x, x_strides, x_axis_size, index,
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
