"""What every family of samples shares: the :class:`Sample` record and its failures, the inputs (:func:`values`,
:func:`specials`, :func:`seeded_rng`, :func:`to_device` in every memory layout), :func:`compare` with the default
tolerances, and the small helpers the families build their samples with."""

import zlib

import numpy as np

import tensorswitch as ts


LARGE = 100_003  # crosses the cpu threading grain and spans many OpenCL/CUDA work-groups
MEDIUM = 40_009  # past the cpu threading grain too, for samples that have several such axes

# per result dtype: (rtol, atol) for elementwise results
TOLERANCE = {"float16": (5e-3, 1e-3), "float32": (2e-5, 1e-6), "float64": (1e-10, 1e-12)}

# Note [Complex tolerances]
# ~~~~~~~~~~~~~~~~~~~~~~~~~
# A complex result is compared part by part, each part with the tolerance of the part's dtype (complex64 has
# float32's, complex128 float64's), but relative to the modulus |z| of the expected value rather than to the part
# itself: |got.real - z.real| <= atol + rtol * |z|, and the same for the imaginary part.  That is the normwise error
# that complex arithmetic and the C library's complex functions bound (the schoolbook product a*c - b*d cancels in
# one part and leaves that part with an error of the size of the other part's ulp); a backend that gets the tiny part
# of sin(x + 1e-9j) to within |z|'s precision is as good as the formulas allow.  Where |z| is infinite or NaN (a part
# infinite or NaN) each part is held to its own tolerance, and an infinite or NaN part must match exactly (NaN with
# NaN, inf with the same inf).  Exact ops (conj, real, imag, the moves of where, astype, gather) pass atol = rtol = 0
# and are held bit for bit, the sign of zero parts included for the elementwise families.
#
# Note [Complex samples]
# ~~~~~~~~~~~~~~~~~~~~~~
# Complex inputs draw both parts at random (``values``), so no sample is secretly real.  The special values are every
# pair of the part dtype's specials (``complex_specials``: NaN, +-inf, +-0, +-tiny, +-huge, +-1, 0.5, and subnormal
# parts where the op is exact on them), and the branch cuts: the real axis beyond +-1 (sqrt and log cut the negative
# real axis, asin, acos and atanh the real axis beyond +-1) and the imaginary axis beyond +-i (asinh, atan), each just
# above and below the cut (+0.0 and -0.0 imaginary or real parts).  How they are judged is Note [Complex special
# values] in reference.py.  Ops that do not take complex numbers (less, maximum, sort, floor, ...: kernels/optable.py)
# get no complex samples: their complex cells are "not applicable", where the suite checks the clear error, and a real
# tensor meeting a complex tensor or a Python complex there (less(bool, complex64), maximum(x_float32, 1j)) gets a
# sample in the real dtype's cell that checks the same error.

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
    """NaN, infinities, signed zeros, the tiniest and largest finite values, ones; for complex dtypes every pair of
    those as (real, imaginary) parts (:func:`complex_specials`)."""
    if np.dtype(dtype).kind == "c":
        return complex_specials(dtype)
    fi = np.finfo(dtype)
    return np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, fi.tiny, -fi.tiny, fi.max, -fi.max, 1.0, -1.0, 0.5],
                    dtype=dtype)


def complex_parts(real, imag, dtype):
    """The complex array of ``dtype`` with these parts, set part by part: ``real + 1j * imag`` would turn an infinite
    part times 1j into NaN and lose the sign of zeros."""
    out = np.empty(np.broadcast(real, imag).shape, dtype)
    out.real, out.imag = real, imag
    return out


def complex_specials(dtype, subnormals=False):
    """Complex special values (Note [Complex samples]): every (real, imaginary) pair of the part dtype's
    :func:`specials` (NaN, +-inf, +-0, +-tiny, +-huge, +-1, 0.5), with ``subnormals`` also the smallest subnormals
    of both signs in either part, then the branch cuts of sqrt, log, asin, acos, atanh and friends: the real axis
    beyond +-1 and the imaginary axis beyond +-1, on both sides of the cut (signed zeros), and 1 and i themselves."""
    part = np.finfo(dtype).dtype
    p = specials(part)
    if subnormals:
        s = np.finfo(part).smallest_subnormal
        p = np.concatenate([p, np.array([s, -s], part)])
    re, im = np.repeat(p, len(p)), np.tile(p, len(p))
    cuts = [(x, z) for x in (2.0, -2.0, 1.5, -1.5, 1.0, -1.0, 0.5) for z in (0.0, -0.0)]
    cuts += [(z, y) for y in (2.0, -2.0, 1.5, -1.5, 1.0, -1.0, 0.5) for z in (0.0, -0.0)]
    cre, cim = np.array(cuts, part).T
    return complex_parts(np.concatenate([re, cre]), np.concatenate([im, cim]), dtype)


def values(dtype, shape, rng, low=None, high=None):
    """Random values of ``dtype``; integer samples start with the type's edges (min, max, 0, -1, 1; for uint16, uint32
    and uint64 also max - 1, 2**31, 2**32 - 1, 2**63 - 1 and 2**63, those that fit)."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape)) if shape else 1
    if dtype.kind == "b":
        flat = rng.random(n) < 0.5
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        lo = info.min if low is None else low
        hi = info.max if high is None else high
        if hi > np.iinfo(np.int64).max:  # uint64: draw in its own dtype (the int64 default cannot hold it)
            flat = rng.integers(lo, hi, size=n, endpoint=True, dtype=dtype)
        else:  # the int64 stream, as before uint64 existed: the other dtypes' samples stay the same
            flat = rng.integers(lo, hi, size=n, endpoint=True).astype(dtype)
        if low is None and high is None:
            edges = [info.min, info.max, 0, 1] + ([-1] if info.min < 0 else [])
            if dtype.kind == "u" and dtype.itemsize > 1:  # uint16, uint32, uint64: where C's types and NumPy's part
                edges += [v for v in (info.max - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 63, 2 ** 63 - 1) if v <= info.max]
            edges = np.array(edges, dtype=dtype)
            flat[: min(n, len(edges))] = edges[: min(n, len(edges))]
    elif dtype.kind == "c":  # both parts drawn in [low, high] (Note [Complex samples])
        lo = -10.0 if low is None else low
        hi = 10.0 if high is None else high
        part = np.finfo(dtype).dtype
        flat = complex_parts(rng.uniform(lo, hi, size=n).astype(part), rng.uniform(lo, hi, size=n).astype(part),
                             dtype)
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
    """The epsilon of the accumulation dtype every backend must at least use (see Note [Reduction tolerances] in
    reductions.py)."""
    return _eps(np.float64) if np.finfo(dtype).dtype == np.float64 else _eps(np.float32)  # complex: its parts


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
    if expected.dtype.kind == "c":
        _compare_complex(host, expected, what, atol, rtol)
        return
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
    if SIGNED_ZEROS[0]:
        _check_signed_zeros(host, expected, what)


def _compare_complex(host, expected, what, atol, rtol):
    """compare() of complex results, part by part: see Note [Complex tolerances]."""
    r, a = TOLERANCE[np.finfo(expected.dtype).dtype.name]
    rtol = r if rtol is None else rtol
    atol = a if atol is None else atol
    h, e = host.astype(np.complex128, copy=False), expected.astype(np.complex128, copy=False)
    big = np.finfo(np.float64).max
    with np.errstate(invalid="ignore", over="ignore"):
        modulus = np.abs(e)
        parts_h, parts_e = (h.real, h.imag), (e.real, e.imag)
        bad = np.zeros(e.shape, bool)
        limits = []
        for ph, pe in zip(parts_h, parts_e):
            # relative to |z| where |z| is finite (a tiny part next to a large one is as accurate as the large one);
            # relative to the part itself where the other part is infinite or NaN
            scale = np.where(np.isfinite(modulus), modulus, np.minimum(np.abs(pe), big))
            limit = np.broadcast_to(atol + rtol * scale, e.shape)
            limits.append(limit)
            candidate = ~(np.abs(ph - pe) <= limit)
            bad |= candidate & ~((ph == pe) | (np.isnan(ph) & np.isnan(pe)))
    if bad.any():
        raise Failure(f"{what}: {_describe(host, expected, bad, np.maximum(*limits))}")
    if SIGNED_ZEROS[0]:
        for ph, pe, name in zip((host.real, host.imag), (expected.real, expected.imag), ("real", "imaginary")):
            zero = (pe == 0) & (ph == 0)
            wrong = zero & (np.signbit(ph) != np.signbit(pe))
            if wrong.any():
                raise Failure(f"{what}: the sign of a zero {name} part differs: "
                              f"{_describe(host, expected, wrong)}")


def _check_signed_zeros(host, expected, what):
    """Where the reference is a zero, the result must be the zero of the same sign (IEEE defines it for elementwise
    ops: 1 / (x * -0.0) must stay -inf)."""
    zero = (expected == 0) & (host == 0)
    bad = zero & (np.signbit(host) != np.signbit(expected))
    if bad.any():
        raise Failure(f"{what}: the sign of zero differs: {_describe(host, expected, bad)}")


#: whether compare() checks the sign of zeros (on for the elementwise families, see samples.check)
SIGNED_ZEROS = [False]


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
