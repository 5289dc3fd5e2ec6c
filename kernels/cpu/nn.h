// The cpu kernels of the nn families (kernels/cpu/nn.cpp): im2col/col2im, 2-D max and average pooling with their
// backward passes, take_along_axis and scatter_add.  What each computes is Note [Kernel contract] in
// dispatch/registry.py.  The entry points in module.cpp check every operand's layout against its buffer first (Note
// [Bounds checks]) and release the GIL; these functions only compute.  Pointers are to each operand's first element;
// strides count elements.
#pragma once

#include <cstdint>
#include <vector>

namespace ts {
namespace nn {

// kernel size, stride, padding and dilation along H and W: the ``geometry`` tuple of the contract
struct Geometry {
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
};

// A 4-D operand: (N, C, H, W) for images, (N, C, OH, OW) for pooled grads, (N, C*KH*KW, OH*OW, 1) for columns.
struct Image {
    char* data;
    int64_t n, c, h, w;
    int64_t sn, sc, sh, sw;
};

// out (N, C*KH*KW, OH*OW) contiguous
void im2col(int dt, const Image& x, char* out, int64_t oh, int64_t ow, const Geometry& g);
// cols (N, C*KH*KW, OH*OW, 1); out (N, C, H, W) contiguous, overwritten
void col2im(int dt, const Image& cols, char* out, int64_t n, int64_t c, int64_t h, int64_t w, int64_t oh, int64_t ow,
            const Geometry& g);
// out (N, C, OH, OW) contiguous
void max_pool2d(int dt, const Image& x, char* out, int64_t oh, int64_t ow, const Geometry& g);
// grad (N, C, OH, OW); out (N, C, H, W) contiguous, overwritten.  Disjoint windows take a one-pass path unless
// ``general`` (for tests: both paths must agree).
void max_pool2d_backward(int dt, const Image& grad, const Image& x, char* out, const Geometry& g,
                         bool general = false);
void avg_pool2d(int dt, const Image& x, char* out, int64_t oh, int64_t ow, const Geometry& g, bool include_pad);
// grad (N, C, OH, OW); out (N, C, H, W) contiguous, overwritten
void avg_pool2d_backward(int dt, const Image& grad, char* out, int64_t h, int64_t w, const Geometry& g,
                         bool include_pad);

// out[p] = x[p with p[axis] = index[p]] over ``shape`` (out's); x's extent along axis is ``x_axis_size``.  Returns
// false when an index lies outside [0, x_axis_size) (that element is left unwritten, nothing is read for it).
bool take_along_axis(int dt, const std::vector<int64_t>& shape, char* out, const std::vector<int64_t>& out_strides,
                     const char* x, const std::vector<int64_t>& x_strides, int64_t x_axis_size, const int64_t* index,
                     const std::vector<int64_t>& index_strides, int axis);
// out (contiguous, ``shape`` with out_axis_size along axis) += src scattered along axis at index (both ``shape``).
// Returns false when an index lies outside [0, out_axis_size) (that element is skipped).
bool scatter_add(int dt, const std::vector<int64_t>& shape, char* out, int64_t out_axis_size, const int64_t* index,
                 const std::vector<int64_t>& index_strides, const char* src, const std::vector<int64_t>& src_strides,
                 int axis);

}  // namespace nn
}  // namespace ts
