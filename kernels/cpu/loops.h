// Strided iteration shared by every cpu kernel: coalesce dims, split the flat index range across OpenMP threads,
// and hand each thread runs along the innermost dimension.  Byte strides throughout, so loops are dtype-agnostic.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ts {

constexpr int kMaxDims = 32;

// Below grain() elements a loop stays on one thread: waking OpenMP workers costs more than the work.  Runtime
// settings (module.cpp sets them from TENSORSWITCH_CPU_GRAIN and OMP_NUM_THREADS at import, and from set_grain() and
// set_num_threads()); relaxed atomics, so that a setting made on one Python thread reaches kernels on every other.
inline std::atomic<int64_t> g_grain{32768};
inline std::atomic<int> g_threads{1};

inline int64_t grain() { return g_grain.load(std::memory_order_relaxed); }

// The threads a parallel loop may use.  Every parallel region names it (num_threads), because omp_set_num_threads
// only sets the calling thread's default and kernels run on whichever Python thread calls them.
inline int max_threads() { return g_threads.load(std::memory_order_relaxed); }

// N operands over one shape; st[k][d] is operand k's byte stride along dim d.
template <int N>
struct Dims {
    int nd = 0;
    int64_t shape[kMaxDims];
    int64_t st[N][kMaxDims];

    int64_t numel() const {
        int64_t n = 1;
        for (int d = 0; d < nd; ++d) n *= shape[d];
        return n;
    }

    // Drop size-1 dims and merge neighbours that every operand walks as one (keeps C order, so flat indices are
    // unchanged: argmax relies on that).
    void coalesce() {
        int out = 0;
        for (int d = 0; d < nd; ++d) {
            if (shape[d] == 1) continue;
            if (out > 0) {
                bool merge = true;
                for (int k = 0; k < N; ++k)
                    if (st[k][out - 1] != st[k][d] * shape[d]) merge = false;
                if (merge) {
                    shape[out - 1] *= shape[d];
                    for (int k = 0; k < N; ++k) st[k][out - 1] = st[k][d];
                    continue;
                }
            }
            shape[out] = shape[d];
            for (int k = 0; k < N; ++k) st[k][out] = st[k][d];
            ++out;
        }
        nd = out;
        if (nd == 0) {  // a single element
            nd = 1;
            shape[0] = 1;
            for (int k = 0; k < N; ++k) st[k][0] = 0;
        }
    }
};

template <int N>
Dims<N> make_dims(const std::vector<int64_t>& shape, const std::vector<int64_t>* strides[N], const int itemsize[N]) {
    Dims<N> d;
    if (shape.size() > static_cast<size_t>(kMaxDims)) throw std::invalid_argument("tensors have at most 32 dims");
    d.nd = static_cast<int>(shape.size());
    for (int i = 0; i < d.nd; ++i) {
        d.shape[i] = shape[i];
        for (int k = 0; k < N; ++k) d.st[k][i] = (*strides[k])[i] * itemsize[k];
    }
    d.coalesce();
    return d;
}

// Calls inner(ptrs, n, inner_strides) for each run of the flat range [begin, end).
template <int N, class Inner>
void for_each_run(const Dims<N>& d, char* const base[N], int64_t begin, int64_t end, Inner&& inner) {
    if (begin >= end) return;
    int64_t idx[kMaxDims];
    char* p[N];
    int64_t rem = begin;
    for (int k = 0; k < N; ++k) p[k] = base[k];
    for (int i = d.nd - 1; i >= 0; --i) {
        idx[i] = rem % d.shape[i];
        rem /= d.shape[i];
        for (int k = 0; k < N; ++k) p[k] += idx[i] * d.st[k][i];
    }
    const int last = d.nd - 1;
    int64_t inner_st[N];
    for (int k = 0; k < N; ++k) inner_st[k] = d.st[k][last];
    int64_t pos = begin;
    while (pos < end) {
        int64_t n = std::min(d.shape[last] - idx[last], end - pos);
        inner(p, n, inner_st);
        pos += n;
        idx[last] += n;
        for (int k = 0; k < N; ++k) p[k] += n * d.st[k][last];
        for (int i = last; i > 0 && idx[i] == d.shape[i]; --i) {
            idx[i] = 0;
            ++idx[i - 1];
            for (int k = 0; k < N; ++k) p[k] += d.st[k][i - 1] - d.shape[i] * d.st[k][i];
        }
    }
}

// Splits the flat range across threads (one thread below grain() elements).
template <int N, class Inner>
void parallel_runs(const Dims<N>& d, char* const base[N], Inner&& inner) {
    const int64_t total = d.numel();
    const int threads = static_cast<int>(std::min<int64_t>(max_threads(), std::max<int64_t>(1, total / grain())));
    if (threads <= 1) {
        for_each_run<N>(d, base, 0, total, inner);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
#ifdef _OPENMP
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
        const int t = 0, nt = 1;
#endif
        const int64_t chunk = (total + nt - 1) / nt;
        for_each_run<N>(d, base, t * chunk, std::min(total, (t + 1) * chunk), inner);
    }
}

// body(begin, end) over [0, rows) split in contiguous chunks across threads; one thread below grain() elements of
// ``work`` (the elements all the rows touch: a row of pooling windows does more than one element's work).
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

// A flat loop over [0, n) split across threads in contiguous chunks.
template <class Body>
void parallel_chunks(int64_t n, Body&& body) {
    parallel_rows(n, n, static_cast<Body&&>(body));
}

}  // namespace ts
