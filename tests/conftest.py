"""The devices every device-generic test runs on, declared once.

Tests take a ``device`` fixture (and ``op``/``dtype`` where they are per-kernel); ``pytest_generate_tests`` fills them
from ``ts.devices()`` and the registry, so a new backend or kernel is tested without touching a test file.  cuda runs
where a GPU is present; elsewhere its tests are reported as skipped with the reason.
"""

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch.dispatch.device import unavailable_reasons
from tensorswitch.testing import samples

from limited_backend import LIMITED  # noqa: F401  (registers the deliberately limited test device)

# The cpu kernels' parallel paths (threads over outputs, one long reduction split across threads) must run in the tests
# whatever the machine's core count: at least two threads, and the samples' large inputs exceed the grain.
if ts.get_num_threads() < 2:
    ts.set_num_threads(2)


def usable_devices():
    return [d for d in ts.devices() if d.type != LIMITED]


def device_params():
    params = [pytest.param(d, id=str(d)) for d in usable_devices()]
    for type_, reason in sorted(unavailable_reasons().items()):
        params.append(pytest.param(type_, id=type_, marks=pytest.mark.skip(reason=f"{type_}: {reason}")))
    return params


def pytest_generate_tests(metafunc):
    names = metafunc.fixturenames
    if "device" in names and "op" in names and "dtype" in names:
        params = []
        for dev in device_params():
            device = dev.values[0]
            if isinstance(device, str):  # an unusable device: one skipped entry says why
                params.append(pytest.param(device, None, None, id=device, marks=dev.marks))
                continue
            for op in sorted(ts.OPS):
                for dt in ts._DTYPES:
                    if samples.promoted(op, dt.name):
                        continue  # computed in float32 before dispatch: no kernel of this dtype is involved
                    params.append(pytest.param(device, op, dt.name, id=f"{device}-{op}-{dt.name}"))
        metafunc.parametrize(("device", "op", "dtype"), params)
    elif "device" in names:
        metafunc.parametrize("device", device_params())


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def restore_threads():
    """The cpu kernels' thread count and grain, put back after the test (which may change both)."""
    from tensorswitch import _cpu
    from tensorswitch.backends import cpu as cpu_backend

    threads, grain = _cpu.get_num_threads(), _cpu.get_grain()
    yield
    cpu_backend.set_num_threads(threads)
    _cpu.set_grain(grain)
