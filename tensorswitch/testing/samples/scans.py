"""Samples of the scans (cumulative_sum, cumulative_prod), nonzero/count_nonzero, and the gather/put kernels of
array indexing.

(Being written: issue 8.)
"""
