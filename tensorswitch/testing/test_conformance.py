"""The conformance suite for pytest: ``pytest --pyargs tensorswitch.testing --ts-device DEVICE``."""

import pytest

import tensorswitch as ts
from tensorswitch.testing import contract, gradients, samples


def test_op_dtype(ts_device, op, dtype):
    """A claimed (op, dtype) matches NumPy on every sample; an unclaimed one raises the clear error."""
    dt = ts.dtype(dtype)
    if dt not in ts_device.supported_dtypes():
        pytest.skip(f"{ts_device} does not support {dtype}")
    if ts.registry.has_kernel(op, ts_device, dt):
        samples.check(op, dtype, ts_device)
    elif samples.promoted(op, dtype):
        pytest.skip(f"{op} computes {dtype} in float32; no kernel of this dtype is involved")
    else:
        samples.check_not_implemented(op, dtype, ts_device)


def test_gradient(ts_device, grad_op, grad_dtype):
    """The gradient of a differentiable op matches finite differences on the cpu in float64 (Note [Gradient
    conformance] in tensorswitch/testing/gradients.py); a device lacking a kernel it needs is skipped, saying which."""
    try:
        gradients.check(grad_op, grad_dtype, ts_device)
    except gradients.Missing as exc:
        pytest.skip(f"{exc.status}: {exc}")


@pytest.mark.parametrize("check", sorted(contract.CHECKS))
def test_backend_contract(ts_device, check):
    contract.CHECKS[check](ts_device)
