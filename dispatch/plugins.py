"""Plugin discovery through the ``tensorswitch.backends`` entry-point group.

A plugin package declares, in its pyproject.toml::

    [project.entry-points."tensorswitch.backends"]
    mydev = "mydev_package:register"

The entry point's name is the device type it provides; its object is a cheap callable that registers the backend and
its kernels (``ts.register_backend`` and ``ts.register_kernel``).  Plugins load on first use of their device name or
of ``ts.devices()``.  ``TENSORSWITCH_AUTOLOAD_PLUGINS=0`` turns autoloading off; ``load_plugin(name)`` still works.
A plugin that fails to load gives one warning naming it and the cause; everything else keeps working.
"""

import os
import threading
import warnings
from importlib import metadata

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


def load_plugin(name):
    """Load the plugin ``name`` now (even with autoloading off).  Returns True when it loaded."""
    with _lock:
        if name in _loaded:
            return _loaded[name] is True
        ep = _entry_points().get(name)
        if ep is None:
            return False
        try:
            ep.load()()
            _loaded[name] = True
        except Exception as exc:
            _loaded[name] = exc
            warnings.warn(f"tensorswitch plugin {name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}",
                          RuntimeWarning, stacklevel=3)
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
