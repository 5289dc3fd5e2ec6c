"""tensorswitch: one tensor API on any accelerator.

    import tensorswitch as ts
    x = ts.ones((2, 3), device="opencl")
    y = (x * 2).sum(axis=1).to("cpu")

Every op goes through one registry keyed by (op, device type, dtype); see ``ts.registry``.
"""

from .dispatch import errors
from .dispatch.backend import Backend, Buffer, KernelCache
from .dispatch.device import (Device, default_device, device, devices, empty_cache, get_default_device,
                              memory_stats, register_backend, set_default_device)
from .dispatch.dtypes import DType, dtype, promote_types, result_type
from .dispatch.dtypes import DTYPES as _DTYPES
from .dispatch.errors import (AxisError, BackendError, DeviceError, DeviceMismatchError, DeviceUnavailableError,
                              KernelNotFoundError, OutOfMemoryError, PluginError, ReadOnlyError, RegistrationError,
                              ShapeError, TensorSwitchError, UnsupportedDtypeError)
from .dispatch.registry import OPS, register_kernel, registry
from .dispatch.shapes import MAX_NDIM
from .dispatch.tensor import Tensor
from .dispatch.dispatcher import set_trace
from .dispatch import derivatives as _derivatives

_derivatives.install()  # autograd wraps the differentiable entry points first (Note [Autograd dispatch])

from .dispatch.functions import *  # noqa: E402,F401,F403
from .dispatch.nnops import *  # noqa: E402,F401,F403
# the sections of the Array API standard, one module each (STYLE.md, section 7)
from .dispatch.manipulation import *  # noqa: E402,F401,F403
from .dispatch.einsum import *  # noqa: E402,F401,F403
from .dispatch.info import *  # noqa: E402,F401,F403
from .dispatch.sorting import *  # noqa: E402,F401,F403
from .dispatch.searching import *  # noqa: E402,F401,F403
from .dispatch.set_functions import *  # noqa: E402,F401,F403
from .dispatch.statistical import *  # noqa: E402,F401,F403
from .dispatch.indexing import *  # noqa: E402,F401,F403
from .dispatch.interop import *  # noqa: E402,F401,F403
from .dispatch.info import ArrayNamespaceInfo as __array_namespace_info__  # noqa: E402  (the standard's inspection API)
__array_api_version__ = "2024.12"  # the Array API standard version implemented
from .dispatch import linalg  # noqa: E402  (ts.linalg: the standard's linalg extension)
from .dispatch.linalg import matrix_transpose, tensordot, vecdot  # noqa: E402
from .dispatch.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402
from . import autograd  # noqa: E402
from .dispatch.functions import ELEMENTWISE_FUNCTIONS as _EW
from .dispatch.plugins import load_plugin
from . import backends as _backends

bool, int8, int16, int32, int64, uint8, float16, float32, float64, uint16, uint32, uint64, complex64, complex128 = \
    _DTYPES  # noqa: A001

globals().update(_EW)
_backends.register_builtins()

from .dispatch import methods as _methods  # noqa: E402

_methods.install(__import__(__name__))  # the namespace's functions as Tensor methods (Note [PyTorch habits])

__version__ = "0.1.0"


def set_num_threads(n):
    """Use ``n`` threads for cpu kernels (default: ``OMP_NUM_THREADS``, else one per core)."""
    from .backends import cpu

    cpu.set_num_threads(n)  # checks n (an int from 1 to a cap no machine's thread limit is below)


def get_num_threads():
    """The number of threads cpu kernels use."""
    from .backends import cpu

    return cpu.get_num_threads()


_SUBMODULES = ("testing", "nn", "optim", "utils")  # imported on first use: ts.nn.Linear, ts.optim.SGD, ...


def __getattr__(name):
    import importlib

    if name in _SUBMODULES:  # ts.testing needs no pytest; nn and optim are clients of this namespace
        return importlib.import_module(f".{name}", __name__)
    if name in ("save", "load"):
        return getattr(importlib.import_module(".serialization", __name__), name)
    if name == "info":  # the installation report (tensorswitch/diagnostics.py)
        return importlib.import_module(".diagnostics", __name__).info
    raise AttributeError(f"module 'tensorswitch' has no attribute {name!r}")


def set_fallback(device, fallback="cpu"):
    """Run ops that have no kernel on ``device`` (a device type) on ``fallback`` instead, copying the data there and
    back and warning once per op.  Off by default; ``set_fallback(device, None)`` turns it off again."""
    from .dispatch.device import backend_names, device as get_device

    device_type = str(device).split(":")[0]
    if device_type not in backend_names():
        raise DeviceError(f"set_fallback: unknown device type {device_type!r}; registered: "
                          f"{', '.join(backend_names())}")
    if fallback is not None:
        fallback = get_device(fallback).type  # raises, saying why, for a device that cannot be used
        if fallback == device_type:
            raise ValueError(f"set_fallback: {device_type!r} cannot fall back to itself")
    registry.set_fallback(device_type, fallback)
