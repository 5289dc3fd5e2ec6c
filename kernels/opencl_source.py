"""OpenCL C source for the opencl backend, generated from the op table: one program per (device capabilities,
family, dtype), each the loop templates of ``kernels/opencl/*.cl`` plus the op expressions, loads and stores that
``kernels/codegen.py`` makes from ``kernels/optable.py``.

Plain Python with no PyOpenCL.  ``dev`` below is anything with the device's capability flags ``fp64``, ``fp16`` and
``cpu``, ``reduce_local`` (the work-group size of its reductions), ``tile`` (the matmul tile edge), and
``vector_width`` and ``matmul_block`` (per float dtype, CPU devices only: Note [Vector elementwise kernels] and Note
[Register-blocked matmul]); ``backends/opencl.py`` passes its per-device state.
"""

import os
import re

from . import codegen, optable

_KERNEL_DIR = os.path.join(os.path.dirname(codegen.__file__), "opencl")


def _read(name):
    with open(os.path.join(_KERNEL_DIR, name)) as f:
        return f.read()


def _preamble(dev, dtypes):
    flags = "".join(f"#define {f} 1\n" for f, on in (("TS_HAS_FP64", dev.fp64), ("TS_HAS_FP16", dev.fp16),
                                                       ("TS_CPU", dev.cpu)) if on)
    return flags + _read("common.cl") + codegen.helpers("opencl", dtypes)


def _ld(dtype, ptr, index):
    return codegen.load("opencl", dtype, ptr, index)


def _st(dtype, ptr, index, value, value_type=None):
    return codegen.store("opencl", dtype, ptr, index, value, value_type)


def _float_arg(dev):
    return "double" if dev.fp64 else "float"


#: the 8 x 8 blocks a work-item of the kernels of Note [Vector transposes] takes, down a column: two read the
#: transposed operand's 64-byte lines whole (a copy of a 1000 x 1000 float32 transpose 1.9x a contiguous copy with
#: one, 1.6x with two; four no better), and across a row: two write the result's lines whole (and read those of a
#: row-major operand: c + x.T 2.1x c + x with one, 1.8x with two)
TR_ROW_BLOCKS = 2
TR_COL_BLOCKS = 2


def _elementwise_source(dev, dtype):
    """Every elementwise op of ``dtype`` in the table, plus where and fill (a complex fill value arrives as the
    dtype's own float2/double2, rounded once on the host)."""
    t, c = codegen.ctype("opencl", dtype), codegen.compute_type("opencl", dtype)
    kind = optable.KIND[dtype]
    fill_t = _float_arg(dev) if kind == "float" else (t if kind == "complex" else "long")
    # Note [Vector transposes]
    tr = (f"#define TS_TR_VEC 1\n#define TS_TR_RB {TR_ROW_BLOCKS}\n#define TS_TR_CB {TR_COL_BLOCKS}\n"
          if dtype in dev.vector_width else "")
    out = [_preamble(dev, [dtype]), f"#define IN_T {t}\n#define TS_FILL_T {fill_t}\n{tr}", _read("elementwise.cl")]
    if _has_own_math(dev, dtype):  # Note [Own float math on CPU devices]
        vn = dev.vector_width[dtype]
        out.append(_read("vmath.cl") + f"TS_VMATH(float{vn}, int{vn}, {vn})\n")
    for op in optable.ELEMENTWISE.values():
        if dtype not in op.dtypes:
            continue
        r = op.result_dtype(dtype)
        o = codegen.ctype("opencl", r)
        expr = own_math(dev, dtype, op.expression(dtype))
        if op.arity == 1:
            out.append(f"static inline void ts_apply_{op.name}(__global {o}* out, long o, __global const IN_T* x, "
                       f"long i) {{ const {c} a = {_ld(dtype, 'x', 'i')}; {_st(r, 'out', 'o', expr)} }}\n"
                       f"TS_UNARY({op.name}, {o})\nTS_UNARY_ROWS({op.name}, {o})\n")
            if vector_op(dev, op, dtype):  # Note [Vector elementwise kernels]
                vn = dev.vector_width[dtype]
                out.append(f"static inline {t}{vn} ts_vapply_{op.name}({t}{vn} a) {{ return {expr}; }}\n"
                           f"TS_UNARY_VEC({op.name}, {vn})\nTS_UNARY_VEC_ROWS({op.name}, {vn})\n")
        else:
            out.append(f"static inline void ts_apply_{op.name}(__global {o}* out, long o, __global const IN_T* x, "
                       f"long i, __global const IN_T* y, long j) {{ const {c} a = {_ld(dtype, 'x', 'i')}; "
                       f"const {c} b = {_ld(dtype, 'y', 'j')}; {_st(r, 'out', 'o', expr)} }}\n"
                       f"TS_BINARY({op.name}, {o})\nTS_BINARY_ROWS({op.name}, {o})\n"
                       f"TS_BINARY_TILES({op.name}, {o})\n")
            if vector_binary_op(dev, op, dtype):  # Note [Vector transposes]
                out.append(f"#define TS_VAPPLY2_{op.name}(a, b) {op.expression(dtype)}\nTS_BINARY_TR({op.name})\n"
                           f"TS_BINARY_VROWS({op.name})\n")
    # both branches loaded, then selected: a load in each arm of the ?: kept PoCL from vectorising where (221K floats
    # 347 us, a copy 26)
    loads = f"const {c} xv = {_ld(dtype, 'x', 'i')}; const {c} yv = {_ld(dtype, 'y', 'j')};"
    out.insert(2, f"static inline void ts_apply_where(__global IN_T* out, long o, __global const uchar* c, long ci, "
                  f"__global const IN_T* x, long i, __global const IN_T* y, long j) {{ {loads} "
                  f"{_st(dtype, 'out', 'o', 'c[ci] ? xv : yv')} }}\n"
                  f"static inline void ts_apply_fill(__global IN_T* out, long o, TS_FILL_T value) "
                  f"{{ {_st(dtype, 'out', 'o', 'value', fill_t)} }}\n")
    return "".join(out)


#: the math builtins whose vector forms agree with the scalar ones to 4 ulp over every float32 and float64 edge
#: case (tests/test_opencl_backend.py checks it on the device at hand).  Not sin, cos and tan: PoCL 3.0's float32
#: vector versions answer 0.0078 for sin(1e-38) and 0.99997 for cos(1e-38) (float32 on CPU devices has its own:
#: OWN_MATH below).
_VECTOR_BUILTINS = frozenset(
    "exp exp2 exp10 expm1 log log2 log10 log1p sqrt rsqrt cbrt asin acos atan sinh cosh tanh asinh acosh atanh erf "
    "erfc floor ceil rint trunc fabs".split())


#: the float32 builtins CPU devices replace by their own (kernels/opencl/vmath.cl: Note [Own float math on CPU
#: devices]), every one with a vector form
OWN_MATH = ("exp", "expm1", "log", "log2", "log1p", "erf", "sin", "cos", "tan", "atan", "sinh", "cosh", "tanh", "fabs",
            "floor", "ceil", "trunc", "rint")
_OWN_CALL = re.compile(r"\b(" + "|".join(OWN_MATH) + r")\(")
#: the binary float32 builtins CPU devices replace by scalar forms of their own (the work-group vectoriser makes the
#: loops over them vector code), and pow, computed partly in double, where the device has doubles
OWN_BINARY_MATH = ("atan2", "hypot")
_OWN_BINARY_CALL = re.compile(r"\b(" + "|".join(OWN_BINARY_MATH) + r")\(")


def _has_own_math(dev, dtype):
    return dev.cpu and dtype == "float32" and dtype in dev.vector_width


def own_math(dev, dtype, expr):
    """``expr`` with the calls of OWN_MATH builtins made calls of tensorswitch's own versions (ts_exp, ...) where
    the device has them (CPU devices, float32, with OWN_BINARY_MATH; pow where it also has doubles), else as it
    is."""
    if not _has_own_math(dev, dtype):
        return expr
    expr = _OWN_BINARY_CALL.sub(r"ts_\1(", _OWN_CALL.sub(r"ts_\1(", expr))
    return re.sub(r"\bpow\(", "ts_pow(", expr) if dev.fp64 else expr


def vector_op(dev, op, dtype):
    """Whether unary ``op`` of ``dtype`` gets the NAME_vec kernel of Note [Vector elementwise kernels]: a CPU device
    with a vector width for the dtype, a result of the same dtype, and an expression that means the same on a
    vector (math builtins of ``a``, arithmetic and literals; no comparisons, ternaries or helpers)."""
    if op.arity != 1 or dtype not in op.dtypes or dtype not in dev.vector_width or op.result_dtype(dtype) != dtype:
        return False
    expr = own_math(dev, dtype, op.expression(dtype))
    if re.search(r"[?<>=!&|~%^]", expr):
        return False
    names = re.findall(r"[A-Za-z_]\w*(?:\s*\()?", expr)
    calls = [n.rstrip("( ") for n in names if n.endswith("(")]
    plain = [n for n in names if not n.endswith("(")]
    allowed = _VECTOR_BUILTINS | {f"ts_{f}" for f in OWN_MATH} if _has_own_math(dev, dtype) else _VECTOR_BUILTINS
    return all(n == "a" for n in plain) and bool(calls) and all(n in allowed for n in calls)


def vector_binary_op(dev, op, dtype):
    """Whether binary ``op`` of ``dtype`` gets the NAME_tr kernel of Note [Vector transposes]: a CPU device with
    vectors for the dtype, a result of the same dtype, and an expression of ``a`` and ``b`` that is arithmetic
    only, so that it means the same on vectors (add, subtract, multiply, divide)."""
    if op.arity != 2 or dtype not in op.dtypes or dtype not in dev.vector_width or op.result_dtype(dtype) != dtype:
        return False
    expr = op.expression(dtype)
    return re.fullmatch(r"[\sab()+\-*/]*", expr) is not None and "a" in expr and "b" in expr


def _astype_source(dev, dtype):
    """Conversions from ``dtype`` to every dtype the device stores (float16 storage needs no extension:
    vload/vstore_half; float64 and complex128 need fp64).  Float to integer follows Note [Float to integer casts] in
    dispatch/dtypes.py (codegen.cast), and every float conversion rounds once (float64 to float16 stores the double
    itself); complex to real takes the real part, real to complex an imaginary +0 (codegen.cast)."""
    out = [_preamble(dev, []), f"#define IN_T {codegen.ctype('opencl', dtype)}\n", _read("astype.cl")]
    for dst in optable.DTYPE_NAMES:
        if not dev.fp64 and dst in _NEEDS_FP64:
            continue
        value = codegen.cast("opencl", dtype, dst, _ld(dtype, "x", "i"))
        o = codegen.ctype("opencl", dst)
        stored = _st(dst, "out", "o", value, codegen.cast_type("opencl", dtype, dst))
        out.append(f"static inline void ts_convert_{dst}(__global {o}* out, long o, __global const IN_T* x, long i) "
                   f"{{ {stored} }}\nTS_ASTYPE({dst}, {o})\n")
    return "".join(out)


_NEEDS_FP64 = ("float64", "complex128")


def complex_accumulator(dev, dtype):
    """The complex dtype that sums, products and scans of complex ``dtype`` accumulate in: complex128 where the
    device has fp64 (complex64 then rounds once at the end, as the cpu backend's), else complex64 itself."""
    return "complex128" if dev.fp64 else dtype


def _part_type(dtype):
    """The C type of complex ``dtype``'s parts."""
    return codegen.ctype("opencl", optable.REAL_PART[dtype])


def _complex_fold(name, acc_dtype):
    """The fold of reduction or scan ``name`` (sum/cumsum, prod/cumprod) on complex accumulators ``acc``, ``v``."""
    op = "cmul" if name in ("prod", "cumprod") else "cadd"
    return f"ts_{op}_{acc_dtype}"


_UNIFORM = {"float32": "((x0 >> 8) * (1.0f / 16777216.0f))", "float16": "((x0 >> 21) * (1.0f / 2048.0f))",
            "float64": "(((x0 >> 5) * 67108864.0 + (x1 >> 6)) * (1.0 / 9007199254740992.0))"}


def _create_source(dev, dtype):
    """arange and the random draws for output ``dtype``."""
    kind = optable.KIND[dtype]
    # unsigned integers count in ulong, which wraps (a long would overflow, undefined, past 2^63 for uint64)
    arg = _float_arg(dev) if kind == "float" else ("ulong" if kind == "uint" else "long")
    store = _st(dtype, "out", "i", "v", arg)  # from the double itself where there is one: float16 rounds once
    out = [_preamble(dev, []), f"#define OUT_T {codegen.ctype('opencl', dtype)}\n#define TS_ARANGE_T {arg}\n",
           f"static inline void ts_store(__global OUT_T* out, long i, {arg} v) {{ {store} }}\n"]
    if kind == "float":
        out.append(f"#define TS_RANDOM_FLOAT 1\n#define TS_UNIFORM(x0, x1) {_UNIFORM[dtype]}\n")
    else:
        out.append("#define TS_RANDOM_INT 1\n")
    out.append(_read("create.cl"))
    return "".join(out)


_LIMITS = {"int8": ("CHAR_MIN", "CHAR_MAX"), "int16": ("SHRT_MIN", "SHRT_MAX"), "int32": ("INT_MIN", "INT_MAX"),
           "int64": ("LONG_MIN", "LONG_MAX"), "uint8": ("0", "UCHAR_MAX"), "uint16": ("0", "USHRT_MAX"),
           "uint32": ("0", "UINT_MAX"), "uint64": ("0", "ULONG_MAX"), "float16": ("-INFINITY", "INFINITY"),
           "float32": ("-INFINITY", "INFINITY"), "float64": ("-INFINITY", "INFINITY")}


#: the reductions with a NAME_vec kernel on CPU devices (Note [Vector reductions])
VECTOR_REDUCTIONS = ("sum", "max", "min")


def reduction_types(op, dtype, fp64=True):
    """(accumulator C type, result dtype) of reduction ``op`` on ``dtype`` (optable's result kinds) on a device with
    or without ``fp64``."""
    result = optable.REDUCTIONS[op].result
    c = codegen.compute_type("opencl", dtype)
    kind = optable.KIND[dtype]
    if result == "sum" and kind == "complex":  # see complex_accumulator
        return ("double2" if fp64 else c), dtype
    if result == "sum":  # integers widen to int64 or uint64 (optable.sum_dtype), in ulong so that overflow wraps
        return (c, dtype) if kind == "float" else ("ulong", optable.sum_dtype(dtype))
    if result == "bool":
        return "int", "bool"
    return c, ("int64" if result == "index" else dtype)


def _reduce_source(dev, dtype):
    """Every reduction of input ``dtype``: serial, group and finish kernels each.  Complex sums and products fold
    with the ts_cadd/ts_cmul helpers of their accumulator (complex_accumulator)."""
    is_complex = optable.KIND[dtype] == "complex"
    acc_dtype = complex_accumulator(dev, dtype) if is_complex else None
    vn = dev.vector_width.get(dtype)  # Note [Vector reductions]
    out = [_preamble(dev, [acc_dtype] if is_complex else []),
           f"#define IN_T {codegen.ctype('opencl', dtype)}\n#define TS_RL {dev.reduce_local}\n"
           + (f"#define TS_VN {vn}\n" if vn else ""), _read("reduce.cl")]
    for name, red in optable.REDUCTIONS.items():
        if dtype not in red.dtypes:
            continue
        acc, rdt = reduction_types(name, dtype, dev.fp64)
        value = _ld(dtype, "x", "off")
        if red.result == "bool":
            value = codegen.cast("opencl", dtype, "bool", value)
        if is_complex and red.result == "sum":
            value = codegen.cast("opencl", dtype, acc_dtype, value)
            part = _part_type(acc_dtype)
            init = codegen.complex_of("opencl", acc_dtype, (f"({part}){red.init}", f"({part})0"))
            fold = f"*accp = {_complex_fold(name, acc_dtype)}(acc, v);"
            o = codegen.ctype("opencl", rdt)
            out.append(f"static inline {acc} ts_init_{name}(void) {{ return {init}; }}\n"
                       f"static inline {acc} ts_read_{name}(__global const IN_T* x, long off) {{ return {value}; }}\n"
                       f"static inline void ts_fold_{name}({acc}* accp, long* ip, {acc} v, long vi) "
                       f"{{ const {acc} acc = *accp; {fold} }}\n"
                       f"static inline void ts_write_{name}(__global {o}* out, long o, {acc} acc, long idx) "
                       f"{{ {_st(rdt, 'out', 'o', 'acc', acc)} }}\n"
                       f"TS_REDUCTION({name}, {acc}, {o})\n")
            continue
        if red.init is not None:
            init = red.init
        else:
            init = _LIMITS[dtype][0 if name in ("max", "argmax") else 1]
        if red.result == "index":
            cmp = ">" if name == "argmax" else "<"
            # the first index of the max, and NaN beats everything: a total order, so any fold order agrees
            fold = (f"if ((v {cmp} acc) || (v == acc && vi < *ip) || (v != v && (acc == acc || vi < *ip))) "
                    f"{{ *accp = v; *ip = vi; }}")
            result = "idx"
        else:
            fold = f"*accp = ({acc})({red.combine});"
            result = "acc"
        o = codegen.ctype("opencl", rdt)
        out.append(f"static inline {acc} ts_init_{name}(void) {{ return ({acc})({init}); }}\n"
                   f"static inline {acc} ts_read_{name}(__global const IN_T* x, long off) {{ return ({acc})({value}); }}\n"
                   f"static inline void ts_fold_{name}({acc}* accp, long* ip, {acc} v, long vi) "
                   f"{{ const {acc} acc = *accp; {fold} }}\n"
                   f"static inline void ts_write_{name}(__global {o}* out, long o, {acc} acc, long idx) "
                   f"{{ {_st(rdt, 'out', 'o', result)} }}\n"
                   f"TS_REDUCTION({name}, {acc}, {o})\n")
        if vn and name in VECTOR_REDUCTIONS and acc == codegen.ctype("opencl", dtype):
            out.append(f"TS_REDUCTION_VEC({name}, {o}, TS_RV_{name.upper()}, {int(name != 'sum')})\n"
                       f"TS_REDUCTION_VEC_COLS({name}, {o}, TS_RV_{name.upper()}, {int(name != 'sum')})\n")
    return "".join(out)


def _io(dtype, value_type):
    """IN_T (``dtype``'s storage), TS_LOAD(p, i) (its value in the compute type) and ts_store(out, i, v), which stores
    a ``value_type`` v: what the matmul, softmax and nn templates read and write with (a complex v of either
    precision: codegen.store converts it)."""
    convert = value_type if optable.KIND[dtype] == "complex" else None
    return (f"#define IN_T {codegen.ctype('opencl', dtype)}\n#define TS_LOAD(p, i) {_ld(dtype, '(p)', '(i)')}\n"
            f"static inline void ts_store(__global IN_T* out, long i, {value_type} v) "
            f"{{ {_st(dtype, 'out', 'i', 'v', convert)} }}\n")


def _matmul_source(dev, dtype):
    """matmul.cl for ``dtype``: floats accumulate in their compute type, integers in unsigned arithmetic (wraps),
    complex numbers in their own type with TS_MADD a complex multiply-add (ops_common.h's helpers)."""
    c = codegen.compute_type("opencl", dtype)
    kind = optable.KIND[dtype]
    if kind == "complex":
        return (_preamble(dev, [dtype]) + f"#define ACC_T {c}\n#define TS_TILE {dev.tile}\n"
                f"#define TS_MADD(acc, a, b) ts_cadd_{dtype}((acc), ts_cmul_{dtype}((a), (b)))\n"
                + _io(dtype, c) + _read("matmul.cl"))
    acc = c if kind == "float" else ("ulong" if dtype in ("int64", "uint64") else "uint")
    blocked = dev.matmul_block.get(dtype)  # Note [Register-blocked matmul]
    block = f"#define TS_MM_RM {blocked[0]}\n#define TS_MM_VN {blocked[1]}\n" if blocked else ""
    return (_preamble(dev, []) + f"#define ACC_T {acc}\n#define TS_TILE {dev.tile}\n{block}" + _io(dtype, "ACC_T")
            + _read("matmul.cl"))


def _softmax_source(dev, dtype):
    """softmax and log_softmax of float ``dtype``, and cross entropy's fused kernels (nll_rows, nll_total,
    nll_backward): their row losses sum in double where the device has fp64, and float16's scale rounds to half
    (through private storage: no cl_khr_fp16 needed)."""
    c = codegen.compute_type("opencl", dtype)
    vn = dev.vector_width.get(dtype)
    vec = f"#define TS_VN {vn}\n#define TS_FLOAT_SOFTMAX_EXP {int(dtype == 'float32')}\n" if vn else ""
    if dtype == "float16":
        round_ = ("static inline float ts_round_half(float v) { ushort b; vstore_half(v, 0, (__private half*)&b); "
                  "return vload_half(0, (__private const half*)&b); }\n#define TS_ROUND(v) ts_round_half(v)\n")
    else:
        round_ = "#define TS_ROUND(v) (v)\n"
    acc = "double" if dev.fp64 else "float"
    nll = f"#define TS_RL {dev.reduce_local}\n#define TS_NLL_ACC {acc}\n{round_}"
    own = ""
    if _has_own_math(dev, dtype):  # Note [Own float math on CPU devices]
        own = f"#define TS_OWN_MATH 1\n{_read('vmath.cl')}TS_VMATH(float{vn}, int{vn}, {vn})\n"
    return (_preamble(dev, []) + f"#define C_T {c}\n{vec}{nll}{own}" + _io(dtype, "C_T") + _read("softmax.cl"))


def _windows_source(dev, dtype):
    """im2col, col2im and the pooling kernels of float ``dtype`` (kernels/opencl/nn.cl, TS_NN_WINDOWS)."""
    c = codegen.compute_type("opencl", dtype)
    rows = "#define TS_NN_ROWS 1\n" if dtype in dev.vector_width else ""  # CPU devices, IN_T == C_T
    return (_preamble(dev, []) + f"#define TS_NN_WINDOWS 1\n{rows}#define C_T {c}\n" + _io(dtype, "C_T")
            + _read("nn.cl"))


def _take_source(dev, dtype):
    """take_along_axis of ``dtype``: a copy of storage bits (a half as ushort: no cl_khr_fp16 needed)."""
    bits = "ushort" if dtype == "float16" else codegen.ctype("opencl", dtype)
    return _preamble(dev, []) + f"#define TS_NN_TAKE 1\n#define COPY_T {bits}\n" + _read("nn.cl")


def _scatter_source(dev, dtype):
    """scatter_add of numeric ``dtype``: floats add in their compute type (float16 rounds after each addition, as
    PyTorch's and NumPy's do), integers in 64-bit unsigned arithmetic, which wraps instead of overflowing."""
    acc = "ulong" if optable.KIND[dtype] in ("int", "uint") else codegen.compute_type("opencl", dtype)
    add = "((ulong)(a) + (ulong)(b))" if acc == "ulong" else "((a) + (b))"
    return (_preamble(dev, []) + f"#define TS_NN_SCATTER 1\n#define TS_ADD(a, b) {add}\n" + _io(dtype, acc)
            + _read("nn.cl"))



# -- the issue-8 families: sorting (sort.cl), scans and array indexing (scan.cl), linalg (linalg.cl) ----------------

def _sort_source(dev, dtype):
    """sort, argsort and searchsorted of ``dtype``: sort.cl with COPY_T (the storage bits, moved as they are: a half
    as ushort, no cl_khr_fp16 needed) and TS_KEY(x, i), the ordered ulong key of element i."""
    bits = "ushort" if dtype == "float16" else codegen.ctype("opencl", dtype)
    if dtype == "float16":
        key = "ts_key_float(vload_half((i), (__global const half*)(x)))"
    elif dtype == "float32":
        key = "ts_key_float((x)[(i)])"
    elif dtype == "float64":
        key = "ts_key_double((x)[(i)])"
    elif optable.KIND[dtype] == "int":  # the sign bit flipped, after sign extension to 64 bits
        key = "((ulong)(long)(x)[(i)] ^ 0x8000000000000000UL)"
    else:  # bool and the unsigned integers
        key = "((ulong)(x)[(i)])"
    return (_preamble(dev, []) + f"#define COPY_T {bits}\n#define TS_KEY(x, i) {key}\n"
            + _read("sort.cl"))


def scan_accumulator(dev, dtype):
    """The accumulator C type of a scan of ``dtype``: floats in double where the device has it, integers in ulong
    (which wraps; the stored low bits are the dtype's own wrapped sum), bool in uint (0/1, or / and), complex
    numbers in complex_accumulator's type."""
    kind = optable.KIND[dtype]
    if kind == "float":
        return "double" if dev.fp64 else "float"
    if kind == "complex":
        return codegen.ctype("opencl", complex_accumulator(dev, dtype))
    return "uint" if kind == "bool" else "ulong"


def _scan_source(product):
    def source(dev, dtype):
        acc = scan_accumulator(dev, dtype)
        kind = optable.KIND[dtype]
        load = codegen.load("opencl", dtype, "(p)", "(i)")
        if kind == "complex":
            acc_dtype = complex_accumulator(dev, dtype)
            part = _part_type(acc_dtype)
            identity = codegen.complex_of("opencl", acc_dtype, (f"({part}){int(product)}", f"({part})0"))
            op = f"{_complex_fold('cumprod' if product else 'cumsum', acc_dtype)}((a), (b))"
            return (_preamble(dev, [acc_dtype]) + f"#define TS_SCAN 1\n#define ACC_T {acc}\n"
                    f"#define TS_SL {dev.reduce_local}\n"
                    f"#define TS_READ(p, i) {codegen.cast('opencl', dtype, acc_dtype, load)}\n"
                    f"#define TS_OP(a, b) {op}\n#define TS_IDENTITY {identity}\n" + _io(dtype, acc)
                    + _read("scan.cl"))
        if kind == "bool":
            read, op = f"(({acc})({load} != 0))", "((a) & (b))" if product else "((a) | (b))"
        else:
            read = f"(({acc})(long)({load}))" if kind in ("int", "uint") else f"(({acc})({load}))"
            op = "((a) * (b))" if product else "((a) + (b))"
        return (_preamble(dev, []) + f"#define TS_SCAN 1\n#define ACC_T {acc}\n#define TS_SL {dev.reduce_local}\n"
                f"#define TS_READ(p, i) {read}\n#define TS_OP(a, b) {op}\n"
                f"#define TS_IDENTITY (({acc}){1 if product else 0})\n" + _io(dtype, acc) + _read("scan.cl"))
    return source


def _compact_source(dev, dtype):
    nonzero = codegen.cast("opencl", dtype, "bool", codegen.load("opencl", dtype, "(p)", "(i)"))  # complex: either part
    return (_preamble(dev, []) + f"#define TS_COMPACT 1\n#define IN_T {codegen.ctype('opencl', dtype)}\n"
            f"#define TS_SL {dev.reduce_local}\n#define TS_NONZERO(p, i) ((long){nonzero})\n" + _read("scan.cl"))


def _gather_source(dev, dtype):
    """gather and put copy storage bits (a half as ushort: no cl_khr_fp16 needed)."""
    bits = "ushort" if dtype == "float16" else codegen.ctype("opencl", dtype)
    return _preamble(dev, []) + f"#define TS_GATHER 1\n#define COPY_T {bits}\n" + _read("scan.cl")


def _linalg_source(dev, dtype):
    """linalg.cl for ``dtype``: T its storage type, RT the type of its magnitudes (T itself, or a complex dtype's
    part type), and for complex64 and complex128 TS_LA_COMPLEX with the product and quotient of ops_common.h's
    helpers (Note [OpenCL complex factorizations]; that program has no eigh or svd)."""
    t = codegen.ctype("opencl", dtype)
    if optable.KIND[dtype] == "complex":
        head = (_preamble(dev, [dtype]) + f"#define TS_LA_COMPLEX 1\n#define T {t}\n#define RT {_part_type(dtype)}\n"
                f"#define TS_LA_MUL(a, b) ts_cmul_{dtype}((a), (b))\n"
                f"#define TS_LA_DIV(a, b) ts_cdiv_{dtype}((a), (b))\n")
    else:
        head = _preamble(dev, []) + f"#define T {t}\n#define RT {t}\n"
    return head + f"#define TS_LA_LOCAL {dev.reduce_local}\n" + _read("linalg.cl")


SOURCES = {"elementwise": _elementwise_source, "astype": _astype_source, "create": _create_source,
           "reduce": _reduce_source, "matmul": _matmul_source, "softmax": _softmax_source,
           "windows": _windows_source, "take": _take_source, "scatter": _scatter_source, "sort": _sort_source,
           "cumsum": _scan_source(False), "cumprod": _scan_source(True), "compact": _compact_source,
           "gather": _gather_source, "linalg": _linalg_source}
