"""Define-by-run autograd: grad mode, graph nodes, the engine (work in progress)."""
