// Shared by every CUDA kernel file: the float16 type, index types, the grid-stride loop, strided offsets and the
// block tree reduction.  backends/cuda.py pastes this file (and the family files that include it) into each program
// it compiles, so NVRTC needs no include path for our own files and CuPy's on-disk cache key covers their text.
#ifndef TS_CUDA_COMMON_CU
#define TS_CUDA_COMMON_CU

// float16 is CUDA's __half.  Where cuda_fp16.h cannot be found (NVRTC without the headers CuPy bundles), the backend
// retries with TS_OWN_HALF: a storage-only __half converted by the PTX instructions the header itself uses.
#ifndef TS_OWN_HALF
#include <cuda_fp16.h>
#else
struct __align__(2) __half {
    unsigned short bits;
};
__device__ __forceinline__ float __half2float(__half h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h.bits));
    return f;
}
__device__ __forceinline__ __half __float2half(float f) {
    __half h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h.bits) : "f"(f));
    return h;
}
__device__ __forceinline__ __half __double2half(double d) {
    __half h;
    asm("cvt.rn.f16.f64 %0, %1;" : "=h"(h.bits) : "d"(d));
    return h;
}
#endif

namespace ts {

typedef long long i64;
typedef unsigned long long u64;

// The largest block any kernel here is launched with; block reductions keep one accumulator per thread in shared
// memory of this size.  Must match MAX_BLOCK in backends/cuda.py.
#define TS_MAX_BLOCK 256

// Every thread visits i = its global id, then steps by the whole grid: any n works with a capped grid.
#define TS_GRID_LOOP(i, n) \
    for (::ts::i64 i = (::ts::i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (::ts::i64)blockDim.x * gridDim.x)

// Note [Strided metadata]
// ~~~~~~~~~~~~~~~~~~~~~~~
// A layout of N operands over one shape is a flat int64 array, built and cached on the device by backends/cuda.py:
//     meta = [nd, shape[0..nd), strides of operand 0 [0..nd), ..., strides of operand N-1 [0..nd)]
// with strides in elements (any sign, 0 for broadcast) and dims already coalesced.  ``offsets`` turns the linear
// C-order index ``i`` into each operand's element offset.
template <int N>
__device__ __forceinline__ void offsets(i64 i, const i64* meta, i64 (&off)[N]) {
    const int nd = (int)meta[0];
    const i64* shape = meta + 1;
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = nd - 1; d >= 0; --d) {
        const i64 s = shape[d];
        const i64 idx = i % s;
        i /= s;
#pragma unroll
        for (int k = 0; k < N; ++k) off[k] += idx * shape[(k + 1) * nd + d];
    }
}

// One operand's offset for a single-operand layout block [nd, shape.., strides..] (reductions and softmax).
__device__ __forceinline__ i64 offset1(i64 i, const i64* meta) {
    const int nd = (int)meta[0];
    const i64* shape = meta + 1;
    if (nd == 1) return i * shape[1];
    i64 off = 0;
    for (int d = nd - 1; d >= 0; --d) {
        const i64 s = shape[d];
        off += (i % s) * shape[nd + d];
        i /= s;
    }
    return off;
}

// The block [nd, shape.., strides..] after the one at ``meta``.
__device__ __forceinline__ const i64* next_layout(const i64* meta) { return meta + 1 + 2 * meta[0]; }

// Tree reduction of one value per thread; blockDim.x is a power of two <= TS_MAX_BLOCK.  Every thread gets the result.
// ``buf`` is shared memory of TS_MAX_BLOCK entries; the caller syncs before reusing it.
template <class Acc, class Merge>
__device__ __forceinline__ Acc block_reduce(Acc* buf, Acc v, Merge merge) {
    const unsigned t = threadIdx.x;
    buf[t] = v;
    __syncthreads();
    for (unsigned s = blockDim.x >> 1; s > 0; s >>= 1) {
        if (t < s) buf[t] = merge(buf[t], buf[t + s]);
        __syncthreads();
    }
    Acc r = buf[0];
    __syncthreads();
    return r;
}

// A float16 store rounds once from the value's own type: a double goes straight to half (through float it would
// round twice: 65519.999 would become inf, not 65504).  Integers go through float, which is exact below 2^24, and
// anything at or above 2^24 is inf in half either way.  kernels/codegen.py store() emits ::ts::to_half(v).
__device__ __forceinline__ __half to_half(float v) { return __float2half(v); }
__device__ __forceinline__ __half to_half(double v) { return __double2half(v); }
template <class V>
__device__ __forceinline__ __half to_half(V v) {
    return __float2half((float)v);
}

// Float to integer conversions, by Note [Float to integer casts] in dispatch/dtypes.py (NumPy's x86-64 results): a
// C++ cast of NaN or of an out-of-range float is undefined, so each bound is tested first.  int64 takes trunc(v) when
// it fits, else INT64_MIN; int32 the same with INT32_MIN; int8, int16, uint8 and uint16 take the low bits of the
// int32 result, uint32 those of the int64 result (wrapped by arithmetic, so no conversion here is out of range
// either); uint64 takes the int64 result's bits below 2^63 and, from 2^63 up, int64(v - 2^63) with the top bit set
// (exact: a float there is a multiple of its spacing; 0 at 2^64 and above, where the int64 rule gives INT64_MIN).  kernels/codegen.py cast() emits
// ::ts::<float|double>_to_<dtype>(v).  The bounds are exact in their type: -2^31, 2^31 and +-2^63 are floats; in
// double, trunc(v) >= -2^31 exactly when v > -2^31 - 1.
__device__ __forceinline__ signed char wrap_int8(int v) { return (signed char)(((v & 0xff) ^ 0x80) - 0x80); }
__device__ __forceinline__ short wrap_int16(int v) { return (short)(((v & 0xffff) ^ 0x8000) - 0x8000); }
__device__ __forceinline__ unsigned char wrap_uint8(int v) { return (unsigned char)(v & 0xff); }

__device__ __forceinline__ long long float_to_int64(float v) {
    return (v >= -9223372036854775808.0f && v < 9223372036854775808.0f) ? (long long)v : (-9223372036854775807LL - 1);
}
__device__ __forceinline__ long long double_to_int64(double v) {
    return (v >= -9223372036854775808.0 && v < 9223372036854775808.0) ? (long long)v : (-9223372036854775807LL - 1);
}
__device__ __forceinline__ int float_to_int32(float v) {
    return (v >= -2147483648.0f && v < 2147483648.0f) ? (int)v : (-2147483647 - 1);
}
__device__ __forceinline__ int double_to_int32(double v) {
    return (v > -2147483649.0 && v < 2147483648.0) ? (int)v : (-2147483647 - 1);
}
__device__ __forceinline__ signed char float_to_int8(float v) { return wrap_int8(float_to_int32(v)); }
__device__ __forceinline__ signed char double_to_int8(double v) { return wrap_int8(double_to_int32(v)); }
__device__ __forceinline__ short float_to_int16(float v) { return wrap_int16(float_to_int32(v)); }
__device__ __forceinline__ short double_to_int16(double v) { return wrap_int16(double_to_int32(v)); }
__device__ __forceinline__ unsigned char float_to_uint8(float v) { return wrap_uint8(float_to_int32(v)); }
__device__ __forceinline__ unsigned char double_to_uint8(double v) { return wrap_uint8(double_to_int32(v)); }
__device__ __forceinline__ unsigned short float_to_uint16(float v) {
    return (unsigned short)(float_to_int32(v) & 0xffff);
}
__device__ __forceinline__ unsigned short double_to_uint16(double v) {
    return (unsigned short)(double_to_int32(v) & 0xffff);
}
__device__ __forceinline__ unsigned int float_to_uint32(float v) {
    return (unsigned int)((unsigned long long)float_to_int64(v) & 0xffffffffULL);
}
__device__ __forceinline__ unsigned int double_to_uint32(double v) {
    return (unsigned int)((unsigned long long)double_to_int64(v) & 0xffffffffULL);
}
__device__ __forceinline__ unsigned long long float_to_uint64(float v) {
    return v >= 9223372036854775808.0f ? ((unsigned long long)float_to_int64(v - 9223372036854775808.0f) ^ (1ULL << 63))
                                       : (unsigned long long)float_to_int64(v);
}
__device__ __forceinline__ unsigned long long double_to_uint64(double v) {
    return v >= 9223372036854775808.0 ? ((unsigned long long)double_to_int64(v - 9223372036854775808.0) ^ (1ULL << 63))
                                      : (unsigned long long)double_to_int64(v);
}

// nextafter of float32 in integer arithmetic on the bits.  CuPy compiles with -ftz=true, under which libdevice's
// nextafterf (and any float compare) treats subnormals as zero (cupy#1717): nextafter(0, 1) would not be 2^-149.
// kernels/ops_common.h's TS_NEXTAFTER_FLOAT picks this under __CUDACC__.  float64 is not flushed: it keeps
// nextafter.  Stepping the magnitude's bits by one moves to the neighbour (+1 away from zero, -1 towards it), from
// the largest finite to inf and from the smallest subnormal to a zero of a's sign.
__device__ __forceinline__ float nextafter_bits(float a, float b) {
    const unsigned int ia = __float_as_uint(a), ib = __float_as_uint(b);
    const unsigned int ma = ia & 0x7fffffffu, mb = ib & 0x7fffffffu;
    if (ma > 0x7f800000u || mb > 0x7f800000u) return __uint_as_float(0x7fc00000u);  // NaN
    if (ia == ib || (ma == 0 && mb == 0)) return b;  // equal, -0 and +0 included: b, as C says
    if (ma == 0) return __uint_as_float((ib & 0x80000000u) | 1u);  // the smallest subnormal towards b
    const int ka = (ia >> 31) ? -(int)ma : (int)ma, kb = (ib >> 31) ? -(int)mb : (int)mb;  // ordered as floats
    const bool away = (ia >> 31) ? kb < ka : kb > ka;
    return __uint_as_float(away ? ia + 1u : ia - 1u);
}

// Complex numbers (Note [Complex kernels] in kernels/ops_common.h) are float2/double2, CuPy's complex64/complex128
// layout.  to_float2/to_double2 convert either precision (codegen.store and the accumulators of sums and scans),
// mul_rn is a product the compiler never fuses into an fma (ts_cmul_*), is_nonzero tests a real or complex value.
__device__ __forceinline__ float2 to_float2(float2 v) { return v; }
__device__ __forceinline__ float2 to_float2(double2 v) { return make_float2((float)v.x, (float)v.y); }
__device__ __forceinline__ double2 to_double2(double2 v) { return v; }
__device__ __forceinline__ double2 to_double2(float2 v) { return make_double2((double)v.x, (double)v.y); }
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
template <class V>
__device__ __forceinline__ bool is_nonzero(V v) {
    return v != (V)0;
}
__device__ __forceinline__ bool is_nonzero(float2 v) { return v.x != 0 || v.y != 0; }
__device__ __forceinline__ bool is_nonzero(double2 v) { return v.x != 0 || v.y != 0; }

__device__ __forceinline__ float inf_of(float) { return __int_as_float(0x7f800000); }
__device__ __forceinline__ double inf_of(double) { return __longlong_as_double(0x7ff0000000000000LL); }
__device__ __forceinline__ float nan_of(float) { return __int_as_float(0x7fc00000); }
__device__ __forceinline__ double nan_of(double) { return __longlong_as_double(0x7ff8000000000000LL); }

}  // namespace ts

#endif  // TS_CUDA_COMMON_CU
