"""The pytest plugin behind ``pytest --pyargs tensorswitch.testing --ts-device DEVICE`` (registered through the
``pytest11`` entry point, so the option exists before pytest resolves ``--pyargs``): the conformance suite as pytest
tests, one per (op, dtype) plus one per backend-contract check, for a plugin author's own CI."""

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("tensorswitch")
    group.addoption("--ts-device", action="append", default=None,
                    help="device to check (repeatable), e.g. cpu, opencl, cuda:0 or a plugin's; default: all usable")


def pytest_generate_tests(metafunc):
    if "ts_device" not in metafunc.fixturenames:
        return
    import tensorswitch as ts

    chosen = metafunc.config.getoption("--ts-device")
    try:
        devices = [ts.device(d) for d in chosen] if chosen else ts.devices()
    except ts.TensorSwitchError as exc:
        raise pytest.UsageError(f"{exc}\nUsable devices: {', '.join(map(str, ts.devices()))}")
    if "op" in metafunc.fixturenames:
        params = [pytest.param(d, op, dt.name, id=f"{d}-{op}-{dt.name}")
                  for d in devices for op in sorted(ts.OPS) for dt in ts._DTYPES]
        metafunc.parametrize(("ts_device", "op", "dtype"), params)
    else:
        metafunc.parametrize("ts_device", devices, ids=str)
