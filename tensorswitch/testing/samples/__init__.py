"""The shared database of sample inputs, and the check of one (op, device, dtype) against the NumPy reference.

Every sample runs through the public API (``ts.add(x, y)``, ``x.sum(axis=...)``, ``x += y``), so the check covers the
whole path a user takes: promotion, broadcasting, dispatch and the kernel.  Inputs cover broadcasting (size 0
included), 0-d, empty, non-contiguous views (strided, transposed, reversed), NaN and infinities, large and tiny values,
integer edges, mixed dtypes and Python scalars (Note [Type promotion] in dispatch/dtypes.py), in-place ops whose
operand overlaps the target, and shapes large enough to take every backend's multi-threaded and multi-work-group paths.

A sample is data (:class:`Sample`): what it is, how to compute it on the device, and the expected NumPy answer with its
tolerances (or the exception it must raise).  :func:`samples` lists the samples of one (op, dtype) on a device;
:func:`check` runs them.  The data are the same in every process: the generator is seeded from the op's and the
dtype's names (zlib.crc32), never from ``hash()``, which Python randomises per process.

The database has one module per op family, over the core they share:

    core.py          Sample and its failures, the inputs (values, specials, seeded_rng, to_device), compare and the
                     default tolerances, the helpers the families build samples with
    elementwise.py   unary and binary ops: shapes and layouts, edges, in-place overlap, mixed dtypes, Python scalars,
                     out-of-range ints
    reductions.py    reductions, and Note [Reduction tolerances]
    matmul.py        matmul
    softmax.py       softmax and log_softmax
    where.py         where
    casts.py         astype
    creation.py      fill, arange and linspace, the random streams
    nn.py            the nn families: im2col/col2im (unfold/fold), the pools and their backward passes,
                     take_along_axis and scatter_add
    sorting.py       sort, argsort and searchsorted

This module holds the registry of families (:data:`SAMPLES`, keyed by ``ts.OPS``), :func:`samples`, :func:`check`
and the checks of unclaimed (op, dtype) pairs, and re-exports every public name, so that
``from tensorswitch.testing import samples`` is all a caller needs.  A new family is one module with a generator
``<family>_samples(op, dtype, device, rng)``, one line in SAMPLES and its call in :func:`check_not_implemented`.
"""

import numpy as np

import tensorswitch as ts
from ...kernels import optable
from .casts import astype_samples, cast_edges, float16_rounding_edges, int_to_float_edges
from . import core
from .core import (LARGE, MEDIUM, SHOWN, TOLERANCE, WIDE_DTYPES, Failure, Sample, SampleFailure, Shared, compare,
                   seeded_rng, specials, to_device, values)
from .creation import arange_samples, fill_samples, random_samples
from .elementwise import (ARITHMETIC, BINARY_SHAPES, COMPARISONS, IN_PLACE, LOGICAL, OVERLAPS, SYMBOLS, UNARY_SHAPES,
                          elementwise_samples)
from .matmul import MATMUL_CASES, matmul_samples, matmul_tolerance
from .nn import (CONVOLUTION_CASES, POOLING_CASES, SCATTER_CASES, TAKE_CASES, convolution_samples, indexing_samples,
                 pooling_samples)
from .reductions import (LONG_REDUCTIONS, REDUCTION_CASES, WIDE_REDUCTIONS, reduction_samples, reduction_tolerance,
                         reduction_values)
from .softmax import SOFTMAX_CASES, SOFTMAX_SPECIALS, softmax_samples
from .sorting import LARGE_SORT_CASES, SORT_CASES, sorting_samples  # -- sorting (issue 8)
from .scans import GATHER_CASES, NONZERO_CASES, PUT_CASES, SCAN_CASES, gather_samples, scan_samples  # scans
from .scans import call_one as _call_scans  # -- scans and array indexing (issue 8)
from .where import where_samples
from .linalg import call_linalg, linalg_samples, linalg_tolerance  # linalg (issue 8)
from .fused import FUSED_CASES, LINEAR_CASES, fused_samples, linear_samples  # fused ops

__all__ = [
    # core
    "LARGE", "MEDIUM", "SHOWN", "TOLERANCE", "WIDE_DTYPES", "Failure", "Sample", "SampleFailure", "Shared", "compare",
    "seeded_rng", "specials", "to_device", "values",
    # the families
    "ARITHMETIC", "BINARY_SHAPES", "COMPARISONS", "IN_PLACE", "LOGICAL", "OVERLAPS", "SYMBOLS", "UNARY_SHAPES",
    "elementwise_samples",
    "LONG_REDUCTIONS", "REDUCTION_CASES", "WIDE_REDUCTIONS", "reduction_samples", "reduction_tolerance",
    "reduction_values",
    "MATMUL_CASES", "matmul_samples", "matmul_tolerance",
    "SOFTMAX_CASES", "SOFTMAX_SPECIALS", "softmax_samples",
    "where_samples",
    "astype_samples", "cast_edges", "float16_rounding_edges", "int_to_float_edges",
    "arange_samples", "fill_samples", "random_samples",
    "CONVOLUTION_CASES", "POOLING_CASES", "SCATTER_CASES", "TAKE_CASES", "convolution_samples", "indexing_samples",
    "pooling_samples",
    "LARGE_SORT_CASES", "SORT_CASES", "sorting_samples",  # -- sorting (issue 8)
    "GATHER_CASES", "NONZERO_CASES", "PUT_CASES", "SCAN_CASES", "gather_samples", "scan_samples",  # scans (issue 8)
    # this module
    "FUSED_CASES", "LINEAR_CASES", "fused_samples", "linear_samples",  # fused ops
    "SAMPLES", "samples", "check", "applicable", "promoted", "check_not_implemented",
]


SAMPLES = {"unary": elementwise_samples, "binary": elementwise_samples, "reduction": reduction_samples,
           "matmul": matmul_samples, "softmax": softmax_samples, "where": where_samples, "astype": astype_samples,
           "fill": fill_samples, "arange": arange_samples, "random": random_samples,
           "convolution": convolution_samples, "pooling": pooling_samples, "indexing": indexing_samples}
SAMPLES["linalg"] = linalg_samples  # linalg (issue 8): cholesky, lu, lu_solve, qr, eigh, svd
SAMPLES["sorting"] = sorting_samples  # -- sorting (issue 8)
SAMPLES["scan"], SAMPLES["gather"] = scan_samples, gather_samples  # -- scans and array indexing (issue 8)
SAMPLES["cross_entropy"], SAMPLES["linear"] = fused_samples, linear_samples  # fused ops (Note [Kernel contract])


def samples(op, dtype, device, seed=0):
    """The samples of (op, dtype) on ``device``, in order (a generator: each sample's inputs are made as it comes).

    >>> import tensorswitch as ts
    >>> from tensorswitch.testing import samples
    >>> first = next(samples.samples("add", "float32", ts.device("cpu")))
    >>> first.verify(ts.device("cpu"))
    """
    device = ts.device(device)
    dtype = np.dtype(dtype).name
    rng = seeded_rng(seed, op, dtype)
    return SAMPLES[ts.OPS[op]](op, dtype, device, rng)


def check(op, dtype, device, seed=0):
    """Run every sample of (op, dtype) on ``device``; returns the number of samples, raises SampleFailure (saying
    which sample, and how many passed before it) on the first wrong answer or error."""
    device = ts.device(device)
    dtype = np.dtype(dtype).name
    count = 0
    # the sign of a zero result is IEEE's for elementwise ops, casts, where and fill; reductions, matmul and softmax
    # may sum in another order
    core.SIGNED_ZEROS[0] = ts.OPS[op] in SIGNED_ZERO_FAMILIES
    try:
        for count, sample in enumerate(samples(op, dtype, device, seed), 1):
            try:
                sample.verify(device)
            except Exception as exc:  # every kind of breakage is this sample's failure
                raise SampleFailure(op, dtype, count, sample.what, exc) from exc
    finally:
        core.SIGNED_ZEROS[0] = False
    return count


SIGNED_ZERO_FAMILIES = frozenset({"unary", "binary", "where", "astype", "fill"})


def applicable(op, dtype):
    """False when no backend can have a kernel of (op, dtype) because the op is not defined for the dtype: the op
    table lists no such kernel for any built-in backend (``negative`` of bool, ``rand`` of int32, ``arange`` of
    bool).  Ops outside the table are applicable to every dtype."""
    coverage = optable.COVERAGE.get(op)
    return coverage is None or np.dtype(dtype).name in coverage


def promoted(op, dtype):
    """True when the public API computes ``op`` on ``dtype`` in another dtype (integers in float32 for exp, divide,
    softmax, ...), so that no kernel of ``dtype`` is needed: see kernels/optable.py ``to_float``.  Floats and complex
    numbers are never promoted (erf of complex64 has no kernel to fall back on: it is not applicable)."""
    if np.dtype(dtype).kind in "fc":
        return False
    info = optable.ELEMENTWISE.get(op)
    if ts.OPS.get(op) == "linalg":  # linalg (issue 8): integers and bool factor in float32 (Note [Linalg dtypes])
        return True
    return (info is not None and info.to_float) or op in ("softmax", "log_softmax")


def check_not_implemented(op, dtype, device):
    """A (op, dtype) the device does not claim must raise the clear, typed error naming op, device and dtype."""
    family = ts.OPS[op]
    dt = np.dtype(dtype)
    x = np.ones((3,), dt)
    try:
        with _no_fallback(device):
            if family in ("unary", "binary"):
                t = to_device(x, device)
                getattr(ts, op)(*([t] * optable.ELEMENTWISE[op].arity))
            elif family == "reduction":
                getattr(ts, op)(to_device(x, device))
            elif family == "matmul":
                ts.matmul(to_device(np.ones((2, 2), dt), device), to_device(np.ones((2, 2), dt), device))
            elif family == "softmax":
                getattr(ts, op)(to_device(x, device))
            elif family == "where":
                ts.where(to_device(np.array([True, False, True]), device), to_device(x, device),
                         to_device(x, device))
            elif family == "astype":
                to_device(x, device).astype("float32" if dt != np.float32 else "int32")
            elif family == "fill":
                ts.full((3,), 1, dtype=dtype, device=device)
            elif family == "arange":
                ts.arange(0, 3, dtype=dtype, device=device)
            elif family == "random":
                if op == "randint":
                    ts.randint(0, 3, size=(3,), dtype=dtype, device=device)
                else:
                    getattr(ts, op)(3, dtype=dtype, device=device)
            elif family in ("convolution", "pooling", "indexing"):
                _call_nn(op, dt, device)
            elif family == "linalg":  # linalg (issue 8)
                call_linalg(op, dt, device)
            elif family == "sorting":  # -- sorting (issue 8)
                _call_sorting(op, dt, device)
            elif family in ("scan", "gather"):  # -- scans and array indexing (issue 8)
                _call_scans(op, dt, device)
            elif family in ("cross_entropy", "linear"):  # fused ops: the public path would compose; ask the registry
                from ...dispatch.dispatcher import kernel_for
                from ...dispatch.dtypes import dtype as to_dtype

                kernel_for(op, device, to_dtype(dt.name))
    except ts.KernelNotFoundError as exc:
        text = str(exc)
        for word in (op, device.type, np.dtype(dtype).name):
            if word not in text:
                raise Failure(f"the not-implemented error does not name {word!r}: {text}")
        return
    except (TypeError, ValueError, ts.TensorSwitchError):
        return  # the public API refused the dtype before dispatch (for example rand with an integer dtype)
    raise Failure(f"{op} ran for {np.dtype(dtype).name} on {device} although no kernel is registered")


def _call_nn(op, dt, device):
    """One call of the nn op ``op`` on a small input of ``dt`` (dispatch/nnops.py), for check_not_implemented."""
    from ...dispatch import nnops

    image = to_device(np.ones((1, 1, 4, 4), dt), device)
    if op == "im2col":
        ts.unfold(image, 2)
    elif op == "col2im":
        ts.fold(to_device(np.ones((1, 4, 9), dt), device), (4, 4), 2)
    elif op == "max_pool2d":
        ts.max_pool2d(image, 2)
    elif op == "avg_pool2d":
        ts.avg_pool2d(image, 2)
    elif op == "max_pool2d_backward":
        nnops.max_pool2d_backward(to_device(np.ones((1, 1, 2, 2), dt), device), image, 2, 2, 0, 1, False)
    elif op == "avg_pool2d_backward":
        nnops.avg_pool2d_backward(to_device(np.ones((1, 1, 2, 2), dt), device), (1, 1, 4, 4), 2, 2, 0, False, True,
                                  None)
    elif op == "take_along_axis":
        ts.take_along_axis(to_device(np.ones((3,), dt), device), to_device(np.zeros((2,), np.int64), device))
    elif op == "scatter_add":
        x = to_device(np.ones((3,), dt), device)
        ts.scatter_add(x, 0, to_device(np.zeros((2,), np.int64), device), to_device(np.ones((2,), dt), device))
    else:
        raise KeyError(op)


def _call_sorting(op, dt, device):
    """One call of sort, argsort or searchsorted on a small input of ``dt``, for check_not_implemented."""
    x = to_device(np.ones((3,), dt), device)
    if op == "searchsorted":
        ts.searchsorted(x, x)
    else:
        getattr(ts, op)(x)


class _no_fallback:
    def __init__(self, device):
        self.device = device.type

    def __enter__(self):
        self.saved = ts.registry.fallback_for(self.device)
        ts.registry.set_fallback(self.device, None)

    def __exit__(self, *exc):
        ts.registry.set_fallback(self.device, self.saved)
