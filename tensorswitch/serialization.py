"""ts.save / ts.load (work in progress)."""
