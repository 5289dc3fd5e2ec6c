// The OpenCL kernels of the linalg family (Note [Kernel contract] in dispatch/registry.py): LU with partial pivoting,
// its solve, Cholesky and Householder QR for T = float, double, float2 or double2 (complex64, complex128), and the
// Jacobi eigh and svd for the real T only.  kernels/opencl_source.py's linalg program defines T, RT (the real type
// of magnitudes: T itself, or the complex T's part type), TS_LA_LOCAL (the work-group size: a power of two) and, for
// a complex T, TS_LA_COMPLEX with TS_LA_MUL and TS_LA_DIV.
//
// Note [OpenCL factorizations]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// One work-group factors one matrix (get_group_id(0) is its index in the batch), in place in global memory (the
// output, or a scratch buffer for QR's reflectors): each step of the elimination is split across the group's
// work-items and closed with a barrier on global memory, which orders the group's own reads and writes.  That is
// the right shape for the many small and medium matrices linalg sees (a batch fills the device); one huge matrix
// runs on one compute unit, O(n^3 / TS_LA_LOCAL) per work-item, and is better sent to the cpu.  A pivot search
// and a column norm are tree reductions in local memory.  The solve runs a work-item per right-hand side column.
// Sums accumulate in T, as LAPACK's do.  Batch offsets of the inputs come from a metadata buffer: the nb batch
// extents, then nb strides per operand (a stride of 0 broadcasts).
//
// Note [OpenCL complex factorizations]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The four factorizations are one source for real and complex T, written with the TS_LA_* macros below; for a real
// T each is the plain expression (conj is the identity, |.|_1 and |.|^2 are fabs and the square), so the real
// kernels are what they were.  Complex arithmetic is Note [Device complex functions]' (kernels/ops_common.h):
// products and quotients through ts_cmul/ts_cdiv (the schoolbook product, Smith's division), while + and - (and a
// quotient by a real) are float2/double2's own componentwise operators, which are the complex ones.  The choices are
// LAPACK's c and z routines', as the cpu backend runs them (Note [Complex LAPACK] in kernels/cpu/linalg.cpp):
// * lu pivots on the largest |re| + |im| (icamax/izamax: the same pivots as the cpu's getrf, not the largest |z|);
// * cholesky factors the Hermitian matrix in the lower triangle, x = L L^H: the diagonal's real part only is read,
//   L's diagonal is real and positive, and upper gives U = L^H, the conjugate transpose;
// * qr's reflectors are zlarfg's, H = I - tau v v^H with beta = -sign(re alpha) |(alpha, x)| real, so R's diagonal
//   is real (and may be negative) and tau complex; the factorization applies H^H (tau conjugated, as zgeqr2) and Q
//   is H_0 ... H_{K-1} (zung2r), unitary.
#ifdef TS_LA_COMPLEX
#define TS_LA_CONJ(a) ((T)((a).x, -(a).y))
#define TS_LA_ABS1(a) (fabs((a).x) + fabs((a).y))  // LAPACK's cabs1: the pivot's size
#define TS_LA_ABS2(a) ((a).x * (a).x + (a).y * (a).y)
#define TS_LA_RE(a) ((a).x)
#define TS_LA_IM(a) ((a).y)
#define TS_LA_OF(r) ((T)((r), (RT)0))  // never (T)(r): an OpenCL vector cast copies r into both parts
#define TS_LA_NONZERO(a) ((a).x != (RT)0 || (a).y != (RT)0)
#else
#define TS_LA_MUL(a, b) ((a) * (b))
#define TS_LA_DIV(a, b) ((a) / (b))
#define TS_LA_CONJ(a) (a)
#define TS_LA_ABS1(a) fabs(a)
#define TS_LA_ABS2(a) ((a) * (a))
#define TS_LA_RE(a) (a)
#define TS_LA_IM(a) ((RT)0)
#define TS_LA_OF(r) ((T)(r))
#define TS_LA_NONZERO(a) ((a) != (T)0)
#endif

static inline long ts_batch_offset(long b, __global const long* meta, int nb, int which) {
    long off = 0;
    for (int d = nb - 1; d >= 0; --d) {
        const long n = meta[d];
        off += (b % n) * meta[nb * (1 + which) + d];
        b /= n;
    }
    return off;
}

// out (batch, n, n) <- the LU factors of x, pivots (batch, n) 0-based (LAPACK getrf's order and ties: the first
// largest |a[i][k]|, |re| + |im| for complex: Note [OpenCL complex factorizations]).
__kernel void ts_lu(__global T* out, long oo, __global long* piv, long po, __global const T* x, long xo, long xrs,
                    long xcs, __global const long* meta, int nb, long n) {
    const long b = get_group_id(0);
    const int lid = get_local_id(0), L = get_local_size(0);
    __global T* a = out + oo + b * n * n;
    __global long* p = piv + po + b * n;
    __global const T* src = x + xo + ts_batch_offset(b, meta, nb, 0);
    __local RT best[TS_LA_LOCAL];
    __local long where[TS_LA_LOCAL];
    for (long e = lid; e < n * n; e += L) a[e] = src[(e / n) * xrs + (e % n) * xcs];
    barrier(CLK_GLOBAL_MEM_FENCE);
    for (long k = 0; k < n; ++k) {
        RT bv = (RT)(-1);
        long bi = k;
        for (long i = k + lid; i < n; i += L) {
            const RT v = TS_LA_ABS1(a[i * n + k]);
            if (v > bv) { bv = v; bi = i; }
        }
        best[lid] = bv;
        where[lid] = bi;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int s = L / 2; s > 0; s >>= 1) {
            if (lid < s && (best[lid + s] > best[lid] || (best[lid + s] == best[lid] && where[lid + s] < where[lid]))) {
                best[lid] = best[lid + s];
                where[lid] = where[lid + s];
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        const long r = where[0];
        barrier(CLK_LOCAL_MEM_FENCE);  // every work-item has read where[0] before the next step writes it
        if (lid == 0) p[k] = r;
        if (r != k) {
            for (long j = lid; j < n; j += L) {
                const T t = a[k * n + j];
                a[k * n + j] = a[r * n + j];
                a[r * n + j] = t;
            }
        }
        barrier(CLK_GLOBAL_MEM_FENCE);
        const T pivot = a[k * n + k];
        if (TS_LA_NONZERO(pivot))  // a zero pivot: the column below is zero too, left as it is (getrf does the same)
            for (long i = k + 1 + lid; i < n; i += L) a[i * n + k] = TS_LA_DIV(a[i * n + k], pivot);
        barrier(CLK_GLOBAL_MEM_FENCE);
        const long m = n - k - 1;
        for (long e = lid; e < m * m; e += L) {
            const long i = k + 1 + e / m, j = k + 1 + e % m;
            a[i * n + j] -= TS_LA_MUL(a[i * n + k], a[k * n + j]);
        }
        barrier(CLK_GLOBAL_MEM_FENCE);
    }
}

// out (batch, n, k) <- A^-1 b from A's factors: a work-item per (matrix, column); total = batch * k.
__kernel void ts_lu_solve(__global T* out, long oo, __global const T* lu, long lo, long lrs, long lcs,
                          __global const long* piv, long po, long ps, __global const T* rhs, long bo, long brs,
                          long bcs, __global const long* meta, int nb, long n, long k, long total) {
    const long g = get_global_id(0);
    if (g >= total) return;
    const long b = g / k, c = g % k;
    __global const T* f = lu + lo + ts_batch_offset(b, meta, nb, 0);
    __global const long* p = piv + po + ts_batch_offset(b, meta, nb, 1);
    __global const T* src = rhs + bo + ts_batch_offset(b, meta, nb, 2) + c * bcs;
    __global T* y = out + oo + b * n * k + c;
    for (long i = 0; i < n; ++i) y[i * k] = src[i * brs];
    for (long i = 0; i < n; ++i) {  // the row swaps, in getrf's order
        const long r = p[i * ps];
        if (r != i) {
            const T t = y[i * k];
            y[i * k] = y[r * k];
            y[r * k] = t;
        }
    }
    for (long i = 1; i < n; ++i) {  // L y = P b, L unit lower triangular
        T s = y[i * k];
        for (long j = 0; j < i; ++j) s -= TS_LA_MUL(f[i * lrs + j * lcs], y[j * k]);
        y[i * k] = s;
    }
    for (long i = n - 1; i >= 0; --i) {  // U x = y
        T s = y[i * k];
        for (long j = i + 1; j < n; ++j) s -= TS_LA_MUL(f[i * lrs + j * lcs], y[j * k]);
        y[i * k] = TS_LA_DIV(s, f[i * lrs + i * lcs]);
    }
}

// out (batch, n, n) <- L (or L^H when upper) with x = L L^H from x's lower triangle, column by column
// (left-looking); NaN throughout when a pivot is not > 0 (not positive definite, or NaN).
__kernel void ts_cholesky(__global T* out, long oo, __global const T* x, long xo, long xrs, long xcs,
                          __global const long* meta, int nb, long n, int upper) {
    const long b = get_group_id(0);
    const int lid = get_local_id(0), L = get_local_size(0);
    __global T* a = out + oo + b * n * n;
    __global const T* src = x + xo + ts_batch_offset(b, meta, nb, 0);
    __local int bad;
    if (lid == 0) bad = 0;
    for (long e = lid; e < n * n; e += L) {
        const long i = e / n, j = e % n;
        a[e] = j <= i ? src[i * xrs + j * xcs] : (T)0;
    }
    barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
    for (long j = 0; j < n; ++j) {
        if (lid == 0) {
            RT s = TS_LA_RE(a[j * n + j]);  // a Hermitian matrix's diagonal is real: its imaginary part is not read
            for (long q = 0; q < j; ++q) s -= TS_LA_ABS2(a[j * n + q]);
            if (!(s > (RT)0)) bad = 1;
            a[j * n + j] = TS_LA_OF(sqrt(s));
        }
        barrier(CLK_GLOBAL_MEM_FENCE);
        const RT dj = TS_LA_RE(a[j * n + j]);
        for (long i = j + 1 + lid; i < n; i += L) {
            T s = a[i * n + j];
            for (long q = 0; q < j; ++q) s -= TS_LA_MUL(a[i * n + q], TS_LA_CONJ(a[j * n + q]));
            a[i * n + j] = s / dj;
        }
        barrier(CLK_GLOBAL_MEM_FENCE);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (bad) {
        for (long e = lid; e < n * n; e += L) a[e] = (T)NAN;  // both parts NaN for a complex T, as the cpu's
    } else if (upper) {
        for (long e = lid; e < n * n; e += L) {
            const long i = e / n, j = e % n;
            if (i > j) {
                a[j * n + i] = TS_LA_CONJ(a[e]);
                a[e] = (T)0;
            }
        }
    }
}

// q (batch, m, kq), r (batch, kq, n) <- Householder QR of x (LAPACK's reflectors: beta = -sign(re alpha) * norm,
// so R's diagonal is real and may be negative); work (batch, m, n) and tau (batch, min(m, n)) are scratch.
__kernel void ts_qr(__global T* q, long qo, __global T* r, long ro, __global const T* x, long xo, long xrs,
                    long xcs, __global const long* meta, int nb, long m, long n, long kq, __global T* work,
                    __global T* tau) {
    const long b = get_group_id(0);
    const int lid = get_local_id(0), L = get_local_size(0);
    const long K = m < n ? m : n;
    __global T* A = work + b * m * n;
    __global T* t = tau + b * K;
    __global T* Q = q + qo + b * m * kq;
    __global T* R = r + ro + b * kq * n;
    __global const T* src = x + xo + ts_batch_offset(b, meta, nb, 0);
    __local RT red[TS_LA_LOCAL];
    for (long e = lid; e < m * n; e += L) A[e] = src[(e / n) * xrs + (e % n) * xcs];
    barrier(CLK_GLOBAL_MEM_FENCE);
    for (long k = 0; k < K; ++k) {
        RT part = (RT)0;
        for (long i = k + 1 + lid; i < m; i += L) part += TS_LA_ABS2(A[i * n + k]);
        red[lid] = part;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int s = L / 2; s > 0; s >>= 1) {
            if (lid < s) red[lid] += red[lid + s];
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        const RT xnorm2 = red[0];
        const T alpha = A[k * n + k];
        T beta = alpha, tk = (T)0, scale = (T)0;
        if (xnorm2 != (RT)0 || TS_LA_IM(alpha) != (RT)0) {  // else H = I (tau = 0), as zlarfg
            const RT norm = -copysign(sqrt(TS_LA_ABS2(alpha) + xnorm2), TS_LA_RE(alpha));
            beta = TS_LA_OF(norm);
            tk = (beta - alpha) / norm;
            scale = TS_LA_DIV(TS_LA_OF((RT)1), alpha - beta);
        }
        barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);  // alpha and red[0] read by all before they change
        for (long i = k + 1 + lid; i < m; i += L) A[i * n + k] = TS_LA_MUL(A[i * n + k], scale);  // v (v_k = 1)
        if (lid == 0) {
            A[k * n + k] = beta;
            t[k] = tk;
        }
        barrier(CLK_GLOBAL_MEM_FENCE);
        if (TS_LA_NONZERO(tk)) {
            const T ctk = TS_LA_CONJ(tk);  // H^H, as zgeqr2 applies it
            for (long j = k + 1 + lid; j < n; j += L) {  // A[k:, j] -= conj(tau) v (v^H A[k:, j])
                T w = A[k * n + j];
                for (long i = k + 1; i < m; ++i) w += TS_LA_MUL(TS_LA_CONJ(A[i * n + k]), A[i * n + j]);
                w = TS_LA_MUL(ctk, w);
                A[k * n + j] -= w;
                for (long i = k + 1; i < m; ++i) A[i * n + j] -= TS_LA_MUL(A[i * n + k], w);
            }
        }
        barrier(CLK_GLOBAL_MEM_FENCE);
    }
    for (long e = lid; e < kq * n; e += L) {
        const long i = e / n, j = e % n;
        R[e] = j >= i ? A[i * n + j] : (T)0;
    }
    for (long e = lid; e < m * kq; e += L) Q[e] = (e / kq == e % kq) ? TS_LA_OF((RT)1) : (T)0;
    barrier(CLK_GLOBAL_MEM_FENCE);
    for (long k = K - 1; k >= 0; --k) {  // Q = H_0 H_1 ... H_{K-1} I, applied from the last reflector
        const T tk = t[k];
        if (TS_LA_NONZERO(tk)) {
            for (long j = lid; j < kq; j += L) {  // Q[k:, j] -= tau v (v^H Q[k:, j])
                T w = Q[k * kq + j];
                for (long i = k + 1; i < m; ++i) w += TS_LA_MUL(TS_LA_CONJ(A[i * n + k]), Q[i * kq + j]);
                w = TS_LA_MUL(tk, w);
                Q[k * kq + j] -= w;
                for (long i = k + 1; i < m; ++i) Q[i * kq + j] -= TS_LA_MUL(A[i * n + k], w);
            }
        }
        barrier(CLK_GLOBAL_MEM_FENCE);
    }
}

#ifndef TS_LA_COMPLEX  // eigh and svd: real T only (kernels/optable.py COVERAGE_GAPS)

// Note [OpenCL Jacobi]
// ~~~~~~~~~~~~~~~~~~~~
// eigh and svd are Jacobi methods, one work-group per matrix in global scratch like the factorizations above.  A
// sweep visits every pair (p, q) once in the round-robin (circle) order: each of the N' - 1 rounds (N' = N rounded up
// to even) holds N' / 2 disjoint pairs, whose rotations commute and run side by side, closed by a barrier.
// * eigh: two-sided cyclic Jacobi on the symmetric matrix (Golub & Van Loan's sym.schur2 rotation; a_pq is set to
//   exactly 0, a_pp and a_qq updated by -+ t a_pq).  A sweep starts with the off-diagonal Frobenius norm; it stops at
//   off <= eps * ||A||_F.  The eigenvalues are the diagonal, ranked ascending (ties by index).
// * svd: one-sided (Hestenes) Jacobi on the columns of B = x (M >= N) or x^T (M < N, so B is tall): a pair is
//   rotated while |g_p . g_q| > tol * |g_p| |g_q| (tol = sqrt(M) eps, as LAPACK's gesvj), until a sweep rotates
//   none.  Then s_j = |g_j| ranked descending, U's columns g_j / s_j, V the accumulated rotations.  U's columns for
//   s_j = 0 and the M - N extra ones of full_matrices are completed by Gram-Schmidt (twice) from the unit vector
//   e_i that the columns so far cover least (the smallest row norm of U): always independent.
// Both first scale the matrix by a power of two near 1 / max|a| (exact; sums of squares then neither overflow nor
// underflow) and scale the values back at the end; a NaN or inf entry gives NaN, as LAPACK does.
// Both stop after TS_JACOBI_SWEEPS sweeps (Jacobi converges quadratically; random matrices up to 128 x 128 need up to
// 20 sweeps in float32, so 60 is margin, not a tuning) or on a NaN; an unconverged matrix is NaN throughout (Note
// [Kernel contract]).
#define TS_JACOBI_SWEEPS 60

// The round-robin pair k of round r among N' (even) players; p < q, q >= n marks the idle slot of an odd n.
static inline void ts_jacobi_pair(long r, long k, long np, long* p, long* q) {
    const long a = k == 0 ? 0 : (k - 1 + r) % (np - 1) + 1;
    const long c = (np - 2 - k + r) % (np - 1) + 1;
    *p = a < c ? a : c;
    *q = a < c ? c : a;
}

// Sum of red[0..L) into red[0] (L a power of two); every work-item must call it.
static inline T ts_group_sum(__local T* red, T part) {
    const int lid = get_local_id(0), L = get_local_size(0);
    barrier(CLK_LOCAL_MEM_FENCE);
    red[lid] = part;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = L / 2; s > 0; s >>= 1) {
        if (lid < s) red[lid] += red[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return red[0];
}

// The largest |a| of the group's parts into red[0], NaN if any part is NaN; every work-item must call it.
static inline T ts_group_amax(__local T* red, T part) {
    const int lid = get_local_id(0), L = get_local_size(0);
    barrier(CLK_LOCAL_MEM_FENCE);
    red[lid] = part;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = L / 2; s > 0; s >>= 1) {
        if (lid < s && (red[lid + s] > red[lid] || red[lid + s] != red[lid + s])) red[lid] = red[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return red[0];
}

// The exponent k that brings amax near 1 (0 for 0): ldexp(a, k) is exact, keeps sums of squares from overflowing,
// and, unlike a multiplication by 2**k, works where 2**k itself is not a number of T (amax subnormal: k > 1023).
static inline int ts_jacobi_scale(T amax) { return amax > (T)0 && isfinite(amax) ? -ilogb(amax) : 0; }

// w (batch, n), v (batch, n, n) or none (vectors = 0) <- the eigen-decomposition of the symmetric matrix in x's
// lower triangle; work (batch, 2 n n + 4 (n / 2 + 1)) is scratch (A, V, then the rotations c, s, a_pp', a_qq').
__kernel void ts_eigh(__global T* w, long wo, __global T* v, long vo, int vectors, __global const T* x, long xo,
                      long xrs, long xcs, __global const long* meta, int nb, long n, __global T* work, T eps) {
    const long b = get_group_id(0);
    const int lid = get_local_id(0), L = get_local_size(0);
    const long np = n + (n & 1), npairs = np / 2;
    __global T* A = work + b * (2 * n * n + 4 * (npairs + 1));
    __global T* V = A + n * n;
    __global T* rot = V + n * n;
    __global const T* src = x + xo + ts_batch_offset(b, meta, nb, 0);
    __local T red[TS_LA_LOCAL];
    T part = (T)0;
    for (long e = lid; e < n * n; e += L) {
        const long i = e / n, j = e % n;
        const T a = i >= j ? src[i * xrs + j * xcs] : src[j * xrs + i * xcs];
        if (fabs(a) > part || a != a) part = a != a ? a : fabs(a);
        A[e] = a;
        V[e] = i == j ? (T)1 : (T)0;
    }
    const T amax = ts_group_amax(red, part);
    const int scale = ts_jacobi_scale(amax);
    const int finite = isfinite(amax);  // NaN or inf anywhere: no convergence, NaN out (as LAPACK's NaN)
    for (long e = lid; e < n * n; e += L) A[e] = ldexp(A[e], scale);
    barrier(CLK_GLOBAL_MEM_FENCE);
    int converged = finite && n < 2;
    for (int sweep = 0; sweep < TS_JACOBI_SWEEPS && finite && !converged; ++sweep) {
        T off = (T)0, all = (T)0;
        for (long e = lid; e < n * n; e += L) {
            const T a2 = A[e] * A[e];
            all += a2;
            if (e / n != e % n) off += a2;
        }
        off = ts_group_sum(red, off);
        all = ts_group_sum(red, all);
        if (!(off == off && all == all)) break;  // NaN or inf: no convergence
        if (sqrt(off) <= eps * sqrt(all)) {
            converged = 1;
            break;
        }
        for (long r = 0; r < np - 1; ++r) {
            for (long k = lid; k < npairs; k += L) {  // the rotations of the round's pairs
                long p, q;
                ts_jacobi_pair(r, k, np, &p, &q);
                T c = (T)1, s = (T)0, t = (T)0, apq = (T)0;
                if (q < n) {
                    apq = A[p * n + q];
                    if (apq != (T)0) {
                        const T tau = (A[q * n + q] - A[p * n + p]) / (2 * apq);
                        t = (tau >= (T)0 ? (T)1 : (T)-1) / (fabs(tau) + hypot((T)1, tau));
                        c = (T)1 / sqrt((T)1 + t * t);
                        s = t * c;
                    }
                    rot[4 * k + 2] = A[p * n + p] - t * apq;
                    rot[4 * k + 3] = A[q * n + q] + t * apq;
                }
                rot[4 * k] = c;
                rot[4 * k + 1] = s;
            }
            barrier(CLK_GLOBAL_MEM_FENCE);
            for (long e = lid; e < npairs * n; e += L) {  // rows p, q <- J^T A
                const long k = e / n, j = e % n;
                long p, q;
                ts_jacobi_pair(r, k, np, &p, &q);
                const T c = rot[4 * k], s = rot[4 * k + 1];
                if (q < n && s != (T)0) {
                    const T ap = A[p * n + j], aq = A[q * n + j];
                    A[p * n + j] = c * ap - s * aq;
                    A[q * n + j] = s * ap + c * aq;
                }
            }
            barrier(CLK_GLOBAL_MEM_FENCE);
            for (long e = lid; e < npairs * n; e += L) {  // columns p, q <- A J, V J
                const long k = e / n, i = e % n;
                long p, q;
                ts_jacobi_pair(r, k, np, &p, &q);
                const T c = rot[4 * k], s = rot[4 * k + 1];
                if (q < n && s != (T)0) {
                    const T ap = A[i * n + p], aq = A[i * n + q];
                    A[i * n + p] = i == p ? rot[4 * k + 2] : i == q ? (T)0 : c * ap - s * aq;
                    A[i * n + q] = i == q ? rot[4 * k + 3] : i == p ? (T)0 : s * ap + c * aq;
                    if (vectors) {
                        const T vp = V[i * n + p], vq = V[i * n + q];
                        V[i * n + p] = c * vp - s * vq;
                        V[i * n + q] = s * vp + c * vq;
                    }
                }
            }
            barrier(CLK_GLOBAL_MEM_FENCE);
        }
    }
    __global T* wb = w + wo + b * n;
    __global T* vb = v + vo + b * n * n;
    if (!converged) {
        for (long e = lid; e < n; e += L) wb[e] = (T)NAN;
        if (vectors)
            for (long e = lid; e < n * n; e += L) vb[e] = (T)NAN;
        return;
    }
    for (long j = lid; j < n; j += L) {  // rank of each eigenvalue, ascending, ties by index
        const T d = A[j * n + j];
        long rank = 0;
        for (long i = 0; i < n; ++i) {
            const T e = A[i * n + i];
            rank += e < d || (e == d && i < j);
        }
        wb[rank] = ldexp(d, -scale);
        if (vectors)
            for (long i = 0; i < n; ++i) vb[i * n + rank] = V[i * n + j];
    }
}

// s (batch, K); ub, vb or none (vectors = 0) <- the SVD of B (mm x nn, mm >= nn = K; B[i][j] = x[i * xrs + j * xcs]):
// B = Ub diag(s) Vb^T, Ub (mm x kb) written at ub[i * urs + c * ucs] (per matrix ubs apart), Vb (nn x nn) at
// vb[i * vrs + c * vcs] (vbs apart); the host maps them onto u and vh (Note [OpenCL Jacobi]).  work (batch,
// mm nn + nn nn + mm + nn) is scratch: G (column-major), V (column-major), U's row norms, the column norms.
__kernel void ts_svd(__global T* s, long so, __global T* ub, long uo, long ubs, long urs, long ucs, long kb,
                     __global T* vb, long vo, long vbs, long vrs, long vcs, int vectors, __global const T* x, long xo,
                     long xrs, long xcs, __global const long* meta, int nb, long mm, long nn, __global T* work,
                     T tol) {
    const long b = get_group_id(0);
    const int lid = get_local_id(0), L = get_local_size(0);
    const long np = nn + (nn & 1), npairs = np / 2;
    __global T* G = work + b * (mm * nn + nn * nn + mm + nn);
    __global T* V = G + mm * nn;
    __global T* rown = V + nn * nn;
    __global T* norms = rown + mm;
    __global const T* src = x + xo + ts_batch_offset(b, meta, nb, 0);
    __local T red[TS_LA_LOCAL];
    __local long where[TS_LA_LOCAL];
    __local int rotated, bad;
    T part = (T)0;
    for (long e = lid; e < mm * nn; e += L) {
        const long j = e / mm, i = e % mm;
        const T a = src[i * xrs + j * xcs];
        if (fabs(a) > part || a != a) part = a != a ? a : fabs(a);
        G[e] = a;
    }
    const T amax = ts_group_amax(red, part);
    const int scale = ts_jacobi_scale(amax);
    for (long e = lid; e < mm * nn; e += L) G[e] = ldexp(G[e], scale);
    for (long e = lid; e < nn * nn; e += L) V[e] = (e / nn == e % nn) ? (T)1 : (T)0;
    if (lid == 0) bad = !isfinite(amax);  // NaN or inf anywhere: no convergence, NaN out
    barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
    int converged = !bad && nn < 2;
    const int sweeps = bad ? 0 : TS_JACOBI_SWEEPS;
    for (int sweep = 0; sweep < sweeps && !converged; ++sweep) {
        if (lid == 0) rotated = 0;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (long r = 0; r < np - 1; ++r) {
            for (long k = lid; k < npairs; k += L) {
                long p, q;
                ts_jacobi_pair(r, k, np, &p, &q);
                if (q >= nn) continue;
                __global T* gp = G + p * mm;
                __global T* gq = G + q * mm;
                T alpha = (T)0, beta = (T)0, gamma = (T)0;
                for (long i = 0; i < mm; ++i) {
                    alpha += gp[i] * gp[i];
                    beta += gq[i] * gq[i];
                    gamma += gp[i] * gq[i];
                }
                if (!(alpha == alpha && beta == beta && gamma == gamma) || isinf(alpha) || isinf(beta)) {
                    bad = 1;
                    continue;
                }
                // the cosine of the two columns' angle, divided in turn so that it neither underflows nor overflows;
                // a column whose squares all underflow counts as zero (its singular value is below 1e-150 of the
                // largest, the matrix having been scaled to a largest entry near 1)
                if (alpha == (T)0 || beta == (T)0 || !(fabs(gamma) / sqrt(alpha) / sqrt(beta) > tol)) continue;
                const T zeta = (beta - alpha) / (2 * gamma);
                const T t = (zeta >= (T)0 ? (T)1 : (T)-1) / (fabs(zeta) + hypot((T)1, zeta));
                // a rotation too small to change anything (columns whose squares are subnormal, zeta at inf): it
                // would count as one for ever and keep the sweeps going
                if (t == (T)0) continue;
                rotated = 1;
                const T c = (T)1 / sqrt((T)1 + t * t), sn = t * c;
                for (long i = 0; i < mm; ++i) {
                    const T a = gp[i], d = gq[i];
                    gp[i] = c * a - sn * d;
                    gq[i] = sn * a + c * d;
                }
                if (vectors) {
                    __global T* vp = V + p * nn;
                    __global T* vq = V + q * nn;
                    for (long i = 0; i < nn; ++i) {
                        const T a = vp[i], d = vq[i];
                        vp[i] = c * a - sn * d;
                        vq[i] = sn * a + c * d;
                    }
                }
            }
            barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
        }
        const int moved = rotated, failed = bad;
        barrier(CLK_LOCAL_MEM_FENCE);  // all have read the flags before lid 0 clears them
        if (failed) break;
        if (!moved) converged = 1;
    }
    for (long j = lid; j < nn; j += L) {
        T a = (T)0;
        for (long i = 0; i < mm; ++i) a += G[j * mm + i] * G[j * mm + i];
        norms[j] = sqrt(a);
    }
    for (long i = lid; i < mm; i += L) rown[i] = (T)0;
    barrier(CLK_GLOBAL_MEM_FENCE);
    T smax = (T)0;
    for (long j = 0; j < nn; ++j) smax = fmax(smax, norms[j]);
    const T tiny = smax * tol * tol;  // below this a column is rounding noise of a zero one: completed instead
    long kept = 0;  // how many singular values are above tiny (they come first once ranked)
    for (long j = 0; j < nn; ++j) kept += norms[j] > tiny;
    __global T* sb = s + so + b * nn;
    __global T* U = ub + uo + b * ubs;
    __global T* W = vb + vo + b * vbs;
    if (!converged) {
        for (long e = lid; e < nn; e += L) sb[e] = (T)NAN;
        if (vectors) {
            for (long e = lid; e < nn * nn; e += L) W[(e / nn) * vrs + (e % nn) * vcs] = (T)NAN;
            for (long e = lid; e < mm * kb; e += L) U[(e / kb) * urs + (e % kb) * ucs] = (T)NAN;
        }
        return;
    }
    for (long j = lid; j < nn; j += L) {  // rank of each singular value, descending, ties by index
        const T d = norms[j];
        long rank = 0;
        for (long i = 0; i < nn; ++i) rank += norms[i] > d || (norms[i] == d && i < j);
        sb[rank] = ldexp(d, -scale);
        if (vectors) {
            for (long i = 0; i < nn; ++i) W[i * vrs + rank * vcs] = V[j * nn + i];
            if (rank < kept)
                for (long i = 0; i < mm; ++i) U[i * urs + rank * ucs] = G[j * mm + i] / d;
        }
    }
}

// U's columns for the singular values at or below ts_svd's tiny and the kb - nn extra ones of full_matrices: after
// ts_svd, from its scratch (the column norms) and the columns it wrote.  A kernel of its own: PoCL's work-group
// code for this loop of barriers, inlined into ts_svd, took 30 s to generate; apart, the two take a few seconds.
__kernel void ts_svd_complete(__global const T* s, long so, __global T* ub, long uo, long ubs, long urs, long ucs,
                              long kb, long mm, long nn, __global T* work, T tol) {
    const long b = get_group_id(0);
    const int lid = get_local_id(0), L = get_local_size(0);
    __global T* G = work + b * (mm * nn + nn * nn + mm + nn);
    __global T* rown = G + mm * nn + nn * nn;
    __global const T* norms = rown + mm;
    __local T red[TS_LA_LOCAL];
    __local long where[TS_LA_LOCAL];
    if (nn > 0 && isnan(s[so + b * nn])) return;  // not converged: ts_svd wrote NaN throughout
    T smax = (T)0;
    for (long j = 0; j < nn; ++j) smax = fmax(smax, norms[j]);
    const T tiny = smax * tol * tol;
    long kept = 0;
    for (long j = 0; j < nn; ++j) kept += norms[j] > tiny;
    if (kept >= kb) return;
    __global T* U = ub + uo + b * ubs;
    for (long i = lid; i < mm; i += L) {
        T a = (T)0;
        for (long c = 0; c < kept; ++c) a += U[i * urs + c * ucs] * U[i * urs + c * ucs];
        rown[i] = a;
    }
    barrier(CLK_GLOBAL_MEM_FENCE);
    for (long c = kept; c < kb; ++c) {  // complete U: Gram-Schmidt of the least covered unit vector, twice
        T bv = (T)INFINITY;
        long bi = 0;
        for (long i = lid; i < mm; i += L)
            if (rown[i] < bv) { bv = rown[i]; bi = i; }
        red[lid] = bv;
        where[lid] = bi;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int st = L / 2; st > 0; st >>= 1) {
            if (lid < st && (red[lid + st] < red[lid] || (red[lid + st] == red[lid] && where[lid + st] < where[lid]))) {
                red[lid] = red[lid + st];
                where[lid] = where[lid + st];
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        const long e = where[0];
        for (long i = lid; i < mm; i += L) {  // u = e_i - U U^T e_i
            T a = i == e ? (T)1 : (T)0;
            for (long q = 0; q < c; ++q) a -= U[i * urs + q * ucs] * U[e * urs + q * ucs];
            U[i * urs + c * ucs] = a;
        }
        barrier(CLK_GLOBAL_MEM_FENCE);
        for (long q = lid; q < c; q += L) {  // the second pass's coefficients U^T u (G is free now)
            T a = (T)0;
            for (long i = 0; i < mm; ++i) a += U[i * urs + q * ucs] * U[i * urs + c * ucs];
            G[q] = a;
        }
        barrier(CLK_GLOBAL_MEM_FENCE);
        T part = (T)0;
        for (long i = lid; i < mm; i += L) {
            T a = U[i * urs + c * ucs];
            for (long q = 0; q < c; ++q) a -= U[i * urs + q * ucs] * G[q];
            U[i * urs + c * ucs] = a;
            part += a * a;
        }
        const T norm = sqrt(ts_group_sum(red, part));
        barrier(CLK_GLOBAL_MEM_FENCE);
        for (long i = lid; i < mm; i += L) {
            const T a = U[i * urs + c * ucs] / norm;
            U[i * urs + c * ucs] = a;
            rown[i] += a * a;
        }
        barrier(CLK_GLOBAL_MEM_FENCE);
    }
}
#endif  // TS_LA_COMPLEX
