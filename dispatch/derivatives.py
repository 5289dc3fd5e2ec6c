"""The derivative of every differentiable op, written once, in tensorswitch ops (as PyTorch's derivatives.yaml).

Each entry of ``DERIVATIVES`` says which inputs (by position) and whether the result the backward pass needs, and a
formula ``f(ctx, grad) -> (gradient of each input, ...)``.  Formulas are ops, so they run on the tensor's device
through the registry, and, with ``create_graph=True``, are recorded themselves: second derivatives come for free.
Gradients may come back broadcast or promoted: the engine sums them back to each input's shape and casts them to its
dtype and device (``dispatch/autograd.py``).

Adding a differentiable op: its line here, and the op in ``GRADIENT_SAMPLES`` of
``tensorswitch/testing/gradients.py`` (the conformance suite then checks its gradient on every backend).
``install()`` (run at import by ``tensorswitch/__init__.py``) wraps each op's entry point so that it records when an
input requires grad; see Note [Autograd dispatch].
"""

import functools
import inspect

from . import autograd as ag
from . import dispatcher as d
from . import errors
from . import functions as F
from . import nnops
from .autograd import MODE, SavedTensor, detach, needs_grad, track, track_made
from .registry import registry
from .tensor import GradTensor, ReadOnlyGradTensor, Tensor, _is_contiguous

_fast = registry.fast

__all__ = ["DERIVATIVES", "Derivative", "install"]


class Derivative:
    """The backward of one op: ``formula(ctx, grad)``; ``save_inputs`` (positions) and ``save_output`` say what it
    reads from ``_saved(ctx)`` (the saved inputs in that order, then the output).  ``save_for`` maps a saved input's
    position to the inputs whose gradients need it: ``x * y`` saves x only when y needs a gradient (None stands in
    for it otherwise), so writing into x afterwards is no error when nothing will read it, as in PyTorch."""

    __slots__ = ("formula", "save_inputs", "save_output", "save_for", "fast_saves")

    def __init__(self, formula, save_inputs=(), save_output=False, save_for=None):
        self.formula, self.save_inputs, self.save_output = formula, tuple(save_inputs), save_output
        self.save_for = save_for
        # what autograd.track_made hands the C recorder (Note [Recording in C]): (input, needed-by inputs or None)
        # per saved input; None when the output is saved too (Python's track does that)
        self.fast_saves = None if save_output else tuple(
            (i, tuple(save_for[i]) if save_for is not None and i in save_for else None) for i in self.save_inputs)


def _saved(ctx):
    """The saved inputs (then the output) of the node, checked against in-place writes.  Without create_graph they
    come as plain tensors (untracked aliases): the formula's ops then take the dispatcher's fast paths, which are for
    plain tensors only (a tracked one there goes the recording way, to be told nothing records)."""
    if ctx.create_graph:
        return [ctx.unpack(s, True) if isinstance(s, SavedTensor) else s for s in ctx.inputs]
    out = []
    for s in ctx.inputs:
        if isinstance(s, SavedTensor):
            s = ctx.unpack(s, False)
            if type(s) is not Tensor:
                s = detach(s)
        out.append(s)
    return out


# the ops formulas are written in (each records when create_graph is on)
def _b(op):
    fn = d.BINARY[op]
    return fn


add, sub, mul, div = _b("add"), _b("subtract"), _b("multiply"), _b("divide")
pow_, eq, gt, lt, ge = _b("pow"), _b("equal"), _b("greater"), _b("less"), _b("greater_equal")
neg, exp, log, sin, cos, sign = (d.UNARY[n] for n in ("negative", "exp", "log", "sin", "cos", "sign"))
isnan = d.UNARY["isnan"]


def where(c, a, b):
    return d.where(c, a, b)


def zeros_like(g):
    return F.zeros(g.shape, dtype=g.dtype, device=g.device)


def _is_tensor(x):
    return isinstance(x, Tensor)


# -- elementwise --------------------------------------------------------------------------------------------------

def _x(ctx):
    return _saved(ctx)[0]


def _out(ctx):
    return _saved(ctx)[-1]


def _pow(ctx, g):
    a, b, out = _saved(ctx)
    ga = gb = None
    if ctx.needs[0]:
        if _is_tensor(b):
            ga = where(eq(b, 0), 0.0, mul(mul(g, b), pow_(a, sub(b, 1))))
        else:
            ga = zeros_like(g) if b == 0 else mul(mul(g, b), pow_(a, b - 1))
    if ctx.needs[1]:
        if _is_tensor(a):
            gb = where(d.BINARY["logical_and"](eq(a, 0), ge(b, 0)), 0.0, mul(mul(g, out), log(a)))
        else:
            gb = zeros_like(g) if a == 0 else mul(mul(g, out), float(__import__("math").log(a)) if a > 0 else
                                                   float("nan"))
    return ga, gb


def _extremum(larger):
    def formula(ctx, g):
        a, b = _saved(ctx)
        half = div(g, 2.0)
        lose = lt if larger else gt  # a loses to b where a < b (maximum) or a > b (minimum)
        ga = where(lose(a, b), 0.0, where(eq(a, b), half, g)) if ctx.needs[0] else None
        gb = where(lose(b, a), 0.0, where(eq(a, b), half, g)) if ctx.needs[1] else None
        return ga, gb
    return formula


def _divide(ctx, g):
    a, b = _saved(ctx)
    ga = div(g, b) if ctx.needs[0] else None
    gb = neg(div(mul(g, a), mul(b, b))) if ctx.needs[1] else None
    return ga, gb


def _multiply(ctx, g):
    a, b = _saved(ctx)
    return (mul(g, b) if ctx.needs[0] else None), (mul(g, a) if ctx.needs[1] else None)


def _remainder(ctx, g):
    a, b = _saved(ctx)
    return g, (neg(mul(g, d.BINARY["floor_divide"](a, b))) if ctx.needs[1] else None)


def _zero(n):
    return lambda ctx, g: tuple(zeros_like(g) if need else None for need in ctx.needs[:n])


DERIVATIVES = {
    # unary: the input is x, the result out
    "negative": Derivative(lambda c, g: (neg(g),)),
    "positive": Derivative(lambda c, g: (g,)),
    "abs": Derivative(lambda c, g: (mul(g, sign(_x(c))),), (0,)),
    "exp": Derivative(lambda c, g: (mul(g, _out(c)),), save_output=True),
    "log": Derivative(lambda c, g: (div(g, _x(c)),), (0,)),
    "sqrt": Derivative(lambda c, g: (div(g, mul(_out(c), 2.0)),), save_output=True),
    "sin": Derivative(lambda c, g: (mul(g, cos(_x(c))),), (0,)),
    "cos": Derivative(lambda c, g: (neg(mul(g, sin(_x(c)))),), (0,)),
    "tanh": Derivative(lambda c, g: (mul(g, sub(1.0, mul(_out(c), _out(c)))),), save_output=True),
    # d/dx erf(x) = 2 / sqrt(pi) * exp(-x**2)
    "erf": Derivative(lambda c, g: (mul(g, mul(exp(neg(mul(_x(c), _x(c)))), 1.1283791670955126)),), (0,)),
    "sigmoid": Derivative(lambda c, g: (mul(g, mul(_out(c), sub(1.0, _out(c)))),), save_output=True),
    "relu": Derivative(lambda c, g: (where(gt(_out(c), 0), g, 0.0),), save_output=True),
    "square": Derivative(lambda c, g: (mul(mul(g, _x(c)), 2.0),), (0,)),
    "sign": Derivative(_zero(1)), "floor": Derivative(_zero(1)), "ceil": Derivative(_zero(1)),
    # binary: the inputs are a and b (tensors or Python scalars)
    "add": Derivative(lambda c, g: (g, g)),
    "subtract": Derivative(lambda c, g: (g, neg(g) if c.needs[1] else None)),
    "multiply": Derivative(_multiply, (0, 1), save_for={0: (1,), 1: (0,)}),
    "divide": Derivative(_divide, (0, 1), save_for={0: (1,)}),
    "pow": Derivative(_pow, (0, 1), save_output=True),
    "maximum": Derivative(_extremum(True), (0, 1)),
    "minimum": Derivative(_extremum(False), (0, 1)),
    "remainder": Derivative(_remainder, (0, 1)),
    "floor_divide": Derivative(_zero(2)),
}


# -- the elementwise functions of the Array API standard (issue 8) ---------------------------------------------------

import math as _math  # noqa: E402  (this section's own)

_sqrt, _sinh, _cosh, _signbit = (d.UNARY[n] for n in ("sqrt", "sinh", "cosh", "signbit"))
_LN2, _LN10 = 0.6931471805599453, 2.302585092994046


def _atan2(ctx, g):
    # d atan2(a, b) = (b da - a db) / (a**2 + b**2)
    a, b = _saved(ctx)
    r2 = a * a + b * b  # operators: either side may be a Python scalar
    return (div(mul(g, b), r2) if ctx.needs[0] else None), (neg(div(mul(g, a), r2)) if ctx.needs[1] else None)


def _hypot(ctx, g):
    a, b, out = _saved(ctx)
    return (mul(g, div(a, out)) if ctx.needs[0] else None), (mul(g, div(b, out)) if ctx.needs[1] else None)


def _logaddexp(ctx, g):
    # d/da log(e**a + e**b) = e**a / (e**a + e**b) = exp(a - out)
    a, b, out = _saved(ctx)
    return (mul(g, exp(sub(a, out))) if ctx.needs[0] else None), (mul(g, exp(sub(b, out))) if ctx.needs[1] else None)


def _copysign(ctx, g):
    # |a| with b's sign: the slope is sign(a) * (-1 if b's sign bit is set else 1), and 0 at a == 0 (PyTorch's);
    # the sign of b is piecewise constant
    a, b = _saved(ctx)
    ga = None
    if ctx.needs[0]:
        slope = mul(g, sign(a))
        ga = where(_signbit(b), neg(slope), slope) if _is_tensor(b) else (neg(slope) if _signbit_of(b) else slope)
    return ga, (zeros_like(g) if ctx.needs[1] else None)


def _signbit_of(value):
    return _math.copysign(1.0, value) < 0


DERIVATIVES.update({
    "acos": Derivative(lambda c, g: (neg(div(g, _sqrt(sub(1.0, mul(_x(c), _x(c)))))),), (0,)),
    "asin": Derivative(lambda c, g: (div(g, _sqrt(sub(1.0, mul(_x(c), _x(c))))),), (0,)),
    "acosh": Derivative(lambda c, g: (div(g, _sqrt(mul(sub(_x(c), 1.0), add(_x(c), 1.0)))),), (0,)),
    "asinh": Derivative(lambda c, g: (div(g, _sqrt(add(mul(_x(c), _x(c)), 1.0))),), (0,)),
    "atan": Derivative(lambda c, g: (div(g, add(mul(_x(c), _x(c)), 1.0)),), (0,)),
    "atanh": Derivative(lambda c, g: (div(g, sub(1.0, mul(_x(c), _x(c)))),), (0,)),
    "cosh": Derivative(lambda c, g: (mul(g, _sinh(_x(c))),), (0,)),
    "sinh": Derivative(lambda c, g: (mul(g, _cosh(_x(c))),), (0,)),
    "tan": Derivative(lambda c, g: (mul(g, add(mul(_out(c), _out(c)), 1.0)),), save_output=True),
    "expm1": Derivative(lambda c, g: (mul(g, add(_out(c), 1.0)),), save_output=True),
    "log1p": Derivative(lambda c, g: (div(g, add(_x(c), 1.0)),), (0,)),
    "log2": Derivative(lambda c, g: (div(g, mul(_x(c), _LN2)),), (0,)),
    "log10": Derivative(lambda c, g: (div(g, mul(_x(c), _LN10)),), (0,)),
    "reciprocal": Derivative(lambda c, g: (neg(mul(g, mul(_out(c), _out(c)))),), save_output=True),
    "round": Derivative(_zero(1)), "trunc": Derivative(_zero(1)),
    # real dtypes: real and conj are the identity, imag a constant 0
    "real": Derivative(lambda c, g: (g,)), "conj": Derivative(lambda c, g: (g,)), "imag": Derivative(_zero(1)),
    "atan2": Derivative(_atan2, (0, 1)),
    "hypot": Derivative(_hypot, (0, 1), save_output=True),
    "logaddexp": Derivative(_logaddexp, (0, 1), save_output=True),
    "copysign": Derivative(_copysign, (0, 1)),
    # the next float after a: a itself to first order, and piecewise constant in b (PyTorch has no derivative)
    "nextafter": Derivative(lambda c, g: (g, zeros_like(g) if c.needs[1] else None)),
})


# -- reductions, matmul, softmax, where, casts ------------------------------------------------------------------------

def _kept_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _expand_back(g, shape, axes, keepdims):
    """The gradient of a reduction over ``axes`` of a ``shape`` tensor, broadcast back to ``shape``."""
    if not keepdims:
        g = F.reshape(g, _kept_shape(shape, axes))
    return g.broadcast_to(shape)


def _sum(ctx, g):
    shape, axes, keepdims = ctx.params
    return (_expand_back(g, shape, axes, keepdims),)


def _prod(ctx, g):
    # d prod / d x_i = the product of the others: out / x_i where x_i != 0; where x_i is the only zero of its slice,
    # the product of the rest; 0 where the slice has two zeros or more
    x, out = _saved(ctx)
    shape, axes, keepdims = ctx.params
    out_k = _expand_back(out, shape, axes, keepdims)
    g_k = _expand_back(g, shape, axes, keepdims)
    zero = eq(x, 0)
    others = F.prod(where(zero, 1.0, x), axis=axes, keepdims=True)
    n_zero = F.sum(zero, axis=axes, keepdims=True)
    at_zero = where(eq(n_zero, 1), others, 0.0)
    return (mul(g_k, where(zero, at_zero, div(out_k, where(zero, 1.0, x)))),)


def _extreme_value(ctx, g):
    # the gradient is shared evenly by the positions that hold the extreme value (PyTorch's amax/amin)
    x, out = _saved(ctx)
    shape, axes, keepdims = ctx.params
    out_k = _expand_back(out, shape, axes, keepdims)
    hit = d.BINARY["logical_or"](eq(x, out_k), d.BINARY["logical_and"](isnan(x), isnan(out_k)))
    hit = hit.astype(g.dtype)
    count = F.sum(hit, axis=axes, keepdims=True)
    return (mul(div(_expand_back(g, shape, axes, keepdims), count), hit),)


_REDUCTIONS = {"sum": Derivative(_sum), "prod": Derivative(_prod, (0,), True),
               "max": Derivative(_extreme_value, (0,), True), "min": Derivative(_extreme_value, (0,), True)}
DERIVATIVES.update(_REDUCTIONS)


def _matmul(ctx, g):
    a, b = _saved(ctx)  # a is saved only when b needs a gradient, and b only when a does
    a_shape, b_shape = ctx.params[:2]
    a2_shape = (1,) + a_shape if len(a_shape) == 1 else a_shape   # 1-D operands as (1, k) and (k, 1)
    b2_shape = b_shape + (1,) if len(b_shape) == 1 else b_shape
    ga = gb = None
    g2 = g
    if len(b_shape) == 1:  # first: for 1-D @ 1-D, g is 0-d and becomes (1,) here, then (1, 1)
        g2 = g2.expand_dims(-1)
    if len(a_shape) == 1:
        g2 = g2.expand_dims(-2)
    if ctx.needs[0]:
        b2 = b.expand_dims(-1) if b.ndim == 1 else b
        ga = _product_like(ctx.params[2], g2, b2.mT)
        ga = ag._sum_to(ga, a2_shape) if ga.shape != a2_shape else ga
        ga = F.reshape(ga, a_shape) if ga.shape != a_shape else ga
    if ctx.needs[1]:
        a2 = a.expand_dims(0) if a.ndim == 1 else a
        gb = _product_like(ctx.params[3], a2.mT, g2)
        gb = ag._sum_to(gb, b2_shape) if gb.shape != b2_shape else gb
        gb = F.reshape(gb, b_shape) if gb.shape != b_shape else gb
    return ga, gb


def _linear(ctx, g):
    """d.linear's backward, PyTorch's addmm: g @ w for x, g.mT @ x (rows of every batch dim) for w, laid out as w
    is, and g summed to the bias's shape for b."""
    x, w = _saved(ctx)  # x is saved only when w needs a gradient, w only when x does
    (b_shape,) = ctx.params
    gx = gw = gb = None
    if ctx.needs[0]:
        gx = d.matmul(g, w)
    if ctx.needs[1]:
        rows = g if g.ndim == 2 else F.reshape(g, (-1, g.shape[-1]))
        gw = d.matmul(rows.mT, x if x.ndim == 2 else F.reshape(x, (-1, x.shape[-1])))
    if b_shape is not None and ctx.needs[2]:
        gb = ag._sum_to(g, b_shape) if g.shape != b_shape else g
    return gx, gw, gb


DERIVATIVES["linear"] = Derivative(_linear, (0, 1), save_for={0: (1,), 1: (0,)})


def _product_like(transposed, x, y):
    """``x @ y``, laid out like the operand it is the gradient of: for an operand that was a transposed view (a
    Linear layer's ``x @ W.T``), ``(y.mT @ x.mT).mT``, whose transpose is contiguous, so that the gradient reaching
    W through the transpose is contiguous and needs no copy (PyTorch's gradient layout contract)."""
    if transposed:
        return d.matmul(y.mT, x.mT).mT
    return d.matmul(x, y)


def _is_transposed(t):
    """A matrix (or batch) whose last two dims are swapped from C order: ``w.T`` of a contiguous ``w``.  Read from
    the strides: ``t.mT`` of a tracked ``t`` would record a view node on every forward."""
    shape, strides = t.shape, t.strides
    if len(shape) < 2 or t.is_contiguous or strides[-2] != 1:
        return False
    return _is_contiguous(shape[:-2] + (shape[-1], shape[-2]), strides[:-2] + (strides[-1], strides[-2]))


def _softmax(ctx, g):
    (out,) = _saved(ctx)
    axis = ctx.params
    return (mul(out, sub(g, F.sum(mul(g, out), axis=axis, keepdims=True))),)


def _log_softmax(ctx, g):
    (out,) = _saved(ctx)
    axis = ctx.params
    return (sub(g, mul(exp(out), F.sum(g, axis=axis, keepdims=True))),)


def _where(ctx, g):
    (cond,) = _saved(ctx)
    return None, (where(cond, g, 0.0) if ctx.needs[1] else None), (where(cond, 0.0, g) if ctx.needs[2] else None)


def _std(ctx, g):
    # d std / d x = (x - mean) / ((N - correction) * std), and 0 where std is 0 (a constant slice), as PyTorch
    x, out = _saved(ctx)
    axes, correction, keepdims = ctx.params
    shape = x.shape
    out_k = _expand_back(out, shape, axes, keepdims)
    n = 1
    for a in axes:
        n *= shape[a]
    centred = sub(x, F.mean(x, axis=axes, keepdims=True))
    denominator = mul(out_k, float(max(n - correction, 0)))
    scale = where(eq(out_k, 0), 0.0, div(_expand_back(g, shape, axes, keepdims), where(eq(out_k, 0), 1.0, denominator)))
    return (mul(scale, centred),)


DERIVATIVES.update({
    "std": Derivative(_std, (0,), True),
    "matmul": Derivative(_matmul, (0, 1), save_for={0: (1,), 1: (0,)}),
    "softmax": Derivative(_softmax, save_output=True),
    "log_softmax": Derivative(_log_softmax, save_output=True),
    "where": Derivative(_where, (0,)),
    "astype": Derivative(lambda c, g: (g,)),   # the engine casts the gradient back to the input's dtype
    "to": Derivative(lambda c, g: (g,)),       # ... and moves it back to the input's device
})


# -- views, joins and setitem -------------------------------------------------------------------------------------------

def _getitem(ctx, g):
    shape, index = ctx.params
    z = F.zeros(shape, dtype=g.dtype, device=g.device)
    z[index] = g
    return (z,)


def _permute(ctx, g):
    axes = ctx.params
    inverse = [0] * len(axes)
    for i, a in enumerate(axes):
        inverse[a] = i
    return (g.permute_dims(tuple(inverse)),)


def _concat(ctx, g):
    axis, sizes = ctx.params
    grads, start = [], 0
    for n, need in zip(sizes, ctx.needs):
        if need:
            index = (slice(None),) * axis + (slice(start, start + n),)
            grads.append(g[index])
        else:
            grads.append(None)
        start += n
    return tuple(grads)


def _setitem(ctx, g):
    index = ctx.params
    g_self = g_value = None
    if ctx.needs[1]:
        g_value = g[index]
    if ctx.needs[0]:
        g_self = d.astype(g, g.dtype)  # a copy: the part that was overwritten gets no gradient
        g_self[index] = 0.0
    return g_self, g_value


DERIVATIVES.update({
    "getitem": Derivative(_getitem),
    "reshape": Derivative(lambda c, g: (F.reshape(g, c.params),)),
    "permute_dims": Derivative(_permute),
    "broadcast_to": Derivative(lambda c, g: (ag._sum_to(g, c.params),)),
    "concat": Derivative(_concat),
    "setitem": Derivative(_setitem),
})


# -- nn kernel families ---------------------------------------------------------------------------------------------------

def _unfold(ctx, g):
    a = ctx.params
    return (fold(g, ctx.extra[-2:], a["kernel_size"], a["dilation"], a["padding"], a["stride"]),)


def _fold(ctx, g):
    a = ctx.params
    return (unfold(g, a["kernel_size"], a["dilation"], a["padding"], a["stride"]),)


def _max_pool2d(ctx, g):
    (x,) = _saved(ctx)
    a = ctx.params
    if ctx.create_graph:
        raise NotImplementedError("max_pool2d: a double backward (create_graph=True) through max_pool2d is not "
                                  "supported yet")
    return (nnops.max_pool2d_backward(g, x, a["kernel_size"], a["stride"], a["padding"], a["dilation"],
                                      a["ceil_mode"]),)


def _avg_pool2d(ctx, g):
    a = ctx.params
    return (avg_pool2d_backward(g, ctx.extra, a["kernel_size"], a["stride"], a["padding"], a["ceil_mode"],
                                a["count_include_pad"], a["divisor_override"]),)


def _avg_pool2d_backward(ctx, g):
    a = ctx.params
    return (avg_pool2d(g, a["kernel_size"], a["stride"], a["padding"], a["ceil_mode"], a["count_include_pad"],
                             a["divisor_override"]),)


def _nll_log_softmax(ctx, g):
    """nnops.nll_log_softmax's backward: softmax(x) times g (over N for the mean), less that at each target, in
    differentiable ops, so that create_graph works."""
    (x,) = _saved(ctx)
    target, mean = ctx.params
    if not ctx.create_graph and g.dtype is x.dtype and g.device is x.device:
        fused = nnops.nll_log_softmax_backward(x, target, g, mean)  # one kernel, where x's backend has it
        if fused is not None:
            return (fused,)
    c = div(g, float(x.shape[0])) if mean else g  # the gradient of each picked -log p
    p = exp(d.softmax_like("log_softmax", x, 1))
    # p * c with -c added at the targets: the same arithmetic, bit for bit, as the composition's backward
    # (log_softmax's g - exp(out) * sum(g) after take_along_axis's scatter), so training curves do not move
    return (scatter_add(mul(p, c), 1, target, neg(c).broadcast_to(target.shape), _bounds=(0, x.shape[1] - 1)),)


def _take_along_axis(ctx, g):
    (indices,) = _saved(ctx)
    axis, x_shape, bounds = ctx.params
    ndim = len(x_shape)
    axis = axis % ndim
    size = x_shape[axis]
    if bounds is None or bounds[0] < 0:  # negative indices count from the end; scatter_add takes [0, size)
        indices = F.where(d.binary("less", indices, 0), d.binary("add", indices, size), indices)
        bounds = (0, size - 1)  # the forward pass checked them
    shape = tuple(size if i == axis else n for i, n in enumerate(g.shape))
    index = indices.broadcast_to(g.shape) if indices.shape != g.shape else indices
    return scatter_add(F.zeros(shape, dtype=g.dtype, device=g.device), axis, index, g, _bounds=bounds), None


def _scatter_add(ctx, g):
    (index,) = _saved(ctx)
    axis = ctx.params
    bounds = (0, g.shape[axis] - 1) if g.ndim else None
    picked = take_along_axis(g, index, axis=axis, _bounds=bounds) if ctx.needs[3] else None
    return (g if ctx.needs[0] else None), None, None, picked  # the forward pass checked the indices


DERIVATIVES.update({
    "unfold": Derivative(_unfold), "fold": Derivative(_fold), "max_pool2d": Derivative(_max_pool2d, (0,)),
    "avg_pool2d": Derivative(_avg_pool2d), "avg_pool2d_backward": Derivative(_avg_pool2d_backward),
    "take_along_axis": Derivative(_take_along_axis, (1,)), "scatter_add": Derivative(_scatter_add, (2,)),
    "nll_log_softmax": Derivative(_nll_log_softmax, (0,)),
})


# -- sorting (issue 8) ------------------------------------------------------------------------------------------------

def _sort(ctx, g):
    """sort's values are x gathered at the argsort indices: the gradient goes back to where each value came from."""
    axis, index = ctx.params
    return (scatter_add(F.zeros(g.shape, dtype=g.dtype, device=g.device), axis, index, g),)


DERIVATIVES["sort"] = Derivative(_sort)


def _sort_wrapper(plain):
    """Record ``ts.sort`` as x gathered along the axis at its argsort (two kernels instead of one, only when x
    requires grad); the indices are the node's parameters (an int64 tensor only this node holds: nothing can write
    into it)."""
    from . import sorting

    @functools.wraps(plain)
    def sort(x, /, *, axis=-1, descending=False, stable=True):
        if MODE.enabled and needs_grad(x):
            index = sorting.argsort(detach(x), axis=axis, descending=descending, stable=stable)
            axis = axis % x.ndim  # argsort has checked it
            out = _untracked(nnops.take_along_axis, detach(x), index, axis=axis)
            return track("sort", DERIVATIVES["sort"], out, (x,), (axis, index))
        return plain(x, axis=axis, descending=descending, stable=stable)
    return sort


# -- recording wrappers (Note [Autograd dispatch]) -------------------------------------------------------------------------

def _untracked(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with recording off: the wrapper that calls it records the op as one node."""
    MODE.enabled = False
    try:
        return fn(*args, **kwargs)
    finally:
        MODE.enabled = True


def _wrap_unary(plain):
    def unary_slow(op, x):
        if MODE.enabled and isinstance(x, GradTensor) and x._requires_grad:
            derivative = DERIVATIVES.get(op)
            if derivative is None:  # bool results (isnan, logical_not, ...): nothing to differentiate
                return plain(op, x)
            dt = x.dtype
            kernel = _fast.get((op, x.device.type, dt)) if dt.kind == "float" and not d._TRACE else None
            if kernel is not None:  # the dispatcher's fast path, on a tracked input
                out = d.empty_like(x, dt, True)
                if out.size:
                    kernel(out, x)
                return track_made(op, derivative, out, (x,))
            MODE.enabled = False
            try:
                out = plain(op, x)
            finally:
                MODE.enabled = True
            return track(op, derivative, out, (x,))
        return plain(op, x)
    return unary_slow


def _wrap_binary(plain):
    weak = d.WEAK

    def binary_slow(op, a, b):
        if MODE.enabled and (isinstance(a, GradTensor) and a._requires_grad or
                             isinstance(b, GradTensor) and b._requires_grad):
            derivative = DERIVATIVES.get(op)
            if derivative is None:  # comparisons: bool results
                return plain(op, a, b)
            if isinstance(a, Tensor) and not d._TRACE:
                # the dispatcher's fast path, on tracked inputs: same dtype, device and shape, or a weak scalar
                dt = a.dtype
                bt = b
                if not isinstance(b, Tensor) and weak.get((type(b), dt)) is dt and type(b) is float:
                    bt = d.scalar_view(b, dt, a.device, a.shape)
                if isinstance(bt, Tensor) and bt.dtype is dt and bt.device is a.device and bt.shape == a.shape \
                        and dt.kind == "float":
                    kernel = _fast.get((op, a.device.type, dt))
                    if kernel is not None:
                        out = d.empty_for(a, bt, dt, True)
                        if out.size:
                            kernel(out, a, bt)
                        return track_made(op, derivative, out, (a, b))
            MODE.enabled = False
            try:
                out = plain(op, a, b)
            finally:
                MODE.enabled = True
            return track(op, derivative, out, (a, b))
        return plain(op, a, b)
    return binary_slow


def _grad_binary_method(op, general):
    """``GradTensor.__add__`` and friends: a tracked tensor with a contiguous one of its dtype, shape and device (or
    a float, for a float tensor), its kernel and its node recorded in C (Note [Recording in C]), in one frame where
    the general path (``general``: Tensor's method, whose slow path records) takes four; with the built-in cpu
    kernel, memory, result, loop and node are one C call (binary_grad).  Anything else goes the general way, which
    decides."""
    derivative = DERIVATIVES[op]
    formula, saves = derivative.formula, derivative.fast_saves
    kernels = registry.by_op[op]
    fresh, scalar_view, builtin_cpu = d._fresh, d.scalar_view, d._CPU_BINARY

    def method(a, b):
        fast = ag._track_fast  # None until the first recorded op loads it (the general path does)
        if fast and saves is not None and MODE.enabled and a._requires_grad and not d._TRACE and a.is_contiguous:
            dt = a.dtype
            device = a.device
            shape = a.shape
            if type(b) is float:
                bt = scalar_view(b, dt, device, shape) if dt.kind == "float" else None
            elif isinstance(b, Tensor) and b.is_contiguous and b.dtype is dt and b.device is device and \
                    b.shape == shape and dt.kind == "float":
                bt = b
            else:
                bt = None
            kernel = kernels.get((device.type, dt)) if bt is not None else None
            if kernel is not None:
                codes = builtin_cpu.get(kernel)
                if codes is not None:  # the built-in cpu kernel: all in one C call
                    result = ag._binary_grad(codes[0], codes[1], codes[2], a, b, bt, 1 if bt.is_contiguous else 0,
                                             op, formula, saves, device.buffer_type, dt)
                    if result is not NotImplemented:
                        return result
                out = fresh(shape, a.strides, a.size, dt, device, True)
                if out.size:
                    kernel(out, a, bt)
                result = fast(op, formula, out, (a, b), saves)
                if result is not NotImplemented:
                    return result
                return track(op, derivative, out, (a, b), None, False, True)
        return general(a, b)

    method.__name__ = method.__qualname__ = general.__name__
    method.__doc__ = general.__doc__
    return method


def _recording(name, plain, inputs_of, params_of=None, is_view=False):
    """A wrapper of ``plain`` that records ``name`` when one of ``inputs_of(args)`` requires grad."""
    derivative = DERIVATIVES[name]

    @functools.wraps(plain)
    def wrapper(*args, **kwargs):
        if MODE.enabled:
            inputs = inputs_of(*args, **kwargs)
            for x in inputs:  # a loop, not any(genexpr): this runs on every matmul and linear
                if isinstance(x, GradTensor) and x._requires_grad:
                    out = _untracked(plain, *args, **kwargs)
                    params = params_of(*args, **kwargs) if params_of is not None else None
                    return track(name, derivative, out, inputs, params, is_view)
        return plain(*args, **kwargs)
    return wrapper


def _reduce_wrapper(plain):
    def reduce(op, x, axis=None, keepdims=False):
        if MODE.enabled and needs_grad(x) and op in _REDUCTIONS:
            out = _untracked(plain, op, x, axis, keepdims)
            axes = tuple(d.normalize_axes(op, axis, x.ndim)) if x.ndim else ()
            return track(op, _REDUCTIONS[op], out, (x,), (x.shape, axes, keepdims))
        return plain(op, x, axis, keepdims)
    return reduce


def _astype_wrapper(plain):
    derivative = DERIVATIVES["astype"]

    def astype(x, dt, copy=True):
        if MODE.enabled and needs_grad(x):
            if x.dtype is dt and not copy:
                return x
            out = _untracked(plain, x, dt, copy)
            return track("astype", derivative, out, (x,))
        return plain(x, dt, copy)
    return astype


def _view_method(name, plain, params_of):
    """A view method of GradTensor: the view of an untracked alias, then tracked (a view node)."""
    derivative = DERIVATIVES[name]

    def method(self, *args, **kwargs):
        out = plain(detach(self), *args, **kwargs)
        if MODE.enabled and self._requires_grad:
            out = track(name, derivative, out, (self,), params_of(self, out, *args, **kwargs), is_view=True)
            ag.remember_base(out, self, lambda base: method(base, *args, **kwargs))
        return out
    method.__name__ = getattr(plain, "__name__", name)
    method.__doc__ = plain.__doc__
    return method


def _getitem_method(plain):
    derivative = DERIVATIVES["getitem"]

    def __getitem__(self, index):
        out = plain(detach(self), index)
        if MODE.enabled and self._requires_grad:
            out = track("getitem", derivative, out, (self,), (self.shape, index), is_view=True)
            ag.remember_base(out, self, lambda base: __getitem__(base, index))  # writes into the view write the base
        return out
    return __getitem__


def _reshape_wrapper(plain):
    derivative = DERIVATIVES["reshape"]

    @functools.wraps(plain)
    def reshape(x, /, shape, *, copy=None):
        if isinstance(x, GradTensor):
            out = plain(detach(x), shape, copy=copy)
            if MODE.enabled and x._requires_grad:
                is_view = out.buffer is x.buffer
                out = track("reshape", derivative, out, (x,), x.shape, is_view=is_view)
                if is_view:
                    ag.remember_base(out, x, lambda base: reshape(base, shape, copy=copy))
            return out
        return plain(x, shape, copy=copy)
    reshape.__doc__ = plain.__doc__
    return reshape


def _concat_wrapper(plain):
    derivative = DERIVATIVES["concat"]

    def concat(arrays, axis=0):
        arrays = list(arrays) if not isinstance(arrays, list) else arrays
        if MODE.enabled and any(needs_grad(a) for a in arrays):
            if axis is None:
                arrays, axis = [F.reshape(a, (-1,)) for a in arrays], 0
            out = _untracked(plain, arrays, axis)
            ax = d.normalize_axis("concat", axis, arrays[0].ndim)
            return track("concat", derivative, out, tuple(arrays), (ax, [a.shape[ax] for a in arrays]))
        return plain(arrays, axis)
    concat.__doc__ = plain.__doc__
    return concat


def _to_wrapper(plain):
    derivative = DERIVATIVES["to"]

    def to(x, device=None, dtype=None):
        if MODE.enabled and needs_grad(x):
            out = _untracked(plain, x, device, dtype)
            if out is x:
                return x
            return track("to", derivative, out, (x,))
        return plain(x, device, dtype)
    return to


def _inplace_check(op, target):
    """Raise for an in-place write autograd cannot follow; return the (base, index) of a tracked getitem view, whose
    base must then be written instead, or None."""
    if not needs_grad(target):
        return None
    node = target._grad_fn
    if node is None:
        raise RuntimeError(f"{op}: a leaf tensor that requires grad cannot be modified in place (autograd needs "
                           f"its value); do it inside `with ts.no_grad():` (as optimisers do), or compute out of "
                           f"place")
    if node.is_view:
        base = node.base[0] if node.base is not None else None
        if node.name == "getitem" and base is not None:
            return base, node.params[1]
        raise RuntimeError(f"{op}: in-place write into a view ({node.name}) of a tensor that requires grad is not "
                           f"supported; write into the tensor itself (x[i, j] = v), or compute out of place")
    return None


def _take_history(target, result):
    """``target`` (holding ``result``'s values now) takes over ``result``'s history."""
    if not isinstance(target, GradTensor):
        ag._make_tracked(target, True, result._grad_fn, result._output_nr)
    else:
        target._requires_grad, target._grad_fn, target._output_nr = True, result._grad_fn, result._output_nr


def _write_view(target, base, index, new):
    """In place into a tracked getitem view: the base is written (recorded), and the view re-derived from it."""
    base[index] = new
    _take_history(target, base[index])
    return target


def _inplace_wrapper(plain):
    def binary_inplace(op, target, other):
        if MODE.enabled and (needs_grad(target) or needs_grad(other)) and op in DERIVATIVES:
            view_of = _inplace_check(op, target)
            if target.dtype.kind != "float":
                return plain(op, target, other)  # raises the dtype error, or computes without a gradient
            old = d.astype(target, target.dtype)  # recorded (a clone): the op saves this, not the memory it overwrites
            result = d.BINARY[op](old, other)
            if result.dtype is not target.dtype:
                result = d.astype(result, target.dtype)
            if result.shape != target.shape:
                raise errors.ShapeError(f"{op}: in-place result must keep shape {target.shape}, but "
                                        f"{getattr(other, 'shape', ())} broadcasts it to {result.shape}")
            if view_of is not None:
                return _write_view(target, view_of[0], view_of[1], result)
            _untracked(d.copy_into, target, result)
            if isinstance(result, GradTensor):
                _take_history(target, result)
            return target
        return plain(op, target, other)
    return binary_inplace


def _setitem_wrapper(plain):
    derivative = DERIVATIVES["setitem"]

    def __setitem__(self, index, value):
        if MODE.enabled and (needs_grad(self) or needs_grad(value)):
            view_of = _inplace_check("setitem", self)
            if self.dtype.kind != "float":
                return plain(self, index, detach(value) if isinstance(value, Tensor) else value)
            if view_of is not None:  # x[0][1] = v: x[0] with [1] = v, written into x[0]
                new = d.astype(self, self.dtype)
                new[index] = value
                _write_view(self, view_of[0], view_of[1], new)
                return None
            needs = (needs_grad(self), needs_grad(value))
            edges_self = ag._edge(self) if needs[0] else None
            _untracked(plain, detach(self), index, detach(value) if isinstance(value, Tensor) else value)
            # the node: the gradient of the old value (zero where overwritten) and of the value written
            node = ag.Node("setitem", (edges_self, ag._edge(value) if needs[1] else None),
                           ((self.shape, self.dtype, self.device) if needs[0] else None,
                            (value.shape, value.dtype, value.device) if needs[1] else None),
                           derivative.formula, None)
            node.params, node.needs, node.inputs = index, needs, []
            if not isinstance(self, GradTensor):
                ag._make_tracked(self, True, node, 0)
            else:
                self._requires_grad, self._grad_fn, self._output_nr = True, node, 0
            return None
        return plain(self, index, value)
    return __setitem__


def _bind(fn):
    sig = inspect.signature(fn)

    def arguments(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        return bound.arguments
    return arguments


def _nn_wrapper(name, plain, tensor_args):
    """Record an nn kernel family's function; its arguments are bound by name for the formula."""
    derivative = DERIVATIVES[name]
    arguments = _bind(plain)

    @functools.wraps(plain)
    def wrapper(*args, **kwargs):
        if MODE.enabled:
            a = arguments(*args, **kwargs)
            inputs = tuple(a[n] for n in tensor_args)
            if any(needs_grad(x) for x in inputs):
                out = _untracked(plain, *args, **kwargs)
                params = {k: v for k, v in a.items() if k not in tensor_args}  # no tensors: nothing kept alive
                out = track(name, derivative, out, inputs, params)
                if isinstance(out, GradTensor):
                    out._grad_fn.extra = inputs[0].shape
                return out
        return plain(*args, **kwargs)
    return wrapper


# the recording versions of the nn functions, which formulas call (set by install())
unfold = fold = avg_pool2d = avg_pool2d_backward = take_along_axis = scatter_add = None
_installed = []


def install():
    """Wrap every differentiable entry point once (see Note [Autograd dispatch])."""
    global unfold, fold, avg_pool2d, avg_pool2d_backward, take_along_axis, scatter_add
    if _installed:
        return
    _installed.append(True)
    d._unary_slow = _wrap_unary(d._unary_slow)
    d._binary_slow = _wrap_binary(d._binary_slow)
    d.reduce = _reduce_wrapper(d.reduce)
    d.matmul = _recording("matmul", d.matmul, lambda a, b: (a, b),
                          lambda a, b: (a.shape, b.shape, _is_transposed(a), _is_transposed(b)))
    d.linear = _recording("linear", d.linear, lambda x, w, b=None: (x, w, b),
                          lambda x, w, b=None: (None if b is None else b.shape,))
    d.softmax_like = _softmax_wrapper(d.softmax_like)
    d.where = _recording("where", d.where, lambda c, a, b: (c, a, b))
    d.astype = _astype_wrapper(d.astype)
    d.binary_inplace = _inplace_wrapper(d.binary_inplace)
    F.reshape = _reshape_wrapper(F.reshape)
    F.std = _recording("std", F.std, lambda x, /, *, axis=None, correction=0.0, keepdims=False: (x,),
                       lambda x, /, *, axis=None, correction=0.0, keepdims=False:
                       (tuple(d.normalize_axes("std", axis, x.ndim)) if x.ndim else (), float(correction), keepdims))
    F.concat = _concat_wrapper(F.concat)
    F.to = _to_wrapper(F.to)
    Tensor.__setitem__ = _setitem_wrapper(Tensor.__setitem__)
    # view methods of tracked tensors
    GradTensor.__getitem__ = _getitem_method(Tensor.__getitem__)
    GradTensor.permute_dims = _view_method("permute_dims", Tensor.permute_dims,
                                           lambda s, o, axes: tuple(d.normalize_axis("permute_dims", a, s.ndim)
                                                                    for a in axes))
    GradTensor.squeeze = _view_method("reshape", Tensor.squeeze, lambda s, o, *a, **k: s.shape)
    GradTensor.expand_dims = _view_method("reshape", Tensor.expand_dims, lambda s, o, *a, **k: s.shape)
    GradTensor.broadcast_to = _view_method("broadcast_to", Tensor.broadcast_to, lambda s, o, shape: s.shape)
    Tensor.__imatmul__ = _imatmul  # a @= b as a setitem, which records when either side requires grad
    for dunder, op in (("__add__", "add"), ("__sub__", "subtract"), ("__mul__", "multiply"),
                       ("__truediv__", "divide")):
        setattr(GradTensor, dunder, _grad_binary_method(op, getattr(Tensor, dunder)))
    # the nn kernel families
    for fn_name, tensors in (("unfold", ("x",)), ("fold", ("cols",)), ("max_pool2d", ("x",)),
                             ("avg_pool2d", ("x",)), ("avg_pool2d_backward", ("grad",))):
        fn = getattr(nnops, fn_name, None)
        if fn is not None:
            setattr(nnops, fn_name, _nn_wrapper(fn_name, fn, _first_params(fn, tensors)))
    if hasattr(nnops, "take_along_axis"):
        nnops.take_along_axis = _recording(
            "take_along_axis", nnops.take_along_axis, lambda x, indices, *, axis=-1, _bounds=None: (x, indices),
            lambda x, indices, *, axis=-1, _bounds=None: (axis, x.shape, _bounds))
        nnops.scatter_add = _recording(
            "scatter_add", nnops.scatter_add, lambda x, axis, index, src, **_: (x, axis, index, src),
            lambda x, axis, index, src, **_: axis)
        nnops.nll_log_softmax = _recording(
            "nll_log_softmax", nnops.nll_log_softmax, lambda x, target, *, mean=True: (x,),
            lambda x, target, *, mean=True: (target, mean))
    unfold, fold, avg_pool2d = (getattr(nnops, n, None) for n in ("unfold", "fold", "avg_pool2d"))
    avg_pool2d_backward = getattr(nnops, "avg_pool2d_backward", None)
    take_along_axis = getattr(nnops, "take_along_axis", None)
    scatter_add = getattr(nnops, "scatter_add", None)
    from . import sorting  # -- sorting (issue 8)
    sorting.sort = _sort_wrapper(sorting.sort)
    _install_linalg()  # -- linalg (issue 8)
    _install_scans()  # -- scans and array indexing (issue 8)


def _first_params(fn, names):
    params = list(inspect.signature(fn).parameters)
    return tuple(n if n in params else params[0] for n in names)


def _softmax_wrapper(plain):
    def softmax_like(op, x, axis):
        if MODE.enabled and needs_grad(x):
            out = _untracked(plain, op, x, axis)
            return track(op, DERIVATIVES[op], out, (x,), d.normalize_axis(op, axis, x.ndim))
        return plain(op, x, axis)
    return softmax_like


def _imatmul(self, other):
    """``a @= b``: in place, when the product keeps a's shape (as in NumPy)."""
    product = d.matmul(self, other)
    if product.shape != self.shape:
        raise errors.ShapeError(f"matmul: in-place result must keep shape {self.shape}, got {product.shape}")
    self[...] = product
    return self


del ReadOnlyGradTensor


# -- linalg (issue 8): the primitives of dispatch/linalg.py (Note [Linalg kernels]); the rest of ts.linalg is composed
# of recorded ops (trace, outer, vecdot, tensordot, cross, the 1- and inf-matrix norms) and needs no formula.  A
# singular matrix has no det/slogdet gradient here (the formulas take its inverse, which raises LinAlgError).

def _linalg():
    from . import linalg
    return linalg


def _inverse_t(a):
    """inv(a).mT, recorded."""
    return _linalg()._inv(a).mT


def _linalg_solve(ctx, g):
    a, x = _saved(ctx)  # x = a^-1 b, the output
    gb = _linalg()._solve(a.mT, g)
    ga = neg(d.matmul(gb, x.mT)) if ctx.needs[0] else None
    return ga, (gb if ctx.needs[1] else None)


def _linalg_inv(ctx, g):
    (y,) = _saved(ctx)
    return (neg(d.matmul(d.matmul(y.mT, g), y.mT)),)


def _linalg_det(ctx, g):
    x, out = _saved(ctx)
    return (mul(mul(g, out).expand_dims(-1).expand_dims(-1), _inverse_t(x)),)


def _linalg_slogdet(ctx, g):
    (x,) = _saved(ctx)
    return (mul(g.expand_dims(-1).expand_dims(-1), _inverse_t(x)),)


def _triangle_masks(n, device):
    """(strictly lower, diagonal) bool masks of an n x n matrix."""
    i = F.arange(n, dtype="int64", device=device)
    rows, cols = i.expand_dims(-1), i.expand_dims(0)
    return gt(rows, cols), eq(rows, cols)


def _linalg_cholesky(ctx, g):
    # PyTorch's: S = L^-T Phi(L^T gL) L^-1, Phi the lower triangle with its diagonal halved; the gradient of the
    # symmetric input is (S + S^T) / 2, and cholesky reads only x's lower triangle, whose off-diagonal entries stand
    # for both of theirs: 2 * that below the diagonal, S's own diagonal on it, 0 above
    (factor,) = _saved(ctx)
    upper = ctx.params
    lower, gl = (factor.mT, g.mT) if upper else (factor, g)
    strict, diag = _triangle_masks(lower.shape[-1], lower.device)
    p = d.matmul(lower.mT, gl)
    phi = where(strict, p, where(diag, mul(p, 0.5), 0.0))
    inv_l = _linalg()._inv(lower)
    s = d.matmul(d.matmul(inv_l.mT, phi), inv_l)
    return (where(strict, add(s, s.mT), where(diag, s, 0.0)),)


def _linalg_vector_norm(ctx, g):
    x, out = _saved(ctx)
    axes, keepdims, order = ctx.params
    shape = x.shape
    g_k = _expand_back(g, shape, axes, keepdims)
    n_k = _expand_back(out, shape, axes, keepdims)
    zero = eq(n_k, 0)
    safe = where(zero, 1.0, n_k)
    if order == 0:
        return (zeros_like(x),)
    if order == 1:
        return (mul(g_k, sign(x)),)
    if order == 2:  # x / |x|, and 0 at the zero vector (PyTorch's subgradient)
        return (mul(where(zero, 0.0, div(g_k, safe)), x),)
    if order in (float("inf"), float("-inf")):  # shared evenly by the entries that reach the extreme
        hit = eq(d.UNARY["abs"](x), n_k).astype(g.dtype)
        count = F.sum(hit, axis=axes, keepdims=True)
        return (mul(mul(div(g_k, count), hit), sign(x)),)
    ax = d.UNARY["abs"](x)
    return (where(zero, 0.0, mul(div(g_k, pow_(safe, order - 1.0)), mul(sign(x), pow_(ax, order - 1.0)))),)


def _linalg_diagonal(ctx, g):
    # g (..., L) back onto the offset-th diagonal of zeros (..., M, N), in ops: padded to M (offset >= 0: element i
    # sits in row i) or N (offset < 0: in column i), times the diagonal's mask eye(M, N, k=offset)
    shape, offset = ctx.params
    m, n = shape[-2:]
    length = g.shape[-1]
    full = m if offset >= 0 else n
    if full > length:
        g = F.concat([g, F.zeros(g.shape[:-1] + (full - length,), dtype=g.dtype, device=g.device)], axis=-1)
    mask = F.eye(m, n, k=offset, dtype=g.dtype, device=g.device)
    return (mul(g.expand_dims(-1) if offset >= 0 else g.expand_dims(-2), mask),)


DERIVATIVES.update({
    "linalg.solve": Derivative(_linalg_solve, (0,), True),
    "linalg.inv": Derivative(_linalg_inv, save_output=True),
    "linalg.det": Derivative(_linalg_det, (0,), True),
    "linalg.slogdet": Derivative(_linalg_slogdet, (0,)),
    "linalg.cholesky": Derivative(_linalg_cholesky, save_output=True),
    "linalg.vector_norm": Derivative(_linalg_vector_norm, (0,), True),
    "linalg.diagonal": Derivative(_linalg_diagonal),
})


def _slogdet_wrapper(plain):
    derivative = DERIVATIVES["linalg.slogdet"]

    def slogdet(x):
        if MODE.enabled and needs_grad(x):
            sign_, logabs = _untracked(plain, x)
            return sign_, track("linalg.slogdet", derivative, logabs, (x,))  # the sign has no gradient
        return plain(x)
    return slogdet


def _install_linalg():
    la = _linalg()
    la._solve = _recording("linalg.solve", la._solve, lambda a, b: (a, b))
    la._inv = _recording("linalg.inv", la._inv, lambda x: (x,))
    la._det = _recording("linalg.det", la._det, lambda x: (x,))
    la._slogdet = _slogdet_wrapper(la._slogdet)
    la._cholesky = _recording("linalg.cholesky", la._cholesky, lambda x, upper: (x,), lambda x, upper: bool(upper))
    la._vector_norm = _recording("linalg.vector_norm", la._vector_norm, lambda x, axes, keepdims, order: (x,),
                                 lambda x, axes, keepdims, order: (tuple(axes), bool(keepdims), float(order)))
    la._diagonal = _recording("linalg.diagonal", la._diagonal, lambda x, offset: (x,),
                              lambda x, offset: (x.shape, offset))


# -- scans and array indexing (issue 8): cumulative_sum, cumulative_prod, x[array or mask] --------------------------

def _along(axis, index):
    """The index that applies ``index`` (a slice) to dimension ``axis`` only."""
    return (slice(None),) * axis + (index,)


def _reversed_cumsum(g, axis):
    """sum over i >= k of g[i] along ``axis``: a cumulative sum of the reversed view, reversed back (views record)."""
    from . import statistical

    flip = _along(axis, slice(None, None, -1))
    return statistical.cumulative_sum(g[flip], axis=axis)[flip]


def _cumulative_sum(ctx, g):
    axis, initial = ctx.params
    if initial:  # the leading zeros depend on nothing
        g = g[_along(axis, slice(1, None))]
    return (_reversed_cumsum(g, axis),)


def _cumulative_prod(ctx, g):
    # d out[i] / d x[k] = prod over j <= i, j != k of x[j] (k <= i).  Before the first zero of a row that is
    # out[i] / x[k], so the gradient is the reversed cumulative sum of g * out over x; at the first zero it is the
    # reversed cumulative sum of g times the cumulative product with that zero taken as one; after it, 0 (every term
    # still holds the first zero).  No division by zero anywhere (PyTorch's cumprod_backward does the same).
    from . import statistical

    x, out = _saved(ctx)
    axis, initial = ctx.params
    if initial:
        g, out = g[_along(axis, slice(1, None))], out[_along(axis, slice(1, None))]
    zero = eq(x, 0)
    zeros_so_far = statistical.cumulative_sum(zero, axis=axis)
    first = d.BINARY["logical_and"](zero, eq(zeros_so_far, 1))
    before = div(_reversed_cumsum(mul(g, out), axis), where(zero, 1.0, x))
    at_zero = _reversed_cumsum(mul(g, statistical.cumulative_prod(where(first, 1.0, x), axis=axis)), axis)
    return (where(eq(zeros_so_far, 0), before, where(first, at_zero, 0.0)),)


def _index(ctx, g):
    # x[index] with arrays or masks reads positions of x, some perhaps several times: the gradient adds g into
    # zeros at the positions read, found by the same indexing of the positions 0 .. x.size - 1 (scatter_add adds
    # repeated positions up, in a fixed order)
    shape, index = ctx.params
    n = _math.prod(shape)
    positions = F.reshape(F.arange(n, device=g.device), shape)[index]
    flat = scatter_add(F.zeros((n,), dtype=g.dtype, device=g.device), 0, F.reshape(positions, (-1,)),
                       F.reshape(g, (-1,)))
    return (F.reshape(flat, shape),)


DERIVATIVES.update({
    "cumulative_sum": Derivative(_cumulative_sum),
    "cumulative_prod": Derivative(_cumulative_prod, (0,), True),
    "index": Derivative(_index),
})


def _scan_params(x, /, *, axis=None, dtype=None, include_initial=False):
    return (0 if axis is None else axis % max(x.ndim, 1), bool(include_initial))


def _install_scans():
    from . import indexing, statistical

    for name in ("cumulative_sum", "cumulative_prod"):
        setattr(statistical, name, _recording(name, getattr(statistical, name), lambda x, /, **kwargs: (x,),
                                              _scan_params))
    derivative = DERIVATIVES["index"]
    view_getitem = GradTensor.__getitem__  # basic indexing: a recorded view

    def __getitem__(self, index):
        if not indexing.is_advanced(index):
            return view_getitem(self, index)
        out = indexing.getitem(detach(self), index)  # a copy, not a view (Note [Advanced indexing])
        if MODE.enabled and self._requires_grad:
            out = track("index", derivative, out, (self,), (self.shape, index))
        return out
    GradTensor.__getitem__ = __getitem__
