/* Shared by every tensorswitch OpenCL program; backends/opencl.py puts it first, after its #defines
 * (TS_HAS_FP64, TS_HAS_FP16) and codegen.helpers().
 *
 * Conventions of every kernel here: pointers come with an element offset (``long x_off``), every integer scalar
 * argument is a ``long``, bool is stored as uchar 0/1, and strided operands get a ``meta`` buffer of int64:
 * shape[ndim], then ndim strides (in elements) per operand, dims already coalesced by the host.
 */
#ifdef TS_HAS_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
#ifdef TS_HAS_FP16
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#endif

/* Note [Uniform guard]
 * The launch rounds the global size up to a multiple of the work-group size, so the last group has items past n.
 * A plain ``if (i < n)`` in every item stops PoCL from vectorising the work-group loop (3x slower on 10M floats);
 * testing whole groups first keeps every full group guard-free and leaves the per-item test to the last one. */
#define TS_FOR_INDEX(n, ...)                                                                 \
    {                                                                                        \
        const long i = get_global_id(0);                                                     \
        if ((long)(get_group_id(0) + 1) * (long)get_local_size(0) <= (n)) {                  \
            __VA_ARGS__                                                                      \
        } else if (i < (n)) {                                                                \
            __VA_ARGS__                                                                      \
        }                                                                                    \
    }

/* Element offsets of linear index ``i`` (C order over meta's shape) for ``nops`` operands. */
static inline void ts_offsets(long i, long ndim, int nops, __global const long* meta, long* off) {
    for (int k = 0; k < nops; ++k) off[k] = 0;
    for (long d = ndim - 1; d >= 0; --d) {
        const long extent = meta[d];
        const long c = i % extent;
        i /= extent;
        for (int k = 0; k < nops; ++k) off[k] += c * meta[(k + 1) * ndim + d];
    }
}

/* Offset of linear index ``i`` over ``ndim`` dims whose shape is at ``shape`` and strides at ``strides``. */
static inline long ts_offset(long i, long ndim, __global const long* shape, __global const long* strides) {
    long off = 0;
    for (long d = ndim - 1; d >= 0; --d) {
        const long c = i % shape[d];
        i /= shape[d];
        off += c * strides[d];
    }
    return off;
}
