// The OpenCL kernels of the scan family.  Being written: issue 8.
