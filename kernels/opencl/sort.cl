// The OpenCL kernels of the sort family.  Being written: issue 8.
