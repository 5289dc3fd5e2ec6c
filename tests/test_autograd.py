"""Autograd against PyTorch (CPU, float64): every derivative of dispatch/derivatives.py (second derivatives too where
they are used: the elementwise ops, matmul, softmax, log_softmax), broadcasting undone, views and in-place writes,
the engine's errors (retain_graph, the version counter, in-place on leaves), grad mode, hooks, autograd.grad,
custom Functions, gradcheck, Parameter, the ownership of .grad, and gradients across devices."""

import copy
import threading

import numpy as np
import pytest
import torch

import tensorswitch as ts
from tensorswitch.dispatch import derivatives
from tensorswitch.testing import gradients



@pytest.fixture(autouse=True)
def _torch_float64():
    """PyTorch in float64 for this module's comparisons, restored after each test (other modules expect float32)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)

tF = torch.nn.functional

OPENCL = "opencl" in [d.type for d in ts.devices()]
needs_opencl = pytest.mark.skipif(not OPENCL, reason="no OpenCL device")


# -- helpers --------------------------------------------------------------------------------------------------------

def _rng(*keys):
    return np.random.default_rng([sum(map(ord, str(k))) for k in keys] or [0])


def _np(x):
    if isinstance(x, torch.Tensor):
        return x.detach().numpy(force=True)  # force: torch's second derivatives may be ZeroTensors
    return x.numpy()


def assert_close(got, want, rtol=1e-10, atol=1e-12, what=""):
    if want is None:
        assert got is None or not np.any(_np(got)), what
        return
    if got is None:  # tensorswitch says "unused" (None) where torch materialises zeros
        assert not np.any(_np(want)), f"{what}: no gradient, torch has a nonzero one"
        return
    np.testing.assert_allclose(_np(got).astype(np.float64), _np(want), rtol=rtol, atol=atol, err_msg=what)
    assert tuple(got.shape) == tuple(want.shape), what


def _inputs(arrays, consts):
    xs = [ts.asarray(a, dtype=ts.float64, requires_grad=True) for a in arrays]
    ps = [torch.tensor(a, requires_grad=True) for a in arrays]
    tc = [ts.asarray(c) if isinstance(c, np.ndarray) else c for c in consts]
    pc = [torch.tensor(c) if isinstance(c, np.ndarray) else c for c in consts]
    return xs, ps, tc, pc


def compare_with_torch(ts_fn, torch_fn, arrays, consts=(), second=False, what="", rtol=1e-10):
    """The forward, the vector-Jacobian product with a random cotangent and (``second``) the gradient of
    <vjp, v> with respect to the inputs and the cotangent, in tensorswitch and in PyTorch."""
    rng = _rng(what)
    xs, ps, tc, pc = _inputs(arrays, consts)
    out, ref = ts_fn(*xs, *tc), torch_fn(*ps, *pc)
    assert_close(out, ref, rtol=rtol, what=f"{what}: forward")
    w = rng.standard_normal(tuple(ref.shape))
    tw = ts.asarray(w, requires_grad=second)
    pw = torch.tensor(w, requires_grad=second)
    gs = ts.autograd.grad(out, xs, tw, create_graph=second, allow_unused=True)
    rs = torch.autograd.grad(ref, ps, pw, create_graph=second, allow_unused=True)
    for i, (g, r) in enumerate(zip(gs, rs)):
        assert_close(g, r, rtol=rtol, what=f"{what}: gradient of input {i}")
        if g is not None:
            assert g.dtype is ts.float64 and g.device == xs[i].device
    if not second:
        return
    vs = [rng.standard_normal(a.shape) for a in arrays]
    pairs = [(g, r, v) for g, r, v in zip(gs, rs, vs) if r is not None and r.requires_grad]
    if not pairs:
        return
    s = sum((g * ts.asarray(v)).sum() for g, _, v in pairs)
    sr = sum((r * torch.tensor(v)).sum() for _, r, v in pairs)
    g2 = ts.autograd.grad(s, xs + [tw], allow_unused=True)
    r2 = torch.autograd.grad(sr, ps + [pw], allow_unused=True)
    for i, (g, r) in enumerate(zip(g2, r2)):
        assert_close(g, r, rtol=max(rtol, 1e-9), what=f"{what}: second derivative, input {i}")


def _u(rng, *shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, shape)


def _away(rng, *shape, low=0.3, high=2.0):
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


# -- every derivative of the table, against PyTorch ----------------------------------------------------------------

UNARY = {"negative": torch.neg, "positive": torch.positive, "abs": torch.abs, "exp": torch.exp, "log": torch.log,
         "sqrt": torch.sqrt, "sin": torch.sin, "cos": torch.cos, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
         "relu": torch.relu, "square": torch.square, "sign": torch.sign, "floor": torch.floor, "ceil": torch.ceil,
         "erf": torch.erf}
BINARY = {"add": torch.add, "subtract": torch.sub, "multiply": torch.mul, "divide": torch.div, "pow": torch.pow,
          "maximum": torch.maximum, "minimum": torch.minimum, "remainder": torch.remainder,
          "floor_divide": lambda a, b: torch.div(a, b, rounding_mode="floor")}


def _unary_input(op, rng, shape):
    if op in ("log", "sqrt"):
        return _u(rng, *shape, low=0.3, high=2.0)
    if op in ("abs", "sign", "relu"):
        return _away(rng, *shape)
    if op in ("floor", "ceil"):
        return rng.integers(-3, 3, shape) + rng.uniform(0.2, 0.8, shape)
    return _u(rng, *shape)


@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_first_and_second_derivatives(op):
    rng = _rng(op)
    for shape in ((3, 4), ()):
        compare_with_torch(getattr(ts, op), UNARY[op], [_unary_input(op, rng, shape)], second=True,
                           what=f"{op}{shape}")
    # a transposed (non-contiguous) input
    compare_with_torch(lambda x: getattr(ts, op)(x.mT), lambda x: UNARY[op](x.mT), [_unary_input(op, rng, (4, 3))],
                       what=f"{op} of a transposed input")


def test_unary_at_their_kinks_follow_pytorch():
    x = np.array([0.0, -0.0, 1.0, -2.0])
    for op in ("abs", "relu", "sign"):
        compare_with_torch(getattr(ts, op), UNARY[op], [x], what=f"{op} at 0")


def _binary_inputs(op, rng, sa, sb):
    if op == "pow":
        return _u(rng, *sa, low=0.3, high=2.0), _u(rng, *sb, low=-1.5, high=2.0)
    if op in ("divide", "remainder", "floor_divide"):
        return _u(rng, *sa, low=-3, high=3), _away(rng, *sb, low=0.5)
    return _u(rng, *sa), _u(rng, *sb)


@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_derivatives_undo_broadcasting(op):
    rng = _rng(op)
    smooth = True  # second derivatives of every binary op (zero ones included: maximum's, floor_divide's)
    for sa, sb in (((2, 3), (2, 3)), ((2, 1, 3), (4, 1)), ((), (3,)), ((3,), ())):
        a, b = _binary_inputs(op, rng, sa, sb)
        compare_with_torch(getattr(ts, op), BINARY[op], [a, b], second=smooth, what=f"{op}{sa}{sb}")
    a, _ = _binary_inputs(op, rng, (2, 3), ())
    scalar = 1.75 if op != "pow" else 2.5
    wrap = torch.tensor if op in ("maximum", "minimum") else float  # torch.maximum takes no Python scalar
    compare_with_torch(lambda x: getattr(ts, op)(x, scalar), lambda x: BINARY[op](x, wrap(scalar)), [a],
                       second=smooth, what=f"{op}(x, scalar)")
    if op != "floor_divide":  # torch.div(scalar, x, rounding_mode=...) takes no Python scalar first
        b = _u(rng, 2, 3, low=0.5, high=2.0)
        torch_fn = (lambda y: BINARY[op](torch.tensor(scalar), y)) if op in ("remainder", "pow", "maximum",
                                                                              "minimum") else \
            (lambda y: BINARY[op](scalar, y))
        compare_with_torch(lambda y: getattr(ts, op)(scalar, y), torch_fn, [b], second=smooth,
                           what=f"{op}(scalar, y)")


def test_the_operators_record_as_their_functions():
    rng = _rng("operators")
    a, b = _u(rng, 2, 3, low=0.5, high=2.0), _u(rng, 2, 3, low=0.5, high=2.0)
    fn = lambda x, y: (x + y) * (x - y) / y ** x - (-x) % y + (abs(x) @ y.mT).sum()  # noqa: E731
    compare_with_torch(fn, fn, [a, b], second=True, what="operators")


def test_ties_share_the_gradient_as_pytorch_does():
    a = np.array([[1.0, 2.0, 2.0], [3.0, 3.0, 3.0]])
    b = np.array([[1.0, 1.0, 2.0], [0.0, 3.0, 4.0]])
    for op in ("maximum", "minimum"):
        compare_with_torch(getattr(ts, op), BINARY[op], [a, b], what=f"{op} with ties")
    for op, ref in (("max", torch.amax), ("min", torch.amin)):
        compare_with_torch(lambda x: getattr(ts, op)(x, axis=1), lambda x: ref(x, dim=1), [a], what=f"{op} ties")
        compare_with_torch(lambda x: getattr(ts, op)(x), lambda x: ref(x), [a], what=f"{op} ties, all axes")


def test_pow_at_zero_follows_pytorch():
    a = np.array([0.0, 0.0, 0.0, 2.0])
    b = np.array([0.0, 2.0, 3.0, 0.0])
    compare_with_torch(ts.pow, torch.pow, [a, b], what="pow at a zero base")


REDUCTIONS = [(None, False, (2, 3)), (1, True, (2, 3, 2)), ((0, 2), False, (2, 3, 4)), (-1, False, (4,)),
              (None, False, ())]


@pytest.mark.parametrize("op", ["sum", "prod", "max", "min", "mean", "var", "std"])
def test_reductions(op):
    rng = _rng(op)
    ref = {"sum": torch.sum, "prod": None, "max": torch.amax, "min": torch.amin, "mean": torch.mean,
           "var": torch.var, "std": torch.std}[op]
    for axis, keep, shape in REDUCTIONS:
        if op == "std" and shape == ():
            continue  # std of one element: sqrt(0), whose derivative is infinite
        x = _u(rng, *shape) if op != "prod" else _away(rng, *shape, low=0.5, high=1.5)
        kwargs = {"correction": 1.0} if op in ("var", "std") and shape != () else {}
        dim = axis if axis is not None else tuple(range(len(shape)))

        def torch_fn(t):
            if op == "prod":
                out = t
                for d in sorted((dim,) if isinstance(dim, int) else dim, reverse=True):
                    out = torch.prod(out, dim=d, keepdim=keep)
                return out
            if op in ("var", "std"):
                return ref(t, dim=dim, keepdim=keep, correction=kwargs.get("correction", 0))
            return ref(t, dim=dim, keepdim=keep) if dim != () else ref(t)

        compare_with_torch(lambda t: getattr(ts, op)(t, axis=axis, keepdims=keep, **kwargs), torch_fn, [x],
                           what=f"{op}{shape} axis={axis}", second=op in ("sum", "mean", "var"))


def test_prod_with_zeros():
    x = np.array([[0.5, 0.0, 2.0, 1.5], [0.0, 3.0, 0.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    compare_with_torch(lambda t: ts.prod(t, axis=1), lambda t: torch.prod(t, dim=1), [x], what="prod with zeros")
    compare_with_torch(lambda t: ts.prod(t[0]), lambda t: torch.prod(t[0]), [x], what="prod, one zero")


MATMUL = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)), ((2, 2, 3), (2, 3, 2)),
          ((2, 1, 2, 3), (3, 3, 2)), ((2, 3), (2, 3, 2)), ((3,), (2, 3, 2)), ((2, 2, 3), (3,))]


@pytest.mark.parametrize("shapes", MATMUL, ids=str)
def test_matmul_first_and_second_derivatives(shapes):
    rng = _rng(shapes)
    a, b = _u(rng, *shapes[0]), _u(rng, *shapes[1])
    compare_with_torch(ts.matmul, torch.matmul, [a, b], second=True, what=f"matmul{shapes}")


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_of_indices_is_one_node_with_second_derivatives(reduction):
    """cross_entropy of (N, C) logits and class indices (no weight, smoothing or ignored target) is one op and one
    node (nnops.nll_log_softmax, derivatives._nll_log_softmax): PyTorch's loss, gradient and second derivatives;
    the other cases keep the composition, with PyTorch's values too (test_nn; transposed logits: the gradient
    section of the conformance suite)."""
    rng = _rng(reduction)
    target = np.array([2, 0, 3, 3, 1])
    compare_with_torch(lambda x, t: ts.nn.functional.cross_entropy(x, t, reduction=reduction),
                       lambda x, t: torch.nn.functional.cross_entropy(x, t, reduction=reduction),
                       [_u(rng, 5, 4) * 3], [target], second=True, what=f"cross_entropy {reduction}")
    x = ts.asarray(_u(rng, 5, 4), requires_grad=True)
    loss = ts.nn.functional.cross_entropy(x, ts.asarray(target), reduction=reduction)
    assert loss.grad_fn.name == "nll_log_softmax" and loss.grad_fn.next_edges[0][0].name == "accumulate_grad"
    with_ignored = ts.nn.functional.cross_entropy(x, ts.asarray(np.where(target == 3, -100, target)))
    assert with_ignored.grad_fn.name != "nll_log_softmax"  # masks: the general composition


@pytest.mark.parametrize("x_shape, b_shape", [((5, 3), (4,)), ((3,), (4,)), ((2, 5, 3), (4,)), ((5, 3), None),
                                              ((5, 3), (1, 4)), ((5, 3), (5, 4))])
def test_linear_first_and_second_derivatives(x_shape, b_shape):
    """nn.functional.linear is one op with its own node (dispatcher.linear, derivatives._linear): PyTorch's values,
    gradients for x, w and b (summed to b's shape) and second derivatives; one node, not a transpose, a matmul and
    an add."""
    rng = _rng((x_shape, b_shape))
    arrays = [_u(rng, *x_shape), _u(rng, 4, 3)] + ([_u(rng, *b_shape)] if b_shape else [])
    compare_with_torch(ts.nn.functional.linear, torch.nn.functional.linear, arrays, second=True,
                       what=f"linear{x_shape, b_shape}")
    x, w = (ts.asarray(a, requires_grad=True) for a in arrays[:2])
    out = ts.nn.functional.linear(x, w, ts.asarray(arrays[2], requires_grad=True) if b_shape else None)
    assert out.grad_fn.name == "linear"
    assert all(e is None or e[0].name == "accumulate_grad" for e in out.grad_fn.next_edges)


def test_linear_bias_of_another_dtype_or_a_larger_shape():
    """A float64 bias on float32 data promotes and a bias that broadcasts the product up grows the result, as
    ``x @ w.mT + b`` does."""
    x, w = ts.ones((2, 3), dtype=ts.float32), ts.ones((4, 3), dtype=ts.float32)
    assert ts.nn.functional.linear(x, w, ts.ones(4, dtype=ts.float64)).dtype is ts.float64
    out = ts.nn.functional.linear(x, w, ts.ones((5, 1, 4), dtype=ts.float32))
    assert out.shape == (5, 2, 4) and float(out[0, 0, 0].item()) == 4.0


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_first_and_second_derivatives(op):
    rng = _rng(op)
    ref = getattr(torch, op)
    for shape, axis in (((3, 4), -1), ((2, 3, 2), 1), ((5,), 0)):
        compare_with_torch(lambda x: getattr(ts, op)(x, axis=axis), lambda x: ref(x, dim=axis),
                           [_u(rng, *shape, low=-3, high=3)], second=True, what=f"{op}{shape}")


def test_where_astype_and_to():
    rng = _rng("where")
    c = rng.random((3, 4)) < 0.5
    compare_with_torch(lambda a, b, c: ts.where(c, a, b), lambda a, b, c: torch.where(c, a, b),
                       [_u(rng, 1, 4), _u(rng, 3, 4)], [c], second=True, what="where")
    compare_with_torch(lambda a, c: ts.where(c, a, 0.5), lambda a, c: torch.where(c, a, 0.5), [_u(rng, 3, 4)], [c],
                       what="where with a scalar")
    compare_with_torch(lambda x: x.astype(ts.float32).astype(ts.float64) * 2, lambda x: x.float().double() * 2,
                       [np.array([0.5, 1.25])], what="astype round trip")
    compare_with_torch(lambda x: x.clone() * x, lambda x: x.clone() * x, [_u(rng, 3)], what="clone")
    compare_with_torch(lambda x: x.to("cpu") * 3, lambda x: x.to("cpu") * 3, [_u(rng, 3)], what="to")
    x = ts.asarray([1.0, 2.0], dtype=ts.float32, requires_grad=True)
    y = x.astype(ts.float64)
    assert y.dtype is ts.float64 and y.grad_fn is not None
    (y * y).sum().backward()
    assert x.grad.dtype is ts.float32 and x.grad.tolist() == [2.0, 4.0]  # the gradient has its input's dtype


VIEWS = [
    ("x[1]", lambda x: x[1], lambda x: x[1]),
    ("x[:, ::2]", lambda x: x[:, ::2], lambda x: x[:, ::2]),
    ("x[::-1, 1:3]", lambda x: x[::-1, 1:3], lambda x: torch.flip(x, (0,))[:, 1:3]),
    ("x[None, ..., 2]", lambda x: x[None, ..., 2], lambda x: x[None, ..., 2]),
    ("x[1, 2]", lambda x: x[1, 2], lambda x: x[1, 2]),
    ("reshape", lambda x: ts.reshape(x, (4, 3)), lambda x: x.reshape(4, 3)),
    ("reshape of transposed", lambda x: ts.reshape(x.mT, (-1,)), lambda x: x.mT.reshape(-1)),
    ("flatten", lambda x: x.flatten(), lambda x: x.flatten()),
    ("squeeze/expand_dims", lambda x: ts.squeeze(ts.expand_dims(x, axis=1), 1), lambda x: x.unsqueeze(1).squeeze(1)),
    ("permute_dims", lambda x: ts.permute_dims(x[None], (2, 0, 1)), lambda x: x[None].permute(2, 0, 1)),
    ("mT and T", lambda x: x.mT @ x.T.T, lambda x: x.mT @ x.T.T),
    ("broadcast_to", lambda x: ts.broadcast_to(x[:, :1], (2, 3, 1)), lambda x: torch.broadcast_to(x[:, :1], (2, 3, 1))),
    ("concat", lambda x: ts.concat([x, x[:, :2] * 2], axis=1), lambda x: torch.cat([x, x[:, :2] * 2], dim=1)),
    ("concat axis=None", lambda x: ts.concat([x, x.mT], axis=None), lambda x: torch.cat([x.flatten(), x.mT.flatten()])),
    ("stack", lambda x: ts.stack([x, x * x], axis=1), lambda x: torch.stack([x, x * x], dim=1)),
]


@pytest.mark.parametrize("name, ts_fn, torch_fn", VIEWS, ids=[v[0] for v in VIEWS])
def test_views(name, ts_fn, torch_fn):
    compare_with_torch(ts_fn, torch_fn, [_u(_rng(name), 3, 4)], what=name)


def test_broadcast_to_of_0d_and_expand():
    compare_with_torch(lambda x: ts.broadcast_to(x, (2, 3)) * 2, lambda x: torch.broadcast_to(x, (2, 3)) * 2,
                       [np.array(1.5)], what="broadcast_to of 0-d")


def _set_row(x, v):
    y = x * 1.0
    y[1] = v
    return y


def _set_strided(x, v):
    y = x * 1.0
    y[:, ::2] = v
    return y


def _set_scalar(x, v):
    y = x * 1.0
    y[0, 1] = 2.5
    return y * x + v.sum()


def _set_through_getitem(x, v):
    y = x * 1.0
    y[0][1:3] = v  # a write into a view of y writes y
    return y


def _in_place(x, v):
    y = x * 1.0
    y *= x
    y[:, 1] += v
    y /= 2.0
    return y


@pytest.mark.parametrize("fn", [_set_row, _set_strided, _set_scalar, _set_through_getitem, _in_place],
                         ids=lambda f: f.__name__)
def test_setitem_and_in_place_ops_on_non_leaves(fn):
    rng = _rng(fn.__name__)
    v_shape = {"_set_row": (4,), "_set_strided": (3, 1), "_set_scalar": (2,), "_set_through_getitem": (2,),
               "_in_place": (3,)}[fn.__name__]
    compare_with_torch(fn, fn, [_u(rng, 3, 4), _u(rng, *v_shape)], what=fn.__name__)


def test_in_place_into_a_tensor_that_did_not_require_grad():
    x = ts.asarray([1.0, 2.0, 3.0], requires_grad=True)
    y = ts.zeros(3)
    y[1] = x[0] * 4  # y starts recording
    assert y.requires_grad and not y.is_leaf
    (y * ts.asarray([1.0, 2.0, 3.0])).sum().backward()
    assert x.grad.tolist() == [8.0, 0.0, 0.0]
    z = ts.ones(3)
    z += x  # likewise for an in-place op
    z.sum().backward()
    assert x.grad.tolist() == [9.0, 1.0, 1.0]


NN = [
    ("unfold", lambda x: ts.unfold(x, 2, stride=2), lambda x: tF.unfold(x, 2, stride=2), (1, 2, 4, 4)),
    ("unfold dilated padded", lambda x: ts.unfold(x, 3, dilation=2, padding=1, stride=2),
     lambda x: tF.unfold(x, 3, dilation=2, padding=1, stride=2), (2, 1, 5, 5)),
    ("fold", lambda c: ts.fold(c, (4, 4), 2), lambda c: tF.fold(c, (4, 4), 2), (1, 4, 9)),
    ("fold strided padded", lambda c: ts.fold(c, (5, 5), 3, padding=1, stride=2),
     lambda c: tF.fold(c, (5, 5), 3, padding=1, stride=2), (2, 9, 9)),
    ("max_pool2d", lambda x: ts.max_pool2d(x, 2), lambda x: tF.max_pool2d(x, 2), (1, 2, 4, 4)),
    ("max_pool2d overlapping", lambda x: ts.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
     lambda x: tF.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True), (1, 1, 5, 5)),
    ("max_pool2d dilated", lambda x: ts.max_pool2d(x, 2, dilation=2), lambda x: tF.max_pool2d(x, 2, dilation=2),
     (2, 5, 5)),
    ("avg_pool2d", lambda x: ts.avg_pool2d(x, 2), lambda x: tF.avg_pool2d(x, 2), (1, 2, 4, 4)),
    ("avg_pool2d padded", lambda x: ts.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
     lambda x: tF.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), (1, 1, 5, 5)),
    ("avg_pool2d divisor", lambda x: ts.avg_pool2d(x, 2, stride=1, divisor_override=3),
     lambda x: tF.avg_pool2d(x, 2, stride=1, divisor_override=3), (1, 2, 4, 4)),
]


@pytest.mark.parametrize("name, ts_fn, torch_fn, shape", NN, ids=[n[0] for n in NN])
def test_nn_families(name, ts_fn, torch_fn, shape):
    rng = _rng(name)
    x = rng.permutation(int(np.prod(shape))).reshape(shape) / 8.0  # distinct: no ties in a pooling window
    compare_with_torch(ts_fn, torch_fn, [x], what=name, second="avg" in name or "fold" in name)


def test_max_pool2d_ties_go_to_the_first_maximum_as_in_pytorch():
    x = np.array([[[[1.0, 3.0], [3.0, 3.0]]]])
    compare_with_torch(lambda t: ts.max_pool2d(t, 2), lambda t: tF.max_pool2d(t, 2), [x], what="ties")


def test_take_along_axis_and_scatter_add():
    rng = _rng("indexing")
    idx = np.array([[0, 0], [3, 1], [2, 2]])
    compare_with_torch(lambda x, i: ts.take_along_axis(x, i, axis=1), lambda x, i: torch.take_along_dim(x, i, dim=1),
                       [_u(rng, 3, 4)], [idx], second=True, what="take_along_axis")
    compare_with_torch(lambda x, s, i: ts.scatter_add(x, 1, i, s), lambda x, s, i: torch.scatter_add(x, 1, i, s),
                       [_u(rng, 3, 4), _u(rng, 3, 2)], [idx], second=True, what="scatter_add")
    idx0 = rng.integers(0, 3, (4, 2))
    compare_with_torch(lambda x, s, i: ts.scatter_add(x, 0, i, s) * x,
                       lambda x, s, i: torch.scatter_add(x, 0, i, s) * x, [_u(rng, 3, 2), _u(rng, 4, 2)], [idx0],
                       what="scatter_add axis 0")


def test_every_derivative_of_the_table_is_tested_here():
    tested = set(UNARY) | set(BINARY) | {"sum", "prod", "max", "min", "matmul", "linear", "softmax", "log_softmax", "where",
                                         "astype", "to", "getitem", "reshape", "permute_dims", "broadcast_to",
                                         "concat", "setitem", "unfold", "fold", "max_pool2d", "avg_pool2d",
                                         "avg_pool2d_backward", "take_along_axis", "scatter_add", "std", "nll_log_softmax"}
    # tested against PyTorch in their own files: test_sorting.py, test_scans.py, test_indexing.py, test_linalg.py
    tested |= {"sort", "cumulative_sum", "cumulative_prod", "index"}
    tested |= {"acos", "acosh", "asin", "asinh", "atan", "atanh", "cosh", "sinh", "tan", "expm1", "log1p", "log2",
               "log10", "reciprocal", "round", "trunc", "real", "imag", "conj", "atan2", "hypot", "logaddexp",
               "copysign", "nextafter"}  # tests/test_elementwise_api.py
    tested |= {op for op in derivatives.DERIVATIVES if op.startswith("linalg.")}
    assert set(derivatives.DERIVATIVES) <= tested, set(derivatives.DERIVATIVES) - tested


def test_avg_pool2d_double_backward():  # the derivative of avg_pool2d_backward
    rng = _rng("avg double")
    compare_with_torch(lambda x: ts.avg_pool2d(x * x, 3, stride=2, padding=1, count_include_pad=False),
                       lambda x: tF.avg_pool2d(x * x, 3, stride=2, padding=1, count_include_pad=False),
                       [_u(rng, 1, 2, 5, 5)], second=True, what="avg_pool2d double backward")


def test_max_pool2d_double_backward_says_it_is_not_supported():
    x = ts.asarray(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)
    y = ts.max_pool2d(x, 2)
    with pytest.raises(NotImplementedError, match="max_pool2d: a double backward"):
        ts.autograd.grad(y.sum(), x, create_graph=True)


# -- the engine ------------------------------------------------------------------------------------------------------

def test_backward_through_the_graph_a_second_time_needs_retain_graph():
    x = ts.asarray([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.tolist()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array(first))
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*retain_graph=True"):
        y.backward()
    z = (x * x).sum()
    ts.autograd.grad(z, x)
    with pytest.raises(RuntimeError, match="sum: trying to backward through the graph a second time"):
        ts.autograd.grad(z, x)


def test_a_write_into_a_saved_tensor_is_caught_naming_the_op():
    x = ts.asarray([1.0, 2.0], dtype=ts.float64, requires_grad=True)
    y = x.exp()  # exp saves its result
    z = y.sum()  # sum saves nothing
    y += 1
    with pytest.raises(RuntimeError, match=r"exp: one of the tensors needed for its gradient \(float64, shape \(2,\)\)"
                                           r" has been modified by an in-place operation: it is at version \d, it "
                                           r"was saved at version \d"):
        z.sum().backward()
    a = x * 1
    b = a * a  # multiply saves its inputs
    a[0] = 5.0
    with pytest.raises(RuntimeError, match="multiply: one of the tensors"):
        b.sum().backward()
    c = x * 1
    d = c + c  # add saves nothing: writing c afterwards is harmless
    c *= 3
    d.sum().backward()
    assert x.grad is not None


def test_in_place_on_a_leaf_raises_outside_no_grad_and_works_inside():
    w = ts.asarray([1.0, 2.0], requires_grad=True)
    for write in (lambda: w.__iadd__(1.0), lambda: w.__setitem__(0, 3.0), lambda: w.__imul__(2.0)):
        with pytest.raises(RuntimeError, match="a leaf tensor that requires grad cannot be modified in place.*"
                                               "ts.no_grad"):
            write()
    assert w.tolist() == [1.0, 2.0]
    with ts.no_grad():
        w -= 0.5
        w[1] = 7.0
        w *= 2
    assert w.tolist() == [1.0, 14.0] and w.is_leaf and w.requires_grad and w.grad_fn is None
    (w * w).sum().backward()
    assert w.grad.tolist() == [2.0, 28.0]


def test_grad_mode_context_managers_and_decorators():
    x = ts.asarray([1.0], requires_grad=True)
    assert ts.is_grad_enabled()
    with ts.no_grad():
        assert not ts.is_grad_enabled() and not (x * 2).requires_grad
        with ts.enable_grad():
            assert ts.is_grad_enabled() and (x * 2).requires_grad
        with ts.set_grad_enabled(True):
            assert (x * 2).requires_grad
        assert not ts.is_grad_enabled()
    assert ts.is_grad_enabled()
    with ts.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert ts.is_grad_enabled()

    @ts.no_grad()
    def infer(t):
        return t * 2

    @ts.enable_grad()
    def train(t):
        return t * 2

    @ts.set_grad_enabled(False)
    def off(t):
        return t * 2

    assert not infer(x).requires_grad and not off(x).requires_grad and ts.is_grad_enabled()
    with ts.no_grad():
        assert train(x).requires_grad and not ts.is_grad_enabled()
    assert infer.__name__ == "infer"
    ts.set_grad_enabled(False)  # as a plain call
    try:
        assert not ts.is_grad_enabled() and not (x * 2).requires_grad
    finally:
        ts.set_grad_enabled(True)
    assert ts.is_grad_enabled()
    with pytest.raises(ZeroDivisionError):  # an exception restores the mode
        with ts.no_grad():
            1 / 0
    assert ts.is_grad_enabled()


def test_grad_mode_is_per_thread():
    x = ts.asarray([1.0], requires_grad=True)
    inside, release, seen = threading.Event(), threading.Event(), {}

    def worker():
        with ts.no_grad():
            inside.set()
            release.wait(10)
            seen["worker"] = (x * 2).requires_grad
        seen["fresh"] = ts.is_grad_enabled()

    t = threading.Thread(target=worker)
    t.start()
    inside.wait(10)
    seen["main"] = (x * 2).requires_grad  # while the worker is inside no_grad
    release.set()
    t.join()
    assert seen == {"worker": False, "main": True, "fresh": True}
    box = {}
    with ts.no_grad():  # a new thread starts with grad mode on, whatever its parent's
        t = threading.Thread(target=lambda: box.setdefault("mode", ts.is_grad_enabled()))
        t.start()
        t.join()
    assert box["mode"] is True


def test_hooks_on_leaves_and_non_leaves_and_their_removal():
    x = ts.asarray([1.0, 2.0], requires_grad=True)
    seen = []
    h = x.register_hook(lambda g: g * 10)  # a leaf's hook may replace the gradient
    y = x * x
    hy = y.register_hook(lambda g: seen.append(g.tolist()))
    y.sum().backward()
    assert x.grad.tolist() == [20.0, 40.0] and seen == [[1.0, 1.0]]
    h.remove()
    hy.remove()
    x.grad = None
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0] and seen == [[1.0, 1.0]]
    z = x * 3
    z.register_hook(lambda g: g * 0.5)  # a non-leaf's hook changes what flows on
    z.sum().backward()
    assert x.grad.tolist() == [3.5, 5.5]
    with pytest.raises(RuntimeError, match="does not require grad"):
        ts.ones(2).register_hook(lambda g: g)
    with pytest.raises(TypeError, match="must be callable"):
        x.register_hook(3)


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = ts.asarray([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = x * 3
    y.retain_grad()
    (y * y + z).sum().backward()
    assert y.grad.tolist() == [4.0, 8.0] and z.grad is None and x.grad.tolist() == [11.0, 19.0]
    assert not y.grad.requires_grad


def test_autograd_grad_allow_unused_create_graph_and_grad_outputs():
    x = ts.asarray([1.0, 2.0], requires_grad=True)
    unused = ts.asarray([3.0], requires_grad=True)
    y = x * x
    with pytest.raises(RuntimeError, match="input 1 was not used.*allow_unused=True"):
        ts.autograd.grad(y.sum(), [x, unused], retain_graph=True)
    gx, gu = ts.autograd.grad(y.sum(), [x, unused], allow_unused=True, retain_graph=True)
    assert gx.tolist() == [2.0, 4.0] and gu is None and x.grad is None  # .grad is left alone
    (g,) = ts.autograd.grad(y, x, grad_outputs=ts.asarray([1.0, -1.0]), create_graph=True)
    assert g.tolist() == [2.0, -4.0] and g.requires_grad and g.grad_fn is not None
    (gg,) = ts.autograd.grad(g.sum(), x)
    assert gg.tolist() == [2.0, -2.0]
    with pytest.raises(RuntimeError, match="implicitly only for a one-element output.*shape \\(2,\\)"):
        ts.autograd.grad(x * 2, x)
    with pytest.raises(ts.ShapeError, match="gradient 0 has shape \\(3,\\), but the output has shape \\(2,\\)"):
        ts.autograd.grad(x * 2, x, ts.ones(3))
    with pytest.raises(RuntimeError, match="does not require grad"):
        ts.autograd.grad(ts.ones(2).sum(), x)
    y1, y2 = x * 2, x * x  # several outputs at once
    g = ts.autograd.grad([y1.sum(), y2.sum()], x)[0]
    assert g.tolist() == [4.0, 6.0]


def test_integer_and_bool_results_carry_no_gradient():
    x = ts.asarray([1.5, -2.5], requires_grad=True)
    for r in (x > 0, x == x, ts.isnan(x), x.argmax(), x.astype(ts.int32), ts.floor_divide(x, 1.0).astype(ts.int64)):
        assert not r.requires_grad and r.grad_fn is None, r
    for bad in (lambda: ts.asarray([1, 2], requires_grad=True), lambda: ts.zeros(2, dtype=ts.int32, requires_grad=True),
                lambda: ts.arange(3, requires_grad=True), lambda: ts.ones(2, dtype=ts.bool).requires_grad_()):
        with pytest.raises(ts.UnsupportedDtypeError, match="only floating-point tensors can require gradients"):
            bad()
    t = ts.ones(2, dtype=ts.int64)
    with pytest.raises(ts.UnsupportedDtypeError, match="got int64; cast first"):
        t.requires_grad = True


def test_leaf_flags_detach_and_data():
    x = ts.ones(3, requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf and x.grad_fn is None and repr(y.grad_fn) == "<MultiplyBackward>"
    d = y.detach()
    assert d.is_leaf and not d.requires_grad
    with ts.no_grad():
        d[0] = 5.0  # shares memory with y
    assert y.tolist()[0] == 5.0
    assert not x.data.requires_grad and x.data.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(RuntimeError, match="only leaves' flags can be changed"):
        y.requires_grad_(False)
    x.requires_grad_(False)
    assert not (x * 2).requires_grad
    assert x.requires_grad_() is x and x.requires_grad
    with pytest.raises(ts.ShapeError):
        x.grad = ts.ones(2)
    with pytest.raises(TypeError, match="float32 gradient cannot be assigned to a float64"):
        ts.ones(3, dtype=ts.float64, requires_grad=True).grad = ts.ones(3)


# -- custom functions and gradcheck ----------------------------------------------------------------------------------

class MulAdd(ts.autograd.Function):
    """(x * y + k, x - y): two outputs, a non-tensor argument."""

    @staticmethod
    def forward(ctx, x, y, k):
        ctx.save_for_backward(x, y)
        ctx.k = k
        ctx.seen_needs = ctx.needs_input_grad
        return x * y + k, x - y

    @staticmethod
    def backward(ctx, g1, g2):
        x, y = ctx.saved_tensors
        return (g1 * y + g2 if ctx.needs_input_grad[0] else None,
                g1 * x - g2 if ctx.needs_input_grad[1] else None, None)


def test_function_with_saved_tensors_needs_input_grad_and_two_outputs():
    x = ts.asarray([1.0, 2.0], requires_grad=True)
    y = ts.asarray([3.0, 4.0])
    a, b = MulAdd.apply(x, y, 5.0)
    assert a.tolist() == [8.0, 13.0] and b.tolist() == [-2.0, -2.0]
    assert a.grad_fn is b.grad_fn and a.requires_grad
    (a.sum() + (b * b).sum()).backward()
    assert x.grad.tolist() == [3.0 - 4.0, 4.0 - 4.0]
    px, py = torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([3.0, 4.0])
    pa, pb = px * py + 5.0, px - py
    (pa.sum() + (pb * pb).sum()).backward()
    assert x.grad.tolist() == px.grad.tolist()
    with ts.no_grad():  # nothing recorded
        a, _ = MulAdd.apply(x, y, 1.0)
    assert not a.requires_grad


def test_function_needs_input_grad_reflects_its_inputs():
    seen = []

    class Probe(ts.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            seen.append(ctx.needs_input_grad)
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g, g

    Probe.apply(ts.ones(2, requires_grad=True), ts.ones(2))
    Probe.apply(ts.ones(2), ts.ones(2, requires_grad=True))
    assert seen == [(True, False), (False, True)]


def test_function_returning_the_wrong_number_of_gradients_raises():
    class Wrong(ts.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    out = Wrong.apply(ts.ones(2, requires_grad=True), ts.ones(2))
    with pytest.raises(RuntimeError, match="Wrong.backward returned 1 gradient\\(s\\), expected 2"):
        out.sum().backward()
    with pytest.raises(RuntimeError, match="MyFunction.apply"):
        Wrong()


class Cube(ts.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x * x * g


class WrongCube(Cube):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3.1 * x * x * g


class CubeWithDetachedSecond(Cube):
    """Right first derivative, but the backward does not record through x: its second derivative is wrong."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x.detach() * x.detach() * g


def test_gradcheck_and_gradgradcheck():
    x = ts.asarray([0.5, -1.25, 2.0], dtype=ts.float64, requires_grad=True)
    y = ts.asarray([[1.5, 0.5, -1.0]], dtype=ts.float64, requires_grad=True)
    fn = lambda a, b: (ts.softmax(a * b, axis=-1) * a.exp() + b @ a).sum(axis=0)  # noqa: E731
    assert ts.autograd.gradcheck(fn, (x, y))
    assert ts.autograd.gradgradcheck(fn, (x, y))
    assert ts.autograd.gradcheck(Cube.apply, (x,)) and ts.autograd.gradgradcheck(Cube.apply, (x,))
    assert ts.autograd.gradcheck(fn, (x, y), fast_mode=True)
    with pytest.raises(ts.autograd.GradcheckError, match="Jacobian mismatch for output 0 with respect to input 0"):
        ts.autograd.gradcheck(WrongCube.apply, (x,))
    assert ts.autograd.gradcheck(WrongCube.apply, (x,), raise_exception=False) is False
    assert ts.autograd.gradcheck(WrongCube.apply, (x,), fast_mode=True, raise_exception=False) is False
    assert ts.autograd.gradcheck(CubeWithDetachedSecond.apply, (x,))
    with pytest.raises(ts.autograd.GradcheckError):
        ts.autograd.gradgradcheck(CubeWithDetachedSecond.apply, (x,))
    with pytest.raises(ValueError, match="no input requires grad"):
        ts.autograd.gradcheck(fn, (ts.ones(3, dtype=ts.float64), ts.ones((1, 3), dtype=ts.float64)))
    with pytest.warns(UserWarning, match="not float64"):
        ts.autograd.gradcheck(lambda t: t * 2, (ts.ones(2, dtype=ts.float32, requires_grad=True),), eps=1e-2,
                              atol=1e-2)


# -- Parameter ---------------------------------------------------------------------------------------------------------

def test_parameter_shares_memory_prints_copies_and_moves_in_place():
    data = ts.asarray([1.0, 2.0])
    p = ts.autograd.Parameter(data)
    assert isinstance(p, ts.Tensor) and p.requires_grad and p.is_leaf and ts.nn.Parameter is ts.autograd.Parameter
    with ts.no_grad():
        p[0] = 9.0
    assert data.tolist() == [9.0, 2.0]  # the same memory
    assert repr(p).startswith("Parameter containing:\ntensor([9., 2.]")
    assert not ts.autograd.Parameter(ts.ones(2), requires_grad=False).requires_grad
    q = copy.deepcopy(p)
    assert isinstance(q, ts.autograd.Parameter) and q.requires_grad and q.tolist() == [9.0, 2.0]
    with ts.no_grad():
        q[1] = -1.0
    assert p.tolist() == [9.0, 2.0]  # an independent copy
    identity = id(p)
    p.data = ts.asarray([5.0, 6.0, 7.0])
    assert id(p) == identity and p.tolist() == [5.0, 6.0, 7.0] and p.shape == (3,) and p.requires_grad
    (p * p).sum().backward()
    assert p.grad.tolist() == [10.0, 12.0, 14.0]
    with pytest.raises(ts.UnsupportedDtypeError):
        ts.autograd.Parameter(ts.ones(2, dtype=ts.int32))


@needs_opencl
def test_parameter_data_moves_to_another_device_in_place():
    p = ts.autograd.Parameter(ts.asarray([1.0, 2.0], dtype=ts.float32))
    identity = id(p)
    p.data = p.data.to("opencl")
    assert id(p) == identity and p.device.type == "opencl" and p.tolist() == [1.0, 2.0]
    (p * p).sum().backward()
    assert p.grad.device.type == "opencl" and p.grad.tolist() == [2.0, 4.0]


# -- .grad: accumulation and ownership --------------------------------------------------------------------------------

def test_grad_accumulates_and_is_owned_by_its_leaf():
    a = ts.asarray([1.0, 2.0], requires_grad=True)
    b = ts.asarray([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()  # both receive the very same incoming gradient
    with ts.no_grad():
        a.grad *= 2
    assert a.grad.tolist() == [2.0, 2.0] and b.grad.tolist() == [1.0, 1.0]
    g = ts.asarray([1.0, 1.0])
    c = ts.asarray([0.0, 0.0], requires_grad=True)
    (c * 1).backward(g)
    (c + 0).backward(g)  # accumulates into c.grad, which must not be g itself
    assert c.grad.tolist() == [2.0, 2.0] and g.tolist() == [1.0, 1.0]
    d = ts.asarray([0.0, 0.0], requires_grad=True)
    (d + 0.0).backward(g)
    with ts.no_grad():
        g *= 7  # the caller's gradient is not the leaf's .grad
    assert d.grad.tolist() == [1.0, 1.0]
    e = ts.asarray([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    e.mT.sum().backward()
    assert e.grad.is_contiguous
    x = ts.asarray([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [4.0, 8.0]
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_grad_accumulates_like_pytorch_through_a_diamond():
    rng = _rng("diamond")
    v = rng.standard_normal(4)
    x, px = ts.asarray(v, requires_grad=True), torch.tensor(v, requires_grad=True)
    for lib, t in ((ts, x), (torch, px)):
        a = lib.sin(t)
        b = a * a
        c = a.exp() if lib is ts else torch.exp(a)
        (b + c * t).sum().backward()
    assert_close(x.grad, px.grad)


# -- across devices ------------------------------------------------------------------------------------------------

@needs_opencl
def test_a_graph_across_devices_gives_each_leaf_its_own_device():
    x = ts.asarray([1.0, 2.0, 3.0], dtype=ts.float32, requires_grad=True)
    w = ts.asarray([0.5, -1.0, 2.0], dtype=ts.float32, device="opencl", requires_grad=True)
    y = (x.to("opencl") * w).exp().sum().to("cpu") * 2
    y.backward()
    assert x.grad.device.type == "cpu" and w.grad.device.type == "opencl"
    px = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    pw = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    ((px * pw).exp().sum() * 2).backward()
    assert_close(x.grad, px.grad, rtol=1e-5)
    assert_close(w.grad, pw.grad, rtol=1e-5)


@needs_opencl
@pytest.mark.parametrize("op", list(gradients.GRADIENT_SAMPLES))
def test_every_gradient_on_opencl_matches_cpu(op):
    """The cases of the conformance suite, on opencl and on cpu in float32: the same gradients."""
    cpu, ocl = ts.device("cpu"), ts.device("opencl")
    for i, sample in enumerate(gradients.GRADIENT_SAMPLES[op].samples):
        w, _ = gradients.finite_differences(op, i)
        results = []
        for dev in (cpu, ocl):
            leaves, consts = sample.inputs(dev, ts.float32, True)
            out = sample.fn(*leaves, *consts)
            grads = ts.autograd.grad(out, leaves, ts.asarray(w, dtype=out.dtype, device=out.device),
                                     allow_unused=True)
            assert all(g is None or g.device is dev for g in grads), sample
            results.append([None if g is None else g.numpy() for g in grads])
        for c, o in zip(*results):
            if c is None or o is None:
                assert c is None and o is None, sample
            else:
                np.testing.assert_allclose(o, c, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(c).max(initial=0))),
                                           err_msg=sample.what)


# -- cases that once differed from PyTorch ----------------------------------------------------------------------------

def test_a_view_whose_base_is_written_afterwards():
    def fn(lib, x):
        y = x * 1
        v = y[0]
        y[0] = 5.0  # v now holds 5.0: a constant
        (v * 2).sum().backward()
        return x.grad.tolist()

    x = ts.asarray([[1.0, 2.0], [3.0, 4.0]], dtype=ts.float64, requires_grad=True)
    px = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert fn(ts, x) == fn(torch, px) == [[0.0, 0.0], [0.0, 0.0]]


def test_a_product_with_a_constant_does_not_pin_its_tensor():
    x = ts.asarray([[1.0, 2.0, 3.0]], dtype=ts.float64, requires_grad=True)
    y = x * 1
    y[:, 1:] = y[:, :2] * 2  # PyTorch: fine (mul by a scalar saves nothing of y)
    (y * y).sum().backward()
    assert x.grad.tolist() == [[10.0, 16.0, 0.0]]


def test_std_of_a_constant_has_a_zero_gradient():
    x = ts.asarray([1.0, 1.0, 1.0], dtype=ts.float64, requires_grad=True)
    ts.std(x).backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
