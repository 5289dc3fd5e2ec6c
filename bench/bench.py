"""tensorswitch against NumPy, PyTorch (CPU) and a raw PyOpenCL kernel, side by side in one run.

    python bench/bench.py [--quick] [--markdown]

Prints one table (the README's) and the issue's targets as ratios measured in this same run.  Each figure is the
best of several timed repetitions after a warm-up (the machine's other load only ever adds time, so the minimum is the
steadiest estimate, as Python's timeit advises); OpenCL timings include waiting for the device.
"""

import argparse
import time

import numpy as np

import tensorswitch as ts

try:
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
except ImportError:
    torch = None

try:
    import pyopencl as cl
    import pyopencl.array as cla
except ImportError:
    cl = None


def timeit(fn, sync=None, reps=7, inner=1, min_time=0.05):
    """Best seconds per call of ``fn`` over ``reps`` repetitions (``inner`` calls per timed repetition)."""
    fn()
    if sync:
        sync()
    while True:  # grow ``inner`` until one repetition takes long enough to time
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        if sync:
            sync()
        if time.perf_counter() - t0 >= min_time or inner >= 1 << 20:
            break
        inner *= 4
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        if sync:
            sync()
        times.append((time.perf_counter() - t0) / inner)
    return min(times)


class RawOpenCL:
    """The baseline a hand-written PyOpenCL program reaches: a cached kernel into a preallocated buffer."""

    def __init__(self):
        self.ctx = cl.Context([cl.get_platforms()[0].get_devices()[0]])  # opencl:0, as tensorswitch numbers them
        self.queue = cl.CommandQueue(self.ctx)
        prg = cl.Program(self.ctx, """
            __kernel void add(__global const float* a, __global const float* b, __global float* c) {
                size_t i = get_global_id(0); c[i] = a[i] + b[i]; }
            __kernel void partial_sums(__global const float* a, __global float* out, long n, long chunk) {
                long i = get_global_id(0), end = min(n, (i + 1) * chunk);
                float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                long j = i * chunk;
                for (; j + 4 <= end; j += 4) { s0 += a[j]; s1 += a[j + 1]; s2 += a[j + 2]; s3 += a[j + 3]; }
                for (; j < end; ++j) s0 += a[j];
                out[i] = (s0 + s1) + (s2 + s3); }""").build()
        self.kernel = prg.add  # read once: every attribute read builds a new kernel object
        self.partial = prg.partial_sums

    def add(self, n):
        a = cla.to_device(self.queue, np.ones(n, np.float32))
        b = cla.to_device(self.queue, np.ones(n, np.float32))
        c = cla.empty(self.queue, n, np.float32)
        self.kernel.set_args(a.data, b.data, c.data)

        def run(keep=(a, b, c)):  # the buffers must outlive the kernel's arguments
            cl.enqueue_nd_range_kernel(self.queue, self.kernel, (n,), None)

        return run, self.queue.finish

    def sum(self, n, groups=256):
        """Partial sums on the device, the last 256 added on the host: a typical hand-written reduction."""
        a = cla.to_device(self.queue, np.ones(n, np.float32))
        partial = cla.empty(self.queue, groups, np.float32)
        host = np.empty(groups, np.float32)
        chunk = -(-n // groups)
        self.partial.set_args(a.data, partial.data, np.int64(n), np.int64(chunk))

        def run(keep=(a, partial)):
            cl.enqueue_nd_range_kernel(self.queue, self.partial, (groups,), None)
            cl.enqueue_copy(self.queue, host, partial.data)
            return host.sum(dtype=np.float64)

        return run, self.queue.finish


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller repetitions (for a smoke run)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    reps = 3 if args.quick else 7
    n_big = 10_000_000
    rows = []  # (benchmark, unit, {column: value})

    def ts_case(device, make):
        fn = make(device)
        dev = ts.device(device)
        return timeit(fn, dev.synchronize, reps)

    # add on 10 elements: latency
    lat = {}
    a, b = ts.ones(10), ts.ones(10)
    lat["tensorswitch cpu"] = timeit(lambda: a + b, reps=reps) * 1e6
    na = np.ones(10, np.float32)
    lat["NumPy"] = timeit(lambda: na + na, reps=reps) * 1e6
    if torch is not None:
        ta = torch.ones(10)
        lat["PyTorch CPU"] = timeit(lambda: ta + ta, reps=reps) * 1e6
    # Only now start OpenCL: PoCL's worker threads share this machine's cores and add noise to microsecond timings.
    has_opencl = any(d.type == "opencl" for d in ts.devices())
    if has_opencl:
        oa, ob = ts.ones(10, device="opencl"), ts.ones(10, device="opencl")
        dev = ts.device("opencl")
        lat["tensorswitch opencl"] = timeit(lambda: oa + ob, dev.synchronize, reps) * 1e6
        raw = RawOpenCL()
        run, sync = raw.add(10)
        lat["raw PyOpenCL"] = timeit(run, sync, reps) * 1e6
    rows.append(("add, 10 elements", "us per call (lower is better)", lat))

    # add on 10M float32: bandwidth (two reads, one write)
    nbytes = 3 * 4 * n_big
    bw = {}
    a, b = ts.ones(n_big), ts.ones(n_big)
    bw["tensorswitch cpu"] = nbytes / timeit(lambda: a + b, reps=reps) / 1e9
    na, nb, nc = np.ones(n_big, np.float32), np.ones(n_big, np.float32), np.empty(n_big, np.float32)
    bw["NumPy"] = nbytes / timeit(lambda: np.add(na, nb, out=nc), reps=reps) / 1e9
    if torch is not None:
        ta, tb, tc = torch.ones(n_big), torch.ones(n_big), torch.empty(n_big)
        bw["PyTorch CPU"] = nbytes / timeit(lambda: torch.add(ta, tb, out=tc), reps=reps) / 1e9
        bw["PyTorch CPU (a + b)"] = nbytes / timeit(lambda: ta + tb, reps=reps) / 1e9
    if has_opencl:
        oa, ob = ts.ones(n_big, device="opencl"), ts.ones(n_big, device="opencl")
        bw["tensorswitch opencl"] = nbytes / timeit(lambda: oa + ob, ts.device("opencl").synchronize, reps) / 1e9
        run, sync = raw.add(n_big)
        bw["raw PyOpenCL"] = nbytes / timeit(run, sync, reps) / 1e9
    rows.append(("add, 10M float32", "GB/s (higher is better)", bw))

    # sum of 10M float32
    sm = {}
    a = ts.ones(n_big)
    sm["tensorswitch cpu"] = 4 * n_big / timeit(lambda: a.sum(), reps=reps) / 1e9
    sm["NumPy"] = 4 * n_big / timeit(lambda: na.sum(), reps=reps) / 1e9
    if torch is not None:
        sm["PyTorch CPU"] = 4 * n_big / timeit(lambda: ta.sum(), reps=reps) / 1e9
    if has_opencl:
        sm["tensorswitch opencl"] = 4 * n_big / timeit(lambda: oa.sum(), ts.device("opencl").synchronize, reps) / 1e9
        run, sync = raw.sum(n_big)
        sm["raw PyOpenCL"] = 4 * n_big / timeit(run, sync, reps) / 1e9
    rows.append(("sum, 10M float32", "GB/s (higher is better)", sm))

    # matmul 1024 x 1024 float32
    n = 1024
    flops = 2 * n ** 3
    mm = {}
    rng = np.random.default_rng(0)
    ma_np = rng.standard_normal((n, n)).astype(np.float32)
    ma = ts.asarray(ma_np)
    mm["tensorswitch cpu"] = flops / timeit(lambda: ma @ ma, reps=reps) / 1e9
    mm["NumPy"] = flops / timeit(lambda: ma_np @ ma_np, reps=reps) / 1e9
    if torch is not None:
        tm = torch.from_numpy(ma_np)
        mm["PyTorch CPU"] = flops / timeit(lambda: tm @ tm, reps=reps) / 1e9
    if has_opencl:
        om = ts.asarray(ma_np, device="opencl")
        mm["tensorswitch opencl"] = flops / timeit(lambda: om @ om, ts.device("opencl").synchronize, reps) / 1e9
    rows.append(("matmul 1024x1024 float32", "GFLOP/s (higher is better)", mm))

    # softmax over (4096, 1024)
    sx_np = rng.standard_normal((4096, 1024)).astype(np.float32)
    sx = ts.asarray(sx_np)
    sb = 2 * sx_np.nbytes
    sf = {"tensorswitch cpu": sb / timeit(lambda: ts.softmax(sx, axis=-1), reps=reps) / 1e9}

    def np_softmax():
        e = np.exp(sx_np - sx_np.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    sf["NumPy"] = sb / timeit(np_softmax, reps=reps) / 1e9
    if torch is not None:
        tx = torch.from_numpy(sx_np)
        sf["PyTorch CPU"] = sb / timeit(lambda: torch.softmax(tx, dim=-1), reps=reps) / 1e9
    if has_opencl:
        ox = ts.asarray(sx_np, device="opencl")
        sf["tensorswitch opencl"] = sb / timeit(lambda: ts.softmax(ox, axis=-1), ts.device("opencl").synchronize,
                                                reps) / 1e9
    rows.append(("softmax (4096, 1024) float32", "GB/s (higher is better)", sf))

    columns = ["tensorswitch cpu", "NumPy", "PyTorch CPU", "PyTorch CPU (a + b)", "tensorswitch opencl",
               "raw PyOpenCL"]
    columns = [c for c in columns if any(c in r[2] for r in rows)]
    print_table(rows, columns, args.markdown)

    print("\nTargets (ratios measured in this run):")
    targets = [
        ("add latency, cpu vs PyTorch (lower is better, target <= 1.0x)", lat, "tensorswitch cpu", "PyTorch CPU",
         lambda r: r <= 1.0),
        ("10M add, cpu vs torch.add(out=) (target >= 0.9x)", bw, "tensorswitch cpu", "PyTorch CPU",
         lambda r: r >= 0.9),
        ("matmul, cpu vs NumPy (target >= 0.9x)", mm, "tensorswitch cpu", "NumPy", lambda r: r >= 0.9),
        ("10M add, opencl vs raw PyOpenCL (target >= 0.9x)", bw, "tensorswitch opencl", "raw PyOpenCL",
         lambda r: r >= 0.9),
    ]
    for name, table, ours, theirs, ok in targets:
        if ours in table and theirs in table:
            r = table[ours] / table[theirs]
            print(f"  {name}: {r:.2f}x  {'met' if ok(r) else 'NOT met'}")
        else:
            print(f"  {name}: not measured ({theirs if theirs not in table else ours} unavailable)")


def print_table(rows, columns, markdown):
    if markdown:
        print("| benchmark | unit | " + " | ".join(columns) + " |")
        print("|---|---|" + "---:|" * len(columns))
        for name, unit, vals in rows:
            print(f"| {name} | {unit} | " + " | ".join(f"{vals[c]:.3g}" if c in vals else "" for c in columns) + " |")
        return
    width = max(len(c) for c in columns) + 2
    print(f"{'benchmark':<30}{'unit':<30}" + "".join(f"{c:>{width}}" for c in columns))
    for name, unit, vals in rows:
        print(f"{name:<30}{unit:<30}" + "".join(f"{vals[c]:>{width}.3g}" if c in vals else " " * width
                                                  for c in columns))


if __name__ == "__main__":
    main()
