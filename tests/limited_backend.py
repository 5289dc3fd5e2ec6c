"""A deliberately limited device for the tests, in the spirit of array-api-strict's "no_float64": it stores only
float32 and has kernels for a handful of ops, so that unsupported-dtype, missing-kernel, fallback and device-mismatch
paths run on a machine without a GPU.  Its memory and kernels are the cpu backend's."""

import tensorswitch as ts

LIMITED = "limited"


class CPUMemoryBackend(ts.Backend):
    """A test backend named ``name`` that borrows the cpu backend's memory and claims only ``dtypes``."""

    def __init__(self, name, dtypes=("float32", "bool"), count=1):
        self.name, self.count = name, count
        self.dtypes = frozenset(ts.dtype(d) for d in dtypes)
        self.cpu = ts.device("cpu").backend

    def device_count(self):
        return self.count

    def supported_dtypes(self, index):
        return self.dtypes

    def allocate(self, nbytes, index):
        return self.cpu.allocate(nbytes, 0)

    def copy_in(self, handle, offset, host, index):
        self.cpu.copy_in(handle, offset, host, 0)

    def copy_out(self, handle, offset, host, index):
        self.cpu.copy_out(handle, offset, host, 0)


if LIMITED not in ts.dispatch.device.backend_names():
    ts.register_backend(CPUMemoryBackend(LIMITED))
    for _op in ("add", "multiply", "fill", "astype", "sum", "greater"):
        _dtypes = ["float32"] if _op != "astype" else ["float32", "bool"]
        for _entry in ts.registry.kernels(op=_op, device="cpu"):
            if _entry.dtype.name in _dtypes:
                ts.register_kernel(_op, LIMITED, [_entry.dtype.name], _entry.fn)
