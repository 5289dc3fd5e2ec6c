"""``python -m tensorswitch warmup``: every program compiled ahead of use (tensorswitch/warmup.py, the backends'
``warmup`` hook of Note [Backend contract])."""

import os
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


_WARM_CACHE_SCRIPT = """
import tensorswitch as ts
for dt in (ts.float32, ts.float64):
    x = ts.linspace(-3, 3, 4099, dtype=dt, device="opencl")
    m = ts.reshape(x[:4096], (64, 64))
    print(dt, float(ts.exp(x).sum()), float(ts.max(x)), float(ts.softmax(m, axis=-1)[3, 5]), float((m @ m)[1, 2]))
"""


def test_a_second_process_loads_the_drivers_cached_binaries(tmp_path):
    # Note [Vector width probe]: vectors wider than the compile target's registers came back from PoCL's kernel cache
    # without kernels (INVALID_KERNEL_NAME in every process after the first, then an abort at exit)
    _opencl()
    env = dict(os.environ, POCL_CACHE_DIR=str(tmp_path), POCL_KERNEL_CACHE="1")
    runs = [subprocess.run([sys.executable, "-c", _WARM_CACHE_SCRIPT], capture_output=True, text=True, timeout=600,
                           env=env) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    assert runs[0].stdout == runs[1].stdout and runs[0].stdout.count("float") == 2
    assert any(tmp_path.iterdir())  # the second process did read the cache


def test_vectors_are_no_wider_than_the_compile_targets_registers():
    from tensorswitch.backends import opencl

    dev = _opencl()
    d = opencl._devices[dev.index]
    if not d.cpu:
        pytest.skip("vector kernels are for CPU devices")
    register = opencl._register_bytes(d.context, d.queue)
    assert register in (0, 16, 32, 64)
    for dtype, width in d.vector_width.items():
        assert 4 <= width <= 16
        assert not register or width * getattr(ts, dtype).itemsize <= register, (dtype, width, register)
