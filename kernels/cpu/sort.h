// The cpu kernels of the sort family (kernels/cpu/sort.cpp): sort, argsort and searchsorted.  What each computes is
// Note [Kernel contract] in dispatch/registry.py, and the order they sort by is Note [Sort order] in sort.cpp.  The
// entry points in module.cpp check every operand's layout against its buffer first (Note [Bounds checks]) and
// release the GIL; these functions only compute.  Pointers are to each operand's first element; strides count
// elements.
#pragma once

#include <cstdint>
#include <vector>

namespace ts {
namespace sort {

// Sorts x (``shape``, ``strides``, ndim >= 1) along ``axis``, stably, into ``values`` (x's dtype) or ``indices``
// (int64), whichever is not null: both contiguous with x's shape.  ``descending`` reverses the order but keeps equal
// elements in their original order.
void sort(int dt, const std::vector<int64_t>& shape, const char* x, const std::vector<int64_t>& strides, int axis,
          bool descending, char* values, int64_t* indices);

// out[p] (contiguous, ``shape``) = the number of elements of the sorted 1-D x1 (length n1, stride s1; read through
// ``sorter``, int64 indices with stride ss, when it is not null) that order before x2[p] (side left) or not after it
// (side right).  Returns false when a sorter index lies outside [0, n1) (its element is never read).
bool searchsorted(int dt, const char* x1, int64_t n1, int64_t s1, const int64_t* sorter, int64_t ss,
                  const std::vector<int64_t>& shape, const char* x2, const std::vector<int64_t>& strides, bool right,
                  int64_t* out);

}  // namespace sort
}  // namespace ts
