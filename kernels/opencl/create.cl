/* Tensors made from nothing, for one output dtype OUT_T: arange and the random draws.
 * backends/opencl.py defines ts_store(out, i, value) (codegen.store), TS_ARANGE_T (the type arange computes in),
 * and TS_RANDOM_FLOAT (rand, randn: TS_UNIFORM(x0, x1) from Note [Random numbers]) or TS_RANDOM_INT (randint). */

__kernel void arange(__global OUT_T* out, long out_off, TS_ARANGE_T start, TS_ARANGE_T step, long n) {
    out += out_off;
    TS_FOR_INDEX(n, ts_store(out, i, start + (TS_ARANGE_T)i * step);)
}

/* Philox4x32-10 exactly as Note [Random numbers] in dispatch/registry.py (the cpu backend's struct Philox):
 * key (seed lo, seed hi), counter (i lo, i hi, offset lo, offset hi). */
static inline void ts_philox(ulong seed, ulong i, ulong offset, uint* x) {
    uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
    uint c0 = (uint)i, c1 = (uint)(i >> 32), c2 = (uint)offset, c3 = (uint)(offset >> 32);
    for (int r = 0; r < 10; ++r) {
        if (r) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        const ulong p0 = (ulong)0xD2511F53u * c0;
        const ulong p1 = (ulong)0xCD9E8D57u * c2;
        c0 = (uint)(p1 >> 32) ^ c1 ^ k0;
        c1 = (uint)p1;
        c2 = (uint)(p0 >> 32) ^ c3 ^ k1;
        c3 = (uint)p0;
    }
    x[0] = c0, x[1] = c1, x[2] = c2, x[3] = c3;
}

#ifdef TS_RANDOM_FLOAT
__kernel void rand(__global OUT_T* out, long out_off, ulong seed, ulong offset, long n) {
    const long i = get_global_id(0);
    if (i >= n) return;
    uint x[4];
    ts_philox(seed, (ulong)i, offset, x);
    ts_store(out, out_off + i, TS_UNIFORM(x[0], x[1]));
}

__kernel void randn(__global OUT_T* out, long out_off, ulong seed, ulong offset, long n) {
    const long i = get_global_id(0);
    if (i >= n) return;
    uint x[4];
    ts_philox(seed, (ulong)i, offset, x);
#ifdef TS_HAS_FP64
    const double u1 = (x[0] + 1.0) * (1.0 / 4294967296.0);
    const double u2 = x[1] * (1.0 / 4294967296.0);
    ts_store(out, out_off + i, sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
#else
    const float u1 = (x[0] + 1.0f) * (1.0f / 4294967296.0f);
    const float u2 = x[1] * (1.0f / 4294967296.0f);
    ts_store(out, out_off + i, sqrt(-2.0f * log(u1)) * cos(6.2831853f * u2));
#endif
}
#endif

#ifdef TS_RANDOM_INT
__kernel void randint(__global OUT_T* out, long out_off, ulong seed, ulong offset, long low, ulong span, long n) {
    const long i = get_global_id(0);
    if (i >= n) return;
    uint x[4];
    ts_philox(seed, (ulong)i, offset, x);
    const ulong bits = ((ulong)x[1] << 32) | x[0];
    const ulong r = span ? bits % span : bits; /* span 0: high - low is 2^64, every value */
    ts_store(out, out_off + i, (long)((ulong)low + r));
}
#endif
