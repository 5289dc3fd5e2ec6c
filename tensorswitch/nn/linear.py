"""ts.nn (work in progress)."""
