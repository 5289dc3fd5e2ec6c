"""The backend contract: copies, synchronize, allocation sizes, views and in-place writes (Note [Backend contract])."""

import numpy as np

import tensorswitch as ts

from .samples import Failure, compare


def _round_trip(device):
    for dt in sorted(device.supported_dtypes(), key=lambda d: d.code):
        x = (np.arange(37) % 5).astype(dt.numpy)
        compare(ts.asarray(x, device=device), x, device, f"round trip of {dt.name}")


def _zero_bytes(device):
    t = ts.empty((0, 4), dtype="float32", device=device)
    if t.numpy().shape != (0, 4):
        raise Failure("an empty tensor does not come back empty")
    compare(ts.zeros((0,), device=device) + 1, np.zeros((0,), np.float32), device, "ops on empty tensors")


def _large(device):
    n = 16 * 1024 * 1024 // 4  # 16 MiB
    x = np.arange(n, dtype=np.float32)
    t = ts.asarray(x, device=device)
    back = t.numpy()
    if not np.array_equal(back, x):
        raise Failure("a 16 MiB buffer did not survive the round trip")


def _synchronize(device):
    t = ts.ones((1000,), device=device) * 3
    device.synchronize()
    compare(t, np.full((1000,), 3, np.float32), device, "values after synchronize")


def _views_and_inplace(device):
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    t = ts.asarray(x, device=device)
    compare(t[1:3, ::2], x[1:3, ::2], device, "a strided view")
    compare(t.T, x.T, device, "a transposed view")
    compare(t[None, ..., -1], x[None, ..., -1], device, "None, Ellipsis and a negative index")
    compare(t.reshape(6, 4), x.reshape(6, 4), device, "reshape")
    v = t[::2, 1::2]
    v += 100
    x[::2, 1::2] += 100
    compare(t, x, device, "+= through a strided view writes into the base")
    t[3] = ts.asarray(np.full((6,), -1, np.float32), device=device)
    x[3] = -1
    compare(t, x, device, "setitem of a tensor row")
    t[:, 0] = 7.0
    x[:, 0] = 7.0
    compare(t, x, device, "setitem of a scalar column")


def _copies_between(device):
    x = np.arange(10, dtype=np.float32) * 1.5
    t = ts.asarray(x, device=device)
    for other in ts.devices():
        if other is device or ts.float32 not in other.supported_dtypes():
            continue
        there = t.to(other)
        compare(there, x, other, f"copy {device} -> {other}")
        compare(there.to(device), x, device, f"copy {other} -> {device}")
        strided = t[::3].to(other)
        compare(strided, x[::3], other, f"copy of a strided view {device} -> {other}")


def _device_mismatch(device):
    others = [d for d in ts.devices() if d is not device and ts.float32 in d.supported_dtypes()]
    if not others:
        return
    a = ts.ones((3,), device=device)
    b = ts.ones((3,), device=others[0])
    try:
        a + b
    except ts.DeviceMismatchError as exc:
        if str(device) not in str(exc) or str(others[0]) not in str(exc):
            raise Failure(f"the device-mismatch error does not name both devices: {exc}")
    else:
        raise Failure("adding tensors on two devices did not raise DeviceMismatchError")


CHECKS = {
    "round trip of every supported dtype": _round_trip,
    "zero-byte allocations": _zero_bytes,
    "a 16 MiB buffer": _large,
    "synchronize": _synchronize,
    "views and in-place writes": _views_and_inplace,
    "copies to and from every other device": _copies_between,
    "mixing devices raises": _device_mismatch,
}


def check_contract(device):
    """{check name: None (passed) or the failure text}."""
    results = {}
    for name, fn in CHECKS.items():
        try:
            fn(device)
            results[name] = None
        except Exception as exc:  # report every kind of breakage, not only wrong values
            results[name] = f"{type(exc).__name__}: {exc}"
    return results
