"""Turns the op table into kernel source for each dialect: "cpp" (the cpu backend, at build time), "cuda" and
"opencl" (at run time).  Only what differs between dialects lives here: type names, how a float16 is loaded and
stored, and the function qualifier.  The loops around these expressions are in each dialect's own kernel files.

    python kernels/codegen.py cpp OUT.inc      # what CMake runs
"""

import os
import sys

if __package__:
    from . import optable
else:  # run as a script by the C++ build
    import optable

DTYPES = optable.DTYPE_NAMES
DTYPE_CODE = {name: i for i, name in enumerate(DTYPES)}  # shared with dispatch/dtypes.py and the C++ module

STORAGE = {
    "cpp": {"bool": "bool", "int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t",
            "uint8": "uint8_t", "float16": "_Float16", "float32": "float", "float64": "double",
            "uint16": "uint16_t", "uint32": "uint32_t", "uint64": "uint64_t",
            "complex64": "std::complex<float>", "complex128": "std::complex<double>"},
    "cuda": {"bool": "bool", "int8": "signed char", "int16": "short", "int32": "int", "int64": "long long",
             "uint8": "unsigned char", "float16": "__half", "float32": "float", "float64": "double",
             "uint16": "unsigned short", "uint32": "unsigned int", "uint64": "unsigned long long",
            "complex64": "float2", "complex128": "double2"},
    "opencl": {"bool": "uchar", "int8": "char", "int16": "short", "int32": "int", "int64": "long",
               "uint8": "uchar", "float16": "half", "float32": "float", "float64": "double",
               "uint16": "ushort", "uint32": "uint", "uint64": "ulong",
               "complex64": "float2", "complex128": "double2"},
}

INLINE = {"cpp": "static inline", "cuda": "static __device__ __forceinline__", "opencl": "static inline"}

KERNEL_DIR = os.path.dirname(os.path.abspath(__file__))


def ctype(dialect, dtype):
    """The storage type of ``dtype`` in ``dialect``."""
    return STORAGE[dialect][dtype]


def compute_type(dialect, dtype):
    """The type expressions compute in: float16 computes in float everywhere, and uint16 in the 32-bit unsigned type
    (C promotes an unsigned short to int, where a product such as 65535 * 65535 overflows, which is undefined; in
    32-bit unsigned arithmetic it wraps and the store keeps the right low 16 bits; kernels/cpu/kernels.h's compute_t
    says the same for the C++ kernels)."""
    if dtype == "float16":
        return "float"
    if dtype == "uint16":
        return STORAGE[dialect]["uint32"]
    return STORAGE[dialect][dtype]


def load(dialect, dtype, ptr, index):
    """An expression reading element ``index`` of ``ptr`` as the compute type (a complex element as it is stored:
    float2/double2 in the run-time dialects, which no cast may name)."""
    if dtype == "float16":
        if dialect == "opencl":
            return f"vload_half({index}, {ptr})"
        if dialect == "cuda":
            return f"__half2float({ptr}[{index}])"
    if dialect != "cpp" and optable.KIND[dtype] == "complex":
        return f"({ptr}[{index}])"
    return f"(({compute_type(dialect, dtype)}){ptr}[{index}])"


def complex_of(dialect, dtype, parts):
    """The ``dtype`` (complex) value with real and imaginary parts ``parts`` (two C expressions of its part type),
    in a run-time dialect: an OpenCL vector literal, or CUDA's make_float2/make_double2."""
    c = STORAGE[dialect][dtype]
    re, im = parts
    return f"(({c})({re}, {im}))" if dialect == "opencl" else f"make_{c}({re}, {im})"


def _complex_cast(dialect, src, dst, value):
    """cast() where ``src`` or ``dst`` is complex, in a run-time dialect (Note [Complex kernels] in
    kernels/ops_common.h; kernels/cpu/kernels.h's convert() gives the same answers): to bool, either part nonzero;
    to a real dtype, the real part by the real rules; from a real dtype, the value converted to the part type with
    imaginary +0; complex64 and complex128 convert each part (rounding once)."""
    if dst == "bool":
        return f"(({value}).x != 0 || ({value}).y != 0)"
    if optable.KIND[src] != "complex":
        part = optable.REAL_PART[dst]
        return complex_of(dialect, dst, (cast(dialect, src, part, value), f"({compute_type(dialect, part)})0"))
    if optable.KIND[dst] != "complex":
        return cast(dialect, optable.REAL_PART[src], dst, f"({value}).x")
    if src == dst:
        return f"({value})"
    if dialect == "opencl":
        return f"convert_{STORAGE[dialect][dst]}({value})"
    part = compute_type(dialect, optable.REAL_PART[dst])
    return complex_of(dialect, dst, (f"({part})({value}).x", f"({part})({value}).y"))


def cast(dialect, src, dst, value):
    """``value`` (of ``src``'s compute type) converted to ``dst``, as an expression of type ``cast_type``.

    bool is ``!= 0`` (NaN is true).  In the run-time dialects, float to integer follows Note [Float to integer casts]
    in dispatch/dtypes.py through the ``ts_<float|double>_to_<dst>`` helpers of kernels/opencl/common.cl and
    kernels/cuda/common.cu (a C cast of an out-of-range float is undefined in C, OpenCL C and CUDA alike), and
    float64 to float16 stays double so that the float16 store rounds once (through float it would round twice)."""
    if dialect != "cpp" and "complex" in (optable.KIND[src], optable.KIND[dst]):
        return _complex_cast(dialect, src, dst, value)
    if dst == "bool":
        return f"(({value}) != 0)"
    if dialect == "cpp":  # the C++ build's own rules, unchanged (kernels/cpu/kernels.h converts on its own)
        if src in optable.FLOAT and dst in ("uint8",):
            return f"(({compute_type(dialect, dst)})(long long)({value}))"
        return f"(({compute_type(dialect, dst)})({value}))"
    if src in optable.FLOAT and dst in optable.INTEGER:
        prefix = "ts_" if dialect == "opencl" else "::ts::"
        return f"{prefix}{compute_type(dialect, src)}_to_{dst}({value})"
    return f"(({cast_type(dialect, src, dst)})({value}))"


def cast_type(dialect, src, dst):
    """The C type of ``cast(dialect, src, dst, ...)``: ``dst``'s compute type, except double for float64 to
    float16 (see ``store``'s ``value_type``)."""
    if dialect != "cpp" and optable.KIND[src] == "complex" and optable.KIND[dst] != "complex":
        return cast_type(dialect, optable.REAL_PART[src], dst)  # the real part's conversion
    if src == "float64" and dst == "float16" and dialect != "cpp":
        return "double"
    return compute_type(dialect, dst)


def store(dialect, dtype, ptr, index, value, value_type=None):
    """A statement writing ``value`` (of ``dtype``'s compute type, or of ``value_type`` when given) into element
    ``index`` of ``ptr``.  A float16 store rounds once from whatever arrives: OpenCL's ``vstore_half_rte`` takes a
    double as such (``value_type="double"``, where the device has fp64), and CUDA's ``::ts::to_half`` is overloaded
    on the value's type (kernels/cuda/common.cu).  A complex store takes either complex precision (OpenCL: say
    which in ``value_type``, "float2" or "double2")."""
    if dtype == "float16":
        if dialect == "opencl":
            if value_type == "double":
                return f"vstore_half_rte((double)({value}), {index}, {ptr});"
            return f"vstore_half((float)({value}), {index}, {ptr});"
        if dialect == "cuda":
            return f"{ptr}[{index}] = ::ts::to_half({value});"
    if dtype == "bool":
        return f"{ptr}[{index}] = ({ctype(dialect, 'bool')})(({value}) != 0);"
    if dialect != "cpp" and optable.KIND[dtype] == "complex":
        # a complex value of either precision (a complex64 sum arrives as double2): converted per part, since no
        # C cast converts float2/double2.  OpenCL names the conversion from value_type; CUDA's ::ts::to_float2 and
        # ::ts::to_double2 (kernels/cuda/common.cu) are overloaded on the value's type
        c = ctype(dialect, dtype)
        if dialect == "cuda":
            return f"{ptr}[{index}] = ::ts::to_{c}({value});"
        if value_type is not None and value_type != c:
            return f"{ptr}[{index}] = convert_{c}({value});"
        return f"{ptr}[{index}] = ({value});"
    return f"{ptr}[{index}] = ({ctype(dialect, dtype)})({value});"


#: the unsigned type of each signed integer dtype, per dialect: the type left shifts run in (ops_common.h)
UNSIGNED = {
    "cpp": {"int8": "uint8_t", "int16": "uint16_t", "int32": "uint32_t", "int64": "uint64_t"},
    "cuda": {"int8": "unsigned char", "int16": "unsigned short", "int32": "unsigned int",
             "int64": "unsigned long long"},
    "opencl": {"int8": "uchar", "int16": "ushort", "int32": "uint", "int64": "ulong"},
}


def _helper_families(dialect, dtypes):
    """The lines instantiating ops_common.h's helper families for ``dtypes`` (dtype names), e.g.
    ``TS_SIGNED_HELPERS(int32, int, uint)``; float16 adds TS_HALF_HELPERS (its own nextafter)."""
    lines = []
    for d in dtypes:
        kind, c = optable.KIND[d], compute_type(dialect, d)
        if kind == "int":
            lines.append(f"TS_SIGNED_HELPERS({d}, {c}, {UNSIGNED[dialect][d]})")
        elif kind == "uint":
            lines.append(f"TS_UNSIGNED_HELPERS({d}, {c})")
        elif kind == "float":
            lines.append(f"TS_FLOAT_HELPERS({d}, {c})")
            lines.append(f"TS_FLOAT_FAST_HELPERS({d}, {c})")
            if d == "float16":
                lines.append("TS_HALF_HELPERS")
        elif kind == "complex":  # Note [Complex kernels] in kernels/ops_common.h
            lines.append(f"TS_COMPLEX_HELPERS({d}, {c}, {compute_type(dialect, optable.REAL_PART[d])})")
    return lines


def helpers(dialect, dtypes):
    """ops_common.h followed by its helper families for ``dtypes`` (dtype names)."""
    with open(os.path.join(KERNEL_DIR, "ops_common.h")) as f:
        text = [f"#define TS_INLINE {INLINE[dialect]}", f.read()]
    return "\n".join(text + _helper_families(dialect, dtypes)) + "\n"


#: the ops whose float kernels on cpu take two passes (Note [Two-pass float division] in kernels/ops_common.h)
TWO_PASS = ("remainder", "floor_divide")


def _cpp_source():
    """The C++ op functors and per-(op, dtype) tables included by kernels/cpu/elementwise.cpp."""
    out = ["// Generated by kernels/codegen.py from kernels/optable.py. Do not edit.", "#pragma once",
           f"#define TS_INLINE {INLINE['cpp']}", '#include "ops_common.h"', "namespace ts_ops {", "using namespace std;"]
    out += _helper_families("cpp", DTYPES)  # after ``using namespace std``: the float overloads of <cmath>
    tables = {1: [], 2: []}
    for op in optable.ELEMENTWISE.values():
        row = []
        for d in DTYPES:
            if d not in op.dtypes:
                row.append("nullptr")
                continue
            c, r = compute_type("cpp", d), op.result_dtype(d)
            args = "C a" if op.arity == 1 else "C a, C b"
            own = " static constexpr bool own_exp = true;" if (op.name, d) == ("exp", "float32") else ""  # vexp.h
            if op.name in TWO_PASS and compute_type("cpp", d) == "float":  # Note [Two-pass float division]
                always = "__attribute__((always_inline)) static inline"
                own = (f" {always} Out fast(C a, C b) {{ return (Out)(ts_{op.name}_fast_{d}(a, b)); }}"
                       f" {always} bool slow(C a, C b) {{ return ts_fmod_slow_{d}(a, b) != 0; }}")
            out.append(f"struct {op.name}_{d} {{ using In = {ctype('cpp', d)}; using Out = {ctype('cpp', r)}; "
                       f"using C = {c}; static inline Out apply({args}) {{ return (Out)({op.expression(d)}); }}{own} }};")
            row.append(f"&ts::{'unary' if op.arity == 1 else 'binary'}_kernel<ts_ops::{op.name}_{d}>")
        tables[op.arity].append((op.name, row))
    out.append("}  // namespace ts_ops")
    for arity, kind in ((1, "unary"), (2, "binary")):
        names = ", ".join(f'"{n}"' for n, _ in tables[arity])
        out.append(f"static const char* const {kind}_op_names[] = {{{names}}};")
        out.append(f"static const ts::{kind.capitalize()}Kernel {kind}_table[][{len(DTYPES)}] = {{")
        for _, row in tables[arity]:
            out.append("    {" + ", ".join(row) + "},")
        out.append("};")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    dialect, path = sys.argv[1], sys.argv[2]
    if dialect != "cpp":
        raise SystemExit("only the cpp dialect is generated at build time; cuda and opencl are generated at run time")
    text = _cpp_source()
    old = open(path).read() if os.path.exists(path) else None
    if old != text:  # keep the timestamp when nothing changed, so the build does not recompile
        with open(path, "w") as f:
            f.write(text)
