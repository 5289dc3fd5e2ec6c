"""The conformance suite's gradient section: the gradient of every differentiable op, on any device, against finite
differences on the cpu in float64.

    from tensorswitch.testing import gradients
    gradients.check("exp", "float32", "opencl")        # the number of cases, or raises GradientFailure
    gradients.run_gradients("numpy")["cells"]          # {"exp/float32": {"status": ..., ...}, ...}

:data:`GRADIENT_SAMPLES` maps each differentiable op (every key of ``dispatch/derivatives.DERIVATIVES``, plus the
composites ``mean``, ``var`` and ``std``) to a few small cases: broadcasting, 0-d, a non-contiguous input, and values
kept away from the op's kinks (no ties for max and maximum, |x| away from 0 for abs and sign, positive bases for log,
sqrt and pow, quotients away from integers for floor_divide and remainder).

Note [Gradient conformance]
~~~~~~~~~~~~~~~~~~~~~~~~~~~
A case is a function of its leaves (float tensors that require grad) and constants (indices, conditions, scalars).
On the device under test, in the dtype under test, autograd computes the vector-Jacobian product ``w^T J`` of the
function's result with a fixed random cotangent ``w`` (``ts.autograd.grad``).  The reference is the same product by
central differences, ``(w . f(x + h e_j) - w . f(x - h e_j)) / 2h`` for every element ``j`` of every leaf, computed
on the cpu in float64 without autograd, once per case (it is cached across devices and dtypes).  The leaves and the
cotangent hold values that float16 represents exactly, so every dtype computes at the same point as the reference.
Non-contiguous inputs, views and in-place writes are part of the functions (``ts.exp(x.mT)``), so the leaf itself
is always a plain tensor.

Only the float dtypes are checked: ``run_gradients`` leaves every other dtype out (a complex dtype asked for gets no
cell), and :func:`check` refuses one with ValueError.  Complex gradients are not required of a backend: their
convention (PyTorch's conjugate Wirtinger derivative, JAX's) is not tensorswitch's to fix yet.

The comparison allows ``atol * scale + rtol * |reference|`` per element, ``scale`` being the largest reference
magnitude of that leaf (at least 1): a float32 device is held to float32's accuracy, whatever else it supports.
A cell's status (tensorswitch/testing/__init__.py says what each means):

PASS             every case matches, and each gradient has its leaf's shape, dtype and device
FAIL             a case is wrong (the error names the leaf and its worst element) or raised
NOT_IMPLEMENTED  the device does not claim the op's kernel in that dtype, or a kernel that the forward or the
                 backward needs is missing there (``ts.KernelNotFoundError``; ``missing`` says which), or the op
                 (an nn family) does not exist in this build
UNSUPPORTED      the device cannot store the dtype (or one the case needs, such as int64 indices)
"""

import time

import numpy as np

import tensorswitch as ts

from . import FAIL, NOT_IMPLEMENTED, PASS, UNSUPPORTED
from .samples import Failure, SampleFailure, _no_fallback, seeded_rng

__all__ = ["GRADIENT_SAMPLES", "GradientSample", "GradientOp", "GradientFailure", "Missing", "TOLERANCE",
           "FLOAT_DTYPES", "STEP", "check", "check_cell", "run_gradients", "finite_differences", "STATUSES"]

FLOAT_DTYPES = ("float16", "float32", "float64")
STATUSES = (PASS, NOT_IMPLEMENTED, UNSUPPORTED, FAIL)

#: per dtype: (rtol, atol), see Note [Gradient conformance].  float32 and float16 results come from several rounded
#: ops in a row (the forward, then the backward formula), so the bar sits a little above each dtype's epsilon.
TOLERANCE = {"float64": (1e-6, 1e-7), "float32": (1e-3, 1e-4), "float16": (1e-2, 5e-3)}

STEP = 1e-6  # the finite-difference step (the leaves are of order 1): truncation ~1e-12, rounding ~1e-10


class GradientFailure(SampleFailure):
    """Case number ``index`` of the gradient of ``op``/``dtype`` failed (``op`` is shown as ``grad:<op>``)."""


class Missing(Exception):
    """The device lacks a kernel (or a dtype) that the op's forward or backward needs: not a failure."""

    def __init__(self, status, text):
        self.status = status
        super().__init__(text)


class GradientSample:
    """One case: ``fn(*leaves, *constants)`` returns a float tensor.

    what:      a description, shown when it fails
    leaves:    float64 NumPy arrays (values exact in float16): the inputs the gradient is taken with respect to;
               they become tensors of the dtype under test that require grad
    constants: NumPy arrays (float ones take the dtype under test, others keep theirs) or Python values
    """

    __slots__ = ("what", "fn", "leaves", "constants")

    def __init__(self, what, fn, leaves, constants=()):
        self.what, self.fn = what, fn
        self.leaves = tuple(np.asarray(x, np.float64) for x in leaves)
        self.constants = tuple(constants)

    def __repr__(self):
        return f"GradientSample({self.what!r})"

    def inputs(self, device, dtype, requires_grad):
        leaves = [ts.asarray(x, dtype=dtype, device=device, requires_grad=requires_grad) for x in self.leaves]
        consts = []
        for c in self.constants:
            if isinstance(c, np.ndarray):
                c = ts.asarray(c, dtype=dtype if c.dtype.kind == "f" else None, device=device)
            consts.append(c)
        return leaves, consts


class GradientOp:
    """The cases of one differentiable op.

    requires: the public function the op is reached by (``ts.<name>``), checked with hasattr, or None
    kernels:  the registry ops whose kernels the device must claim in the dtype under test (forward, and the
              backward kernel of the nn families); other kernels the backward needs are found missing as it runs
    """

    __slots__ = ("samples", "requires", "kernels")

    def __init__(self, samples, requires=None, kernels=()):
        self.samples, self.requires, self.kernels = list(samples), requires, tuple(kernels)


# -- values -------------------------------------------------------------------------------------------------------

def _exact(x):
    """Round to values float16 holds exactly, so that every dtype computes at the reference's point."""
    return np.asarray(x, np.float64).astype(np.float16).astype(np.float64)


def _uniform(rng, shape, low=-2.0, high=2.0):
    return _exact(rng.uniform(low, high, shape))


def _away(rng, shape, low=0.25, high=2.0):
    """|x| in [low, high], either sign: away from the kink of abs, sign and relu and from zero divisors."""
    return _exact(rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape))


def _distinct(rng, shape, spacing=0.125, offset=-2.0):
    """Values on a grid, all different: no ties for max, min, max_pool2d."""
    n = int(np.prod(shape))
    return _exact(rng.permutation(n).reshape(shape) * spacing + offset)


def _fractional(rng, shape, low=-3, high=3):
    """k + f with f in [0.2, 0.8]: away from the jumps of floor and ceil."""
    return _exact(rng.integers(low, high, shape) + rng.uniform(0.2, 0.8, shape))


def _draw(rng, make, ok):
    """``make(rng)`` until ``ok`` holds of the result (the generator is seeded, so the result is deterministic)."""
    for _ in range(1000):
        values = make(rng)
        if ok(*values):
            return values
    raise RuntimeError("no sample values satisfy the constraint")  # a mistake in this module


def _no_ties(a, b, gap=0.1):
    return bool(np.all(np.abs(np.subtract(a, b)) >= gap))


def _quotient_away_from_integers(a, b):
    with np.errstate(all="ignore"):
        q = np.divide(a, b)
    f = q - np.floor(q)
    return bool(np.all((f > 0.1) & (f < 0.9)))


def _rng(*keys):
    return seeded_rng("gradients", *keys)


# -- the cases, family by family ------------------------------------------------------------------------------------

_UNARY_DOMAIN = {"log": "positive", "sqrt": "positive", "abs": "away", "sign": "away", "relu": "away",
                 "floor": "fractional", "ceil": "fractional"}


def _unary_values(op, rng, shape):
    kind = _UNARY_DOMAIN.get(op)
    if kind == "positive":
        return _uniform(rng, shape, 0.5, 2.0)
    if kind == "away":
        return _away(rng, shape)
    if kind == "fractional":
        return _fractional(rng, shape)
    return _uniform(rng, shape)


def _unary(op):
    fn = getattr(ts, op)
    rng = _rng(op)
    return GradientOp([
        GradientSample(f"{op}((3, 4))", fn, [_unary_values(op, rng, (3, 4))]),
        GradientSample(f"{op}(0-d)", fn, [_unary_values(op, rng, ())]),
        GradientSample(f"{op}(transposed (4, 3))", lambda x: fn(x.mT), [_unary_values(op, rng, (3, 4))]),
        GradientSample(f"{op}(strided (2, 3)) * 2", lambda x: fn(x[:, ::2]) * 2.0, [_unary_values(op, rng, (2, 6))]),
    ], requires=op, kernels=(op,))


def _binary_values(op, rng, sa, sb):
    """Arrays (a, b) of shapes sa and sb in the op's domain (no ties, no integer quotients where those are kinks)."""
    def make(r):
        if op == "pow":
            return _uniform(r, sa, 0.5, 2.0), _uniform(r, sb, -1.5, 2.0)
        if op == "divide":
            return _uniform(r, sa), _away(r, sb, 0.5, 2.0)
        if op in ("remainder", "floor_divide"):
            return _uniform(r, sa, -3.0, 3.0), _away(r, sb, 0.5, 2.0)
        return _uniform(r, sa), _uniform(r, sb)

    ok = {"maximum": _no_ties, "minimum": _no_ties, "remainder": _quotient_away_from_integers,
          "floor_divide": _quotient_away_from_integers}.get(op, lambda a, b: True)
    return _draw(rng, make, ok)


def _binary(op):
    fn = getattr(ts, op)
    rng = _rng(op)
    cases = []
    for sa, sb in (((2, 3), (2, 3)), ((2, 1, 3), (4, 1)), ((), (3,))):
        a, b = _binary_values(op, rng, sa, sb)
        cases.append(GradientSample(f"{op}({sa}, {sb})", fn, [a, b]))
    a, b = _binary_values(op, rng, (2, 3), (2, 3))
    cases.append(GradientSample(f"{op}(transposed (2, 3), (2, 3))", lambda x, y: fn(x.mT, y), [a.T, b]))
    # a Python scalar on either side: the scalar gets no gradient, the tensor its share
    a, b = _binary_values(op, rng, (2, 3), ())
    cases.append(GradientSample(f"{op}((2, 3), {float(b)})", lambda x, s=float(b): fn(x, s), [a]))
    a, b = _binary_values(op, rng, (), (2, 3))
    cases.append(GradientSample(f"{op}({float(a)}, (2, 3))", lambda y, s=float(a): fn(s, y), [b]))
    return GradientOp(cases, requires=op, kernels=(op,))


_REDUCTION_AXES = ((None, False, (2, 3)), (1, True, (2, 3, 2)), ((0, 2), False, (2, 3, 4)), (None, False, ()))


def _reduction_values(op, rng, shape):
    if op in ("max", "min"):
        return _distinct(rng, shape)
    if op == "prod":
        return _away(rng, shape, 0.5, 1.5)  # moderate products
    return _uniform(rng, shape)


def _reduction(op):
    fn = getattr(ts, op)
    rng = _rng(op)
    cases = [GradientSample(f"{op}({shape}, axis={axis}, keepdims={keep})",
                            lambda x, axis=axis, keep=keep: fn(x, axis=axis, keepdims=keep),
                            [_reduction_values(op, rng, shape)])
             for axis, keep, shape in _REDUCTION_AXES]
    cases.append(GradientSample(f"{op}(transposed (4, 3), axis=0)", lambda x: fn(x.mT, axis=0),
                                [_reduction_values(op, rng, (3, 4))]))
    if op == "prod":  # a slice with one zero (its gradient is the product of the others) and one with two (zero)
        x = _away(rng, (3, 4), 0.5, 1.5)
        x[0, 1] = 0.0
        x[1, 0] = x[1, 3] = 0.0
        cases.append(GradientSample("prod((3, 4) with zeros, axis=1)", lambda x: fn(x, axis=1), [x]))
    return GradientOp(cases, requires=op, kernels=(op,))


def _statistic(op):
    fn = getattr(ts, op)
    rng = _rng(op)
    kwargs = [{}, {"axis": 1, "keepdims": True}, {"axis": (0, 2)}]
    shapes = [(2, 3), (2, 3, 2), (2, 3, 4)]
    if op != "mean":
        kwargs[1]["correction"] = 1.0
    cases = [GradientSample(f"{op}({shape}, {kw})", lambda x, kw=kw: fn(x, **kw), [_uniform(rng, shape)])
             for shape, kw in zip(shapes, kwargs)]
    cases.append(GradientSample(f"{op}(transposed (4, 3), axis=0)", lambda x: fn(x.mT, axis=0),
                                [_uniform(rng, (3, 4))]))
    if op == "mean":
        cases.append(GradientSample("mean(0-d)", fn, [_uniform(rng, ())]))
    return GradientOp(cases, requires=op)


_MATMUL_CASES = (((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)), ((2, 2, 3), (2, 3, 2)),
                 ((2, 1, 2, 3), (3, 3, 2)), ((2, 3), (2, 3, 2)))


def _matmul():
    rng = _rng("matmul")
    cases = [GradientSample(f"matmul({sa}, {sb})", ts.matmul, [_uniform(rng, sa), _uniform(rng, sb)])
             for sa, sb in _MATMUL_CASES]
    cases.append(GradientSample("matmul(transposed (3, 2), (3, 4)) via @", lambda a, b: a.mT @ b,
                                [_uniform(rng, (2, 3)), _uniform(rng, (2, 4))]))
    return GradientOp(cases, requires="matmul", kernels=("matmul",))


def _linear():
    """nn.functional.linear with a 2-D weight: one op and one node of its own (dispatch/dispatcher.py linear)."""
    rng = _rng("linear")
    linear = ts.nn.functional.linear
    cases = [GradientSample(f"linear(x {sx}, w (4, 3), b {sb})", lambda x, w, b: linear(x, w, b),
                            [_uniform(rng, sx), _uniform(rng, (4, 3)), _uniform(rng, sb)])
             for sx, sb in (((2, 3), (4,)), ((3,), (4,)), ((2, 2, 3), (4,)), ((2, 3), (2, 4)))]
    cases.append(GradientSample("linear(x (2, 3), w (4, 3)) without bias", lambda x, w: linear(x, w),
                                [_uniform(rng, (2, 3)), _uniform(rng, (4, 3))]))
    return GradientOp(cases, requires="matmul", kernels=("matmul", "add", "sum"))


def _nll_log_softmax():
    """cross_entropy of (N, C) logits and class indices, unweighted and unsmoothed: one op and one node
    (dispatch/nnops.py nll_log_softmax)."""
    rng = _rng("nll_log_softmax")
    ce = ts.nn.functional.cross_entropy
    target = np.array([2, 0, 3], np.int64)  # the samples' integer arguments land on the device under test
    return GradientOp([
        GradientSample("cross_entropy((3, 4), indices)", lambda x, t: ce(x, t), [_uniform(rng, (3, 4), -3, 3)],
                       [target]),
        GradientSample("cross_entropy((3, 4), indices, reduction='sum')", lambda x, t: ce(x, t, reduction="sum"),
                       [_uniform(rng, (3, 4), -3, 3)], [target]),
        GradientSample("cross_entropy(transposed (4, 3), indices)", lambda x, t: ce(x.mT, t),
                       [_uniform(rng, (4, 3), -3, 3)], [target]),
    ], requires="take_along_axis", kernels=("log_softmax", "take_along_axis", "scatter_add", "sum", "exp"))


def _softmax(op):
    fn = getattr(ts, op)
    rng = _rng(op)
    return GradientOp([
        GradientSample(f"{op}((3, 4), axis=-1)", lambda x: fn(x, axis=-1), [_uniform(rng, (3, 4), -3, 3)]),
        GradientSample(f"{op}((2, 3, 2), axis=1)", lambda x: fn(x, axis=1), [_uniform(rng, (2, 3, 2), -3, 3)]),
        GradientSample(f"{op}((5,), axis=0)", lambda x: fn(x, axis=0), [_uniform(rng, (5,), -3, 3)]),
        GradientSample(f"{op}(transposed (4, 3), axis=0)", lambda x: fn(x.mT, axis=0),
                       [_uniform(rng, (3, 4), -3, 3)]),
    ], requires=op, kernels=(op,))


def _where():
    rng = _rng("where")
    c = np.array([[True], [False], [True]])
    full = rng.random((3, 4)) < 0.5
    return GradientOp([
        GradientSample("where((3, 1), (1, 4), (3, 4))", lambda a, b, c: ts.where(c, a, b),
                       [_uniform(rng, (1, 4)), _uniform(rng, (3, 4))], [c]),
        GradientSample("where((3, 4), (3, 4), 0.5)", lambda a, c: ts.where(c, a, 0.5), [_uniform(rng, (3, 4))],
                       [full]),
        GradientSample("where((3, 4), transposed (3, 4), 0-d)", lambda a, b, c: ts.where(c, a.mT, b),
                       [_uniform(rng, (4, 3)), _uniform(rng, ())], [full]),
    ], requires="where", kernels=("where",))


def _widest(x):
    """The widest float dtype ``x``'s device stores: a round trip through it must give the gradient back."""
    supported = x.device.supported_dtypes()
    return next(dt for dt in (ts.float64, ts.float32, ts.float16) if dt in supported)


def _astype():
    rng = _rng("astype")
    return GradientOp([
        GradientSample("astype(widest float).astype(back)", lambda x: x.astype(_widest(x)).astype(x.dtype) * 3.0,
                       [_uniform(rng, (2, 3))]),
        GradientSample("astype(same dtype) of transposed (3, 2)", lambda x: x.mT.astype(x.dtype),
                       [_uniform(rng, (2, 3))]),
        GradientSample("clone() of 0-d", lambda x: x.clone() * x, [_uniform(rng, ())]),
        # an integer cast carries no gradient: only the float factor's share comes back
        GradientSample("x * x.astype(int32).astype(x.dtype)", lambda x: x * x.astype(ts.int32).astype(x.dtype),
                       [_fractional(rng, (2, 3))]),
    ], kernels=("astype",))


def _to():
    rng = _rng("to")
    return GradientOp([
        GradientSample("to('cpu')", lambda x: x.to("cpu"), [_uniform(rng, (2, 3))]),
        GradientSample("to('cpu') of transposed (3, 2), and back", lambda x: x.mT.to("cpu").to(x.device) * 2.0,
                       [_uniform(rng, (2, 3))]),
        GradientSample("to(dtype=same)", lambda x: x.to(dtype=x.dtype) * x, [_uniform(rng, (3,))]),
    ])


def _views():
    rng = _rng("views")
    getitem = GradientOp([
        GradientSample("x[1]", lambda x: x[1], [_uniform(rng, (3, 4))]),
        GradientSample("x[:, ::2]", lambda x: x[:, ::2], [_uniform(rng, (3, 4))]),
        GradientSample("x[::-1, 1:3]", lambda x: x[::-1, 1:3], [_uniform(rng, (3, 4))]),
        GradientSample("x[None, ..., 2] and x[1, 2] (0-d)", lambda x: x[None, ..., 2] * x[1, 2],
                       [_uniform(rng, (2, 3))]),
        GradientSample("x[0] + x[0] (a position read twice)", lambda x: x[0] + x[0] * x[1], [_uniform(rng, (2, 3))]),
    ])
    reshape = GradientOp([
        GradientSample("reshape((3, 4) -> (4, 3))", lambda x: ts.reshape(x, (4, 3)), [_uniform(rng, (3, 4))]),
        GradientSample("reshape(transposed (4, 3), -1) (a copy)", lambda x: ts.reshape(x.mT, (-1,)),
                       [_uniform(rng, (3, 4))]),
        GradientSample("expand_dims, squeeze and flatten", lambda x: ts.squeeze(ts.expand_dims(x, axis=1), 1).flatten(),
                       [_uniform(rng, (2, 3))]),
        GradientSample("reshape(0-d, (1, 1))", lambda x: ts.reshape(x, (1, 1)), [_uniform(rng, ())]),
    ])
    permute = GradientOp([
        GradientSample("permute_dims((2, 3, 4), (2, 0, 1))", lambda x: ts.permute_dims(x, (2, 0, 1)),
                       [_uniform(rng, (2, 3, 4))]),
        GradientSample("x.mT of (2, 3, 2)", lambda x: x.mT, [_uniform(rng, (2, 3, 2))]),
        GradientSample("x.T @ x", lambda x: x.T @ x, [_uniform(rng, (3, 2))]),
    ])
    broadcast = GradientOp([
        GradientSample("broadcast_to((3, 1), (2, 3, 4))", lambda x: ts.broadcast_to(x, (2, 3, 4)),
                       [_uniform(rng, (3, 1))]),
        GradientSample("broadcast_to(0-d, (2, 3))", lambda x: ts.broadcast_to(x, (2, 3)), [_uniform(rng, ())]),
        GradientSample("broadcast_to(transposed (1, 3), (2, 3))", lambda x: ts.broadcast_to(x.mT, (2, 3)),
                       [_uniform(rng, (3, 1))]),
    ])
    concat = GradientOp([
        GradientSample("concat([(2, 3), (2, 1)], axis=1)", lambda a, b: ts.concat([a, b], axis=1),
                       [_uniform(rng, (2, 3)), _uniform(rng, (2, 1))]),
        GradientSample("concat([(2, 2), transposed (2, 2)], axis=None)", lambda a, b: ts.concat([a, b.mT], axis=None),
                       [_uniform(rng, (2, 2)), _uniform(rng, (2, 2))]),
        GradientSample("stack([(3,), (3,)], axis=1)", lambda a, b: ts.stack([a, b], axis=1),
                       [_uniform(rng, (3,)), _uniform(rng, (3,))]),
        GradientSample("concat([x, x * x])", lambda a: ts.concat([a, a * a]), [_uniform(rng, (3,))]),
    ])
    return {"getitem": getitem, "reshape": reshape, "permute_dims": permute, "broadcast_to": broadcast,
            "concat": concat}


def _set_row(x, v):
    y = x * 1.0  # not a leaf: in-place writes into a leaf that requires grad raise
    y[1] = v
    return y


def _set_strided(x, v):
    y = x * 1.0
    y[:, ::2] = v  # v broadcasts: its gradient sums over the rows
    return y


def _set_scalar(x):
    y = x * 1.0
    y[0, 1] = 2.5  # the overwritten position gets no gradient through y
    return y * x


def _set_through_view(x, v):
    y = x * 1.0
    y[0][1] = v  # a write into a getitem view writes y
    return y


def _in_place(x, w, v):
    y = x * 1.0
    y *= w
    y[:, 1] += v
    return y


def _setitem():
    rng = _rng("setitem")
    return GradientOp([
        GradientSample("y[1] = v", _set_row, [_uniform(rng, (3, 4)), _uniform(rng, (4,))]),
        GradientSample("y[:, ::2] = v (3, 1)", _set_strided, [_uniform(rng, (3, 4)), _uniform(rng, (3, 1))]),
        GradientSample("y[0, 1] = 2.5; y * x", _set_scalar, [_uniform(rng, (2, 3))]),
        GradientSample("y[0][1] = v (through a view)", _set_through_view, [_uniform(rng, (2, 3, 2)),
                                                                         _uniform(rng, (2,))]),
        GradientSample("y *= w; y[:, 1] += v", _in_place, [_uniform(rng, (2, 3)), _uniform(rng, (3,)),
                                                          _uniform(rng, (2,))]),
    ])


# the nn kernel families: small images, every geometry argument in some case

def _unfold():
    rng = _rng("unfold")
    return GradientOp([
        GradientSample("unfold((1, 2, 4, 4), 2, stride=2)", lambda x: ts.unfold(x, 2, stride=2),
                       [_uniform(rng, (1, 2, 4, 4))]),
        GradientSample("unfold((2, 1, 5, 5), 3, dilation=2, padding=1, stride=2)",
                       lambda x: ts.unfold(x, 3, dilation=2, padding=1, stride=2), [_uniform(rng, (2, 1, 5, 5))]),
        GradientSample("unfold((1, 1, 4, 5), (2, 3)) overlapping", lambda x: ts.unfold(x, (2, 3)),
                       [_uniform(rng, (1, 1, 4, 5))]),
    ], requires="unfold", kernels=("im2col", "col2im"))


def _fold():
    rng = _rng("fold")
    return GradientOp([
        GradientSample("fold((1, 8, 4), (4, 4), 2, stride=2)", lambda c: ts.fold(c, (4, 4), 2, stride=2),
                       [_uniform(rng, (1, 8, 4))]),
        GradientSample("fold((1, 4, 9), (4, 4), 2) overlapping", lambda c: ts.fold(c, (4, 4), 2),
                       [_uniform(rng, (1, 4, 9))]),
        GradientSample("fold((2, 9, 9), (5, 5), 3, padding=1, stride=2)",
                       lambda c: ts.fold(c, (5, 5), 3, padding=1, stride=2), [_uniform(rng, (2, 9, 9))]),
    ], requires="fold", kernels=("col2im", "im2col"))


def _max_pool2d():
    rng = _rng("max_pool2d")
    return GradientOp([
        GradientSample("max_pool2d((1, 2, 4, 4), 2)", lambda x: ts.max_pool2d(x, 2), [_distinct(rng, (1, 2, 4, 4))]),
        GradientSample("max_pool2d((1, 1, 5, 5), 3, stride=2, padding=1) overlapping",
                       lambda x: ts.max_pool2d(x, 3, stride=2, padding=1), [_distinct(rng, (1, 1, 5, 5))]),
        GradientSample("max_pool2d((2, 5, 5), 2, dilation=2, ceil_mode=True) unbatched",
                       lambda x: ts.max_pool2d(x, 2, dilation=2, ceil_mode=True), [_distinct(rng, (2, 5, 5))]),
    ], requires="max_pool2d", kernels=("max_pool2d", "max_pool2d_backward"))


def _avg_pool2d():
    rng = _rng("avg_pool2d")
    return GradientOp([
        GradientSample("avg_pool2d((1, 2, 4, 4), 2)", lambda x: ts.avg_pool2d(x, 2), [_uniform(rng, (1, 2, 4, 4))]),
        GradientSample("avg_pool2d((1, 1, 5, 5), 3, stride=2, padding=1, ceil_mode, count_include_pad=False)",
                       lambda x: ts.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                       [_uniform(rng, (1, 1, 5, 5))]),
        GradientSample("avg_pool2d((2, 4, 4), 2, stride=1, divisor_override=3) unbatched",
                       lambda x: ts.avg_pool2d(x, 2, stride=1, divisor_override=3), [_uniform(rng, (2, 4, 4))]),
    ], requires="avg_pool2d", kernels=("avg_pool2d", "avg_pool2d_backward"))


def _avg_pool_vjp(kwargs):
    """The gradient of avg_pool2d as a function of its cotangent: its own gradient is avg_pool2d_backward's."""
    def fn(g, x):
        x = x.detach().requires_grad_()
        with ts.enable_grad():
            y = ts.avg_pool2d(x, **kwargs)
            return ts.autograd.grad(y, x, g, create_graph=True)[0] * 1.0
    return fn


def _avg_pool2d_backward():
    rng = _rng("avg_pool2d_backward")
    kw1 = {"kernel_size": 2}
    kw2 = {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False}
    return GradientOp([
        GradientSample("the gradient of avg_pool2d((1, 2, 4, 4), 2) by its cotangent (1, 2, 2, 2)",
                       _avg_pool_vjp(kw1), [_uniform(rng, (1, 2, 2, 2))], [_uniform(rng, (1, 2, 4, 4))]),
        GradientSample("the gradient of avg_pool2d((1, 1, 5, 5), 3, stride=2, padding=1, ceil_mode, "
                       "count_include_pad=False) by its cotangent", _avg_pool_vjp(kw2),
                       [_uniform(rng, (1, 1, 3, 3))], [_uniform(rng, (1, 1, 5, 5))]),
    ], requires="avg_pool2d", kernels=("avg_pool2d", "avg_pool2d_backward"))


def _take_along_axis():
    rng = _rng("take_along_axis")
    repeated = np.array([[0, 0], [3, 1], [2, 2]], np.int64)  # positions read twice get both shares
    return GradientOp([
        GradientSample("take_along_axis((3, 4), (3, 2) repeated, axis=1)",
                       lambda x, i: ts.take_along_axis(x, i, axis=1), [_uniform(rng, (3, 4))], [repeated]),
        GradientSample("take_along_axis((3, 4), (1, 3) broadcast, axis=-1)",
                       lambda x, i: ts.take_along_axis(x, i, axis=-1), [_uniform(rng, (3, 4))],
                       [np.array([[3, 0, 3]], np.int64)]),
        GradientSample("take_along_axis(transposed (3, 4), (2, 4), axis=0)",
                       lambda x, i: ts.take_along_axis(x.mT, i, axis=0), [_uniform(rng, (4, 3))],
                       [rng.integers(0, 3, (2, 4)).astype(np.int64)]),
    ], requires="take_along_axis", kernels=("take_along_axis", "scatter_add"))


def _scatter_add():
    rng = _rng("scatter_add")
    return GradientOp([
        GradientSample("scatter_add((3, 4), 1, (3, 2) repeated, (3, 2))",
                       lambda x, s, i: ts.scatter_add(x, 1, i, s), [_uniform(rng, (3, 4)), _uniform(rng, (3, 2))],
                       [np.array([[0, 0], [3, 1], [2, 2]], np.int64)]),
        GradientSample("scatter_add((3, 2), 0, (4, 2), (4, 2)) * x",
                       lambda x, s, i: ts.scatter_add(x, 0, i, s) * x, [_uniform(rng, (3, 2)), _uniform(rng, (4, 2))],
                       [rng.integers(0, 3, (4, 2)).astype(np.int64)]),
    ], requires="scatter_add", kernels=("scatter_add", "take_along_axis"))


# -- sorting (issue 8) ----------------------------------------------------------------------------------------------

def _sort():
    rng = _rng("sort")
    return GradientOp([
        GradientSample("sort((3, 4), axis=1)", lambda x: ts.sort(x, axis=1), [_distinct(rng, (3, 4))]),
        GradientSample("sort(transposed (4, 3), axis=0, descending) * x.mT",
                       lambda x: ts.sort(x.mT, axis=0, descending=True) * x.mT, [_distinct(rng, (4, 3))]),
        GradientSample("sort((2, 3, 4), axis=1)[:, :2] (a slice of the result)",
                       lambda x: ts.sort(x, axis=1)[:, :2], [_distinct(rng, (2, 3, 4))]),
    ], requires="sort", kernels=("argsort", "take_along_axis", "scatter_add"))


# -- scans and array indexing (issue 8) -------------------------------------------------------------------------------

def _with_zeros(rng, shape):
    """Values with exact zeros (one or two per row): cumulative_prod's gradient there needs no division."""
    x = _uniform(rng, shape, 0.5, 1.5) * rng.choice([-1.0, 1.0], shape)
    x[..., 1] = 0.0
    if shape[-1] > 3:
        x[..., 3] = 0.0
    return x


def _widest_float(device):
    return ts.float64 if ts.float64 in device.supported_dtypes() else ts.float32


def _scans():
    rng = _rng("scans")
    cumsum = GradientOp([
        GradientSample("cumulative_sum((5,))", lambda x: ts.cumulative_sum(x), [_uniform(rng, (5,))]),
        GradientSample("cumulative_sum(transposed (4, 3), axis=0, include_initial=True) * 2",
                       lambda x: ts.cumulative_sum(x.mT, axis=0, include_initial=True) * 2.0, [_uniform(rng, (3, 4))]),
        GradientSample("cumulative_sum((2, 3, 4), axis=1, dtype=the widest float of the device)",
                       lambda x: ts.cumulative_sum(x, axis=1, dtype=_widest_float(x.device)).astype(x.dtype),
                       [_uniform(rng, (2, 3, 4))]),
    ], requires="cumulative_sum", kernels=("cumsum",))
    cumprod = GradientOp([
        GradientSample("cumulative_prod((5,))", lambda x: ts.cumulative_prod(x), [_away(rng, (5,), 0.5, 1.5)]),
        GradientSample("cumulative_prod((3, 5), axis=1) with zeros (the first and a second per row)",
                       lambda x: ts.cumulative_prod(x, axis=1), [_with_zeros(rng, (3, 5))]),
        GradientSample("cumulative_prod(transposed (5, 2), axis=0, include_initial=True)",
                       lambda x: ts.cumulative_prod(x.mT, axis=0, include_initial=True),
                       [_with_zeros(rng, (2, 5))]),
    ], requires="cumulative_prod", kernels=("cumprod", "cumsum"))
    index = GradientOp([
        GradientSample("x[[2, 0, 2]] (a row read twice)", lambda x: x[[2, 0, 2]], [_uniform(rng, (3, 4))]),
        GradientSample("x[:, index tensor (2, 2)] with negatives", lambda x, i: x[:, i] * 3.0,
                       [_uniform(rng, (3, 4))], [np.array([[0, -1], [2, 0]], np.int64)]),
        GradientSample("x[mask] * x[mask]", lambda x, m: x[m] * x[m], [_uniform(rng, (3, 4))],
                       [rng.random((3, 4)) < 0.5]),
        GradientSample("x[[0, 1], :, [1, 1]] (separated arrays)", lambda x: x[[0, 1], :, [1, 1]],
                       [_uniform(rng, (2, 3, 2))]),
        GradientSample("take(x, [3, 0, 3], axis=1)", lambda x: ts.take(x, ts.asarray([3, 0, 3], device=x.device),
                                                                         axis=1), [_uniform(rng, (2, 4))]),
    ], requires="nonzero", kernels=("gather", "scatter_add"))
    return {"cumulative_sum": cumsum, "cumulative_prod": cumprod, "index": index}


# -- the elementwise functions of the Array API standard (issue 8) ---------------------------------------------------

def _between(low, high):
    return lambda rng, shape: _uniform(rng, shape, low, high)


def _halves_apart(rng, shape):
    """k + f with f in [0.1, 0.4] or [0.6, 0.9]: away from round's jumps at the halves (and from the integers)."""
    f = rng.uniform(0.1, 0.4, shape) + rng.choice([0.0, 0.5], shape)
    return _exact(rng.integers(-3, 3, shape) + f)


_API_UNARY = {
    "acos": _between(-0.8, 0.8), "asin": _between(-0.8, 0.8), "atanh": _between(-0.8, 0.8),
    "acosh": _between(1.25, 3.0), "asinh": _uniform, "atan": _uniform, "cosh": _uniform, "sinh": _uniform,
    "tan": _between(-1.2, 1.2), "expm1": _uniform, "log1p": _between(-0.5, 2.0), "log2": _between(0.5, 2.0),
    "log10": _between(0.5, 2.0), "reciprocal": lambda rng, shape: _away(rng, shape, 0.5, 2.0),
    "round": _halves_apart, "trunc": _fractional, "real": _uniform, "imag": _uniform, "conj": _uniform,
}

#: binary op -> (values of the first operand, of the second, a constraint on the pair)
_API_BINARY = {
    "atan2": (_away, _uniform, lambda a, b: True),          # a away from 0: off atan2's branch cut (a = 0, b < 0)
    "hypot": (_away, _away, lambda a, b: True),             # away from the origin, where hypot has a kink
    "logaddexp": (_uniform, _uniform, lambda a, b: True),
    "copysign": (_away, _away, lambda a, b: True),          # |a| and b's sign away from their kinks at 0
    "nextafter": (_uniform, _uniform, _no_ties),            # b never crosses a within the finite-difference step
}


def _api_unary(op):
    fn = getattr(ts, op)
    rng = _rng(op)
    make = _API_UNARY[op]
    return GradientOp([
        GradientSample(f"{op}((3, 4))", fn, [make(rng, (3, 4))]),
        GradientSample(f"{op}(0-d)", fn, [make(rng, ())]),
        GradientSample(f"{op}(transposed (4, 3))", lambda x: fn(x.mT), [make(rng, (3, 4))]),
        GradientSample(f"{op}(strided (2, 3)) * 2", lambda x: fn(x[:, ::2]) * 2.0, [make(rng, (2, 6))]),
    ], requires=op, kernels=(op,))


def _api_binary(op):
    fn = getattr(ts, op)
    rng = _rng(op)
    first, second, ok = _API_BINARY[op]

    def values(sa, sb):
        return _draw(rng, lambda r: (first(r, sa), second(r, sb)), ok)

    cases = []
    for sa, sb in (((2, 3), (2, 3)), ((2, 1, 3), (4, 1)), ((), (3,))):
        a, b = values(sa, sb)
        cases.append(GradientSample(f"{op}({sa}, {sb})", fn, [a, b]))
    a, b = values((2, 3), (2, 3))
    cases.append(GradientSample(f"{op}(transposed (2, 3), (2, 3))", lambda x, y: fn(x.mT, y), [a.T, b]))
    a, b = values((2, 3), ())
    cases.append(GradientSample(f"{op}((2, 3), {float(b)})", lambda x, s=float(b): fn(x, s), [a]))
    a, b = values((), (2, 3))
    cases.append(GradientSample(f"{op}({float(a)}, (2, 3))", lambda y, s=float(a): fn(s, y), [b]))
    return GradientOp(cases, requires=op, kernels=(op,))


def _elementwise_api():
    return {**{op: _api_unary(op) for op in _API_UNARY}, **{op: _api_binary(op) for op in _API_BINARY}}


# -- linalg (issue 8): dispatch/linalg.py; matrices kept well conditioned (a dominant diagonal) and SPD for cholesky

def _conditioned(rng, shape):
    n = shape[-1]
    return _exact(_uniform(rng, shape, -1.0, 1.0) + np.eye(n) * n)


def _linalg():
    la = ts.linalg
    rng = _rng("linalg")
    spd = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.25], [0.5, 0.25, 2.0]])
    lu = ("lu",)
    return {
        "linalg.solve": GradientOp([
            GradientSample("linalg.solve((3, 3), (3, 2))", la.solve, [_conditioned(rng, (3, 3)),
                                                                      _uniform(rng, (3, 2))]),
            GradientSample("linalg.solve((2, 3, 3), vector (3,))", la.solve, [_conditioned(rng, (2, 3, 3)),
                                                                              _uniform(rng, (3,))]),
            GradientSample("linalg.solve(transposed (3, 3), (2, 3, 1)) broadcast", lambda a, b: la.solve(a.mT, b),
                           [_conditioned(rng, (3, 3)), _uniform(rng, (2, 3, 1))]),
        ], requires="linalg", kernels=("lu", "lu_solve")),
        "linalg.inv": GradientOp([
            GradientSample("linalg.inv((3, 3))", la.inv, [_conditioned(rng, (3, 3))]),
            GradientSample("linalg.inv((2, 2, 2))", la.inv, [_conditioned(rng, (2, 2, 2))]),
        ], requires="linalg", kernels=("lu", "lu_solve")),
        "linalg.det": GradientOp([
            GradientSample("linalg.det((3, 3))", la.det, [_conditioned(rng, (3, 3))]),
            GradientSample("linalg.det(transposed (2, 2, 2))", lambda a: la.det(a.mT), [_conditioned(rng, (2, 2, 2))]),
        ], requires="linalg", kernels=lu + ("lu_solve",)),
        "linalg.slogdet": GradientOp([
            GradientSample("linalg.slogdet((3, 3)).logabsdet", lambda a: la.slogdet(a).logabsdet,
                           [_conditioned(rng, (3, 3))]),
            GradientSample("linalg.slogdet(-(2, 2, 2)).logabsdet", lambda a: la.slogdet(-a).logabsdet,
                           [_conditioned(rng, (2, 2, 2))]),
        ], requires="linalg", kernels=lu + ("lu_solve",)),
        "linalg.cholesky": GradientOp([
            GradientSample("linalg.cholesky((3, 3))", la.cholesky, [spd]),
            GradientSample("linalg.cholesky((3, 3), upper=True)", lambda a: la.cholesky(a, upper=True), [spd]),
            GradientSample("linalg.cholesky((2, 3, 3)) of a @ a.mT + 2", lambda a: la.cholesky(a @ a.mT + 2.0 * ts.eye(
                3, dtype=a.dtype, device=a.device)), [_uniform(rng, (2, 3, 3), -1.0, 1.0)]),
        ], requires="linalg", kernels=("cholesky", "lu", "lu_solve")),
        "linalg.vector_norm": GradientOp([
            GradientSample(f"linalg.vector_norm((3, 4), axis=-1, ord={o})",
                           lambda x, o=o: la.vector_norm(x, axis=-1, ord=o), [_away(rng, (3, 4)) * np.sign(
                               _uniform(rng, (3, 4)))]) for o in (2, 1, 3, float("inf"))
        ] + [GradientSample("linalg.vector_norm(transposed (2, 3), keepdims)",
                            lambda x: la.vector_norm(x.mT, axis=(0,), keepdims=True), [_uniform(rng, (2, 3))]),
             GradientSample("linalg.vector_norm((2, 3)) of all", la.vector_norm, [_uniform(rng, (2, 3))]),
             GradientSample("linalg.matrix_norm((2, 3, 4)) Frobenius", la.matrix_norm, [_uniform(rng, (2, 3, 4))])],
            requires="linalg"),
        "linalg.diagonal": GradientOp([
            GradientSample(f"linalg.diagonal((2, 3, 4), offset={k})", lambda x, k=k: la.diagonal(x, offset=k),
                           [_uniform(rng, (2, 3, 4))]) for k in (0, 1, -2)
        ] + [  # trace is the sum of the diagonal: its gradient comes through it
            GradientSample("linalg.trace((2, 3, 3))", la.trace, [_uniform(rng, (2, 3, 3))]),
            GradientSample("linalg.trace(transposed (4, 3), offset=1)", lambda x: la.trace(x.mT, offset=1),
                           [_uniform(rng, (3, 4))]),
        ], requires="linalg"),
    }


def _build():
    from ..dispatch import derivatives

    table = {}
    for op in ("negative", "positive", "abs", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu",
               "square", "sign", "floor", "ceil", "erf"):
        table[op] = _unary(op)
    for op in ("add", "subtract", "multiply", "divide", "pow", "maximum", "minimum", "remainder", "floor_divide"):
        table[op] = _binary(op)
    for op in ("sum", "prod", "max", "min"):
        table[op] = _reduction(op)
    for op in ("mean", "var", "std"):
        table[op] = _statistic(op)
    table["matmul"] = _matmul()
    table["linear"] = _linear()
    table["softmax"], table["log_softmax"] = _softmax("softmax"), _softmax("log_softmax")
    table["where"], table["astype"], table["to"] = _where(), _astype(), _to()
    table.update(_views())
    table["setitem"] = _setitem()
    for name, requires, make in (("unfold", "unfold", _unfold), ("fold", "fold", _fold),
                                 ("max_pool2d", "max_pool2d", _max_pool2d), ("avg_pool2d", "avg_pool2d", _avg_pool2d),
                                 ("avg_pool2d_backward", "avg_pool2d", _avg_pool2d_backward),
                                 ("take_along_axis", "take_along_axis", _take_along_axis),
                                 ("nll_log_softmax", "take_along_axis", _nll_log_softmax),
                                 ("scatter_add", "scatter_add", _scatter_add), ("sort", "sort", _sort)):
        # an nn family not in this build yet: a row of NOT_IMPLEMENTED cells
        table[name] = make() if hasattr(ts, requires) else GradientOp([], requires=requires)
    table.update(_elementwise_api())  # issue 8: the rest of the standard's elementwise functions
    table.update(_linalg())  # issue 8: ts.linalg's primitives and compositions
    table.update(_scans())  # issue 8: cumulative_sum, cumulative_prod and x[array or mask]
    missing = set(derivatives.DERIVATIVES) - set(table)
    for op in sorted(missing):  # a derivative added to the table without cases: its row says so (and fails)
        table[op] = GradientOp([])
    return dict(sorted(table.items()))


#: op -> GradientOp: every key of dispatch/derivatives.DERIVATIVES, and mean, var, std
GRADIENT_SAMPLES = _build()


# -- the reference ----------------------------------------------------------------------------------------------

_REFERENCE = {}  # (op, case index) -> (cotangent, [reference gradient of each leaf]); see Note [Gradient conformance]


def _contract(out, w):
    return float(np.sum(out.numpy().astype(np.float64) * w))


def finite_differences(op, index):
    """(the cotangent, the gradient of each leaf) of case ``index`` of ``op``, by central differences on the cpu in
    float64: the reference every device is checked against (computed once, then cached)."""
    key = (op, index)
    cached = _REFERENCE.get(key)
    if cached is not None:
        return cached
    cpu = ts.device("cpu")
    sample = GRADIENT_SAMPLES[op].samples[index]
    _, consts = sample.inputs(cpu, ts.float64, False)

    def evaluate(values):
        leaves = [ts.asarray(v, dtype=ts.float64, device=cpu) for v in values]
        return sample.fn(*leaves, *consts)

    base = [x.copy() for x in sample.leaves]
    out = evaluate(base)
    if not isinstance(out, ts.Tensor) or out.dtype.kind != "float":
        raise Failure(f"{sample.what}: the case returns {type(out).__name__}, not a float tensor (a mistake in "
                      f"tensorswitch/testing/gradients.py)")
    w = _exact(seeded_rng("cotangent", op, index).standard_normal(out.shape))
    grads = []
    for i, x in enumerate(base):
        g = np.zeros(x.shape)
        for j in range(x.size):
            flat = x.reshape(-1)
            keep = flat[j]
            flat[j] = keep + STEP
            plus = _contract(evaluate(base), w)
            flat[j] = keep - STEP
            minus = _contract(evaluate(base), w)
            flat[j] = keep
            g.reshape(-1)[j] = (plus - minus) / (2 * STEP)
        grads.append(g)
    _REFERENCE[key] = cached = (w, grads)
    return cached


# -- checking a device ----------------------------------------------------------------------------------------------

def _compare(what, index, leaf, got, want, dtype, device):
    if got is None:
        got_host = np.zeros(leaf.shape)  # unused (allow_unused): its gradient is zero
    else:
        if tuple(got.shape) != tuple(leaf.shape) or got.dtype is not leaf.dtype or got.device is not leaf.device:
            raise Failure(f"{what}: the gradient of leaf {index} is {got.dtype.name} {got.shape} on {got.device}, "
                          f"expected {leaf.dtype.name} {leaf.shape} on {leaf.device} (the leaf's own)")
        got_host = got.numpy().astype(np.float64)
    rtol, atol = TOLERANCE[dtype]
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    limit = atol * scale + rtol * np.abs(want)
    with np.errstate(invalid="ignore"):
        excess = np.abs(got_host - want) - limit
    excess = np.where(np.isnan(excess), np.inf, excess)
    if excess.size and excess.max() > 0:
        worst = np.unravel_index(int(np.argmax(excess)), excess.shape) if excess.ndim else ()
        worst = tuple(int(k) for k in worst)
        bad = int((excess > 0).sum())
        raise Failure(f"{what}: the gradient of leaf {index} (shape {leaf.shape}) differs from finite differences "
                      f"at {bad} of {excess.size} positions; the worst at {worst}: got {got_host[worst]!r}, expected "
                      f"{float(want[worst])!r} (tolerance {float(limit[worst]):.3g})")


def _missing_kernels(entry, device, dt):
    if entry.requires is not None and not hasattr(ts, entry.requires):
        return f"ts.{entry.requires} does not exist in this build"
    for kernel in entry.kernels:
        if kernel in ts.OPS and not ts.registry.has_kernel(kernel, device, dt):
            return f"{device} has no {kernel} kernel of {dt.name}"
    return None


def check(op, dtype, device):
    """Run every case of the gradient of ``op`` in ``dtype`` on ``device``; returns the number of cases.  Raises
    :class:`GradientFailure` on a wrong gradient (or any error), and ``Missing`` (with ``status`` NOT_IMPLEMENTED or
    UNSUPPORTED) where the device lacks what the op needs."""
    device = ts.device(device)
    dtype = np.dtype(dtype).name
    if dtype not in FLOAT_DTYPES:  # complex gradients are not part of the suite: see Note [Gradient conformance]
        raise ValueError(f"the gradient section checks the float dtypes ({', '.join(FLOAT_DTYPES)}); {dtype} is not "
                         f"one (complex gradients, whose convention differs between libraries, are not checked)")
    dt = ts.dtype(dtype)
    entry = GRADIENT_SAMPLES[op]
    if dt not in device.supported_dtypes():
        raise Missing(UNSUPPORTED, f"{device} does not support {dtype}")
    missing = _missing_kernels(entry, device, dt)
    if missing:
        raise Missing(NOT_IMPLEMENTED, missing)
    if not entry.samples:
        raise GradientFailure(f"grad:{op}", dtype, 1, "no cases",
                              Failure(f"{op} has a derivative but no cases in tensorswitch/testing/gradients.py"))
    count = 0
    for count, sample in enumerate(entry.samples, 1):
        try:
            w, want = finite_differences(op, count - 1)
            with _no_fallback(device):
                try:
                    leaves, consts = sample.inputs(device, dt, True)
                except ts.UnsupportedDtypeError as exc:  # int64 indices on a device without int64
                    raise Missing(UNSUPPORTED, f"{sample.what}: {exc}") from None
                out = sample.fn(*leaves, *consts)
                cotangent = ts.asarray(w, dtype=out.dtype, device=out.device)
                grads = ts.autograd.grad(out, leaves, cotangent, allow_unused=True)
                for i, (leaf, g, r) in enumerate(zip(leaves, grads, want)):
                    _compare(sample.what, i, leaf, g, r, dtype, device)
        except Missing:
            raise
        except ts.KernelNotFoundError as exc:
            raise Missing(NOT_IMPLEMENTED, f"{sample.what}: {exc}") from None
        except Exception as exc:  # every kind of breakage is this case's failure
            raise GradientFailure(f"grad:{op}", dtype, count, sample.what, exc) from exc
    return count


def check_cell(op, dtype, device):
    """The cell of (op, dtype): {"status", "samples", "failed_sample", "error", "missing"}."""
    cell = {"status": None, "samples": 0, "failed_sample": None, "error": None, "missing": None}
    try:
        cell["samples"] = check(op, dtype, device)
        cell["status"] = PASS
    except Missing as exc:
        cell.update(status=exc.status, missing=str(exc))
    except SampleFailure as exc:
        cell.update(status=FAIL, samples=exc.index, failed_sample=exc.what, error=str(exc))
    except Exception as exc:  # never the run's failure
        cell.update(status=FAIL, error=f"{type(exc).__name__}: {exc}")
    return cell


def run_gradients(device, ops=None, dtypes=None, progress=None):
    """The gradient section of a conformance report for ``device``: a dict with ``ops``, ``dtypes``, ``cells``
    (``"op/dtype"`` -> cell), ``counts``, ``failures`` (``"grad:op/dtype"``) and ``seconds``.

    ops:      the differentiable ops to check (default: every key of GRADIENT_SAMPLES)
    dtypes:   the float dtypes (default: all three; those the device cannot store are UNSUPPORTED)
    progress: called as ``progress("grad:" + op, dtype, cell)`` after each cell
    """
    device = ts.device(device)
    ops = list(GRADIENT_SAMPLES) if ops is None else [op for op in ops if op in GRADIENT_SAMPLES]
    dtypes = list(FLOAT_DTYPES) if dtypes is None else [d for d in dtypes if d in FLOAT_DTYPES]
    started = time.perf_counter()
    cells = {}
    for op in ops:
        for dt in dtypes:
            cells[f"{op}/{dt}"] = cell = check_cell(op, dt, device)
            if progress:
                progress(f"grad:{op}", dt, cell)
    counts = {s: sum(c["status"] == s for c in cells.values()) for s in STATUSES}
    return {"ops": ops, "dtypes": dtypes, "cells": cells, "counts": counts,
            "failures": [f"grad:{k}" for k, c in cells.items() if c["status"] == FAIL],
            "seconds": round(time.perf_counter() - started, 2)}
