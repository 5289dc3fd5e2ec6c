"""The standard's data type functions, constants and inspection API (dispatch/info.py, ``result_type`` in
dispatch/dtypes.py), against NumPy and array-api-strict (the standard's reference implementation)."""

import itertools
import math

import array_api_strict as xp
import numpy as np
import pytest

import tensorswitch as ts
from limited_backend import LIMITED

DTYPES = list(ts._DTYPES)
FLOATS = [d for d in DTYPES if d.kind == "float"]
INTS = [d for d in DTYPES if d.kind in ("int", "uint")]
KINDS = ["bool", "signed integer", "unsigned integer", "integral", "real floating", "complex floating", "numeric"]


def strict(dt):
    """The array-api-strict dtype of a ts dtype (None where the standard has none, e.g. float16)."""
    return getattr(xp, dt.name, None)


def test_finfo_matches_numpy():
    for dt in FLOATS:
        info, want = ts.finfo(dt), np.finfo(dt.numpy)
        assert (info.bits, info.eps, info.max, info.min, info.smallest_normal) == \
            (want.bits, float(want.eps), float(want.max), float(want.min), float(want.smallest_normal))
        assert all(type(v) is float for v in (info.eps, info.max, info.min, info.smallest_normal))
        assert info.dtype is dt and ts.finfo(ts.zeros((2,), dtype=dt)) is info and ts.finfo(dt.name) is info
        assert dt.name in repr(info)
    for dt in INTS + [ts.bool]:
        with pytest.raises(TypeError, match="not a floating-point dtype"):
            ts.finfo(dt)


def test_iinfo_matches_numpy():
    for dt in INTS:
        info, want = ts.iinfo(dt), np.iinfo(dt.numpy)
        assert (info.bits, info.max, info.min, info.dtype) == (want.bits, int(want.max), int(want.min), dt)
        assert type(info.max) is int and ts.iinfo(ts.zeros((1,), dtype=dt)) is info
    for dt in FLOATS + [ts.bool]:
        with pytest.raises(TypeError, match="not an integer dtype"):
            ts.iinfo(dt)
    with pytest.raises(TypeError, match="unknown dtype"):
        ts.iinfo("int7")


def test_isdtype_matches_array_api_strict():
    for dt, kind in itertools.product(DTYPES, KINDS):
        if strict(dt) is not None:
            assert ts.isdtype(dt, kind) == xp.isdtype(strict(dt), kind), (dt, kind)
    assert ts.isdtype(ts.float16, "real floating") and not ts.isdtype(ts.float16, "integral")
    assert ts.isdtype(ts.uint8, ("bool", "unsigned integer")) and not ts.isdtype(ts.int8, ("bool", ts.int16))
    assert ts.isdtype(ts.int16, ts.int16) and not ts.isdtype(ts.int16, ts.int32)
    assert ts.isdtype(ts.int16, ("real floating", ts.int16))
    with pytest.raises(ValueError, match="unknown kind 'float'"):
        ts.isdtype(ts.float32, "float")
    with pytest.raises(ValueError, match="pass ts.float32"):
        ts.isdtype(ts.float32, "float32")
    with pytest.raises(TypeError, match="kind must be"):
        ts.isdtype(ts.float32, 3)
    with pytest.raises(TypeError, match="expected a dtype, got a tensor"):
        ts.isdtype(ts.zeros(1), "numeric")


def test_can_cast_matches_array_api_strict():
    for a, b in itertools.product(DTYPES, DTYPES):
        if strict(a) is not None and strict(b) is not None:
            assert ts.can_cast(a, b) == xp.can_cast(strict(a), strict(b)), (a, b)
    assert ts.can_cast(ts.float16, ts.float32) and not ts.can_cast(ts.float32, ts.float16)
    assert not ts.can_cast(ts.int8, ts.float16) and ts.can_cast(ts.bool, ts.bool)
    assert ts.can_cast(ts.zeros((2,), dtype=ts.uint8), ts.int16)
    with pytest.raises(TypeError):
        ts.can_cast(ts.int8, ts.zeros(1))


def test_result_type_matches_array_api_strict_where_the_standard_defines_it():
    for a, b in itertools.product(DTYPES, DTYPES):
        if strict(a) is None or strict(b) is None:
            continue
        try:
            want = xp.result_type(strict(a), strict(b))
        except TypeError:  # mixed kinds: implementation-defined; ours is NumPy's (Note [Type promotion])
            assert ts.result_type(a, b) is ts.dtype(np.promote_types(a.numpy, b.numpy))
            continue
        assert ts.result_type(a, b).name == str(want).split(".")[-1]
        assert ts.result_type(ts.zeros((1,), dtype=a), b) is ts.result_type(a, b)
    for dt, scalar in itertools.product(DTYPES, [True, 2, 2.5]):
        if strict(dt) is None:
            continue
        try:
            want = xp.result_type(strict(dt), scalar)
        except TypeError:
            continue
        assert ts.result_type(dt, scalar).name == str(want).split(".")[-1], (dt, scalar)
        assert ts.result_type(scalar, ts.zeros((), dtype=dt)).name == str(want).split(".")[-1]


def test_result_type_scalars_and_errors():
    assert ts.result_type(ts.float16, 1.0) is ts.float16  # weak scalars, as in arithmetic
    assert ts.result_type(ts.uint8, 1, True) is ts.uint8
    assert ts.result_type(ts.int8, 1.0) is ts.float32     # the default float dtype
    assert ts.result_type(np.float32(1.0), ts.int16) is ts.float32  # NumPy scalars are weak too
    assert ts.result_type(ts.int8, ts.uint8, ts.int16, 3) is ts.int16
    assert ts.result_type(ts.asarray([1, 2], dtype=ts.int8) + 1, "float32") is ts.float32
    with pytest.raises(TypeError, match="at least one tensor or dtype"):
        ts.result_type(1, 2.0)
    with pytest.raises(TypeError, match="at least one tensor or dtype"):
        ts.result_type()
    with pytest.raises(TypeError, match="expected tensors, dtypes and Python scalars"):
        ts.result_type(ts.int8, np.zeros(2))
    with pytest.raises(TypeError, match="unknown dtype"):
        ts.result_type("float31")
    complexes = [d for d in DTYPES if d.kind == "complex"]
    if complexes:
        assert ts.result_type(ts.float32, 1j).kind == "complex"
    else:
        with pytest.raises(TypeError, match="complex"):
            ts.result_type(ts.float32, 1j)


def test_constants():
    assert (ts.e, ts.pi) == (math.e, math.pi) and ts.inf == math.inf and math.isnan(ts.nan)
    assert ts.newaxis is None
    assert ts.zeros((2, 3))[:, ts.newaxis].shape == (2, 1, 3)


def test_namespace_info_capabilities():
    info = ts.__array_namespace_info__()
    caps = info.capabilities()
    assert set(caps) == {"boolean indexing", "data-dependent shapes", "max dimensions"}
    assert caps["max dimensions"] == ts.MAX_NDIM == 32
    try:  # the answer is what x[mask] does
        works = ts.asarray([1, 2, 3])[ts.asarray([True, False, True])].tolist() == [1, 3]
    except Exception:
        works = False
    assert caps["boolean indexing"] is works
    if caps["data-dependent shapes"]:
        assert works and ts.unique_values(ts.asarray([2, 1, 2])).shape == (2,)
        assert ts.nonzero(ts.asarray([0, 3, 0, 4]))[0].tolist() == [1, 3]


def test_namespace_info_per_device():
    info = ts.__array_namespace_info__()
    assert info.default_device() is ts.get_default_device()
    with ts.default_device(LIMITED):
        assert info.default_device() is ts.device(LIMITED)
        assert info.dtypes() == {"float32": ts.float32, "bool": ts.bool}
    assert info.devices() == ts.devices() and isinstance(info.devices(), list)
    for dev in ts.devices():
        supported = {d for d in dev.supported_dtypes() if d.name != "float16"}  # the standard's dtypes only
        assert set(info.dtypes(device=dev).values()) == supported
        assert list(info.dtypes(device=str(dev))) == [d.name for d in DTYPES if d in supported]  # standard order
        assert set(info.dtypes(device=dev, kind="real floating").values()) == {d for d in supported
                                                                               if d.kind == "float"}
        both = info.dtypes(device=dev, kind=("bool", "signed integer"))
        assert set(both.values()) == {d for d in supported if d.kind in ("bool", "int")}
        defaults = info.default_dtypes(device=dev)
        assert set(defaults) == {"real floating", "complex floating", "integral", "indexing"}
        for key, value in defaults.items():
            assert value is None or value in supported, (dev, key)
    cpu = info.default_dtypes(device="cpu")
    assert (cpu["real floating"], cpu["integral"], cpu["indexing"]) == (ts.float32, ts.int64, ts.int64)
    limited = info.default_dtypes(device=LIMITED)  # a device without integers has no integral default
    assert limited["real floating"] is ts.float32 and limited["integral"] is None
    assert info.dtypes(device=LIMITED, kind="integral") == {}
    with pytest.raises(ValueError, match="unknown kind"):
        info.dtypes(kind="floats")
    with pytest.raises(ValueError, match="unknown kind"):
        info.dtypes(device=LIMITED, kind=("integral", "ints"))
    with pytest.raises(ValueError, match="kind must be"):
        info.dtypes(kind=ts.float32)


def test_opencl_dtypes_follow_the_device():
    opencl = [d for d in ts.devices() if d.type == "opencl"]
    if not opencl:
        pytest.skip("no opencl device")
    info = ts.__array_namespace_info__()
    for dev in opencl:
        floats = info.dtypes(device=dev, kind="real floating")
        assert ("float64" in floats) == ("cl_khr_fp64" in dev.backend._cl_devices[dev.index].extensions)
        assert "float16" not in floats or ts.float16 in dev.supported_dtypes()


def test_docstring_examples():
    import doctest

    from tensorswitch.dispatch import dtypes, info

    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    assert doctest.testmod(info, optionflags=flags).failed == 0
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=flags)
    for test in finder.find(dtypes.result_type, "result_type", globs={}):
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0
