"""The shared database of sample inputs, and the check of one (op, device, dtype) against the NumPy reference.

Every sample runs through the public API (``ts.add(x, y)``, ``x.sum(axis=...)``, ``x += y``), so the check covers the
whole path a user takes: promotion, broadcasting, dispatch and the kernel.  Inputs cover broadcasting (size 0
included), 0-d, empty, non-contiguous views (strided, transposed, reversed), NaN and infinities, large and tiny values,
integer edges, mixed dtypes and Python scalars (Note [Type promotion] in dispatch/dtypes.py), in-place ops whose
operand overlaps the target, and shapes large enough to take every backend's multi-threaded and multi-work-group paths.

A sample is data (:class:`Sample`): what it is, how to compute it on the device, and the expected NumPy answer with its
tolerances (or the exception it must raise).  :func:`samples` lists the samples of one (op, dtype) on a device;
:func:`check` runs them.  The data are the same in every process: the generator is seeded from the op's and the
dtype's names (zlib.crc32), never from ``hash()``, which Python randomises per process.

Note [Reduction tolerances]
~~~~~~~~~~~~~~~~~~~~~~~~~~~
A float sum over n elements is compared with the float64 sum rounded to the result dtype, allowing

    atol = eps(result) * |sum| + 4 * eps(acc) * sqrt(n) * sqrt(sum of x**2)

where acc is the accumulation dtype every backend must at least use: float32 for float16 and float32 inputs, float64
for float64.  The first term is the final rounding; the second is a generous statistical bound on the rounding of n
additions in any order (sequential, blocked, pairwise, tree).  The inputs of float sums have magnitudes in [1, 2] with
as many negative as positive values, so that the partial sums stay small and every element is larger than the
tolerance: a backend that drops or doubles one element fails (tests/test_samples.py proves it for every sum sample).
Products are compared relatively, rtol = eps(result) + 8 * eps(acc) * sqrt(n), on factors exp(+-u) with u in
[0.005, 0.01], so that dropping any factor changes the product by more than the tolerance.  Matmul allows
eps(result) * |c| + 2 * K * eps(acc) * (|a| @ |b|): the worst-case bound of a K-term dot product, which any missing
term of magnitude about 1 exceeds.
"""

import operator
import zlib

import numpy as np

import tensorswitch as ts
from ..kernels import optable
from . import reference


LARGE = 100_003  # crosses the cpu threading grain and spans many OpenCL/CUDA work-groups
MEDIUM = 40_009  # past the cpu threading grain too, for samples that have several such axes

# per result dtype: (rtol, atol) for elementwise results
TOLERANCE = {"float16": (5e-3, 1e-3), "float32": (2e-5, 1e-6), "float64": (1e-10, 1e-12)}

SHOWN = 5  # how many differing positions a failure message lists

#: dtypes that also get the expensive samples where the dtype changes little (a large tensor next to a Python scalar,
#: a second transposed long reduction): one or two per kind
WIDE_DTYPES = ("int32", "uint8", "float32", "float64")


class Failure(Exception):
    """A wrong answer: the message says where and how it differs."""


class SampleFailure(Failure):
    """Sample number ``index`` (counting from 1, in the order :func:`samples` lists them) of ``op``/``dtype`` failed;
    ``what`` describes it, ``cause`` is the original exception."""

    def __init__(self, op, dtype, index, what, cause):
        self.op, self.dtype, self.index, self.what, self.cause = op, dtype, index, what, cause
        text = str(cause) if isinstance(cause, Failure) else f"{what}: {type(cause).__name__}: {cause}"
        super().__init__(f"sample {index} of {op}/{dtype} failed ({index - 1} passed before it): {text}")


class Sample:
    """One sample.

    what:     a description, shown when it fails
    run:      a function of no arguments computing the result on the device (a tensor)
    expected: the NumPy answer (dtype and shape included), or None
    atol, rtol: tolerances for float results (None: the dtype's default in TOLERANCE); may be arrays
    raises:   instead of a result, ``run()`` must raise this exception type
    check:    a function of the result raising Failure, for samples no array can describe (random streams)
    inputs:   the NumPy inputs and parameters, for tests of the database itself
    """

    __slots__ = ("what", "run", "expected", "atol", "rtol", "raises", "check", "inputs")

    def __init__(self, what, run, expected=None, atol=None, rtol=None, raises=None, check=None, inputs=None):
        self.what, self.run, self.expected, self.atol, self.rtol = what, run, expected, atol, rtol
        self.raises, self.check, self.inputs = raises, check, inputs or {}

    def __repr__(self):
        return f"Sample({self.what!r})"

    def verify(self, device):
        """Run the sample on ``device``; raise Failure (or the backend's own exception) unless it passes."""
        if self.raises is not None:
            try:
                result = self.run()
            except self.raises:
                return
            shown = result.numpy().ravel()[:SHOWN].tolist() if isinstance(result, ts.Tensor) else result
            raise Failure(f"{self.what}: expected {self.raises.__name__}, got a result ({shown})")
        result = self.run()
        if self.check is not None:
            self.check(result)
        if self.expected is not None:
            compare(result, self.expected, device, self.what, self.atol, self.rtol)


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


def seeded_rng(*keys):
    """A generator seeded from strings and ints, the same in every process (``hash()`` of a str is not)."""
    return np.random.default_rng([k if isinstance(k, int) else zlib.crc32(str(k).encode()) for k in keys])


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


def _eps(dtype):
    return float(np.finfo(dtype).eps)


def _acc_eps(dtype):
    """The epsilon of the accumulation dtype every backend must at least use (see Note [Reduction tolerances])."""
    return _eps(np.float64) if np.dtype(dtype) == np.float64 else _eps(np.float32)


# -- comparison ---------------------------------------------------------------------------------------------------

def compare(got, expected, device, what, atol=None, rtol=None):
    """Raise Failure unless tensor ``got`` equals NumPy ``expected`` in device, dtype, shape and values.

    A value failure lists the first few positions that differ (index tuples, with the value got and expected at each)
    and how many differ in all.
    """
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
    if host.tobytes() == np.ascontiguousarray(expected).tobytes():
        return  # bit for bit: the common case, and the cheapest test
    if expected.dtype.kind != "f":
        bad = host != expected
        if bad.any():
            raise Failure(f"{what}: {_describe(host, expected, bad)}")
        return
    r, a = TOLERANCE[expected.dtype.name]
    rtol = r if rtol is None else rtol
    atol = a if atol is None else atol
    h, e = host.astype(np.float64, copy=False), expected.astype(np.float64, copy=False)
    with np.errstate(invalid="ignore", over="ignore"):
        # a NaN anywhere, or an infinity on either side, makes the difference NaN or inf and the position a candidate;
        # candidates pass only when both sides are the same infinity or both NaN
        limit = np.broadcast_to(atol + rtol * np.minimum(np.abs(e), np.finfo(np.float64).max), e.shape)
        candidates = np.flatnonzero(~(np.abs(h - e) <= limit))
        if not candidates.size:
            return
        hc, ec = h.ravel()[candidates], e.ravel()[candidates]
        wrong = candidates[~((hc == ec) | (np.isnan(hc) & np.isnan(ec)))]
    if wrong.size:
        bad = np.zeros(e.shape, bool)
        bad.flat[wrong] = True
        raise Failure(f"{what}: {_describe(host, expected, bad, limit)}")


def _describe(host, expected, bad, limit=None):
    """'3 of 20 values differ: at (0, 1) got 1.0, expected 2.0; ...' for the first SHOWN positions."""
    positions = np.argwhere(bad)
    parts = []
    for pos in positions[:SHOWN]:
        i = tuple(int(k) for k in pos)
        text = f"at {i} got {host[i].item()!r}, expected {expected[i].item()!r}"
        if limit is not None and np.isfinite(expected[i]):
            text += f" (tolerance {float(limit[i]):.3g})"
        parts.append(text)
    more = "; ..." if len(positions) > SHOWN else ""
    return f"{len(positions)} of {bad.size} values differ: " + "; ".join(parts) + more


# -- building samples ---------------------------------------------------------------------------------------------

class Shared:
    """An input that several samples read (and none writes): uploaded once, by the first sample that runs."""

    __slots__ = ("x", "layout", "tensor")

    def __init__(self, x, layout="contiguous"):
        self.x, self.layout, self.tensor = x, layout, None

    def on(self, device):
        if self.tensor is None:
            self.tensor = to_device(self.x, device, self.layout)
        return self.tensor


def _on(device, arg):
    """A sample argument: (array, layout) uploads, a Shared input uploads once, anything else (a Python scalar)
    passes through."""
    if isinstance(arg, tuple) and len(arg) == 2 and isinstance(arg[0], np.ndarray):
        return to_device(arg[0], device, arg[1])
    if isinstance(arg, Shared):
        return arg.on(device)
    return arg


def _host(arg):
    return arg[0] if isinstance(arg, tuple) else arg.x if isinstance(arg, Shared) else arg


def _call(what, fn, device, args, expected, kwargs=None, **kw):
    """A sample computing ``fn(*args, **kwargs)`` with the arrays among ``args`` uploaded in their layouts."""
    kwargs = kwargs or {}

    def run():
        return fn(*[_on(device, a) for a in args], **kwargs)

    inputs = {"args": [_host(a) for a in args], **kwargs}
    return Sample(what, run, expected, inputs=inputs, **kw)


def _supports(device, *dtypes):
    supported = device.supported_dtypes()
    return all(ts.dtype(np.dtype(d).name) in supported for d in dtypes)


def _runnable(device, op, compute, sources=(), scalar=False):
    """Whether ``device`` has what a sample computing ``op`` in ``compute`` from ``sources`` needs: the op's kernel,
    the casts from each source dtype, and ``fill`` for a Python scalar.  Samples that mix dtypes are skipped where a
    kernel of another dtype is missing: that is another cell's business."""
    compute = np.dtype(compute).name
    if not _supports(device, compute, *sources):
        return False
    has = ts.registry.has_kernel
    if not has(op, device, ts.dtype(compute)) or (scalar and not has("fill", device, ts.dtype(compute))):
        return False
    return all(np.dtype(s).name == compute or has("astype", device, ts.dtype(np.dtype(s).name)) for s in sources)


def _cast(x, dtype):
    with np.errstate(all="ignore"):
        return np.asarray(x).astype(dtype)


# -- elementwise ----------------------------------------------------------------------------------------------------

UNARY_SHAPES = [((), "contiguous"), ((0,), "contiguous"), ((17,), "contiguous"), ((17,), "strided"),
                ((4, 5), "transposed"), ((2, 3, 4), "reversed"), ((LARGE,), "contiguous")]
BINARY_SHAPES = [((4, 5), (4, 5), "contiguous"), ((4, 1), (1, 5), "contiguous"), ((5,), (3, 5), "contiguous"),
                 ((), (6,), "contiguous"), ((), (), "contiguous"), ((0, 3), (1, 3), "contiguous"),
                 # broadcasting against size 0
                 ((0,), (), "contiguous"), ((0, 3), (3,), "contiguous"), ((2, 0), (2, 1), "contiguous"),
                 ((0,), (1,), "contiguous"),
                 ((3, 4), (3, 4), "transposed"), ((6,), (6,), "strided"), ((2, 3, 4), (3, 1), "reversed"),
                 ((LARGE,), (LARGE,), "contiguous"), ((LARGE,), (), "contiguous")]

#: the in-place operator of each binary op that has one
IN_PLACE = {"add": operator.iadd, "subtract": operator.isub, "multiply": operator.imul,
            "divide": operator.itruediv, "floor_divide": operator.ifloordiv, "remainder": operator.imod,
            "pow": operator.ipow}

#: in-place ops whose operand overlaps the target: (text, shape, target index, operand of the base array)
OVERLAPS = [("x {op}= x.T", (6, 6), (Ellipsis,), lambda x: x.T),
            ("x[1:] {op}= x[:-1]", (37,), (slice(1, None),), lambda x: x[:-1]),
            ("x[::2] {op}= x[1::2]", (38,), (slice(None, None, 2),), lambda x: x[1::2]),
            ("x {op}= x[::-1]", (37,), (Ellipsis,), lambda x: x[::-1]),
            ("x {op}= x[0] (broadcast row)", (4, 6), (Ellipsis,), lambda x: x[0]),
            ("x {op}= x[:, :1] (broadcast column)", (4, 6), (Ellipsis,), lambda x: x[:, :1])]

SYMBOLS = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "floor_divide": "//", "remainder": "%",
           "pow": "**"}
COMPARISONS = ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal")
LOGICAL = ("logical_and", "logical_or")
ARITHMETIC = ("add", "subtract", "multiply", "floor_divide", "remainder", "pow", "maximum", "minimum")


def _domain(op, dtype, shape, rng, position):
    """Inputs that keep an op inside the range where NumPy defines it."""
    if op == "pow" and np.dtype(dtype).kind in "iu":
        return values(dtype, shape, rng, 0, 9) if position == 0 or np.dtype(dtype).kind == "u" else \
            values(dtype, shape, rng, -2, 7)
    return values(dtype, shape, rng)


def elementwise_samples(op, dtype, device, rng):
    info = optable.ELEMENTWISE[op]
    fn = getattr(ts, op)
    ref = reference.ELEMENTWISE[op]
    dt = np.dtype(dtype)
    if info.arity == 1:
        for shape, layout in UNARY_SHAPES:
            x = _domain(op, dtype, shape, rng, 0)
            yield _call(f"{op}({layout} {shape})", fn, device, [(x, layout)], ref(x))
        if dt.kind == "f":
            x = specials(dtype)
            yield _call(f"{op}(NaN, inf, tiny, huge)", fn, device, [(x, "contiguous")], ref(x))
        return
    for sa, sb, layout in BINARY_SHAPES:
        a, b = _domain(op, dtype, sa, rng, 0), _domain(op, dtype, sb, rng, 1)
        if op in ("floor_divide", "remainder") and b.size:
            b.flat[0] = 0  # division by zero gives 0 for integers, inf/NaN for floats
        ea, eb = np.broadcast_arrays(a, b)
        yield _call(f"{op}({layout} {sa}, {sb})", fn, device, [(a, layout), (b, layout)], ref(ea, eb))
    yield from _binary_edges(op, dtype, device, fn, ref)
    yield from _binary_in_place(op, dtype, device, rng, ref)
    yield from _binary_mixed(op, dtype, device, rng, fn, ref)
    yield from _binary_scalars(op, dtype, device, rng, fn, ref)
    yield from _binary_out_of_range(op, dtype, device, rng, fn)


def _binary_edges(op, dtype, device, fn, ref):
    """Specials for floats; for integers the edges of ops_common.h: x // 0 == x % 0 == 0, INT_MIN // -1 wraps,
    negative divisors round towards -inf, negative integer powers give 0 except for bases 1 and -1."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        s = specials(dtype)
        a, b = np.repeat(s, len(s)), np.tile(s, len(s))
        yield _call(f"{op}(specials x specials)", fn, device, [(a, "contiguous"), (b, "contiguous")], ref(a, b))
        return
    if dt.kind not in "iu":
        return
    info = np.iinfo(dt)
    signed = dt.kind == "i"
    if op in ("floor_divide", "remainder"):
        if signed:
            ea = [info.min, info.min, info.min, info.max, info.max, -7, 7, -7, 7, 0, info.min + 1, -1, 5, -5]
            eb = [-1, 1, 0, -1, 0, 2, -2, -2, 2, 0, -1, info.min, info.max, info.min]
            ga, gb = np.meshgrid(np.arange(-9, 10), np.arange(-4, 5))
        else:
            ea, eb = [info.max, info.max, 0, 7, 200], [0, 1, info.max, 2, 7]
            ga, gb = np.meshgrid(np.arange(0, 20), np.arange(0, 6))
    elif op == "pow":
        if signed:
            ga, gb = np.meshgrid(np.arange(-3, 4), np.arange(-3, 7))
            ea, eb = [3, 3, -3, 2, -2, 7], [20, 41, 63, dt.itemsize * 8 - 1, dt.itemsize * 8, 13]
        else:
            ga, gb = np.meshgrid(np.arange(0, 6), np.arange(0, 9))
            ea, eb = [3, 3, 2, 7], [20, 41, 8, 13]
    else:
        return
    a = np.concatenate([np.array(ea, np.int64), ga.ravel()]).astype(dt)
    b = np.concatenate([np.array(eb, np.int64), gb.ravel()]).astype(dt)
    yield _call(f"{op}(integer edges: zero and negative divisors, INT_MIN, negative powers)", fn, device,
                [(a, "contiguous"), (b, "contiguous")], ref(a, b))


def _binary_in_place(op, dtype, device, rng, ref):
    """``x op= y`` where ``y`` overlaps ``x``: NumPy's answer, as if ``y`` were copied first."""
    if op not in IN_PLACE or np.dtype(dtype).kind not in "iuf":
        return
    if op == "divide" and np.dtype(dtype).kind != "f":
        return
    if not _runnable(device, op, dtype, [dtype]):
        return
    iop = IN_PLACE[op]
    for text, shape, index, operand in OVERLAPS:
        if op == "pow":
            x = values(dtype, shape, rng, 0, 3) if np.dtype(dtype).kind != "f" else values(dtype, shape, rng, 0.5, 1.5)
        else:
            x = values(dtype, shape, rng)
        expected = x.copy()
        target = expected[index]
        other = np.broadcast_to(np.array(operand(expected), copy=True), target.shape)
        target[...] = ref(target.copy(), other.copy())

        def run(x=x, index=index, operand=operand):
            t = to_device(x, device)
            iop(t[index], operand(t))
            return t

        yield Sample(text.format(op=SYMBOLS[op]) + f" {shape}", run, expected, inputs={"args": [x]})


def _binary_mixed(op, dtype, device, rng, fn, ref):
    """Tensors of two different dtypes, in both orders, for every pair of supported dtypes that computes in
    ``dtype`` (so that a failure names the kernel that ran): the compute dtype is NumPy 2's promotion (Note [Type
    promotion]: int8 with uint8 gives int16, int64 with float32 float64, bool with int8 int8); ops that compute in
    float (divide) take float32 where that is an integer.  Every ordered pair of dtypes is in exactly one cell."""
    info = optable.ELEMENTWISE[op]
    supported = sorted(device.supported_dtypes(), key=lambda d: d.code)
    inputs = {}

    def operand(dt, shape):
        key = (dt.name, shape)
        if key not in inputs:
            small = op == "pow" and dt.kind != "bool"  # small bases and exponents
            inputs[key] = Shared(values(dt.numpy, shape, rng, 0, 4 if shape == (3, 4) else 3) if small else
                                 values(dt.numpy, shape, rng))
        return inputs[key]

    for first in supported:
        for second in supported:
            if first is second:
                continue
            compute = np.promote_types(first.numpy, second.numpy)
            if info.to_float and compute.kind != "f":
                compute = np.dtype(np.float32)
            if compute.name != dtype or not _runnable(device, op, compute, [first.name, second.name]):
                continue
            a, b = operand(first, (3, 4)), operand(second, (4,))
            yield _call(f"{op}({first.name} (3, 4), {second.name} (4,)) computes in {compute}", fn, device, [a, b],
                        ref(_cast(a.x, compute), _cast(b.x, compute)))


def _scalar_compute(dtype, scalar, to_float):
    """The dtype a tensor of ``dtype`` and a weak Python scalar compute in (Note [Type promotion])."""
    dt = np.dtype(dtype)
    if isinstance(scalar, bool):
        out = dt
    elif isinstance(scalar, int):
        out = np.dtype(np.int64) if dt.kind == "b" else dt
    else:
        out = dt if dt.kind == "f" else np.dtype(np.float32)
    if to_float and out.kind != "f":
        out = np.dtype(np.float32)
    return out


def _scalar_values(op, dtype):
    """[(Python scalar, sides)]: the first of each kind on both sides, the others on the right."""
    dt = np.dtype(dtype)
    if op == "pow":
        ints = [(2, "both")] + ([(-1, "right")] if dt.kind == "i" else [])
        floats = [(1.5, "both")]
    else:
        ints = [(3, "both")] + ([(-2, "right")] if dt.kind in "if" else [])
        if op in ("floor_divide", "remainder") and dt.kind in "iu":
            ints.append((0, "right"))
        floats = [(2.5, "both"), (-1.5, "right")]
    return ints + floats + [(True, "right")]


def _binary_scalars(op, dtype, device, rng, fn, ref):
    """Python scalars on either side of a tensor, wherever the pair computes in ``dtype``: weak scalars take the
    tensor's dtype where their kind fits (a float16 tensor with a Python float stays float16), so the float32 cell
    also has integer and bool tensors with Python floats (they give float32) and the int64 cell bool tensors with
    Python ints (they give int64)."""
    info = optable.ELEMENTWISE[op]
    for tensor in sorted(device.supported_dtypes(), key=lambda d: d.code):
        tdt = tensor.name
        cases = [(scalar, sides, _scalar_compute(tdt, scalar, info.to_float))
                 for scalar, sides in _scalar_values(op, tdt)]
        cases = [c for c in cases if c[2].name == dtype and _runnable(device, op, c[2], [tdt], scalar=True)]
        if not cases:
            continue
        if op == "pow":  # small bases and exponents
            x = values(tdt, (5, 7), rng, 0, 5) if tensor.kind != "float" else values(tdt, (5, 7), rng, 0.5, 3)
        else:
            x = values(tdt, (5, 7), rng)
        shared = Shared(x)
        for scalar, sides, compute in cases:
            cx, cs = _cast(x, compute), _cast(np.full(x.shape, scalar), compute)
            yield _call(f"{op}({tdt} (5, 7), {scalar!r}) computes in {compute}", fn, device, [shared, scalar],
                        ref(cx, cs))
            if sides == "both":
                yield _call(f"{op}({scalar!r}, {tdt} (5, 7)) computes in {compute}", fn, device, [scalar, shared],
                            ref(cs, cx))
    first = _scalar_values(op, dtype)[0][0]
    if _runnable(device, op, dtype, [dtype], scalar=True) and _scalar_compute(dtype, first, info.to_float) == dtype:
        # non-contiguous and large tensors next to a scalar (a stride-0 operand in the kernel)
        x = values(dtype, (4, 6), rng, 0, 5) if op == "pow" else values(dtype, (4, 6), rng)
        yield _call(f"{op}(transposed {dtype} (4, 6), {first!r})", fn, device, [(x, "transposed"), first],
                    ref(x, np.full(x.shape, first, x.dtype)))
        if dtype in WIDE_DTYPES:
            x = values(dtype, (LARGE,), rng, 0, 5) if op == "pow" else values(dtype, (LARGE,), rng)
            yield _call(f"{op}({first!r}, {dtype} ({LARGE},))", fn, device, [first, (x, "contiguous")],
                        ref(np.full(x.shape, first, x.dtype), x))


def _binary_out_of_range(op, dtype, device, rng, fn):
    """Python ints outside the integer tensor's range: comparisons give the mathematically right answer
    (uint8 [0, 5] < -1 is [False, False]), logical ops test the value against 0, arithmetic raises OverflowError
    (NumPy 2's rules)."""
    dt = np.dtype(dtype)
    if dt.kind not in "iu" or not _runnable(device, op, dtype, [dtype]):
        return
    info = np.iinfo(dt)
    x = values(dtype, (3, 4), rng)
    exact = x.astype(object)
    shared = Shared(x)
    if op in COMPARISONS:
        ufunc = getattr(np, op)
        for s in (info.max + 1, info.min - 1, 2 ** 70, -2 ** 70, 300 if dt.itemsize == 1 else 2 ** 40):
            yield _call(f"{op}({dtype} (3, 4), {s}) with the int out of range", fn, device, [shared, s],
                        np.asarray(ufunc(exact, s), dtype=bool))
            yield _call(f"{op}({s}, {dtype} (3, 4)) with the int out of range", fn, device, [s, shared],
                        np.asarray(ufunc(s, exact), dtype=bool))
    elif op in LOGICAL:
        ufunc = getattr(np, op)
        s = 2 ** (8 * dt.itemsize)  # wraps to 0 in the tensor's dtype, but is true
        yield _call(f"{op}({dtype} (3, 4), {s}) with the int out of range", fn, device, [shared, s],
                    ufunc(x != 0, True))
        yield _call(f"{op}({-s}, {dtype} (3, 4)) with the int out of range", fn, device, [-s, shared],
                    ufunc(True, x != 0))
    elif op in ARITHMETIC:
        for s in (info.max + 1, info.min - 1):
            yield _call(f"{op}({dtype} (3, 4), {s}) raises OverflowError", fn, device, [shared, s], None,
                        raises=OverflowError)
            yield _call(f"{op}({s}, {dtype} (3, 4)) raises OverflowError", fn, device, [s, shared], None,
                        raises=OverflowError)


# -- reductions -----------------------------------------------------------------------------------------------------

REDUCTION_CASES = [((), None), ((7,), None), ((7,), 0), ((3, 4, 5), 1), ((3, 4, 5), (0, 2)), ((3, 4, 5), -1),
                   ((3, 4, 5), None), ((4, 6), 0), ((0, 3), 1)]

#: long reductions, (shape, axis, layout), all past the cpu threading grain (32768 elements): the cpu backend splits
#: one long reduction across threads when there are fewer outputs than threads ((LARGE,) always, (2, MEDIUM) with
#: more than two threads) and parallelises over the outputs otherwise ((128, 300) for up to 128 threads); OpenCL
#: and CUDA split a long axis over several work-groups and a second pass ((LARGE,), (2, MEDIUM)), or give each output
#: one work-group ((128, 300))
LONG_REDUCTIONS = [((LARGE,), None, "contiguous"), ((MEDIUM,), 0, "strided"), ((2, MEDIUM), -1, "contiguous"),
                   ((MEDIUM, 2), 0, "contiguous"), ((128, 300), -1, "contiguous"), ((300, 128), 0, "reversed")]
#: and for WIDE_DTYPES only
WIDE_REDUCTIONS = [((2, LARGE), -1, "transposed")]


def _extent(shape, axis):
    if not shape:
        return 1
    axes = range(len(shape)) if axis is None else [a % len(shape) for a in ((axis,) if isinstance(axis, int) else axis)]
    return int(np.prod([shape[a] for a in axes]))


def reduction_values(op, dtype, shape, axis, rng):
    """Inputs for a reduction: see Note [Reduction tolerances] for float sums and products; all/any get inputs where
    the answer depends on one element; the others random values (with the integer edges)."""
    dt = np.dtype(dtype)
    n = int(np.prod(shape)) if shape else 1
    if op in ("sum", "prod") and dt.kind == "f":
        signs = np.where(rng.permutation(n) % 2 == 0, 1.0, -1.0)
        if op == "sum":
            flat = signs * rng.uniform(1.0, 2.0, n)
        else:
            flat = rng.permutation(signs) * np.exp(signs * rng.uniform(0.005, 0.01, n))
        return flat.astype(dt).reshape(shape)
    if op in ("all", "any"):
        flip = rng.random(n) < min(0.5, 0.7 / max(1, _extent(shape, axis)))
        truth = ~flip if op == "all" else flip
        if dt.kind == "b":
            return truth.reshape(shape)
        x = values(dt, (n,), rng)
        x = np.where(x == 0, np.ones((), dt), x) if dt.kind != "f" else np.where(x == 0, np.nan, x).astype(dt)
        return np.where(truth, x, np.zeros((), dt)).astype(dt).reshape(shape)
    return values(dt, shape, rng)


def reduction_tolerance(op, x, axis):
    """(atol, rtol) for reduction ``op`` of float ``x`` over ``axis`` (None, None elsewhere): Note [Reduction
    tolerances]."""
    if op not in ("sum", "prod") or x.dtype.kind != "f":
        return None, None
    n = max(1, _extent(x.shape, axis))
    x64 = x.astype(np.float64)
    tiny = float(np.finfo(x.dtype).smallest_subnormal)
    with np.errstate(all="ignore"):
        if op == "sum":
            total = np.abs(np.sum(x64, axis=axis))
            spread = np.sqrt(np.sum(x64 * x64, axis=axis))
            return np.asarray(_eps(x.dtype) * total + 4 * _acc_eps(x.dtype) * np.sqrt(n) * spread + tiny), 0.0
    return tiny, _eps(x.dtype) + 8 * _acc_eps(x.dtype) * np.sqrt(n)


def _reduction_sample(op, dtype, device, x, axis, layout="contiguous", keepdims=False, label=""):
    expected = reference.reduction(op, x, axis)
    atol, rtol = reduction_tolerance(op, x, axis)
    if keepdims:
        axes = range(x.ndim) if axis is None else [a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis)]
        shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
        atol = None if atol is None else np.reshape(np.broadcast_to(atol, expected.shape), shape)
        expected = expected.reshape(shape)
    what = f"{op}({label}{layout} {x.shape}, axis={axis}" + (", keepdims=True)" if keepdims else ")")
    return Sample(what, _bound_reduction(op, axis, keepdims, x, layout, device), expected, atol=atol, rtol=rtol,
                  inputs={"x": x, "axis": axis, "layout": layout, "keepdims": keepdims})


def _bound_reduction(op, axis, keepdims, x, layout, device):
    fn = getattr(ts, op)
    if keepdims:
        return lambda: fn(to_device(x, device, layout), axis=axis, keepdims=True)
    return lambda: fn(to_device(x, device, layout), axis=axis)


def reduction_samples(op, dtype, device, rng):
    arg = op in ("argmax", "argmin")
    dt = np.dtype(dtype)
    for shape, axis in REDUCTION_CASES:
        if arg and isinstance(axis, tuple):
            continue
        for layout in ("contiguous", "transposed") if len(shape) > 1 else ("contiguous",):
            yield _reduction_sample(op, dtype, device, reduction_values(op, dtype, shape, axis, rng), axis, layout)
    for shape, axis, layout in LONG_REDUCTIONS + (WIDE_REDUCTIONS if dtype in WIDE_DTYPES else []):
        yield _reduction_sample(op, dtype, device, reduction_values(op, dtype, shape, axis, rng), axis, layout)
    # keepdims: one axis, a negative axis, all axes (axis=None keeps every dimension as 1), several axes
    for shape, axis in [((3, 4), -1), ((2, 3, 4), -2), ((2, 3, 4), None), ((2, 3, 4), (0, 2))]:
        if arg and isinstance(axis, tuple):
            continue
        yield _reduction_sample(op, dtype, device, reduction_values(op, dtype, shape, axis, rng), axis,
                                keepdims=True)
    if arg and dt.kind in "iuf":
        # ties: the first index wins, also when the tie spans the chunks of a split reduction
        x = rng.integers(0, 4, (3, 4, 5)).astype(dt)  # four values: many ties
        for axis in (1, -1, None):
            yield _reduction_sample(op, dtype, device, x, axis, label="ties in ")
        x = np.zeros((LARGE,), dt)
        yield _reduction_sample(op, dtype, device, x, None, label="all equal ")
        x = values(dtype, (LARGE,), rng, -3, 3) if dt.kind != "u" else values(dtype, (LARGE,), rng, 1, 3)
        extreme = np.array(4 if op == "argmax" else (-4 if dt.kind != "u" else 0), dt)
        x[[17, LARGE // 2 + 3, LARGE - 5]] = extreme
        yield _reduction_sample(op, dtype, device, x, None, label="three equal extremes in ")
        yield _reduction_sample(op, dtype, device, np.stack([x, x[::-1]]), -1, label="equal extremes in ")
    if dt.kind == "f":
        x = specials(dtype).reshape(3, 4)
        yield Sample(f"{op}(NaN, inf rows)", _bound_reduction(op, 1, False, x, "contiguous", device),
                     reference.reduction(op, x, 1), atol=np.inf if op in ("sum", "prod") else None,
                     inputs={"x": x, "axis": 1})
        if op in ("argmax", "argmin", "max", "min"):
            # NaN wins, and the first NaN is the index
            x = values(dtype, (LARGE,), rng)
            x[[LARGE // 3, LARGE // 2, LARGE - 2]] = np.nan
            yield _reduction_sample(op, dtype, device, x, None, label="NaNs in ")
            x = values(dtype, (4, 9), rng)
            x[1, [2, 6]] = np.nan
            x[2, 8] = np.nan
            x[3, 0] = np.inf if op in ("argmax", "max") else -np.inf
            for axis in (1, 0):
                yield _reduction_sample(op, dtype, device, x, axis, label="NaNs in ")
    # an empty reduction: the identity, or a clear error for ops without one
    x = np.zeros((0, 3), dtype)
    if optable.REDUCTIONS[op].init is None:
        def run(x=x):
            return getattr(ts, op)(to_device(x, device), axis=0)
        yield Sample(f"{op}(empty axis) raises ValueError", run, raises=ValueError)
    else:
        yield _reduction_sample(op, dtype, device, x, 0, label="empty axis ")


# -- matmul -----------------------------------------------------------------------------------------------------------

MATMUL_CASES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
                ((2, 1, 3, 4), (5, 4, 2)), ((3, 0), (0, 4)), ((0, 3), (3, 2)), ((65, 67), (67, 66)),
                # the outer product (K = 1), and K, M, N just past the 16-wide tiles of the OpenCL and CUDA kernels
                ((17, 1), (1, 33)), ((1,), (1,)), ((17, 17), (17, 33)), ((33, 33), (33, 17)), ((17, 65), (65, 33)),
                ((33, 65), (65, 17)),
                # not square, thin
                ((5, 33), (33, 2)), ((1, 17), (17, 1)), ((40, 3), (3, 1)),
                # 1-D on either side, with and without batches
                ((17,), (17, 33)), ((33, 17), (17,)), ((65,), (65,)), ((2, 3, 17), (17,)), ((17,), (2, 17, 5)),
                # batch broadcasting
                ((3, 1, 17, 33), (2, 33, 5)), ((1, 5, 17), (4, 17, 3))]


def matmul_tolerance(a, b):
    """(atol, rtol) for float matmul: Note [Reduction tolerances]."""
    if a.dtype.kind != "f":
        return None, None
    k = a.shape[-1]
    mag = np.abs(np.matmul(np.abs(a.astype(np.float64)), np.abs(b.astype(np.float64))))
    tiny = float(np.finfo(a.dtype).smallest_subnormal)
    return 2 * max(k, 1) * _acc_eps(a.dtype) * mag + tiny, _eps(a.dtype)


def _matmul_values(dtype, shape, rng):
    dt = np.dtype(dtype)
    if dt.kind == "u":
        return values(dt, shape, rng, 0, 3)
    if dt.kind == "b":
        return values(dt, shape, rng)
    return values(dt, shape, rng, -3, 3) if dt.kind == "i" else values(dt, shape, rng, -1, 1)


def matmul_samples(op, dtype, device, rng):
    for sa, sb in MATMUL_CASES:
        if len(sa) == 2 and len(sb) == 2:
            layouts = ("contiguous", "transposed")
        elif len(sa) > 2 and len(sb) > 2:
            layouts = ("contiguous", "transposed", "strided")
        else:
            layouts = ("contiguous", "strided")
        for layout in layouts:
            a, b = _matmul_values(dtype, sa, rng), _matmul_values(dtype, sb, rng)
            atol, rtol = matmul_tolerance(a, b)
            yield _call(f"matmul({layout} {sa} @ {sb})", ts.matmul, device, [(a, layout), (b, layout)],
                        reference.matmul(a, b), atol=atol, rtol=rtol)
    # a batch broadcast by stride 0 (broadcast_to), against a transposed batch
    a, b = _matmul_values(dtype, (1, 17, 33), rng), _matmul_values(dtype, (4, 33, 5), rng)
    atol, rtol = matmul_tolerance(a, b)

    def run(a=a, b=b):
        return ts.matmul(ts.broadcast_to(to_device(a, device), (4, 17, 33)), to_device(b, device, "transposed"))
    yield Sample("matmul(broadcast_to (1, 17, 33) -> (4, 17, 33) @ transposed (4, 33, 5))", run,
                 reference.matmul(np.broadcast_to(a, (4, 17, 33)), b), atol=atol, rtol=rtol, inputs={"args": [a, b]})


# -- softmax ----------------------------------------------------------------------------------------------------------

SOFTMAX_CASES = [((5,), -1, "contiguous"), ((3, 7), -1, "contiguous"), ((3, 7), 0, "contiguous"),
                 ((2, 3, 4), 1, "contiguous"), ((4, 2000), -1, "contiguous"), ((1,), 0, "contiguous"),
                 ((3, 7), -1, "strided"), ((3, 7), 0, "strided"), ((4, 5), 1, "transposed"), ((4, 5), 0, "transposed"),
                 ((2, 3, 4), -1, "reversed"), ((2, 3, 4), 0, "transposed"),
                 # past the cpu threading grain (32768 elements), along either axis
                 ((64, 1024), -1, "contiguous"), ((64, 1024), 0, "contiguous"), ((64, 1024), -1, "transposed")]

#: rows with a +inf (every position NaN, as in PyTorch), all -inf (NaN), a NaN (NaN), some -inf (exp(-inf) = 0),
#: large values
SOFTMAX_SPECIALS = np.array([[np.inf, 1.0, 2.0, -np.inf], [-np.inf, -np.inf, -np.inf, -np.inf],
                             [np.nan, 1.0, 2.0, 3.0], [0.0, -np.inf, 1.0, -np.inf], [1e4, -1e4, 0.0, 5.0],
                             [-np.inf, 5.0, -np.inf, -np.inf], [2.0, 2.0, 2.0, 2.0]])


def softmax_samples(op, dtype, device, rng):
    log = op == "log_softmax"
    fn = getattr(ts, op)
    atol = TOLERANCE[np.dtype(dtype).name][1] * 10
    for shape, axis, layout in SOFTMAX_CASES:
        x = values(dtype, shape, rng)
        yield _call(f"{op}({layout} {shape}, axis={axis})", fn, device, [(x, layout)], reference.softmax(x, axis, log),
                    kwargs={"axis": axis}, atol=atol)
    x = SOFTMAX_SPECIALS.astype(dtype)
    for layout, axis, data in [("contiguous", -1, x), ("transposed", 0, np.ascontiguousarray(x.T)),
                               ("strided", -1, x)]:
        yield _call(f"{op}({layout} rows with +inf, all -inf, NaN, some -inf, large; axis={axis})", fn, device,
                    [(data, layout)], reference.softmax(data, axis, log), kwargs={"axis": axis}, atol=atol)


# -- where, astype, fill, arange, random -------------------------------------------------------------------------------

def where_samples(op, dtype, device, rng):
    for sc, sa, sb in [((4, 5), (4, 5), (4, 5)), ((4, 1), (1, 5), (5,)), ((), (3,), ()), ((0,), (0,), (1,))]:
        c = np.asarray(rng.random(sc) < 0.5)
        a, b = values(dtype, sa, rng), values(dtype, sb, rng)
        yield _call(f"where({sc}, {sa}, {sb})", ts.where, device, [(c, "contiguous"), (a, "contiguous"),
                                                                    (b, "contiguous")], np.where(c, a, b))
    c = rng.random((3, 4)) < 0.5
    a, b = values(dtype, (3, 4), rng), values(dtype, (3, 4), rng)
    yield _call("where(non-contiguous)", ts.where, device, [(c, "transposed"), (a, "strided"), (b, "reversed")],
                np.where(c, a, b))
    if np.dtype(dtype).kind != "b":  # a weak Python int on either side keeps the tensor's dtype
        yield _call(f"where((3, 4), {dtype} (3, 4), 1)", ts.where, device, [(c, "contiguous"), (a, "contiguous"), 1],
                    np.where(c, a, np.ones((), a.dtype)))
        yield _call(f"where((3, 4), 1, {dtype} (3, 4))", ts.where, device, [(c, "contiguous"), 1, (b, "contiguous")],
                    np.where(c, np.ones((), b.dtype), b))


def cast_edges(src):
    """Values of float dtype ``src`` where casts go wrong: NaN, infinities, huge values, the edges of every integer
    dtype (2**31, -2**31, 2**63, ...), values that round near them, and halfway cases of float16."""
    raw = [np.nan, np.inf, -np.inf, 1e10, -1e10, -1.38e16, 2.0 ** 31, -2.0 ** 31, 2.0 ** 31 - 1, -2.0 ** 31 - 1,
           2.0 ** 63, -2.0 ** 63, 2.0 ** 64, 2.0 ** 32, 300.7, -300.7, 127.9, -128.9, 128.0, 255.9, 256.0, -0.9, 0.9,
           -1.5, 65535.9, 65536.0, 32767.9, -32768.9, 32768.0, 2.5, -0.0]
    return _cast(np.array(raw), src)


def float16_rounding_edges(src):
    """Values of ``src`` (float32 or float64) whose rounding to float16 must be single, directly from ``src``:
    rounding through float32 first would get some wrong (65519.999 gives 65504, not inf)."""
    h = 2.0 ** -11  # half an ulp of float16 at 1
    raw = [65519.999, 65520.0, 65504.0, 65505.0, -65519.999, 1 + h + 2.0 ** -30, 1 + h, 1 + 3 * h, 1 + h - 2.0 ** -30,
           2.0 ** -25, 2.0 ** -25 + 2.0 ** -40, 2.0 ** -24, 3 * 2.0 ** -25, 6.1e-5, 1e-8, -1e-8, 2049.0, 2051.0,
           1e5, -1e5, 0.1, 1 / 3]
    return _cast(np.array(raw), src)


def int_to_float_edges(src):
    """Values of integer dtype ``src`` whose conversion to float32 or float16 must round once (2**53 + 2**29 + 1 to
    float32 through float64 rounds twice)."""
    info = np.iinfo(src)
    raw = [info.min, info.max, 0, 1, -1, 2049, 2051, 65504, 65519, 65520, -65520, 2 ** 24 + 1, 2 ** 24 + 3,
           2 ** 31 - 1, -2 ** 31, 2 ** 53 + 2 ** 29 + 1, -(2 ** 53 + 2 ** 29 + 1), 2 ** 62 + 2 ** 38 + 1, 2 ** 40]
    return np.array([v for v in raw if info.min <= v <= info.max], dtype=src)


def astype_samples(op, dtype, device, rng):
    src = np.dtype(dtype)
    targets = sorted(device.supported_dtypes(), key=lambda d: d.code)

    def cast(dst):
        return lambda t: t.astype(dst)

    for dst in targets:
        dst_np = dst.numpy
        if src.kind == "f" and dst_np.kind in "iub":
            x = np.round(values(src, (5, 6), rng, 0 if dst_np.kind == "u" else -100, 100), 1).astype(src)
            x.flat[0] = 0
        elif src.kind in "iu" and dst_np == np.float16:
            x = values(src, (5, 6), rng, 0 if src.kind == "u" else -100, 100)
        else:
            x = values(src, (5, 6), rng)
        for layout in ("contiguous", "transposed"):
            yield _call(f"astype({src} -> {dst.name}, {layout})", cast(dst), device, [(x, layout)],
                        reference.astype(x, dst_np))
        if src.kind == "f" and dst_np.kind in "iub":
            # Note [Float to integer casts]: NumPy's answer on x86-64 for NaN, infinities and out-of-range values
            x = cast_edges(src)
            yield _call(f"astype({src} -> {dst.name}) of NaN, inf, huge and integer-edge values", cast(dst), device,
                        [(x, "contiguous")], reference.astype(x, dst_np))
        if src in (np.float32, np.float64) and dst_np == np.float16:
            x = float16_rounding_edges(src)
            yield _call(f"astype({src} -> float16) rounds once (65519.999 -> 65504, halfway cases)", cast(dst),
                        device, [(x, "contiguous")], reference.astype(x, dst_np))
        if src.kind in "iu" and dst_np.kind == "f":
            x = int_to_float_edges(src)
            yield _call(f"astype({src} -> {dst.name}) of large integers rounds once", cast(dst), device,
                        [(x, "contiguous")], reference.astype(x, dst_np))
    if src.kind == "f":
        x = specials(src)
        for dst in [d for d in targets if d.kind == "float"]:
            yield _call(f"astype(specials -> {dst.name})", cast(dst), device, [(x, "contiguous")],
                        reference.astype(x, dst.numpy))


def fill_samples(op, dtype, device, rng):
    dt = np.dtype(dtype)
    value = {"b": True, "i": -7, "u": 200, "f": -2.5}[dt.kind]
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


SAMPLES = {"unary": elementwise_samples, "binary": elementwise_samples, "reduction": reduction_samples,
           "matmul": matmul_samples, "softmax": softmax_samples, "where": where_samples, "astype": astype_samples,
           "fill": fill_samples, "arange": arange_samples, "random": random_samples}


def samples(op, dtype, device, seed=0):
    """The samples of (op, dtype) on ``device``, in order (a generator: each sample's inputs are made as it comes).

    >>> import tensorswitch as ts
    >>> from tensorswitch.testing import samples
    >>> first = next(samples.samples("add", "float32", ts.device("cpu")))
    >>> first.verify(ts.device("cpu"))
    """
    device = ts.device(device)
    dtype = np.dtype(dtype).name
    rng = seeded_rng(seed, op, dtype)
    return SAMPLES[ts.OPS[op]](op, dtype, device, rng)


def check(op, dtype, device, seed=0):
    """Run every sample of (op, dtype) on ``device``; returns the number of samples, raises SampleFailure (saying
    which sample, and how many passed before it) on the first wrong answer or error."""
    device = ts.device(device)
    dtype = np.dtype(dtype).name
    count = 0
    for count, sample in enumerate(samples(op, dtype, device, seed), 1):
        try:
            sample.verify(device)
        except Exception as exc:  # every kind of breakage is this sample's failure
            raise SampleFailure(op, dtype, count, sample.what, exc) from exc
    return count


def applicable(op, dtype):
    """False when no backend can have a kernel of (op, dtype) because the op is not defined for the dtype: the op
    table lists no such kernel for any built-in backend (``negative`` of bool, ``rand`` of int32, ``arange`` of
    bool).  Ops outside the table are applicable to every dtype."""
    coverage = optable.COVERAGE.get(op)
    return coverage is None or np.dtype(dtype).name in coverage


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
