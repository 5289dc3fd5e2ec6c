"""Many threads at once on a fresh process: the lazy initialisation of a backend (OpenCL's context, queue and pool,
see Note [OpenCL threads] in backends/opencl.py) and its shared caches (kernels, layouts) must hold up when every
thread makes its first tensor in the same instant, and launches from many threads must not mix up their arguments.

Each check starts a new Python process, because only a process that has not touched the device yet exercises the
first-use path; NumPy is the oracle.  No timing is asserted: the only failure is a wrong answer or an exception.
"""

import os
import subprocess
import sys

import pytest

import tensorswitch as ts
from tensorswitch.dispatch.device import unavailable_reasons

THREADS = 16
ROUNDS = 3  # fresh processes per device

# Run by a fresh interpreter: argv = [device, threads].  Every thread waits at the barrier, then makes its first
# tensor and computes; each thread uses its own shapes, so a launch that took another thread's arguments gives a
# wrong answer, not a lucky right one.
_SCRIPT = r"""
import sys, threading, traceback
import numpy as np
import tensorswitch as ts

device, n = sys.argv[1], int(sys.argv[2])
sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can: races show up in every run
barrier = threading.Barrier(n)
failures = []


def check(what, got, want, tol):
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape or not np.allclose(got, want, rtol=tol, atol=tol):
        raise AssertionError(f"{what}: got {got.ravel()[:4]} (shape {got.shape}), want {want.ravel()[:4]} "
                             f"(shape {want.shape})")


def work(i):
    try:
        rng = np.random.default_rng(i)
        rows, cols = 9 + i, 5 + 2 * i
        a = rng.standard_normal((rows, cols)).astype(np.float32)
        b = rng.standard_normal((cols, 7)).astype(np.float32)
        barrier.wait()
        x = ts.asarray(a, device=device)  # every thread's first tensor, at once
        y = ts.asarray(b, device=device)
        check("x * 2 + 1", (x * 2.0 + 1.0).numpy(), a * 2 + 1, 1e-6)
        check("x.T - x.T", (x.T - ts.asarray(a, device=device).T).numpy(), np.zeros((cols, rows)), 0)
        check("astype", x.T.astype("int32").numpy(), a.T.astype(np.int32), 0)
        check("sum", ts.sum(x, axis=1).numpy(), a.sum(axis=1), 1e-4)
        check("argmax", ts.argmax(x[::-1], axis=0).numpy(), np.argmax(a[::-1], axis=0), 0)
        check("matmul", (x @ y).numpy(), a @ b, 1e-4)
        e = np.exp(a - a.max(axis=0))
        check("softmax", ts.softmax(x, axis=0).numpy(), e / e.sum(axis=0), 1e-5)
        for k in range(30):  # the same kernels from every thread, each with its own buffers and layouts
            z = x[:, ::2] + float(k)
            check(f"x[:, ::2] + {k}", z.numpy(), a[:, ::2] + k, 1e-6)
    except BaseException:
        failures.append(f"thread {i}:\n{traceback.format_exc()}")


threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
"""


def _run_fresh(device):
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "2")  # the cpu kernels' own threads: the test is about Python threads
    for _ in range(ROUNDS):
        proc = subprocess.run([sys.executable, "-c", _SCRIPT, device, str(THREADS)], capture_output=True, text=True,
                              timeout=600, env=env)
        assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), (
            f"{THREADS} threads making their first {device} tensors at once failed:\n{proc.stdout[-6000:]}\n"
            f"{proc.stderr[-3000:]}")


def test_first_use_from_many_threads_cpu():
    _run_fresh("cpu")


@pytest.mark.skipif("opencl" in unavailable_reasons(), reason="no usable OpenCL device")
def test_first_use_from_many_threads_opencl():
    """Before the fix, two threads each made a context and one failed with INVALID_CONTEXT."""
    _run_fresh("opencl")


@pytest.mark.skipif("cuda" in unavailable_reasons(), reason=f"cuda: {unavailable_reasons().get('cuda')}")
def test_first_use_from_many_threads_cuda():
    _run_fresh("cuda")


def _race(fn):
    """``fn()`` from THREADS threads released at once by a barrier; their results."""
    import threading

    barrier = threading.Barrier(THREADS)
    got = []

    def run():
        barrier.wait()
        got.append(fn())

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got


def test_opencl_devices_are_made_once_under_contention(monkeypatch):
    """In-process and without a driver race: many threads asking for a device's state get one object, built once
    (double-checked locking in OpenCLBackend._device)."""
    import time

    from tensorswitch.backends import opencl

    built = []

    class FakeDevice:
        def __init__(self, index, cl_device):
            built.append(index)
            time.sleep(0.05)  # a slow context creation: a racing thread would build a second one meanwhile

    backend = opencl.OpenCLBackend()
    backend._cl_devices = ["first", "second"]
    monkeypatch.setattr(opencl, "_devices", [None, None])
    monkeypatch.setattr(opencl, "_Device", FakeDevice)
    got = _race(lambda: backend._device(1))
    assert built == [1] and len(got) == THREADS and all(g is got[0] for g in got)
    assert ts.device("cpu") is ts.device("cpu")  # the interned devices are untouched by the fake


def test_cuda_device_state_is_made_once_under_contention(monkeypatch):
    """The same for cuda's per-device state (its stream, pool and caches), without a GPU: backends/cuda.py _device."""
    import time

    from tensorswitch.backends import cuda

    built = []

    class FakeDevice:
        def __init__(self, index, many):
            built.append(index)
            time.sleep(0.05)

    monkeypatch.setattr(cuda, "_devices", {})
    monkeypatch.setattr(cuda, "_Device", FakeDevice)
    got = _race(lambda: cuda._device(0))
    assert built == [0] and len(got) == THREADS and all(g is got[0] for g in got)
