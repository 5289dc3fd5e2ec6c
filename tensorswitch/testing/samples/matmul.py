"""Samples of matmul: 1-D operands on either side, batches and their broadcasting, empty and K = 1 products, sizes
just past the OpenCL and CUDA tiles, non-contiguous operands; tolerances as in Note [Reduction tolerances]
(reductions.py)."""

import numpy as np

import tensorswitch as ts
from .. import reference
from .core import Sample, _acc_eps, _call, _eps, to_device, values


MATMUL_CASES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
                ((2, 1, 3, 4), (5, 4, 2)), ((3, 0), (0, 4)), ((0, 3), (3, 2)), ((65, 67), (67, 66)),
                # the outer product (K = 1), and K, M, N just past the 16-wide tiles of the OpenCL and CUDA kernels
                ((17, 1), (1, 33)), ((1,), (1,)), ((17, 17), (17, 33)), ((33, 33), (33, 17)), ((17, 65), (65, 33)),
                ((33, 65), (65, 17)),
                # not square, thin
                ((5, 33), (33, 2)), ((1, 17), (17, 1)), ((40, 3), (3, 1)),
                # 1-D on either side, with and without batches
                ((17,), (17, 33)), ((33, 17), (17,)), ((65,), (65,)), ((2, 3, 17), (17,)), ((17,), (2, 17, 5)),
                # batch broadcasting
                ((3, 1, 17, 33), (2, 33, 5)), ((1, 5, 17), (4, 17, 3))]


def matmul_tolerance(a, b):
    """(atol, rtol) for float matmul: Note [Reduction tolerances]."""
    if a.dtype.kind not in "fc":
        return None, None
    k = a.shape[-1]
    # complex: |a| and |b| are the moduli, and each complex product adds two rounded real products
    k = 2 * k if a.dtype.kind == "c" else k
    mag = np.abs(np.matmul(np.abs(a.astype(np.complex128)), np.abs(b.astype(np.complex128))))
    tiny = float(np.finfo(a.dtype).smallest_subnormal)
    return 2 * max(k, 1) * _acc_eps(a.dtype) * mag + tiny, _eps(a.dtype)


def _matmul_values(dtype, shape, rng):
    dt = np.dtype(dtype)
    if dt.kind == "u":
        return values(dt, shape, rng, 0, 3)
    if dt.kind == "b":
        return values(dt, shape, rng)
    return values(dt, shape, rng, -3, 3) if dt.kind == "i" else values(dt, shape, rng, -1, 1)


def matmul_samples(op, dtype, device, rng):
    for sa, sb in MATMUL_CASES:
        if len(sa) == 2 and len(sb) == 2:
            layouts = ("contiguous", "transposed")
        elif len(sa) > 2 and len(sb) > 2:
            layouts = ("contiguous", "transposed", "strided")
        else:
            layouts = ("contiguous", "strided")
        for layout in layouts:
            a, b = _matmul_values(dtype, sa, rng), _matmul_values(dtype, sb, rng)
            atol, rtol = matmul_tolerance(a, b)
            yield _call(f"matmul({layout} {sa} @ {sb})", ts.matmul, device, [(a, layout), (b, layout)],
                        reference.matmul(a, b), atol=atol, rtol=rtol)
    # a batch broadcast by stride 0 (broadcast_to), against a transposed batch
    a, b = _matmul_values(dtype, (1, 17, 33), rng), _matmul_values(dtype, (4, 33, 5), rng)
    atol, rtol = matmul_tolerance(a, b)

    def run(a=a, b=b):
        return ts.matmul(ts.broadcast_to(to_device(a, device), (4, 17, 33)), to_device(b, device, "transposed"))
    yield Sample("matmul(broadcast_to (1, 17, 33) -> (4, 17, 33) @ transposed (4, 33, 5))", run,
                 reference.matmul(np.broadcast_to(a, (4, 17, 33)), b), atol=atol, rtol=rtol, inputs={"args": [a, b]})
    # matrices broadcast by stride 0 within their own rows and columns (a gradient of sum() meets a matmul in
    # backward as an expanded scalar; a bias row expanded to a matrix): kernels that load rows of an operand as
    # vectors must not take a zero column stride for a unit one
    for sa, sb, base_a, base_b in (((9, 5), (5, 33), None, (1, 1)), ((9, 5), (5, 33), None, (1, 33)),
                                   ((33, 5), (5, 9), (33, 1), None), ((17, 5), (5, 3), (1, 1), (1, 1))):
        a = _matmul_values(dtype, base_a or sa, rng)
        b = _matmul_values(dtype, base_b or sb, rng)
        full_a, full_b = np.broadcast_to(a, sa), np.broadcast_to(b, sb)
        atol, rtol = matmul_tolerance(full_a, full_b)

        def run(a=a, b=b, sa=sa, sb=sb):
            return ts.matmul(ts.broadcast_to(to_device(a, device), sa), ts.broadcast_to(to_device(b, device), sb))
        yield Sample(f"matmul(broadcast by stride 0: {base_a or sa} -> {sa} @ {base_b or sb} -> {sb})", run,
                     reference.matmul(full_a, full_b), atol=atol, rtol=rtol,
                     inputs={"args": [np.array(full_a), np.array(full_b)]})
