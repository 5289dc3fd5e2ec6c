"""ts.utils (work in progress)."""
