"""The built-in backends.  Each module fills the hooks of ``tensorswitch.Backend`` and has a cheap ``register()``
that registers the backend and its kernels exactly as a plugin would (see dispatch/plugins.py)."""

import importlib

BUILTIN = ("cpu", "opencl", "cuda")


def register_builtins():
    for name in BUILTIN:
        importlib.import_module(f"{__name__}.{name}").register()
