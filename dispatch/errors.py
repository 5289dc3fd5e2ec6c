"""Every user-facing error of tensorswitch, and the texts they carry, in one place."""

import difflib

__all__ = [
    "TensorSwitchError", "DeviceError", "DeviceUnavailableError", "DeviceMismatchError", "KernelNotFoundError",
    "RegistrationError", "UnsupportedDtypeError", "ShapeError",
]


class TensorSwitchError(Exception):
    """Base of tensorswitch's own errors."""


class DeviceError(TensorSwitchError, ValueError):
    """An unknown device name or index."""


class DeviceUnavailableError(TensorSwitchError, RuntimeError):
    """A known device type that cannot be used on this machine (driver, package or hardware missing)."""


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


def did_you_mean(name, choices):
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def unknown_device(name, known):
    return DeviceError(f"unknown device {name!r}.{did_you_mean(str(name).split(':')[0], known)} "
                       f"Known device types: {', '.join(sorted(known))}.")


def device_mismatch(op, devices):
    names = " and ".join(str(d) for d in devices)
    return DeviceMismatchError(f"{op}: tensors are on different devices ({names}); tensorswitch does not move data "
                               f"implicitly. Move one first, for example x.to({str(devices[0])!r}).")


def unsupported_dtype(op, device, dtype, supported):
    names = ", ".join(d.name for d in sorted(supported, key=lambda d: d.code))
    hint = ""
    if dtype.kind == "float" and any(d.kind == "float" for d in supported):
        best = max((d for d in supported if d.kind == "float"), key=lambda d: d.itemsize)
        hint = f" Cast with .astype(ts.{best.name}) or move the tensor to 'cpu'."
    else:
        hint = " Move the tensor to 'cpu' or cast it to a supported dtype."
    return UnsupportedDtypeError(f"{op}: device {device} does not support dtype {dtype.name} "
                                 f"(it supports {names}).{hint}")


def kernel_not_found(op, device, dtype, available):
    """``available``: (device type, dtype name) pairs that do have a kernel for ``op``."""
    same_device = sorted(d for t, d in available if t == device.type)
    other = sorted({t for t, _ in available if t != device.type})
    parts = [f"{op} has no kernel for device {device.type!r} and dtype {dtype.name}."]
    if same_device:
        parts.append(f"On {device.type!r} it has kernels for {', '.join(same_device)}: cast to one of them.")
    if other:
        parts.append(f"Other devices with a kernel for it: {', '.join(other)}: move the tensor with x.to(...).")
    if not available:
        parts.append("No device has a kernel for it.")
    parts.append(f"For a CPU fallback on this device: ts.set_fallback({device.type!r}, 'cpu').")
    return KernelNotFoundError(" ".join(parts))


def broadcast_error(op, shapes):
    return ShapeError(f"{op}: shapes {' and '.join(str(tuple(s)) for s in shapes)} do not broadcast: each "
                      f"dimension, counted from the right, must be equal or 1.")
