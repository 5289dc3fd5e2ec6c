// Strided iteration shared by every cpu kernel: coalesce dims, split the flat index range across the pool's threads,
// and hand each thread runs along the innermost dimension.  Byte strides throughout, so loops are dtype-agnostic.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "pool.h"

// Note [Runtime ISA dispatch]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The module is compiled for its architecture's baseline (x86-64: SSE2), so that one build runs on every machine of
// that architecture.  The hot loops - the contiguous runs of the elementwise ops and casts, the reductions' contiguous
// runs, softmax's rows - are marked TS_HOT.  With GCC on x86-64 Linux that is GCC's function multi-versioning
// (target_clones): each such function is compiled three times, for x86-64-v4 (AVX-512), x86-64-v3 (AVX2, FMA, F16C)
// and the baseline, and glibc's loader picks one per function from cpuid when the module loads (an ifunc), so a call
// costs what it did.  isa() names the level that was picked (ts.info() shows it).  Other architectures and compilers,
// and a build with -DTS_ISA_DISPATCH=OFF (to test the baseline loops on a newer CPU), get TS_HOT empty: one baseline
// version, as before.
// Every level computes the same bits: the module is built with -ffp-contract=off, so the clones that have FMA do not
// fuse a * b + c, and the loops fix their own lane counts (a float sum keeps 32 partial sums whatever the register
// width), so only the instructions differ.  The exception is libmvec (Note [Vector math] in kernels.h), whose
// SSE, AVX2 and AVX-512 variants of expf and friends may differ in the last bit.
// A TS_HOT function is never inlined into its caller (the loader picks it): give it a whole run, not one element.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__ELF__) && defined(__GLIBC__) && \
    !defined(TS_NO_ISA_DISPATCH)
#define TS_ISA_CLONES 1
#define TS_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TS_ISA_CLONES 0
#define TS_HOT
#endif

namespace ts {

// The instruction set level whose clones of the TS_HOT loops run (Note [Runtime ISA dispatch]): the test the ifunc
// resolvers make.
inline const char* isa() {
#if TS_ISA_CLONES
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return "x86-64-v4 (AVX-512)";
    if (__builtin_cpu_supports("x86-64-v3")) return "x86-64-v3 (AVX2, FMA)";
    return "x86-64 (SSE2)";
#else
    return "baseline";
#endif
}

// Whether the module has clones for several levels (false: one build for the baseline).
constexpr bool isa_dispatch() { return TS_ISA_CLONES != 0; }

constexpr int kMaxDims = 32;

// Below grain() elements a loop stays on one thread: handing work to the pool's workers costs more than the work.  Runtime
// settings (module.cpp sets them from TENSORSWITCH_CPU_GRAIN and OMP_NUM_THREADS at import, and from set_grain() and
// set_num_threads()); relaxed atomics, so that a setting made on one Python thread reaches kernels on every other.
inline std::atomic<int64_t> g_grain{32768};
// A parallel loop splits into this many pieces per thread, claimed by whichever thread is free (Note [Thread pool]):
// a thread that another process has descheduled leaves its pieces to the others.
constexpr int64_t kPiecesPerThread = 4;
inline std::atomic<int> g_threads{1};

inline int64_t grain() { return g_grain.load(std::memory_order_relaxed); }

// The threads a parallel loop may use (the caller and the pool's workers), whichever Python thread calls the kernel.
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
    // Note [Elementwise dimension order]: put the dims in the order operand 0 (the output) walks its memory, its
    // largest stride first (a stable sort, so ties keep C order), for loops whose elements are independent.  When
    // every operand shares one permuted dense layout (a.T + a.T, whose result follows a's layout), coalesce() then
    // merges them all into one contiguous run.  Not for loops that depend on the C order of flat indices (argmax).
    void reorder_by_output() {
        for (int i = 1; i < nd; ++i) {
            int j = i;
            while (j > 0 && magnitude(st[0][j - 1]) < magnitude(st[0][j])) {
                std::swap(shape[j - 1], shape[j]);
                for (int k = 0; k < N; ++k) std::swap(st[k][j - 1], st[k][j]);
                --j;
            }
        }
    }

    static int64_t magnitude(int64_t s) { return s < 0 ? -s : s; }

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
Dims<N> make_dims(const std::vector<int64_t>& shape, const std::vector<int64_t>* strides[N], const int itemsize[N],
                  bool by_output = false) {
    Dims<N> d;
    if (shape.size() > static_cast<size_t>(kMaxDims)) throw std::invalid_argument("tensors have at most 32 dims");
    d.nd = static_cast<int>(shape.size());
    for (int i = 0; i < d.nd; ++i) {
        d.shape[i] = shape[i];
        for (int k = 0; k < N; ++k) d.st[k][i] = (*strides[k])[i] * itemsize[k];
    }
    if (by_output) d.reorder_by_output();
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

// Note [Tiled traversal]
// ~~~~~~~~~~~~~~~~~~~~~~
// Runs go along the innermost dimension, which is right when every operand is contiguous there.  When one walks
// across it instead (a.T + b, a transposed copy), each of its elements in a run lies in another cache line, and by the
// time the next row comes back to those lines they have left the cache: every element costs a line from memory.
// Then the last two dimensions are walked in tiles of kTile x kTile elements, row by row within a tile: the lines the
// crossing operand touches in a tile (kTile columns of kTile elements) stay in L1 until the tile is done.  Only past
// kTileColumns columns, though: below that the lines of one row (64 bytes a column) stay in L2 until the next row
// comes back to them, and the plain walk was as fast or faster.  Measured on a 2-core EPYC, a.T + a.T of floats:
// 1000 x 1000 1.6 ms plain, 2.0 ms tiled; 1500 x 1500 11.8 and 4.5 ms; 4000 x 4000 268 and 66 ms.  Tiles are
// visited in C order and each element exactly once; the callers never depend on the order of runs (argmax, which
// does, walks for_each_run itself).
constexpr int64_t kTile = 32;
constexpr int64_t kTileColumns = 1024;

template <int N>
bool wants_tiles(const Dims<N>& d) {
    if (d.nd < 2 || d.shape[d.nd - 1] <= kTileColumns || d.shape[d.nd - 2] < kTile / 2) return false;
    for (int k = 0; k < N; ++k) {
        const int64_t inner = d.st[k][d.nd - 1] < 0 ? -d.st[k][d.nd - 1] : d.st[k][d.nd - 1];
        const int64_t rows = d.st[k][d.nd - 2] < 0 ? -d.st[k][d.nd - 2] : d.st[k][d.nd - 2];
        if (inner >= 64 && rows < inner) return true;  // a cache line or more between neighbours of a run
    }
    return false;
}

// Calls inner(ptrs, n, inner_strides) for the rows of tiles [begin, end) (Note [Tiled traversal]).
template <int N, class Inner>
void for_each_tile(const Dims<N>& d, char* const base[N], int64_t begin, int64_t end, Inner&& inner) {
    const int r_dim = d.nd - 2, c_dim = d.nd - 1;
    const int64_t rows = d.shape[r_dim], cols = d.shape[c_dim];
    const int64_t tr = (rows + kTile - 1) / kTile, tc = (cols + kTile - 1) / kTile, per_plane = tr * tc;
    int64_t inner_st[N];
    for (int k = 0; k < N; ++k) inner_st[k] = d.st[k][c_dim];
    for (int64_t t = begin; t < end; ++t) {
        int64_t plane = t / per_plane;
        const int64_t ti = (t % per_plane) / tc, tj = t % tc;
        char* p[N];
        for (int k = 0; k < N; ++k) p[k] = base[k] + ti * kTile * d.st[k][r_dim] + tj * kTile * d.st[k][c_dim];
        for (int i = r_dim - 1; i >= 0; --i) {
            const int64_t idx = plane % d.shape[i];
            plane /= d.shape[i];
            for (int k = 0; k < N; ++k) p[k] += idx * d.st[k][i];
        }
        const int64_t nr = std::min(kTile, rows - ti * kTile), nc = std::min(kTile, cols - tj * kTile);
        for (int64_t r = 0; r < nr; ++r) {
            inner(p, nc, inner_st);
            for (int k = 0; k < N; ++k) p[k] += d.st[k][r_dim];
        }
    }
}

// The threads for ``work`` elements of cheap work: one below grain(), else one per started grain (PyTorch's
// parallel_for rule: 64K floats, two grains' worth less a little, take two threads, not one), at most max_threads().
inline int threads_for(int64_t work) {
    const int64_t g = grain();
    if (work < g) return 1;
    return static_cast<int>(std::min<int64_t>(max_threads(), (work + g - 1) / g));
}

// Splits the flat range (or the tiles, Note [Tiled traversal]) across threads; one thread below grain() elements,
// each weighing ``cost`` cheap elements (Note [Elementwise grain] in kernels.h).
template <int N, class Inner>
void parallel_runs(const Dims<N>& d, char* const base[N], Inner&& inner, int64_t cost = 1) {
    const int64_t total = d.numel();
    const int threads = threads_for(total * cost);
    const bool tiles = wants_tiles(d);
    int64_t items = total;
    if (tiles) {
        const int64_t rows = d.shape[d.nd - 2], cols = d.shape[d.nd - 1];
        items = total / (rows * cols) * ((rows + kTile - 1) / kTile) * ((cols + kTile - 1) / kTile);
    }
    auto range = [&](int64_t begin, int64_t end) {
        if (tiles) for_each_tile<N>(d, base, begin, end, inner);
        else for_each_run<N>(d, base, begin, end, inner);
    };
    parallel_pieces(items, threads, static_cast<int64_t>(threads) * kPiecesPerThread, range);
}

// body(begin, end) over [0, rows) split in contiguous pieces across threads; one thread below grain() elements of
// ``work`` (the elements all the rows touch: a row of pooling windows does more than one element's work).
template <class Body>
void parallel_rows(int64_t rows, int64_t work, Body&& body) {
    const int threads = static_cast<int>(std::min<int64_t>(threads_for(work), rows));
    parallel_pieces(rows, threads, static_cast<int64_t>(threads) * kPiecesPerThread, body);
}

// A flat loop over [0, n) split across threads in contiguous chunks.
template <class Body>
void parallel_chunks(int64_t n, Body&& body) {
    parallel_rows(n, n, static_cast<Body&&>(body));
}

}  // namespace ts
