/* Batched matmul for one dtype IN_T: out (*B, M, N) contiguous = a (*B, M, K) @ b (*B, K, N), any strides (batch
 * strides 0 where broadcast).  Tiled through local memory: a TS_TILE x TS_TILE work-group computes one tile of out,
 * one element per item, accumulating in ACC_T (float for float16; unsigned for integers, so that overflow wraps
 * like NumPy without C's signed-overflow rules; complex numbers in their own float2/double2).  backends/opencl.py
 * defines IN_T, ACC_T, TS_LOAD(p, i) and ts_store(out, i, acc), and for complex dtypes TS_MADD(acc, a, b), the
 * complex acc + a * b (C's operators work componentwise on vectors).  meta: batch shape[nb], a's batch strides[nb],
 * b's batch strides[nb]. */

#ifndef TS_TILE
#define TS_TILE 16
#endif
#ifndef TS_MADD
#define TS_MADD(acc, a, b) ((acc) + (a) * (b))
#endif

__kernel void matmul(__global IN_T* out, long out_off, __global const IN_T* a, long a_off, __global const IN_T* b,
                     long b_off, __global const long* meta, long nb, long M, long N, long K, long sam, long sak,
                     long sbk, long sbn) {
    __local ACC_T as[TS_TILE][TS_TILE + 1];
    __local ACC_T bs[TS_TILE][TS_TILE + 1];
    const int tx = get_local_id(0), ty = get_local_id(1);
    const long col = get_global_id(0), row = get_global_id(1), batch = get_global_id(2);
    long off[2];
    ts_offsets(batch, nb, 2, meta, off);
    a += a_off + off[0];
    b += b_off + off[1];
    ACC_T acc = (ACC_T)0;
    for (long t = 0; t < K; t += TS_TILE) {
        const long ka = t + tx, kb = t + ty;
        as[ty][tx] = (row < M && ka < K) ? (ACC_T)TS_LOAD(a, row * sam + ka * sak) : (ACC_T)0;
        bs[ty][tx] = (kb < K && col < N) ? (ACC_T)TS_LOAD(b, kb * sbk + col * sbn) : (ACC_T)0;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int k = 0; k < TS_TILE; ++k) acc = TS_MADD(acc, as[ty][k], bs[k][tx]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (row < M && col < N) ts_store(out, out_off + (batch * M + row) * N + col, acc);
}

/* Note [Register-blocked matmul]: on CPU devices (PoCL and the like) local memory is ordinary memory and a
 * work-group runs as loops on one core, so the tiled kernel above spends its time on barriers and local copies
 * (4 GFLOP/s on PoCL for 1024^2).  There each work-item instead computes a TS_MM_RM x TS_MM_VN block of out in
 * TS_MM_RM vector accumulators: per k, one vector load of a row of b (which needs b's column stride 1; the adapter
 * copies b otherwise) and TS_MM_RM broadcasts of a's column, any strides.  The caches do the blocking.  Real float
 * dtypes only (IN_T == ACC_T); the blocks at the right and bottom edges take the masked branch.  `acc += x * y`,
 * not fma(): OpenCL contracts it to an FMA instruction, where PoCL compiles fma() to a call (60 against 35
 * GFLOP/s).  backends/opencl.py defines TS_MM_RM and TS_MM_VN from the device's preferred vector width, and the
 * kernel matmul_blocked_<VN> for VN in TS_MM_VN and 4 (narrow outputs). */
#ifdef TS_MM_RM

#define TS_MM_BLOCKED_(VN)                                                                                        \
__kernel void matmul_blocked_##VN(__global IN_T* out, long out_off, __global const IN_T* a, long a_off,          \
                                  __global const IN_T* b, long b_off, __global const long* meta, long nb, long M, \
                                  long N, long K, long sam, long sak, long sbk) {                                 \
    typedef TS_CAT(IN_T, VN) V;                                                                                   \
    const long c0 = get_global_id(0) * VN, r0 = get_global_id(1) * TS_MM_RM, batch = get_global_id(2);           \
    if (c0 >= N || r0 >= M) return;                                                                               \
    long off[2];                                                                                                  \
    ts_offsets(batch, nb, 2, meta, off);                                                                          \
    a += a_off + off[0] + r0 * sam;                                                                               \
    b += b_off + off[1] + c0;                                                                                     \
    out += out_off + (batch * M + r0) * N + c0;                                                                   \
    V acc[TS_MM_RM];                                                                                              \
    _Pragma("unroll") for (int i = 0; i < TS_MM_RM; ++i) acc[i] = (V)0;                                          \
    if (r0 + TS_MM_RM <= M && c0 + VN <= N) {                                                                     \
        for (long k = 0; k < K; ++k) {                                                                            \
            const V bv = TS_GLOAD(IN_T, VN, 0, b + k * sbk);                                                      \
            _Pragma("unroll") for (int i = 0; i < TS_MM_RM; ++i) acc[i] += (V)a[i * sam + k * sak] * bv;         \
        }                                                                                                         \
        _Pragma("unroll") for (int i = 0; i < TS_MM_RM; ++i) TS_GSTORE(IN_T, VN, acc[i], 0, out + i * N);         \
    } else { /* an edge block: the rows past M read row M - 1 and are not stored, so the k loop stays the one    \
              * above, unrolled in registers (conv2d's (6 x 25) @ (25 x 576) per image was all edge: 3x slower) */ \
        const int rows = (int)TS_MIN((long)TS_MM_RM, M - r0), cols = (int)TS_MIN((long)VN, N - c0);               \
        long ao[TS_MM_RM];                                                                                        \
        _Pragma("unroll") for (int i = 0; i < TS_MM_RM; ++i) ao[i] = (i < rows ? i : rows - 1) * sam;             \
        union { V v; IN_T s[VN]; } u;                                                                             \
        for (long k = 0; k < K; ++k) {                                                                            \
            if (cols == VN) {                                                                                     \
                u.v = TS_GLOAD(IN_T, VN, 0, b + k * sbk);                                                         \
            } else {                                                                                              \
                for (int v = 0; v < VN; ++v) u.s[v] = v < cols ? b[k * sbk + v] : (IN_T)0;                       \
            }                                                                                                     \
            _Pragma("unroll") for (int i = 0; i < TS_MM_RM; ++i) acc[i] += (V)a[ao[i] + k * sak] * u.v;          \
        }                                                                                                         \
        _Pragma("unroll") for (int i = 0; i < TS_MM_RM; ++i) {                                                    \
            if (i < rows) {                                                                                       \
                if (cols == VN) {                                                                                 \
                    TS_GSTORE(IN_T, VN, acc[i], 0, out + i * N);                                                  \
                } else {                                                                                          \
                    u.v = acc[i];                                                                                 \
                    for (int v = 0; v < cols; ++v) out[i * N + v] = u.s[v];                                       \
                }                                                                                                 \
            }                                                                                                     \
        }                                                                                                         \
    }                                                                                                             \
}

/* Note [Wide matmul blocks]: where vectors are 8 wide (AVX2: 16 registers), matmul_wide_8 takes 6 rows x 2 vectors
 * (16 columns) per work-item, BLIS's Haswell shape: 12 accumulators, two loads of b and six broadcasts of a per k
 * for 12 FMAs, against one load and eight broadcasts for 8 FMAs in matmul_blocked_8, which the loads bound.  Rows
 * past M read row M - 1 and are not stored; a partial block of columns gathers b through a union.  The same sums in
 * the same k order as matmul_blocked_8. */
#if TS_MM_VN == 8
__kernel void matmul_wide_8(__global IN_T* out, long out_off, __global const IN_T* a, long a_off,
                            __global const IN_T* b, long b_off, __global const long* meta, long nb, long M, long N,
                            long K, long sam, long sak, long sbk) {
    typedef TS_CAT(IN_T, 8) V;
    const long c0 = get_global_id(0) * 16, r0 = get_global_id(1) * 6, batch = get_global_id(2);
    if (c0 >= N || r0 >= M) return;
    long off[2];
    ts_offsets(batch, nb, 2, meta, off);
    a += a_off + off[0] + r0 * sam;
    b += b_off + off[1] + c0;
    out += out_off + (batch * M + r0) * N + c0;
    const int rows = (int)TS_MIN(6L, M - r0), cols = (int)TS_MIN(16L, N - c0);
    long ao[6];
    _Pragma("unroll") for (int i = 0; i < 6; ++i) ao[i] = (i < rows ? i : rows - 1) * sam;
    V lo[6], hi[6];
    _Pragma("unroll") for (int i = 0; i < 6; ++i) lo[i] = hi[i] = (V)0;
    if (cols == 16) {
        for (long k = 0; k < K; ++k) {
            const V b0 = TS_GLOAD(IN_T, 8, 0, b + k * sbk), b1 = TS_GLOAD(IN_T, 8, 1, b + k * sbk);
            _Pragma("unroll") for (int i = 0; i < 6; ++i) {
                const V av = (V)a[ao[i] + k * sak];
                lo[i] += av * b0;
                hi[i] += av * b1;
            }
        }
    } else {
        union { V v[2]; IN_T s[16]; } u;
        for (long k = 0; k < K; ++k) {
            for (int v = 0; v < 16; ++v) u.s[v] = v < cols ? b[k * sbk + v] : (IN_T)0;
            _Pragma("unroll") for (int i = 0; i < 6; ++i) {
                const V av = (V)a[ao[i] + k * sak];
                lo[i] += av * u.v[0];
                hi[i] += av * u.v[1];
            }
        }
    }
    _Pragma("unroll") for (int i = 0; i < 6; ++i) {
        if (i < rows) {
            if (cols == 16) {
                TS_GSTORE(IN_T, 8, lo[i], 0, out + i * N);
                TS_GSTORE(IN_T, 8, hi[i], 1, out + i * N);
            } else {
                union { V v[2]; IN_T s[16]; } w;
                w.v[0] = lo[i];
                w.v[1] = hi[i];
                for (int v = 0; v < cols; ++v) out[i * N + v] = w.s[v];
            }
        }
    }
}
#endif

#define TS_MM_BLOCKED(VN) TS_MM_BLOCKED_(VN) /* expands TS_MM_VN before the ## */
TS_MM_BLOCKED(4)
#if TS_MM_VN != 4
TS_MM_BLOCKED(TS_MM_VN)
#endif
#endif
