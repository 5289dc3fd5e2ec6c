"""tensorswitch against NumPy, PyTorch (CPU) and a raw PyOpenCL kernel, side by side in one run.

    python bench/bench.py [--quick] [--markdown]
    python bench/bench.py --sweep [--quick] [--plot PATH] [--noisy]     (bench/sweep.py: every op at 10 to 16M elements)

Prints one table (the README's), a training table (one SGD step of an MLP and of LeNet, the same model code run by
tensorswitch and by PyTorch at 1 and 2 threads, and by tensorswitch on opencl), and the issue's targets as ratios
measured in this same run.  Each figure is the best of several timed repetitions after a warm-up (the machine's other
load only ever adds time, so the minimum is the steadiest estimate, as Python's timeit advises); the columns of a row
are timed in turn, repetition by repetition, so that a change in load hits them all.  OpenCL
timings include waiting for the device.
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


def _calibrate(fn, sync, min_time):
    """Warm ``fn`` up, then the number of calls one timed repetition needs to take at least ``min_time``."""
    fn()
    if sync:
        sync()
    inner = 1
    while True:  # grow ``inner`` until one repetition takes long enough to time
        if _repetition(fn, sync, inner) * inner >= min_time or inner >= 1 << 20:
            return inner
        inner *= 4


def _repetition(fn, sync, inner):
    """Seconds per call of ``inner`` calls of ``fn`` (and one ``sync`` at the end)."""
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    if sync:
        sync()
    return (time.perf_counter() - t0) / inner


def timeit_interleaved(cases, reps=7, min_time=0.05):
    """Best seconds per call of each case ({name: (fn, sync or None)}), the repetitions of the cases taken in turn:
    a change in the machine's load during the run then slows every case alike, not just the one timed at that
    moment, so their ratio stays fair."""
    inner = {name: _calibrate(fn, sync, min_time) for name, (fn, sync) in cases.items()}
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(reps):
        for name, (fn, sync) in cases.items():
            best[name] = min(best[name], _repetition(fn, sync, inner[name]))
    return best


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


# -- training: the same model code for tensorswitch and PyTorch (``lib`` is ``ts`` or ``torch``) ---------------------

def mlp(nn):
    """784-256-256-10 with ReLUs."""
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


def lenet(nn):
    """LeNet-5 on 1x28x28 inputs."""
    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),    # -> 6x12x12
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),   # -> 16x4x4
                         nn.Flatten(), nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10))


TRAINING_MODELS = {  # name: (builder, input shape of one sample, batch size)
    "MLP 784-256-256-10, batch 128": (mlp, (784,), 128),
    "LeNet 1x28x28, batch 64": (lenet, (1, 28, 28), 64),
}


def training_step(lib, builder, x, y, device=None, weights=None):
    """One SGD step as a function: forward, cross-entropy, backward, update.  ``weights`` ({name: NumPy array})
    starts every library from the same parameters."""
    model = builder(lib.nn)
    if weights is not None:
        model.load_state_dict({k: lib.asarray(v) for k, v in weights.items()})
    if device is not None:
        model.to(device)
        x, y = x.to(device), y.to(device)
    optimizer = lib.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = lib.nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    return step


def _torch_cuda():
    """True when PyTorch can run on an NVIDIA GPU here (for the cuda-against-PyTorch-CUDA rows)."""
    try:
        return torch is not None and torch.cuda.is_available()
    except Exception:  # a CPU-only build or a broken driver
        return False


def bench_training(reps, min_time, has_opencl, has_cuda=False):
    """{model name: {column: seconds per step}} for 1 and 2 threads (tensorswitch against PyTorch, at the same thread
    count), tensorswitch's opencl against its cpu at the default thread count, and, on a machine with an NVIDIA GPU,
    tensorswitch's cuda against PyTorch CUDA."""
    rng = np.random.default_rng(0)
    results = {}
    threads = ts.get_num_threads(), torch.get_num_threads() if torch is not None else None
    for name, (builder, shape, batch) in TRAINING_MODELS.items():
        x_np = rng.standard_normal((batch,) + shape).astype(np.float32)
        y_np = rng.integers(0, 10, batch)
        x, y = ts.asarray(x_np), ts.asarray(y_np)
        ts.manual_seed(0)
        weights = {k: v.numpy() for k, v in builder(ts.nn).state_dict().items()}
        ours = training_step(ts, builder, x, y, weights=weights)
        theirs = None
        if torch is not None:
            theirs = training_step(torch, builder, torch.from_numpy(x_np), torch.from_numpy(y_np), weights=weights)
        try:
            for n in (1, 2):
                ts.set_num_threads(n)
                cases = {"tensorswitch cpu": (ours, None)}
                if theirs is not None:
                    torch.set_num_threads(n)
                    cases["PyTorch CPU"] = (theirs, None)
                results[f"{name}, {n} thread{'s' if n > 1 else ''}"] = timeit_interleaved(cases, reps, min_time)
        finally:
            ts.set_num_threads(threads[0])
            if torch is not None:
                torch.set_num_threads(threads[1])
        if has_opencl:
            dev = ts.device("opencl")
            on_opencl = training_step(ts, builder, x, y, device=dev, weights=weights)
            results[f"{name}, opencl vs cpu ({threads[0]} threads)"] = timeit_interleaved(
                {"tensorswitch cpu": (ours, None), "tensorswitch opencl": (on_opencl, dev.synchronize)}, reps,
                min_time)
        if has_cuda:
            dev = ts.device("cuda")
            cases = {"tensorswitch cuda": (training_step(ts, builder, x, y, device=dev, weights=weights),
                                           dev.synchronize)}
            if _torch_cuda():
                cases["PyTorch CUDA"] = (training_step(torch, builder, torch.from_numpy(x_np),
                                                       torch.from_numpy(y_np), device="cuda", weights=weights),
                                         torch.cuda.synchronize)
            results[f"{name}, cuda"] = timeit_interleaved(cases, reps, min_time)
    return results


def main():
    import sys

    if "--sweep" in sys.argv[1:]:  # the size sweep (bench/sweep.py), with its own options
        import sweep

        return sweep.main([a for a in sys.argv[1:] if a != "--sweep"])
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller repetitions (for a smoke run)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--sweep", action="store_true", help="the size sweep instead (bench/sweep.py; its options: "
                        "--quick, --plot PATH, --noisy, --slowdown, --device D, --markdown)")
    args = parser.parse_args()
    reps = 3 if args.quick else 7
    n_big = 10_000_000
    rows = []  # (benchmark, unit, {column: value})

    # add on 10 elements: latency, without and with autograd (both inputs requiring grad: the cost of recording the
    # graph node), the libraries timed in turn
    a, b = ts.ones(10), ts.ones(10)
    ga, gb = ts.ones(10, requires_grad=True), ts.ones(10, requires_grad=True)
    na = np.ones(10, np.float32)
    cases = {"tensorswitch cpu": (lambda: a + b, None), "NumPy": (lambda: na + na, None),
             "grad tensorswitch cpu": (lambda: ga + gb, None)}
    if torch is not None:
        ta = torch.ones(10)
        tga, tgb = torch.ones(10, requires_grad=True), torch.ones(10, requires_grad=True)
        cases.update({"PyTorch CPU": (lambda: ta + ta, None), "grad PyTorch CPU": (lambda: tga + tgb, None)})
    lat, lat_grad = {}, {}
    for name, seconds in timeit_interleaved(cases, reps).items():
        if name.startswith("grad "):
            lat_grad[name[len("grad "):]] = seconds * 1e6
        else:
            lat[name] = seconds * 1e6
    # Only now start OpenCL: PoCL's worker threads share this machine's cores and add noise to microsecond timings.
    has_opencl = any(d.type == "opencl" for d in ts.devices())
    if has_opencl:
        oa, ob = ts.ones(10, device="opencl"), ts.ones(10, device="opencl")
        dev = ts.device("opencl")
        raw = RawOpenCL()
        for name, seconds in timeit_interleaved({"tensorswitch opencl": (lambda: oa + ob, dev.synchronize),
                                                 "raw PyOpenCL": raw.add(10)}, reps).items():
            lat[name] = seconds * 1e6
    rows.append(("add, 10 elements", "us per call (lower is better)", lat))
    rows.append(("add, 10 elements, with grad", "us per call (lower is better)", lat_grad))

    def rate(amount, cases):
        """{column: amount / seconds per call / 1e9} of ``cases`` ({column: (fn, sync or None)}), timed in turn: the
        opencl rows' ratios to the cpu backend then compare figures taken moments apart, not a minute apart."""
        return {name: amount / seconds / 1e9 for name, seconds in timeit_interleaved(cases, reps).items()}

    ocl_sync = ts.device("opencl").synchronize if has_opencl else None

    # add on 10M float32: bandwidth (two reads, one write)
    a, b = ts.ones(n_big), ts.ones(n_big)
    na, nb, nc = np.ones(n_big, np.float32), np.ones(n_big, np.float32), np.empty(n_big, np.float32)
    cases = {"tensorswitch cpu": (lambda: a + b, None), "NumPy": (lambda: np.add(na, nb, out=nc), None)}
    if torch is not None:
        ta, tb, tc = torch.ones(n_big), torch.ones(n_big), torch.empty(n_big)
        cases["PyTorch CPU"] = (lambda: torch.add(ta, tb, out=tc), None)
        cases["PyTorch CPU (a + b)"] = (lambda: ta + tb, None)
    if has_opencl:
        oa, ob = ts.ones(n_big, device="opencl"), ts.ones(n_big, device="opencl")
        cases["tensorswitch opencl"] = (lambda: oa + ob, ocl_sync)
        cases["raw PyOpenCL"] = raw.add(n_big)
    bw = rate(3 * 4 * n_big, cases)
    rows.append(("add, 10M float32", "GB/s (higher is better)", bw))

    # sum of 10M float32
    cases = {"tensorswitch cpu": (lambda: a.sum(), None), "NumPy": (lambda: na.sum(), None)}
    if torch is not None:
        cases["PyTorch CPU"] = (lambda: ta.sum(), None)
    if has_opencl:
        cases["tensorswitch opencl"] = (lambda: oa.sum(), ocl_sync)
        cases["raw PyOpenCL"] = raw.sum(n_big)
    sm = rate(4 * n_big, cases)
    rows.append(("sum, 10M float32", "GB/s (higher is better)", sm))

    # matmul 1024 x 1024 float32
    n = 1024
    rng = np.random.default_rng(0)
    ma_np = rng.standard_normal((n, n)).astype(np.float32)
    ma = ts.asarray(ma_np)
    cases = {"tensorswitch cpu": (lambda: ma @ ma, None), "NumPy": (lambda: ma_np @ ma_np, None)}
    if torch is not None:
        tm = torch.from_numpy(ma_np)
        cases["PyTorch CPU"] = (lambda: tm @ tm, None)
    if has_opencl:
        om = ts.asarray(ma_np, device="opencl")
        cases["tensorswitch opencl"] = (lambda: om @ om, ocl_sync)
    mm = rate(2 * n ** 3, cases)
    rows.append(("matmul 1024x1024 float32", "GFLOP/s (higher is better)", mm))

    # softmax over (4096, 1024)
    sx_np = rng.standard_normal((4096, 1024)).astype(np.float32)
    sx = ts.asarray(sx_np)

    def np_softmax():
        e = np.exp(sx_np - sx_np.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    cases = {"tensorswitch cpu": (lambda: ts.softmax(sx, axis=-1), None), "NumPy": (np_softmax, None)}
    if torch is not None:
        tx = torch.from_numpy(sx_np)
        cases["PyTorch CPU"] = (lambda: torch.softmax(tx, dim=-1), None)
    if has_opencl:
        ox = ts.asarray(sx_np, device="opencl")
        cases["tensorswitch opencl"] = (lambda: ts.softmax(ox, axis=-1), ocl_sync)
    sf = rate(2 * sx_np.nbytes, cases)
    rows.append(("softmax (4096, 1024) float32", "GB/s (higher is better)", sf))

    columns = ["tensorswitch cpu", "NumPy", "PyTorch CPU", "PyTorch CPU (a + b)", "tensorswitch opencl",
               "raw PyOpenCL"]
    columns = [c for c in columns if any(c in r[2] for r in rows)]
    print_table(rows, columns, args.markdown)

    strided = bench_opencl_strided(reps) if has_opencl else []
    if strided:
        print("\nOpenCL strided views against the contiguous case of the same size (1000x1000 float32 base), timed "
              "in turn:")
        if args.markdown:
            print("| operation | strided ms | contiguous ms | ratio (target <= 2x) |")
            print("|---|---:|---:|---:|")
            for name, t_s, t_c in strided:
                print(f"| {name} | {t_s:.3f} | {t_c:.3f} | {t_s / t_c:.2f}x |")
        else:
            for name, t_s, t_c in strided:
                print(f"  {name:<44} {t_s:8.3f} ms {t_c:8.3f} ms  {t_s / t_c:5.2f}x")

    has_cuda = any(d.type == "cuda" for d in ts.devices())
    train = {k: {c: v * 1e3 for c, v in t.items()} for k, t in
             bench_training(reps, 0.02 if args.quick else 0.05, has_opencl, has_cuda).items()}
    print("\nTraining: one SGD step (forward, cross-entropy, backward, update), the same model in both libraries, "
          "timed in turn:")
    train_rows = [(name, "ms per step (lower is better)", t) for name, t in train.items()]
    print_table(train_rows, [c for c in ("tensorswitch cpu", "PyTorch CPU", "tensorswitch opencl", "tensorswitch cuda",
                                         "PyTorch CUDA") if any(c in t for t in train.values())], args.markdown)

    print("\nTargets (ratios measured in this run):")
    targets = [
        ("add latency, cpu vs PyTorch (lower is better, target <= 1.0x)", lat, "tensorswitch cpu", "PyTorch CPU",
         lambda r: r <= 1.0),
        ("10M add, cpu vs torch.add(out=) (target >= 0.9x)", bw, "tensorswitch cpu", "PyTorch CPU",
         lambda r: r >= 0.9),
        ("matmul, cpu vs NumPy (target >= 0.9x)", mm, "tensorswitch cpu", "NumPy", lambda r: r >= 0.9),
        ("10M add, opencl vs raw PyOpenCL (target >= 0.9x)", bw, "tensorswitch opencl", "raw PyOpenCL",
         lambda r: r >= 0.9),
        ("add with grad, cpu vs PyTorch with grad (lower is better, target <= 1.0x)", lat_grad, "tensorswitch cpu",
         "PyTorch CPU", lambda r: r <= 1.0),
        ("sum, opencl vs the cpu backend's bandwidth (target >= 0.8x)", sm, "tensorswitch opencl",
         "tensorswitch cpu", lambda r: r >= 0.8),
        ("softmax, opencl vs the cpu backend's bandwidth (target >= 0.8x)", sf, "tensorswitch opencl",
         "tensorswitch cpu", lambda r: r >= 0.8),
    ]
    for name in TRAINING_MODELS:  # ts time / torch time: <= 1.0 means as fast or faster
        limit = 1.0 if name.startswith("MLP") else 1.5
        for n in ("1 thread", "2 threads"):
            targets.append((f"{name.split(',')[0]} training step, cpu {n} vs PyTorch (lower is better, target <= "
                            f"{limit:.1f}x)", train[f"{name}, {n}"], "tensorswitch cpu", "PyTorch CPU",
                            lambda r, limit=limit: r <= limit))
    for name, table, ours, theirs, ok in targets:
        if ours in table and theirs in table:
            r = table[ours] / table[theirs]
            print(f"  {name}: {r:.2f}x  {'met' if ok(r) else 'NOT met'}")
        else:
            print(f"  {name}: not measured ({theirs if theirs not in table else ours} unavailable)")
    if "tensorswitch opencl" in lat:
        over = lat["tensorswitch opencl"] - lat["raw PyOpenCL"]
        print(f"  add latency, opencl vs a raw PyOpenCL kernel call (target <= +1 us): {over:+.2f} us  "
              f"{'met' if over <= 1.0 else 'NOT met'}")
    if "tensorswitch opencl" in mm:
        print(f"  matmul 1024^2, opencl (target >= 50 GFLOP/s): {mm['tensorswitch opencl']:.1f} GFLOP/s  "
              f"{'met' if mm['tensorswitch opencl'] >= 50 else 'NOT met'}")
    if strided:
        worst = max(strided, key=lambda r: r[1] / r[2])
        print(f"  opencl strided vs contiguous, worst case (target <= 2x): {worst[1] / worst[2]:.2f}x ({worst[0]})  "
              f"{'met' if worst[1] / worst[2] <= 2.0 else 'NOT met'}")
    if "tensorswitch cpu" in lat and "tensorswitch cpu" in lat_grad:
        cost = [f"tensorswitch +{lat_grad['tensorswitch cpu'] - lat['tensorswitch cpu']:.2f} us"]
        if "PyTorch CPU" in lat and "PyTorch CPU" in lat_grad:
            cost.append(f"PyTorch +{lat_grad['PyTorch CPU'] - lat['PyTorch CPU']:.2f} us")
        print(f"  (recording the graph costs, per add: {', '.join(cost)})")
    for name, table in train.items():
        if "tensorswitch opencl" in table:
            print(f"  {name}: {table['tensorswitch opencl'] / table['tensorswitch cpu']:.2f}x the cpu's time "
                  f"(no target)")
        if "tensorswitch cuda" in table and "PyTorch CUDA" in table:
            print(f"  {name}: {table['tensorswitch cuda'] / table['PyTorch CUDA']:.2f}x PyTorch CUDA's time "
                  f"(no target)")
    if not has_cuda:
        print("  cuda: no usable NVIDIA GPU here, so no cuda rows (not estimated)")


def bench_opencl_strided(reps):
    """[(operation, strided ms, contiguous ms)]: views of a 1000x1000 float32 base on the opencl device against the
    same operation on contiguous tensors of the view's shape, the cases timed in turn."""
    rng = np.random.default_rng(0)
    dev = ts.device("opencl")
    base = rng.standard_normal((1000, 1000)).astype(np.float32)
    x, c = ts.asarray(base, device="opencl"), ts.asarray(base + 1, device="opencl")
    half = ts.asarray(np.ascontiguousarray(base[:, ::2]), device="opencl")  # a contiguous 1000x500
    xt = ts.asarray(np.ascontiguousarray(base.T), device="opencl")
    pairs = [
        ("c + x.T (against c + x)", lambda: c + x.T, lambda: c + x),
        ("x.T + x.T (against x + x)", lambda: x.T + x.T, lambda: x + x),
        ("copy of x.T (against a copy of x)", lambda: ts.asarray(x.T, copy=True), lambda: ts.asarray(x, copy=True)),
        ("exp(x[:, ::2]) (against a 1000x500)", lambda: ts.exp(x[:, ::2]), lambda: ts.exp(half)),
        ("x[:, ::2] + x[:, ::2] (against a 1000x500)", lambda: x[:, ::2] + x[:, ::2], lambda: half + half),
        ("x.T.sum() (against x.sum())", lambda: x.T.sum(), lambda: xt.sum()),
        ("x[:, ::2].sum() (against a 1000x500)", lambda: x[:, ::2].sum(), lambda: half.sum()),
        ("x[:, ::2].max(axis=-1) (against a 1000x500)", lambda: x[:, ::2].max(axis=-1), lambda: half.max(axis=-1)),
    ]
    cases = {}
    for name, strided, contiguous in pairs:
        cases[(name, 0)] = (strided, dev.synchronize)
        cases[(name, 1)] = (contiguous, dev.synchronize)
    best = timeit_interleaved(cases, reps)
    return [(name, best[(name, 0)] * 1e3, best[(name, 1)] * 1e3) for name, _, _ in pairs]


def print_table(rows, columns, markdown):
    if markdown:
        print("| benchmark | unit | " + " | ".join(columns) + " |")
        print("|---|---|" + "---:|" * len(columns))
        for name, unit, vals in rows:
            print(f"| {name} | {unit} | " + " | ".join(f"{vals[c]:.3g}" if c in vals else "" for c in columns) + " |")
        return
    width = max(len(c) for c in columns) + 2
    first = max(30, max(len(r[0]) for r in rows) + 2)
    print(f"{'benchmark':<{first}}{'unit':<30}" + "".join(f"{c:>{width}}" for c in columns))
    for name, unit, vals in rows:
        print(f"{name:<{first}}{unit:<30}" + "".join(f"{vals[c]:>{width}.3g}" if c in vals else " " * width
                                                     for c in columns))


if __name__ == "__main__":
    main()
