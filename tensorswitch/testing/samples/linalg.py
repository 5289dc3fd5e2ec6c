"""Samples of the linalg family.

(Being written: issue 8.)
"""
