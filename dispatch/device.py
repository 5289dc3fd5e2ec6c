"""Devices: ``ts.device("opencl:1")``, the default device, and the table of registered backends.

A Device is interned: ``ts.device("cpu") is ts.device("cpu")``, so the hot path compares devices with ``is``.
"""

import contextlib
import os
import threading

from . import errors
from .backend import Backend, Buffer, OwnedBuffer

__all__ = ["Device", "device", "devices", "register_backend", "set_default_device", "default_device",
           "get_default_device", "empty_cache", "memory_stats"]

_backends = {}        # device type -> Backend instance
_initialized = set()  # device types whose backend.initialize() has run
_devices = {}         # (type, index) -> Device
_lock = threading.RLock()


class Device:
    """A device: a type (the backend's name) and an index.  Construct with :func:`device`."""

    __slots__ = ("type", "index", "backend", "_dtypes", "_str", "buffer_type", "raw_allocate")

    def __init__(self, type_, index, backend):
        self.type, self.index, self.backend = type_, index, backend
        self._dtypes = None
        self._str = type_ if index == 0 else f"{type_}:{index}"
        # decided once per device, read by the dispatcher's allocation (dispatch/dispatcher.py, _fresh): does
        # dropping a buffer need the backend's free()?
        self.buffer_type = OwnedBuffer if type(backend).free is not Backend.free else Buffer
        self.raw_allocate = backend.allocate

    def supported_dtypes(self):
        """The dtypes this device can store and compute; dispatch, errors and test skips all read this answer.
        Backends may answer with ``ts.DType`` objects or dtype names."""
        if self._dtypes is None:
            from .dtypes import dtype as to_dtype

            answer = call_hook(self.backend, "supported_dtypes", self.index)
            try:
                self._dtypes = frozenset(to_dtype(d) for d in answer)
            except TypeError as exc:
                raise errors.BackendError(
                    f"the {self.type} backend's supported_dtypes({self.index}) must return ts.DType objects or dtype "
                    f"names (such as ts.float32 or 'float32'), got {answer!r}: {exc}") from None
        return self._dtypes

    def empty_cache(self):
        """Give memory cached by this device's pool back to the system."""
        call_hook(self.backend, "empty_cache", self.index)

    def memory_stats(self):
        """This device's memory statistics (see ``ts.memory_stats``)."""
        answer = call_hook(self.backend, "memory_stats", self.index) or {}
        try:
            stats = dict(answer)
        except (TypeError, ValueError):
            raise errors.BackendError(f"the {self.type} backend's memory_stats({self.index}) must return a dict, "
                                      f"got {answer!r}") from None
        stats.setdefault("memory_limit_bytes", call_hook(self.backend, "memory_limit", self.index))
        return stats

    def synchronize(self):
        """Wait until all work queued on this device has finished."""
        self.backend.synchronize(self.index)

    def __str__(self):
        return self._str

    def __repr__(self):
        return f"device({self._str!r})"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except errors.TensorSwitchError:
                return False
        return self is other

    __hash__ = object.__hash__  # devices are interned: identity hashing is exact and runs in C

    def __reduce__(self):
        return (device, (self._str,))


def register_backend(backend, override=False):
    """Make ``backend`` (a :class:`Backend` instance) usable as ``ts.device(backend.name)``.

    >>> import tensorswitch as ts
    >>> class MyBackend(ts.Backend):
    ...     name = "doctest_dev"
    ...     def device_count(self): return 1
    >>> ts.register_backend(MyBackend()).name
    'doctest_dev'
    """
    if not isinstance(backend, Backend):
        if isinstance(backend, type) and issubclass(backend, Backend):
            raise errors.RegistrationError(f"register_backend expects a Backend instance: pass "
                                           f"{backend.__name__}(), not the class")
        raise errors.RegistrationError(f"register_backend expects a tensorswitch.Backend instance, got "
                                       f"{type(backend).__name__}")
    name = backend.name
    if not isinstance(name, str) or not name.isidentifier() or name.lower() != name:
        raise errors.RegistrationError(f"backend name must be a lower-case identifier, got {name!r}")
    stubs = [hook for hook in _REQUIRED_HOOKS if _is_stub(getattr(type(backend), hook, None))]
    if stubs:
        raise errors.RegistrationError(
            f"backend {name!r} ({type(backend).__name__}): {', '.join(h + '()' for h in stubs)} "
            f"{'is' if len(stubs) == 1 else 'are'} still a stub (an empty body such as `...`); fill "
            f"{'it' if len(stubs) == 1 else 'them'} in as Note [Backend contract] in tensorswitch/dispatch/backend.py "
            f"says, or leave the hook out until you need it")
    with _lock:
        if name in _backends and not override:
            raise errors.RegistrationError(
                f"a backend named {name!r} is already registered ({type(_backends[name]).__module__}."
                f"{type(_backends[name]).__name__}); pass override=True to replace it")
        _backends[name] = backend
        _initialized.discard(name)
        for key in [k for k, d in _devices.items() if d.type == name]:
            del _devices[key]
        _resolved_default[0] = None
    return backend


# hooks whose empty body (``...``, ``pass``) can only be a forgotten stub: each must return something or move data
_REQUIRED_HOOKS = ("device_count", "supported_dtypes", "allocate", "copy_in", "copy_out")


def _is_stub(fn):
    """True for a function whose body does nothing but return None (``...``, ``pass``, a docstring)."""
    import dis

    if getattr(fn, "__code__", None) is None or fn is getattr(Backend, fn.__name__, None):
        return False
    for ins in dis.get_instructions(fn):
        if ins.opname in ("LOAD_CONST", "RETURN_CONST") and ins.argval is not None:
            return False
        if ins.opname not in ("RESUME", "NOP", "LOAD_CONST", "RETURN_CONST", "RETURN_VALUE", "CACHE"):
            return False
    return True


def unregister_backend(name):
    """Remove the backend ``name`` and its devices (for tests and plugin teardown; its kernels stay in the registry
    until ``ts.registry.unregister(device=name)``)."""
    with _lock:
        _backends.pop(name, None)
        _initialized.discard(name)
        for key in [k for k, d in _devices.items() if d.type == name]:
            del _devices[key]
        _resolved_default[0] = None


def call_hook(backend, hook, *args):
    """``backend.<hook>(*args)``, with anything but tensorswitch's own errors reported as the backend's fault."""
    try:
        return getattr(backend, hook)(*args)
    except errors.TensorSwitchError:
        raise
    except Exception as exc:
        shown = ", ".join(repr(a) if isinstance(a, (int, float, str)) else type(a).__name__ for a in args)
        raise errors.BackendError(f"the {backend.name!r} backend's {hook}({shown}) raised "
                                  f"{type(exc).__name__}: {exc}") from exc


def _backend(type_):
    backend = _backends.get(type_)
    if backend is None:
        from . import plugins

        plugins.load_plugin_for(type_)
        backend = _backends.get(type_)
        if backend is None:
            failed = plugins.plugin_errors().get(type_)
            entry = plugins.entry_point_value(type_)
            if failed is not None:
                raise errors.plugin_failed(type_, entry, failed) from failed
            if entry is not None and not plugins.autoload_enabled():
                raise errors.plugin_not_loaded(type_, entry)
            known = (set(_backends) | plugins.available_names()) - {type_}
            raise errors.unknown_device(type_, known)
    if type_ not in _initialized:
        with _lock:
            if type_ not in _initialized:
                call_hook(backend, "initialize")
                _initialized.add(type_)
    return backend


def _device_count(backend):
    count = call_hook(backend, "device_count")
    if type(count) is not int:
        try:
            count = int(count.__index__())
        except AttributeError:
            raise errors.BackendError(f"the {backend.name} backend's device_count() must return an int, got "
                                      f"{count!r}") from None
    return count


def _parse(spec):
    if ":" in spec:
        type_, _, idx = spec.partition(":")
        if not idx.isdigit():
            raise errors.DeviceError(f"bad device {spec!r}: the index after ':' must be a non-negative integer")
        return type_.strip(), int(idx)
    return spec.strip(), 0


def device(spec=None):
    """The Device for ``spec``: a Device, ``"cpu"``, ``"opencl"``, ``"opencl:1"``, ``"cuda:0"``; None gives the
    default device.  Raises at once when the device cannot be used, saying why.

    >>> import tensorswitch as ts
    >>> ts.device("cpu")
    device('cpu')
    """
    if isinstance(spec, Device):
        return spec
    if spec is None:
        return get_default_device()
    if not isinstance(spec, str):
        raise TypeError(f"a device is a tensorswitch Device or a string such as 'cpu' or 'opencl:0', "
                        f"got {type(spec).__name__}")
    d = _devices.get(spec)
    if d is not None:
        return d
    type_, index = _parse(spec)
    d = _devices.get((type_, index))
    if d is None:
        backend = _backend(type_)
        reason = call_hook(backend, "unavailable_reason")
        if reason:
            raise errors.DeviceUnavailableError(f"device {spec!r} cannot be used: {reason}")
        count = _device_count(backend)
        if index >= count:
            raise errors.DeviceError(f"device {spec!r} does not exist: there {'is' if count == 1 else 'are'} "
                                     f"{count} {type_} device{'s' if count != 1 else ''} (indices 0..{count - 1})")
        with _lock:
            d = _devices.setdefault((type_, index), Device(type_, index, backend))
    _devices[spec] = d
    return d


def devices():
    """Every usable device now, built-ins and plugins, cpu first.

    >>> import tensorswitch as ts
    >>> ts.device("cpu") in ts.devices()
    True
    """
    from . import plugins

    plugins.load_all_plugins()
    found = []
    for type_ in sorted(_backends, key=lambda t: (t != "cpu", t)):
        try:
            backend = _backend(type_)
            if call_hook(backend, "unavailable_reason"):
                continue
            found.extend(device(f"{type_}:{i}") for i in range(_device_count(backend)))
        except errors.TensorSwitchError:  # a broken backend must not hide the others (unavailable_reasons says why)
            continue
    return found


def backend_names():
    """The registered device types, usable or not."""
    return sorted(_backends)


def _resolve(spec):
    return device(spec)


def usable_device_types():
    """The registered device types that have a usable device now (errors list only these)."""
    out = []
    for type_ in backend_names():
        try:
            backend = _backend(type_)
            if not call_hook(backend, "unavailable_reason") and _device_count(backend) > 0:
                out.append(type_)
        except Exception:  # a broken driver must not break an error message
            continue
    return out


def empty_cache(device=None):
    """Give the memory cached by device pools back to the system: every initialised device, or ``device``.

    >>> import tensorswitch as ts
    >>> ts.empty_cache()
    """
    if device is not None:
        return _resolve(device).empty_cache()
    for d in set(_devices.values()):
        try:
            d.empty_cache()
        except errors.TensorSwitchError as exc:  # one broken backend must not keep the others' memory
            errors.warn(f"empty_cache: {exc}")


def memory_stats(device=None):
    """Memory statistics of ``device`` (default: the default device) as a dict: ``allocated_bytes`` (held by live
    tensors), ``cached_bytes`` (freed, kept by the pool for reuse), ``memory_limit_bytes`` (the largest single
    allocation) and, where the backend knows them, ``peak_allocated_bytes``, ``cache_limit_bytes``,
    ``allocation_count``, ``device_total_bytes``.

    >>> import tensorswitch as ts
    >>> "allocated_bytes" in ts.memory_stats("cpu")
    True
    """
    return _resolve(device).memory_stats()


def unavailable_reasons():
    """{device type: why it cannot be used} for every registered backend that cannot be used now."""
    out = {}
    for type_ in backend_names():
        try:
            reason = call_hook(_backend(type_), "unavailable_reason")
        except Exception as exc:  # a broken driver must not break the listing
            reason = str(exc) if isinstance(exc, errors.BackendError) else f"{type(exc).__name__}: {exc}"
        if reason:
            out[type_] = reason
    return out


# -- the default device -------------------------------------------------------------------------------------------

_default = threading.local()


def get_default_device():
    """The device new tensors go to when none is given: ``set_default_device``, else ``TENSORSWITCH_DEVICE``, else
    cpu."""
    stack = getattr(_default, "stack", None)
    if stack:
        return stack[-1]
    d = _resolved_default[0]
    if d is None:  # resolved once (reading the environment costs more than the rest of a small op)
        d = _resolved_default[0] = device(_global_default[0] or os.environ.get("TENSORSWITCH_DEVICE") or "cpu")
    return d


_global_default = [None]
_resolved_default = [None]  # the Device of _global_default / TENSORSWITCH_DEVICE, reset when either may change


def set_default_device(spec):
    """Make ``spec`` the default device of this process (None restores ``TENSORSWITCH_DEVICE`` or cpu)."""
    _global_default[0] = None if spec is None else str(device(spec))
    _resolved_default[0] = None


@contextlib.contextmanager
def default_device(spec):
    """``with ts.default_device("opencl"):`` makes new tensors go to that device inside the block (this thread)."""
    d = device(spec)
    stack = getattr(_default, "stack", None)
    if stack is None:
        stack = _default.stack = []
    stack.append(d)
    try:
        yield d
    finally:
        stack.pop()
