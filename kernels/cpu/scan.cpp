// The cpu kernels of the scan family: cumulative sums and products, nonzero, and the gather/put kernels of
// integer-array indexing.  See scan.h for the layouts and Note [Kernel contract] in dispatch/registry.py for what
// each computes.
//
// Scans are parallel over independent rows (the pool's threads, one below ts::grain() elements of work); a row itself is
// walked in order, so every result is the same whatever the thread count.  nonzero is a stream compaction in two
// passes over the same contiguous chunks of the flat index range: each chunk counts its nonzero elements, a prefix
// sum of the counts gives each chunk where its coordinates start, and each chunk writes them.
#include "scan.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "kernels.h"

namespace ts {
namespace scan {
namespace {

// -- cumulative sums and products -----------------------------------------------------------------------------------

// The accumulator of a scan: double for floats (as the sum reduction), uint64 for integers (wraps, and the stored
// low bits are the dtype's own wrapped answer, NumPy's), bool for bool (or / and), complex128 for complex.
template <class T>
using scan_acc_t = std::conditional_t<
    is_complex_v<T>, std::complex<double>,
    std::conditional_t<is_float_v<T>, double, std::conditional_t<std::is_same<T, bool>::value, bool, uint64_t>>>;

template <class T>
inline scan_acc_t<T> scan_load(T v) {
    using A = scan_acc_t<T>;
    if constexpr (std::is_same<T, half>::value) return static_cast<double>(static_cast<float>(v));
    else if constexpr (std::is_same<A, uint64_t>::value && std::is_signed<T>::value)
        return static_cast<uint64_t>(static_cast<int64_t>(v));  // sign-extended: the low bits of sums stay exact
    else return static_cast<A>(v);
}

template <class T, bool Product>
inline scan_acc_t<T> scan_combine(scan_acc_t<T> acc, scan_acc_t<T> v) {
    if constexpr (std::is_same<T, bool>::value) return Product ? (acc && v) : (acc || v);
    else return Product ? acc * v : acc + v;
}

// Columns of the innermost dimension one work unit scans side by side (their accumulators fit the L1 cache).
constexpr int64_t kColumns = 256;

// The scan along ``axis`` is taken for a block of up to kColumns positions of the last dimension at once (when the
// axis is not itself the last), so that a contiguous tensor is read row after row instead of down its columns.  A
// work unit is (position of the dims other than the axis and the last, block of the last); units run in parallel.
template <class T, bool Product>
void cumulative_typed(const Shape& shape, int axis, T* out, const Shape& os, const T* x, const Shape& xs) {
    using A = scan_acc_t<T>;
    const int nd = static_cast<int>(shape.size());
    const int last = axis == nd - 1 ? -1 : nd - 1;
    const int64_t n = shape[axis], sx = xs[axis], so = os[axis];
    const int64_t L = last >= 0 ? shape[last] : 1, lx = last >= 0 ? xs[last] : 0, lo = last >= 0 ? os[last] : 0;
    std::vector<int> group_dims;
    int64_t groups = 1;
    for (int d = 0; d < nd; ++d)
        if (d != axis && d != last) {
            group_dims.push_back(d);
            groups *= shape[d];
        }
    const int64_t blocks = (L + kColumns - 1) / kColumns;
    const A identity = Product ? A(1) : A(0);
    parallel_rows(groups * blocks, groups * blocks * std::min(L, kColumns) * n, [&](int64_t begin, int64_t end) {
        A acc[kColumns];
        for (int64_t u = begin; u < end; ++u) {
            int64_t rem = u / blocks, ox = 0, oo = 0;
            for (int k = static_cast<int>(group_dims.size()) - 1; k >= 0; --k) {
                const int d = group_dims[k];
                const int64_t c = rem % shape[d];
                rem /= shape[d];
                ox += c * xs[d];
                oo += c * os[d];
            }
            const int64_t j0 = (u % blocks) * kColumns, m = std::min(kColumns, L - j0);
            const T* xp = x + ox + j0 * lx;
            T* op = out + oo + j0 * lo;
            for (int64_t j = 0; j < m; ++j) acc[j] = identity;
            for (int64_t i = 0; i < n; ++i) {
                const T* xr = xp + i * sx;
                T* orow = op + i * so;
                for (int64_t j = 0; j < m; ++j) {
                    acc[j] = scan_combine<T, Product>(acc[j], scan_load<T>(xr[j * lx]));
                    orow[j * lo] = static_cast<T>(acc[j]);
                }
            }
        }
    });
}

// -- walking a flat range of a strided layout, with its coordinates ---------------------------------------------------

// The operands a walk carries offsets for: ``count`` stride vectors over one shape.
constexpr int kMaxOperands = kMaxDims + 2;  // the tensor, an index per dimension, the values of put
struct Operands {
    int count = 0;
    const Shape* st[kMaxOperands];
    void add(const Shape& s) {
        if (count == kMaxOperands) throw std::invalid_argument("too many operands (at most 32 index operands)");
        st[count++] = &s;
    }
};

// Calls f(element offset of each operand, coordinates, flat position) for the flat C-order positions [begin, end)
// of ``shape``.  Counters are carried from element to element (no division per element).
template <class F>
void walk(const Shape& shape, const Operands& ops, int64_t begin, int64_t end, F&& f) {
    const int nd = static_cast<int>(shape.size()), N = ops.count;
    int64_t idx[kMaxDims] = {0};
    int64_t off[kMaxOperands] = {0};
    int64_t rem = begin;
    for (int d = nd - 1; d >= 0; --d) {
        idx[d] = rem % shape[d];
        rem /= shape[d];
        for (int k = 0; k < N; ++k) off[k] += idx[d] * (*ops.st[k])[d];
    }
    for (int64_t e = begin; e < end; ++e) {
        f(static_cast<const int64_t*>(off), static_cast<const int64_t*>(idx), e);
        for (int d = nd - 1; d >= 0; --d) {
            if (++idx[d] < shape[d]) {
                for (int k = 0; k < N; ++k) off[k] += (*ops.st[k])[d];
                break;
            }
            idx[d] = 0;
            for (int k = 0; k < N; ++k) off[k] -= (shape[d] - 1) * (*ops.st[k])[d];
        }
    }
}

int64_t numel(const Shape& shape) {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    return n;
}

// -- nonzero ------------------------------------------------------------------------------------------------------

template <class T>
inline bool is_nonzero(T v) {
    return static_cast<compute_t<T>>(v) != compute_t<T>(0);  // NaN != 0; -0.0 == 0
}

// The chunks both passes split the flat range into: one below the grain, else one per thread.
int64_t chunks_for(int64_t total) {
    return threads_for(total);
}

template <class T>
void count_chunks(const Shape& shape, const T* x, const Shape& xs, int64_t total, int64_t chunks,
                  std::vector<int64_t>& counts) {
    const int64_t size = (total + chunks - 1) / chunks;
    Operands ops;
    ops.add(xs);
    parallel_rows(chunks, total, [&](int64_t begin, int64_t end) {
        for (int64_t c = begin; c < end; ++c) {
            int64_t found = 0;
            walk(shape, ops, c * size, std::min(total, (c + 1) * size),
                    [&](const int64_t* off, const int64_t*, int64_t) { found += is_nonzero(x[off[0]]); });
            counts[c] = found;
        }
    });
}

template <class T>
int64_t count_nonzero_typed(const Shape& shape, const T* x, const Shape& xs) {
    const int64_t total = numel(shape);
    const int64_t chunks = chunks_for(total);
    std::vector<int64_t> counts(chunks);
    count_chunks(shape, x, xs, total, chunks, counts);
    int64_t sum = 0;
    for (auto c : counts) sum += c;
    return sum;
}

template <class T>
int64_t nonzero_typed(const Shape& shape, const T* x, const Shape& xs, int64_t* out, int64_t count) {
    const int nd = static_cast<int>(shape.size());
    const int64_t total = numel(shape);
    const int64_t chunks = chunks_for(total);
    std::vector<int64_t> counts(chunks), starts(chunks + 1, 0);
    count_chunks(shape, x, xs, total, chunks, counts);
    for (int64_t c = 0; c < chunks; ++c) starts[c + 1] = starts[c] + counts[c];
    const int64_t size = (total + chunks - 1) / chunks;
    Operands ops;
    ops.add(xs);
    parallel_rows(chunks, total, [&](int64_t begin, int64_t end) {
        for (int64_t c = begin; c < end; ++c) {
            int64_t k = starts[c];
            walk(shape, ops, c * size, std::min(total, (c + 1) * size),
                    [&](const int64_t* off, const int64_t* idx, int64_t) {
                        if (is_nonzero(x[off[0]])) {
                            if (k < count)  // never past the output, whatever the memory held
                                for (int d = 0; d < nd; ++d) out[d * count + k] = idx[d];
                            ++k;
                        }
                    });
        }
    });
    return starts[chunks];
}

// -- gather and put -------------------------------------------------------------------------------------------------

// Index operand j's value at element offset ``at``, wrapped from the end, and whether it lies in [-size, size).
inline bool index_value(const Index& ix, int64_t at, int64_t& v) {
    v = ix.data[at];
    if (v < 0) v += ix.size;
    return static_cast<uint64_t>(v) < static_cast<uint64_t>(ix.size);
}

// The element offset ``o`` into the indexed tensor (from its view's first element: negative strides make it
// negative) of the position whose operand offsets are ``off`` (off[0]: the view's own, off[1 + j]: index j's); false
// when an index is out of range.
inline bool indexed_offset(const std::vector<Index>& index, const int64_t* off, int64_t& o) {
    o = off[0];
    for (size_t j = 0; j < index.size(); ++j) {
        int64_t v;
        if (!index_value(index[j], off[1 + j], v)) return false;
        o += v * index[j].step;
    }
    return true;
}

// The tensor's strides, then each index's.
Operands operands(const Shape& first, const std::vector<Index>& index) {
    Operands ops;
    ops.add(first);
    for (auto& ix : index) ops.add(ix.strides);
    return ops;
}

template <class Bits>
bool gather_bits(const Shape& shape, Bits* out, const Bits* x, const Shape& xs, const std::vector<Index>& index) {
    const int64_t total = numel(shape);
    const Operands ops = operands(xs, index);
    std::atomic<bool> bad{false};
    parallel_rows(total, total, [&](int64_t begin, int64_t end) {
        bool wrong = false;
        walk(shape, ops, begin, end, [&](const int64_t* off, const int64_t*, int64_t e) {
            int64_t o;
            if (!indexed_offset(index, off, o)) {  // never trusted: a bad index would read outside x
                wrong = true;
                return;
            }
            out[e] = x[o];
        });
        if (wrong) bad.store(true, std::memory_order_relaxed);
    });
    return !bad.load();
}

template <class Bits>
bool put_bits(const Shape& shape, Bits* out, const Shape& os, const std::vector<Index>& index, const Bits* values,
              const Shape& vs) {
    // one thread, in C order: where positions repeat, the last value written stays (NumPy's answer)
    Operands ops = operands(os, index);
    ops.add(vs);  // the values' offsets come after the indices'
    const size_t k = index.size();
    bool ok = true;
    walk(shape, ops, 0, numel(shape), [&](const int64_t* off, const int64_t*, int64_t) {
        int64_t o;
        if (!indexed_offset(index, off, o)) {
            ok = false;
            return;
        }
        out[o] = values[off[1 + k]];
    });
    return ok;
}

// Storage bits of each element size: gather and put copy elements as they are.
struct Bits128 {  // the 16 bytes of a complex128, copied whole by gather and put
    uint64_t v[2];
};

template <class F>
bool by_size(int dt, F&& f) {
    switch (kItemsize[dt]) {
        case 1: return f(uint8_t{});
        case 2: return f(uint16_t{});
        case 4: return f(uint32_t{});
        case 8: return f(uint64_t{});
        case 16: return f(Bits128{});  // complex128
    }
    throw std::invalid_argument("unknown dtype code");
}

}  // namespace

void cumulative(int dt, bool product, const Shape& shape, int axis, char* out, const Shape& out_strides,
                const char* x, const Shape& x_strides) {
    if (axis < 0 || axis >= static_cast<int>(shape.size())) throw std::invalid_argument("cumulative: bad axis");
    TS_DISPATCH_ALL(dt, {
        if (product)
            cumulative_typed<T, true>(shape, axis, reinterpret_cast<T*>(out), out_strides,
                                      reinterpret_cast<const T*>(x), x_strides);
        else
            cumulative_typed<T, false>(shape, axis, reinterpret_cast<T*>(out), out_strides,
                                       reinterpret_cast<const T*>(x), x_strides);
    });
}

int64_t count_nonzero(int dt, const Shape& shape, const char* x, const Shape& x_strides) {
    int64_t n = 0;
    TS_DISPATCH_ALL(dt, n = count_nonzero_typed<T>(shape, reinterpret_cast<const T*>(x), x_strides));
    return n;
}

int64_t nonzero(int dt, const Shape& shape, const char* x, const Shape& x_strides, int64_t* out, int64_t count) {
    int64_t n = 0;
    TS_DISPATCH_ALL(dt, n = nonzero_typed<T>(shape, reinterpret_cast<const T*>(x), x_strides, out, count));
    return n;
}

bool gather(int dt, const Shape& shape, char* out, const char* x, const Shape& x_strides,
            const std::vector<Index>& index) {
    return by_size(dt, [&](auto bits) {
        using B = decltype(bits);
        return gather_bits<B>(shape, reinterpret_cast<B*>(out), reinterpret_cast<const B*>(x), x_strides, index);
    });
}

bool put(int dt, const Shape& shape, char* out, const Shape& out_strides, const std::vector<Index>& index,
         const char* values, const Shape& values_strides) {
    return by_size(dt, [&](auto bits) {
        using B = decltype(bits);
        return put_bits<B>(shape, reinterpret_cast<B*>(out), out_strides, index, reinterpret_cast<const B*>(values),
                           values_strides);
    });
}

}  // namespace scan
}  // namespace ts
