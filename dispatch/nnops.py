"""Kernel families for neural networks: im2col/col2im, pooling, gather and scatter-add (work in progress)."""
