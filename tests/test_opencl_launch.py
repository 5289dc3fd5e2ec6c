"""The opencl backend's launches in C (Note [OpenCL launches], kernels/opencl/launch.cpp) and the dispatcher's
one-call path for them (registry.LAUNCHED_BINARY, launch_binary in kernels/cpu/module.cpp)."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch import _cpu
from tensorswitch.backends import opencl
from tensorswitch.dispatch.registry import LAUNCHED_BINARY, registry

pytestmark = pytest.mark.skipif("opencl" not in {d.type for d in ts.devices()}, reason="no OpenCL device")


@pytest.fixture
def dev():
    ts.ones(1, device="opencl")  # the device's state exists from its first tensor on
    return opencl._devices[0]


def host(t):
    return t.numpy()


def test_kernels_are_launched_in_c(dev):
    if opencl._Launcher is None:
        pytest.skip("tensorswitch._opencl is not used on this system (no /proc/self/maps or no OpenCL library)")
    k = dev.kernel("elementwise", "float32", "add_contig")
    assert type(k).__name__ == "Launcher" and k.kinds == "mqmqmqq"
    assert k.function_name == "add_contig"  # the kernel object's attributes, through the Launcher
    assert k.get_work_group_info(opencl.cl.kernel_work_group_info.WORK_GROUP_SIZE, dev.context.devices[0]) >= 1


def test_arguments_set_only_when_they_change_still_reach_every_launch(dev):
    """The Launcher skips arguments equal to the last ones set: alternating buffers, offsets and sizes must each
    reach their launch, with no synchronisation in between."""
    k = dev.kernel("elementwise", "float32", "add_contig")
    xs = [ts.asarray(np.arange(8, dtype=np.float32) * (i + 1), device="opencl") for i in range(3)]
    outs = [ts.zeros(8, device="opencl") for _ in range(6)]
    plan = [(0, 0, 1, 0, 8), (1, 1, 2, 0, 8), (2, 2, 0, 4, 4), (3, 0, 0, 0, 8), (4, 1, 1, 2, 6), (5, 0, 2, 0, 8)]
    for o, a, b, off, n in plan:
        size = dev.local
        dev.launch(k, (-(-n // size) * size,), (size,), outs[o].buffer.handle, off, xs[a].buffer.handle, off,
                   xs[b].buffer.handle, off, n)
    for o, a, b, off, n in plan:
        want = np.zeros(8, np.float32)
        want[off:off + n] = (host(xs[a]) + host(xs[b]))[off:off + n]
        np.testing.assert_array_equal(host(outs[o]), want)


def test_threads_launching_one_kernel_never_mix_arguments(dev):
    """Each thread adds its own tensors with the same kernel objects: a launch taking another thread's arguments
    would show as a wrong sum (Note [OpenCL threads])."""
    inputs = [ts.asarray(np.full(1000, i, np.float32), device="opencl") for i in range(8)]
    errors = []

    def work(i):
        try:
            for _ in range(200):
                got = inputs[i] + inputs[i]
                if not np.array_equal(host(got), np.full(1000, 2 * i, np.float32)):
                    errors.append((i, host(got)[:3]))
                    return
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append((i, exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_a_refused_launch_is_pyopencls_error_and_later_launches_still_work(dev):
    k = dev.kernel("elementwise", "float32", "add_contig")
    x = ts.asarray(np.arange(3, dtype=np.float32), device="opencl")
    h = x.buffer.handle
    too_big = 2 * dev.context.devices[0].max_work_group_size
    with pytest.raises(ts.BackendError, match="launching kernel add_contig"):
        dev.launch(k, (too_big,), (too_big,), h, 0, h, 0, h, 0, 3)
    np.testing.assert_array_equal(host(x + x), [0.0, 2.0, 4.0])


def test_bad_arguments_are_python_errors_not_crashes(dev):
    if opencl._Launcher is None:
        pytest.skip("tensorswitch._opencl is not used on this system")
    k = dev.kernel("elementwise", "float32", "add_contig")
    h = ts.ones(3, device="opencl").buffer.handle
    with pytest.raises(TypeError, match="takes 7 arguments, 2 were given"):
        k((256,), (256,), h, 0)
    with pytest.raises(TypeError, match="tuple of 1 to 3 ints"):
        k((1, 1, 1, 1), None, h, 0, h, 0, h, 0, 3)
    with pytest.raises(AttributeError):
        k((256,), (256,), object(), 0, h, 0, h, 0, 3)
    with pytest.raises(TypeError):
        k((256,), (256,), h, "zero", h, 0, h, 0, 3)


def _spec(x):
    kernel = registry.by_op["add"][("opencl", x.dtype)]
    return kernel, LAUNCHED_BINARY.get(kernel, {}).get(x.device.index)


def test_binary_ops_take_the_one_call_path_and_match_numpy(dev):
    a_np = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    a = ts.asarray(a_np, device="opencl")
    a + a  # the first call registers the device's launchers
    kernel, spec = _spec(a)
    if opencl._Launcher is not None:
        assert spec is not None
    np.testing.assert_array_equal(host(a + a), a_np + a_np)
    np.testing.assert_array_equal(host(a + 2.5), a_np + np.float32(2.5))  # the broadcast-b launch
    np.testing.assert_array_equal(host(a < 0.0), a_np < 0)                 # a bool result, same launchers' family
    empty = ts.zeros(0, device="opencl")
    assert (empty + empty).shape == (0,)


def test_the_one_call_path_hands_failures_to_the_python_path(dev, monkeypatch):
    """No memory from the fast path's allocate, or a launch that raises: nothing is lost, the Python path does it."""
    a = ts.asarray(np.arange(5, dtype=np.float32), device="opencl")
    a + a
    kernel, spec = _spec(a)
    if spec is None:
        pytest.skip("the one-call path is not used on this system")

    calls = []

    def no_memory(nbytes):
        calls.append("allocate")
        raise MemoryError("from the test")

    class Refuses:
        def __call__(self, *args):
            calls.append("launch")
            raise RuntimeError("from the test")

    for broken, what in (((spec[0], spec[1], spec[2], no_memory), "allocate"),
                         ((Refuses(), Refuses(), spec[2], spec[3]), "launch")):
        monkeypatch.setitem(LAUNCHED_BINARY[kernel], a.device.index, broken)
        calls.clear()
        np.testing.assert_array_equal(host(a + a), np.arange(5, dtype=np.float32) * 2)
        np.testing.assert_array_equal(host(a + 1.0), np.arange(5, dtype=np.float32) + 1)
        # the one-call path was tried (for a + a by FastBinary and again by the Python binary_op it hands the
        # call to, Note [Binary ops in C]; for a + 1.0 by binary_op alone), and the Python path answered
        assert calls == ([what] * 3 if isinstance(ts.add, _cpu.FastBinary) else [what, what])


def test_without_the_c_launcher_everything_still_runs():
    """TENSORSWITCH_OPENCL_LAUNCHER=0: PyOpenCL's own kernel call, the same answers."""
    code = ("import numpy as np, tensorswitch as ts; from tensorswitch.backends import opencl\n"
            "x = ts.asarray(np.arange(6, dtype=np.float32), device='opencl')\n"
            "y = (x * 2 + 1).sum(); assert opencl._Launcher is None\n"
            "k = opencl._devices[0].kernel('elementwise', 'float32', 'add_contig')\n"
            "assert type(k).__name__ == '_PyOpenCLLauncher', type(k)\n"
            "assert type(opencl._devices[0].allocator).__name__ == '_PyAllocator'\n"
            "print(float(y.numpy()))")
    env = dict(os.environ, TENSORSWITCH_OPENCL_LAUNCHER="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "36.0"


def _allocators():
    kinds = [opencl._PyAllocator]
    try:
        from tensorswitch import _opencl
        kinds.append(_opencl.Allocator)
    except ImportError:
        pass
    return kinds


@pytest.mark.parametrize("kind", _allocators(), ids=lambda k: k.__module__ + "." + k.__name__)
def test_allocator_counts_and_keeps_the_peak(dev, kind):
    """Note [OpenCL allocations]: a buffer from the pool, counted, the peak of the pool's active bytes kept; a size
    over the device's limit refused before the pool is asked."""
    from pyopencl.tools import ImmediateAllocator, MemoryPool

    pool = MemoryPool(ImmediateAllocator(dev.queue))
    alloc = kind(pool, 4096)
    a, b = alloc(1024), alloc(2048)
    assert a.size >= 1024 and b.size >= 2048 and a.int_ptr != b.int_ptr
    assert alloc.count == 2 and alloc.peak == pool.active_bytes >= 3072
    peak = alloc.peak
    del a, b
    c = alloc(16)
    assert alloc.count == 3 and alloc.peak == peak  # the peak stays
    with pytest.raises(MemoryError, match="4097 bytes.*4096"):
        alloc(4097)
    assert alloc.count == 3
    del c


@pytest.mark.parametrize("kind", _allocators(), ids=lambda k: k.__module__ + "." + k.__name__)
def test_allocator_counts_every_allocation_of_threads(dev, kind):
    from pyopencl.tools import ImmediateAllocator, MemoryPool

    alloc = kind(MemoryPool(ImmediateAllocator(dev.queue)), 1 << 20)

    def work():
        for i in range(500):
            alloc(64 * (1 + i % 7))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert alloc.count == 4000


def test_one_call_results_count_in_memory_stats(dev):
    """The dispatcher's one-call path allocates through the device's allocator: memory_stats sees its results."""
    backend = ts.device("opencl").backend
    a = ts.ones(1000, device="opencl")
    a + a  # the first call fills registry.LAUNCHED_BINARY
    before = backend.memory_stats(0)
    keep = [a + a for _ in range(5)]
    after = backend.memory_stats(0)
    assert after["allocation_count"] == before["allocation_count"] + 5
    assert after["allocated_bytes"] >= before["allocated_bytes"] + 5 * 4000
    assert after["peak_allocated_bytes"] >= after["allocated_bytes"]
    del keep


def test_threads_asking_for_a_new_kernel_at_once_share_one_launcher(dev, monkeypatch):
    # Two Launchers of one kernel object would each skip the arguments they believe set while the other had changed
    # them: launches with another thread's buffers and scalars (seen as x[:, ::2] + k answering another k).  The
    # wrapping is slowed here so that every thread is inside it at once.
    import time

    make = opencl._launcher

    def slow(d, kernel):
        time.sleep(0.05)
        return make(d, kernel)

    monkeypatch.setattr(opencl, "_launcher", slow)
    name = ("elementwise", "float32", "subtract_scalar_b")
    dev.kernels.pop(name, None)
    barrier, got = threading.Barrier(8), []

    def ask():
        barrier.wait()
        got.append(dev.kernel(*name))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and all(k is got[0] for k in got) and dev.kernels[name] is got[0]
    x = ts.arange(5, dtype=ts.float32, device="opencl")
    np.testing.assert_array_equal((x - 1.5).numpy(), np.arange(5, dtype=np.float32) - 1.5)
