"""Plugin discovery: entry points, lazy loading, failure isolation, the autoload switch, run-time registration."""

import subprocess
import sys
import textwrap
import warnings

import pytest

import tensorswitch as ts
from limited_backend import CPUMemoryBackend
from tensorswitch.dispatch import plugins
from tensorswitch.dispatch.device import unregister_backend


class FakeEntryPoint:
    def __init__(self, name, fn, value="fake_module:register"):
        self.name, self._fn, self.value = name, fn, value

    def load(self):
        return self._fn


@pytest.fixture(autouse=True)
def forget_test_backends():
    """Backends these tests register must not leak into the device lists of later tests."""
    yield
    for name in ("plugina", "pluginb", "runtimedev", "brokenplugin"):
        unregister_backend(name)
        plugins._loaded.pop(name, None)


def _install(monkeypatch, *eps):
    monkeypatch.setattr(plugins, "_entry_points", lambda: {ep.name: ep for ep in eps})
    for ep in eps:
        plugins._loaded.pop(ep.name, None)


def _make_backend(name):
    return CPUMemoryBackend(name, dtypes=("float32",), count=2)


def test_plugins_load_on_first_use_and_coexist(monkeypatch):
    calls = []

    def register_a():
        calls.append("a")
        ts.register_backend(_make_backend("plugina"))

    def register_b():
        calls.append("b")
        ts.register_backend(_make_backend("pluginb"))

    _install(monkeypatch, FakeEntryPoint("plugina", register_a), FakeEntryPoint("pluginb", register_b))
    assert calls == []  # nothing loads at import
    a = ts.device("plugina:1")
    assert calls == ["a"] and a.index == 1
    names = {str(d) for d in ts.devices()}
    assert {"plugina", "plugina:1", "pluginb", "pluginb:1"} <= names and calls == ["a", "b"]
    x = ts.asarray([1.0, 2.0], device="pluginb")
    assert x.device == ts.device("pluginb") and x.numpy().tolist() == [1.0, 2.0]


def test_a_broken_plugin_warns_once_and_the_rest_works(monkeypatch):
    def broken():
        raise RuntimeError("driver missing")

    _install(monkeypatch, FakeEntryPoint("brokenplugin", broken, "broken_pkg:register"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = ts.devices()
        ts.devices()
    messages = [str(w.message) for w in caught if "brokenplugin" in str(w.message)]
    assert len(messages) == 1 and "driver missing" in messages[0] and "broken_pkg:register" in messages[0]
    assert ts.device("cpu") in found
    with pytest.raises(ts.DeviceError):
        ts.device("brokenplugin")


def test_autoload_can_be_turned_off():
    code = textwrap.dedent("""
        import tensorswitch as ts
        from tensorswitch.dispatch import plugins
        calls = []
        class EP:
            name, value = "offplugin", "x:y"
            def load(self):
                return lambda: calls.append(1)
        plugins._entry_points = lambda: {"offplugin": EP()}
        ts.devices()
        try:
            ts.device("offplugin")
        except ts.DeviceError:
            pass
        assert calls == [], calls
        plugins.load_plugin("offplugin")
        assert calls == [1]
        print("ok")
    """)
    import os

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "TENSORSWITCH_AUTOLOAD_PLUGINS": "0"})
    assert out.stdout.strip() == "ok", out.stderr


def test_runtime_registration_and_duplicate_names():
    backend = _make_backend("runtimedev")
    ts.register_backend(backend)
    assert ts.device("runtimedev").backend is backend
    with pytest.raises(ts.RegistrationError, match="already registered"):
        ts.register_backend(_make_backend("runtimedev"))
    ts.register_backend(_make_backend("runtimedev"), override=True)
    with pytest.raises(ts.RegistrationError, match="lower-case identifier"):
        ts.register_backend(_make_backend("Bad-Name"))
