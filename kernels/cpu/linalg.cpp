// The cpu kernels of the linalg family: each matrix of a batch is copied into a column-major scratch matrix (LAPACK's
// layout; the copy also takes any strides, broadcast batches included), handed to the LAPACK routine and copied back
// into the row-major output.  The copies cost O(n^2) against the routine's O(n^3).
//
// Note [LAPACK from scipy-openblas32]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The routines are the Fortran-ABI ones of scipy-openblas32 (``scipy_dgetrf_`` and friends, 32-bit integers), found
// by backends/cpu.py with ctypes and handed over here as addresses, as cblas_sgemm is for matmul: the module links
// against nothing, and runs without the package (linalg then says to install it).  Character arguments are followed
// by their hidden lengths (gfortran's convention, size_t each); a routine written in C ignores them.  OpenBLAS runs
// on one thread (Note [Matmul threads] in module.cpp), so a batch is split across our OpenMP threads, a matrix each,
// every thread with its own scratch; workspace sizes are asked for once per call (lwork = -1), not per matrix.
#include "linalg.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "loops.h"

namespace ts {
namespace linalg {
namespace {

std::atomic<uintptr_t> g_routines[2][kRoutines];

template <class T> using getrf_f = void (*)(const int*, const int*, T*, const int*, int*, int*);
template <class T> using getrs_f = void (*)(const char*, const int*, const int*, const T*, const int*, const int*, T*,
                                            const int*, int*, size_t);
template <class T> using potrf_f = void (*)(const char*, const int*, T*, const int*, int*, size_t);
template <class T> using geqrf_f = void (*)(const int*, const int*, T*, const int*, T*, T*, const int*, int*);
template <class T> using orgqr_f = void (*)(const int*, const int*, const int*, T*, const int*, const T*, T*,
                                            const int*, int*);
template <class T> using syevd_f = void (*)(const char*, const char*, const int*, T*, const int*, T*, T*, const int*,
                                            int*, const int*, int*, size_t, size_t);
template <class T> using gesdd_f = void (*)(const char*, const int*, const int*, T*, const int*, T*, T*, const int*,
                                            T*, const int*, T*, const int*, int*, int*, size_t);

template <class F, class T>
F routine(Routine r) {
    const uintptr_t a = g_routines[std::is_same<T, double>::value ? 1 : 0][r].load(std::memory_order_relaxed);
    if (!a) throw std::runtime_error(std::string("LAPACK routine ") + kRoutineNames[r] + " was not handed over");
    return reinterpret_cast<F>(a);
}

// LAPACK counts in 32-bit ints (scipy-openblas32): every extent must fit.
int as_int(int64_t v, const char* what) {
    if (v < 0 || v > std::numeric_limits<int>::max())
        throw std::invalid_argument(std::string("linalg: ") + what + " " + std::to_string(v) +
                                    " does not fit LAPACK's 32-bit integers");
    return static_cast<int>(v);
}

int64_t count_of(const Shape& batch) {
    int64_t n = 1;
    for (auto s : batch) n *= s;
    return n;
}

// The offset of matrix ``b`` (C order over ``batch``) in an operand with ``strides`` along the batch dims.
int64_t batch_offset(int64_t b, const Shape& batch, const Shape& strides) {
    int64_t off = 0;
    for (int d = static_cast<int>(batch.size()) - 1; d >= 0; --d) {
        const int64_t i = b % batch[d];
        b /= batch[d];
        off += i * strides[d];
    }
    return off;
}

template <class T>
const T* matrix(const Operand& x, int64_t b, const Shape& batch) {
    return reinterpret_cast<const T*>(x.data) + batch_offset(b, batch, x.batch_strides);
}

// rows x cols of src (strides rs, cs) into column-major dst with leading dimension ld.
template <class T>
void load(T* dst, int64_t ld, int64_t rows, int64_t cols, const T* src, int64_t rs, int64_t cs) {
    for (int64_t j = 0; j < cols; ++j)
        for (int64_t i = 0; i < rows; ++i) dst[i + j * ld] = src[i * rs + j * cs];
}

// Column-major src (leading dimension ld) into the contiguous row-major rows x cols out.
template <class T>
void store(T* out, int64_t rows, int64_t cols, const T* src, int64_t ld) {
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) out[i * cols + j] = src[i + j * ld];
}

template <class T>
void fill_nan(T* p, int64_t n) {
    std::fill(p, p + n, std::numeric_limits<T>::quiet_NaN());
}

// A workspace size as LAPACK reports it (a float holding an int), with room to spare for its rounding.
int workspace(double reported) { return std::max(1, static_cast<int>(reported) + 1); }

// Runs body(b, scratch) for every matrix b of the batch, on several threads when the batch holds several matrices
// and enough work (``work``: about the flops of one matrix); a LAPACK info < 0 (a bad argument: our bug) that a body
// returns is raised once the loop is done.
template <class Scratch, class Body>
void each_matrix(const Shape& batch, double work, const char* what, Body&& body) {
    const int64_t count = count_of(batch);
    const double total = work * static_cast<double>(count);
    int threads = 1;
    if (count > 1 && total >= static_cast<double>(grain()) * 32)
        threads = static_cast<int>(std::min<int64_t>(max_threads(), count));
    std::atomic<int> bad{0};
#pragma omp parallel num_threads(threads)
    {
        Scratch scratch;
#pragma omp for schedule(dynamic)
        for (int64_t b = 0; b < count; ++b) {
            const int info = body(b, scratch);
            if (info < 0) bad.store(info, std::memory_order_relaxed);
        }
    }
    if (bad.load())
        throw std::runtime_error(std::string("linalg: LAPACK's ") + what + " refused argument " +
                                 std::to_string(-bad.load()) + " (a bug of tensorswitch's cpu backend)");
}

template <class T>
struct Scratch {
    std::vector<T> a, b, tau, work;
    std::vector<int> ipiv, iwork;
};

// -- the kernels ------------------------------------------------------------------------------------------------

template <class T>
void cholesky_typed(const Shape& batch, int64_t n, const Operand& x, T* out, bool upper) {
    const int N = as_int(n, "the order");
    auto potrf = routine<potrf_f<T>, T>(kPotrf);
    const int ld = std::max(1, N);
    each_matrix<Scratch<T>>(batch, double(n) * n * n / 3, "potrf", [&](int64_t b, Scratch<T>& s) {
        s.a.resize(size_t(n) * n);
        load(s.a.data(), n, n, n, matrix<T>(x, b, batch), x.rs, x.cs);
        int info = 0;
        potrf("L", &N, s.a.data(), &ld, &info, 1);
        T* o = out + b * n * n;
        if (info > 0) {
            fill_nan(o, n * n);
            return 0;
        }
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j) {
                // the factor L lives on and below the diagonal of the column-major scratch
                const int64_t r = upper ? j : i, c = upper ? i : j;
                o[i * n + j] = r >= c ? s.a[r + c * n] : T(0);
            }
        return info;
    });
}

template <class T>
void lu_typed(const Shape& batch, int64_t n, const Operand& x, T* out, int64_t* pivots) {
    const int N = as_int(n, "the order");
    auto getrf = routine<getrf_f<T>, T>(kGetrf);
    const int ld = std::max(1, N);
    each_matrix<Scratch<T>>(batch, 2.0 * n * n * n / 3, "getrf", [&](int64_t b, Scratch<T>& s) {
        s.a.resize(size_t(n) * n);
        s.ipiv.resize(size_t(n));
        load(s.a.data(), n, n, n, matrix<T>(x, b, batch), x.rs, x.cs);
        int info = 0;
        getrf(&N, &N, s.a.data(), &ld, s.ipiv.data(), &info);  // info > 0: singular, factored all the same
        store(out + b * n * n, n, n, s.a.data(), n);
        for (int64_t i = 0; i < n; ++i) pivots[b * n + i] = s.ipiv[i] - 1;
        return std::min(info, 0);
    });
}

template <class T>
void lu_solve_typed(const Shape& batch, int64_t n, int64_t k, const Operand& lu, const Operand& piv, const Operand& rhs,
                    T* out) {
    const int N = as_int(n, "the order"), K = as_int(k, "the number of right-hand sides");
    auto getrs = routine<getrs_f<T>, T>(kGetrs);
    const int ld = std::max(1, N);
    std::atomic<bool> bad_pivot{false};
    each_matrix<Scratch<T>>(batch, 2.0 * n * n * k + double(n) * n, "getrs", [&](int64_t b, Scratch<T>& s) {
        s.a.resize(size_t(n) * n);
        s.b.resize(size_t(n) * k);
        s.ipiv.resize(size_t(n));
        load(s.a.data(), n, n, n, matrix<T>(lu, b, batch), lu.rs, lu.cs);
        const int64_t* p = reinterpret_cast<const int64_t*>(piv.data) + batch_offset(b, batch, piv.batch_strides);
        for (int64_t i = 0; i < n; ++i) {
            const int64_t v = p[i * piv.rs];
            if (v < 0 || v >= n) {  // getrs would swap with a row outside the matrix
                bad_pivot.store(true);
                fill_nan(out + b * n * k, n * k);
                return 0;
            }
            s.ipiv[i] = static_cast<int>(v) + 1;
        }
        load(s.b.data(), n, n, k, matrix<T>(rhs, b, batch), rhs.rs, rhs.cs);
        int info = 0;
        getrs("N", &N, &K, s.a.data(), &ld, s.ipiv.data(), s.b.data(), &ld, &info, 1);
        store(out + b * n * k, n, k, s.b.data(), n);
        return info;
    });
    if (bad_pivot.load()) throw std::out_of_range("lu_solve: a pivot lies outside [0, n)");
}

template <class T>
void qr_typed(const Shape& batch, int64_t m, int64_t n, int64_t kq, const Operand& x, T* q, T* r) {
    const int M = as_int(m, "the row count"), N = as_int(n, "the column count"), KQ = as_int(kq, "Q's width");
    const int K = std::min(M, N), ld = std::max(1, M);
    auto geqrf = routine<geqrf_f<T>, T>(kGeqrf);
    auto orgqr = routine<orgqr_f<T>, T>(kOrgqr);
    int lwork = 1;
    {  // the workspace both routines want, asked once
        T query = 0, dummy = 0;
        int info = 0, minus = -1;
        geqrf(&M, &N, &dummy, &ld, &dummy, &query, &minus, &info);
        lwork = std::max(lwork, workspace(double(query)));
        orgqr(&M, &KQ, &K, &dummy, &ld, &dummy, &query, &minus, &info);
        lwork = std::max(lwork, workspace(double(query)));
    }
    each_matrix<Scratch<T>>(batch, 4.0 * m * n * std::max(kq, n), "geqrf/orgqr", [&](int64_t b, Scratch<T>& s) {
        s.a.assign(size_t(std::max<int64_t>(m * std::max(n, kq), 1)), T(0));  // room for Q's kq columns too
        s.tau.resize(size_t(std::max(K, 1)));
        s.work.resize(size_t(lwork));
        load(s.a.data(), m, m, n, matrix<T>(x, b, batch), x.rs, x.cs);
        int info = 0;
        geqrf(&M, &N, s.a.data(), &ld, s.tau.data(), s.work.data(), &lwork, &info);
        if (info < 0) return info;
        T* ro = r + b * kq * n;
        for (int64_t i = 0; i < kq; ++i)
            for (int64_t j = 0; j < n; ++j) ro[i * n + j] = j >= i ? s.a[i + j * m] : T(0);
        // Q: the reflectors sit in the first K columns; orgqr turns them (and kq - K zero columns) into Q's columns
        std::fill(s.a.begin() + K * m, s.a.end(), T(0));
        orgqr(&M, &KQ, &K, s.a.data(), &ld, s.tau.data(), s.work.data(), &lwork, &info);
        store(q + b * m * kq, m, kq, s.a.data(), m);
        return info;
    });
}

template <class T>
void eigh_typed(const Shape& batch, int64_t n, const Operand& x, T* w, T* v) {
    const int N = as_int(n, "the order"), ld = std::max(1, N);
    auto syevd = routine<syevd_f<T>, T>(kSyevd);
    const char* jobz = v ? "V" : "N";
    int lwork = 1, liwork = 1;
    {
        T query = 0, dummy = 0;
        int iquery = 0, info = 0, minus = -1;
        syevd(jobz, "L", &N, &dummy, &ld, &dummy, &query, &minus, &iquery, &minus, &info, 1, 1);
        lwork = workspace(double(query));
        liwork = std::max(1, iquery);
    }
    each_matrix<Scratch<T>>(batch, 9.0 * n * n * n, "syevd", [&](int64_t b, Scratch<T>& s) {
        s.a.resize(size_t(n) * n);
        s.work.resize(size_t(lwork));
        s.iwork.resize(size_t(liwork));
        load(s.a.data(), n, n, n, matrix<T>(x, b, batch), x.rs, x.cs);
        int info = 0;
        T* wo = w + b * n;
        syevd(jobz, "L", &N, s.a.data(), &ld, wo, s.work.data(), &lwork, s.iwork.data(), &liwork, &info, 1, 1);
        if (info > 0) {  // no convergence
            fill_nan(wo, n);
            if (v) fill_nan(v + b * n * n, n * n);
            return 0;
        }
        if (v) store(v + b * n * n, n, n, s.a.data(), n);
        return info;
    });
}

template <class T>
void svd_typed(const Shape& batch, int64_t m, int64_t n, int64_t ku, int64_t kv, const Operand& x, T* s_out, T* u,
               T* vh) {
    const int M = as_int(m, "the row count"), N = as_int(n, "the column count");
    const int K = std::min(M, N), ld = std::max(1, M);
    const bool vectors = u != nullptr;
    const bool full = vectors && (ku > K || kv > K);
    const char* jobz = !vectors ? "N" : (full ? "A" : "S");
    const int ldu = vectors ? ld : 1, ldvt = vectors ? std::max<int>(1, as_int(kv, "Vh's height")) : 1;
    auto gesdd = routine<gesdd_f<T>, T>(kGesdd);
    int lwork = 1;
    {
        T query = 0, dummy = 0;
        int idummy = 0, info = 0, minus = -1;
        gesdd(jobz, &M, &N, &dummy, &ld, &dummy, &dummy, &ldu, &dummy, &ldvt, &query, &minus, &idummy, &info, 1);
        lwork = workspace(double(query));
    }
    each_matrix<Scratch<T>>(batch, 8.0 * m * n * std::max(m, n), "gesdd", [&](int64_t b, Scratch<T>& s) {
        s.a.resize(size_t(std::max<int64_t>(m * n, 1)));
        s.tau.resize(size_t(vectors ? std::max<int64_t>(m * ku, 1) : 1));   // U, column-major (ld m)
        s.b.resize(size_t(vectors ? std::max<int64_t>(kv * n, 1) : 1));     // V^T, column-major (ld kv)
        s.work.resize(size_t(lwork));
        s.iwork.resize(size_t(8 * std::max(K, 1)));
        load(s.a.data(), m, m, n, matrix<T>(x, b, batch), x.rs, x.cs);
        int info = 0;
        T* so = s_out + b * K;
        // a NaN or inf entry: gesdd refuses the matrix (an "illegal" argument); the contract's answer is NaN, as
        // for no convergence and as eigh (and the opencl kernels) give
        bool finite = true;
        for (int64_t i = 0; i < m * n && finite; ++i) finite = std::isfinite(s.a[size_t(i)]);
        if (!finite) info = 1;
        else gesdd(jobz, &M, &N, s.a.data(), &ld, so, s.tau.data(), &ldu, s.b.data(), &ldvt, s.work.data(), &lwork,
              s.iwork.data(), &info, 1);
        if (info > 0) {  // no convergence
            fill_nan(so, K);
            if (vectors) {
                fill_nan(u + b * m * ku, m * ku);
                fill_nan(vh + b * kv * n, kv * n);
            }
            return 0;
        }
        if (vectors) {
            store(u + b * m * ku, m, ku, s.tau.data(), m);
            store(vh + b * kv * n, kv, n, s.b.data(), kv);
        }
        return info;
    });
}

template <class Fn>
void on_float(int dt, Fn&& fn) {
    if (dt == 7) fn(float());
    else if (dt == 8) fn(double());
    else throw std::invalid_argument("linalg: the cpu kernels take float32 or float64 (dtype code " +
                                     std::to_string(dt) + ")");
}

}  // namespace

void set_lapack(int r, bool is_double, uintptr_t address) {
    if (r < 0 || r >= kRoutines) throw std::invalid_argument("set_lapack: unknown routine " + std::to_string(r));
    g_routines[is_double ? 1 : 0][r].store(address, std::memory_order_relaxed);
}

bool has_lapack() {
    for (auto& precision : g_routines)
        for (auto& a : precision)
            if (!a.load(std::memory_order_relaxed)) return false;
    return true;
}

void cholesky(int dt, const Shape& batch, int64_t n, const Operand& x, char* out, bool upper) {
    on_float(dt, [&](auto t) {
        using T = decltype(t);
        cholesky_typed<T>(batch, n, x, reinterpret_cast<T*>(out), upper);
    });
}

void lu(int dt, const Shape& batch, int64_t n, const Operand& x, char* out, int64_t* pivots) {
    on_float(dt, [&](auto t) {
        using T = decltype(t);
        lu_typed<T>(batch, n, x, reinterpret_cast<T*>(out), pivots);
    });
}

void lu_solve(int dt, const Shape& batch, int64_t n, int64_t k, const Operand& lu, const Operand& pivots,
              const Operand& b, char* out) {
    on_float(dt, [&](auto t) {
        using T = decltype(t);
        lu_solve_typed<T>(batch, n, k, lu, pivots, b, reinterpret_cast<T*>(out));
    });
}

void qr(int dt, const Shape& batch, int64_t m, int64_t n, int64_t kq, const Operand& x, char* q, char* r) {
    on_float(dt, [&](auto t) {
        using T = decltype(t);
        qr_typed<T>(batch, m, n, kq, x, reinterpret_cast<T*>(q), reinterpret_cast<T*>(r));
    });
}

void eigh(int dt, const Shape& batch, int64_t n, const Operand& x, char* w, char* v) {
    on_float(dt, [&](auto t) {
        using T = decltype(t);
        eigh_typed<T>(batch, n, x, reinterpret_cast<T*>(w), reinterpret_cast<T*>(v));
    });
}

void svd(int dt, const Shape& batch, int64_t m, int64_t n, int64_t ku, int64_t kv, const Operand& x, char* s,
         char* u, char* vh) {
    on_float(dt, [&](auto t) {
        using T = decltype(t);
        svd_typed<T>(batch, m, n, ku, kv, x, reinterpret_cast<T*>(s), reinterpret_cast<T*>(u),
                     reinterpret_cast<T*>(vh));
    });
}

}  // namespace linalg
}  // namespace ts
