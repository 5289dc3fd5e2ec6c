"""ts.utils.data (work in progress)."""
