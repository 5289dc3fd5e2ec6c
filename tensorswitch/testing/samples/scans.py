"""Samples of the scans (cumulative_sum, cumulative_prod), nonzero/count_nonzero, and the gather/put kernels of
array indexing.

cumsum and cumprod run through ``ts.cumulative_sum``/``ts.cumulative_prod`` with ``dtype=`` the dtype under test (the
key of the kernel), over 1-D to 3-D shapes, every axis, non-contiguous views, empty axes, ``include_initial``, one
long row (opencl's block scan, Note [Parallel scans] in kernels/opencl/scan.cl), few long rows, the axis outermost,
and many short rows past the cpu threading grain; floats get NaN and infinities, integers the type's edges (sums and
products wrap, as NumPy's), and the default result dtype (int64) and a cast from int32 get a sample each.  nonzero
runs through ``ts.nonzero`` (stacked into one (ndim, count) tensor) on sparse, empty, all-zero and all-nonzero
inputs in every layout, with NaN and -0.0.  gather and put run through ``x[index]`` and ``x[index] = value`` with
NumPy's rules (Note [Advanced indexing] in dispatch/indexing.py): arrays broadcast together, adjacent and
separated, with slices, None, ..., integers, masks, 0-d bools, negative indices, more index arrays than the opencl
and cuda kernels take at once, and out-of-range indices, which must raise IndexError.

Tolerances: nonzero, gather and put move values and must be exact; so must integer and bool scans.  A float scan's
element i adds (or multiplies) i + 1 terms in its accumulator (float64 on a device that holds float64, else at least
float32: Note [Kernel contract]), in any order (the opencl block scan regroups them): ``2 * (i + 1) * eps(acc) *
(the same scan of |x|)``, plus one rounding of the result (``rtol = eps``), as Note [Reduction tolerances]
(reductions.py) allows a sum.
"""

import numpy as np

import tensorswitch as ts
from .. import reference
from . import core
from .core import LARGE, MEDIUM, Sample, _acc_eps, _eps, specials, to_device, values

#: (shape, axis, layout, include_initial) of the scans
SCAN_CASES = [
    ((0,), 0, "contiguous", False),
    ((0,), 0, "contiguous", True),                # only the initial value
    ((1,), 0, "contiguous", False),
    ((7,), 0, "contiguous", True),
    ((3, 5), 0, "contiguous", False),
    ((3, 5), 1, "contiguous", True),
    ((3, 5), -1, "transposed", False),
    ((2, 3, 4), 1, "strided", False),
    ((2, 3, 4), 2, "reversed", True),
    ((4, 0, 3), 1, "contiguous", True),           # an empty axis: the initial values alone
    ((2, 0), 0, "contiguous", False),
    ((LARGE,), 0, "contiguous", False),           # one long row
    ((3, MEDIUM), 1, "contiguous", False),        # few long rows
    ((MEDIUM, 3), 0, "contiguous", False),        # the axis outermost
    ((6000, 7), 1, "transposed", False),          # many short rows, past the cpu threading grain
]

#: (shape, layout) of nonzero
NONZERO_CASES = [((0,), "contiguous"), ((1,), "contiguous"), ((9,), "contiguous"), ((3, 4), "contiguous"),
                 ((3, 4), "transposed"), ((2, 3, 5), "strided"), ((2, 3, 5), "reversed"), ((4, 0, 2), "contiguous"),
                 ((LARGE,), "contiguous"), ((300, 400), "transposed")]


def _i(rng, low, high, shape):
    return rng.integers(low, high, shape)


#: (x shape, layout, what, index maker) for getitem and setitem; index makers take a generator and give NumPy's index
GATHER_CASES = [
    ((7,), "contiguous", "[int array with negatives]", lambda r: (_i(r, -7, 7, 5),)),
    ((5, 4), "contiguous", "[int array (3,)]", lambda r: (_i(r, 0, 5, 3),)),
    ((5, 4), "transposed", "[:, int array (2, 3)]", lambda r: (slice(None), _i(r, -4, 4, (2, 3)))),
    ((4, 5, 6), "contiguous", "[array (2, 3), :, array (3,)] (separated: broadcast dims first)",
     lambda r: (_i(r, 0, 4, (2, 3)), slice(None), _i(r, 0, 6, 3))),
    ((4, 5, 6), "strided", "[1:3, array (2, 1), array (3,)] (adjacent, broadcast)",
     lambda r: (slice(1, 3), _i(r, 0, 5, (2, 1)), _i(r, -6, 6, 3))),
    ((4, 5, 6), "contiguous", "[None, array (2,), ..., 2] (the integer counts as an array)",
     lambda r: (None, _i(r, 0, 4, 2), Ellipsis, 2)),
    ((4, 5, 6), "contiguous", "[0, :, array (2,)] (integer and array separated by a slice)",
     lambda r: (0, slice(None), _i(r, 0, 6, 2))),
    ((4, 5, 6), "reversed", "[mask (4, 5)]", lambda r: (r.random((4, 5)) < 0.4,)),
    ((4, 5, 6), "contiguous", "[::2, mask (5,)]", lambda r: (slice(None, None, 2), r.random(5) < 0.5)),
    ((4, 5, 6), "contiguous", "[array (2,), mask (5,)] (the mask's coordinates broadcast with the array)",
     lambda r: (_i(r, 0, 4, 2), np.array([True, False, False, True, False]))),
    ((3, 4), "contiguous", "[True]", lambda r: (True,)),
    ((3, 4), "contiguous", "[..., False]", lambda r: (Ellipsis, False)),
    ((3, 4), "contiguous", "[empty int array]", lambda r: (np.zeros(0, np.int64),)),
    ((2, 3, 2, 3, 2), "contiguous", "[five int arrays] (more than the device kernels take at once)",
     lambda r: tuple(_i(r, -n, n, (4,)) for n in (2, 3, 2, 3, 2))),
    ((LARGE,), "contiguous", "[int array (LARGE,)]", lambda r: (_i(r, -LARGE, LARGE, LARGE),)),
    ((300, 400), "transposed", "[array (5000,), array (5000,)]",
     lambda r: (_i(r, 0, 300, 5000), _i(r, 0, 400, 5000))),
]

#: setitem cases: (x shape, layout, what, index maker with no repeated position, value maker of (rng, dtype, shape
#: of x[index]) or None for a scalar)
PUT_CASES = [
    ((7,), "contiguous", "[perm (5,)] = tensor", lambda r: (r.permutation(7)[:5] - 7,), "tensor"),
    ((5, 4), "transposed", "[:, [3, 0]] = tensor (1, 2)", lambda r: (slice(None), np.array([3, 0])), "broadcast"),
    ((4, 5, 6), "contiguous", "[perm (3,), :, perm (3,)] = tensor", lambda r: (r.permutation(4)[:3], slice(None),
                                                                              r.permutation(6)[:3]), "tensor"),
    ((4, 5, 6), "strided", "[mask (4, 5)] = tensor (count, 6)", lambda r: (r.random((4, 5)) < 0.4,), "tensor"),
    ((4, 5, 6), "contiguous", "[mask (4, 5, 6)] = scalar (a where on the device)",
     lambda r: (r.random((4, 5, 6)) < 0.4,), "scalar"),
    ((3, 4), "contiguous", "[[1, 1, 2]] = scalar (a repeated position, one value)",
     lambda r: (np.array([1, 1, 2]),), "scalar"),
    ((3, 4), "contiguous", "[True] = list", lambda r: (True,), "list"),
    ((2, 3, 2, 3, 2), "contiguous", "[five arrays] = tensor", lambda r: (np.array([0, 1]), np.array([2, 0]),
                                                                         np.array([1, 1]), np.array([0, 2]),
                                                                         np.array([1, 0])), "tensor"),
    ((LARGE,), "contiguous", "[perm (LARGE // 2,)] = tensor", lambda r: (r.permutation(LARGE)[:LARGE // 2],),
     "tensor"),
]


def scan_samples(op, dtype, device, rng):
    """The samples of one (op, dtype) of the scan family: cumsum, cumprod or nonzero."""
    if op == "nonzero":
        return _nonzero_samples(dtype, device, rng)
    return _scan_samples(op, dtype, device, rng)


def gather_samples(op, dtype, device, rng):
    """The samples of gather (through getitem) or put (through setitem)."""
    return _put_samples(dtype, device, rng) if op == "put" else _gather_samples(dtype, device, rng)


# -- scans ----------------------------------------------------------------------------------------------------------

def _scan_values(op, dtype, shape, rng, long_row):
    dt = np.dtype(dtype)
    if dt.kind == "c" and op == "cumprod":  # unit moduli keep a long product finite; shorter ones grow or shrink
        modulus = 1.0 if long_row else rng.uniform(0.5, 2.0, shape)
        return (modulus * np.exp(1j * rng.uniform(-np.pi, np.pi, shape))).astype(dt)
    if dt.kind != "f" or op == "cumsum":
        return values(dtype, shape, rng)
    if long_row:  # a long product: +-1 keeps it exact, whatever the accumulator
        return rng.choice(np.array([-1.0, 1.0], dt), shape)
    return (rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)).astype(dt)


def _scan_tolerance(op, dtype, x, axis, include_initial, device):
    kind = np.dtype(dtype).kind
    if kind not in "fc":
        return None, None
    # a device that holds float64 accumulates in it (Note [Kernel contract]); others in at least float32; complex
    # products round two real products per step, and |.| is the modulus
    eps = _eps(np.float64) if ts.float64 in device.supported_dtypes() else _acc_eps(dtype)
    eps = 2 * eps if kind == "c" else eps
    magnitude = reference.cumulative(op, np.abs(x.astype(np.complex128 if kind == "c" else np.float64)), axis,
                                     np.float64, include_initial)
    axis = axis % x.ndim
    terms = np.arange(1, magnitude.shape[axis] + 1).reshape((-1,) + (1,) * (x.ndim - axis - 1))
    return 2 * terms * eps * magnitude + float(np.finfo(dtype).smallest_subnormal), _eps(dtype)


def _scan_sample(op, what, x, layout, axis, dtype, include_initial, device, call_dtype="same"):
    fn = ts.cumulative_prod if op == "cumprod" else ts.cumulative_sum
    name = "cumulative_prod" if op == "cumprod" else "cumulative_sum"
    call_dtype = dtype if call_dtype == "same" else call_dtype  # None: the default result dtype
    expected = reference.cumulative(op, x, axis, call_dtype, include_initial)
    atol, rtol = _scan_tolerance(op, expected.dtype.name, x, axis, include_initial, device)
    return Sample(f"{name}({layout} {x.dtype} {x.shape}, axis={axis}, dtype={call_dtype}, include_initial="
                  f"{include_initial}){what}",
                  lambda: fn(to_device(x, device, layout), axis=axis, dtype=call_dtype,
                             include_initial=include_initial),
                  expected, atol=atol, rtol=rtol, inputs={"x": x, "axis": axis})


def _scan_samples(op, dtype, device, rng):
    fn = ts.cumulative_prod if op == "cumprod" else ts.cumulative_sum
    for shape, axis, layout, initial in SCAN_CASES:
        x = _scan_values(op, dtype, shape, rng, long_row=max(shape, default=0) >= MEDIUM)
        yield _scan_sample(op, "", x, layout, axis, dtype, initial, device)
    if np.dtype(dtype).kind == "f":  # NaN and infinities run on, inf - inf is NaN
        sp = specials(dtype)
        for x in (sp, np.stack([np.roll(sp, 3), sp[::-1]])):
            yield _scan_sample(op, " with NaN and infinities", x, "contiguous", x.ndim - 1, dtype, False, device)
        x = np.array([1.0, np.inf, -np.inf, 2.0, np.nan, 3.0], dtype)
        yield _scan_sample(op, " (inf, then inf - inf)", x, "contiguous", 0, dtype, False, device)
        ints = values("int32", (4, 6), rng, -50, 50)
        yield _scan_sample(op, " (int32 input cast first)", ints, "contiguous", 1, dtype, True, device, dtype)
    elif np.dtype(dtype).kind == "c":  # the default result dtype is complex's own; a float64 input cast first
        x = _scan_values(op, dtype, (5, 9), rng, long_row=False)
        yield _scan_sample(op, " (the default dtype: its own)", x, "transposed", 1, dtype, False, device, None)
        reals = values("float64", (4, 6), rng, -2, 2)
        yield _scan_sample(op, " (float64 input cast first)", reals, "contiguous", 1, dtype, True, device, dtype)
    elif dtype != "int64":  # the default result dtype: int64, the kernel of int64 after a cast
        x = values(dtype, (5, 9), rng)
        yield _scan_sample(op, " (the default dtype: int64)", x, "transposed", 1, dtype, False, device, None)
    zero_d = values(dtype, (), rng)
    yield Sample(f"{op} of a 0-d tensor raises ValueError", lambda: fn(to_device(zero_d, device), dtype=dtype), None,
                 raises=ValueError)
    two_d = values(dtype, (2, 3), rng)
    yield Sample(f"{op} of a 2-D tensor without axis raises ValueError",
                 lambda: fn(to_device(two_d, device), dtype=dtype), None, raises=ValueError)
    yield Sample(f"{op} along axis 2 of a 2-D tensor raises AxisError",
                 lambda: fn(to_device(two_d, device), axis=2, dtype=dtype), None, raises=ts.AxisError)


# -- nonzero --------------------------------------------------------------------------------------------------------

def _sparse(dtype, shape, rng, density):
    x = values(dtype, shape, rng)
    if np.dtype(dtype) == np.bool_:
        return rng.random(shape) < density
    return np.where(rng.random(shape) < density, x, np.zeros((), dtype)).astype(dtype)


def _nonzero_sample(what, x, layout, device):
    return Sample(f"nonzero({layout} {x.dtype} {x.shape}){what}",
                  lambda: ts.stack(ts.nonzero(to_device(x, device, layout))), reference.nonzero_stacked(x),
                  inputs={"x": x})


def _nonzero_samples(dtype, device, rng):
    for shape, layout in NONZERO_CASES:
        yield _nonzero_sample("", _sparse(dtype, shape, rng, 0.3), layout, device)
    yield _nonzero_sample(" all zero", np.zeros((3, 5), dtype), "contiguous", device)
    yield _nonzero_sample(" none zero", np.ones((3, 5), dtype), "transposed", device)
    if np.dtype(dtype).kind == "f":
        x = np.array([0.0, -0.0, np.nan, 1.0, -np.inf, 0.0, np.finfo(dtype).tiny], dtype)
        yield _nonzero_sample(" (-0.0 is zero, NaN is not)", x, "contiguous", device)
    elif np.dtype(dtype).kind == "c":
        x = core.complex_parts(np.array([0.0, -0.0, 0.0, np.nan, 1.0, -0.0]),
                               np.array([0.0, 0.0, 1e-30, 0.0, 0.0, -0.0]), dtype)
        yield _nonzero_sample(" (a zero real part with a nonzero imaginary part is nonzero)", x, "contiguous", device)
    zero_d = values(dtype, (), rng)
    yield Sample("nonzero of a 0-d tensor raises ValueError", lambda: ts.nonzero(to_device(zero_d, device)), None,
                 raises=ValueError)


# -- gather and put ---------------------------------------------------------------------------------------------------

def _on_device(index, device):
    """NumPy's index with its arrays as tensors on ``device``."""
    return tuple(ts.asarray(i, device=device) if isinstance(i, np.ndarray) else i for i in index)


def _gather_samples(dtype, device, rng):
    for shape, layout, what, make in GATHER_CASES:
        x = values(dtype, shape, rng)
        index = make(rng)
        yield Sample(f"{layout} x {shape}{what}",
                     lambda x=x, layout=layout, index=index: to_device(x, device, layout)[_on_device(index, device)],
                     reference.getitem(x, index), inputs={"x": x, "index": index})
    x = values(dtype, (4, 5), rng)
    index = (np.array([[0, 3], [-1, 2]]), [4, -5])
    yield Sample("x (4, 5)[NumPy array, list] (host data, moved for us)",
                 lambda: to_device(x, device)[index], reference.getitem(x, index))
    for bad in ((np.array([0, 4]),), (slice(None), np.array([-6]))):
        yield Sample(f"x (4, 5)[{bad}] out of range raises IndexError",
                     lambda bad=bad: to_device(x, device)[_on_device(bad, device)], None, raises=IndexError)


def _put_value(kind, dtype, shape, rng):
    if kind == "scalar":
        v = values(dtype, (), rng)
        return v.item() if np.dtype(dtype).kind != "f" or np.isfinite(v) else 1.5
    if kind == "broadcast":
        return values(dtype, (1,) + shape[1:], rng)
    if kind == "list":
        return values(dtype, shape[1:], rng).tolist()
    return values(dtype, shape, rng)


def _put_samples(dtype, device, rng):
    for shape, layout, what, make, kind in PUT_CASES:
        x = values(dtype, shape, rng)
        index = make(rng)
        value = _put_value(kind, dtype, np.empty(shape, np.int8)[index].shape, rng)

        def run(x=x, layout=layout, index=index, value=value):
            t = to_device(x, device, layout)
            t[_on_device(index, device)] = ts.asarray(value, device=device) if isinstance(value, np.ndarray) else value
            return t
        yield Sample(f"{layout} x {shape}{what}", run, reference.setitem(x, index, value),
                     inputs={"x": x, "index": index, "value": value})

    def out_of_range():
        t = to_device(values(dtype, (4, 5), rng), device)
        t[_on_device((np.array([1, 5]),), device)] = values(dtype, (), rng).item()
    yield Sample("x (4, 5)[[1, 5]] = v out of range raises IndexError", out_of_range, None, raises=IndexError)


def call_one(op, dt, device):
    """One call of ``op`` on a small input of NumPy dtype ``dt`` (check_not_implemented)."""
    x = to_device(np.ones((3,), dt), device)
    if op == "cumsum":
        ts.cumulative_sum(x, dtype=dt.name)
    elif op == "cumprod":
        ts.cumulative_prod(x, dtype=dt.name)
    elif op == "nonzero":
        ts.nonzero(x)
    elif op == "gather":
        x[ts.asarray([0, 2], device=device)]
    elif op == "put":
        x[ts.asarray([0, 2], device=device)] = to_device(np.ones((2,), dt), device)
    else:
        raise KeyError(op)
