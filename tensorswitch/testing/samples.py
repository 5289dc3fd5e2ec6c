"""The shared database of sample inputs, and the check of one (op, device, dtype) against the NumPy reference.

Every sample runs through the public API (``ts.add(x, y)``, ``x.sum(axis=...)``), so the check covers the whole path
a user takes: promotion, broadcasting, dispatch and the kernel.  Inputs cover broadcasting, 0-d, empty,
non-contiguous views (strided, transposed, reversed), NaN and infinities, large and tiny values, and integer edges.
"""

import numpy as np

import tensorswitch as ts
from ..kernels import optable
from . import reference


LARGE = 100_003  # crosses the cpu threading grain and spans many OpenCL/CUDA work-groups

# per result dtype: (rtol, atol) for elementwise results
TOLERANCE = {"float16": (5e-3, 1e-3), "float32": (2e-5, 1e-6), "float64": (1e-10, 1e-12)}


class Failure(Exception):
    pass


# -- inputs -----------------------------------------------------------------------------------------------------------

def specials(dtype):
    """NaN, infinities, signed zeros, the tiniest and largest finite values, ones."""
    fi = np.finfo(dtype)
    return np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, fi.tiny, -fi.tiny, fi.max, -fi.max, 1.0, -1.0, 0.5],
                    dtype=dtype)


def values(dtype, shape, rng, low=None, high=None):
    """Random values of ``dtype``; integer samples start with the type's edges (min, max, 0, -1, 1)."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape)) if shape else 1
    if dtype.kind == "b":
        flat = rng.random(n) < 0.5
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        lo = info.min if low is None else low
        hi = info.max if high is None else high
        flat = rng.integers(lo, hi, size=n, endpoint=True).astype(dtype)
        if low is None and high is None:
            edges = np.array([info.min, info.max, 0, 1] + ([-1] if info.min < 0 else []), dtype=dtype)
            flat[: min(n, len(edges))] = edges[: min(n, len(edges))]
    else:
        lo = -10.0 if low is None else low
        hi = 10.0 if high is None else high
        flat = rng.uniform(lo, hi, size=n).astype(dtype)
    return flat.reshape(shape)


def to_device(x, device, layout="contiguous"):
    """Upload NumPy ``x`` and return a device tensor with the same values and the requested memory layout."""
    if layout == "contiguous" or x.ndim == 0 or x.size == 0:
        return ts.asarray(x, device=device)
    if layout == "strided":  # every other element of a twice-as-long last axis
        wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), x.dtype)
        wide[..., ::2] = x
        t = ts.asarray(wide, device=device)[..., ::2]
    elif layout == "transposed":
        t = ts.asarray(np.ascontiguousarray(np.transpose(x)), device=device)
        t = t.permute_dims(tuple(reversed(range(x.ndim))))
    elif layout == "reversed":
        t = ts.asarray(np.ascontiguousarray(x[..., ::-1]), device=device)[..., ::-1]
    else:
        raise ValueError(layout)
    return t


# -- comparison ---------------------------------------------------------------------------------------------------

def compare(got, expected, device, what, atol=None, rtol=None):
    """Raise Failure unless tensor ``got`` equals NumPy ``expected`` in device, dtype, shape and values."""
    expected = np.asarray(expected)
    if not isinstance(got, ts.Tensor):
        raise Failure(f"{what}: returned {type(got).__name__}, not a tensor")
    if got.device != device:
        raise Failure(f"{what}: result is on {got.device}, expected {device}")
    if got.dtype.numpy != expected.dtype:
        raise Failure(f"{what}: result dtype {got.dtype.name}, expected {expected.dtype}")
    if tuple(got.shape) != expected.shape:
        raise Failure(f"{what}: result shape {got.shape}, expected {expected.shape}")
    host = got.numpy()
    if expected.dtype.kind != "f":
        if not np.array_equal(host, expected):
            bad = np.argwhere(host != expected)[:3].tolist()
            raise Failure(f"{what}: values differ at {bad}: got {host[tuple(np.array(bad).T)] if bad else host}, "
                          f"expected {expected[tuple(np.array(bad).T)] if bad else expected}")
        return
    r, a = TOLERANCE[expected.dtype.name]
    rtol = r if rtol is None else rtol
    atol = a if atol is None else atol
    h, e = host.astype(np.float64), expected.astype(np.float64)
    if not np.array_equal(np.isnan(h), np.isnan(e)):
        raise Failure(f"{what}: NaN positions differ: got {host.ravel()[:8]}, expected {expected.ravel()[:8]}")
    inf = np.isinf(e) | np.isinf(h)
    if not np.array_equal(h[inf], e[inf]):
        raise Failure(f"{what}: infinities differ: got {h[inf][:8]}, expected {e[inf][:8]}")
    ok = ~np.isnan(e) & ~inf
    err = np.abs(h[ok] - e[ok])
    limit = np.broadcast_to(atol, e.shape)[ok] + rtol * np.abs(e[ok])
    if np.any(err > limit):
        i = int(np.argmax(err - limit))
        raise Failure(f"{what}: got {float(h[ok][i])!r}, expected {float(e[ok][i])!r} (|diff| {err[i]:.3g} > tolerance "
                      f"{limit[i]:.3g})")


# -- samples per op family -------------------------------------------------------------------------------------------

UNARY_SHAPES = [((), "contiguous"), ((0,), "contiguous"), ((17,), "contiguous"), ((17,), "strided"),
                ((4, 5), "transposed"), ((2, 3, 4), "reversed"), ((LARGE,), "contiguous")]
BINARY_SHAPES = [((4, 5), (4, 5), "contiguous"), ((4, 1), (1, 5), "contiguous"), ((5,), (3, 5), "contiguous"),
                 ((), (6,), "contiguous"), ((), (), "contiguous"), ((0, 3), (1, 3), "contiguous"),
                 ((3, 4), (3, 4), "transposed"), ((6,), (6,), "strided"), ((2, 3, 4), (3, 1), "reversed"),
                 ((LARGE,), (LARGE,), "contiguous"), ((LARGE,), (), "contiguous")]


def _domain(op, dtype, shape, rng, position):
    """Inputs that keep an op inside the range where NumPy defines it."""
    if op == "pow" and np.dtype(dtype).kind in "iu":
        return values(dtype, shape, rng, 0, 9) if position == 0 or np.dtype(dtype).kind == "u" else \
            values(dtype, shape, rng, -2, 7)
    return values(dtype, shape, rng)


def check_elementwise(op, dtype, device, rng):
    info = optable.ELEMENTWISE[op]
    fn = getattr(ts, op)
    ref = reference.ELEMENTWISE[op]
    count = 0
    if info.arity == 1:
        cases = [(shape, layout) for shape, layout in UNARY_SHAPES]
        for shape, layout in cases:
            x = _domain(op, dtype, shape, rng, 0)
            compare(fn(to_device(x, device, layout)), ref(x), device, f"{op}({layout} {shape})")
            count += 1
        if np.dtype(dtype).kind == "f":
            x = specials(dtype)
            compare(fn(to_device(x, device)), ref(x), device, f"{op}(NaN, inf, tiny, huge)")
            count += 1
    else:
        for sa, sb, layout in BINARY_SHAPES:
            a, b = _domain(op, dtype, sa, rng, 0), _domain(op, dtype, sb, rng, 1)
            if op in ("floor_divide", "remainder") and b.size:
                b.flat[0] = 0  # division by zero gives 0 for integers, inf/NaN for floats
            ea, eb = np.broadcast_arrays(a, b)
            compare(fn(to_device(a, device, layout), to_device(b, device, layout)), ref(ea, eb), device,
                    f"{op}({layout} {sa}, {sb})")
            count += 1
        if np.dtype(dtype).kind == "f":
            s = specials(dtype)
            a, b = np.repeat(s, len(s)), np.tile(s, len(s))
            compare(fn(to_device(a, device), to_device(b, device)), ref(a, b), device, f"{op}(specials x specials)")
            count += 1
    return count


REDUCTION_CASES = [((), None), ((7,), None), ((7,), 0), ((3, 4, 5), 1), ((3, 4, 5), (0, 2)), ((3, 4, 5), -1),
                   ((3, 4, 5), None), ((4, 6), 0), ((0, 3), 1), ((2, LARGE), -1), ((LARGE,), None)]


def check_reduction(op, dtype, device, rng):
    count = 0
    arg = op in ("argmax", "argmin")
    for shape, axis in REDUCTION_CASES:
        if arg and isinstance(axis, tuple):
            continue
        for layout in ("contiguous", "transposed") if len(shape) > 1 else ("contiguous",):
            x = values(dtype, shape, rng)
            t = to_device(x, device, layout)
            expected = reference.reduction(op, x, axis)
            got = getattr(ts, op)(t, axis=axis)
            atol = _sum_atol(op, x, axis)
            compare(got, expected, device, f"{op}({layout} {shape}, axis={axis})", atol=atol)
            count += 1
    x = values(dtype, (3, 4), rng)
    got = getattr(ts, op)(to_device(x, device), axis=1 if arg else (1,), keepdims=True)
    atol = _sum_atol(op, x, 1)
    compare(got, np.expand_dims(reference.reduction(op, x, 1), 1), device, f"{op}(keepdims)",
            atol=None if atol is None else np.expand_dims(atol, 1))
    count += 1
    if np.dtype(dtype).kind == "f":
        x = specials(dtype).reshape(3, 4)
        compare(getattr(ts, op)(to_device(x, device), axis=1), reference.reduction(op, x, 1), device,
                f"{op}(NaN, inf rows)", atol=np.inf if op in ("sum", "prod") else None)
        count += 1
    # an empty reduction: the identity, or a clear error for ops without one
    x = np.zeros((0, 3), dtype)
    if optable.REDUCTIONS[op].init is None:
        try:
            getattr(ts, op)(to_device(x, device), axis=0)
        except ValueError:
            pass
        else:
            raise Failure(f"{op} of an empty axis must raise ValueError")
    else:
        compare(getattr(ts, op)(to_device(x, device), axis=0), reference.reduction(op, x, 0), device,
                f"{op}(empty axis)")
    return count + 1


def _sum_atol(op, x, axis):
    """Sums of many floats: allow an error proportional to the sum of magnitudes (the reference is float64)."""
    if op not in ("sum", "prod") or x.dtype.kind != "f":
        return None
    r, a = TOLERANCE[x.dtype.name]
    with np.errstate(all="ignore"):
        mag = np.sum(np.abs(x.astype(np.float64)), axis=axis) if op == "sum" else \
            np.prod(np.abs(x.astype(np.float64)), axis=axis)
    return a + r * np.asarray(mag)


MATMUL_CASES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
                ((2, 1, 3, 4), (5, 4, 2)), ((3, 0), (0, 4)), ((0, 3), (3, 2)), ((65, 67), (67, 66))]


def check_matmul(op, dtype, device, rng):
    count = 0
    small = np.dtype(dtype).kind in "iu"
    for sa, sb in MATMUL_CASES:
        for layout in ("contiguous", "transposed") if len(sa) == 2 and len(sb) == 2 else ("contiguous",):
            a = values(dtype, sa, rng, -3 if small else -1, 3 if small else 1) if np.dtype(dtype).kind != "u" else \
                values(dtype, sa, rng, 0, 3)
            b = values(dtype, sb, rng, -3 if small else -1, 3 if small else 1) if np.dtype(dtype).kind != "u" else \
                values(dtype, sb, rng, 0, 3)
            expected = reference.matmul(a, b)
            atol = None
            if a.dtype.kind == "f":
                r, at = TOLERANCE[a.dtype.name]
                atol = at + r * np.abs(np.matmul(np.abs(a.astype(np.float64)), np.abs(b.astype(np.float64))))
            compare(ts.matmul(to_device(a, device, layout), to_device(b, device, layout)), expected, device,
                    f"matmul({layout} {sa} @ {sb})", atol=atol)
            count += 1
    return count


def check_softmax(op, dtype, device, rng):
    log = op == "log_softmax"
    count = 0
    for shape, axis in [((5,), -1), ((3, 7), -1), ((3, 7), 0), ((2, 3, 4), 1), ((4, 2000), -1), ((1,), 0)]:
        x = values(dtype, shape, rng)
        compare(getattr(ts, op)(to_device(x, device), axis=axis), reference.softmax(x, axis, log), device,
                f"{op}({shape}, axis={axis})", atol=TOLERANCE[np.dtype(dtype).name][1] * 10)
        count += 1
    x = np.array([[0.0, -np.inf, 1.0], [np.nan, 1.0, 2.0], [1e4, -1e4, 0.0]], dtype)
    compare(getattr(ts, op)(to_device(x, device), axis=-1), reference.softmax(x, -1, log), device,
            f"{op}(-inf, NaN, large)", atol=TOLERANCE[np.dtype(dtype).name][1] * 10)
    return count + 1


def check_where(op, dtype, device, rng):
    count = 0
    for sc, sa, sb in [((4, 5), (4, 5), (4, 5)), ((4, 1), (1, 5), (5,)), ((), (3,), ()), ((0,), (0,), (1,))]:
        c = rng.random(sc) < 0.5
        a, b = values(dtype, sa, rng), values(dtype, sb, rng)
        compare(ts.where(to_device(np.asarray(c), device), to_device(a, device), to_device(b, device)),
                np.where(c, a, b), device, f"where({sc}, {sa}, {sb})")
        count += 1
    c = rng.random((3, 4)) < 0.5
    a, b = values(dtype, (3, 4), rng), values(dtype, (3, 4), rng)
    compare(ts.where(to_device(c, device, "transposed"), to_device(a, device, "strided"),
                     to_device(b, device, "reversed")), np.where(c, a, b), device, "where(non-contiguous)")
    return count + 1


def check_astype(op, dtype, device, rng):
    count = 0
    src = np.dtype(dtype)
    for dst in sorted(device.supported_dtypes(), key=lambda d: d.code):
        dst_np = dst.numpy
        if src.kind == "f" and dst_np.kind in "iub":
            x = np.round(values(src, (5, 6), rng, 0 if dst_np.kind == "u" else -100, 100), 1).astype(src)
            x.flat[0] = 0
        elif src.kind in "iu" and dst_np == np.float16:
            x = values(src, (5, 6), rng, 0 if src.kind == "u" else -100, 100)
        else:
            x = values(src, (5, 6), rng)
        for layout in ("contiguous", "transposed"):
            compare(to_device(x, device, layout).astype(dst), reference.astype(x, dst_np), device,
                    f"astype({src} -> {dst.name}, {layout})")
            count += 1
    if src.kind == "f":
        x = specials(src)
        for dst in [d for d in device.supported_dtypes() if d.kind == "float"]:
            compare(to_device(x, device).astype(dst), reference.astype(x, dst.numpy), device,
                    f"astype(specials -> {dst.name})")
            count += 1
    return count


def check_fill(op, dtype, device, rng):
    count = 0
    dt = np.dtype(dtype)
    value = {"b": True, "i": -7, "u": 200, "f": -2.5}[dt.kind]
    if dt == np.int8:
        value = -7
    for shape in [(), (0,), (5, 3)]:
        compare(ts.full(shape, value, dtype=dtype, device=device), np.full(shape, value, dt), device,
                f"full({shape}, {value})")
        count += 1
    x = np.zeros((4, 6), dt)
    t = to_device(x, device)
    t[1::2, ::3] = value
    x[1::2, ::3] = value
    compare(t, x, device, "setitem of a scalar into a strided view")
    return count + 1


def check_arange(op, dtype, device, rng):
    dt = np.dtype(dtype)
    cases = [(0, 10, 1), (2, 20, 3), (0, 0, 1)]
    if dt.kind == "i":
        cases.append((5, -7, -3))
    if dt.kind == "f":
        cases += [(0.0, 1.0, 0.125), (-1.5, 2.0, 0.5)]
    for start, stop, step in cases:
        compare(ts.arange(start, stop, step, dtype=dtype, device=device),
                np.arange(start, stop, step, dtype=np.float64).astype(dt), device, f"arange({start}, {stop}, {step})")
    if dt.kind == "f":
        compare(ts.linspace(0, 1, 11, dtype=dtype, device=device), np.linspace(0, 1, 11).astype(dt), device,
                "linspace(0, 1, 11)")
    return len(cases)


def check_random(op, dtype, device, rng):
    dt = np.dtype(dtype)
    count = 0
    for n in (1, 1000, LARGE):
        ts.manual_seed(1234)
        if op == "randint":
            low, high = (0, 100) if dt.kind == "u" else (-50, 50)
            got = ts.randint(low, high, size=(n,), dtype=dtype, device=device)
            expected = reference.random(op, dt, n, 1234, 0, low, high)
            compare(got, expected, device, f"randint({n})")
        else:
            got = getattr(ts, op)(n, dtype=dtype, device=device)
            expected = reference.random(op, dt, n, 1234, 0)
            compare(got, expected, device, f"{op}({n}) is the Philox stream of Note [Random numbers]",
                    rtol=1e-5 if op == "randn" and dt != np.float16 else None)
        count += 1
    # the stream moves on between calls, and the values look like their distribution
    ts.manual_seed(7)
    if op == "randint":
        first, second = (ts.randint(0, 10, size=(LARGE,), dtype=dtype, device=device).numpy() for _ in range(2))
        lo_ok = first.min() == 0 and first.max() == 9
    else:
        first, second = (getattr(ts, op)(LARGE, dtype=dtype, device=device).numpy().astype(np.float64)
                         for _ in range(2))
        mean, std = (0.5, np.sqrt(1 / 12)) if op == "rand" else (0.0, 1.0)
        lo_ok = abs(first.mean() - mean) < 0.02 and abs(first.std() - std) < 0.02
        if op == "rand":
            lo_ok = lo_ok and first.min() >= 0 and first.max() < 1
    if np.array_equal(first, second) or not lo_ok:
        raise Failure(f"{op}: successive draws repeat, or their distribution is off")
    return count + 1


CHECKS = {"unary": check_elementwise, "binary": check_elementwise, "reduction": check_reduction,
          "matmul": check_matmul, "softmax": check_softmax, "where": check_where, "astype": check_astype,
          "fill": check_fill, "arange": check_arange, "random": check_random}


def check(op, dtype, device, seed=0):
    """Run every sample of (op, dtype) on ``device``; returns the number of samples, raises Failure on the first
    wrong answer."""
    rng = np.random.default_rng([seed, hash(op) & 0xFFFF, np.dtype(dtype).num])
    family = ts.OPS[op]
    return CHECKS[family](op, dtype, device, rng)


def promoted(op, dtype):
    """True when the public API computes ``op`` on ``dtype`` in another dtype (integers in float32 for exp, divide,
    softmax, ...), so that no kernel of ``dtype`` is needed: see kernels/optable.py ``to_float``."""
    if np.dtype(dtype).kind == "f":
        return False
    info = optable.ELEMENTWISE.get(op)
    return (info is not None and info.to_float) or op in ("softmax", "log_softmax")


def check_not_implemented(op, dtype, device):
    """A (op, dtype) the device does not claim must raise the clear, typed error naming op, device and dtype."""
    family = ts.OPS[op]
    dt = np.dtype(dtype)
    x = np.ones((3,), dt)
    try:
        with _no_fallback(device):
            if family in ("unary", "binary"):
                t = to_device(x, device)
                getattr(ts, op)(*([t] * optable.ELEMENTWISE[op].arity))
            elif family == "reduction":
                getattr(ts, op)(to_device(x, device))
            elif family == "matmul":
                ts.matmul(to_device(np.ones((2, 2), dt), device), to_device(np.ones((2, 2), dt), device))
            elif family == "softmax":
                getattr(ts, op)(to_device(x, device))
            elif family == "where":
                ts.where(to_device(np.array([True, False, True]), device), to_device(x, device),
                         to_device(x, device))
            elif family == "astype":
                to_device(x, device).astype("float32" if dt != np.float32 else "int32")
            elif family == "fill":
                ts.full((3,), 1, dtype=dtype, device=device)
            elif family == "arange":
                ts.arange(0, 3, dtype=dtype, device=device)
            elif family == "random":
                if op == "randint":
                    ts.randint(0, 3, size=(3,), dtype=dtype, device=device)
                else:
                    getattr(ts, op)(3, dtype=dtype, device=device)
    except ts.KernelNotFoundError as exc:
        text = str(exc)
        for word in (op, device.type, np.dtype(dtype).name):
            if word not in text:
                raise Failure(f"the not-implemented error does not name {word!r}: {text}")
        return
    except (TypeError, ValueError, ts.TensorSwitchError):
        return  # the public API refused the dtype before dispatch (for example rand with an integer dtype)
    raise Failure(f"{op} ran for {np.dtype(dtype).name} on {device} although no kernel is registered")


class _no_fallback:
    def __init__(self, device):
        self.device = device.type

    def __enter__(self):
        self.saved = ts.registry.fallback_for(self.device)
        ts.registry.set_fallback(self.device, None)

    def __exit__(self, *exc):
        ts.registry.set_fallback(self.device, self.saved)
