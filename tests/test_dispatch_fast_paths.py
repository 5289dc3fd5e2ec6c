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


# -- Note [Binary ops in C] (kernels/cpu/module.cpp): FastBinary takes the common case, binary_op the rest ---------

def _fast_binary():
    from tensorswitch import _cpu

    if not isinstance(ts.add, getattr(_cpu, "FastBinary", ())):
        pytest.skip("the binary ops are the Python functions here (TENSORSWITCH_C_DISPATCH=0?)")


def _host_values(dt, rng, shape):
    base = np.asarray(rng.standard_normal(shape) * 3)
    if dt.kind == "bool":
        return base > 0
    if dt.kind == "complex":
        return (base + 1j * base.ravel()[::-1].reshape(shape)).astype(np.dtype(dt.name))
    if dt.kind in ("int", "uint"):
        return np.abs(base).astype(np.dtype(dt.name)) + 1  # no zero divisors
    h = base.astype(np.dtype(dt.name))
    if h.size > 2:
        h.flat[0], h.flat[1] = np.nan, -0.0
    return h


def test_every_binary_op_in_c_matches_its_python_function(device, rng):
    """For each binary op and dtype the device has, on same-shape contiguous operands (0-d, empty and 2-D), the
    FastBinary (ts.<op>, Tensor.__add__ and friends) gives what the Python function it wraps gives, bit for bit,
    with the same dtype, shape, strides and device."""
    from tensorswitch import _cpu

    _fast_binary()
    before = _cpu.fast_binary_calls()
    for name, op in optable.ELEMENTWISE.items():
        if op.arity != 2:
            continue
        fast = d.BINARY[name]
        slow = getattr(fast, "__wrapped__", fast)
        for dt in device.supported_dtypes():
            if dt.name not in op.dtypes:
                continue
            for shape in ((), (0,), (3, 5)):
                x = ts.asarray(_host_values(dt, rng, shape), device=device)
                y = ts.asarray(_host_values(dt, rng, shape), device=device)
                with np.errstate(all="ignore"):
                    try:
                        want = slow(x, y)
                    except Exception as exc:  # the same error either way
                        with pytest.raises(type(exc)):
                            fast(x, y)
                        continue
                    got = fast(x, y)
                assert type(got) is type(want) and got.dtype is want.dtype and got.shape == want.shape
                assert got.strides == want.strides and got.device == want.device, (name, dt.name, shape)
                assert got.numpy().tobytes() == want.numpy().tobytes(), (name, dt.name, shape)
    if device.type in ("cpu", "opencl"):  # their one-call kernels: the C path answered (numpy's are Python's)
        assert _cpu.fast_binary_calls() > before


def test_what_the_c_path_hands_to_python(device, rng):
    """Scalars, broadcasting, promotion, views, tracked tensors, a Tensor subclass and other devices' tensors all
    reach binary_op and come back as they did."""
    from tensorswitch import _cpu

    _fast_binary()
    h = rng.standard_normal((4, 6)).astype(np.float32)
    x = ts.asarray(h, device=device)
    before = _cpu.fast_binary_calls()
    x + 1.5, x + x[0], x[:, ::2] - x[:, 1::2]
    assert _cpu.fast_binary_calls() == before  # none of these is the C path's case
    np.testing.assert_allclose((x + 1.5).numpy(), h + 1.5, rtol=1e-6)
    np.testing.assert_allclose((2 * x).numpy(), 2 * h, rtol=1e-6)
    np.testing.assert_allclose((x + x[0]).numpy(), h + h[0], rtol=1e-6)  # broadcasting
    np.testing.assert_allclose((x[:, ::2] - x[:, 1::2]).numpy(), h[:, ::2] - h[:, 1::2], rtol=1e-6)  # views
    np.testing.assert_allclose((x.T * x.T).numpy(), h.T * h.T, rtol=1e-6)
    if ts.float64 in device.supported_dtypes():
        z = x + ts.asarray(h.astype(np.float64), device=device)
        assert z.dtype == ts.float64
    i = ts.asarray(np.arange(6, dtype=np.int32), device=device)
    assert (i / i).dtype == ts.float32 and (i < i).dtype == ts.bool  # to_float and comparisons
    g = ts.asarray(h, device=device, requires_grad=True) if device.type != "numpy" else None
    if g is not None and ts.float32 in device.supported_dtypes():
        (g * x).sum().backward()
        np.testing.assert_allclose(g.grad.numpy(), h, rtol=1e-6)
    with pytest.raises(ValueError):
        x + ts.ones((5, 6), device=device)
    if device.type != "cpu":
        with pytest.raises(ts.DeviceMismatchError, match="different devices"):
            x + ts.ones((4, 6))


def test_the_c_path_follows_set_trace(caplog):
    """set_trace(True) sends every op to the Python path, which logs its dispatch; off again, no more logging."""
    import logging

    _fast_binary()
    a = ts.ones(4)
    try:
        ts.set_trace(True)
        with caplog.at_level(logging.DEBUG, logger="tensorswitch.dispatch"):
            a + a
        assert any("add" in r.getMessage() for r in caplog.records)
    finally:
        ts.set_trace(False)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tensorswitch.dispatch"):
        a + a
    assert not any("add" in r.getMessage() for r in caplog.records)


def test_fast_binary_is_a_function_to_its_users():
    import inspect
    import pickle

    _fast_binary()
    assert ts.add.__name__ == "add" and ts.add.__module__ == "tensorswitch" and "x1 + x2" in ts.add.__doc__
    assert list(inspect.signature(ts.add).parameters) == ["a", "b"]
    assert pickle.loads(pickle.dumps(ts.add)) is ts.add
    a = ts.ones(3)
    assert ts.Tensor.__add__(a, a).numpy().tolist() == [2, 2, 2]
    bound = a.__add__
    assert bound.__self__ is a and bound(a).numpy().tolist() == [2, 2, 2]
    assert "add" in repr(ts.add)
    with pytest.raises(TypeError):  # the Python function's own answer to a missing argument
        ts.add(a)


def test_without_c_dispatch_the_python_functions_run():
    import os
    import subprocess
    import sys

    code = ("import types, numpy as np, tensorswitch as ts\n"
            "assert isinstance(ts.add, types.FunctionType), type(ts.add)\n"
            "x = ts.asarray(np.arange(4, dtype=np.float32))\n"
            "print((x + x).numpy().tolist())")
    env = dict(os.environ, TENSORSWITCH_C_DISPATCH="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[0.0, 2.0, 4.0, 6.0]"
