"""Every user-facing error of tensorswitch, and the texts they carry, in one place."""

import difflib
import os
import sys
import warnings

__all__ = [
    "TensorSwitchError", "DeviceError", "DeviceUnavailableError", "DeviceMismatchError", "KernelNotFoundError",
    "RegistrationError", "UnsupportedDtypeError", "ShapeError", "AxisError", "ReadOnlyError", "OutOfMemoryError",
    "BackendError", "PluginError",
]


class TensorSwitchError(Exception):
    """Base of tensorswitch's own errors."""


class DeviceError(TensorSwitchError, ValueError):
    """An unknown device name or index."""


class DeviceUnavailableError(TensorSwitchError, RuntimeError):
    """A known device type that cannot be used on this machine (driver, package or hardware missing)."""


class PluginError(DeviceUnavailableError, DeviceError):
    """A device whose plugin failed to load, or is installed but not loaded (autoloading off)."""


class DeviceMismatchError(TensorSwitchError, ValueError):
    """Tensors on different devices met in one op; tensorswitch never moves data implicitly."""


class KernelNotFoundError(TensorSwitchError, NotImplementedError):
    """No kernel is registered for (op, device, dtype)."""


class UnsupportedDtypeError(TensorSwitchError, TypeError):
    """A device that cannot hold the dtype at all (for example float64 on an OpenCL device without fp64)."""


class RegistrationError(TensorSwitchError, ValueError):
    """A bad kernel or backend registration: duplicate key, unknown op, unknown dtype."""


class ShapeError(TensorSwitchError, ValueError):
    """Shapes that do not broadcast, do not match for matmul, or cannot be reshaped."""


class AxisError(TensorSwitchError, ValueError, IndexError):
    """An axis out of range for the tensor (a ValueError and an IndexError, like NumPy's AxisError)."""


class ReadOnlyError(TensorSwitchError, ValueError):
    """A write into a read-only view (a broadcast view, whose elements share memory)."""


class OutOfMemoryError(TensorSwitchError, MemoryError):
    """A device could not allocate the memory asked for (too large for the device, or none left)."""


class BackendError(TensorSwitchError, RuntimeError):
    """A backend that does not keep Note [Backend contract] (a hook left as ``...``, a wrong return value)."""


# -- where a warning points ----------------------------------------------------------------------------------------

def _package_dirs():
    """The folders of tensorswitch's packages (an editable install keeps them in separate source folders)."""
    dirs = {os.path.dirname(os.path.abspath(__file__))}
    for name, module in list(sys.modules.items()):
        if (name == "tensorswitch" or name.startswith("tensorswitch.")) and getattr(module, "__file__", None):
            dirs.add(os.path.dirname(os.path.abspath(module.__file__)))
    return tuple(d + os.sep for d in dirs)


def user_stacklevel():
    """The ``stacklevel`` that makes a warning point at the first frame outside tensorswitch (the user's line)."""
    dirs = _package_dirs()
    frame = sys._getframe(1)
    level = 1
    while frame is not None:
        filename = frame.f_code.co_filename
        if not (filename.startswith(dirs) or filename.startswith("<frozen importlib")):
            return level
        frame = frame.f_back
        level += 1
    return level


def warn(message, category=RuntimeWarning):
    """Warn, pointing at the user's line rather than into the library."""
    warnings.warn(message, category, stacklevel=user_stacklevel())


def did_you_mean(name, choices):
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def unknown_device(name, known):
    return DeviceError(f"unknown device {name!r}.{did_you_mean(str(name).split(':')[0], known)} "
                       f"Known device types: {', '.join(sorted(known))}.")


def plugin_failed(name, entry_point, exc):
    return PluginError(f"device {name!r} comes from the plugin {name!r} ({entry_point}), which failed to "
                                  f"load: {type(exc).__name__}: {exc}")


def plugin_not_loaded(name, entry_point):
    return PluginError(f"device {name!r} is provided by the installed plugin {name!r} ({entry_point}), but plugin "
                       f"autoloading is off (TENSORSWITCH_AUTOLOAD_PLUGINS=0); load it with "
                       f"ts.load_plugin({name!r})")


def device_mismatch(op, devices):
    names = " and ".join(str(d) for d in devices)
    return DeviceMismatchError(f"{op}: tensors are on different devices ({names}); tensorswitch does not move data "
                               f"implicitly. Move one first, for example x.to({str(devices[0])!r}).")


def a(name):
    """``name`` with its article: "an int64", "a uint8", "a float32"."""
    return f"{'an' if name[:1] in 'aeio' else 'a'} {name}"


#: ops that make a new tensor from a dtype argument: there is no tensor to cast yet
CREATION_OPS = frozenset({"empty", "zeros", "ones", "full", "arange", "linspace", "eye", "rand", "randn", "randint",
                          "asarray", "fill"})


def reading_order(dtype):
    """A sort key listing dtypes as people read them: bool, the signed, unsigned and floating ones, each by width
    (the codes put uint16..uint64 last, since they came later)."""
    return {"bool": 0, "int": 1, "uint": 2, "float": 3, "complex": 4}[dtype.kind], dtype.itemsize


def unsupported_dtype(op, device, dtype, supported):
    ordered = sorted(supported, key=reading_order)
    names = ", ".join(d.name for d in ordered)
    same_kind = sorted([d for d in ordered if d.kind == dtype.kind] or [d for d in ordered if d.kind == "float"],
                       key=lambda d: d.itemsize)
    # the narrowest dtype of the same kind that holds every value of ``dtype``, else the widest there is
    best = next((d for d in same_kind if d.itemsize >= dtype.itemsize), same_kind[-1] if same_kind else None)
    if op == "to":
        hint = (f" Cast it first, for example x.astype(ts.{best.name}).to({str(device)!r})." if best is not None
                else "")
    elif op in CREATION_OPS:
        hint = (f" Pass dtype=ts.{best.name}, or create it on 'cpu'." if best is not None else
                " Create it on 'cpu'.")
    elif best is not None:
        hint = f" Cast with .astype(ts.{best.name}) or move the tensor to 'cpu'."
    else:
        hint = " Move the tensor to 'cpu'."
    return UnsupportedDtypeError(f"{op}: device {device} does not support dtype {dtype.name} "
                                 f"(it supports {names}).{hint}")


def kernel_not_found(op, device, dtype, same_device, other_devices, fallback_works):
    """``same_device``: dtype names with a kernel for ``op`` on ``device`` that it supports; ``other_devices``:
    usable device types with a kernel for (op, dtype); ``fallback_works``: cpu has (op, dtype)."""
    parts = [f"{op} has no kernel for device {device.type!r} and dtype {dtype.name}."]
    if same_device:
        verb = "create it as" if op in CREATION_OPS else "cast to"
        parts.append(f"On {device.type!r} it has kernels for {', '.join(same_device)}: {verb} one of them.")
    if other_devices:
        parts.append(f"Devices with {a(dtype.name)} kernel for it: {', '.join(other_devices)}: move the tensor with "
                     f"x.to(...).")
    if not same_device and not other_devices:
        parts.append(f"No usable device has {a(dtype.name)} kernel for it.")
    if fallback_works and device.type != "cpu":
        parts.append(f"For a CPU fallback on this device: ts.set_fallback({device.type!r}, 'cpu').")
    return KernelNotFoundError(" ".join(parts))


def scalar_out_of_range(op, value, dtype, lo, hi):
    hint = "choose a wider dtype" if op in CREATION_OPS else "cast the tensor to a wider dtype first (x.astype(...))"
    return OverflowError(f"{op}: Python integer {value} is out of bounds for {dtype.name} (which holds {lo} to "
                         f"{hi}); {hint}, or pass a value in range")


def out_of_memory(device, nbytes, what, limit, cause):
    def size(n):
        for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
            if n < 1024 or unit == "PiB":
                return f"{n} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
            n /= 1024
    asked = size(nbytes)
    text = f"{device}: cannot allocate {asked} ({what})"
    if limit is not None:
        text += f"; the most {device} can allocate at once is {size(limit)}"
    if cause:
        text += f" ({cause})"
    return OutOfMemoryError(text + ". Free tensors you no longer need (and ts.empty_cache()), or use smaller ones.")


def broadcast_error(op, shapes):
    return ShapeError(f"{op}: shapes {' and '.join(str(tuple(s)) for s in shapes)} do not broadcast: each "
                      f"dimension, counted from the right, must be equal or 1.")


# -- linalg (issue 8): ts.linalg.LinAlgError and the texts of dispatch/linalg.py ----------------------------------------

class LinAlgError(TensorSwitchError, ValueError):
    """A matrix the linalg function cannot work on: singular (solve, inv), not positive definite (cholesky).  A
    ValueError, as ``numpy.linalg.LinAlgError`` is."""


__all__ += ["LinAlgError"]


def singular_matrix(op, shape):
    return LinAlgError(f"{op}: the matrix is singular (its LU factorization has a zero pivot), shape {tuple(shape)}; "
                       f"a singular system has no unique solution. linalg.lstsq-style answers come from "
                       f"linalg.pinv(x) @ b, and linalg.det(x) is 0 for such a matrix.")


def not_positive_definite(op, shape):
    return LinAlgError(f"{op}: the matrix is not positive definite (or holds NaN), shape {tuple(shape)}: a Cholesky "
                       f"factor exists only for symmetric positive-definite matrices. linalg.eigvalsh(x) shows its "
                       f"eigenvalues (all must be > 0).")


def linalg_kernel_missing(op, kernels, cause, dtype):
    """``cause`` (the registry's KernelNotFoundError for the first of the missing ``kernels`` that ``op`` runs) with
    the public name in front, and, for another dtype, the ones linalg computes in."""
    needs = f" (it needs the kernels {', '.join(kernels)})" if len(kernels) > 1 else ""
    hint = "" if dtype in ("float32", "float64", "complex64", "complex128") else (
        f" Factorizations compute in float32, float64, complex64 and complex128, not {dtype}: cast with "
        f"x.astype(ts.float32) first.")
    return KernelNotFoundError(f"{op}{needs}: {cause}{hint}")


def lapack_missing(op):
    return KernelNotFoundError(f"{op} on 'cpu' needs LAPACK, which tensorswitch takes from the scipy-openblas32 "
                               f"package, and it is not installed (or not the OpenBLAS tensorswitch knows): "
                               f"pip install \"tensorswitch[blas]\"")
