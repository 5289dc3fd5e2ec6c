"""``python -m tensorswitch.conformance``: the matrix, the exit status, the JSON report and the PNG heatmap."""

import json
import subprocess
import sys

import numpy as np
import pytest

import tensorswitch as ts
from limited_backend import CPUMemoryBackend
from tensorswitch.dispatch.device import unregister_backend
from tensorswitch.testing import conformance


def test_cli_passes_with_report_and_plot(tmp_path, capsys):
    report, png = tmp_path / "r.json", tmp_path / "m.png"
    code = conformance.main(["--device", "cpu", "--op", "add", "--op", "exp", "--op", "sum",
                             "--report", str(report), "--plot", str(png)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines()[0].split()[:3] == ["op", "bool", "int8"]
    assert "add" in out and "0 fail" in out and "backend contract 7/7" in out
    data = json.loads(report.read_text())
    assert data["device"] == "cpu" and data["failures"] == []
    assert data["cells"]["add/float32"]["status"] == "pass" and data["cells"]["add/float32"]["samples"] > 10
    assert data["cells"]["add/bool"]["status"] == "not implemented"
    assert data["cells"]["exp/int32"]["status"] == "computed in float32"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_as_a_module_and_unknown_devices():
    out = subprocess.run([sys.executable, "-m", "tensorswitch.conformance", "--device", "nosuchdev"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "unknown device 'nosuchdev'" in out.stderr and "Usable devices: cpu" in out.stderr


@pytest.fixture
def broken_device():
    # its add is wrong and its relu claims float32 but raises: the suite must catch both
    ts.register_backend(CPUMemoryBackend("brokendev"), override=True)
    cpu_fill = ts.registry.fast[("fill", "cpu", ts.float32)]
    cpu_astype = ts.registry.fast[("astype", "cpu", ts.float32)]

    def wrong_add(out, a, b):
        cpu_fill(out, 0.0)

    def crashing_relu(out, x):
        raise RuntimeError("boom")

    ts.register_kernel("add", "brokendev", ["float32"], wrong_add, override=True)
    ts.register_kernel("relu", "brokendev", ["float32"], crashing_relu, override=True)
    ts.register_kernel("fill", "brokendev", ["float32"], cpu_fill, override=True)
    ts.register_kernel("astype", "brokendev", ["float32"], cpu_astype, override=True)
    yield ts.device("brokendev")
    ts.registry.unregister(device="brokendev")
    unregister_backend("brokendev")


def test_a_wrong_kernel_fails_the_run(broken_device, capsys):
    code = conformance.main(["--device", "brokendev", "--op", "add", "--op", "relu", "--op", "exp",
                             "--dtype", "float32", "--dtype", "float64"])
    out = capsys.readouterr()
    assert code == 1
    lines = out.out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:1] == ["op"])
    rows = {line.split()[0]: line.split()[1:] for line in lines[head + 1:head + 4]}
    assert rows["add"] == ["FAIL", "n/a"] and rows["relu"] == ["FAIL", "n/a"] and rows["exp"] == ["-", "n/a"]
    assert "values differ" in out.out or "got 0.0" in out.out
    assert "boom" in out.out
    report = conformance.run(broken_device, ["add"], ["float32"])
    assert report["failures"][0] == "add/float32"
    assert np.isfinite(report["seconds"])
