"""The public API on every device, against NumPy: creation, conversion, views, promotion, composites, operators."""

import math
import pickle

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch.testing.samples import compare


def test_creation(device):
    compare(ts.zeros((2, 3), device=device), np.zeros((2, 3), np.float32), device, "zeros")
    compare(ts.ones(4, dtype="int32", device=device), np.ones(4, np.int32), device, "ones")
    compare(ts.full((2,), 7, device=device), np.full((2,), 7, np.int64), device, "full int")
    compare(ts.full((2,), True, device=device), np.full((2,), True), device, "full bool")
    compare(ts.arange(5, device=device), np.arange(5), device, "arange")
    compare(ts.arange(0.0, 1.0, 0.25, device=device), np.arange(0, 1, 0.25, dtype=np.float32), device, "arange f")
    compare(ts.linspace(-1, 1, 5, device=device), np.linspace(-1, 1, 5, dtype=np.float32), device, "linspace")
    for args in [(3,), (3, 4), (4, 3)]:
        for k in (-1, 0, 2):
            compare(ts.eye(*args, k=k, device=device), np.eye(*args, k=k, dtype=np.float32), device, f"eye{args}")
    x = ts.ones((2, 3), dtype="int16", device=device)
    for fn, ref in [(ts.zeros_like, np.zeros_like), (ts.ones_like, np.ones_like)]:
        compare(fn(x), ref(np.ones((2, 3), np.int16)), device, fn.__name__)
    compare(ts.full_like(x, 3), np.full((2, 3), 3, np.int16), device, "full_like")
    assert ts.empty_like(x).shape == (2, 3) and ts.empty_like(x).device == device


def test_random_is_seeded_and_the_same_on_every_device(device):
    ts.manual_seed(42)
    a = ts.rand(1000, device=device).numpy()
    ts.manual_seed(42)
    b = ts.rand(1000, device="cpu").numpy()
    np.testing.assert_array_equal(a, b)
    ts.manual_seed(42)
    n = ts.randn(3, 4, device=device)
    assert n.shape == (3, 4) and n.dtype == ts.float32
    r = ts.randint(5, 9, size=(100,), device=device).numpy()
    assert r.min() >= 5 and r.max() < 9


def test_asarray_and_dtypes(device):
    assert ts.asarray([1.5, 2.5], device=device).dtype == ts.float32  # Python floats: default float dtype
    assert ts.asarray([1, 2], device=device).dtype == ts.int64
    assert ts.asarray([True], device=device).dtype == ts.bool
    assert ts.asarray(np.arange(3, dtype=np.int16), device=device).dtype == ts.int16
    assert ts.asarray(3.0, device=device).shape == ()
    x = ts.asarray([[1, 2], [3, 4]], dtype="float32", device=device)
    assert ts.tensor([1, 2], device=device).dtype == ts.int64
    y = ts.asarray(x)
    assert y is x
    assert ts.asarray(x, copy=True) is not x


def test_host_conversions(device):
    x = ts.asarray([[1.0, 2.0], [3.0, 4.0]], device=device)
    np.testing.assert_array_equal(np.asarray(x), [[1, 2], [3, 4]])
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert x[1, 0].item() == 3.0 and float(x[1, 1]) == 4.0 and int(x[0, 1]) == 2
    assert bool(ts.asarray(1, device=device)) and not bool(ts.asarray(0, device=device))
    assert len(x) == 2 and [r.tolist() for r in x] == [[1.0, 2.0], [3.0, 4.0]]
    text = repr(x)
    assert "float32" in text and str(device) in text and "3." in text
    y = pickle.loads(pickle.dumps(x))
    assert y.device == device and y.tolist() == x.tolist()
    with pytest.raises(ValueError):
        bool(x)
    with pytest.raises(TypeError):
        len(ts.asarray(1.0, device=device))


def test_views_share_storage(device):
    base = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    x = ts.asarray(base, device=device)
    cases = {
        "int": (1,), "neg int": (-1, 2), "slice step": (slice(None, None, 2),), "neg step": (slice(None, None, -1),),
        "None": (None, 0), "ellipsis": (Ellipsis, 1), "mixed": (1, slice(1, 3), None, slice(None, None, -2)),
    }
    for name, idx in cases.items():
        compare(x[idx], base[idx], device, f"x[{name}]")
    compare(x.T, base.T, device, ".T")
    compare(x.permute_dims((2, 0, 1)), np.transpose(base, (2, 0, 1)), device, "permute_dims")
    compare(x.mT, np.swapaxes(base, -1, -2), device, "mT")
    compare(ts.broadcast_to(x[:, :1, :], (3, 4, 5)), np.broadcast_to(base[:, :1, :], (3, 4, 5)), device, "bcast")
    compare(ts.squeeze(x[:, :1], axis=1), base[:, 0], device, "squeeze")
    compare(ts.expand_dims(x, axis=-1), base[..., None], device, "expand_dims")
    v = x.reshape(12, 5)
    assert v.buffer is x.buffer  # a view
    t = x.permute_dims((2, 1, 0))
    r = t.reshape(-1)  # not viewable: a copy
    compare(r, np.transpose(base, (2, 1, 0)).reshape(-1), device, "reshape copy")
    with pytest.raises(ValueError):
        t.reshape(60, copy=False)
    assert not x.T.is_contiguous and x.T.contiguous().is_contiguous
    compare(x.T.contiguous(), base.T, device, "contiguous")
    x[0, 0, 0] = 100.0
    assert v[0, 0].item() == 100.0  # writes are visible through views


def test_promotion_and_weak_scalars(device):
    f32 = ts.ones(3, dtype="float32", device=device)
    i8 = ts.ones(3, dtype="int8", device=device)
    u8 = ts.ones(3, dtype="uint8", device=device)
    assert (f32 + 1.0).dtype == ts.float32 and (f32 * 2).dtype == ts.float32
    assert (i8 + 1).dtype == ts.int8 and (i8 + 1.5).dtype == ts.float32
    assert (i8 + u8).dtype == ts.int16
    assert (2 - i8).tolist() == [1, 1, 1]
    assert (i8 / 2).dtype == ts.float32  # true division of integers computes in the default float dtype
    assert ts.exp(i8).dtype == ts.float32
    assert ts.result_type(i8, u8) == ts.int16 and ts.promote_types(ts.int32, ts.float32) == ts.float64
    if ts.float64 in device.supported_dtypes():
        assert (ts.ones(2, dtype="int32", device=device) + ts.ones(2, dtype="float32", device=device)).dtype == \
            ts.float64


def test_operators(device):
    a_np = np.array([[1.0, -2.0, 3.5], [0.5, 4.0, -1.0]], np.float32)
    b_np = np.array([2.0, 3.0, -4.0], np.float32)
    a, b = ts.asarray(a_np, device=device), ts.asarray(b_np, device=device)
    ops = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "//": np.floor_divide,
           "%": np.remainder, "**": np.power}
    for sym, ref in ops.items():
        got = eval(f"a {sym} b")
        with np.errstate(all="ignore"):
            compare(got, ref(a_np, b_np).astype(np.float32), device, f"a {sym} b", rtol=1e-5)
        compare(eval(f"2 {sym} b") if sym != "**" else 2 ** b, ref(np.float32(2), b_np).astype(np.float32),
                device, f"2 {sym} b", rtol=1e-5)
    for sym, ref in {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal, ">": np.greater,
                     ">=": np.greater_equal}.items():
        compare(eval(f"a {sym} b"), ref(a_np, b_np), device, f"a {sym} b")
    compare(-a, -a_np, device, "-a")
    compare(abs(a), np.abs(a_np), device, "abs")
    compare(a @ b, a_np @ b_np, device, "@", rtol=1e-5)
    compare((a > 0) & (b > 0), (a_np > 0) & (b_np > 0), device, "&")
    compare(~(a > 0), ~(a_np > 0), device, "~")
    c = ts.asarray(a_np.copy(), device=device)
    c += b
    c *= 2
    c -= 1
    compare(c, (a_np + b_np) * 2 - 1, device, "in place")
    i = ts.asarray(np.arange(6, dtype=np.int32), device=device)
    i //= 4
    compare(i, np.arange(6, dtype=np.int32) // 4, device, "//= keeps int32")
    with pytest.raises(TypeError):
        i += 0.5  # a float result cannot be written into an integer tensor in place
    with pytest.raises(TypeError, match="ts.asarray"):
        np.ones(3, np.float32) + b  # no implicit host-to-device transfer


def test_composites(device, rng):
    x_np = rng.standard_normal((4, 5, 6)).astype(np.float32)
    x = ts.asarray(x_np, device=device)
    for axis in (None, 0, (1, 2), -1):
        for keepdims in (False, True):
            compare(ts.mean(x, axis=axis, keepdims=keepdims), np.mean(x_np, axis=axis, keepdims=keepdims), device,
                    f"mean {axis}", rtol=1e-5, atol=1e-6)
            for correction in (0, 1):
                compare(ts.var(x, axis=axis, correction=correction, keepdims=keepdims),
                        np.var(x_np, axis=axis, ddof=correction, keepdims=keepdims), device, f"var {axis}",
                        rtol=1e-4, atol=1e-6)
                compare(ts.std(x, axis=axis, correction=correction, keepdims=keepdims),
                        np.std(x_np, axis=axis, ddof=correction, keepdims=keepdims), device, f"std {axis}",
                        rtol=1e-4, atol=1e-6)
    ints = ts.asarray(np.arange(10, dtype=np.int32), device=device)
    compare(ints.mean(), np.float32(4.5), device, "mean of ints is float32")
    assert math.isnan(ts.mean(ts.zeros((0,), device=device)).item())
    parts = [x_np[:, :2], x_np[:, 2:3], x_np[:, 3:]]
    compare(ts.concat([ts.asarray(p, device=device) for p in parts], axis=1), x_np, device, "concat")
    compare(ts.concat([x, x], axis=None), np.concatenate([x_np, x_np], axis=None), device, "concat None")
    compare(ts.stack([x, x, x], axis=-1), np.stack([x_np] * 3, axis=-1), device, "stack")
    i32 = ts.asarray(np.arange(4, dtype=np.int32), device=device)
    f32 = ts.asarray(np.ones(2, np.float32), device=device)
    if ts.float64 in device.supported_dtypes():
        compare(ts.concat([i32, f32]), np.concatenate([np.arange(4, dtype=np.int32), np.ones(2, np.float32)]),
                device, "concat promotes")
    compare(ts.where(x > 0, x, 0.0), np.where(x_np > 0, x_np, 0), device, "where with a scalar")
    assert ts.argmax(x, axis=1, keepdims=True).shape == (4, 1, 6)
    compare(x.sum(axis=()), x_np, device, "sum over no axes")


def test_to_and_default_device(device):
    x = ts.arange(6, device=device).reshape(2, 3)
    for other in ts.devices():
        if ts.int64 in other.supported_dtypes():
            compare(x.to(other), np.arange(6).reshape(2, 3), other, f"to {other}")
            compare(x.T.to_device(other), np.arange(6).reshape(2, 3).T, other, f"strided to {other}")
    assert x.to(device) is x
    with ts.default_device(device):
        assert ts.zeros(2).device == device
        assert ts.get_default_device() == device
    ts.set_default_device(device)
    try:
        assert ts.ones(1).device == device
    finally:
        ts.set_default_device(None)
    assert ts.ones(1).device == ts.device("cpu")


def test_devices_listing():
    found = ts.devices()
    assert found[0] == ts.device("cpu")
    assert ts.device("cpu") is ts.device("cpu:0")
    assert ts.device("cpu") == "cpu" and str(ts.device("cpu")) == "cpu"


def test_default_device_environment_variable(tmp_path):
    import subprocess
    import sys

    code = "import tensorswitch as ts; print(ts.zeros(1).device)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__("os").environ, "TENSORSWITCH_DEVICE": "cpu:0"}, check=True)
    assert out.stdout.strip() == "cpu"


def test_trace_logs_every_dispatch(caplog):
    import logging

    ts.set_trace(True)
    try:
        with caplog.at_level(logging.DEBUG, logger="tensorswitch.dispatch"):
            ts.ones(3) + ts.ones(3)
    finally:
        ts.set_trace(False)
    text = caplog.text
    assert "add device=cpu dtype=float32" in text and "(3,)" in text
