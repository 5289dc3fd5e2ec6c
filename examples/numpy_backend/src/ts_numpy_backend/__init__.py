"""An example out-of-tree tensorswitch backend: the device type ``"numpy"``, whose memory is NumPy uint8 buffers and
whose kernels run NumPy on strided views of them.

Installed with ``pip install ./examples/numpy_backend``, it is found through the ``tensorswitch.backends`` entry point
and loads on first use of its name:

    >>> import tensorswitch as ts
    >>> register()  # what the plugin loader does; a second call does nothing
    >>> (ts.arange(4, dtype="float32", device="numpy") * 2).tolist()
    [0.0, 2.0, 4.0, 6.0]

What it claims, and what it deliberately leaves out, is in ``kernels.py`` and this package's README.
"""

import threading

__all__ = ["register"]
__version__ = "0.1.0"

_lock = threading.Lock()
_registered = False


def register():
    """Register the ``numpy`` backend and all its kernels.

    Cheap (no device work, nothing compiled) and safe to call twice: the second call does nothing.  Registration uses
    ``override=False``, so a *different* backend already registered as ``"numpy"`` makes it raise
    ``ts.RegistrationError`` naming that backend rather than silently replacing it.
    """
    global _registered
    with _lock:
        if _registered:
            return
        import tensorswitch as ts

        from . import kernels
        from .backend import NumPyBackend

        ts.register_backend(NumPyBackend())
        kernels.register_kernels()
        _registered = True
