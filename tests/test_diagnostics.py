"""ts.info() and ``python -m tensorswitch info``: the installation report (tensorswitch/diagnostics.py)."""

import json
import subprocess
import sys

import tensorswitch as ts
from tensorswitch import diagnostics
from tensorswitch.dispatch import plugins
from tensorswitch.dispatch.device import backend_names


def test_report_names_every_backend_and_device():
    report = ts.info()
    assert json.loads(json.dumps(report)) == report  # plain data: JSON for bug reports
    names = [b["name"] for b in report["backends"]]
    assert names == backend_names()
    devices = {d["device"] for b in report["backends"] for d in b["devices"]}
    assert devices == {str(d) for d in ts.devices() if d.type in names}
    for backend in report["backends"]:
        assert backend["devices"] or backend["unavailable"], backend  # a device, or the reason there is none
        for dev in backend["devices"]:
            assert dev["kernels"] == len({(e.op, e.dtype.name) for e in ts.registry.kernels(device=backend["name"])})
            assert dev["dtypes"][0] == "bool" and "float32" in dev["dtypes"]
    cpu = next(b for b in report["backends"] if b["name"] == "cpu")["devices"][0]
    assert cpu["memory_limit"] > 0 and "float64" in cpu["dtypes"]
    assert report["cpu"]["threads"] == ts.get_num_threads()
    assert report["numpy"] and report["tensorswitch"] == ts.__version__


def test_readable_form():
    text = str(ts.info())
    assert text.startswith(f"tensorswitch {ts.__version__}")
    assert "device cpu: cpu (" in text and "BLAS:" in text and "kernels:" in text
    for name in backend_names():
        assert name in text


def test_a_failed_plugin_is_reported_with_its_reason(monkeypatch):
    class EntryPoint:
        name, value = "brokenplug", "brokenplug:register"

    monkeypatch.setattr(plugins, "_entry_points", lambda: {"brokenplug": EntryPoint()})
    monkeypatch.setitem(plugins._loaded, "brokenplug", ImportError("no module named brokenplug"))
    report = diagnostics.info()
    assert report["plugins"] == {"brokenplug": "failed: ImportError: no module named brokenplug"}
    assert "plugin brokenplug: failed: ImportError: no module named brokenplug" in str(report)


def test_command_line():
    out = subprocess.run([sys.executable, "-m", "tensorswitch", "info"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "device cpu:" in out.stdout
    out = subprocess.run([sys.executable, "-m", "tensorswitch", "info", "--json"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0 and json.loads(out.stdout)["backends"][0]["name"] == "cpu"
    out = subprocess.run([sys.executable, "-m", "tensorswitch", "nonsense"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 2 and "usage: python -m tensorswitch" in out.stderr
