"""The conformance suite's gradient section (tensorswitch/testing/gradients.py, Note [Gradient conformance]): every
differentiable op on every device against finite differences on the cpu in float64, the table of cases against the
table of derivatives, the finite-difference oracle against closed forms, and the proof that it catches what it is
for: a wrong derivative, a wrong backward kernel, a missing kernel, a dtype the device cannot store."""

import numpy as np
import pytest

import tensorswitch as ts
from broken_devices import BrokenDevices
from limited_backend import LIMITED
from tensorswitch.dispatch import derivatives
from tensorswitch.testing import FAIL, NOT_IMPLEMENTED, PASS, UNSUPPORTED, gradients, samples

OPS = list(gradients.GRADIENT_SAMPLES)


def _dtypes(device):
    """cpu: every float dtype; other devices: float32 (the dtype every backend has; the CLI runs them all)."""
    return list(gradients.FLOAT_DTYPES) if device.type == "cpu" else ["float32"]


@pytest.mark.parametrize("op", OPS)
def test_gradient_on_every_device(device, op):
    for dt in _dtypes(device):
        cell = gradients.check_cell(op, dt, device)
        if cell["status"] == NOT_IMPLEMENTED and not all(samples.applicable(k, dt) for k in
                                                         gradients.GRADIENT_SAMPLES[op].kernels):
            continue  # a dtype the op's kernels refuse on purpose (linalg in float16, as NumPy and PyTorch)
        if cell["status"] == NOT_IMPLEMENTED and device.type not in ("cpu", "opencl", "cuda"):
            # a plugin may lack a kernel; then the cell must say which, and the device must really lack it
            assert "has no" in cell["missing"] and str(device.type) in cell["missing"], cell
            continue
        assert cell["status"] == PASS, f"{device} {op}/{dt}: {cell['error'] or cell['missing']}"
        assert cell["samples"] == len(gradients.GRADIENT_SAMPLES[op].samples) >= 2


# -- the tables ------------------------------------------------------------------------------------------------------

def test_every_derivative_has_cases_and_nothing_else_does():
    assert set(gradients.GRADIENT_SAMPLES) == set(derivatives.DERIVATIVES) | {"mean", "var", "std"}
    for op, entry in gradients.GRADIENT_SAMPLES.items():
        assert len(entry.samples) >= 2, op
        assert len({s.what for s in entry.samples}) == len(entry.samples), f"{op}: two cases with one description"
        for s in entry.samples:
            for leaf in s.leaves:  # exact in float16, so every dtype computes at the reference's point
                assert leaf.dtype == np.float64 and np.array_equal(leaf.astype(np.float16), leaf), s
        assert all(k in ts.OPS for k in entry.kernels), op


def test_the_cases_are_the_same_in_every_build():
    again = gradients._build()
    for op, entry in gradients.GRADIENT_SAMPLES.items():
        for a, b in zip(entry.samples, again[op].samples):
            assert a.what == b.what and all(np.array_equal(x, y) for x, y in zip(a.leaves, b.leaves)), op


def test_the_cases_keep_away_from_kinks():
    def leaves(op):
        return [x for s in gradients.GRADIENT_SAMPLES[op].samples for x in s.leaves]

    for op in ("abs", "sign", "relu"):
        assert min(np.abs(x).min() for x in leaves(op)) >= 0.2
    for op in ("log", "sqrt"):
        assert min(x.min() for x in leaves(op)) > 0.4
    for op in ("floor", "ceil"):
        assert all(np.all(np.abs(x - np.round(x)) >= 0.19) for x in leaves(op))
    for op in ("max", "min", "max_pool2d"):
        assert all(len(np.unique(x)) == x.size for x in leaves(op)), op
    for s in gradients.GRADIENT_SAMPLES["maximum"].samples:
        if len(s.leaves) == 2:
            a, b = s.leaves
            a = a.T if "transposed" in s.what else a
            assert np.abs(a - b).min() >= 0.1, s


# -- the oracle ---------------------------------------------------------------------------------------------------

def _case(op, what):
    entry = gradients.GRADIENT_SAMPLES[op]
    return next(i for i, s in enumerate(entry.samples) if s.what == what)


def test_finite_differences_agree_with_closed_forms():
    i = _case("exp", "exp((3, 4))")
    w, (g,) = gradients.finite_differences("exp", i)
    x = gradients.GRADIENT_SAMPLES["exp"].samples[i].leaves[0]
    np.testing.assert_allclose(g, w * np.exp(x), rtol=1e-8, atol=1e-9)
    i = _case("matmul", "matmul((2, 3), (3, 4))")
    w, (ga, gb) = gradients.finite_differences("matmul", i)
    a, b = gradients.GRADIENT_SAMPLES["matmul"].samples[i].leaves
    np.testing.assert_allclose(ga, w @ b.T, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(gb, a.T @ w, rtol=1e-8, atol=1e-9)
    i = _case("take_along_axis", "take_along_axis((3, 4), (3, 2) repeated, axis=1)")
    w, (g,) = gradients.finite_differences("take_along_axis", i)
    want = np.zeros((3, 4))
    np.add.at(want, (np.arange(3)[:, None], np.array([[0, 0], [3, 1], [2, 2]])), w)
    np.testing.assert_allclose(g, want, atol=1e-9)
    # computed once, then shared by every device and dtype
    assert gradients.finite_differences("exp", 0) is gradients.finite_differences("exp", 0)


# -- what it catches ------------------------------------------------------------------------------------------------

def test_a_wrong_derivative_fails_with_its_worst_element(monkeypatch):
    right = derivatives.DERIVATIVES["sin"]
    x0 = {}

    def slightly_wrong(ctx, g):  # 1e-4 too large at the first element of each case: float64 must see it
        (dx,) = right.formula(ctx, g)
        scale = np.ones(dx.shape)
        scale.reshape(-1)[:1] = 1 + 1e-4
        x0["seen"] = True
        return (dx * ts.asarray(scale, dtype=dx.dtype, device=dx.device),)

    monkeypatch.setitem(derivatives.DERIVATIVES, "sin", derivatives.Derivative(slightly_wrong, (0,)))
    cell = gradients.check_cell("sin", "float64", "cpu")
    assert x0 and cell["status"] == FAIL and cell["samples"] == 1 and cell["failed_sample"] == "sin((3, 4))"
    assert cell["error"].startswith("sample 1 of grad:sin/float64 failed (0 passed before it): sin((3, 4)): the "
                                    "gradient of leaf 0 (shape (3, 4)) differs from finite differences at 1 of 12 "
                                    "positions; the worst at (0, 0): got ")


def test_a_derivative_without_cases_fails_its_row(monkeypatch):
    monkeypatch.setitem(gradients.GRADIENT_SAMPLES, "newop", gradients.GradientOp([]))
    cell = gradients.check_cell("newop", "float32", "cpu")
    assert cell["status"] == FAIL and "no cases in tensorswitch/testing/gradients.py" in cell["error"]


def test_an_op_missing_from_the_build_is_not_implemented(monkeypatch):
    monkeypatch.setitem(gradients.GRADIENT_SAMPLES, "unfold", gradients.GradientOp([], requires="no_such_function"))
    cell = gradients.check_cell("unfold", "float32", "cpu")
    assert cell["status"] == NOT_IMPLEMENTED and cell["missing"] == "ts.no_such_function does not exist in this build"


@pytest.fixture
def broken():
    """``broken(name, overrides=[(op, dtypes, kernel)], dtypes=..., drop=[(op, dtype)])``: a device with the cpu's
    memory and kernels, less ``drop``, with ``overrides`` (tests/broken_devices.py)."""
    devices = BrokenDevices()
    yield devices.make
    devices.remove()


def test_a_wrong_backward_kernel_is_caught(broken):
    cpu_backward = ts.registry.fast[("max_pool2d_backward", "cpu", ts.float32)]

    def drops_the_last_window(out, grad, x, geometry):
        host = grad.numpy().copy()
        host.reshape(-1)[-1] = 0.0
        cpu_backward(out, ts.asarray(host, device=out.device), x, geometry)

    dev = broken("badpoolgrad", overrides=[("max_pool2d_backward", ["float32"], drops_the_last_window)])
    cell = gradients.check_cell("max_pool2d", "float32", dev)
    assert cell["status"] == FAIL and "differs from finite differences at 1 of 32 positions" in cell["error"], cell
    assert gradients.check_cell("max_pool2d", "float64", dev)["status"] == PASS  # only the broken dtype


def test_a_kernel_only_the_backward_needs_is_reported_missing(broken):
    dev = broken("nocos", drop=[("cos", "float32")])
    cell = gradients.check_cell("sin", "float32", dev)  # sin's forward is there; its derivative needs cos
    assert cell["status"] == NOT_IMPLEMENTED, cell
    assert "cos" in cell["missing"] and "nocos" in cell["missing"] and "float32" in cell["missing"]
    assert gradients.check_cell("cos", "float32", dev)["status"] == NOT_IMPLEMENTED  # and cos itself, unclaimed
    assert gradients.check_cell("cos", "float32", dev)["missing"] == "nocos has no cos kernel of float32"
    assert gradients.check_cell("sin", "float64", dev)["status"] == PASS


def test_a_float32_only_device_is_held_to_float32(broken):
    dev = broken("f32only", dtypes=("bool", "int32", "int64", "float32"))
    section = gradients.run_gradients(dev)
    cells = section["cells"]
    assert section["failures"] == [] and section["counts"][PASS] == len(OPS), section["failures"]
    assert {cells[f"{op}/{dt}"]["status"] for op in OPS for dt in ("float16", "float64")} == {UNSUPPORTED}
    assert cells["astype/float32"]["status"] == PASS  # its round trip goes through the widest float there


def test_the_limited_device_reports_what_it_lacks():
    section = gradients.run_gradients(LIMITED, ops=["add", "multiply", "sum", "setitem", "exp", "take_along_axis",
                                                    "mean"], dtypes=["float32", "float64"])
    cells = section["cells"]
    assert {cells[f"{op}/float32"]["status"] for op in ("add", "multiply", "sum", "setitem")} == {PASS}
    # mean's own kernels are not claimed anywhere: it is found missing as it runs
    assert cells["mean/float32"]["status"] == NOT_IMPLEMENTED
    assert "divide has no kernel for device 'limited' and dtype float32" in cells["mean/float32"]["missing"]
    assert cells["exp/float32"]["status"] == NOT_IMPLEMENTED and cells["exp/float64"]["status"] == UNSUPPORTED
    assert cells["take_along_axis/float32"]["status"] == NOT_IMPLEMENTED
    assert section["failures"] == []
