"""Samples of sort, argsort, searchsorted and the set functions.

(Being written: issue 8.)
"""
