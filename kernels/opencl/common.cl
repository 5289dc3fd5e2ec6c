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

/* TS_CAT(a, b): a and b pasted after their expansion (TS_CAT(IN_T, 16) is float16 where IN_T is float), for the
 * vector types and vloadN/vstoreN names of the kernels that pick a width by macro. */
#define TS_CAT2(a, b) a##b
#define TS_CAT(a, b) TS_CAT2(a, b)

/* The smaller of two integers (arguments without side effects): OpenCL's min is a builtin, and a call where the
 * builtin library is not inlined (Note [Inline vector loads]). */
#define TS_MIN(a, b) ((a) < (b) ? (a) : (b))

/* Note [Inline vector loads]
 * vloadN and vstoreN are functions of the driver's builtin library, and PoCL inlines them only where the library was
 * built for the CPU the kernel is compiled for.  On an AVX-512 AMD EPYC, PoCL 3.0 picks its AVX-512 library by the
 * CPU's features but compiles kernels for znver3 (its LLVM 14 does not know the CPU): every vload8 was then a call
 * with the accumulators spilled around it, and the sum of 1M floats ran at 25 GB/s instead of 79.  So the vector
 * kernels read and write global memory through element-aligned vector types (ts_float8u: float8 aligned as a float),
 * which any clang-based compiler turns into inline unaligned vector moves: TS_GLOAD(T, N, k, p) is vector k of N
 * elements of T at p, TS_GSTORE(T, N, v, k, p) stores one.  (Private arrays keep vloadN: off the hot loops.) */
#define TS_UNALIGNED_VECTORS(T, A)                                                          \
    typedef T TS_CAT(ts_, TS_CAT(T, 4u)) __attribute__((ext_vector_type(4), aligned(A)));    \
    typedef T TS_CAT(ts_, TS_CAT(T, 8u)) __attribute__((ext_vector_type(8), aligned(A)));    \
    typedef T TS_CAT(ts_, TS_CAT(T, 16u)) __attribute__((ext_vector_type(16), aligned(A)));
TS_UNALIGNED_VECTORS(float, 4)
#ifdef TS_HAS_FP64
TS_UNALIGNED_VECTORS(double, 8)
#endif
#define TS_VU(T, N) TS_CAT(ts_, TS_CAT(T, TS_CAT(N, u)))
#define TS_GLOAD(T, N, k, p) (*(__global const TS_VU(T, N)*)((p) + (long)(k) * (N)))
#define TS_GSTORE(T, N, v, k, p) (*(__global TS_VU(T, N)*)((p) + (long)(k) * (N)) = (v))

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

/* The start of row ``r`` of a row kernel (Note [Row kernels] in elementwise.cl) for ``nops`` operands into off, and
 * its length: ``inner``, or ``last`` for the last of ``rows``. */
static inline long ts_row(long r, long rows, long inner, long last, long ndim, int nops, __global const long* meta,
                          long* off) {
    ts_offsets(r, ndim, nops, meta, off);
    return r == rows - 1 ? last : inner;
}

/* Note [Tile kernels]: a row kernel (Note [Row kernels] in elementwise.cl) whose input walks its row by a long stride
 * while the output's is 1 (``a + b.T``, a copy of a transpose) reads a cache line per element, and at a power-of-two
 * stride every line of a column falls in the same cache set: 25x the contiguous case on PoCL.  NAME_tiles instead
 * gives each work-item TS_TILE consecutive rows and walks them TS_TILE columns at a time, every row of the tile in
 * turn, so the lines a column chunk reads serve all TS_TILE rows before they leave the cache (the input's rows are
 * its columns: neighbours in memory).  The arguments are the row kernel's; the work-item count is rows / TS_TILE. */
#define TS_TILE 16

/* The rows of tile ``t``: their starts into off (TS_TILE x nops), their lengths into len; the number of rows. */
static inline int ts_tile_rows(long t, long rows, long inner, long last, long ndim, int nops,
                               __global const long* meta, long* off, long* len) {
    const long r0 = t * TS_TILE;
    const int nr = (int)TS_MIN((long)TS_TILE, rows - r0);
    for (int b = 0; b < nr; ++b) len[b] = ts_row(r0 + b, rows, inner, last, ndim, nops, meta, off + b * nops);
    return nr;
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

/* Float to integer conversions, by Note [Float to integer casts] in dispatch/dtypes.py (NumPy's x86-64 results):
 * a C cast of NaN or of an out-of-range float is undefined, so each bound is tested first.  int64 takes trunc(v)
 * when it fits, else LONG_MIN; int32 the same with INT_MIN; int8, int16, uint8 and uint16 take the low bits of the
 * int32 result, uint32 those of the int64 result (wrapped by arithmetic, so no conversion below is out of range
 * either); uint64 takes the int64 result's bits below 2^63 and, from 2^63 up, int64(v - 2^63) with the top bit set
 * (exact: a float there is a multiple of its spacing; 0 at 2^64 and above, where the int64 rule gives LONG_MIN).  kernels/codegen.py cast() emits
 * ts_<float|double>_to_<dtype>(v).  The bounds are exact in their type: -2^31, 2^31 and +-2^63 are floats; in double,
 * trunc(v) >= -2^31 exactly when v > -2^31 - 1. */
static inline char ts_wrap_int8(int v) { return (char)(((v & 0xff) ^ 0x80) - 0x80); }
static inline short ts_wrap_int16(int v) { return (short)(((v & 0xffff) ^ 0x8000) - 0x8000); }
static inline uchar ts_wrap_uint8(int v) { return (uchar)(v & 0xff); }
static inline ushort ts_wrap_uint16(int v) { return (ushort)(v & 0xffff); }

static inline long ts_float_to_int64(float v) {
    return (v >= -9223372036854775808.0f && v < 9223372036854775808.0f) ? (long)v : LONG_MIN;
}
static inline int ts_float_to_int32(float v) { return (v >= -2147483648.0f && v < 2147483648.0f) ? (int)v : INT_MIN; }
#ifdef TS_HAS_FP64
static inline long ts_double_to_int64(double v) {
    return (v >= -9223372036854775808.0 && v < 9223372036854775808.0) ? (long)v : LONG_MIN;
}
static inline int ts_double_to_int32(double v) { return (v > -2147483649.0 && v < 2147483648.0) ? (int)v : INT_MIN; }
#endif

#define TS_NARROW_CASTS(F, TWO63)                                                                  \
    static inline char ts_##F##_to_int8(F v) { return ts_wrap_int8(ts_##F##_to_int32(v)); }          \
    static inline short ts_##F##_to_int16(F v) { return ts_wrap_int16(ts_##F##_to_int32(v)); }       \
    static inline uchar ts_##F##_to_uint8(F v) { return ts_wrap_uint8(ts_##F##_to_int32(v)); }       \
    static inline ushort ts_##F##_to_uint16(F v) { return ts_wrap_uint16(ts_##F##_to_int32(v)); }    \
    static inline uint ts_##F##_to_uint32(F v) { return (uint)((ulong)ts_##F##_to_int64(v) & 0xffffffffUL); } \
    static inline ulong ts_##F##_to_uint64(F v) {                                                   \
        return v >= TWO63 ? ((ulong)ts_##F##_to_int64(v - TWO63) ^ 0x8000000000000000UL)            \
                          : (ulong)ts_##F##_to_int64(v);                                             \
    }
TS_NARROW_CASTS(float, 9223372036854775808.0f)
#ifdef TS_HAS_FP64
TS_NARROW_CASTS(double, 9223372036854775808.0)
#endif
