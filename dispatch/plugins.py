"""Plugin discovery through the ``tensorswitch.backends`` entry-point group.

A plugin package declares, in its pyproject.toml::

    [project.entry-points."tensorswitch.backends"]
    mydev = "mydev_package:register"

The entry point's name is the device type it provides; its object is a cheap callable that registers the backend and
its kernels (``ts.register_backend`` and ``ts.register_kernel``).  Plugins load on first use of their device name or
of ``ts.devices()``.  ``TENSORSWITCH_AUTOLOAD_PLUGINS=0`` turns autoloading off; ``load_plugin(name)`` still works.
A plugin that fails to load gives one warning naming it and the cause, and is rolled back: the backends and kernels
its ``register()`` had registered before failing are removed again (replaced ones restored), so it is never listed as
usable; using its device then raises an error giving the cause.  Everything else keeps working.
"""

import os
import threading
from importlib import metadata

from . import errors

GROUP = "tensorswitch.backends"
_lock = threading.RLock()
_loaded = {}   # entry-point name -> True (loaded) or the exception it raised


def _entry_points():
    try:
        return {ep.name: ep for ep in metadata.entry_points(group=GROUP)}
    except Exception:  # a broken distribution must not stop tensorswitch from importing
        return {}


def autoload_enabled():
    return os.environ.get("TENSORSWITCH_AUTOLOAD_PLUGINS", "1").strip().lower() not in ("0", "false", "no", "off")


def available_names():
    """Device types that installed plugins say they provide (loaded or not)."""
    return set(_entry_points())


def entry_point_value(name):
    """``module:function`` of the installed plugin ``name``, or None."""
    ep = _entry_points().get(name)
    return None if ep is None else ep.value


def load_plugin(name):
    """Load the plugin ``name`` now (even with autoloading off).  Returns True when it loaded."""
    with _lock:
        if name in _loaded:
            return _loaded[name] is True
        ep = _entry_points().get(name)
        if ep is None:
            return False
        from . import device as devices
        from .registry import registry

        kernels = registry.snapshot()
        backends = dict(devices._backends)
        try:
            ep.load()()
            _loaded[name] = True
        except Exception as exc:
            _loaded[name] = exc
            registry.restore(kernels)
            for type_ in set(devices._backends) - set(backends):
                devices.unregister_backend(type_)
            for type_, backend in backends.items():
                if devices._backends.get(type_) is not backend:
                    devices.register_backend(backend, override=True)
            errors.warn(f"tensorswitch plugin {name!r} ({ep.value}) failed to load and was rolled back: "
                        f"{type(exc).__name__}: {exc}")
        return _loaded[name] is True


def load_plugin_for(device_type):
    if autoload_enabled():
        load_plugin(device_type)


def load_all_plugins():
    if autoload_enabled():
        for name in sorted(_entry_points()):
            load_plugin(name)


def plugin_errors():
    """{plugin name: the exception} for plugins that failed to load."""
    return {k: v for k, v in _loaded.items() if v is not True}
