"""A bounded, deterministic fuzzer for the error contract: bad input gets a clean exception, never a crash or a hang.

Each family of calls (creation, elementwise, reductions, shapes, indexing, in-place, conversion, the rest) is drawn
from a fixed seed as one-line snippets over tensors of every dtype on every usable device (plain, empty, 0-d, strided,
transposed, reversed and broadcast views), Python scalars at and past every dtype edge, NumPy scalars and arrays, and
junk (None, strings, lists, dicts, ...).  The snippets run in a child process, so a segfault is caught as the child's
exit status with the snippet that caused it; the child restarts after the crash and carries on.

What is asserted, and only that (the contract of the hardening pass):

* an exception is a ``ts.TensorSwitchError`` or one of TypeError, ValueError, IndexError, OverflowError,
  MemoryError, NotImplementedError, ZeroDivisionError: not an internal AttributeError, KeyError, RuntimeError, ...;
* its message is not a raw internal text: a pybind11 "incompatible function arguments" dump, a C++ or PyOpenCL
  error (``std::bad_cast``, ``INVALID_*``), a Python or NumPy internal message ("unhashable type", "object has no
  attribute", "Maximum allowed dimension exceeded", ...);
* a tensor a call returns has a dtype its device supports;
* no call crashes the process and none takes longer than ``CALL_TIMEOUT`` seconds.

Values are not compared here (the conformance suite does that).  Every failure lists one-line repros (they assume
``import tensorswitch as ts, numpy as np, pickle, copy``).  ``python tests/test_fuzz.py FAMILY [SEED] [N]`` prints a
family's findings without pytest.
"""

import json
import os
import random
import re
import subprocess
import sys
import tempfile
import textwrap

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
CALL_TIMEOUT = 20  # seconds for one snippet (the slowest legitimate one takes well under a second)
BATCH_TIMEOUT = 120  # seconds for one child process

ALLOWED = ("TypeError", "ValueError", "IndexError", "OverflowError", "MemoryError", "NotImplementedError",
           "ZeroDivisionError")
# message texts that only come from internals: pybind11, C++ and PyOpenCL (never right, whatever the exception) ...
INTERNAL = re.compile(r"incompatible function arguments|std::|bad_cast|INVALID_[A-Z_]+|clEnqueue|pyopencl\._cl")
# ... and Python's and NumPy's own wording for a bug or an unchecked argument (right only inside a tensorswitch
# error that quotes it as the cause, such as an OutOfMemoryError naming the device and the size)
RAW = re.compile("|".join([
    r"unhashable type", r"object has no attribute", r"not supported between instances of",
    r"unsupported operand type\(s\)", r"invalid literal for int\(\)", r"could not convert string to float",
    r"setting an array element with a sequence", r"Maximum allowed dimension exceeded", r"array is too big",
    r"Python integer -?\d+ out of bounds for", r"Python int too large to convert", r"int\(\) argument must be",
    r"float\(\) argument must be", r"The truth value of an array with more than one element", r"^$",
]))

# -- the generator ----------------------------------------------------------------------------------------------------

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32",
          "float64"]
SHAPES = [(), (0,), (0, 3), (1,), (4,), (2, 3), (3, 1), (1, 3), (2, 3, 2), (3, 0, 2)]
EDGE = {
    "bool": ["True", "False"],
    "int8": ["-128", "127", "0", "-1", "5"],
    "int16": ["-32768", "32767", "0", "-1", "7"],
    "int32": ["-2147483648", "2147483647", "0", "-1", "3"],
    "int64": ["-9223372036854775808", "9223372036854775807", "0", "-1", "2"],
    "uint8": ["0", "255", "1", "128"],
    "uint16": ["0", "65535", "1", "32768"],
    "uint32": ["0", "4294967295", "1", "2147483648"],
    "uint64": ["0", "18446744073709551615", "1", "9223372036854775808"],
    "float16": ["np.nan", "np.inf", "-np.inf", "-0.0", "65504.0", "1.5", "6e-08"],
    "float32": ["np.nan", "np.inf", "-np.inf", "-0.0", "3.4e38", "1.5", "1e-45"],
    "float64": ["np.nan", "np.inf", "-np.inf", "-0.0", "1e308", "1.5", "5e-324"],
}
INTS = ["0", "1", "-1", "2", "3", "127", "128", "255", "256", "-129", "2**15", "2**63-1", "2**63", "-2**63",
        "-2**63-1", "2**64", "10**30", "-10**30"]
FLOATS = ["0.5", "-0.0", "float('nan')", "float('inf')", "-float('inf')", "1e308", "1e-320", "3.0", "-2.5"]
NP_SCALARS = ["np.int8(5)", "np.uint64(2**64-1)", "np.float16(1.5)", "np.float64('nan')", "np.bool_(True)",
              "np.int64(-1)", "np.complex128(1j)", "np.uint16(7)", "np.float32(2.5)", "np.uint8(200)"]
JUNK = ["None", "'a'", "[1, 2]", "[[1], [2]]", "(1, 2)", "1j", "np.array([1, 2])", "np.array(3)",
        "np.array([1], dtype='>i4')", "np.array([1], dtype=object)", "b'x'", "{}", "slice(1)", "Ellipsis",
        "ts.float32", "ts.device('cpu')", "object()", "[]", "np.array([], dtype=np.float32)", "np.array(2.5)",
        "np.array([1+2j])", "np.array([1], dtype=np.uint16)", "[1.5, None]", "[2**64]", "[[1, 2], [3]]",
        "range(3)", "memoryview(b'ab')", "np.float64"]
# shapes: valid, invalid, and sizes no device can hold (never sizes this machine could actually allocate)
SHAPE_ARGS = ["(2, 3)", "3", "0", "()", "(0,)", "(2.0,)", "(True,)", "(-1,)", "(-2, 3)", "[2, 3]", "np.int64(3)",
              "np.array([2, 3])", "ts.asarray(3)", "ts.asarray([2, 3])", "2**63", "(2**62, 4)", "(1,) * 33", "None",
              "'ab'", "1.5", "(1, None)", "(2**40,)", "(2**64, 0)", "(0, 2**63)", "ts.asarray(2.0)", "(3, -1)",
              "(np.uint8(2), np.int16(3))", "(1,) * 32", "10**12", "(2**32, 2**32)"]
AXES = ["None", "0", "1", "-1", "2", "5", "-5", "(0,)", "(0, 1)", "(0, 0)", "()", "[0]", "1.5", "True", "'0'",
        "np.int64(0)", "ts.asarray(0)", "(None,)", "2**63", "(-1, 0)", "ts.asarray(0.0)", "np.array([0, 1])",
        "-2**63-1"]
INDEX = ["0", "-1", "5", "2**63", "-2**63-1", "slice(None, None, -1)", "slice(None, None, 0)",
         "slice(1, None, 2**64)", "slice(-2**70, 2**70, 3)", "slice(None, None, -2**63)", "...", "(Ellipsis, None)",
         "(None,) * 33", "None", "True", "np.bool_(False)", "[0, 1]", "np.array([0])", "ts.asarray(1)",
         "ts.asarray(1.0)", "ts.asarray([1])", "ts.asarray(True)", "(0, 0, 0, 0)", "'a'", "1.0", "np.int8(1)",
         "(slice(None), 0)", "ts.asarray(2**62)", "(..., ...)", "(0, ...)", "(..., -1)", "(1, 1)",
         "slice(2**63, -2**63, -1)", "(None, ..., None)", "np.uint64(1)",
         "(slice(None, None, 2), slice(None, None, -1))"]
DEVICE_ARGS = ["'cpu'", "'opencl'", "'numpy'", "'cuda'", "'opencl:1'", "'cpu:0'", "'cpu:-1'", "' cpu'", "'CPU'", "''",
               "None", "0", "ts.device('cpu')", "'nosuchdevice'", "'cpu:99999999999999999999'", "'cpu:'", "':0'",
               "b'cpu'"]
DTYPE_ARGS = [f"'{d}'" for d in DTYPES] + [
    "'float'", "'int'", "'f4'", "'>f4'", "'<i8'", "'uint16'", "'complex64'", "np.float32", "np.dtype('>f8')",
    "np.uint64", "bool", "int", "float", "complex", "None", "'bfloat16'", "[1]", "object", "ts.float32", "'O'",
    "'U3'", "'V8'", "'M8'", "'i4,i4'", "np.dtype('i4,i4')", "'Float32'", "ts.int8", "np.int16", "3", "{}"]
UNARY = ["negative", "positive", "abs", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "sign",
         "floor", "ceil", "square", "logical_not", "isnan", "isinf", "isfinite"]
BINARY = ["add", "subtract", "multiply", "divide", "floor_divide", "remainder", "pow", "maximum", "minimum", "equal",
          "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or"]
OPERATORS = ["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "&", "|", "@"]
REDUCTIONS = ["sum", "prod", "max", "min", "all", "any", "argmax", "argmin", "mean", "var", "std"]


class Generator:
    """One-line snippets from a fixed seed.  ``devices``: the device types tensors are made on."""

    def __init__(self, seed, devices):
        self.r = random.Random(seed)
        self.devices = devices

    def pick(self, seq):
        return self.r.choice(seq)

    def chance(self, p):
        return self.r.random() < p

    def tensor(self, dtype=None, device=None, shape=None, views=True, huge=True):
        dtype = dtype or self.pick(DTYPES)
        device = device or self.pick(self.devices)
        if device == "opencl" and dtype == "float16" and self.chance(0.9):
            dtype = "float32"  # mostly what the device holds; sometimes the clean UnsupportedDtypeError
        if device == "limited" and dtype not in ("float32", "bool") and self.chance(0.9):
            dtype = self.pick(["float32", "bool"])
        shape = self.pick(SHAPES) if shape is None else shape
        n = 1
        for s in shape:
            n *= s
        if dtype == "bool":
            values = [self.pick(EDGE[dtype]) for _ in range(n)]
        elif self.chance(0.5):
            values = [self.pick(EDGE[dtype]) for _ in range(n)]
        elif dtype.startswith("float"):
            values = [repr(round(self.r.uniform(-5, 5), 2)) for _ in range(n)]
        else:
            values = [str(self.r.randint(0 if dtype.startswith("uint") else -9, 9)) for _ in range(n)]
        array = f"np.array([{', '.join(values)}], dtype='{dtype}')" + (f".reshape({shape!r})" if shape != (n,) else "")
        expr = f"ts.asarray({array}, device='{device}')"
        if views and self.chance(0.4):
            options = [".T", "[None]", ".reshape(-1)", f".broadcast_to((2,) + {shape!r})"]
            if shape:
                options += ["[::-1]", "[::2]", "[1:]", "[..., ::-1]"]
            if len(shape) >= 2:
                options += ["[:, ::-1]", "[:, 1:]", ".mT", "[::-1, ::2]", "[..., 0]"]
            if huge and self.chance(0.15):
                # views no device could hold as a copy, or with strides past int64 (ops on them must still fail
                # cleanly); never big sizes that would merely be slow
                options = [f".broadcast_to((2**63,) + {shape!r})", f".broadcast_to((3, 2**62) + {shape!r})",
                           f".broadcast_to((2**40,) + {shape!r})[::2**39]", "[None][::2**64]"]
            expr += self.pick(options)
        return expr

    def scalar(self):
        k = self.r.random()
        if k < 0.35:
            return self.pick(INTS)
        if k < 0.6:
            return self.pick(FLOATS)
        if k < 0.7:
            return self.pick(["True", "False"])
        if k < 0.85:
            return self.pick(NP_SCALARS)
        return self.pick(JUNK)

    def operand(self):
        return self.tensor() if self.chance(0.6) else self.scalar()

    # -- families -------------------------------------------------------------------------------------------------

    def creation(self):
        f = self.pick(["empty", "zeros", "ones", "full", "arange", "linspace", "eye", "rand", "randn", "randint",
                       "asarray", "empty_like", "zeros_like", "ones_like", "full_like"])
        kw = []
        if self.chance(0.5):
            kw.append(f"dtype={self.pick(DTYPE_ARGS)}")
        if self.chance(0.5):
            kw.append(f"device={self.pick(DEVICE_ARGS + [repr(d) for d in self.devices])}")
        if f in ("empty", "zeros", "ones"):
            args = [self.pick(SHAPE_ARGS)]
        elif f == "full":
            args = [self.pick(SHAPE_ARGS), self.scalar() if self.chance(0.8) else self.tensor()]
        elif f == "arange":
            args = [self.pick(INTS + FLOATS + NP_SCALARS) for _ in range(self.r.randint(1, 3))]
        elif f == "linspace":
            args = [self.scalar(), self.scalar(), self.pick(["5", "0", "1", "-1", "2.5", "np.int8(3)", "2**63"])]
            if self.chance(0.3):
                kw.append(f"endpoint={self.pick(['False', 'True'])}")
        elif f == "eye":
            args = [self.pick(["3", "0", "1", "-1", "2.5", "np.int8(3)", "2**40", "None", "ts.asarray(2)"])]
            if self.chance(0.5):
                args.append(self.pick(["4", "None", "0", "2.0", "-3"]))
            if self.chance(0.6):
                kw.append("k=" + self.pick(["1", "-1", "5", "-5", "0.5", "1.5", "2**70", "-2**70", "True", "None",
                                            "'a'", "np.int64(1)"]))
        elif f in ("rand", "randn"):
            args = [self.pick(SHAPE_ARGS)] if self.chance(0.5) else [self.pick(["2", "3", "0", "-1", "1.5"])
                                                                      for _ in range(2)]
        elif f == "randint":
            args = [self.pick(INTS + FLOATS + ["'a'", "None"])]
            if self.chance(0.6):
                args.append(self.pick(INTS))
            if self.chance(0.6):
                kw.append(f"size={self.pick(SHAPE_ARGS)}")
        elif f == "asarray":
            args = [self.pick(JUNK + INTS + FLOATS + NP_SCALARS) if self.chance(0.6) else self.tensor()]
            if self.chance(0.3):
                kw.append(f"copy={self.pick(['True', 'False', 'None'])}")
        else:
            args = [self.tensor() if self.chance(0.8) else self.pick(JUNK)]
            if f == "full_like":
                args.append(self.scalar())
        return f"ts.{f}({', '.join(args + kw)})"

    def elementwise(self):
        k = self.r.random()
        if k < 0.25:
            return f"ts.{self.pick(UNARY)}({self.tensor() if self.chance(0.85) else self.scalar()})"
        if k < 0.55:
            return f"ts.{self.pick(BINARY)}({self.operand()}, {self.operand()})"
        if k < 0.85:
            a, b = (self.tensor(), self.operand()) if self.chance(0.6) else (self.operand(), self.tensor())
            return f"({a}) {self.pick(OPERATORS)} ({b})"
        return f"{self.pick(['-', '+', '~', 'abs'])}({self.tensor()})"

    def reduction(self):
        f = self.pick(REDUCTIONS)
        kw = []
        if self.chance(0.7):
            kw.append(f"axis={self.pick(AXES)}")
        if self.chance(0.3):
            kw.append(f"keepdims={self.pick(['True', 'False', '1'])}")
        if f in ("var", "std") and self.chance(0.4):
            kw.append("correction=" + self.pick(["1", "0.5", "-1", "10", "True", "2**70", "None", "'a'"]))
        if self.chance(0.9):
            x = self.tensor()
            if self.chance(0.5):
                return f"({x}).{f}({', '.join(kw)})"
        else:
            x = self.pick(JUNK)
        return f"ts.{f}({', '.join([x] + kw)})"

    def shapes(self):
        x = self.tensor()
        k = self.pick(["reshape", "reshape_method", "permute", "broadcast", "squeeze", "expand", "concat", "stack",
                       "flatten", "T", "mT", "contiguous", "broadcast_arrays"])
        if k == "reshape":
            copy = f", copy={self.pick(['True', 'False', 'None'])}" if self.chance(0.3) else ""
            target = self.pick([x, x, x, self.pick(JUNK)])
            return f"ts.reshape({target}, {self.pick(SHAPE_ARGS)}{copy})"
        if k == "reshape_method":
            shape = self.pick(["2, 3", "-1", "-1, 1", "0, -1", "6", "(3, 2)", "-1, -1", "2.0", "None"])
            return f"({x}).reshape({shape})"
        if k == "permute":
            return f"ts.permute_dims({x}, {self.pick(AXES + ['(1, 0)', '(2, 0, 1)', '(0, 1, 1)', '(-1, -2)'])})"
        if k == "broadcast":
            return f"ts.broadcast_to({x}, {self.pick(SHAPE_ARGS + ['(2, 2, 3)', '(4, 2, 3)', '(2, 0, 3)'])})"
        if k == "squeeze":
            return f"ts.squeeze({x}, {self.pick(AXES)})"
        if k == "expand":
            return f"ts.expand_dims({x}, {self.pick(AXES)})"
        if k in ("concat", "stack"):
            items = [self.tensor() if self.chance(0.9) else self.pick(JUNK) for _ in range(self.r.randint(0, 3))]
            axis = f", axis={self.pick(AXES)}" if self.chance(0.6) else ""
            return f"ts.{k}([{', '.join(items)}]{axis})"
        if k == "broadcast_arrays":
            return f"ts.broadcast_arrays({self.tensor()}, {self.tensor()})"
        if k in ("flatten", "contiguous"):
            return f"({x}).{k}()"
        return f"({x}).{k}"

    def indexing(self):
        x = self.tensor()
        index = self.pick(INDEX) if self.chance(0.7) else f"{self.pick(INDEX)}, {self.pick(INDEX)}"
        if self.chance(0.5):
            return f"({x})[{index}]"
        value = self.operand() if self.chance(0.8) else self.pick(JUNK)
        return f"x = {x}; x[{index}] = {value}"

    def inplace(self):
        op = self.pick(["+=", "-=", "*=", "/=", "//=", "%=", "**=", "&=", "|=", "@="])
        if self.chance(0.25):  # views of the target as the operand
            x = self.tensor(shape=self.pick([(4,), (3, 3), (2, 3)]), views=False)
            target = self.pick(["x", "x[::-1]", "x.T", "x[1:]", "x[::2]"])
            other = self.pick(["x", "x[::-1]", "x.T", "x[:-1]", "x[::2]", "x.reshape(-1)[0]"])
            return f"x = {x}; v = {target}; v {op} {other}; x.tolist()"
        return f"x = {self.tensor()}; x {op} {self.operand()}"

    def conversion(self):
        x = self.tensor(huge=False)  # no iteration over 2**63 rows: that is slow, not wrong
        k = self.pick(["to", "astype", "numpy", "tolist", "item", "float", "int", "bool", "len", "iter", "repr", "str",
                       "pickle", "copy", "deepcopy", "np.asarray", "index", "to_device", "hash", "dtype", "device",
                       "result_type", "promote_types", "huge"])
        if k == "to":
            kw = []
            if self.chance(0.7):
                kw.append(f"device={self.pick(DEVICE_ARGS)}")
            if self.chance(0.5):
                kw.append(f"dtype={self.pick(DTYPE_ARGS)}")
            return f"({x}).to({', '.join(kw)})"
        if k == "astype":
            if self.chance(0.5):
                return f"({x}).astype({self.pick(DTYPE_ARGS)})"
            return (f"ts.astype({x}, {self.pick(DTYPE_ARGS)}, copy={self.pick(['True', 'False'])}, "
                    f"device={self.pick(DEVICE_ARGS)})")
        if k in ("numpy", "tolist", "item"):
            return f"({x}).{k}()"
        if k in ("float", "int", "bool", "len", "repr", "str", "hash"):
            return f"{k}({x})"
        if k == "iter":
            return f"list({x})"
        if k == "pickle":
            return f"pickle.loads(pickle.dumps({x}))"
        if k in ("copy", "deepcopy"):
            return f"copy.{k}({x})"
        if k == "np.asarray":
            return f"np.asarray({x}{', dtype=np.float64' if self.chance(0.3) else ''})"
        if k == "index":
            return f"[0, 1, 2, 3, 4][{x}]"
        if k == "to_device":
            return f"({x}).to_device({self.pick(DEVICE_ARGS)})"
        if k == "dtype":
            return f"ts.dtype({self.pick(DTYPE_ARGS + JUNK)})"
        if k == "device":
            return f"ts.device({self.pick(DEVICE_ARGS + JUNK)})"
        if k == "result_type":
            args = [self.tensor() if self.chance(0.5) else self.pick(DTYPE_ARGS) for _ in range(self.r.randint(0, 3))]
            return f"ts.result_type({', '.join(args)})"
        if k == "promote_types":
            return f"ts.promote_types({self.pick(DTYPE_ARGS)}, {self.pick(DTYPE_ARGS)})"
        # size-0 tensors with dimensions NumPy cannot express, and views no host could copy
        y = self.pick(["ts.zeros((0, 2**63))", "ts.zeros((2**64, 0))", "ts.ones(1).broadcast_to((2**63,))",
                       "ts.ones(1, device='opencl').broadcast_to((3, 2**62))" if "opencl" in self.devices else
                       "ts.ones(1).broadcast_to((3, 2**62))"])
        if self.chance(0.5):
            return f"{self.pick(['repr', 'str', 'np.asarray'])}({y})"
        return f"({y}).{self.pick(['numpy', 'tolist'])}()"

    def misc(self):
        k = self.pick(["where", "matmul", "softmax", "log_softmax", "seed", "generator", "memory", "fallback",
                       "default_device", "threads"])
        if k == "where":
            return f"ts.where({self.operand()}, {self.operand()}, {self.operand()})"
        if k == "matmul":
            a = self.tensor(shape=self.pick([(2, 3), (3,), (3, 2), (2, 3, 2), (0, 3), (3, 0), ()]))
            b = self.tensor(shape=self.pick([(3, 2), (3,), (2,), (2, 2, 3), (3, 0), (0, 3), ()]))
            return self.pick([f"ts.matmul({a}, {b})", f"({a}) @ ({b})", f"({a}).matmul({b})"])
        if k in ("softmax", "log_softmax"):
            axis = f", axis={self.pick(AXES)}" if self.chance(0.6) else ""
            return f"ts.{k}({self.tensor() if self.chance(0.9) else self.pick(JUNK)}{axis})"
        if k == "seed":
            return f"ts.manual_seed({self.pick(INTS + FLOATS + JUNK[:6])}); ts.rand(3).tolist()"
        if k == "generator":
            return f"ts.Generator({self.pick(INTS + FLOATS + JUNK[:6])}).next()"
        if k == "memory":
            return f"ts.{self.pick(['memory_stats', 'empty_cache'])}({self.pick(DEVICE_ARGS)})"
        if k == "fallback":
            return f"ts.set_fallback({self.pick(DEVICE_ARGS + JUNK[:4])}, {self.pick(DEVICE_ARGS + JUNK[:4])})"
        if k == "default_device":
            return (f"ts.set_default_device({self.pick(DEVICE_ARGS + JUNK[:4])}); ts.zeros(2).device; "
                    f"ts.set_default_device(None)")
        # thread counts a machine can run, and bad ones (see test_thread_counts_are_bounded for huge ones)
        n = self.pick(["1", "2", "0", "-1", "1.5", "'a'", "None", "True", "2**64", "-2**64", "np.int64(2)", "[2]"])
        return f"ts.set_num_threads({n}); ts.set_num_threads(2)"


FAMILIES = ["creation", "elementwise", "reduction", "shapes", "indexing", "inplace", "conversion", "misc"]
SEEDS = {family: 1000 + i for i, family in enumerate(FAMILIES)}
CALLS = 220  # per family: about 1,800 calls in all, a few seconds each family


def snippets(family, seed, n, devices):
    gen = Generator(seed, devices)
    return [getattr(gen, family)() for _ in range(n)]


# -- the child process ------------------------------------------------------------------------------------------------

def _child(path, start, progress, results):
    """Run the snippets of ``path`` from ``start``, appending one JSON line per snippet to ``results`` and writing
    each index to ``progress`` before running it (so the parent knows which one crashed)."""
    import copy
    import faulthandler
    import pickle
    import signal
    import warnings

    import numpy as np

    faulthandler.enable()
    warnings.simplefilter("ignore")
    sys.path.insert(0, HERE)
    import tensorswitch as ts

    spec = json.load(open(path))
    if spec.get("fallback"):
        import limited_backend  # noqa: F401  (registers the "limited" device)

        ts.set_fallback("limited", "cpu")

    class Hang(Exception):
        pass

    def alarm(*_):
        raise Hang()

    signal.signal(signal.SIGALRM, alarm)
    fd = os.open(progress, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    with open(results, "a") as out:
        for i in range(start, len(spec["snippets"])):
            os.write(fd, f"{i}\n".encode())
            src = spec["snippets"][i]
            ns = {"ts": ts, "np": np, "pickle": pickle, "copy": copy}
            record = {"i": i}
            signal.alarm(CALL_TIMEOUT)
            try:
                try:
                    code = compile(src, "<snippet>", "eval")
                except SyntaxError:
                    exec(compile(src, "<snippet>", "exec"), ns)
                else:
                    result = eval(code, ns)
                    if isinstance(result, ts.Tensor):
                        result.numpy()  # runs every pending kernel; conversion is part of the contract
                        if result.dtype not in result.device.supported_dtypes():
                            record.update(kind="dtype", message=f"returned a {result.dtype.name} tensor on "
                                                                f"{result.device}, which does not support it")
            except Hang:
                record.update(kind="hang", message=f"took more than {CALL_TIMEOUT} s")
            except BaseException as exc:  # noqa: B902  (anything at all is what is being checked)
                signal.alarm(0)
                name, message = type(exc).__name__, str(exc)
                if not (isinstance(exc, ts.TensorSwitchError) or name in ALLOWED
                        or any(c.__name__ in ALLOWED for c in type(exc).__mro__)):
                    record.update(kind="type", message=f"{name}: {message}"[:300])
                elif INTERNAL.search(message) or (RAW.search(message) and not isinstance(exc, ts.TensorSwitchError)):
                    record.update(kind="raw", message=f"{name}: {message}"[:300])
            finally:
                signal.alarm(0)
            out.write(json.dumps(record) + "\n")
            out.flush()


def run_snippets(snippet_list, fallback=False, timeout=BATCH_TIMEOUT):
    """Run ``snippet_list`` in child processes; returns [(snippet, kind, message)] for every violation."""
    with tempfile.TemporaryDirectory() as tmp:
        path, progress, results = (os.path.join(tmp, name) for name in ("snippets.json", "progress", "results"))
        with open(path, "w") as f:
            json.dump({"snippets": snippet_list, "fallback": fallback}, f)
        found, start = [], 0
        env = {**os.environ, "OMP_NUM_THREADS": "2"}
        while start < len(snippet_list):
            try:
                proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", path, str(start),
                                       progress, results], capture_output=True, text=True, timeout=timeout,
                                      cwd=os.path.dirname(HERE), env=env)
                status, tail = proc.returncode, proc.stderr[-400:]
            except subprocess.TimeoutExpired:
                status, tail = "timeout", ""
            if status == 0:
                break
            done = open(progress).read().split() if os.path.exists(progress) else []
            last = int(done[-1]) if done else start
            kind = "hang" if status == "timeout" else "crash"
            found.append((snippet_list[last], kind, f"exit status {status}; {tail.strip()}"[:400]))
            start = last + 1
        if os.path.exists(results):
            for line in open(results):
                record = json.loads(line)
                if "kind" in record:
                    found.append((snippet_list[record["i"]], record["kind"], record["message"]))
        return found


def report(found, limit=25):
    """One repro per distinct (kind, message shape), shortest first."""
    groups = {}
    for src, kind, message in found:
        key = (kind, re.sub(r"\d+", "N", re.sub(r"'[^']*'", "'S'", message))[:90])
        if key not in groups or len(src) < len(groups[key][0]):
            groups[key] = (src, kind, message)
    lines = [f"{len(found)} contract violations in {len(groups)} classes:"]
    for src, kind, message in sorted(groups.values(), key=lambda g: len(g[0]))[:limit]:
        lines.append(f"  [{kind}] {src}\n      -> {message[:240]}")
    return "\n".join(lines)


def _usable_devices():
    import tensorswitch as ts

    return sorted({d.type for d in ts.devices()} - {"limited"}) or ["cpu"]


# -- the tests --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_fuzzed_calls_keep_the_error_contract(family):
    found = run_snippets(snippets(family, SEEDS[family], CALLS, _usable_devices()))
    assert not found, report(found)


def test_fuzzed_calls_on_a_limited_device_with_the_cpu_fallback():
    """The "limited" test device (float32 and bool only, a handful of kernels) with ``ts.set_fallback``: results
    must still be dtypes the device holds, and errors must stay clean."""
    gen = Generator(2000, ["limited", "limited", "limited", "cpu"])
    calls = [getattr(gen, gen.pick(["elementwise", "reduction", "shapes", "indexing", "inplace", "misc"]))()
             for _ in range(CALLS)]
    found = run_snippets(calls, fallback=True)
    assert not found, report(found)


_BROKEN_BACKEND = textwrap.dedent("""
    import sys, json
    sys.path.insert(0, sys.argv[1])
    import tensorswitch as ts
    from limited_backend import CPUMemoryBackend

    ALLOWED = {ALLOWED!r}
    hook = sys.argv[2]

    def boom(*args, **kwargs):
        raise RuntimeError("the driver exploded")

    def missing(*args, **kwargs):
        raise KeyError("handle")

    attrs = {{hook.replace("_keyerror", ""): missing if hook.endswith("_keyerror") else boom}}
    if hook == "memory_limit":  # asked only after an allocation failed
        attrs["allocate"] = lambda self, n, i: (_ for _ in ()).throw(MemoryError("full"))
    name = "brokendev"
    ts.register_backend(type("Broken", (CPUMemoryBackend,), attrs)(name))
    out = []
    for call in ["ts.device(N)", "ts.zeros(3, device=N)", "ts.asarray([1.0, 2.0], device=N).tolist()",
                 "ts.asarray([1.0]).to(N).to('cpu').tolist()", "ts.memory_stats(N)", "ts.empty_cache(N)",
                 "[str(d) for d in ts.devices()]", "ts.empty_cache()"]:
        try:
            eval(call, {{"ts": ts, "N": name}})
        except Exception as exc:
            clean = isinstance(exc, ts.TensorSwitchError) or any(c.__name__ in ALLOWED for c in type(exc).__mro__)
            listing = call in ("[str(d) for d in ts.devices()]", "ts.empty_cache()")  # must not fail at all
            if listing or not clean or name not in str(exc):
                out.append((call.replace("N", repr(name)), type(exc).__name__ + ": " + str(exc)[:160]))
    print(json.dumps(out))
""")

HOOKS = ["initialize", "device_count", "unavailable_reason", "supported_dtypes", "allocate", "allocate_keyerror",
         "copy_in", "copy_out", "memory_stats", "memory_limit", "empty_cache"]


@pytest.mark.parametrize("hook", HOOKS)
def test_backend_hooks_that_raise_give_clean_errors(hook):
    """A plugin whose ``hook`` raises: a call that needed the hook gets a clean exception naming the device (with
    the hook's exception as its cause), and listing the devices or emptying every cache keeps working."""
    proc = subprocess.run([sys.executable, "-c", _BROKEN_BACKEND.format(ALLOWED=ALLOWED), HERE, hook],
                          capture_output=True, text=True, timeout=120, cwd=os.path.dirname(HERE))
    assert proc.returncode == 0, proc.stderr[-2000:]
    bad = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not bad, f"{len(bad)} unclean outcomes:\n" + "\n".join(f"  {call} -> {msg}" for call, msg in bad)


_THREADS = textwrap.dedent("""
    import sys, threading, random, traceback
    import numpy as np
    import tensorswitch as ts
    devices = sorted({d.type for d in ts.devices()} - {"limited"})
    shared = {d: ts.asarray(np.arange(16.0, dtype=np.float32).reshape(4, 4), device=d) for d in devices}
    barrier = threading.Barrier(8)
    errors = []
    def work(k):
        r = random.Random(k)
        try:
            barrier.wait()
            for i in range(60):
                d = r.choice(devices)
                s = shared[d]
                step = r.randrange(9)
                if step == 0: (s + 1).sum().item()
                elif step == 1: s[r.randrange(4)] += 1.0
                elif step == 2: s.T.contiguous().numpy()
                elif step == 3: ts.exp(s[::-1]).max().item()
                elif step == 4: s[:, ::2] = r.random()
                elif step == 5: repr(s)
                elif step == 6: s.to(r.choice(devices)).tolist()
                elif step == 7: ts.matmul(s, s.T).sum().item()
                else: ts.rand(5, device=d).sum().item()
        except Exception:
            errors.append(traceback.format_exc())
    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    print("errors:", len(errors)); print("".join(errors[:2]))
""")


def test_threads_mixing_ops_on_shared_tensors():
    """Eight threads, first use of every device at once, then mixed reads, in-place writes, copies between devices
    and reprs of the same tensors: no crash, no exception."""
    proc = subprocess.run([sys.executable, "-c", _THREADS], capture_output=True, text=True, timeout=180,
                          cwd=os.path.dirname(HERE), env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert proc.returncode == 0 and "errors: 0" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_thread_counts_are_bounded():
    """``ts.set_num_threads(n)`` for an n no machine can run must raise cleanly, or settle on a count the machine can
    start: the next parallel kernel must not die in OpenMP ("Thread creation failed", or a segfault).  Only the
    setting is checked here: actually running a kernel on tens of thousands of threads would starve a shared
    machine."""
    code = textwrap.dedent("""
        import os, tensorswitch as ts
        bound = max(1024, 64 * (os.cpu_count() or 1))
        for n in (2**16, 10**6, 2**31, 2**40):
            try:
                ts.set_num_threads(n)
            except (ValueError, OverflowError) as exc:
                assert "set_num_threads" in str(exc), exc
                continue
            got = ts.get_num_threads()
            ts.set_num_threads(2)
            assert got <= bound, f"set_num_threads({n}) kept {got} threads ({os.cpu_count()} cores here)"
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout + proc.stderr[-1500:]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        family = sys.argv[1] if len(sys.argv) > 1 else "creation"
        seed = int(sys.argv[2]) if len(sys.argv) > 2 else SEEDS.get(family, 0)
        n = int(sys.argv[3]) if len(sys.argv) > 3 else CALLS
        print(report(run_snippets(snippets(family, seed, n, _usable_devices())), limit=200))
