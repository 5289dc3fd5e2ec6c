"""``python -m tensorswitch warmup``: every program compiled ahead of use (tensorswitch/warmup.py, the backends'
``warmup`` hook of Note [Backend contract])."""

import subprocess
import sys

import pytest

import tensorswitch as ts
from tensorswitch.kernels import optable
from tensorswitch.warmup import warmup


def test_cpu_has_nothing_to_compile():
    assert warmup("cpu") == {"cpu": (0, pytest.approx(0, abs=5))}


def _opencl():
    devices = [d for d in ts.devices() if d.type == "opencl"]
    if not devices:
        pytest.skip("no opencl device")
    return devices[0]


def test_opencl_builds_every_program_its_ops_claim():
    from tensorswitch.backends import opencl

    dev = _opencl()
    (count, _), = warmup(dev).values()
    supported = {d.name for d in dev.supported_dtypes()}
    expected = sum(len(set().union(*(optable.coverage(op, "opencl") for op in ops if op in optable.COVERAGE))
                       & supported)
                   for ops in opencl.PROGRAM_OPS.values())
    assert count == expected > 100
    every_op = {op for ops in opencl.PROGRAM_OPS.values() for op in ops}
    claimed = {e.op for e in ts.registry.kernels(device="opencl")}
    assert claimed <= every_op, claimed - every_op  # a new family must join PROGRAM_OPS
    programs = len(opencl._cache._programs)
    x = ts.arange(10, dtype=ts.float32, device=dev)
    ts.sort(ts.cumulative_sum(ts.exp(x) * 2)).sum().item()  # runs kernels of several families
    assert len(opencl._cache._programs) == programs  # nothing left to compile


def test_command_line():
    _opencl()
    out = subprocess.run([sys.executable, "-m", "tensorswitch", "warmup", "--device", "opencl", "--device", "cpu"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "opencl: " in out.stdout and "programs ready" in out.stdout and "cpu: nothing to compile" in out.stdout
