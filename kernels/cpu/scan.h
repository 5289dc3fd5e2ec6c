// The cpu kernels of the scan family (kernels/cpu/scan.cpp): cumulative sums and products, nonzero (stream
// compaction), and the gather and put kernels of integer-array indexing.  What each computes is the "cumsum" to "put"
// rows of Note [Kernel contract] in dispatch/registry.py.  The entry points in module.cpp check every operand's
// layout against its buffer first (Note [Bounds checks]) and release the GIL; these functions only compute.
// Pointers are to each operand's first element; strides count elements.
#pragma once

#include <cstdint>
#include <vector>

namespace ts {
namespace scan {

using Shape = std::vector<int64_t>;

// out = the running sum (product = false) or product (product = true) of x along ``axis`` of ``shape``, both
// operands of that shape with their own strides (out never overlaps x).  Floats accumulate in double, integers wrap
// in their own width, bool is a running or (sum) / and (product).
void cumulative(int dt, bool product, const Shape& shape, int axis, char* out, const Shape& out_strides,
                const char* x, const Shape& x_strides);

// The number of nonzero elements of x (NaN counts as nonzero, -0.0 as zero).
int64_t count_nonzero(int dt, const Shape& shape, const char* x, const Shape& x_strides);

// out (ndim, count) int64 contiguous: out[d * count + k] = coordinate d of the k-th nonzero element of x in C order.
// Returns how many nonzero elements were found: the caller checks that it is ``count`` (nothing past count is
// written whatever it is).
int64_t nonzero(int dt, const Shape& shape, const char* x, const Shape& x_strides, int64_t* out, int64_t count);

// One index operand of gather and put: int64 values over the result's shape (strides in elements, 0 for broadcast),
// the extent of the axis it indexes (negative values count from its end) and that axis's stride in the indexed
// tensor (elements).
struct Index {
    const int64_t* data;
    Shape strides;
    int64_t size, step;
};

// out (contiguous, ``shape``)[p] = x[p + sum_j wrap(index_j[p]) * step_j]; x's strides walk ``shape`` (0 along the
// dims the indices supply).  Returns false when an index lies outside [-size, size) (nothing is read for it).
bool gather(int dt, const Shape& shape, char* out, const char* x, const Shape& x_strides,
            const std::vector<Index>& index);

// In place: out[p + sum_j wrap(index_j[p]) * step_j] = values[p] for every p of ``shape``, in C order on one thread,
// so that where positions repeat the last write wins (NumPy's answer).  Returns false when an index lies outside
// [-size, size) (that element is skipped).
bool put(int dt, const Shape& shape, char* out, const Shape& out_strides, const std::vector<Index>& index,
         const char* values, const Shape& values_strides);

}  // namespace scan
}  // namespace ts
