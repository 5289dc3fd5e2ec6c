"""The dispatcher's fast paths decide nothing of their own: on every device, each case the reduction fast path takes
(Note [Reduction fast path] in dispatch/dispatcher.py) gives what the general ``reduce`` gives, bit for bit, with the
same dtype, shape and device, and every case it must not take (tuples of axes, bad axes, empty inputs, 0-d tensors,
tracked tensors) still reaches ``reduce`` and its errors."""

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch.dispatch import dispatcher as d
from tensorswitch.kernels import optable

FAST = ("sum", "prod", "max", "min", "all", "any")


def _general(op, x, axis, keepdims):
    # the general path itself, under autograd's wrapper (x does not require grad, so the wrapper passes it on)
    return d.reduce(op, x, axis, keepdims)


def _same(a, b):
    assert type(a) is type(b) and a.dtype is b.dtype and a.shape == b.shape and a.device == b.device
    an, bn = a.numpy(), b.numpy()
    assert an.tobytes() == bn.tobytes(), (an, bn)


@pytest.mark.parametrize("op", FAST)
def test_fast_reductions_match_the_general_path(device, op, rng):
    public = getattr(ts, op)
    for dt in device.supported_dtypes():
        if dt.name not in optable.REDUCTIONS[op].dtypes:
            continue
        base = rng.standard_normal((3, 4, 5)) * 3
        host = (base > 0) if dt.name == "bool" else base.astype(np.dtype(dt.name)) if dt.kind != "complex" else \
            (base + 1j * base[::-1]).astype(np.dtype(dt.name))
        full = ts.asarray(host, device=device)
        for x in (full, full[:, ::2, 1:], ts.permute_dims(full, (2, 0, 1)), full[1]):
            for axis in (None, 0, -1, 1):
                if axis is not None and axis >= x.ndim:
                    continue
                for keepdims in (False, True):
                    _same(public(x, axis=axis, keepdims=keepdims), _general(op, x, axis, keepdims))
                    _same(getattr(x, op)(axis, keepdims), _general(op, x, axis, keepdims))


def test_cases_the_fast_path_leaves_to_reduce(device):
    x = ts.arange(6, dtype=ts.float32, device=device).reshape((2, 3))
    _same(ts.sum(x, axis=(0, 1)), _general("sum", x, (0, 1), False))
    _same(ts.sum(x, axis=()), _general("sum", x, (), False))
    _same(ts.sum(ts.asarray(2.5, device=device)), ts.asarray(2.5, device=device))
    _same(ts.sum(ts.zeros((0, 3), device=device), axis=0), ts.zeros(3, device=device))
    with pytest.raises(ValueError, match="max of an empty reduction"):
        ts.max(ts.zeros((0, 3), device=device))
    with pytest.raises(ts.AxisError, match="sum: axis 2 is out of range"):
        ts.sum(x, axis=2)
    with pytest.raises(TypeError, match="axis"):
        ts.sum(x, axis=True)
    with pytest.raises(TypeError, match="sum"):
        ts.sum([1.0, 2.0])


def test_tracked_tensors_are_recorded(device):
    w = ts.ones((2, 3), device=device, requires_grad=True)
    ts.sum(w * 2, axis=-1).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.full((2, 3), 2.0, np.float32))
    with ts.no_grad():
        y = w.sum()
    assert not y.requires_grad and y.item() == 6.0


@pytest.mark.parametrize("op", ("softmax", "log_softmax"))
def test_fast_softmax_matches_the_general_path(device, op, rng):
    public = getattr(ts, op)
    base = rng.standard_normal((3, 4, 5)) * 3
    for dt in device.supported_dtypes():
        if dt.kind != "float":
            continue
        full = ts.asarray(base.astype(np.dtype(dt.name)), device=device)
        for x in (full, full[:, ::2, 1:], ts.permute_dims(full, (2, 0, 1))):
            for axis in (-1, 0, 1, -3):
                try:
                    want = d.softmax_like(op, x, axis)
                except ts.KernelNotFoundError:  # a plugin that does not claim the dtype: the same error
                    with pytest.raises(ts.KernelNotFoundError, match=op):
                        public(x, axis=axis)
                    continue
                _same(public(x, axis=axis), want)
    ints = ts.asarray(np.arange(6).reshape(2, 3), device=device)
    _same(public(ints, axis=1), d.softmax_like(op, ints, 1))  # promoted, by the general path
    with pytest.raises(ts.AxisError):
        public(ints, axis=2)
    x = ts.asarray(base, device=device)
    with pytest.raises(TypeError):
        public(x, axis=1.0)


def test_broadcasting_fast_path_matches_the_general_path(device, rng):
    """binary_op's broadcast plans (a bias row added to a batch, a column times a row, leading dims added): the
    same values, dtype, shape and layout as _binary_slow, for operands of every layout, either order; shapes that
    do not broadcast still raise the general path's error."""
    for dt in (ts.float32, ts.int32):
        if dt not in device.supported_dtypes():
            continue
        host = (rng.standard_normal((4, 5, 6)) * 3).astype(np.dtype(dt.name))
        full = ts.asarray(host, device=device)
        cases = [(full, full[0, 0]), (full, full[0, :, :1]), (full[:, :1], full[0]), (full[:, ::2], full[0, ::2, 0:1]),
                 (ts.permute_dims(full, (2, 0, 1)), full[0, :, 0]), (full[0], full[:, :1, 0:1]), (full, full[:1])]
        for a, b in cases:
            for x, y in ((a, b), (b, a)):
                for op in ("add", "multiply", "greater"):
                    got = getattr(ts, op)(x, y)
                    want = d._binary_slow(op, x, y)
                    _same(got, want)
                    np.testing.assert_array_equal(got.numpy(), getattr(np, op)(x.numpy(), y.numpy()))
        with pytest.raises(ts.ShapeError, match="do not broadcast"):
            ts.add(full, full[0, 0, :4])
        with pytest.raises(ts.ShapeError, match="do not broadcast"):
            full[:, :3] + full[0, :2]  # the plan is cached per layout: the error still comes every time
        with pytest.raises(ts.ShapeError, match="do not broadcast"):
            full[:, :3] + full[0, :2]
