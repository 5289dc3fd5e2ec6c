"""ts.autograd (work in progress)."""
