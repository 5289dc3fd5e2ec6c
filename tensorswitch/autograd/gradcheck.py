"""Finite-difference gradient checks (work in progress)."""
