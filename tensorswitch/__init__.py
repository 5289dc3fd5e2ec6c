"""tensorswitch: one tensor API on any accelerator.

    import tensorswitch as ts
    x = ts.ones((2, 3), device="opencl")
    y = (x * 2).sum(axis=1).to("cpu")

Every op goes through one registry keyed by (op, device type, dtype); see ``ts.registry``.
"""

from .dispatch import errors
from .dispatch.backend import Backend, Buffer, KernelCache
from .dispatch.device import (Device, default_device, device, devices, get_default_device, register_backend,
                              set_default_device)
from .dispatch.dtypes import DType, dtype, promote_types, result_type
from .dispatch.dtypes import DTYPES as _DTYPES
from .dispatch.errors import (DeviceError, DeviceMismatchError, DeviceUnavailableError, KernelNotFoundError,
                              RegistrationError, ShapeError, TensorSwitchError, UnsupportedDtypeError)
from .dispatch.registry import OPS, register_kernel, registry
from .dispatch.tensor import Tensor
from .dispatch.dispatcher import set_trace
from .dispatch.functions import *  # noqa: F401,F403
from .dispatch.functions import ELEMENTWISE_FUNCTIONS as _EW
from .dispatch.plugins import load_plugin
from . import backends as _backends

bool, int8, int16, int32, int64, uint8, float16, float32, float64 = _DTYPES  # noqa: A001

globals().update(_EW)
_backends.register_builtins()

__version__ = "0.1.0"


def set_fallback(device, fallback="cpu"):
    """Run ops that have no kernel on ``device`` (a device type) on ``fallback`` instead, copying the data there and
    back and warning once per op.  Off by default; ``set_fallback(device, None)`` turns it off again."""
    registry.set_fallback(str(device).split(":")[0], fallback)
