"""``ts.info()`` and ``python -m tensorswitch info``: what this installation has, for bug reports.

The report lists the versions (tensorswitch, Python, NumPy, PyOpenCL and PoCL, CuPy and CUDA, the BLAS), the cpu (its
model, the SIMD extensions it has and the ones the kernels were built for, the thread count), every registered
backend with its devices (name, memory, dtypes, how many (op, dtype) kernels it has) or why it cannot be used, and
the plugins that loaded or failed, with the reason.  Nothing here imports a library that is not installed; a part
that cannot be read says why instead of failing the report.
"""

import json
import os
import platform
import sys

__all__ = ["info"]


class Info(dict):
    """The report as a dict (``json.dumps`` takes it); ``str()`` is the readable form."""

    def __str__(self):
        lines = [f"tensorswitch {self['tensorswitch']} (Python {self['python']}, NumPy {self['numpy']}, "
                 f"{self['platform']})"]
        cpu = self["cpu"]
        lines.append(f"cpu: {cpu['model']}, {cpu['cores']} cores, {cpu['threads']} threads for kernels, "
                     f"BLAS: {cpu['blas']}")
        lines.append(f"  SIMD on this cpu: {', '.join(cpu['simd']) or 'none found'}; kernels built for: "
                     f"{cpu['kernels_built_for']}")
        for name, value in self["libraries"].items():
            lines.append(f"{name}: {value}")
        for backend in self["backends"]:
            if backend["devices"]:
                for dev in backend["devices"]:
                    lines.append(f"device {dev['device']}: {dev['description']}")
                    lines.append(f"  memory limit: {_bytes(dev['memory_limit'])}; dtypes: {', '.join(dev['dtypes'])}")
                    lines.append(f"  kernels: {dev['kernels']} (op, dtype) pairs of {backend['claimed']} the op "
                                 f"table claims")
            else:
                lines.append(f"backend {backend['name']}: unavailable: {backend['unavailable']}")
        for name, status in self["plugins"].items():
            lines.append(f"plugin {name}: {status}")
        return "\n".join(lines)


def _bytes(n):
    if n is None:
        return "unknown"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_simd():
    """The SIMD extensions the cpu reports (Linux's /proc/cpuinfo flags), of those the compilers target."""
    wanted = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_fp16", "neon",
              "asimd", "sve")
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    have = set(line.split(":", 1)[1].split())
                    return [w for w in wanted if w in have]
    except OSError:
        pass
    return []


def _kernels_built_for():
    """How the cpu module's loops were built, and which instruction set level's loops run (Note [Runtime ISA
    dispatch] in kernels/cpu/loops.h: the loader picks the AVX2 or AVX-512 clones at import)."""
    from .backends import cpu

    module = cpu._module()
    if not getattr(module, "isa_dispatch", False):
        return f"{platform.machine()} baseline (-O3, no runtime ISA dispatch)"
    vector_math = ", libmvec vector math" if getattr(module, "vector_math", False) else ""
    if getattr(module, "own_vector_exp", False):
        vector_math += " and tensorswitch's AVX-512 exp for float32"
    return f"{platform.machine()} baseline with runtime ISA dispatch: the {module.isa} loops run{vector_math}"


def _blas():
    from .backends import cpu

    cpu._module()
    import tensorswitch as ts

    ts.device("cpu")  # starts the cpu backend, which picks the BLAS (Note [Which BLAS])
    if cpu.BLAS == "openblas":
        try:
            import scipy_openblas32

            return f"OpenBLAS {scipy_openblas32.__version__} (scipy-openblas32), on one thread per kernel thread"
        except Exception:  # noqa: BLE001 - a report never fails
            return "OpenBLAS"
    if cpu.BLAS == "mkl":
        return "Intel MKL (sequential layer), on one thread per kernel thread"
    return "none: our own matmul loop (pip install \"tensorswitch[blas]\")"


def _libraries():
    out = {}
    try:
        import pyopencl as cl

        out["PyOpenCL"] = cl.VERSION_TEXT
        try:
            out["OpenCL platforms"] = "; ".join(f"{p.name.strip()} ({p.version.strip()})" for p in cl.get_platforms())
        except Exception as exc:  # noqa: BLE001 - no ICD loader, no platform: say so
            out["OpenCL platforms"] = f"none ({type(exc).__name__}: {exc})"
    except ImportError:
        out["PyOpenCL"] = "not installed (pip install \"tensorswitch[opencl]\")"
    try:
        import importlib.util

        if importlib.util.find_spec("cupy") is None:
            out["CuPy"] = "not installed (pip install \"tensorswitch[cuda12]\" or \"[cuda13]\")"
        else:
            import cupy

            version = cupy.__version__
            try:
                runtime = cupy.cuda.runtime.runtimeGetVersion()
                version += f", CUDA runtime {runtime // 1000}.{runtime % 1000 // 10}"
            except Exception as exc:  # noqa: BLE001 - CuPy without a driver
                version += f" (no CUDA runtime: {type(exc).__name__}: {exc})"
            out["CuPy"] = version
    except Exception as exc:  # noqa: BLE001
        out["CuPy"] = f"unreadable ({type(exc).__name__}: {exc})"
    return out


def _backends():
    import tensorswitch as ts
    from .dispatch.device import backend_names, unavailable_reasons
    from .dispatch.errors import reading_order
    from .kernels import optable

    claimed = sum(len(dtypes) for dtypes in optable.COVERAGE.values())
    reasons = unavailable_reasons()
    usable = {}
    for dev in ts.devices():
        usable.setdefault(dev.type, []).append(dev)
    out = []
    for name in backend_names():
        entry = {"name": name, "claimed": claimed, "devices": [], "unavailable": reasons.get(name)}
        for dev in usable.get(name, []):
            backend = dev.backend
            try:
                limit = backend.memory_limit(dev.index)
            except Exception:  # noqa: BLE001 - a backend without the hook
                limit = None
            entry["devices"].append({
                "device": str(dev),
                "description": backend.describe(dev.index),
                "memory_limit": limit,
                "dtypes": [d.name for d in sorted(dev.supported_dtypes(), key=reading_order)],
                "kernels": len({(e.op, e.dtype.name) for e in ts.registry.kernels(device=name)}),
            })
        if not entry["devices"] and entry["unavailable"] is None:
            entry["unavailable"] = "no device found"
        out.append(entry)
    return out


def _plugins():
    from .dispatch import plugins

    plugins.load_all_plugins()
    failed = plugins.plugin_errors()
    out = {}
    for name in sorted(plugins._entry_points()):
        if name in failed:
            exc = failed[name]
            out[name] = f"failed: {type(exc).__name__}: {exc}"
        elif plugins._loaded.get(name) is True:
            out[name] = "loaded"
        else:
            out[name] = "not loaded (TENSORSWITCH_AUTOLOAD_PLUGINS=0)"
    return out


def info():
    """A report of this installation (an :class:`Info`: a dict, printed readably): versions, the cpu and its BLAS,
    every backend's devices (memory, dtypes, kernel counts) or why it is unavailable, and the plugins.

    >>> import tensorswitch as ts
    >>> report = ts.info()
    >>> report["backends"][0]["name"], "cpu" in str(report)
    ('cpu', True)
    """
    import numpy as np

    import tensorswitch as ts
    from .backends import cpu

    return Info({
        "tensorswitch": ts.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu": {"model": _cpu_model(), "cores": os.cpu_count(), "threads": cpu.get_num_threads(),
                "simd": _cpu_simd(), "blas": _blas(), "kernels_built_for": _kernels_built_for()},
        "libraries": _libraries(),
        "backends": _backends(),
        "plugins": _plugins(),
    })


def main(argv=None):
    """``python -m tensorswitch info [--json]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tensorswitch info", description=info.__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = info()
    print(json.dumps(report, indent=2) if args.json else report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
