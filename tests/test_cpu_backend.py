"""The cpu backend's own guarantees (issue "Hardening"): float-to-integer casts, softmax of non-finite rows, the memory
pool, out of memory, bounds checks, randint's full int64 range and the thread settings.  NumPy is the oracle.

Everything here talks to the cpu backend directly (``tensorswitch._cpu`` and ``tensorswitch.backends.cpu``) or through
the public API on ``device="cpu"``; nothing asserts on timings.
"""

import gc
import json
import os
import platform
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch import _cpu
from tensorswitch.backends import cpu as cpu_backend
from tensorswitch.dispatch.dtypes import DTYPES
from tensorswitch.dispatch.tensor import make_tensor

CODES = {d.name: d.code for d in DTYPES}
FLOATS = ["float16", "float32", "float64"]
INTEGERS = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
U64 = (1 << 64) - 1
X86_64 = platform.machine().lower() in ("x86_64", "amd64")


def cpu_tensor(host):
    return ts.asarray(np.ascontiguousarray(host), device="cpu")


def host(t):
    return np.asarray(t.numpy())


def raw_view(base, offset, shape, strides, dtype=None):
    """A tensor over ``base``'s buffer with any layout, right or wrong (see Note [Bounds checks])."""
    return make_tensor(base.buffer, offset, tuple(shape), tuple(strides), dtype or base.dtype, base.device)


def run_python(code, **env):
    """Run ``code`` in a fresh interpreter (settings read at import); returns its stdout."""
    full_env = dict(os.environ, **env)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture
def quiet_gc():
    """No garbage collection inside the test: the pool statistics then move only with what the test does."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# -- 1. float to integer casts (Note [Float to integer casts] in dispatch/dtypes.py) -------------------------------

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 0.4, -0.4, 0.5, -0.5, 0.99, -0.99, 1.0, -1.0, 1.5, -1.5, 2.5, 127.9,
           128.0, -128.5, -129.0, 255.9, 256.0, 300.7, -300.7, 32767.5, 32768.0, -32769.0, 65504.0, -65504.0,
           65535.9, 1e5, -1e5, 1e10, -1e10, -1.38e16, 1e18, 2.0 ** 31, -2.0 ** 31, 2.0 ** 31 - 0.5, -2.0 ** 31 - 0.5,
           2.0 ** 31 - 1, -2.0 ** 31 - 1, -2.0 ** 31 + 0.5, 2.0 ** 32, 2.0 ** 63, -2.0 ** 63, 2.0 ** 63 - 1024,
           -2.0 ** 63 - 2048, 9.2e18, -9.3e18, 1e19, 1e300, -1e300, 5e-324, 1e-30]


def rule(v, dst):
    """The cast rule in plain Python, value by value (what the lead writes down as the Note)."""
    v = float(v)
    if dst == "bool":
        return v != 0  # NaN != 0
    if dst == "uint64":  # from 2**63 up, int64(v - 2**63) with the top bit set; below, the int64 rule's bits
        return (rule(v - 2.0 ** 63, "int64") & U64) ^ (1 << 63) if v >= 2.0 ** 63 else rule(v, "int64") & U64
    bits = 64 if dst in ("int64", "uint32") else 32  # uint32 wraps the int64 result, the narrower ones the int32
    lo, hi = -(1 << (bits - 1)), 1 << (bits - 1)
    t = int(v) if np.isfinite(v) else None  # int() truncates
    i = t if t is not None and lo <= t < hi else lo
    return int(np.array(i, dtype=np.int64).astype(dst)) if dst != "int64" else i  # wrap to the width


def special_values(src):
    with np.errstate(over="ignore", invalid="ignore"):
        return np.array(SPECIAL, dtype=np.float64).astype(src)  # float16/float32 sources: what they can hold


def numpy_cast(x, dst):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if x.dtype.kind == "f" and np.dtype(dst) == np.uint32:  # NumPy's scalar path: Note [Float to integer casts]
            return np.array([v.astype(dst) for v in x.ravel()], dst).reshape(x.shape)
        return x.astype(dst)


@pytest.mark.parametrize("dst", INTEGERS)
@pytest.mark.parametrize("src", FLOATS)
def test_float_to_integer_cast_follows_the_rule(src, dst):
    x = special_values(src)
    got = host(ts.astype(cpu_tensor(x), dst))
    want = np.array([rule(v, dst) for v in x], dtype=dst)
    np.testing.assert_array_equal(got, want)
    if X86_64:  # the rule is NumPy's answer on x86-64
        np.testing.assert_array_equal(got, numpy_cast(x, dst))


@pytest.mark.parametrize("dst", INTEGERS)
@pytest.mark.parametrize("src", FLOATS)
def test_float_to_integer_cast_strided_and_long(src, dst):
    rng = np.random.default_rng(CODES[src] * 10 + CODES[dst])
    x = np.concatenate([special_values(src), rng.standard_normal(997) * 10.0 ** rng.integers(0, 20, 997)])
    x = rng.permutation(numpy_cast(x, src))  # long enough for the vector loop and its tail
    want = np.array([rule(v, dst) for v in x], dtype=dst)
    t = cpu_tensor(x)
    np.testing.assert_array_equal(host(ts.astype(t, dst)), want)
    np.testing.assert_array_equal(host(ts.astype(t[::3], dst)), want[::3])  # strided source
    rev = raw_view(t, x.size - 1, (x.size,), (-1,))
    np.testing.assert_array_equal(host(ts.astype(rev, dst)), want[::-1])  # negative stride
    if X86_64:
        np.testing.assert_array_equal(host(ts.astype(t[1::2], dst)), numpy_cast(x[1::2], dst))


def test_float_to_integer_cast_examples():
    def cast(values, src, dst):
        return host(ts.astype(cpu_tensor(np.array(values, dtype=src)), dst)).tolist()

    assert cast([300.7, 1e10, 65504.0, np.nan], "float64", "int8") == [44, 0, -32, 0]
    assert cast([-300.7, -1.0, -1.38e16, np.nan], "float64", "uint8") == [212, 255, 0, 0]
    assert cast([np.nan, np.inf, -np.inf, 2.0 ** 63, -2.0 ** 63], "float64", "int64") == [-2 ** 63] * 4 + [-2 ** 63]
    assert cast([2.0 ** 31 - 0.5, -2.0 ** 31 - 0.5, 2.0 ** 31], "float64", "int32") == [2 ** 31 - 1, -2 ** 31,
                                                                                        -2 ** 31]
    assert cast([np.nan, 0.0, -0.0, 0.5], "float32", "bool") == [True, False, False, True]
    assert cast([65504.0, np.inf, np.nan], "float16", "int16") == [-32, 0, 0]
    assert cast([65504.0, np.inf], "float16", "int64") == [65504, -2 ** 63]


def test_float_to_float_rounds_once():
    x = np.array([65519.999, 65520.0, 1.0000000596046448, -65519.999, 1e-8, 6e-8], dtype=np.float64)
    np.testing.assert_array_equal(host(ts.astype(cpu_tensor(x), "float16")), numpy_cast(x, np.float16))
    assert host(ts.astype(cpu_tensor(x[:1]), "float16")).tolist() == [65504.0]
    f = np.array([65519.996, 65520.0, 3.4e38], dtype=np.float32)
    np.testing.assert_array_equal(host(ts.astype(cpu_tensor(f), "float16")), numpy_cast(f, np.float16))


@pytest.mark.parametrize("dst", INTEGERS + FLOATS)
def test_fill_with_a_float_casts_like_astype(dst):
    for value in (0.5, -0.5, 300.7, -300.7, 1e10, -1.0, 2.0 ** 40):
        t = ts.zeros((5,), dtype=dst, device="cpu")
        cpu_backend.fill(t[1::2], value)  # strided, through the kernel itself
        want = np.zeros(5, dtype=dst)
        want[1::2] = numpy_cast(np.array([value]), dst)[0] if X86_64 or dst in FLOATS else rule(value, dst)
        np.testing.assert_array_equal(host(t), want)


def test_setitem_of_a_float_into_bool_is_nonzero():
    t = ts.zeros((3,), dtype="bool", device="cpu")
    t[0] = 0.5
    assert host(t).tolist() == [True, False, False]


# -- 2. softmax of non-finite rows (Note [Softmax of non-finite rows] in kernels/cpu/module.cpp) ------------------

ROWS = [[1.0, np.inf, 2.0], [np.nan, 1.0, 2.0], [-np.inf, -np.inf, -np.inf], [1.0, -np.inf, 2.0], [np.inf, np.inf,
        np.inf], [-np.inf, 0.0, -np.inf], [0.0, 0.0, 0.0], [-np.inf, np.inf, 0.0], [3.0, -1.0, 1e4]]


def softmax_ref(x, axis, log):
    """PyTorch's answer: a row holding NaN, with max +inf, or all -inf is NaN everywhere."""
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        m = np.max(x, axis=axis, keepdims=True)  # NaN propagates
        bad = ~np.isfinite(m)
        shifted = x - np.where(bad, 0.0, m)
        s = np.exp(shifted).sum(axis=axis, keepdims=True)
        out = shifted - np.log(s) if log else np.exp(shifted) / s
    return np.where(bad, np.nan, out)


def check_softmax(x, axis, log, dtype):
    f = ts.log_softmax if log else ts.softmax
    got = host(f(cpu_tensor(x.astype(dtype)), axis=axis)).astype(np.float64)
    want = softmax_ref(x.astype(dtype), axis, log)
    tol = {"float16": 2e-3, "float32": 2e-6, "float64": 1e-12}[dtype]
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * (20 if log else 1))


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_non_finite_rows(dtype, log):
    x = np.array(ROWS)
    check_softmax(x, -1, log, dtype)  # contiguous rows (inner == 1)
    check_softmax(np.ascontiguousarray(x.T), 0, log, dtype)  # along a non-last axis (inner > 1)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_non_finite_rows_parallel(dtype, log):
    rng = np.random.default_rng(7)
    x = np.tile(np.array(ROWS), (1500, 1))  # 13500 rows of 3: more than the grain, on the pool's threads
    x = x[rng.permutation(len(x))]
    check_softmax(x, -1, log, dtype)
    check_softmax(np.ascontiguousarray(x.T), 0, log, dtype)
    long_row = rng.standard_normal((2, 40000))
    long_row[0, 123] = np.inf
    long_row[1, 456] = -np.inf
    check_softmax(long_row, -1, log, dtype)


def test_softmax_all_nan_and_tiny_rows():
    # float32 softmax runs its own exp (exp_vec): NaN rows never reach it, exp(-1e30) is 0
    x = np.array([[np.nan] * 40, [0.0] * 39 + [-1e30]], dtype=np.float32)
    got = host(ts.softmax(cpu_tensor(x), axis=-1))
    assert np.isnan(got[0]).all()
    np.testing.assert_allclose(got[1, :39], 1 / 39, rtol=1e-6)
    assert got[1, 39] == 0


# -- 3. the memory pool (Note [CPU memory pool] in kernels/cpu/module.cpp) ----------------------------------------

STATS_KEYS = {"allocated_bytes", "peak_allocated_bytes", "cached_bytes", "cache_limit_bytes", "allocation_count",
              "cache_hits"}


def block_size(nbytes):
    """The size class of a request: header of 64 included, 64-byte steps to 4 KiB, then 4 per power of two."""
    n = nbytes + 64
    if n <= 4096:
        return -(-n // 64) * 64
    step = 1 << ((n - 1).bit_length() - 3)
    return -(-n // step) * step


@pytest.fixture
def cache_limit():
    old = _cpu.memory_stats()["cache_limit_bytes"]
    yield
    _cpu.set_cache_limit(old)


def test_memory_stats_keys_and_backend_hooks():
    stats = _cpu.memory_stats()
    assert set(stats) == STATS_KEYS
    assert all(isinstance(v, int) and v >= 0 for v in stats.values())
    assert set(cpu_backend.memory_stats()) == STATS_KEYS
    backend = ts.device("cpu").backend
    assert set(backend.memory_stats(0)) == STATS_KEYS
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert backend.memory_limit(0) == _cpu.memory_limit() == min(physical, cgroup_limit() or physical)
    backend.empty_cache(0)
    assert _cpu.memory_stats()["cached_bytes"] == 0


def test_size_classes_reuse_nearby_sizes(quiet_gc):
    _cpu.empty_cache()
    for first, second in [(1000, 1010), (1, 60), (4000, 4032), (5000, 4100), (100_000, 99_000),
                          (3 << 20, (3 << 20) + 1000)]:
        assert block_size(first) == block_size(second)
        before = _cpu.memory_stats()
        a = _cpu.allocate(first, 0)
        mid = _cpu.memory_stats()
        assert mid["allocated_bytes"] - before["allocated_bytes"] == block_size(first)
        assert mid["allocation_count"] == before["allocation_count"] + 1
        assert _cpu.size(a) == first
        address = _cpu.address(a)
        del a
        assert _cpu.memory_stats()["cached_bytes"] == block_size(first)
        b = _cpu.allocate(second, 0)  # the same class: the same block comes back
        after = _cpu.memory_stats()
        assert _cpu.address(b) == address and _cpu.size(b) == second
        assert after["cache_hits"] == before["cache_hits"] + 1
        assert after["cached_bytes"] == 0
        del b
        _cpu.empty_cache()
    assert block_size(5000) != block_size(6200)
    a = _cpu.allocate(5000, 0)
    del a
    hits = _cpu.memory_stats()["cache_hits"]
    b = _cpu.allocate(6200, 0)  # another class: no reuse
    assert _cpu.memory_stats()["cache_hits"] == hits
    del b


def test_cache_limit_evicts_least_recently_freed(quiet_gc, cache_limit):
    _cpu.empty_cache()
    size = block_size(2000)
    _cpu.set_cache_limit(4 * size)
    blocks = [_cpu.allocate(2000, 0) for _ in range(5)]
    addresses = [_cpu.address(b) for b in blocks]
    while blocks:
        blocks.pop(0)  # freed in order: the first freed is the least recent
    assert _cpu.memory_stats()["cached_bytes"] == 4 * size
    hits = _cpu.memory_stats()["cache_hits"]
    again = [_cpu.allocate(2000, 0) for _ in range(4)]
    assert [_cpu.address(b) for b in again] == addresses[:0:-1]  # most recently freed first; the first was evicted
    assert _cpu.memory_stats()["cache_hits"] == hits + 4
    del again
    big = _cpu.allocate(5 * size, 0)
    del big  # larger than the whole cap: straight back to the system
    assert _cpu.memory_stats()["cached_bytes"] == 4 * size
    _cpu.set_cache_limit(size)  # lowering the cap evicts now
    assert _cpu.memory_stats()["cached_bytes"] == size
    _cpu.set_cache_limit(0)
    assert _cpu.memory_stats()["cached_bytes"] == 0
    x = _cpu.allocate(10, 0)
    del x
    assert _cpu.memory_stats()["cached_bytes"] == 0  # nothing is cached under a cap of 0
    with pytest.raises(ValueError):
        _cpu.set_cache_limit(-1)


def test_memory_is_released_after_tensors_go(quiet_gc):
    _cpu.empty_cache()
    start = _cpu.memory_stats()["allocated_bytes"]
    tensors = [ts.ones((1 << 16,), device="cpu") + i for i in range(64)]  # 64 x 256 KiB
    assert _cpu.memory_stats()["allocated_bytes"] >= start + 64 * (1 << 18)
    del tensors
    stats = _cpu.memory_stats()
    assert stats["allocated_bytes"] <= start + (1 << 20)
    assert stats["cached_bytes"] <= stats["cache_limit_bytes"]
    cpu_backend.empty_cache()
    assert _cpu.memory_stats()["cached_bytes"] == 0


@pytest.mark.skipif(sys.platform != "linux", reason="huge pages are advised on Linux")
def test_large_blocks_start_on_a_huge_page(quiet_gc):
    """Note [CPU memory pool], huge pages: a block of 4 MiB or more starts on a 2 MiB boundary (its header, then the
    data) so that madvise can back it by transparent huge pages; smaller blocks keep 64-byte alignment.  Values
    and the pool's statistics are those of any block."""
    _cpu.empty_cache()
    big, small = ts.ones(1 << 20), ts.ones(1000)  # 4 MiB + the header; 4000 bytes
    start = np.from_dlpack(big).ctypes.data - 64
    assert start % (2 << 20) == 0
    assert np.from_dlpack(small).ctypes.data % 64 == 0
    np.testing.assert_array_equal(np.from_dlpack(big + big), np.full(1 << 20, 2, np.float32))
    assert _cpu.memory_stats()["allocated_bytes"] >= block_size(1 << 22)


def test_peak_and_reset(quiet_gc):
    _cpu.reset_peak_memory_stats()
    base = _cpu.memory_stats()
    assert base["peak_allocated_bytes"] == base["allocated_bytes"]
    a = _cpu.allocate(1 << 20, 0)
    del a
    stats = _cpu.memory_stats()
    assert stats["peak_allocated_bytes"] == base["allocated_bytes"] + block_size(1 << 20)
    assert stats["allocated_bytes"] == base["allocated_bytes"]
    _cpu.reset_peak_memory_stats()
    assert _cpu.memory_stats()["peak_allocated_bytes"] == base["allocated_bytes"]


def test_pool_from_many_threads():
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        live = []
        try:
            for i in range(400):
                n = int(rng.integers(1, 20000))
                pattern = np.full(n, (seed * 7 + i) % 256, dtype=np.uint8)
                h = _cpu.allocate(n, 0)
                _cpu.copy_in(h, 0, pattern)
                live.append((h, pattern))
                if len(live) > 8 or rng.random() < 0.3:
                    h, p = live.pop(int(rng.integers(len(live))))
                    out = np.empty_like(p)
                    _cpu.copy_out(h, 0, out)
                    if not np.array_equal(out, p):
                        errors.append("a block was shared between two live buffers")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_cache_limit_from_the_environment():
    out = run_python("from tensorswitch import _cpu; print(_cpu.memory_stats()['cache_limit_bytes'])",
                     TENSORSWITCH_CPU_CACHE_LIMIT="12345")
    assert int(out) == 12345
    out = run_python("import warnings\n"
                     "with warnings.catch_warnings(record=True) as seen:\n"
                     "    warnings.simplefilter('always')\n"
                     "    from tensorswitch import _cpu\n"
                     "print(_cpu.memory_stats()['cache_limit_bytes'], [str(w.message) for w in seen])",
                     TENSORSWITCH_CPU_CACHE_LIMIT="lots")
    assert out.startswith(str(256 << 20)) and "TENSORSWITCH_CPU_CACHE_LIMIT=lots" in out  # ignored, with a warning


# -- 4. out of memory -------------------------------------------------------------------------------------------

def test_allocate_larger_than_the_machine_raises_memory_error():
    before = _cpu.memory_stats()["allocated_bytes"]
    limit = _cpu.memory_limit()
    for n in (limit + 1, 2 ** 63 - 10, 2 ** 63 - 1):
        with pytest.raises(MemoryError, match=str(n)):
            _cpu.allocate(n, 0)
        with pytest.raises(MemoryError, match=str(n)):
            ts.device("cpu").backend.allocate(n, 0)
    for n in (2 ** 63, 2 ** 64, 2 ** 100):
        with pytest.raises(OverflowError):
            _cpu.allocate(n, 0)
    with pytest.raises(ValueError):
        _cpu.allocate(-1, 0)
    with pytest.raises(TypeError):
        _cpu.allocate(1.5, 0)
    assert _cpu.memory_stats()["allocated_bytes"] == before
    assert host(ts.ones((3,), device="cpu") + 1).tolist() == [2.0, 2.0, 2.0]  # the process keeps working


OOM_CHILD = r"""
import json, resource
import tensorswitch as ts
from tensorswitch import _cpu
MiB = 1 << 20
_cpu.set_cache_limit(1 << 40)
ts.ones((4,), device="cpu").sum().item()  # the backend and its BLAS are loaded before the limit
_cpu.empty_cache()
vm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize")) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + 700 * MiB, resource.getrlimit(resource.RLIMIT_AS)[1]))
out = {}
a = _cpu.allocate(400 * MiB, 0)
del a                                    # cached: a 448 MiB block
out["cached"] = _cpu.memory_stats()["cached_bytes"]
b = _cpu.allocate(300 * MiB, 0)          # 320 MiB more does not fit beside it: release under pressure, then retry
out["after_retry"] = _cpu.memory_stats()["cached_bytes"]
try:
    _cpu.allocate(600 * MiB, 0)          # does not fit even with the cache empty
except MemoryError as exc:
    out["error"] = str(exc)
del b
out["works"] = (ts.ones((1000,), device="cpu") * 2).sum().item()
c = _cpu.allocate(600 * MiB, 0)
out["big_after"] = _cpu.size(c)
print(json.dumps(out))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs RLIMIT_AS and /proc")
def test_system_allocator_failure_releases_the_cache_then_raises():
    out = json.loads(run_python(OOM_CHILD, OMP_NUM_THREADS="1"))
    assert out["cached"] == 448 << 20
    assert out["after_retry"] == 0
    assert str(600 << 20) in out["error"]
    assert out["works"] == 2000.0
    assert out["big_after"] == 600 << 20


# What the process can really get ("available" in Note [CPU memory pool]), read here independently of the C++ code.

def meminfo_available():
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        return None


def cgroup_dirs():
    """[(folder, version)]: this process's memory cgroup and its ancestors that have a limit file."""
    found = []
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return found
    for line in lines:
        hierarchy, controllers, path = line.split(":", 2)
        if hierarchy == "0" and controllers == "":
            if not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
                continue
            mount, version, limit = "/sys/fs/cgroup", 2, "memory.max"
        elif "memory" in controllers.split(","):
            mount, version, limit = "/sys/fs/cgroup/memory", 1, "memory.limit_in_bytes"
        else:
            continue
        path = "" if path == "/" else path
        while True:
            if os.access(f"{mount}{path}/{limit}", os.R_OK):
                found.append((mount + path, version))
            if not path:
                break
            path = path[:path.rindex("/")]
    return found


def cgroup_limit():
    limits = []
    for folder, version in cgroup_dirs():
        with open(f"{folder}/{'memory.max' if version == 2 else 'memory.limit_in_bytes'}") as f:
            text = f.read().strip()
        if text.isdigit() and int(text) < 2 ** 62:  # "max" (v2) and 2**63 - 4096 (v1) mean no limit
            limits.append(int(text))
    return min(limits, default=None)


@pytest.fixture
def available_override():
    yield _cpu._set_available_override
    _cpu._set_available_override(None)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and /sys/fs/cgroup")
def test_available_memory_is_read_sanely():
    dirs, lowest, room, _ = _cpu._cgroup_memory()
    assert dirs == cgroup_dirs() and lowest == cgroup_limit()
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    limit = cgroup_limit()
    assert _cpu.memory_limit() == min(physical, limit or physical)
    available, source = _cpu._available_memory()
    assert available is not None and 0 <= available <= physical
    if limit is not None:
        assert available <= limit
    mem = meminfo_available()
    if mem is not None:
        assert available <= mem + (256 << 20)  # MemAvailable moves with the rest of the machine between the reads
        if "MemAvailable" in source:
            assert abs(available - mem) <= 256 << 20
    else:
        assert "cgroup" in source
    if room is not None:
        assert available <= room + (256 << 20)


def write_files(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_cgroup_limits_are_read_from_v2_and_v1_trees(tmp_path):
    """Made-up cgroup trees (this machine may have no limit): each ancestor's limit applies, "max" and v1's
    2**63 - 4096 mean none, inactive page cache is not counted as used, and a container's own root counts."""
    MiB = 1 << 20
    listing = tmp_path / "cgroup"
    listing.write_text("0::/jobs/job1\n")
    v2 = tmp_path / "v2"
    write_files(v2, {"cgroup.controllers": "cpu memory\n",
                     "jobs/memory.max": f"{2048 * MiB}\n", "jobs/memory.current": f"{1024 * MiB}\n",
                     "jobs/memory.stat": "anon 1\ninactive_file 0\n",
                     "jobs/job1/memory.max": "max\n", "jobs/job1/memory.current": f"{900 * MiB}\n",
                     "jobs/job1/memory.stat": f"anon 5\nactive_file 7\ninactive_file {100 * MiB}\n"})
    dirs, lowest, room, source = _cpu._cgroup_memory(str(listing), str(v2))
    assert dirs == [(f"{v2}/jobs/job1", 2), (f"{v2}/jobs", 2)]  # the root has no memory.max: not listed
    assert lowest == 2048 * MiB and room == 1024 * MiB and f"{v2}/jobs" in source
    write_files(v2, {"jobs/job1/memory.max": f"{1000 * MiB}\n"})
    dirs, lowest, room, source = _cpu._cgroup_memory(str(listing), str(v2))
    assert lowest == 1000 * MiB and room == (1000 - 800) * MiB
    assert source.startswith(f"the memory limit of cgroup {v2}/jobs/job1 ")
    write_files(v2, {"jobs/job1/memory.current": f"{5000 * MiB}\n"})  # over the limit: no room at all, not a wrap
    assert _cpu._cgroup_memory(str(listing), str(v2))[2] == 0

    listing.write_text("12:pids:/x\n4:cpu,memory:/docker/abc\n0::/\n")  # v1 (and no v2 mount under this root)
    v1 = tmp_path / "v1"
    write_files(v1, {"memory/memory.limit_in_bytes": "9223372036854771712\n",
                     "memory/memory.usage_in_bytes": "5\n",
                     "memory/docker/abc/memory.limit_in_bytes": f"{512 * MiB}\n",
                     "memory/docker/abc/memory.usage_in_bytes": f"{500 * MiB}\n",
                     "memory/docker/abc/memory.stat": f"inactive_file 1\ntotal_inactive_file {200 * MiB}\n"})
    dirs, lowest, room, _ = _cpu._cgroup_memory(str(listing), str(v1))
    assert dirs == [(f"{v1}/memory/docker/abc", 1), (f"{v1}/memory", 1)]  # docker/ has no limit file of its own
    assert lowest == 512 * MiB and room == (512 - 300) * MiB
    listing.write_text("4:memory:/not/here\n")  # a container without a cgroup namespace: only the mount's root
    write_files(v1, {"memory/memory.limit_in_bytes": f"{256 * MiB}\n",
                     "memory/memory.usage_in_bytes": f"{6 * MiB}\n"})
    assert _cpu._cgroup_memory(str(listing), str(v1))[:3] == ([(f"{v1}/memory", 1)], 256 * MiB, 250 * MiB)
    assert _cpu._cgroup_memory(str(tmp_path / "absent"), str(v1))[:3] == ([], None, None)


def test_a_large_request_beyond_what_is_available_raises(quiet_gc, available_override):
    """The OOM killer, not a MemoryError, used to meet a request that fits physical memory but not what is free:
    here only 300 MiB are said to be available (no large allocation is made)."""
    MiB = 1 << 20
    _cpu.empty_cache()
    small = _cpu.allocate(MiB, 0)
    del small  # a cached block, which the refusal releases first
    assert _cpu.memory_stats()["cached_bytes"] > 0
    available_override(300 * MiB)
    before = _cpu.memory_stats()
    with pytest.raises(MemoryError) as info:
        _cpu.allocate(512 * MiB, 0)
    text = str(info.value)
    assert str(512 * MiB) in text and str(300 * MiB) in text and "available" in text, text
    after = _cpu.memory_stats()
    assert after["cached_bytes"] == 0
    assert after["allocated_bytes"] == before["allocated_bytes"]
    assert after["allocation_count"] == before["allocation_count"]
    with pytest.raises(ts.OutOfMemoryError) as info:  # through the public API: the core's error naming the device
        ts.empty((128 * MiB,), dtype="float32", device="cpu")
    assert "cpu" in str(info.value) and "available" in str(info.value)
    assert _cpu.size(_cpu.allocate(MiB, 0)) == MiB  # small requests keep the fast path, and work
    assert host(ts.ones((1000,), device="cpu") * 2).sum() == 2000.0
    available_override(600 * MiB)
    big = _cpu.allocate(300 * MiB, 0)  # checked, and it fits: virtual memory only, its pages are never touched
    assert _cpu.size(big) == 300 * MiB
    del big
    with pytest.raises(ValueError):
        available_override(-1)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and /sys/fs/cgroup")
def test_available_bytes_from_the_environment():
    code = ("from tensorswitch import _cpu\n"
            "try:\n"
            "    _cpu.allocate(512 << 20, 0)\n"
            "except MemoryError as exc:\n"
            "    print(_cpu._available_memory(), exc)\n")
    out = run_python(code, TENSORSWITCH_CPU_AVAILABLE_BYTES=str(300 << 20))
    assert out.startswith(f"({300 << 20}, 'TENSORSWITCH_CPU_AVAILABLE_BYTES')") and str(512 << 20) in out, out
    out = run_python("import warnings\n"
                     "with warnings.catch_warnings(record=True) as seen:\n"
                     "    warnings.simplefilter('always')\n"
                     "    from tensorswitch import _cpu\n"
                     "print(_cpu._available_memory()[1], [str(w.message) for w in seen])",
                     TENSORSWITCH_CPU_AVAILABLE_BYTES="lots")
    assert "TENSORSWITCH_CPU_AVAILABLE_BYTES=lots" in out and "TENSORSWITCH_CPU_AVAILABLE_BYTES'" not in out


# -- 5. bounds checks (Note [Bounds checks] in kernels/cpu/module.cpp) --------------------------------------------

def base_tensor(n=8, dtype="float32"):
    return cpu_tensor(np.arange(n).astype(dtype))


# (offset, shape, strides) over a buffer of 8 elements
BAD_LAYOUTS = [(1, (8,), (1,)), (-1, (2,), (1,)), (0, (5,), (2,)), (2, (4,), (-1,)), (0, (2, 3), (0, 4)),
               (8, (), ()), (-1, (), ()), (0, (4,), (2 ** 62,)), (2 ** 62, (1,), (1,)), (3, (2, 2), (-4, 1)),
               (0, (3,), (-2 ** 63 + 1,))]
GOOD_LAYOUTS = [(7, (8,), (-1,)), (1, (2, 2), (0, 6)), (7, (), ()), (100, (0,), (1,)), (-50, (3, 0), (1, 1)),
                (4, (2, 2), (-4, 3))]


def layout_id(layout):
    return f"off{layout[0]}-shape{layout[1]}-strides{layout[2]}"


@pytest.mark.parametrize("layout", BAD_LAYOUTS, ids=layout_id)
def test_bad_layouts_raise_index_error(layout):
    base = base_tensor()
    t = raw_view(base, *layout)
    ops = {
        "add": lambda: ts.add(t, 1),
        "add tensors": lambda: ts.add(t, t),
        "exp": lambda: ts.exp(t),
        "astype": lambda: ts.astype(t, "int32"),
        "sum": lambda: ts.sum(t),
        "where": lambda: ts.where(ts.zeros(t.shape, dtype="bool", device="cpu"), t, t),
        "fill": lambda: cpu_backend.fill(t, 1.0),
        "unary out": lambda: cpu_backend._unary(_cpu.unary_ops.index("exp"), 7, 7, _cpu.unary_contig)(
            t, ts.ones(t.shape, device="cpu")),
        "binary out": lambda: cpu_backend._binary(_cpu.binary_ops.index("add"), 7, 7, _cpu.binary_contig)(
            t, ts.ones(t.shape, device="cpu"), ts.ones(t.shape, device="cpu")),
    }
    for name, op in ops.items():
        with pytest.raises(IndexError):
            op()
    assert host(base).tolist() == list(range(8))  # nothing was written


@pytest.mark.parametrize("layout", GOOD_LAYOUTS, ids=layout_id)
def test_edge_layouts_inside_the_buffer_work(layout):
    base = base_tensor()
    offset, shape, strides = layout
    t = raw_view(base, *layout)
    if 0 in shape:
        assert ts.add(t, 1).shape == shape
        return
    index = np.full(shape, offset)
    for d, (n, s) in enumerate(zip(shape, strides)):
        index = index + np.arange(n).reshape([-1 if i == d else 1 for i in range(len(shape))]) * s
    want = np.arange(8, dtype=np.float32)[index]
    np.testing.assert_array_equal(host(ts.add(t, 1)), want + 1)
    np.testing.assert_allclose(host(ts.exp(t)), np.exp(want), rtol=1e-6)
    np.testing.assert_array_equal(host(ts.astype(t, "int32")), want.astype(np.int32))
    assert ts.sum(t).item() == want.sum()


def test_bad_layouts_in_matmul_softmax_and_reductions():
    base = base_tensor(12)
    good = raw_view(base, 0, (3, 4), (4, 1))
    for bad in (raw_view(base, 1, (3, 4), (4, 1)), raw_view(base, 0, (4, 3), (1, 5)), raw_view(base, 0, (2, 3, 2),
                (7, 2, 1)), raw_view(base, 0, (3, 4), (-4, 1))):
        with pytest.raises(IndexError):
            ts.sum(bad, axis=-1)
        with pytest.raises(IndexError):
            ts.max(bad)
        with pytest.raises(IndexError):
            ts.softmax(bad, axis=-1)
    with pytest.raises(IndexError):
        ts.matmul(raw_view(base, 2, (3, 4), (4, 1)), raw_view(base, 0, (4, 2), (2, 1)))
    with pytest.raises(IndexError):  # a batch stride past the end
        ts.matmul(raw_view(base, 0, (2, 2, 2), (9, 2, 1)), raw_view(base, 0, (2, 2), (2, 1)))
    np.testing.assert_allclose(host(ts.softmax(good, axis=-1)), softmax_ref(np.arange(12.0).reshape(3, 4), -1, False),
                               rtol=1e-6)


def test_entry_points_check_their_operands():
    h = _cpu.allocate(32, 0)  # 8 float32, 4 float64
    add, exp = _cpu.binary_ops.index("add"), _cpu.unary_ops.index("exp")
    f32, f64, i8 = CODES["float32"], CODES["float64"], CODES["int8"]
    bad_calls = [
        lambda: _cpu.binary_contig(add, f32, f32, 9, h, 0, h, 0, h, 0),
        lambda: _cpu.binary_contig(add, f32, f32, 8, h, 0, h, 1, h, 0),
        lambda: _cpu.binary_contig(add, f32, f32, 1, h, -1, h, 0, h, 0),
        lambda: _cpu.binary_contig(add, f64, f64, 5, h, 0, h, 0, h, 0),
        lambda: _cpu.binary_contig(add, f32, f32, -1, h, 0, h, 0, h, 0),
        lambda: _cpu.binary_contig(add, f32, f32, 2, h, 2 ** 62, h, 0, h, 0),
        lambda: _cpu.unary_contig(exp, f32, f32, 8, h, 1, h, 0),
        lambda: _cpu.binary_flat(add, f32, f32, 8, h, 0, h, 0, 1, h, 8, 0),
        lambda: _cpu.binary_flat(add, f32, f32, 8, h, 0, h, 0, 2, h, 0, 0),
        lambda: _cpu.arange(f32, 9, h, 0, 0.0, 1.0, 0, 0),
        lambda: _cpu.arange(f64, 2, h, 3, 0.0, 1.0, 0, 0),
        lambda: _cpu.random("rand", f32, 8, h, 1, 0, 0, 0, 1),
        lambda: _cpu.random("randint", CODES["int64"], 5, h, 0, 0, 0, 0, 10),
        lambda: _cpu.fill(f32, [3], h, 6, [1], 1.0, 0, True, 0.0),
        lambda: _cpu.softmax(False, f32, h, 0, h, 0, 3, 3, 1),
        lambda: _cpu.softmax(False, f32, h, 1, h, 0, 1, 8, 1),
        lambda: _cpu.reduce("sum", f32, h, 0, [2], [4], [5], [1], h, 0, f32),
        lambda: _cpu.reduce("sum", f32, h, 0, [9], [1], [1], [1], h, 0, f32),
        lambda: _cpu.matmul(f32, [2], h, 0, h, 0, [6], 2, 1, h, 0, [0], 2, 1, 2, 2, 2),
        lambda: _cpu.matmul(f32, [], h, 0, h, 0, [], 2, 1, h, 0, [], 2, 1, 5, 2, 2),
        lambda: _cpu.matmul(f32, [], h, 0, h, 0, [], 2, 1, h, 0, [], 2, 1, -1, 2, 2),
        lambda: _cpu.unary(exp, f32, f32, [-1], h, 0, [1], h, 0, [1]),
        lambda: _cpu.where(f32, [3], h, 0, [1], h, 30, [1], h, 0, [1], h, 0, [1]),
        lambda: _cpu.astype(f32, f64, [4], h, 1, [1], h, 0, [1]),
        lambda: _cpu.copy_in(h, 30, np.zeros(4, np.uint8)),
        lambda: _cpu.copy_out(h, 2 ** 64 - 1, np.zeros(4, np.uint8)),
        lambda: _cpu.copy_between(h, 0, h, 16, 17),
    ]
    for call in bad_calls:
        with pytest.raises(IndexError):
            call()
    # dtype codes that do not match what the loop writes: ValueError, before anything is touched
    for call in (lambda: _cpu.binary_contig(add, f32, i8, 8, h, 0, h, 0, h, 0),
                 lambda: _cpu.unary_contig(exp, f32, f64, 4, h, 0, h, 0),
                 lambda: _cpu.binary_contig(add, 99, f32, 1, h, 0, h, 0, h, 0),
                 lambda: _cpu.reduce("sum", f32, h, 0, [], [], [8], [1], h, 0, i8),
                 lambda: _cpu.binary(add, f32, f32, [2], h, 0, [1, 1], h, 0, [1], h, 0, [1])):
        with pytest.raises(ValueError):
            call()
    # right at the end of the buffer is fine
    _cpu.binary_contig(add, f32, f32, 8, h, 0, h, 0, h, 0)
    _cpu.binary_contig(add, f32, f32, 0, h, 1000, h, -5, h, 0)  # nothing touched
    _cpu.arange(f64, 4, h, 0, 0.0, 1.0, 0, 0)
    out = np.empty(4, np.float64)
    _cpu.copy_out(h, 0, out)
    assert out.tolist() == [0.0, 1.0, 2.0, 3.0]


# -- 6. randint over the whole int64 range (Note [Random numbers] in dispatch/registry.py) ------------------------

def philox(seed, i, offset):
    """Philox4x32-10 as Note [Random numbers] defines it, in Python integers."""
    k0, k1 = seed & 0xFFFFFFFF, seed >> 32
    c = [i & 0xFFFFFFFF, i >> 32, offset & 0xFFFFFFFF, offset >> 32]
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 & 0xFFFFFFFF, (p0 >> 32) ^ c[3] ^ k1, p0 & 0xFFFFFFFF]
    return c


def randint_ref(seed, offset, n, low, high, dtype):
    span = (high - low) % (1 << 64)
    vals = []
    for i in range(n):
        x = philox(seed, i, offset)
        bits = (x[1] << 32) | x[0]
        vals.append((low + (bits % span if span else bits)) & U64)
    return np.array(vals, dtype=np.uint64).astype(dtype)  # low bits, as the kernel's cast


def draw(dtype, n, seed, offset, low, high):
    """The randint kernel itself, with its Python adapter."""
    out = ts.empty((n,), dtype=dtype, device="cpu")
    cpu_backend._random("randint")(out, seed, offset, low, high)
    return host(out)


def test_randint_values_are_unchanged_for_ordinary_ranges():
    # drawn with the kernel before this change (it took low and high as int64)
    assert draw("int32", 8, 1234, 5, -3, 10).tolist() == [5, 0, -1, -1, 9, 1, 1, 5]
    assert draw("int64", 6, 2 ** 64 - 1, 2 ** 40 + 7, -(2 ** 62), 2 ** 62).tolist() == [
        -4118249667774005612, -2117977611774447443, -2754526446456171893, 4440302230996190975, 1134880291546794602,
        805755308259103152]
    assert draw("uint8", 8, 0, 0, 0, 256).tolist() == [213, 164, 41, 41, 84, 251, 248, 49]
    assert draw("int8", 8, 99, 1, -128, 128).tolist() == [-2, -7, 14, -73, 52, 89, -48, 5]


@pytest.mark.parametrize("low,high,dtype", [(0, 2 ** 63, "int64"), (-2 ** 63, 2 ** 63, "int64"),
                                            (-2 ** 63, 0, "int64"), (-2 ** 63, -2 ** 63 + 1, "int64"),
                                            (2 ** 63 - 2, 2 ** 63, "int64"), (-5, 5, "int8"), (0, 256, "uint8"),
                                            (-2 ** 31, 2 ** 31, "int32"), (7, 8, "int16")])
def test_randint_full_ranges(low, high, dtype):
    g = ts.generator("cpu")
    seed, offset = g.seed, g.offset
    got = host(ts.randint(low, high, size=(257,), dtype=dtype, device="cpu"))
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, randint_ref(seed & U64, offset, 257, low, high, dtype))
    assert got.min() >= low and got.max() < high
    np.testing.assert_array_equal(draw(dtype, 33, 5, 9, low, high), randint_ref(5, 9, 33, low, high, dtype))


def test_randint_spreads_over_the_whole_int64_range():
    got = host(ts.randint(-2 ** 63, 2 ** 63, size=(4096,), dtype="int64", device="cpu"))
    assert (got < -2 ** 62).any() and (got > 2 ** 62).any()
    got = host(ts.randint(0, 2 ** 63, size=(4096,), dtype="int64", device="cpu"))
    assert got.min() >= 0 and (got > 2 ** 62).any()


# -- 7. threads and grain --------------------------------------------------------------------------------------------

# restore_threads: tests/conftest.py

def test_num_threads_round_trip(restore_threads):
    cpu_backend.set_num_threads(1)
    assert cpu_backend.get_num_threads() == _cpu.get_num_threads() == 1
    cpu_backend.set_num_threads(3)
    assert cpu_backend.get_num_threads() == 3
    seen = []
    t = threading.Thread(target=lambda: seen.append(cpu_backend.get_num_threads()))  # one setting for every thread
    t.start()
    t.join()
    assert seen == [3]
    with pytest.raises(ValueError, match="set_num_threads"):
        cpu_backend.set_num_threads(0)
    with pytest.raises(ValueError):
        _cpu.set_grain(0)
    _cpu.set_grain(1000)
    assert _cpu.get_grain() == 1000


class Index:
    def __index__(self):
        return 2


def test_num_threads_checks_its_argument(restore_threads):
    """set_num_threads(65536) then a kernel segfaulted, 32768 made libgomp abort the process, 2**64 gave pybind's
    dump, and 1.5 or True were taken.  Only settings are made here: no kernel runs on many threads."""
    limit = _cpu.thread_limit()
    assert limit == max(256, 4 * os.cpu_count()) == cpu_backend.thread_limit()
    cpu_backend.set_num_threads(2)
    for setter in (cpu_backend.set_num_threads, _cpu.set_num_threads, ts.set_num_threads):
        for n in (limit + 1, 32768, 65536, 2 ** 31, 2 ** 63, 2 ** 64, 2 ** 100, 0, -1, -2 ** 64):
            with pytest.raises(ValueError, match="set_num_threads") as info:
                setter(n)
            assert str(limit) in str(info.value) or "at least 1" in str(info.value)
            assert _cpu.get_num_threads() == 2
    for setter in (cpu_backend.set_num_threads, _cpu.set_num_threads):
        for n in (1.5, 2.0, "a", "4", None, [2], True, False, np.float64(2), np.True_):
            with pytest.raises(TypeError, match="set_num_threads: n must be an int"):
                setter(n)
            assert _cpu.get_num_threads() == 2
    cpu_backend.set_num_threads(np.int64(3))
    assert _cpu.get_num_threads() == 3
    cpu_backend.set_num_threads(Index())
    assert _cpu.get_num_threads() == 2
    _cpu.set_num_threads(limit)  # the cap itself is accepted (the C++ module only: no BLAS threads are started)
    assert _cpu.get_num_threads() == limit
    _cpu.set_num_threads(2)


@pytest.mark.parametrize("threads", [1, 2, 4])
@pytest.mark.parametrize("grain", [1, 32768])
def test_results_do_not_depend_on_threads_or_grain(restore_threads, threads, grain):
    _cpu.set_num_threads(threads)
    _cpu.set_grain(grain)
    rng = np.random.default_rng(threads)
    x = rng.standard_normal((300, 257))
    t = cpu_tensor(x)
    np.testing.assert_allclose(host(ts.sum(t, axis=1)), x.sum(axis=1), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ts.sum(t).item(), x.sum(), rtol=1e-10, atol=1e-9)
    assert ts.argmax(t).item() == x.argmax()
    np.testing.assert_allclose(host(ts.softmax(t, axis=0)), softmax_ref(x, 0, False), rtol=1e-12)
    np.testing.assert_allclose(host(ts.matmul(t, t.T)), x @ x.T, rtol=1e-10, atol=1e-9)
    np.testing.assert_array_equal(host(ts.astype(t * 1e9, "int32")), numpy_cast(x * 1e9, np.int32) if X86_64 else
                                  np.array([rule(v, "int32") for v in (x * 1e9).ravel()]).reshape(x.shape))
    np.testing.assert_allclose(host(ts.exp(t[::2, 1::3])), np.exp(x[::2, 1::3]), rtol=1e-14)


def test_thread_and_grain_settings_from_the_environment():
    code = "from tensorswitch import _cpu; print(_cpu.get_num_threads(), _cpu.get_grain())"
    assert run_python(code, OMP_NUM_THREADS="1", TENSORSWITCH_CPU_GRAIN="1000").split() == ["1", "1000"]
    assert run_python(code, OMP_NUM_THREADS="3").split() == ["3", "32768"]
    out = run_python("import warnings\n"
                     "with warnings.catch_warnings(record=True) as seen:\n"
                     "    warnings.simplefilter('always')\n"
                     "    from tensorswitch import _cpu\n"
                     "print(_cpu.get_grain(), [str(w.message) for w in seen if w.category is RuntimeWarning])",
                     TENSORSWITCH_CPU_GRAIN="0")
    assert out.startswith("32768") and "TENSORSWITCH_CPU_GRAIN=0" in out
    out = run_python("import warnings\n"  # more than thread_limit(): capped, with a warning (no kernel runs)
                     "with warnings.catch_warnings(record=True) as seen:\n"
                     "    warnings.simplefilter('always')\n"
                     "    from tensorswitch import _cpu\n"
                     "print(_cpu.get_num_threads(), _cpu.thread_limit(), [str(w.message) for w in seen])",
                     OMP_NUM_THREADS="100000", OPENBLAS_NUM_THREADS="1")
    threads, limit = out.split()[:2]
    assert threads == limit and "OMP_NUM_THREADS asks for 100000 threads" in out, out
