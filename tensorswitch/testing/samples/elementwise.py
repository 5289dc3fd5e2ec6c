"""Samples of the unary and binary elementwise ops: broadcasting (size 0 included), 0-d, empty and non-contiguous
inputs, NaN, infinities and integer edges, in-place ops whose operand overlaps the target, mixed dtypes, Python
scalars (Note [Type promotion] in dispatch/dtypes.py) and Python ints outside the tensor's range; for the functions
the Array API standard adds, its special values (Note [Elementwise special cases] in kernels/optable.py): signed
zeros and NaNs, subnormals, halves for round, shift counts at and past the integer width."""

import operator

import numpy as np

import tensorswitch as ts
from ...kernels import optable
from .. import reference
from . import core
from .core import (LARGE, WIDE_DTYPES, Failure, Sample, Shared, _call, _cast, _runnable, specials, to_device,
                   values)


UNARY_SHAPES = [((), "contiguous"), ((0,), "contiguous"), ((17,), "contiguous"), ((17,), "strided"),
                ((4, 5), "transposed"), ((2, 3, 4), "reversed"), ((LARGE,), "contiguous")]
BINARY_SHAPES = [((4, 5), (4, 5), "contiguous"), ((4, 1), (1, 5), "contiguous"), ((5,), (3, 5), "contiguous"),
                 ((), (6,), "contiguous"), ((), (), "contiguous"), ((0, 3), (1, 3), "contiguous"),
                 # broadcasting against size 0
                 ((0,), (), "contiguous"), ((0, 3), (3,), "contiguous"), ((2, 0), (2, 1), "contiguous"),
                 ((0,), (1,), "contiguous"),
                 ((3, 4), (3, 4), "transposed"), ((6,), (6,), "strided"), ((2, 3, 4), (3, 1), "reversed"),
                 # a contiguous operand with a transposed one, and rows of every other element, large enough for
                 # the blocked and row kernels (opencl's Note [Vector transposes]), with partial blocks at the edges
                 ((12, 17), (12, 17), "contiguous+transposed"), ((12, 17), (12, 17), "transposed+contiguous"),
                 ((9, 20), (9, 20), "strided"),
                 ((LARGE,), (LARGE,), "contiguous"), ((LARGE,), (), "contiguous")]

#: the in-place operator of each binary op that has one
IN_PLACE = {"add": operator.iadd, "subtract": operator.isub, "multiply": operator.imul,
            "divide": operator.itruediv, "floor_divide": operator.ifloordiv, "remainder": operator.imod,
            "pow": operator.ipow, "bitwise_and": operator.iand, "bitwise_or": operator.ior,
            "bitwise_xor": operator.ixor, "bitwise_left_shift": operator.ilshift,
            "bitwise_right_shift": operator.irshift}

#: in-place ops whose operand overlaps the target: (text, shape, target index, operand of the base array)
OVERLAPS = [("x {op}= x.T", (6, 6), (Ellipsis,), lambda x: x.T),
            ("x[1:] {op}= x[:-1]", (37,), (slice(1, None),), lambda x: x[:-1]),
            ("x[::2] {op}= x[1::2]", (38,), (slice(None, None, 2),), lambda x: x[1::2]),
            ("x {op}= x[::-1]", (37,), (Ellipsis,), lambda x: x[::-1]),
            ("x {op}= x[0] (broadcast row)", (4, 6), (Ellipsis,), lambda x: x[0]),
            ("x {op}= x[:, :1] (broadcast column)", (4, 6), (Ellipsis,), lambda x: x[:, :1])]

SYMBOLS = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "floor_divide": "//", "remainder": "%",
           "pow": "**", "bitwise_and": "&", "bitwise_or": "|", "bitwise_xor": "^", "bitwise_left_shift": "<<",
           "bitwise_right_shift": ">>"}
COMPARISONS = ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal")
LOGICAL = ("logical_and", "logical_or")
ARITHMETIC = ("add", "subtract", "multiply", "floor_divide", "remainder", "pow", "maximum", "minimum")
BITWISE = ("bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift")
SHIFTS = ("bitwise_left_shift", "bitwise_right_shift")

#: ops whose results are exact (no rounding anywhere): their samples allow no tolerance
EXACT = frozenset({"nextafter", "copysign", "round", "trunc", "real", "imag", "conj"})

#: float inputs that keep an op inside its domain (the rest of [-10, 10] would mostly be NaN)
_FLOAT_DOMAINS = {"acos": (-1.0, 1.0), "asin": (-1.0, 1.0), "atanh": (-1.0, 1.0), "acosh": (1.0, 10.0),
                  "log1p": (-1.0, 10.0), "log2": (0.0, 10.0), "log10": (0.0, 10.0)}


def _domain(op, dtype, shape, rng, position):
    """Inputs that keep an op inside the range where NumPy defines it."""
    if op == "pow" and np.dtype(dtype).kind in "iu":
        return values(dtype, shape, rng, 0, 9) if position == 0 or np.dtype(dtype).kind == "u" else \
            values(dtype, shape, rng, -2, 7)
    if op in SHIFTS and position == 1:  # counts inside the width (the edges take the others)
        return values(dtype, shape, rng, 0, 8 * np.dtype(dtype).itemsize - 1)
    if op in _FLOAT_DOMAINS and np.dtype(dtype).kind == "f":
        return values(dtype, shape, rng, *_FLOAT_DOMAINS[op])
    if op == "pow" and np.dtype(dtype).kind == "c":  # |z ** w| stays inside complex64's range
        return values(dtype, shape, rng, -3, 3)
    return values(dtype, shape, rng)


def elementwise_samples(op, dtype, device, rng):
    info = optable.ELEMENTWISE[op]
    fn = getattr(ts, op)
    ref = reference.ELEMENTWISE[op]
    dt = np.dtype(dtype)
    exact = {"atol": 0.0, "rtol": 0.0} if op in EXACT else {}
    if info.arity == 1:
        for shape, layout in UNARY_SHAPES:
            x = _domain(op, dtype, shape, rng, 0)
            yield _call(f"{op}({layout} {shape})", fn, device, [(x, layout)], ref(x), **exact)
        if dt.kind == "f":
            x = specials(dtype)
            yield _call(f"{op}(NaN, inf, tiny, huge)", fn, device, [(x, "contiguous")], ref(x), **exact)
        elif dt.kind == "c":
            yield from _complex_unary_specials(op, dtype, device, fn, exact)
        yield from _standard_unary(op, dtype, device, fn, ref)
        return
    for sa, sb, layout in BINARY_SHAPES:
        a, b = _domain(op, dtype, sa, rng, 0), _domain(op, dtype, sb, rng, 1)
        if op in ("floor_divide", "remainder") and b.size:
            b.flat[0] = 0  # division by zero gives 0 for integers, inf/NaN for floats
        ea, eb = np.broadcast_arrays(a, b)
        la, _, lb = layout.partition("+")  # "a+b": each operand its own layout
        yield _call(f"{op}({layout} {sa}, {sb})", fn, device, [(a, la), (b, lb or la)], ref(ea, eb), **exact)
    yield from _binary_edges(op, dtype, device, fn, ref)
    yield from _standard_binary(op, dtype, device, fn, ref)
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
    if dt.kind == "c":
        yield from _complex_binary_specials(op, dtype, device, fn)
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
    a = np.concatenate([np.array(ea, dt), ga.ravel().astype(dt)])  # in dt itself: uint64's max is no int64
    b = np.concatenate([np.array(eb, dt), gb.ravel().astype(dt)])
    yield _call(f"{op}(integer edges: zero and negative divisors, INT_MIN, negative powers)", fn, device,
                [(a, "contiguous"), (b, "contiguous")], ref(a, b))


def _binary_in_place(op, dtype, device, rng, ref):
    """``x op= y`` where ``y`` overlaps ``x``: NumPy's answer, as if ``y`` were copied first."""
    if op not in IN_PLACE or np.dtype(dtype).kind not in "iufc":
        return
    if op == "divide" and np.dtype(dtype).kind not in "fc":
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
            if info.to_float and compute.kind not in "fc":
                compute = np.dtype(np.float32)
            if compute.name not in info.dtypes and dtype in (first.name, second.name) and \
                    _runnable(device, op, dtype, [dtype]):
                # a real tensor meets a complex one in an op that does not take complex numbers (less, maximum,
                # atan2): the clear error, in the real operand's cell (complex with complex is the complex cells')
                a, b = operand(first, (3, 4)), operand(second, (4,))
                yield _call(f"{op}({first.name} (3, 4), {second.name} (4,)) raises: no {compute} kernel", fn,
                            device, [a, b], None, raises=ts.KernelNotFoundError)
                continue
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
    elif isinstance(scalar, float):
        out = dt if dt.kind in "fc" else np.dtype(np.float32)
    else:  # complex: the complex dtype whose parts hold a float tensor's dtype, complex64 next to integers and bool
        out = dt if dt.kind == "c" else np.dtype(np.complex128 if dt == np.float64 else np.complex64)
    if to_float and out.kind not in "fc":
        out = np.dtype(np.float32)
    return out


def _scalar_values(op, dtype):
    """[(Python scalar, sides)]: the first of each kind on both sides, the others on the right."""
    dt = np.dtype(dtype)
    if op == "pow":  # 2, 0.5 and -1 of a float tensor take square, sqrt and reciprocal: Note [Scalar powers]
        ints = [(2, "both")] + ([(-1, "right")] if dt.kind in "if" else [])
        floats = [(1.5, "both")] + ([(0.5, "right")] if dt.kind == "f" else [])
    else:
        ints = [(3, "both")] + ([(-2, "right")] if dt.kind in "if" else [])
        if op in ("floor_divide", "remainder") and dt.kind in "iu":
            ints.append((0, "right"))
        floats = [(2.5, "both"), (-1.5, "right")]
    complexes = [(1.5 - 2j, "both") if op != "pow" else (0.5 + 1j, "both")]
    return ints + floats + [(True, "right")] + complexes


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
        if tdt == dtype and _runnable(device, op, dtype, [dtype]):
            # a complex scalar next to a real tensor, in an op that does not take complex numbers: the clear error
            for scalar, sides, compute in cases:
                if compute.name not in info.dtypes:
                    yield _call(f"{op}({tdt} (2, 3), {scalar!r}) raises: no {compute} kernel", fn, device,
                                [(np.ones((2, 3), tdt), "contiguous"), scalar], None, raises=ts.KernelNotFoundError)
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
    elif op in ARITHMETIC or op in BITWISE:
        for s in (info.max + 1, info.min - 1):
            yield _call(f"{op}({dtype} (3, 4), {s}) raises OverflowError", fn, device, [shared, s], None,
                        raises=OverflowError)
            yield _call(f"{op}({s}, {dtype} (3, 4)) raises OverflowError", fn, device, [s, shared], None,
                        raises=OverflowError)


# -- complex special values: Note [Complex samples] (core.py), Note [Complex special values] (reference.py) ----------

#: complex ops whose results on subnormal parts are exact (no arithmetic on them)
COMPLEX_SUBNORMAL_EXACT = frozenset({"real", "imag", "conj", "round", "negative", "positive", "isnan", "isinf",
                                     "isfinite", "logical_not", "equal", "not_equal"})


def _complex_unary_specials(op, dtype, device, fn, exact):
    x = core.complex_specials(dtype, op in COMPLEX_SUBNORMAL_EXACT)
    what = f"{op}(complex specials: NaN, inf, zero, tiny and huge parts, branch cuts)"
    if op == "sign":  # an infinite part: implementation-defined (Note [Complex special values])
        x = x[~(np.isinf(x.real) | np.isinf(x.imag))]
        what = f"{op}(complex specials without infinite parts)"
    yield _call(what, fn, device, [(x, "contiguous")], reference.complex_special(op)(x), **exact)


def _complex_binary_specials(op, dtype, device, fn):
    s = core.complex_specials(dtype, op in COMPLEX_SUBNORMAL_EXACT)
    a, b = np.repeat(s, len(s)), np.tile(s, len(s))
    what = f"{op}(complex specials x complex specials)"
    if op == "pow":
        # z ** w = exp(w log z) is ill-conditioned for a finite nonzero z with a huge or tiny modulus, or a large
        # finite w: the last bit of log z, times |w| (or e^Re(w log z) beyond the float range), moves the result's
        # angle, and so the sign and size of a part near a zero of cos or sin, or of overflowed or underflowed parts:
        # one correctly rounded log gives another answer than NumPy's float32 arctan2.  Those pairs are left out;
        # the special cases proper (a zero, infinite or NaN operand) stay, and the random samples cover the rest.
        with np.errstate(all="ignore"):
            finite = np.isfinite(a) & np.isfinite(b) & (a != 0)
            keep = ~(finite & ((np.abs(b) > 4) | (np.abs(a) > 1e4) | (np.abs(a) < 1e-4)))
        a, b = a[keep], b[keep]
        what = f"{op}(complex specials x complex specials, without large finite exponents of finite bases)"
    yield _call(what, fn, device, [(a, "contiguous"), (b, "contiguous")], reference.complex_special(op)(a, b))


# -- the special values of the standard's functions (issue 8) ---------------------------------------------------------

#: ops whose results on subnormal inputs are exact bit operations, so that they hold on devices that flush float32
#: subnormals to zero in arithmetic (CuPy's -ftz=true, which the standard allows): only these get subnormal inputs
SUBNORMAL_EXACT = frozenset({"nextafter", "copysign", "signbit", "real", "imag", "conj", "round", "trunc"})


def standard_specials(dtype, subnormals=False):
    """:func:`specials` and what the standard's special cases add: NaN with the sign bit, 2 and 0.25 (powers of two:
    nextafter steps down by a finer spacing there), -3; with ``subnormals``, the smallest and largest subnormals
    (both signs)."""
    fi = np.finfo(dtype)
    smallest = fi.smallest_subnormal
    extra = [np.copysign(np.array(np.nan, dtype), np.array(-1.0, dtype)),  # -np.nan's sign bit is not guaranteed
             np.array([2.0, 0.25, -3.0], dtype)]
    if subnormals:
        extra.append(np.array([smallest, -smallest, fi.tiny - smallest], dtype))
    return np.concatenate([specials(dtype)] + [np.atleast_1d(e) for e in extra])


def _halves(dtype):
    """Values round must send to the even neighbour: k + 0.5 around 0 and just below the dtype's last fractional
    binade, the float just below 0.5 (where floor(x + 0.5) is wrong), signed zeros."""
    top = 2.0 ** (np.finfo(dtype).nmant - 1)  # [top, 2 * top) holds halves but nothing finer
    below_half = np.nextafter(np.array(0.5, dtype), np.array(0.0, dtype))
    x = np.concatenate([np.arange(-4.5, 5.0, 1.0), [top - 0.5, top + 0.5, -top - 0.5, 2 * top - 0.5, 0.0, -0.0,
                                                    below_half, -below_half, 2 * top, -2 * top]])
    return x.astype(dtype)


def _sign_bits(op, expected):
    """A check that the result's sign bits (NaNs included, which compare() lets pass whatever their sign) are the
    reference's: copysign's whole point, and the copies of real and conj."""
    def check(result):
        got = np.signbit(result.numpy())
        bad = got != np.signbit(expected)
        if bad.any():
            i = tuple(int(k) for k in np.argwhere(bad)[0])
            raise Failure(f"{op}: the sign bit differs at {i} (got {result.numpy()[i]!r}, expected "
                          f"{expected[i]!r}); {int(bad.sum())} of {bad.size} differ")
    return check


def _standard_unary(op, dtype, device, fn, ref):
    if op not in ("signbit", "round", "trunc", "real", "conj", "imag", "reciprocal", "expm1", "log1p", "acos",
                  "acosh", "asin", "asinh", "atan", "atanh", "cosh", "sinh", "tan", "log2", "log10",
                  "bitwise_invert"):
        return
    dt = np.dtype(dtype)
    exact = {"atol": 0.0, "rtol": 0.0} if op in EXACT else {}
    if dt.kind == "f":
        x = standard_specials(dtype, op in SUBNORMAL_EXACT)
        expected = ref(x)
        check = _sign_bits(op, expected) if op in ("signbit", "real", "conj") and expected.dtype.kind == "f" else None
        yield _call(f"{op}(signed NaN, powers of two{', subnormals' * (op in SUBNORMAL_EXACT)})", fn, device,
                    [(x, "contiguous")], expected, check=check, **exact)
        if op in ("round", "trunc"):
            x = _halves(dtype)
            yield _call(f"{op}(halves, the float below 0.5, the last fractional binade)", fn, device,
                        [(x, "contiguous")], ref(x), **exact)
    elif dt.kind == "c" and op == "round":  # both parts round half to even
        h = _halves(np.finfo(dtype).dtype)
        x = core.complex_parts(h, h[::-1], dtype)
        yield _call(f"{op}(halves in both parts)", fn, device, [(x, "contiguous")], ref(x), **exact)
    elif dt.kind in "iu" and op in ("round", "trunc", "signbit", "bitwise_invert", "real", "conj", "imag"):
        info = np.iinfo(dt)
        x = np.array(sorted({info.min, info.min + 1, -1 if info.min < 0 else 2, 0, 1, info.max - 1, info.max}), dt)
        yield _call(f"{op}(integer edges)", fn, device, [(x, "contiguous")], ref(x))


def _standard_binary(op, dtype, device, fn, ref):
    dt = np.dtype(dtype)
    if dt.kind == "f" and op in ("atan2", "hypot", "copysign", "logaddexp", "nextafter", "floor_divide",
                                 "remainder"):
        s = standard_specials(dtype, op in SUBNORMAL_EXACT)
        a, b = np.repeat(s, len(s)), np.tile(s, len(s))
        expected = ref(a, b)
        exact = {"atol": 0.0, "rtol": 0.0} if op in EXACT else {}
        what = f"{op}(signed NaN, powers of two{', subnormals' * (op in SUBNORMAL_EXACT)}: every pair)"
        yield _call(what, fn, device, [(a, "contiguous"), (b, "contiguous")], expected,
                    check=_sign_bits(op, expected) if op == "copysign" else None, **exact)
    elif dt.kind in "iu" and op in BITWISE:
        info = np.iinfo(dt)
        bits = 8 * dt.itemsize
        if op in SHIFTS:  # counts at and past the width, negative counts: NumPy's answers
            ea = [info.min, info.min + 1, info.max, -1, 0, 1, 5, -5, 3] if dt.kind == "i" else [info.max, 0, 1, 5, 3]
            eb = ([-1, -bits, info.min] if dt.kind == "i" else []) + [0, 1, bits - 2, bits - 1, bits, bits + 1,
                                                                      info.max]
            text = "shift counts at and past the width"
        else:
            ea = eb = [info.min, info.max, 0, 1, info.max - 1] + ([-1, info.min + 1] if dt.kind == "i" else [])
            text = "integer edges, every pair"
        a = np.repeat(np.array(ea, dt), len(eb))
        b = np.tile(np.array(eb, dt), len(ea))
        yield _call(f"{op}({text})", fn, device, [(a, "contiguous"), (b, "contiguous")], ref(a, b))
    elif dt.kind == "b" and op in BITWISE + ("logical_xor",):
        a, b = np.array([False, False, True, True]), np.array([False, True, False, True])
        yield _call(f"{op}(every pair of bools)", fn, device, [(a, "contiguous"), (b, "contiguous")], ref(a, b))
