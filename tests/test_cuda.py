"""The cuda backend's own checks.  The device-generic suite (test_ops.py, test_contract.py, ...) runs on cuda by itself
wherever a GPU is usable; this file adds what only cuda has:

* compile checks with ``nvcc --ptx`` of every kernels/cuda/*.cu file and of the generated source of a sample of
  programs in one translation unit, wherever nvcc exists: they need no GPU and no CuPy;
* compile checks with NVRTC itself (what CuPy compiles with at run time), loaded through ctypes from the
  ``nvidia-cuda-nvrtc`` wheel (the ``test`` extra) or ``nvidia-cuda-nvrtc-cu12`` or a toolkit: every generated program
  in C++17 with the CUDA headers, and a sample of them in C++11 and without the headers (the TS_OWN_HALF retry; Note
  [Sampled compile checks]); NVRTC needs no GPU or driver;
* the pure-Python parts of backends/cuda.py (dim coalescing, layout metadata, launch plans, fill bits, BLAS layouts,
  randint arguments), and its glue with CuPy run against stand-ins: cuBLAS's argument math against a NumPy model of
  column-major gemm (transposed storage included), compile errors, a CuPy without cuBLAS;
* cuda-only runtime checks (each reduction and softmax strategy, cuBLAS and the tiled fallback, the layout cache, the
  float16 fallback header), which run where CuPy and a GPU are present and are skipped with the reason elsewhere.
"""

import concurrent.futures
import contextlib
import ctypes
import glob
import itertools
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import types

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch.backends import cuda
from tensorswitch.dispatch.device import unavailable_reasons
from tensorswitch.kernels import cuda_source, optable

ALL = optable.DTYPE_NAMES


# -- nvcc compile checks --------------------------------------------------------------------------------------------

def _find_nvcc():
    found = shutil.which("nvcc")
    if found:
        return found
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if root and os.path.exists(os.path.join(root, "bin", "nvcc")):
            return os.path.join(root, "bin", "nvcc")
    return None


NVCC = _find_nvcc()
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc not found (install the CUDA toolkit or set CUDA_HOME)")


def _nvcc_ptx(source=None, path=None, defines=()):
    """Compile to PTX; returns the PTX text.  Fails on errors and on warnings from our own sources."""
    with tempfile.TemporaryDirectory() as tmp:
        if path is None:
            path = os.path.join(tmp, "generated.cu")
            with open(path, "w") as f:
                f.write(source)
        out = os.path.join(tmp, "out.ptx")
        cmd = [NVCC, "--ptx", "-o", out, *[f"-D{d}" for d in defines], path]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        log = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"nvcc failed on {path}:\n{log[-6000:]}"
        warnings = [line for line in log.splitlines() if "warning #" in line]
        assert not warnings, f"nvcc warnings on {path}:\n" + "\n".join(warnings[:20])
        with open(out) as f:
            return f.read()


def _entries(ptx):
    return set(re.findall(r"\.entry\s+(\w+)\s*\(", ptx))


def _expected_kernels(key):
    """The extern "C" names the kernel adapters of backends/cuda.py look up in program ``key``."""
    family, d = key
    three = ("_contig", "_strided1", "_strided")
    if family == "elementwise":
        return {f"ts_{op}_{d}{s}" for op, info in optable.ELEMENTWISE.items() if d in info.dtypes for s in three}
    if family == "astype":
        return {f"ts_astype_{d}_{dst}{s}" for dst in ALL for s in three}
    if family == "reduction":
        return {f"ts_{op}_{d}{s}" for op, info in optable.REDUCTIONS.items() if d in info.dtypes
                for s in ("_threads", "_blocks", "_partials")}
    if family in ("where", "fill"):
        return {f"ts_{family}_{d}{s}" for s in three}
    if family == "arange":
        return {f"ts_arange_{d}"}
    if family == "random":
        return {f"ts_rand_{d}", f"ts_randn_{d}"} if d in optable.FLOAT else {f"ts_randint_{d}"}
    if family == "matmul":
        return {f"ts_matmul_{d}"}
    if family == "softmax":
        return {f"ts_{op}_{d}{s}" for op in ("softmax", "log_softmax") for s in ("_threads", "_blocks")}
    if family == "windows":
        return {f"ts_{op}_{d}" for op in ("im2col", "col2im", "max_pool2d", "max_pool2d_argmax", "max_pool2d_backward",
                                          "avg_pool2d", "avg_pool2d_backward")}
    if family == "take":
        return {f"ts_take_along_axis_{d}"}
    if family == "scatter":
        return {f"ts_scatter_add_{d}"}
    raise AssertionError(family)


@needs_nvcc
@pytest.mark.parametrize("name", sorted(f for f in os.listdir(cuda_source.KERNEL_DIR) if f.endswith(".cu")))
@pytest.mark.parametrize("half", ["cuda_fp16", "own_half"])
def test_kernel_file_compiles(name, half):
    """Each template file compiles on its own, with CUDA's float16 header and with the fallback half type."""
    _nvcc_ptx(path=os.path.join(cuda_source.KERNEL_DIR, name), defines=("TS_OWN_HALF",) if half == "own_half" else ())


# Note [Sampled compile checks]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# A generated program is about 140 KB of source (the prelude carries the complex and float16 helpers), and there are
# about 140 of them: one compiler pass over all of them takes a minute on CI's two cores.  So each program is compiled
# once the way CuPy 14 compiles it (NVRTC, C++17, the CUDA headers: test_every_program_compiles_with_nvrtc), and the
# other configurations (nvcc over one translation unit, C++11, the TS_OWN_HALF retry) compile SAMPLE: every family
# with the dtypes whose code differs most (float16's own half type, complex128's double2 helpers, a narrow and a wide
# integer, bool), which reaches every template unit and every dtype branch of the prelude.
_SAMPLE_DTYPES = ("float16", "complex128", "int8", "uint64", "bool")


def _sample_keys():
    keys = cuda_source.program_keys()
    out = []
    for family in sorted({k[0] for k in keys}):
        mine = [k for k in keys if k[0] == family]
        out += [k for k in mine if k[1] in _SAMPLE_DTYPES] or mine[:1]
    return out


SAMPLE = _sample_keys()


@needs_nvcc
def test_full_generated_source_compiles():
    """The sampled programs (Note [Sampled compile checks]), in one translation unit, compile with nvcc; every kernel
    an adapter launches is in the PTX."""
    ptx = _nvcc_ptx(cuda_source.full_source(SAMPLE))
    entries = _entries(ptx)
    missing = {k: sorted(_expected_kernels(k) - entries)[:5] for k in SAMPLE if _expected_kernels(k) - entries}
    assert not missing, f"kernels missing from the generated PTX: {missing}"


@needs_nvcc
def test_float16_programs_compile_with_own_half():
    """The programs that touch float16 also compile with TS_OWN_HALF, the retry when NVRTC finds no cuda_fp16.h."""
    keys = [k for k in cuda_source.program_keys() if k[1] == "float16" or k[0] == "astype"]
    entries = _entries(_nvcc_ptx(cuda_source.full_source(keys), defines=("TS_OWN_HALF",)))
    for k in keys:
        assert _expected_kernels(k) <= entries, k


@needs_nvcc
def test_one_program_compiles_alone():
    """A runtime program (what NVRTC sees) is self-contained: prelude plus its own units."""
    entries = _entries(_nvcc_ptx(cuda_source.program_source(("reduction", "int8"))))
    assert _expected_kernels(("reduction", "int8")) == entries


# -- NVRTC compile checks (what CuPy runs), no GPU needed ----------------------------------------------------------

def _site_dirs():
    dirs = [p for p in sys.path if p and os.path.isdir(p)]
    for key in ("purelib", "platlib"):
        d = sysconfig.get_paths().get(key)
        if d and d not in dirs:
            dirs.append(d)
    return dirs


def _find_nvrtc():
    """[(libnvrtc path, CUDA include directory or None)], at most one per CUDA major version: the pip wheels first
    (``nvidia-cuda-nvrtc`` for CUDA 13 in nvidia/cu13/lib, ``nvidia-cuda-nvrtc-cu12`` in nvidia/cuda_nvrtc/lib), then
    a toolkit's (CUDA_HOME, CUDA_PATH, /usr/local/cuda).  The headers are those CuPy would pass with -I: the
    ``nvidia-cuda-runtime`` wheel's next to it, else the toolkit's include directory."""
    roots = [r for r in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda") if r]
    toolkit_include = next((os.path.join(r, "include") for r in roots
                            if os.path.exists(os.path.join(r, "include", "cuda_fp16.h"))), None)
    candidates = []
    for site in _site_dirs():
        for lib_dir, include_dir in (("cu13/lib", "cu13/include"), ("cuda_nvrtc/lib", "cuda_runtime/include")):
            include = os.path.join(site, "nvidia", include_dir)
            if not os.path.exists(os.path.join(include, "cuda_fp16.h")):
                include = toolkit_include
            candidates += [(lib, include) for lib in sorted(glob.glob(os.path.join(site, "nvidia", lib_dir,
                                                                                  "libnvrtc.so.*")))]
    for root in roots:
        for lib_dir in ("lib64", "lib"):
            candidates += [(lib, toolkit_include) for lib in sorted(glob.glob(os.path.join(root, lib_dir,
                                                                                          "libnvrtc.so.*")))]
    found, majors = [], set()
    for lib, include in candidates:
        match = re.fullmatch(r"libnvrtc\.so\.(\d+)(\.[\d.]+)?", os.path.basename(lib))  # not -builtins, not .alt
        if match and match.group(1) not in majors:
            majors.add(match.group(1))
            found.append((lib, include))
    return found


NVRTC = _find_nvrtc()
needs_nvrtc = pytest.mark.skipif(not NVRTC, reason="no NVRTC library found: pip install nvidia-cuda-nvrtc (in the "
                                                   "test extra) or nvidia-cuda-nvrtc-cu12, or install a CUDA toolkit")


class _Nvrtc:
    """The few NVRTC calls a compile check needs, through ctypes."""

    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        major, minor = ctypes.c_int(), ctypes.c_int()
        self._check(self.lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)), "nvrtcVersion")
        self.version = (major.value, minor.value)
        count = ctypes.c_int()
        self._check(self.lib.nvrtcGetNumSupportedArchs(ctypes.byref(count)), "nvrtcGetNumSupportedArchs")
        archs = (ctypes.c_int * count.value)()
        self._check(self.lib.nvrtcGetSupportedArchs(archs), "nvrtcGetSupportedArchs")
        self.archs = sorted(archs)

    def _check(self, status, what):
        if status != 0:
            raise RuntimeError(f"{what}: {self.lib.nvrtcGetErrorString(status).decode()}")

    def compile(self, source, options):
        """(ok, log, PTX entry names)."""
        prog = ctypes.c_void_p()
        self._check(self.lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), b"tensorswitch.cu", 0, None,
                                                None), "nvrtcCreateProgram")
        try:
            opts = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
            status = self.lib.nvrtcCompileProgram(prog, len(options), opts)
            size = ctypes.c_size_t()
            self._check(self.lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size)), "nvrtcGetProgramLogSize")
            log = ctypes.create_string_buffer(size.value)
            self._check(self.lib.nvrtcGetProgramLog(prog, log), "nvrtcGetProgramLog")
            entries = set()
            if status == 0:
                self._check(self.lib.nvrtcGetPTXSize(prog, ctypes.byref(size)), "nvrtcGetPTXSize")
                ptx = ctypes.create_string_buffer(size.value)
                self._check(self.lib.nvrtcGetPTX(prog, ptx), "nvrtcGetPTX")
                entries = _entries(ptx.value.decode())
            return status == 0, log.value.decode(errors="replace"), entries
        finally:
            self.lib.nvrtcDestroyProgram(ctypes.byref(prog))


def _nvrtc_options(nv, std, include):
    """The backend's options plus what CuPy adds: -I (the CUDA headers), -ftz=true and the architecture (here the
    oldest NVRTC supports from sm_53 on, the most restrictive)."""
    arch = min(a for a in nv.archs if a >= 53)
    opts = list(cuda.COMPILE_OPTIONS) + [f"-std={std}", "-ftz=true", f"-arch=compute_{arch}"]
    if include:
        opts.append(f"-I{include}")
    return opts


def _compile_all(nv, jobs):
    """jobs: [(label, source, options, expected entries)] compiled in parallel (NVRTC is thread-safe and ctypes lets
    go of the GIL); returns the failures as text."""
    def one(job):
        label, source, options, expected = job
        ok, log, entries = nv.compile(source, options)
        warnings = [line for line in log.splitlines() if "warning" in line
                    and "Architectures prior to" not in line]  # NVRTC 12 on sm_5x-7x: about NVRTC, not our code
        if not ok:
            return f"{label}: NVRTC {nv.version} rejected it ({' '.join(options)}):\n{log[-3000:]}"
        if warnings:
            return f"{label}: NVRTC warnings ({' '.join(options)}):\n" + "\n".join(warnings[:10])
        if not expected <= entries:
            return f"{label}: kernels missing from the PTX: {sorted(expected - entries)[:5]}"
        return None
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        return [f for f in pool.map(one, jobs) if f]


@needs_nvrtc
@pytest.mark.parametrize("std", ["c++11", "c++17"])
@pytest.mark.parametrize("lib,include", NVRTC, ids=[os.path.basename(lib) for lib, _ in NVRTC])
def test_every_program_compiles_with_nvrtc(lib, include, std):
    """Each runtime program, one by one, exactly as backends/cuda.py hands it to CuPy, compiles with NVRTC and holds
    every kernel its adapter launches: all of them in C++17 (CuPy 14 passes --std=c++17), the sample in C++11
    (NVRTC's default standard differs between versions; Note [Sampled compile checks])."""
    nv = _Nvrtc(lib)
    if include is None:
        pytest.skip("no CUDA headers (cuda_fp16.h) found: pip install nvidia-cuda-runtime, or see the own-half test")
    keys = cuda_source.program_keys() if std == "c++17" else SAMPLE
    jobs = [(f"program {key}", cuda_source.program_source(key), _nvrtc_options(nv, std, include),
             _expected_kernels(key)) for key in keys]
    failures = _compile_all(nv, jobs)
    assert not failures, "\n\n".join(failures[:5])


@needs_nvrtc
@pytest.mark.parametrize("std", ["c++11", "c++17"])
@pytest.mark.parametrize("lib,include", NVRTC, ids=[os.path.basename(lib) for lib, _ in NVRTC])
def test_nvrtc_without_cuda_headers_retries_with_own_half(lib, include, std):
    """Where CuPy finds no CUDA headers, NVRTC fails on cuda_fp16.h: the message the backend's retry looks for; the
    retry with TS_OWN_HALF compiles each program of the sample, one by one as the backend retries them (Note
    [Sampled compile checks]; C++11: the first program of each family)."""
    nv = _Nvrtc(lib)
    bare = _nvrtc_options(nv, std, None)
    ok, log, _ = nv.compile(cuda_source.program_source(("elementwise", "float32")), bare)
    assert not ok and "cuda_fp16" in log, log[-2000:]
    keys = SAMPLE if std == "c++17" else [k for i, k in enumerate(SAMPLE) if i == 0 or SAMPLE[i - 1][0] != k[0]]
    failures = _compile_all(nv, [(f"program {k}, TS_OWN_HALF", cuda_source.program_source(k),
                                  bare + [cuda._OWN_HALF], _expected_kernels(k)) for k in keys])
    assert not failures, "\n\n".join(failures[:5])


def test_gpu_check_without_a_gpu_stops_at_once():
    """``make gpu-check`` on a machine without an NVIDIA GPU: one line that says so, a non-zero status, and nothing
    built or installed first (the probe needs only the standard library)."""
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools", "gpu_check.py")
    proc = subprocess.run([sys.executable, "-S", script, "--probe"], capture_output=True, text=True, timeout=120)
    if proc.returncode == 0:
        pytest.skip(f"this machine has an NVIDIA GPU: {proc.stdout.strip()}")
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, lines
    assert "no NVIDIA GPU" in lines[0] or "no usable GPU" in lines[0], lines


# -- the generated programs cover the registry ----------------------------------------------------------------------

_FAMILY_OF = {"unary": "elementwise", "binary": "elementwise", "reduction": "reduction", "where": "where",
              "astype": "astype", "fill": "fill", "arange": "arange", "random": "random", "matmul": "matmul",
              "softmax": "softmax", "convolution": "windows", "pooling": "windows"}
_PROGRAM_OF_OP = {"take_along_axis": "take", "scatter_add": "scatter",  # the "indexing" family has two programs
                  "nll_log_softmax": "softmax", "nll_log_softmax_backward": "softmax"}  # fused: in softmax's


# ops the cuda backend runs through CuPy's own library routines (sorting, cuSOLVER), with no program of ours, and
# the scan and gather ops, whose programs (kernels/cuda/scan.cu) the backend builds itself and tests/test_scans.py
# compiles with nvcc
_LIBRARY_OPS = {"sort", "argsort", "searchsorted", "cholesky", "lu", "lu_solve", "qr", "eigh", "svd",
                "cumsum", "cumprod", "nonzero", "gather", "put"}


def test_every_registered_kernel_has_a_program():
    keys = set(cuda_source.program_keys())
    entries = ts.registry.kernels(device="cuda")
    assert entries, "the cuda backend registered no kernels"
    for e in entries:
        if e.op in _LIBRARY_OPS:
            continue
        family = _PROGRAM_OF_OP.get(e.op) or _FAMILY_OF[ts.OPS[e.op]]
        assert (family, e.dtype.name) in keys, (e.op, e.dtype.name)


def test_registers_what_the_cpu_backend_does():
    """Every cpu kernel but those optable.COVERAGE_GAPS lists for cuda (fused ops it composes instead)."""
    from tensorswitch.kernels import optable

    gaps = {(op, dt) for op, dtypes in optable.COVERAGE_GAPS.get("cuda", {}).items() for dt in dtypes}
    cpu = {(e.op, e.dtype.name) for e in ts.registry.kernels(device="cpu")}
    gpu = {(e.op, e.dtype.name) for e in ts.registry.kernels(device="cuda")}
    assert gpu == cpu - gaps


def test_sources_are_generated_without_cupy():
    code = ("import sys, tensorswitch\n"
            "from tensorswitch.backends import cuda  # noqa: F401  (importing the backend must not import CuPy)\n"
            "from tensorswitch.kernels import cuda_source\n"
            "cuda_source.full_source()\n"
            "assert 'cupy' not in sys.modules, 'registering or generating sources imported CuPy'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unavailable_reason_names_the_extras():
    if cuda._import_cupy() is not None:
        pytest.skip("CuPy is installed here")
    reason = unavailable_reasons()["cuda"]
    assert "tensorswitch[cuda12]" in reason and "tensorswitch[cuda13]" in reason


# -- pure-Python planning -----------------------------------------------------------------------------------------

def _walk(shape, strides):
    """Offsets of each operand at every C-order index, the way offsets<N>() in common.cu computes them."""
    out = []
    for idx in itertools.product(*[range(n) for n in shape]):
        out.append(tuple(sum(i * s for i, s in zip(idx, st)) for st in strides))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_coalesce_keeps_every_offset(seed):
    rng = np.random.default_rng(seed)
    nd = int(rng.integers(0, 5))
    shape = tuple(int(n) for n in rng.integers(1, 4, nd))
    contiguous = [int(np.prod(shape[d + 1:])) for d in range(nd)]
    strides = (tuple(contiguous), tuple(int(s) for s in rng.choice([-3, -1, 0, 1, 2, 6], nd)),
               tuple(0 if n == 1 or rng.random() < 0.3 else c for n, c in zip(shape, contiguous)))
    cshape, cstrides = cuda.coalesce(shape, strides)
    assert len(cshape) >= 1 and all(n > 1 for n in cshape) or cshape == (1,)
    assert _walk(cshape, cstrides) == _walk(shape, strides)


def test_coalesce_merges_contiguous_and_handles_0d():
    assert cuda.coalesce((4, 5, 6), ((30, 6, 1), (30, 6, 1))) == ((120,), ((1,), (1,)))
    assert cuda.coalesce((), ((), ())) == ((1,), ((0,), (0,)))
    assert cuda.coalesce((3, 1, 4), ((4, 99, 1),)) == ((12,), ((1,),))
    assert cuda.coalesce((3, 4), ((1, 3),)) == ((3, 4), ((1, 3),))  # transposed: no merge


def test_pack_layout():
    assert cuda.pack_layout((3, 4), ((4, 1), (0, 1))) == (2, 3, 4, 4, 1, 0, 1)
    # reductions and softmax: blocks of one operand each, back to back
    assert cuda.pack_layout((5,), ((2,),)) + cuda.pack_layout((7,), ((1,),)) == (1, 5, 2, 1, 7, 1)


def test_grid_for():
    assert cuda.grid_for(1, 256, 100) == 1
    assert cuda.grid_for(256, 256, 100) == 1
    assert cuda.grid_for(257, 256, 100) == 2
    assert cuda.grid_for(10 ** 9, 256, 4224) == 4224


def test_plan_reduction():
    sm = 132
    assert cuda.plan_reduction(100, 7, True, sm) == ("threads", cuda.MAX_BLOCK, 1)        # short rows
    assert cuda.plan_reduction(5000, 4000, False, sm)[0] == "threads"                        # outer-axis, many outs
    how, block, splits = cuda.plan_reduction(4000, 4000, True, sm)
    assert (how, splits) == ("blocks", 1) and block == cuda.MAX_BLOCK
    assert cuda.plan_reduction(10, 100, True, sm) == ("blocks", 128, 1)                      # block fits the row
    how, block, splits = cuda.plan_reduction(2, 10 ** 7, True, sm)                           # the two-pass split
    assert how == "blocks" and 1 < splits <= 1024 and splits * 2 >= 4 * sm
    how, block, splits = cuda.plan_reduction(1, 3000, True, sm)
    assert how == "blocks" and splits >= 1 and block == cuda.MAX_BLOCK
    for n_outer, n_inner in itertools.product([1, 3, 200, 10 ** 5], [1, 33, 5000, 10 ** 6]):
        how, block, splits = cuda.plan_reduction(n_outer, n_inner, True, sm)
        assert block & (block - 1) == 0 and 32 <= block <= cuda.MAX_BLOCK and splits >= 1


def test_plan_softmax():
    assert cuda.plan_softmax(4, 2000, True, 132) == ("blocks", 256)
    assert cuda.plan_softmax(7, 3, False, 132) == ("threads", cuda.MAX_BLOCK)
    assert cuda.plan_softmax(10 ** 6, 100, False, 132) == ("threads", cuda.MAX_BLOCK)
    assert cuda.plan_softmax(10, 100, False, 132) == ("blocks", 128)


@pytest.mark.parametrize("dtype", ALL)
def test_fill_bits_are_the_numpy_bytes(dtype):
    values = {"bool": [True, False, 3], "float16": [-2.5, float("nan"), float("inf"), 1e6, 0.1],
              "float32": [-2.5, float("nan"), -0.0, 1e-40], "float64": [0.1, -float("inf")]}.get(dtype, [-7, 0, 5])
    for v in values:
        bits = cuda.fill_bits(v, dtype)
        if optable.KIND[dtype] == "float":
            with np.errstate(all="ignore"):
                expected = np.array([v], np.float64).astype(dtype)
        else:
            expected = np.array([int(v) != 0 if dtype == "bool" else int(v)]).astype(dtype)
        raw = bits.to_bytes(16, "little")[: np.dtype(dtype).itemsize]  # complex128: two 64-bit words
        got = np.frombuffer(raw, dtype=dtype)
        assert got.tobytes() == expected.tobytes() or (np.isnan(got).all() and np.isnan(expected).all()), (v, got)
    assert cuda.fill_bits(-1, "uint8") == 255 and cuda.fill_bits(-1, "int64") == 2 ** 64 - 1


def test_blas_layout():
    assert cuda.blas_layout(5, 1, 3, 5) == (False, 5)       # row-major
    assert cuda.blas_layout(8, 1, 3, 5) == (False, 8)       # row-major with padded rows
    assert cuda.blas_layout(1, 3, 3, 5) == (True, 3)        # a transposed view
    assert cuda.blas_layout(0, 1, 1, 4) == (False, 4)       # a vector as a 1-row matrix (row stride 0)
    assert cuda.blas_layout(1, 0, 4, 1) == (True, 4)        # a vector as a 1-column matrix
    assert cuda.blas_layout(10, 2, 3, 5) is None            # every other column
    assert cuda.blas_layout(-5, 1, 3, 5) is None            # reversed rows


def test_blas_layout_transposed_branch():
    """A transposed view (rows stride 1): cuBLAS reads the storage as it is and transposes (True, ld)."""
    a = np.zeros((5, 3), np.float32)                          # stored 5 x 3, viewed as its 3 x 5 transpose
    t = a.T
    rs, cs = (st // a.itemsize for st in t.strides)
    assert (rs, cs) == (1, 3) and cuda.blas_layout(rs, cs, 3, 5) == (True, 3)
    padded = np.zeros((5, 8), np.float32)[:, :3].T            # the transpose of a view with padded rows
    rs, cs = (st // 4 for st in padded.strides)
    assert cuda.blas_layout(rs, cs, 3, 5) == (True, 8)
    assert cuda.blas_layout(1, 2, 3, 5) is None               # columns overlap: no leading dimension fits
    assert cuda.blas_layout(1, -3, 3, 5) is None              # reversed columns
    assert cuda.blas_layout(1, 7, 1, 5) == (True, 7)          # one row with strided elements: read transposed


# -- the glue with CuPy, against stand-ins (no GPU) ----------------------------------------------------------------

def _read(address, index, dtype):
    """Elements ``index`` (an int array) of the host memory at ``address``, as ``dtype``: a view, so writes land."""
    count = int(np.max(index)) + 1 if np.size(index) else 0
    raw = (ctypes.c_char * (count * np.dtype(dtype).itemsize)).from_address(address)
    return np.frombuffer(raw, dtype=dtype, count=count)


def _gemm_model(dtype):
    """cublas<t>gemmStridedBatched on host memory: column-major, op(A) is m x k, op(B) k x n, C m x n, with the
    argument checks cuBLAS makes (CUBLAS_STATUS_INVALID_VALUE)."""
    N, T = 0, 1

    def gemm(handle, transa, transb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batches):
        if min(m, n, k, batches) < 0 or lda < max(1, m if transa == N else k) or \
                ldb < max(1, k if transb == N else n) or ldc < max(1, m):
            raise ValueError(f"CUBLAS_STATUS_INVALID_VALUE: m={m} n={n} k={k} lda={lda} ldb={ldb} ldc={ldc}")
        al, be = _read(alpha, np.array([0]), dtype)[0], _read(beta, np.array([0]), dtype)[0]
        i, j = np.meshgrid(np.arange(m), np.arange(k), indexing="ij")
        ia = (i + j * lda) if transa == N else (j + i * lda)       # op(A)[i, j]
        p, q = np.meshgrid(np.arange(k), np.arange(n), indexing="ij")
        ib = (p + q * ldb) if transb == N else (q + p * ldb)       # op(B)[p, q]
        r, c = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
        ic = r + c * ldc
        for bt in range(batches):
            opa = _read(A, bt * sa + ia, dtype)[bt * sa + ia].astype(np.float64)
            opb = _read(B, bt * sb + ib, dtype)[bt * sb + ib].astype(np.float64)
            out = _read(C, bt * sc + ic, dtype)
            out[bt * sc + ic] = al * (opa @ opb) + be * out[bt * sc + ic]
    return gemm


def _fake_cublas():
    calls = []
    mod = types.SimpleNamespace(CUBLAS_OP_N=0, CUBLAS_OP_T=1, CUBLAS_POINTER_MODE_HOST=0,
                                getPointerMode=lambda h: 0, setPointerMode=lambda h, m: None,
                                setStream=lambda h, s: calls.append(("setStream", s)))
    for name, dtype in (("sgemmStridedBatched", np.float32), ("dgemmStridedBatched", np.float64)):
        model = _gemm_model(dtype)

        def call(*args, _model=model, _name=name):
            calls.append((_name,) + args[1:6])  # transa, transb, m, n, k
            _model(*args)
        setattr(mod, name, call)
    return mod, calls


class _FakeTensor:
    """What a kernel adapter reads of a tensor, over a NumPy view's memory (strides in elements)."""

    def __init__(self, view, base):
        self._keep = (view, base)
        item = base.itemsize
        self.shape, self.ndim = view.shape, view.ndim
        self.strides = tuple(st // item for st in view.strides)
        self.offset = (view.__array_interface__["data"][0] - base.ctypes.data) // item
        self.dtype = ts.dtype(base.dtype)
        self.buffer = types.SimpleNamespace(handle=types.SimpleNamespace(ptr=base.ctypes.data))
        self.device = types.SimpleNamespace(index=0)
        self.size = int(np.prod(view.shape))


@pytest.fixture
def fake_gpu(monkeypatch):
    """The cuda module with CuPy and cuBLAS replaced by host stand-ins; the tiled kernel is not available."""
    cublas, calls = _fake_cublas()

    class Stream(contextlib.nullcontext):
        ptr = 1234

    class Dev:
        cuda = contextlib.nullcontext()
        ctx = contextlib.nullcontext()
        stream = Stream()
        index = 0

        def kernel(self, *args):
            raise LookupError("the tiled kernel was asked for")

        def layout(self, meta):
            return meta

    fake_cp = types.SimpleNamespace(cuda=types.SimpleNamespace(device=types.SimpleNamespace(
        get_cublas_handle=lambda: 42)))
    monkeypatch.setattr(cuda, "_cp", fake_cp)
    monkeypatch.setattr(cuda, "_cublas", cublas)
    monkeypatch.setattr(cuda, "_cublas_error", None)
    monkeypatch.setattr(cuda, "_device", lambda index: Dev())
    return calls


def _matmul_case(a_view, a_base, b_view, b_base):
    out = np.zeros(np.broadcast_shapes(a_view.shape[:-2], b_view.shape[:-2]) + (a_view.shape[-2], b_view.shape[-1]),
                   a_base.dtype)
    batch = out.shape[:-2]
    a_b = np.broadcast_to(a_view, batch + a_view.shape[-2:])
    b_b = np.broadcast_to(b_view, batch + b_view.shape[-2:])
    cuda.matmul(_FakeTensor(out, out), _FakeTensor(a_b, a_base), _FakeTensor(b_b, b_base))
    return out, a_b.astype(np.float64) @ b_b.astype(np.float64)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cublas_arguments_against_a_column_major_model(fake_gpu, dtype):
    """backends/cuda.py's cuBLAS call (C^T = B^T A^T, leading dimensions, batch strides, the transposed branch) is
    run against a NumPy model of cuBLAS's column-major gemm with cuBLAS's own argument checks: contiguous, stored
    transposed (either or both), padded rows, one-row and one-column operands, broadcast and strided batches."""
    rng = np.random.default_rng(3)

    def stored(shape, transpose=False, pad=0):
        """(view, base): a matrix of ``shape`` whose storage is transposed and/or has padded rows."""
        *batch, r, c = shape
        inner = (c, r) if transpose else (r, c)
        base = rng.standard_normal(tuple(batch) + (inner[0], inner[1] + pad)).astype(dtype)
        view = base[..., :inner[1]]
        return (np.swapaxes(view, -1, -2) if transpose else view), base

    cases = {
        "contiguous": (stored((2, 7, 5)), stored((5, 3))),
        "a stored transposed": (stored((2, 7, 5), transpose=True), stored((5, 3))),
        "b stored transposed": (stored((7, 5)), stored((2, 5, 3), transpose=True)),
        "both stored transposed": (stored((3, 7, 5), transpose=True), stored((3, 5, 4), transpose=True)),
        "padded rows": (stored((2, 7, 5), pad=3), stored((5, 3), pad=2)),
        "padded and transposed": (stored((7, 5), transpose=True, pad=4), stored((5, 6), transpose=True, pad=1)),
        "one row": (stored((1, 5)), stored((5, 3))),
        "one column": (stored((7, 5)), stored((5, 1))),
        "k is 1": (stored((7, 1)), stored((1, 3), transpose=True)),
    }
    ops = set()
    for name, ((av, ab), (bv, bb)) in cases.items():
        fake_gpu.clear()
        got, want = _matmul_case(av, ab, bv, bb)
        ops |= {c[1:3] for c in fake_gpu if c[0].endswith("gemmStridedBatched")}
        assert any(c[0].endswith("gemmStridedBatched") for c in fake_gpu), f"{name}: cuBLAS was not used"
        assert ("setStream", 1234) in fake_gpu, f"{name}: cuBLAS was not pointed at the device's stream"
        np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-5, err_msg=name)
    assert ops == {(0, 0), (0, 1), (1, 0), (1, 1)}, ops          # both operands, each way: the transposed branch
    base = rng.standard_normal((4, 7, 5)).astype(dtype)           # every other batch: still one batch stride
    got, want = _matmul_case(base[::2], base, *stored((5, 3)))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_cublas_declines_what_it_cannot_read(fake_gpu):
    """Reversed rows and every-other-column views go to the tiled kernel, never to cuBLAS with a wrong ld."""
    base = np.ones((6, 10), np.float32)
    for view in (base[::-1, :5], base[:, ::2]):
        with pytest.raises(LookupError, match="tiled kernel"):
            _matmul_case(view, base, *[np.ones((5, 3), np.float32)] * 2)
    assert not any(c[0].endswith("gemmStridedBatched") for c in fake_gpu)


def test_matmul_without_cublas_uses_the_tiled_kernel(fake_gpu, monkeypatch):
    """A CuPy whose cuBLAS cannot be imported keeps the backend: matmul falls back, describe() says why."""
    monkeypatch.setattr(cuda, "_cublas", None)
    monkeypatch.setitem(sys.modules, "cupy_backends.cuda.libs.cublas", None)
    monkeypatch.setitem(sys.modules, "cupy.cuda.cublas", None)
    assert cuda._cublas_module() is None
    assert cuda._cublas_error.startswith(("ImportError", "ModuleNotFoundError"))
    a = np.ones((3, 4), np.float32)
    with pytest.raises(LookupError, match="tiled kernel"):
        _matmul_case(a, a, a.T.copy(), a.T.copy())
    props = {"name": b"Fake GPU", "totalGlobalMem": 2 ** 34, "major": 9, "minor": 0}
    monkeypatch.setattr(cuda._cp.cuda, "runtime", types.SimpleNamespace(getDeviceProperties=lambda i: props),
                        raising=False)
    text = cuda.CUDABackend().describe(0)
    assert "cuBLAS unavailable" in text and cuda._cublas_error in text and "tiled kernel" in text


def test_a_cublas_handle_that_cannot_be_made_falls_back(fake_gpu, monkeypatch):
    def broken():
        raise RuntimeError("CUBLAS_STATUS_NOT_INITIALIZED")
    monkeypatch.setattr(cuda._cp.cuda.device, "get_cublas_handle", broken)
    a = np.ones((3, 4), np.float64)
    with pytest.raises(LookupError, match="tiled kernel"):
        _matmul_case(a, a, a.T.copy(), a.T.copy())
    assert "CUBLAS_STATUS_NOT_INITIALIZED" in cuda._cublas_error


def test_every_compile_failure_is_a_tensorswitch_error(monkeypatch):
    """NVRTC's errors and CuPy's before it (no CUDA root, no NVRTC library) become CUDAError with the install hint;
    a missing cuda_fp16.h is retried once with TS_OWN_HALF."""
    class CompileException(Exception):
        pass

    seen = []

    def raw_module(failure):
        def make(code, options, backend):
            seen.append(tuple(options))
            exc = failure(options)
            if exc is not None:
                raise exc
            return types.SimpleNamespace(module="the module")
        return make

    def cupy_with(failure):
        compiler = types.SimpleNamespace(CompileException=CompileException)
        return types.SimpleNamespace(RawModule=raw_module(failure), cuda=types.SimpleNamespace(
            Device=lambda i: contextlib.nullcontext(), compiler=compiler))

    for exc in (RuntimeError("Failed to auto-detect CUDA root directory"), OSError("libnvrtc.so.12: cannot open"),
                RuntimeError("Failed to find CUDA headers")):
        monkeypatch.setattr(cuda, "_cp", cupy_with(lambda options, exc=exc: exc))
        with pytest.raises(cuda.CUDAError) as info:
            cuda._build(0, "source", ())
        assert isinstance(info.value, ts.TensorSwitchError) and isinstance(info.value, RuntimeError)
        text = str(info.value)
        assert str(exc) in text and "tensorswitch[cuda12]" in text and "nvidia-cuda-nvrtc" in text
        assert "nvidia-cuda-runtime" in text
    seen.clear()
    missing_header = CompileException("cannot open source file cuda_fp16.h")
    monkeypatch.setattr(cuda, "_cp", cupy_with(lambda options: None if cuda._OWN_HALF in options else missing_header))
    assert cuda._build(0, "source", ()) == (0, "the module", (cuda._OWN_HALF,))
    assert seen == [(), (cuda._OWN_HALF,)]
    monkeypatch.setattr(cuda, "_cp", cupy_with(lambda options: CompileException("error: identifier x is undefined")))
    with pytest.raises(cuda.CUDAError, match="identifier x is undefined"):
        cuda._build(0, "source", ())


def test_fill_bits_of_bool_is_value_not_zero():
    assert cuda.fill_bits(0.5, "bool") == 1 and cuda.fill_bits(float("nan"), "bool") == 1
    assert cuda.fill_bits(0.0, "bool") == 0 and cuda.fill_bits(-0.0, "bool") == 0 and cuda.fill_bits(-3, "bool") == 1
    nan32 = cuda.fill_bits(float("nan"), "float32")
    assert np.isnan(np.array([nan32], np.uint32).view(np.float32)[0])
    assert cuda.fill_bits(65519.999, "float16") == int(np.array([65504], np.float16).view(np.uint16)[0])
    assert cuda.fill_bits(2 ** 63 - 1, "int64") == 2 ** 63 - 1 and cuda.fill_bits(-2 ** 63, "int64") == 2 ** 63


def test_randint_arguments_fit_the_kernel():
    """(low, span) as int64 and uint64 NumPy scalars: CuPy turns a Python int into int64, which 2**63 overflows."""
    low, span = cuda.randint_args(0, 2 ** 63)
    assert (type(low), type(span)) == (np.int64, np.uint64) and (int(low), int(span)) == (0, 2 ** 63)
    assert [int(v) for v in cuda.randint_args(-2 ** 63, 2 ** 63)] == [-2 ** 63, 0]   # 0: the whole range
    assert [int(v) for v in cuda.randint_args(-5, 77)] == [-5, 82]
    assert [int(v) for v in cuda.randint_args(-2 ** 63, 2 ** 63 - 1)] == [-2 ** 63, 2 ** 64 - 1]


def test_generated_casts_follow_the_note():
    """Float to integer astype goes through the helpers of Note [Float to integer casts]; float64 to float16 keeps
    the double for the store (one rounding)."""
    src = cuda_source.program_source(("astype", "float64"))
    for dst in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"):
        assert f"::ts::double_to_{dst}(a)" in src
    assert "::ts::float_to_uint8(a)" in cuda_source.program_source(("astype", "float16"))
    assert "double apply(C a) { return ((double)(a)); }" in src
    assert "::ts::to_half(v)" in src


def test_reduction_types():
    # integers sum in unsigned 64-bit arithmetic (it wraps); unsigned dtypes give uint64 (optable.sum_dtype)
    assert cuda_source.reduction_types("sum", "int8") == ("int64", "unsigned long long")
    assert cuda_source.reduction_types("sum", "bool") == ("int64", "unsigned long long")
    assert cuda_source.reduction_types("sum", "uint8") == ("uint64", "unsigned long long")
    assert cuda_source.reduction_types("prod", "uint32") == ("uint64", "unsigned long long")
    assert cuda_source.reduction_types("max", "uint16") == ("uint16", "unsigned int")  # uint16 computes in 32 bits
    assert cuda_source.reduction_types("sum", "float16") == ("float16", "float")
    assert cuda_source.reduction_types("prod", "float32") == ("float32", "double")
    assert cuda_source.reduction_types("max", "float16") == ("float16", "float")
    assert cuda_source.reduction_types("argmin", "int32") == ("int64", None)
    assert cuda_source.reduction_types("any", "float64") == ("bool", "bool")


# -- runtime checks on a GPU ----------------------------------------------------------------------------------------

_REASON = unavailable_reasons().get("cuda")
needs_gpu = pytest.mark.skipif(_REASON is not None, reason=f"cuda: {_REASON}")


@pytest.fixture
def dev():
    return ts.device("cuda")


def _close(got, expected, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(got.numpy().astype(np.float64), np.asarray(expected, np.float64), rtol=rtol,
                               atol=atol)


@needs_gpu
@pytest.mark.parametrize("shape, axis", [((3, 1_000_003), 1), ((1, 4_000_000), None), ((5000, 40), 0),
                                         ((40, 5000), 0), ((7, 9, 11), (0, 2)), ((2, 3), 1)])
def test_reduction_strategies(dev, shape, axis):
    """Every plan of plan_reduction: a thread per output, a block per output, and the two-pass split."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    t = ts.asarray(x, device=dev)
    _close(ts.sum(t, axis=axis), x.astype(np.float64).sum(axis=axis), rtol=1e-4, atol=1e-3)
    _close(ts.max(t, axis=axis), x.max(axis=axis))
    if not isinstance(axis, tuple):
        assert np.array_equal(ts.argmax(t, axis=axis).numpy(), np.argmax(x, axis=axis))
        assert np.array_equal(ts.argmin(t.T if axis is None else t, axis=axis).numpy(),
                              np.argmin(x.T if axis is None else x, axis=axis))


@needs_gpu
def test_argmax_ties_and_nan_across_splits(dev):
    """Ties resolve to the first index and the first NaN wins, also when the extent is split across blocks."""
    x = np.zeros((2, 3_000_000), np.float32)
    x[0, [5, 2_000_000]] = 7
    x[1, [2_999_999, 1_500_000]] = np.nan
    t = ts.asarray(x, device=dev)
    assert ts.argmax(t, axis=1).numpy().tolist() == [5, 1_500_000]
    assert ts.argmin(t, axis=1).numpy().tolist() == [0, 1_500_000]
    assert np.isnan(ts.max(t, axis=1).numpy()[1])


@needs_gpu
@pytest.mark.parametrize("dtype", ["int8", "int64", "uint8"])
def test_integer_sums_widen(dev, dtype):
    x = np.full((3, 100_000), np.iinfo(dtype).max, dtype)
    got = ts.sum(ts.asarray(x, device=dev), axis=1)
    assert got.dtype == ts.int64
    assert np.array_equal(got.numpy(), x.sum(axis=1, dtype=np.int64))


@needs_gpu
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32"])
def test_matmul_blas_and_tiled_paths(dev, dtype):
    """cuBLAS (BLAS-ready float32/float64), and the tiled kernel (other dtypes, strided and broadcast batches)."""
    rng = np.random.default_rng(1)
    kind = np.dtype(dtype).kind
    a = (rng.integers(-3, 4, (2, 70, 33)) if kind == "i" else rng.standard_normal((2, 70, 33))).astype(dtype)
    b = (rng.integers(-3, 4, (33, 41)) if kind == "i" else rng.standard_normal((33, 41))).astype(dtype)
    tol = {"float16": 2e-2, "float32": 1e-4, "float64": 1e-10, "int32": 0}[dtype]
    ta, tb = ts.asarray(a, device=dev), ts.asarray(b, device=dev)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    cases = [(ta, tb, expected),                                                  # contiguous, broadcast batch
             (ta.permute_dims((0, 2, 1)).permute_dims((0, 2, 1)), tb.T.T, expected),
             (ts.asarray(np.ascontiguousarray(a[:, :, ::-1]), device=dev)[:, :, ::-1], tb, expected),  # reversed
             (ta[:, ::2, :], tb, expected[:, ::2, :])]                            # every other row
    for x, y, e in cases:
        got = ts.matmul(x, y)
        if kind == "i":
            assert np.array_equal(got.numpy(), e.astype(dtype))
        else:
            _close(got, e, rtol=tol, atol=tol * 10)


@needs_gpu
@pytest.mark.parametrize("shape, axis", [((4, 5000), 1), ((5000, 3), 0), ((3, 70, 5), 1), ((2, 300), 0)])
def test_softmax_strategies(dev, shape, axis):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32) * 5
    t = ts.asarray(x, device=dev)
    e = np.exp(x.astype(np.float64) - x.max(axis=axis, keepdims=True))
    _close(ts.softmax(t, axis=axis), e / e.sum(axis=axis, keepdims=True), rtol=1e-5, atol=1e-6)
    _close(ts.log_softmax(t.T, axis=t.ndim - 1 - axis),
           np.log(e / e.sum(axis=axis, keepdims=True)).T, rtol=1e-5, atol=1e-5)


@needs_gpu
def test_layout_metadata_is_cached(dev):
    x = ts.asarray(np.arange(60, dtype=np.float32).reshape(3, 4, 5), device=dev).permute_dims((2, 0, 1))
    state = cuda._device(dev.index)
    x + x  # noqa: B018  (first call uploads the layout)
    before = len(state.layouts)
    for _ in range(5):
        y = x + x
    assert len(state.layouts) == before
    assert np.array_equal(y.numpy(), 2 * np.arange(60, dtype=np.float32).reshape(3, 4, 5).transpose(2, 0, 1))


@needs_gpu
def test_kernels_compile_once(dev):
    state = cuda._device(dev.index)
    a = ts.ones((10,), device=dev)
    a + a  # noqa: B018
    fn = state.families["ts_add_float32"]
    a + a  # noqa: B018
    assert state.families["ts_add_float32"] is fn


@needs_gpu
def test_own_half_fallback_runs(dev):
    """The TS_OWN_HALF program (the retry when cuda_fp16.h is missing) computes the same float16 results."""
    cp = cuda._cp
    program = cuda._build(dev.index, cuda_source.program_source(("elementwise", "float16")), ("-DTS_OWN_HALF",))
    fn = cuda._function(program, "ts_multiply_float16_contig")
    x = cp.asarray(np.linspace(-4, 4, 1001).astype(np.float16))
    out = cp.empty_like(x)
    with cp.cuda.Device(dev.index):
        fn((4,), (256,), (x.size, out, x, x))
    expected = (np.linspace(-4, 4, 1001).astype(np.float16).astype(np.float32) ** 2).astype(np.float16)
    assert np.array_equal(cp.asnumpy(out), expected)


@needs_gpu
def test_copies_at_offsets_and_zero_bytes(dev):
    backend = dev.backend
    handle = backend.allocate(64, dev.index)
    backend.copy_in(handle, 8, np.arange(4, dtype=np.int32), dev.index)
    host = np.zeros(4, np.int32)
    backend.copy_out(handle, 8, host, dev.index)
    assert host.tolist() == [0, 1, 2, 3]
    empty = backend.allocate(0, dev.index)
    backend.copy_in(empty, 0, np.zeros(0, np.uint8), dev.index)
    backend.copy_out(empty, 0, np.zeros(0, np.uint8), dev.index)


@needs_gpu
def test_copy_between_gpus():
    if ts.device("cuda").backend.device_count() < 2:
        pytest.skip("needs two CUDA GPUs")
    x = np.arange(1000, dtype=np.float64)
    t = ts.asarray(x, device="cuda:0").to("cuda:1")
    assert str(t.device) == "cuda:1"
    assert np.array_equal((t * 2).numpy(), 2 * x)


# -- GPU checks of the hardening (skipped without a GPU, with the reason) -------------------------------------------

@needs_gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_transposed_storage_uses_cublas(dev, dtype, monkeypatch):
    """Operands stored transposed (a real transposed layout, unlike x.T.T) reach cuBLAS's transposed branch and give
    NumPy's product; the tiled kernel is never asked for."""
    state = cuda._device(dev.index)
    asked = []
    original = state.kernel
    monkeypatch.setattr(state, "kernel", lambda program, name: asked.append(name) or original(program, name))
    rng = np.random.default_rng(4)
    a = rng.standard_normal((2, 70, 33)).astype(dtype)
    b = rng.standard_normal((33, 41)).astype(dtype)
    ta, tb = ts.asarray(a, device=dev), ts.asarray(b, device=dev)
    at = ts.asarray(np.ascontiguousarray(a.transpose(0, 2, 1)), device=dev).permute_dims((0, 2, 1))
    bt = ts.asarray(np.ascontiguousarray(b.T), device=dev).T
    padded = ts.asarray(np.pad(b.T, ((0, 0), (0, 5))), device=dev)[:, :33].T  # transposed, ld 38
    expected = a.astype(np.float64) @ b.astype(np.float64)
    tol = 1e-4 if dtype == "float32" else 1e-10
    for x, y in ((at, tb), (ta, bt), (at, bt), (ta, padded), (at[:, 3:9, :], bt)):
        want = expected if x.shape[1] == 70 else expected[:, 3:9, :]
        _close(ts.matmul(x, y), want, rtol=tol, atol=tol * 10)
    assert cuda._cublas_error is None and not [n for n in asked if "matmul" in n], asked


_CUDA_CAST_VALUES = [0.0, -0.0, 0.9, -0.9, -1.0, 127.5, 128.0, 255.9, 256.0, 300.7, -300.7, 65504.0, 1e10, -1.38e16,
                     float("nan"), float("inf"), -float("inf"), 2.0 ** 31, -2.0 ** 31, -2.0 ** 31 - 0.5,
                     -2.0 ** 31 - 1, 2.0 ** 63, -2.0 ** 63, 2.0 ** 63 - 1024, 1e300]


@needs_gpu
@pytest.mark.parametrize("src", ["float16", "float32", "float64"])
def test_float_to_integer_casts_match_numpy(dev, src):
    """Note [Float to integer casts] in dispatch/dtypes.py, contiguous and strided."""
    with np.errstate(all="ignore"):
        x = np.array(_CUDA_CAST_VALUES * 2, np.float64).astype(src)
    t = ts.asarray(x, device=dev)
    for dst in ("bool", "int8", "int16", "int32", "int64", "uint8"):
        with np.errstate(all="ignore"):
            want = x.astype(dst)
        assert np.array_equal(t.astype(dst).numpy(), want), (src, dst)
        assert np.array_equal(t[::-3].astype(dst).numpy(), want[::-3]), (src, dst)


@needs_gpu
def test_conversions_round_once(dev):
    cases = [("float64", "float16", [65519.999, 65520.0, 1 + 2.0 ** -11 + 2.0 ** -40, 2.0 ** -25 + 2.0 ** -60]),
             ("float64", "float32", [1 + 2.0 ** -24 + 2.0 ** -60, 3.4028235677973366e38]),
             ("int64", "float16", [65519, 65520, 2049, 2051, 2 ** 62]),
             ("int64", "float32", [2 ** 24 + 1, 2 ** 53 + 1])]
    for src, dst, values in cases:
        x = np.array(values, src)
        with np.errstate(all="ignore"):
            want = x.astype(dst)
        np.testing.assert_array_equal(ts.asarray(x, device=dev).astype(dst).numpy(), want, err_msg=f"{src}->{dst}")
    with np.errstate(all="ignore"):
        want = np.float16(65519.999)
    assert ts.full((3,), 65519.999, dtype="float16", device=dev).numpy().tolist() == [float(want)] * 3


@needs_gpu
@pytest.mark.parametrize("n", [4, 300])  # a thread per row, a block per row
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_softmax_rows_that_are_not_finite(dev, n, dtype):
    """Note [Softmax of non-finite rows]: PyTorch's answer on both strategies."""
    x = np.zeros((6, n), dtype)
    x[0, 1], x[1, 2], x[2, :], x[3, 0], x[4, 0], x[4, 1] = np.inf, np.nan, -np.inf, -np.inf, np.inf, np.inf
    x[5] = np.linspace(-3, 3, n)
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        m = x64.max(axis=1, keepdims=True)
        s = np.exp(x64 - m).sum(axis=1, keepdims=True)
        want = {"softmax": np.exp(x64 - m) / s, "log_softmax": x64 - m - np.log(s)}
    for op, w in want.items():
        got = getattr(ts, op)(ts.asarray(x, device=dev), axis=1).numpy().astype(np.float64)
        assert np.array_equal(np.isnan(got), np.isnan(w)), op
        np.testing.assert_allclose(got[~np.isnan(w)], w[~np.isnan(w)], rtol=2e-3, atol=2e-3, err_msg=op)


@needs_gpu
def test_fill_bool_nan_and_int64_limits(dev):
    for dtype, value, want in (("bool", 0.5, True), ("bool", float("nan"), True), ("bool", 0.0, False),
                               ("int64", 2 ** 63 - 1, 2 ** 63 - 1), ("int64", -2 ** 63, -2 ** 63)):
        t = ts.empty((4, 6), dtype=dtype, device=dev)
        cuda.fill(t, value)
        cuda.fill(t[:, ::2], value)
        assert t.numpy().tolist() == [[want] * 6] * 4, (dtype, value)
    t = ts.empty((5,), dtype="float32", device=dev)
    cuda.fill(t, float("nan"))
    assert np.isnan(t.numpy()).all()


@needs_gpu
def test_randint_up_to_2_63(dev):
    from tensorswitch.testing import reference

    x0, x1, _, _ = reference.philox(11, 0, 3000)
    bits = [int(v) for v in (x1 << np.uint64(32)) | x0]
    for low, high in ((0, 2 ** 63), (-2 ** 63, 2 ** 63)):
        t = ts.empty((3000,), dtype="int64", device=dev)
        cuda._random("randint")(t, 11, 0, low, high)
        span = (high - low) % 2 ** 64
        want = np.array([(low + (b % span if span else b)) % 2 ** 64 for b in bits], np.uint64).astype(np.int64)
        assert np.array_equal(t.numpy(), want), (low, high)


@needs_gpu
def test_out_of_memory_is_a_memory_error_and_the_device_keeps_working(dev):
    backend = dev.backend
    total = backend.memory_limit(dev.index)
    with pytest.raises(MemoryError) as info:
        backend.allocate(total + 1, dev.index)
    assert str(total + 1) in str(info.value) and str(total) in str(info.value)
    free, _ = cuda._cp.cuda.runtime.memGetInfo()
    with pytest.raises(MemoryError):
        backend.allocate(free + (total - free) // 2 + (1 << 20), dev.index)  # fits the device, not what is free
    with pytest.raises(ts.OutOfMemoryError):
        ts.empty((2 ** 62,), dtype="float32", device=dev)
    x = ts.asarray(np.arange(1000, dtype=np.float32), device=dev)
    assert float((x * 2).sum().numpy()) == 999000.0


@needs_gpu
def test_memory_stats_and_empty_cache(dev):
    backend = dev.backend
    keys = {"allocated_bytes", "cached_bytes", "peak_allocated_bytes", "allocation_count", "device_total_bytes"}
    before = backend.memory_stats(dev.index)
    assert set(before) == keys
    x = ts.empty((1 << 20,), dtype="float32", device=dev)
    during = backend.memory_stats(dev.index)
    assert during["allocated_bytes"] >= before["allocated_bytes"] + (4 << 20)
    assert during["allocation_count"] > before["allocation_count"]
    del x
    assert backend.memory_stats(dev.index)["cached_bytes"] >= 4 << 20
    backend.empty_cache(dev.index)
    assert backend.memory_stats(dev.index)["cached_bytes"] < 4 << 20


@needs_gpu
def test_work_runs_on_the_device_stream(dev):
    """Launches and copies go to the device's own stream, whatever CuPy stream the calling thread has made
    current (Note [CUDA threads and streams])."""
    cp = cuda._cp
    state = cuda._device(dev.index)
    assert state.stream.ptr != 0
    a = np.arange(1 << 20, dtype=np.float64)
    with cp.cuda.Stream(non_blocking=True):
        x = ts.asarray(a, device=dev)
        y = ts.sum(x * 2.0 + 1.0)
        assert float(y.numpy()) == float((a * 2 + 1).sum())
    dev.synchronize()
