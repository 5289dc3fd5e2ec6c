// The cpu kernels of the linalg family (kernels/cpu/linalg.cpp): LU with its solve, Cholesky, QR, the symmetric
// eigendecomposition and the SVD, each a LAPACK routine of scipy-openblas32 (the ``blas`` extra) called on every
// matrix of a batch.  What each computes is Note [Kernel contract] in dispatch/registry.py.  The entry points in
// module.cpp check every operand's layout against its buffer first (Note [Bounds checks]) and release the GIL; these
// functions only compute.  Pointers are to each operand's first element; strides count elements.  Outputs are
// contiguous; inputs have any strides (a batch stride of 0 broadcasts).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ts {
namespace linalg {

using Shape = std::vector<int64_t>;

// One operand of a batch of matrices (or vectors): its first element, its strides along the batch dims (as many as
// the call's batch shape), along rows and along columns (a vector uses ``rs`` only).
struct Operand {
    const char* data;
    Shape batch_strides;
    int64_t rs, cs;
};

// The LAPACK routines we call, in each of four precisions: float, double, std::complex<float> and
// std::complex<double> (LAPACK's prefixes s, d, c, z).  The complex names differ for the orthogonal (unitary) Q and
// the symmetric (Hermitian) eigendecomposition: Note [Complex LAPACK] in linalg.cpp.
enum Routine { kGetrf, kGetrs, kPotrf, kGeqrf, kOrgqr, kSyevd, kGesdd, kRoutines };
constexpr int kPrecisions = 4;
constexpr char kPrecisionLetters[kPrecisions + 1] = "sdcz";
constexpr const char* kRoutineNames[kRoutines] = {"getrf", "getrs", "potrf", "geqrf", "orgqr", "syevd", "gesdd"};
constexpr const char* kComplexRoutineNames[kRoutines] = {"getrf", "getrs", "potrf", "geqrf", "ungqr", "heevd",
                                                         "gesdd"};

// The name of routine ``r`` in ``precision`` (0 to 3: s, d, c, z), as LAPACK spells it without prefix or
// underscore: "sgetrf", "cungqr".  backends/cpu.py (_load_lapack) looks each one up and hands it over.
std::string symbol(int r, int precision);
// Hands over the address of routine ``r`` in ``precision``; 0 forgets it.
void set_lapack(int r, int precision, uintptr_t address);
// True when every routine of every precision has been handed over.
bool has_lapack();
// The dtype code of the eigenvalues and singular values of dtype code ``dt``: complex64 (12) gives float32 (7),
// complex128 (13) float64 (8), a real dtype itself.
int real_dtype(int dt);

// In each function ``dt`` is 7 (float32), 8 (float64), 12 (complex64) or 13 (complex128), ``batch`` the batch
// extents shared by every operand, and the results are written for every matrix of the batch.  For complex dtypes
// read "Hermitian" for symmetric, "unitary" for orthonormal and the conjugate transpose ^H for ^T; eigenvalues and
// singular values are real, of dtype real_dtype(dt).

// out (*batch, n, n): L (lower, upper false) or L^H (upper true), zeros elsewhere, from the lower triangle of x; a
// matrix that is not positive definite (or holds NaN) is NaN throughout.
void cholesky(int dt, const Shape& batch, int64_t n, const Operand& x, char* out, bool upper);

// out (*batch, n, n): getrf's packed factors (unit L below the diagonal, U on and above it); pivots (*batch, n):
// 0-based, row i was swapped with row pivots[i], for i = 0, 1, ... in turn.  A singular matrix is factored all the
// same (U has a zero on its diagonal).
void lu(int dt, const Shape& batch, int64_t n, const Operand& x, char* out, int64_t* pivots);

// out (*batch, n, k) = A^-1 b for the factors (lu, pivots) of A as ``lu`` writes them; pivots is an int64 operand
// whose ``rs`` is the stride along its n entries.
void lu_solve(int dt, const Shape& batch, int64_t n, int64_t k, const Operand& lu, const Operand& pivots,
              const Operand& b, char* out);

// q (*batch, m, kq), r (*batch, kq, n) with kq = m (complete) or min(m, n) (reduced): x = q r by Householder
// reflections (geqrf, orgqr), r's diagonal as LAPACK leaves it (of either sign).
void qr(int dt, const Shape& batch, int64_t m, int64_t n, int64_t kq, const Operand& x, char* q, char* r);

// w (*batch, n) ascending eigenvalues of the symmetric matrix whose lower triangle x holds; v (*batch, n, n) their
// eigenvectors as columns, unless v is null.  A matrix on which syevd does not converge gives NaN.
void eigh(int dt, const Shape& batch, int64_t n, const Operand& x, char* w, char* v);

// s (*batch, min(m, n)) descending singular values; u (*batch, m, ku) and vh (*batch, kv, n), ku = kv = min(m, n)
// (reduced) or ku = m, kv = n (full), unless both are null.  Non-convergence gives NaN.
void svd(int dt, const Shape& batch, int64_t m, int64_t n, int64_t ku, int64_t kv, const Operand& x, char* s,
         char* u, char* vh);

}  // namespace linalg
}  // namespace ts
