"""Samples of the creation ops: full and scalar setitem (fill, with the integer edges), arange and linspace, and the
random streams (rand, randn, randint)."""

import numpy as np

import tensorswitch as ts
from .. import reference
from .core import LARGE, Failure, Sample, to_device


def fill_samples(op, dtype, device, rng):
    dt = np.dtype(dtype)
    value = {"b": True, "i": -7, "u": 200, "f": -2.5, "c": -2.5 + 0.75j}[dt.kind]
    for shape in [(), (0,), (5, 3)]:
        yield Sample(f"full({shape}, {value})", lambda shape=shape: ts.full(shape, value, dtype=dtype, device=device),
                     np.full(shape, value, dt))
    x = np.zeros((4, 6), dt)
    expected = x.copy()
    expected[1::2, ::3] = value

    def run():
        t = to_device(x, device)
        t[1::2, ::3] = value
        return t
    yield Sample("setitem of a scalar into a strided view", run, expected)
    if dt.kind in "iu":
        # the dtype's own edges arrive exactly (int64's through a double would not); one past them is an error
        info = np.iinfo(dt)
        for value in (info.min, info.max):
            yield Sample(f"full((5,), {value})", lambda v=value: ts.full((5,), v, dtype=dtype, device=device),
                         np.full((5,), value, dt))
        for value in (info.max + 1, info.min - 1):
            yield Sample(f"full((5,), {value}) raises OverflowError",
                         lambda v=value: ts.full((5,), v, dtype=dtype, device=device), raises=OverflowError)

        def out_of_range():
            t = to_device(np.zeros((3,), dt), device)
            t[1] = info.max + 1
            return t
        yield Sample(f"setitem of {info.max + 1} raises OverflowError", out_of_range, raises=OverflowError)
    elif dt.kind == "f":
        yield Sample("full((5,), 0.1) rounds to the dtype", lambda: ts.full((5,), 0.1, dtype=dtype, device=device),
                     np.full((5,), 0.1, dt))
    elif dt.kind == "c":
        # both parts round to the dtype; real values get a +0 imaginary part; infinite and NaN parts arrive as they
        # are (complex(inf, nan) has no spelling as a + bj)
        for value in (0.1 - 1e-3j, 3, -1.5, complex(np.inf, np.nan), complex(-0.0, -np.inf), complex(1e300, 1e-300)):
            with np.errstate(all="ignore"):
                expected = np.full((5,), value, dt)
            yield Sample(f"full((5,), {value!r})", lambda v=value: ts.full((5,), v, dtype=dtype, device=device),
                         expected)


def arange_samples(op, dtype, device, rng):
    dt = np.dtype(dtype)
    cases = [(0, 10, 1), (2, 20, 3), (0, 0, 1)]
    if dt.kind == "i":
        cases.append((5, -7, -3))
    if dt.kind == "f":
        cases += [(0.0, 1.0, 0.125), (-1.5, 2.0, 0.5)]
    for start, stop, step in cases:
        yield Sample(f"arange({start}, {stop}, {step})",
                     lambda a=(start, stop, step): ts.arange(*a, dtype=dtype, device=device),
                     np.arange(start, stop, step, dtype=np.float64).astype(dt))
    if dt.kind == "f":
        yield Sample("linspace(0, 1, 11)", lambda: ts.linspace(0, 1, 11, dtype=dtype, device=device),
                     np.linspace(0, 1, 11).astype(dt))


def random_samples(op, dtype, device, rng):
    dt = np.dtype(dtype)
    for n in (1, 1000, LARGE):
        if op == "randint":
            low, high = (0, 100) if dt.kind == "u" else (-50, 50)

            def run(n=n, low=low, high=high):
                ts.manual_seed(1234)
                return ts.randint(low, high, size=(n,), dtype=dtype, device=device)
            yield Sample(f"randint({n})", run, reference.random(op, dt, n, 1234, 0, low, high))
        else:
            def run(n=n):
                ts.manual_seed(1234)
                return getattr(ts, op)(n, dtype=dtype, device=device)
            rtol = 1e-5 if op == "randn" and dt != np.float16 else None
            yield Sample(f"{op}({n}) is the Philox stream of Note [Random numbers]", run,
                         reference.random(op, dt, n, 1234, 0), rtol=rtol)

    # the stream moves on between calls, and the values look like their distribution
    def draw_twice():
        ts.manual_seed(7)
        if op == "randint":
            return [ts.randint(0, 10, size=(LARGE,), dtype=dtype, device=device).numpy() for _ in range(2)]
        return [getattr(ts, op)(LARGE, dtype=dtype, device=device).numpy().astype(np.float64) for _ in range(2)]

    def distribution(draws):
        first, second = draws
        if op == "randint":
            ok = first.min() == 0 and first.max() == 9
        else:
            mean, std = (0.5, np.sqrt(1 / 12)) if op == "rand" else (0.0, 1.0)
            ok = abs(first.mean() - mean) < 0.02 and abs(first.std() - std) < 0.02
            if op == "rand":
                ok = ok and first.min() >= 0 and first.max() < 1
        if np.array_equal(first, second) or not ok:
            raise Failure(f"{op}: successive draws repeat, or their distribution is off")
    yield Sample(f"{op}: successive draws differ and follow the distribution", draw_twice, check=distribution)
