// CUDA kernels of the scan/gather family.  Being written: issue 8.
