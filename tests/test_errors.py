"""Bad input gets a clear, typed error naming the op, the device, the dtype and what would have worked."""

import warnings

import numpy as np
import pytest

import tensorswitch as ts
from limited_backend import LIMITED


def test_unknown_device_suggests_a_name():
    with pytest.raises(ts.DeviceError, match="Did you mean 'opencl'"):
        ts.device("opencll")
    with pytest.raises(ts.DeviceError, match="index"):
        ts.device("cpu:x")
    with pytest.raises(ts.DeviceError, match="does not exist"):
        ts.device("cpu:3")


def test_unusable_device_says_why():
    from tensorswitch.dispatch.device import unavailable_reasons

    reasons = unavailable_reasons()
    if not reasons:
        pytest.skip("every registered device is usable on this machine")
    type_, reason = next(iter(reasons.items()))
    with pytest.raises(ts.DeviceUnavailableError) as info:
        ts.zeros(1, device=type_)
    assert type_ in str(info.value) and reason in str(info.value)


def test_cuda_without_cupy_names_the_extra():
    try:
        import cupy  # noqa: F401  (only its absence is tested here)
        pytest.skip("CuPy is installed here")
    except ImportError:
        pass
    with pytest.raises(ts.DeviceUnavailableError, match=r"tensorswitch\[cuda1[23]\]"):
        ts.device("cuda")


def test_device_mismatch_names_both_devices():
    a = ts.ones(3)
    b = ts.ones(3, device=LIMITED)
    with pytest.raises(ts.DeviceMismatchError, match=f"cpu and {LIMITED}"):
        a + b
    with pytest.raises(ts.DeviceMismatchError):
        a[0:2] = b[0:2]  # no implicit transfer in __setitem__ either
    with pytest.raises(ts.DeviceMismatchError):
        ts.matmul(a, b)
    with pytest.raises(ts.DeviceMismatchError):
        ts.where(a > 0, a, b)


def test_unsupported_dtype_on_a_limited_device():
    with pytest.raises(ts.UnsupportedDtypeError, match=r"does not support dtype float64.*float32"):
        ts.zeros(3, dtype="float64", device=LIMITED)
    with pytest.raises(ts.UnsupportedDtypeError, match="int32"):
        ts.asarray(np.arange(3, dtype=np.int32), device=LIMITED)


def test_missing_kernel_lists_what_exists():
    x = ts.ones(3, device=LIMITED)
    with pytest.raises(ts.KernelNotFoundError) as info:
        ts.exp(x)
    text = str(info.value)
    assert "exp" in text and LIMITED in text and "float32" in text
    assert "cpu" in text and "set_fallback" in text  # what would work
    assert isinstance(info.value, NotImplementedError)


def test_cpu_fallback_is_opt_in_and_warns_once():
    x_np = np.array([0.0, 1.0, 2.0], np.float32)
    x = ts.asarray(x_np, device=LIMITED)
    with pytest.raises(ts.KernelNotFoundError):
        ts.sqrt(x)
    ts.set_fallback(LIMITED, "cpu")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            y = ts.sqrt(x)
            ts.sqrt(x)
        assert y.device == ts.device(LIMITED)
        np.testing.assert_allclose(y.numpy(), np.sqrt(x_np), rtol=1e-6)
        assert sum("sqrt" in str(w.message) for w in caught) == 1
    finally:
        ts.set_fallback(LIMITED, None)


def test_shapes_that_do_not_broadcast():
    with pytest.raises(ts.ShapeError, match=r"add: shapes \(3,\) and \(4,\) do not broadcast"):
        ts.ones(3) + ts.ones(4)
    with pytest.raises(ts.ShapeError):
        a = ts.ones((2, 3))
        a += ts.ones((4, 2, 3))
    with pytest.raises(ts.ShapeError):
        ts.broadcast_to(ts.ones(3), (2, 4))
    with pytest.raises(ts.ShapeError):
        ts.ones(6).reshape(4, 2)


def test_bad_matmul_shapes():
    with pytest.raises(ts.ShapeError, match=r"\(2, 3\) and \(4, 5\)"):
        ts.ones((2, 3)) @ ts.ones((4, 5))
    with pytest.raises(ts.ShapeError):
        ts.matmul(ts.ones(()), ts.ones(3))
    with pytest.raises(ts.ShapeError):
        ts.ones((2, 2, 3)) @ ts.ones((3, 3, 1))


def test_index_errors():
    x = ts.ones((2, 3))
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 1 with size 3"):
        x[0, 3]
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match="out of bounds"):
        x[[0, 2]]
    with pytest.raises(IndexError):
        ts.sum(x, axis=2)
    with pytest.raises(ValueError, match="no identity"):
        ts.max(ts.ones((0, 3)), axis=0)


def test_bad_dtypes_and_values():
    with pytest.raises(TypeError, match="Did you mean 'float32'"):
        ts.zeros(2, dtype="flaot32")
    with pytest.raises(TypeError):
        ts.asarray(["a", "b"])
    with pytest.raises(TypeError):
        ts.rand(3, dtype="int32")
    with pytest.raises(ValueError):
        ts.randint(5, 5, size=(2,))
    with pytest.raises(ValueError):
        ts.zeros((-1, 2))


def test_registration_errors():
    @ts.register_kernel("relu", device="errtest_dev", dtypes=["float32"])
    def first(out, x):
        pass

    try:
        with pytest.raises(ts.RegistrationError, match=r"already registered at .*test_errors.py:\d+"):
            ts.register_kernel("relu", "errtest_dev", ["float32"], lambda out, x: None)
        ts.register_kernel("relu", "errtest_dev", ["float32"], lambda out, x: None, override=True)
        with pytest.raises(ts.RegistrationError, match="Did you mean 'relu'"):
            ts.register_kernel("reluu", "errtest_dev", ["float32"], lambda out, x: None)
        with pytest.raises(ts.RegistrationError, match="unknown dtype"):
            ts.register_kernel("relu", "errtest_dev", ["float23"], lambda out, x: None)
    finally:
        ts.registry.unregister(device="errtest_dev")
    with pytest.raises(ts.RegistrationError, match="already registered"):
        ts.register_backend(type(ts.device("cpu").backend)())
    with pytest.raises(ts.RegistrationError):
        ts.register_backend(object())
