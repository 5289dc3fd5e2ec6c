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
