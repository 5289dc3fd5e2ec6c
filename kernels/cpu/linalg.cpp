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
// on one thread (Note [Matmul threads] in module.cpp), so a batch is split across our threads in runs of matrices,
// each run with its own scratch; workspace sizes are asked for once per call (lwork = -1), not per matrix.
//
// Note [Complex LAPACK]
// ~~~~~~~~~~~~~~~~~~~~~
// complex64 and complex128 run the c and z routines (std::complex<float/double> has Fortran's COMPLEX layout, real
// part first) through the same templates as float and double: T is the element type, real_t<T> its part's type.
// Three routines differ from the real ones: orgqr is ungqr (Q unitary), syevd is heevd (Hermitian; it takes a real
// rwork whose size the lwork = -1 query reports too) and gesdd takes a real rwork that the query does not report
// (its size is the documented minimum, LAPACK 3.6's larger one for jobz = 'N').  The eigenvalues and singular values
// are real (real_t<T>), the factors complex; cholesky's upper factor is L^H, the conjugate transpose.
#include "linalg.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <complex>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "loops.h"

namespace ts {
namespace linalg {
namespace {

std::atomic<uintptr_t> g_routines[kPrecisions][kRoutines];

template <class T> struct real_of { using type = T; };
template <class R> struct real_of<std::complex<R>> { using type = R; };
template <class T> using real_t = typename real_of<T>::type;
template <class T> constexpr bool is_complex_v = !std::is_same<T, real_t<T>>::value;

// The precision's index in g_routines: LAPACK's prefix letter s, d, c or z (kPrecisionLetters).
template <class T>
constexpr int precision_of() {
    return (is_complex_v<T> ? 2 : 0) + (std::is_same<real_t<T>, double>::value ? 1 : 0);
}

template <class T> T conj_of(T v) {
    if constexpr (is_complex_v<T>) return std::conj(v);
    else return v;
}

template <class T> bool finite(T v) {
    if constexpr (is_complex_v<T>) return std::isfinite(v.real()) && std::isfinite(v.imag());
    else return std::isfinite(v);
}

// A workspace size as LAPACK reports it in work[0] (a float holding an int; the real part of a complex one).
template <class T> double reported(T v) { return double(std::real(v)); }

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
// the complex ones that take a real rwork (R = real_t<T>): heevd (syevd's place) and gesdd
template <class T, class R = real_t<T>>
using heevd_f = void (*)(const char*, const char*, const int*, T*, const int*, R*, T*, const int*, R*, const int*, int*,
                         const int*, int*, size_t, size_t);
template <class T, class R = real_t<T>>
using cgesdd_f = void (*)(const char*, const int*, const int*, T*, const int*, R*, T*, const int*, T*, const int*, T*,
                          const int*, R*, int*, int*, size_t);

template <class F, class T>
F routine(Routine r) {
    const uintptr_t a = g_routines[precision_of<T>()][r].load(std::memory_order_relaxed);
    if (!a) throw std::runtime_error("LAPACK routine " + symbol(r, precision_of<T>()) + " was not handed over");
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
    const real_t<T> nan = std::numeric_limits<real_t<T>>::quiet_NaN();
    if constexpr (is_complex_v<T>) std::fill(p, p + n, T(nan, nan));
    else std::fill(p, p + n, nan);
}

// A workspace size as LAPACK reports it (a float holding an int), with room to spare for its rounding.
int workspace(double reported) { return std::max(1, static_cast<int>(reported) + 1); }

// The real workspace of complex gesdd (LAPACK's documented minimum; 3.6 and earlier want 7 mn for jobz = 'N').
int gesdd_rwork(int64_t m, int64_t n, bool vectors) {
    const int64_t mn = std::min(m, n), mx = std::max(m, n);
    const int64_t size = vectors ? std::max(5 * mn * mn + 5 * mn, 2 * mx * mn + 2 * mn * mn + mn) : 7 * mn;
    return as_int(std::max<int64_t>(size, 1), "gesdd's real workspace");
}

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
    parallel_pieces(count, threads, threads * kPiecesPerThread, [&](int64_t b0, int64_t b1) {
        Scratch scratch;  // grown by the first matrix of the piece, reused by the rest
        for (int64_t b = b0; b < b1; ++b) {
            const int info = body(b, scratch);
            if (info < 0) bad.store(info, std::memory_order_relaxed);
        }
    });
    if (bad.load())
        throw std::runtime_error(std::string("linalg: LAPACK's ") + what + " refused argument " +
                                 std::to_string(-bad.load()) + " (a bug of tensorswitch's cpu backend)");
}

template <class T>
struct Scratch {
    std::vector<T> a, b, tau, work;
    std::vector<real_t<T>> rwork;  // complex heevd and gesdd only
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
                // the factor L lives on and below the diagonal of the column-major scratch; U = L^H
                const int64_t r = upper ? j : i, c = upper ? i : j;
                o[i * n + j] = r >= c ? (upper ? conj_of(s.a[r + c * n]) : s.a[r + c * n]) : T(0);
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
    auto orgqr = routine<orgqr_f<T>, T>(kOrgqr);  // Note [Complex LAPACK]: ungqr
    int lwork = 1;
    {  // the workspace both routines want, asked once
        T query(0), dummy(0);
        int info = 0, minus = -1;
        geqrf(&M, &N, &dummy, &ld, &dummy, &query, &minus, &info);
        lwork = std::max(lwork, workspace(reported(query)));
        orgqr(&M, &KQ, &K, &dummy, &ld, &dummy, &query, &minus, &info);  // ungqr for complex
        lwork = std::max(lwork, workspace(reported(query)));
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

// Runs syevd (real T) or heevd (complex T) on the column-major n x n matrix a: its eigenvalues into w, its
// eigenvectors into a when jobz is "V"; the lwork = -1 query when lwork is -1 (sizes into s's work, rwork, iwork).
template <class T>
int eigen(const char* jobz, int n, T* a, real_t<T>* w, Scratch<T>& s, int lwork, int lrwork, int liwork) {
    const int ld = std::max(1, n);
    int info = 0;
    if constexpr (is_complex_v<T>) {
        routine<heevd_f<T>, T>(kSyevd)(jobz, "L", &n, a, &ld, w, s.work.data(), &lwork, s.rwork.data(), &lrwork,
                                       s.iwork.data(), &liwork, &info, 1, 1);
    } else {
        routine<syevd_f<T>, T>(kSyevd)(jobz, "L", &n, a, &ld, w, s.work.data(), &lwork, s.iwork.data(), &liwork,
                                       &info, 1, 1);
    }
    return info;
}

template <class T>
void eigh_typed(const Shape& batch, int64_t n, const Operand& x, real_t<T>* w, T* v) {
    using R = real_t<T>;
    const int N = as_int(n, "the order");
    const char* jobz = v ? "V" : "N";
    int lwork = 1, lrwork = 1, liwork = 1;
    {
        Scratch<T> q;
        q.work.assign(1, T(0));
        q.rwork.assign(1, R(0));
        q.iwork.assign(1, 0);
        T dummy(0);
        R rdummy(0);
        eigen<T>(jobz, N, &dummy, &rdummy, q, -1, -1, -1);
        lwork = workspace(reported(q.work[0]));
        lrwork = workspace(double(q.rwork[0]));
        liwork = std::max(1, q.iwork[0]);
    }
    each_matrix<Scratch<T>>(batch, (is_complex_v<T> ? 36.0 : 9.0) * n * n * n, "syevd/heevd",
                            [&](int64_t b, Scratch<T>& s) {
        s.a.resize(size_t(n) * n);
        s.work.resize(size_t(lwork));
        s.rwork.resize(size_t(lrwork));
        s.iwork.resize(size_t(liwork));
        load(s.a.data(), n, n, n, matrix<T>(x, b, batch), x.rs, x.cs);
        R* wo = w + b * n;
        const int info = eigen<T>(jobz, N, s.a.data(), wo, s, lwork, lrwork, liwork);
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
void svd_typed(const Shape& batch, int64_t m, int64_t n, int64_t ku, int64_t kv, const Operand& x, real_t<T>* s_out,
               T* u, T* vh) {
    using R = real_t<T>;
    const int M = as_int(m, "the row count"), N = as_int(n, "the column count");
    const int K = std::min(M, N), ld = std::max(1, M);
    const bool vectors = u != nullptr;
    const bool full = vectors && (ku > K || kv > K);
    const char* jobz = !vectors ? "N" : (full ? "A" : "S");
    const int ldu = vectors ? ld : 1, ldvt = vectors ? std::max<int>(1, as_int(kv, "Vh's height")) : 1;
    // gesdd for real T; for complex T the one with a real rwork (Note [Complex LAPACK])
    auto gesdd = [&](T* a, R* sv, T* uu, T* vt, T* work, int lwork, R* rwork, int* iwork) {
        int info = 0;
        if constexpr (is_complex_v<T>)
            routine<cgesdd_f<T>, T>(kGesdd)(jobz, &M, &N, a, &ld, sv, uu, &ldu, vt, &ldvt, work, &lwork, rwork, iwork,
                                           &info, 1);
        else
            routine<gesdd_f<T>, T>(kGesdd)(jobz, &M, &N, a, &ld, sv, uu, &ldu, vt, &ldvt, work, &lwork, iwork, &info,
                                          1);
        return info;
    };
    const int lrwork = is_complex_v<T> ? gesdd_rwork(m, n, vectors) : 1;
    int lwork = 1;
    {
        T query(0), dummy(0);
        R rdummy(0);
        int idummy = 0;
        gesdd(&dummy, &rdummy, &dummy, &dummy, &query, -1, &rdummy, &idummy);
        lwork = workspace(reported(query));
    }
    each_matrix<Scratch<T>>(batch, (is_complex_v<T> ? 32.0 : 8.0) * m * n * std::max(m, n), "gesdd",
                            [&](int64_t b, Scratch<T>& s) {
        s.a.resize(size_t(std::max<int64_t>(m * n, 1)));
        s.tau.resize(size_t(vectors ? std::max<int64_t>(m * ku, 1) : 1));   // U, column-major (ld m)
        s.b.resize(size_t(vectors ? std::max<int64_t>(kv * n, 1) : 1));     // V^T, column-major (ld kv)
        s.work.resize(size_t(lwork));
        s.rwork.resize(size_t(lrwork));
        s.iwork.resize(size_t(8 * std::max(K, 1)));
        load(s.a.data(), m, m, n, matrix<T>(x, b, batch), x.rs, x.cs);
        int info = 0;
        R* so = s_out + b * K;
        // a NaN or inf entry: gesdd refuses the matrix (an "illegal" argument); the contract's answer is NaN, as
        // for no convergence and as eigh (and the opencl kernels) give
        bool all_finite = true;
        for (int64_t i = 0; i < m * n && all_finite; ++i) all_finite = finite(s.a[size_t(i)]);
        if (!all_finite) info = 1;
        else info = gesdd(s.a.data(), so, s.tau.data(), s.b.data(), s.work.data(), lwork, s.rwork.data(),
                          s.iwork.data());
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
void on_dtype(int dt, Fn&& fn) {
    switch (dt) {
        case 7: return fn(float());
        case 8: return fn(double());
        case 12: return fn(std::complex<float>());
        case 13: return fn(std::complex<double>());
        default:
            throw std::invalid_argument("linalg: the cpu kernels take float32, float64, complex64 or complex128 "
                                        "(dtype code " + std::to_string(dt) + ")");
    }
}

}  // namespace

std::string symbol(int r, int precision) {
    return std::string(1, kPrecisionLetters[precision]) + (precision >= 2 ? kComplexRoutineNames : kRoutineNames)[r];
}

int real_dtype(int dt) { return dt == 12 ? 7 : dt == 13 ? 8 : dt; }

void set_lapack(int r, int precision, uintptr_t address) {
    if (r < 0 || r >= kRoutines) throw std::invalid_argument("set_lapack: unknown routine " + std::to_string(r));
    if (precision < 0 || precision >= kPrecisions)
        throw std::invalid_argument("set_lapack: unknown precision " + std::to_string(precision));
    g_routines[precision][r].store(address, std::memory_order_relaxed);
}

bool has_lapack() {
    for (auto& precision : g_routines)
        for (auto& a : precision)
            if (!a.load(std::memory_order_relaxed)) return false;
    return true;
}

void cholesky(int dt, const Shape& batch, int64_t n, const Operand& x, char* out, bool upper) {
    on_dtype(dt, [&](auto t) {
        using T = decltype(t);
        cholesky_typed<T>(batch, n, x, reinterpret_cast<T*>(out), upper);
    });
}

void lu(int dt, const Shape& batch, int64_t n, const Operand& x, char* out, int64_t* pivots) {
    on_dtype(dt, [&](auto t) {
        using T = decltype(t);
        lu_typed<T>(batch, n, x, reinterpret_cast<T*>(out), pivots);
    });
}

void lu_solve(int dt, const Shape& batch, int64_t n, int64_t k, const Operand& lu, const Operand& pivots,
              const Operand& b, char* out) {
    on_dtype(dt, [&](auto t) {
        using T = decltype(t);
        lu_solve_typed<T>(batch, n, k, lu, pivots, b, reinterpret_cast<T*>(out));
    });
}

void qr(int dt, const Shape& batch, int64_t m, int64_t n, int64_t kq, const Operand& x, char* q, char* r) {
    on_dtype(dt, [&](auto t) {
        using T = decltype(t);
        qr_typed<T>(batch, m, n, kq, x, reinterpret_cast<T*>(q), reinterpret_cast<T*>(r));
    });
}

void eigh(int dt, const Shape& batch, int64_t n, const Operand& x, char* w, char* v) {
    on_dtype(dt, [&](auto t) {
        using T = decltype(t);
        eigh_typed<T>(batch, n, x, reinterpret_cast<real_t<T>*>(w), reinterpret_cast<T*>(v));
    });
}

void svd(int dt, const Shape& batch, int64_t m, int64_t n, int64_t ku, int64_t kv, const Operand& x, char* s,
         char* u, char* vh) {
    on_dtype(dt, [&](auto t) {
        using T = decltype(t);
        svd_typed<T>(batch, m, n, ku, kv, x, reinterpret_cast<real_t<T>*>(s), reinterpret_cast<T*>(u),
                     reinterpret_cast<T*>(vh));
    });
}

}  // namespace linalg
}  // namespace ts
