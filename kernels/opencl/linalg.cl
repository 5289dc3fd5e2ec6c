// The OpenCL kernels of the linalg family (Note [Kernel contract] in dispatch/registry.py): LU with partial pivoting,
// its solve, Cholesky and Householder QR, for T = float or double (kernels/opencl_source.py's linalg program defines
// T and TS_LA_LOCAL, the work-group size: a power of two).
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
// largest |a[i][k]|).
__kernel void ts_lu(__global T* out, long oo, __global long* piv, long po, __global const T* x, long xo, long xrs,
                    long xcs, __global const long* meta, int nb, long n) {
    const long b = get_group_id(0);
    const int lid = get_local_id(0), L = get_local_size(0);
    __global T* a = out + oo + b * n * n;
    __global long* p = piv + po + b * n;
    __global const T* src = x + xo + ts_batch_offset(b, meta, nb, 0);
    __local T best[TS_LA_LOCAL];
    __local long where[TS_LA_LOCAL];
    for (long e = lid; e < n * n; e += L) a[e] = src[(e / n) * xrs + (e % n) * xcs];
    barrier(CLK_GLOBAL_MEM_FENCE);
    for (long k = 0; k < n; ++k) {
        T bv = (T)(-1);
        long bi = k;
        for (long i = k + lid; i < n; i += L) {
            const T v = fabs(a[i * n + k]);
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
        if (pivot != (T)0)  // a zero pivot: the column below is zero too, left as it is (getrf does the same)
            for (long i = k + 1 + lid; i < n; i += L) a[i * n + k] /= pivot;
        barrier(CLK_GLOBAL_MEM_FENCE);
        const long m = n - k - 1;
        for (long e = lid; e < m * m; e += L) {
            const long i = k + 1 + e / m, j = k + 1 + e % m;
            a[i * n + j] -= a[i * n + k] * a[k * n + j];
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
        for (long j = 0; j < i; ++j) s -= f[i * lrs + j * lcs] * y[j * k];
        y[i * k] = s;
    }
    for (long i = n - 1; i >= 0; --i) {  // U x = y
        T s = y[i * k];
        for (long j = i + 1; j < n; ++j) s -= f[i * lrs + j * lcs] * y[j * k];
        y[i * k] = s / f[i * lrs + i * lcs];
    }
}

// out (batch, n, n) <- L (or L^T when upper) with x = L L^T from x's lower triangle, column by column
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
            T s = a[j * n + j];
            for (long q = 0; q < j; ++q) s -= a[j * n + q] * a[j * n + q];
            if (!(s > (T)0)) bad = 1;
            a[j * n + j] = sqrt(s);
        }
        barrier(CLK_GLOBAL_MEM_FENCE);
        const T dj = a[j * n + j];
        for (long i = j + 1 + lid; i < n; i += L) {
            T s = a[i * n + j];
            for (long q = 0; q < j; ++q) s -= a[i * n + q] * a[j * n + q];
            a[i * n + j] = s / dj;
        }
        barrier(CLK_GLOBAL_MEM_FENCE);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (bad) {
        for (long e = lid; e < n * n; e += L) a[e] = (T)NAN;
    } else if (upper) {
        for (long e = lid; e < n * n; e += L) {
            const long i = e / n, j = e % n;
            if (i > j) {
                a[j * n + i] = a[e];
                a[e] = (T)0;
            }
        }
    }
}

// q (batch, m, kq), r (batch, kq, n) <- Householder QR of x (LAPACK's reflectors: beta = -sign(alpha) * norm, so
// R's diagonal may be negative); work (batch, m, n) and tau (batch, min(m, n)) are scratch.
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
    __local T red[TS_LA_LOCAL];
    for (long e = lid; e < m * n; e += L) A[e] = src[(e / n) * xrs + (e % n) * xcs];
    barrier(CLK_GLOBAL_MEM_FENCE);
    for (long k = 0; k < K; ++k) {
        T part = (T)0;
        for (long i = k + 1 + lid; i < m; i += L) part += A[i * n + k] * A[i * n + k];
        red[lid] = part;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int s = L / 2; s > 0; s >>= 1) {
            if (lid < s) red[lid] += red[lid + s];
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        const T xnorm2 = red[0];
        const T alpha = A[k * n + k];
        T beta = alpha, tk = (T)0, scale = (T)0;
        if (xnorm2 != (T)0) {
            beta = -copysign(sqrt(alpha * alpha + xnorm2), alpha);
            tk = (beta - alpha) / beta;
            scale = (T)1 / (alpha - beta);
        }
        barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);  // alpha and red[0] read by all before they change
        for (long i = k + 1 + lid; i < m; i += L) A[i * n + k] *= scale;  // v (v_k = 1 implied)
        if (lid == 0) {
            A[k * n + k] = beta;
            t[k] = tk;
        }
        barrier(CLK_GLOBAL_MEM_FENCE);
        if (tk != (T)0) {
            for (long j = k + 1 + lid; j < n; j += L) {  // A[k:, j] -= tau v (v . A[k:, j])
                T w = A[k * n + j];
                for (long i = k + 1; i < m; ++i) w += A[i * n + k] * A[i * n + j];
                w *= tk;
                A[k * n + j] -= w;
                for (long i = k + 1; i < m; ++i) A[i * n + j] -= A[i * n + k] * w;
            }
        }
        barrier(CLK_GLOBAL_MEM_FENCE);
    }
    for (long e = lid; e < kq * n; e += L) {
        const long i = e / n, j = e % n;
        R[e] = j >= i ? A[i * n + j] : (T)0;
    }
    for (long e = lid; e < m * kq; e += L) Q[e] = (e / kq == e % kq) ? (T)1 : (T)0;
    barrier(CLK_GLOBAL_MEM_FENCE);
    for (long k = K - 1; k >= 0; --k) {  // Q = H_0 H_1 ... H_{K-1} I, applied from the last reflector
        const T tk = t[k];
        if (tk != (T)0) {
            for (long j = lid; j < kq; j += L) {
                T w = Q[k * kq + j];
                for (long i = k + 1; i < m; ++i) w += A[i * n + k] * Q[i * kq + j];
                w *= tk;
                Q[k * kq + j] -= w;
                for (long i = k + 1; i < m; ++i) Q[i * kq + j] -= A[i * n + k] * w;
            }
        }
        barrier(CLK_GLOBAL_MEM_FENCE);
    }
}
