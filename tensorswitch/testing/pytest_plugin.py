"""The pytest plugin behind ``pytest --pyargs tensorswitch.testing --ts-device DEVICE`` (registered through the
``pytest11`` entry point, so the option exists before pytest resolves ``--pyargs``): the conformance suite as pytest
tests, one per (op, dtype), one per (differentiable op, float dtype) for the gradients, and one per backend-contract
check, for a plugin author's own CI.

pytest loads this module in every session of an environment where tensorswitch is installed, so it imports nothing
of tensorswitch until a session asks for ``--ts-device`` or collects the suite: loading stays free, and the testing
modules are imported after pytest's assertion rewriting is in place.
"""

import pytest

_DEVICES = pytest.StashKey()


def pytest_addoption(parser):
    group = parser.getgroup("tensorswitch")
    group.addoption("--ts-device", action="append", default=None,
                    help="device to check (repeatable), e.g. cpu, opencl, cuda:0 or a plugin's; default: all usable")


def pytest_configure(config):
    """Check the requested devices before collection: a device that cannot be used ends the session with one line
    saying why (pytest's usage error), not a collection traceback."""
    chosen = config.getoption("--ts-device", None)
    if not chosen:
        return
    import tensorswitch as ts

    devices = []
    for name in chosen:
        try:
            devices.append(ts.device(name))
        except ts.TensorSwitchError as exc:
            usable = ", ".join(str(d) for d in ts.devices()) or "none"
            raise pytest.UsageError(f"--ts-device {name}: {exc} (usable devices: {usable})") from None
    config.stash[_DEVICES] = devices


def pytest_generate_tests(metafunc):
    if "ts_device" not in metafunc.fixturenames:
        return
    import tensorswitch as ts

    devices = metafunc.config.stash.get(_DEVICES, None) or ts.devices()
    if "op" in metafunc.fixturenames:
        params = [pytest.param(d, op, dt.name, id=f"{d}-{op}-{dt.name}")
                  for d in devices for op in sorted(ts.OPS) for dt in ts._DTYPES]
        metafunc.parametrize(("ts_device", "op", "dtype"), params)
    elif "grad_op" in metafunc.fixturenames:
        from tensorswitch.testing import gradients

        params = [pytest.param(d, op, dt, id=f"{d}-grad:{op}-{dt}")
                  for d in devices for op in gradients.GRADIENT_SAMPLES for dt in gradients.FLOAT_DTYPES]
        metafunc.parametrize(("ts_device", "grad_op", "grad_dtype"), params)
    else:
        metafunc.parametrize("ts_device", devices, ids=str)
