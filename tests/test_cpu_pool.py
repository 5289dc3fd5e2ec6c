"""The cpu kernels' thread pool (Note [Thread pool] in kernels/cpu/pool.h): chunks claimed by whichever thread is
free, so that a descheduled worker never holds a kernel up.  These check what the design must keep: the same
answers under any thread count, callers on many Python threads at once, more threads than cores, fork, and a worker
that is busy elsewhere (a neighbour process)."""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch import _cpu
from tensorswitch.backends import cpu as cpu_backend


def _work(seed):
    """A few kernels of every parallel shape (elementwise, reductions over all and per row, softmax, matmul, a
    strided view), and NumPy's answers."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((257, 301))
    t = ts.asarray(x)
    got = [ts.exp(t[::2, 1::3]), t + t.T[:301, :257].T, ts.sum(t), ts.sum(t, axis=1), ts.sum(t, axis=0), ts.max(t),
           ts.argmax(t), ts.softmax(t, axis=-1), t @ t.T]
    want = [np.exp(x[::2, 1::3]), x + x, x.sum(), x.sum(axis=1), x.sum(axis=0), x.max(), x.argmax(), None, x @ x.T]
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    want[7] = e / e.sum(axis=-1, keepdims=True)
    return [np.asarray(g.numpy()) for g in got], want


def _check(got, want):
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("threads", [2, 3, 16])
def test_answers_with_any_thread_count_and_tiny_chunks(restore_threads, threads):
    """grain 1 puts every kernel on the pool, in many chunks; 16 threads on 2 cores oversubscribes them."""
    cpu_backend.set_num_threads(threads)
    _cpu.set_grain(1)
    _check(*_work(threads))


def test_the_same_bits_every_run(restore_threads):
    """Chunk i covers the same elements whoever runs it: a float sum's partials merge in chunk order."""
    cpu_backend.set_num_threads(2)
    _cpu.set_grain(1)
    x = ts.asarray(np.random.default_rng(0).standard_normal(1_000_003).astype(np.float32))
    m = x[:1009 * 991].reshape(1009, 991)
    first = [ts.sum(x).item(), ts.sum(m, axis=0).numpy().tobytes(), ts.sum(m.T, axis=1).numpy().tobytes()]
    for _ in range(20):
        assert [ts.sum(x).item(), ts.sum(m, axis=0).numpy().tobytes(), ts.sum(m.T, axis=1).numpy().tobytes()] == first


def test_callers_on_many_python_threads_at_once(restore_threads):
    """One job owns the pool at a time; the other callers' kernels run on their own threads, with the same
    answers (the large ones release the GIL, so they overlap)."""
    cpu_backend.set_num_threads(2)
    _cpu.set_grain(64)
    errors = []

    def run(seed):
        try:
            for _ in range(5):
                _check(*_work(seed))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "a caller hung"
    assert not errors, errors[0]


def _python(code, timeout=120, **env):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                         env=dict(os.environ, **env))
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_fork_after_the_pool_has_started():
    """The child has none of the parent's workers: it starts a pool of its own, and neither side hangs."""
    code = (
        "import os, numpy as np, tensorswitch as ts\n"
        "from tensorswitch import _cpu\n"
        "_cpu.set_num_threads(2); _cpu.set_grain(1)\n"
        "x = ts.asarray(np.arange(200_000, dtype=np.float64))\n"
        "assert ts.sum(x).item() == 199999 * 100000\n"
        "pids = []\n"
        "for _ in range(3):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        ok = all(ts.sum(x * 2).item() == 199999 * 200000 for _ in range(50))\n"
        "        os._exit(0 if ok else 1)\n"
        "    pids.append(pid)\n"
        "    assert ts.sum(x + 1).item() == 199999 * 100000 + 200000\n"
        "print(sorted(os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids))\n")
    assert _python(code).split("\n")[0] == "[0, 0, 0]"


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")
def test_a_busy_neighbour_does_not_stall_a_kernel():
    """With one core kept busy by another process, a kernel split across 2 threads must still finish: the caller
    takes the chunks a descheduled worker has not claimed.  The answers are checked, not the time (no timed
    assertions); a stall shows as the test's timeout."""
    neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        code = (
            "import numpy as np, tensorswitch as ts\n"
            "from tensorswitch import _cpu\n"
            "_cpu.set_num_threads(2)\n"
            "a = ts.asarray(np.ones((256, 256), np.float32))\n"
            "for _ in range(2000):\n"
            "    s = (a.T + a).sum().item()\n"
            "assert s == 2 * 256 * 256, s\n"
            "print('ok')\n")
        assert _python(code, timeout=240).strip() == "ok"
    finally:
        neighbour.kill()
        neighbour.wait()


def _worker_cpu_ticks():
    """{thread name: CPU time in clock ticks} of this process's pool workers (named ts-cpu-<id>)."""
    ticks = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # a thread that ended meanwhile
            continue
        if name.startswith("ts-cpu-"):
            ticks[name] = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads per-thread CPU time from /proc")
def test_fewer_threads_after_more_leave_the_extra_workers_asleep(restore_threads):
    """set_num_threads(8), then (2): the kernels must use 2 threads again.  Before, a job took as many helpers as
    had ever been started (2-thread adds took 2-3x their time on 2 cores, six idle workers spinning)."""
    x = ts.asarray(np.ones(400_000, np.float32))
    cpu_backend.set_num_threads(8)
    _cpu.set_grain(1)
    for _ in range(50):
        x + x
    cpu_backend.set_num_threads(2)
    _cpu.set_grain(32768)
    x + x  # the workers the job cannot use go to sleep
    time.sleep(0.05)  # and those that were spinning stop
    before = _worker_cpu_ticks()
    assert len(before) >= 7, before  # the eight-thread jobs started seven workers
    deadline = time.perf_counter() + 0.5
    while time.perf_counter() < deadline:
        np.testing.assert_array_equal((x + x).numpy()[:3], 2)
    after = _worker_cpu_ticks()
    extra = {name: after.get(name, 0) - ticks for name, ticks in before.items() if name != "ts-cpu-0"}
    assert sum(extra.values()) <= 2, extra  # clock ticks (10 ms): a wake-up or two at most, no work
