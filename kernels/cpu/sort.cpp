// The cpu kernels of the sort family: sort, argsort (one stable row sort) and searchsorted (binary search).
//
// Note [Sort order]
// ~~~~~~~~~~~~~~~~~
// Every backend sorts by one total order, NumPy's: numbers ascending, -0.0 equal to +0.0, NaN greater than
// everything (+inf included) and equal to every other NaN.  Equal elements keep their original order in both
// directions: descending is the same order reversed with ties still in index order, so NaNs come first in a
// descending sort (the order array-api-strict's argsort gives; its sort flips an ascending sort, which matches ours
// but for the order of -0.0 and +0.0 among themselves, where only a stable sort keeps the input's).  searchsorted
// uses the same order, so x1 sorted by ts.sort is sorted for it (NaNs at the end, as NumPy's searchsorted expects).
//
// The order is computed on unsigned integer keys of the element's width (ordered_key): bool and uint8 as they are,
// signed integers with the sign bit flipped, floats by their IEEE bits (flipped whole when negative, sign bit set
// when not) after -0.0 becomes +0.0 and every NaN the all-ones key.  A descending sort takes ~key.  The OpenCL kernels
// (kernels/opencl/sort.cl) use the same keys.
#include "sort.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels.h"

namespace ts {
namespace sort {

using Shape = std::vector<int64_t>;

template <size_t N> struct unsigned_of;
template <> struct unsigned_of<1> { using type = uint8_t; };
template <> struct unsigned_of<2> { using type = uint16_t; };
template <> struct unsigned_of<4> { using type = uint32_t; };
template <> struct unsigned_of<8> { using type = uint64_t; };
template <class T> using key_t = typename unsigned_of<sizeof(T)>::type;

// The key of Note [Sort order]: a < b in the order exactly when ordered_key(a) < ordered_key(b).
template <class T>
inline key_t<T> ordered_key(T v) {
    using U = key_t<T>;
    constexpr U sign = U(U(1) << (8 * sizeof(T) - 1));
    if constexpr (std::is_same<T, bool>::value || std::is_unsigned<T>::value) {
        return static_cast<U>(v);
    } else if constexpr (std::is_integral<T>::value) {
        return static_cast<U>(static_cast<U>(v) ^ sign);
    } else {
        if (v != v) return static_cast<U>(~U(0));
        if (v == T(0)) v = T(0);  // -0.0 sorts with +0.0
        U bits;
        std::memcpy(&bits, &v, sizeof(T));
        return (bits & sign) ? static_cast<U>(~bits) : static_cast<U>(bits | sign);
    }
}

// The positions of the other dims of a row: row r's first element in x and in the contiguous output.
struct Rows {
    std::vector<int64_t> extent, x_stride, out_stride;

    Rows(const Shape& shape, const Shape& strides, int axis) {
        const int nd = static_cast<int>(shape.size());
        std::vector<int64_t> contiguous(nd, 1);
        for (int d = nd - 2; d >= 0; --d) contiguous[d] = contiguous[d + 1] * shape[d + 1];
        for (int d = 0; d < nd; ++d) {
            if (d == axis) continue;
            extent.push_back(shape[d]);
            x_stride.push_back(strides[d]);
            out_stride.push_back(contiguous[d]);
        }
    }

    void locate(int64_t r, int64_t& x_off, int64_t& out_off) const {
        x_off = out_off = 0;
        for (int d = static_cast<int>(extent.size()) - 1; d >= 0; --d) {
            const int64_t c = r % extent[d];
            r /= extent[d];
            x_off += c * x_stride[d];
            out_off += c * out_stride[d];
        }
    }
};

// One row: ``order`` receives the row's positions in sorted order.  Every method here is stable, so ties stay in
// position order: a counting sort for 1-byte keys (bool, int8, uint8); for wider keys a least-significant-digit radix
// sort of (key, position) over 8-bit digits (a pass whose digit is the same for every key is skipped), or, for short
// rows where its 256-bucket passes cost more than they save, a comparison sort of the (key, position) pairs.
template <class T>
class RowSorter {
  public:
    using U = key_t<T>;
    static constexpr int64_t kRadixFrom = 256;

    void run(const T* x, int64_t n, int64_t stride, bool descending, std::vector<int64_t>& order) {
        order.resize(n);
        if constexpr (sizeof(U) == 1) {
            int64_t count[257] = {0};
            for (int64_t j = 0; j < n; ++j) ++count[key(x[j * stride], descending) + 1];
            for (int k = 0; k < 256; ++k) count[k + 1] += count[k];
            for (int64_t j = 0; j < n; ++j) order[count[key(x[j * stride], descending)]++] = j;
        } else if (n < kRadixFrom) {
            pairs_.resize(n);
            for (int64_t j = 0; j < n; ++j) pairs_[j] = {key(x[j * stride], descending), j};
            // (key, position) pairs are all distinct, so any sort of them gives the stable order; std::sort
            // (no temporary buffer, unlike std::stable_sort) keeps many short rows cheap
            std::sort(pairs_.begin(), pairs_.end());
            for (int64_t j = 0; j < n; ++j) order[j] = pairs_[j].second;
        } else {
            radix(x, n, stride, descending, order);
        }
    }

  private:
    static U key(T v, bool descending) {
        const U k = ordered_key(v);
        return descending ? static_cast<U>(~k) : k;
    }

    void radix(const T* x, int64_t n, int64_t stride, bool descending, std::vector<int64_t>& order) {
        keys_.resize(n);
        other_keys_.resize(n);
        other_.resize(n);
        int64_t count[sizeof(U)][256] = {{0}};
        for (int64_t j = 0; j < n; ++j) {  // every digit's histogram in one read of the row
            const U k = key(x[j * stride], descending);
            keys_[j] = k;
            order[j] = j;
            for (size_t d = 0; d < sizeof(U); ++d) ++count[d][(k >> (8 * d)) & 0xff];
        }
        U* src_k = keys_.data();
        U* dst_k = other_keys_.data();
        int64_t* src_i = order.data();
        int64_t* dst_i = other_.data();
        for (size_t d = 0; d < sizeof(U); ++d) {
            int64_t* c = count[d];
            if (c[(src_k[0] >> (8 * d)) & 0xff] == n) continue;  // one bucket holds every key: nothing moves
            int64_t sum = 0;
            for (int b = 0; b < 256; ++b) {
                const int64_t here = c[b];
                c[b] = sum;
                sum += here;
            }
            for (int64_t j = 0; j < n; ++j) {
                const int64_t at = c[(src_k[j] >> (8 * d)) & 0xff]++;
                dst_k[at] = src_k[j];
                dst_i[at] = src_i[j];
            }
            std::swap(src_k, dst_k);
            std::swap(src_i, dst_i);
        }
        if (src_i != order.data()) std::copy(src_i, src_i + n, order.data());
    }

    std::vector<std::pair<U, int64_t>> pairs_;
    std::vector<U> keys_, other_keys_;
    std::vector<int64_t> other_;
};

template <class T>
void sort_typed(const Shape& shape, const T* x, const Shape& strides, int axis, bool descending, T* values,
                int64_t* indices) {
    const Rows rows(shape, strides, axis);
    const int64_t n = shape[axis], xs = strides[axis];
    int64_t inner = 1;
    for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
    int64_t count = 1;
    for (auto e : rows.extent) count *= e;
    // a row costs about n log n; the grain counts elements, so weigh each by its share of the row's work
    int64_t log_n = 1;
    while ((int64_t(1) << log_n) < n) ++log_n;
    parallel_rows(count, count * n * (sizeof(T) == 1 ? 1 : log_n), [&](int64_t begin, int64_t end) {
        RowSorter<T> sorter;  // per thread: its scratch is reused across the thread's rows
        std::vector<int64_t> order;
        for (int64_t r = begin; r < end; ++r) {
            int64_t x_off, out_off;
            rows.locate(r, x_off, out_off);
            const T* row = x + x_off;
            sorter.run(row, n, xs, descending, order);
            if (values) {
                T* out = values + out_off;
                for (int64_t j = 0; j < n; ++j) out[j * inner] = row[order[j] * xs];
            } else {
                int64_t* out = indices + out_off;
                for (int64_t j = 0; j < n; ++j) out[j * inner] = order[j];
            }
        }
    });
}

void sort(int dt, const Shape& shape, const char* x, const Shape& strides, int axis, bool descending, char* values,
          int64_t* indices) {
    TS_DISPATCH(dt, sort_typed<T>(shape, reinterpret_cast<const T*>(x), strides, axis, descending,
                                  reinterpret_cast<T*>(values), indices));
}

// -- searchsorted -------------------------------------------------------------------------------------------------

template <class T>
bool searchsorted_typed(const T* x1, int64_t n1, int64_t s1, const int64_t* sorter, int64_t ss, const Shape& shape,
                        const T* x2, const Shape& strides, bool right, int64_t* out) {
    using U = key_t<T>;
    Shape out_strides(shape.size(), 1);
    for (int d = static_cast<int>(shape.size()) - 2; d >= 0; --d) out_strides[d] = out_strides[d + 1] * shape[d + 1];
    const Shape* st[2] = {&out_strides, &strides};
    const int item[2] = {8, static_cast<int>(sizeof(T))};
    const Dims<2> d = make_dims<2>(shape, st, item);
    char* base[2] = {reinterpret_cast<char*>(out), reinterpret_cast<char*>(const_cast<T*>(x2))};
    std::atomic<bool> bad{false};
    const uint64_t n = static_cast<uint64_t>(n1);
    parallel_runs<2>(d, base, [&](char** p, int64_t count, const int64_t* s) {
        bool wrong = false;
        for (int64_t k = 0; k < count; ++k) {
            const U v = ordered_key(*reinterpret_cast<const T*>(p[1] + k * s[1]));
            int64_t lo = 0, hi = n1;
            while (lo < hi) {
                const int64_t mid = lo + (hi - lo) / 2;
                int64_t at = mid;
                if (sorter) {
                    at = sorter[mid * ss];
                    if (static_cast<uint64_t>(at) >= n) {  // never trusted: a bad index would read outside x1
                        wrong = true;
                        break;
                    }
                }
                const U key = ordered_key(x1[at * s1]);
                if (right ? key <= v : key < v) lo = mid + 1;
                else hi = mid;
            }
            *reinterpret_cast<int64_t*>(p[0] + k * s[0]) = lo;
        }
        if (wrong) bad.store(true, std::memory_order_relaxed);
    });
    return !bad.load();
}

bool searchsorted(int dt, const char* x1, int64_t n1, int64_t s1, const int64_t* sorter, int64_t ss,
                  const Shape& shape, const char* x2, const Shape& strides, bool right, int64_t* out) {
    bool ok = true;
    TS_DISPATCH(dt, ok = searchsorted_typed<T>(reinterpret_cast<const T*>(x1), n1, s1, sorter, ss, shape,
                                               reinterpret_cast<const T*>(x2), strides, right, out));
    return ok;
}

}  // namespace sort
}  // namespace ts
