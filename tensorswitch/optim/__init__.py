"""ts.optim (work in progress)."""
