"""Conformance samples of the nn kernel families (work in progress)."""
