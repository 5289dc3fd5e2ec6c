"""Devices made of the cpu backend with some of its kernels removed or replaced: the proof, in
tests/test_conformance_cli.py and tests/test_gradient_conformance.py, that the conformance suite catches what a wrong
or incomplete backend does.  Each test file wraps :class:`BrokenDevices` in a ``broken`` fixture:

    @pytest.fixture
    def broken():
        devices = BrokenDevices()
        yield devices.make
        devices.remove()
"""

import tensorswitch as ts
from limited_backend import CPUMemoryBackend
from tensorswitch.dispatch.device import unregister_backend

#: every dtype tensorswitch has: a broken device stores all of them unless told otherwise
ALL_DTYPES = tuple(d.name for d in ts._DTYPES)


class BrokenDevices:
    """Makes devices that borrow the cpu's memory and kernels, and unregisters them all again in ``remove()``."""

    def __init__(self):
        self.names = []

    def make(self, name, overrides=(), dtypes=ALL_DTYPES, drop=()):
        """The device ``name``: it stores ``dtypes`` and has the cpu's kernels of those dtypes, less ``drop``
        (``[(op, dtype), ...]``), with ``overrides`` (``[(op, dtypes, kernel), ...]``) in their place."""
        ts.register_backend(CPUMemoryBackend(name, dtypes=dtypes), override=True)
        self.names.append(name)
        for entry in ts.registry.kernels(device="cpu"):
            if entry.dtype.name in dtypes and (entry.op, entry.dtype.name) not in drop:
                ts.register_kernel(entry.op, name, [entry.dtype.name], entry.fn, override=True)
        for op, dts, fn in overrides:
            ts.register_kernel(op, name, list(dts), fn, override=True)
        return ts.device(name)

    def remove(self):
        for name in self.names:
            ts.registry.unregister(device=name)
            unregister_backend(name)
        self.names.clear()
