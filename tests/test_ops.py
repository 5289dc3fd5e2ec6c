"""Every (device, op, dtype): the kernels a device claims match NumPy on the shared sample database (broadcasting,
0-d, empty, non-contiguous, NaN/inf, large and tiny values, integer edges); the ones it does not claim raise the clear
not-implemented error.  The same checks power ``python -m tensorswitch.conformance``."""

import pytest

import tensorswitch as ts
from tensorswitch.testing import samples


def test_op(device, op, dtype):
    dt = ts.dtype(dtype)
    if dt not in device.supported_dtypes():
        with pytest.raises(ts.UnsupportedDtypeError, match=dtype):
            ts.zeros(2, dtype=dtype, device=device)
    elif ts.registry.has_kernel(op, device, dt):
        assert samples.check(op, dtype, device) > 0
    else:
        samples.check_not_implemented(op, dtype, device)
