"""The showcase: ``python -m tensorswitch.demo`` (the CNN on every device) and ``examples/train_digits.py`` (the
PyTorch-tutorial shape), run end to end in reduced configurations (one or two epochs on a subset of the digits), and
the demo's training checked step for step against the same model in PyTorch."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch import demo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "train_digits.py")
HAS_OPENCL = any(d.type == "opencl" for d in ts.devices())
ROW = re.compile(r"^(\S+)\s+((?:\d+\.\d{4}\s+)+)(\d\.\d{3})\s+(\S+)\s+(\d+\.\d{2}|n/a)$")


def rows(stdout):
    """{device: (losses, accuracy, max |w - w_cpu|, ms/step or None)} from the demo's table."""
    out = {}
    for line in stdout.splitlines():
        m = ROW.match(line)
        if m:
            ms = None if m[5] == "n/a" else float(m[5])
            out[m[1]] = ([float(v) for v in m[2].split()], float(m[3]), float(m[4]), ms)
    return out


def test_digits_split_is_fixed_and_scaled():
    x_train, y_train, x_test, y_test = demo.load_digits()
    assert x_train.shape[1:] == (1, 8, 8) and x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert len(x_train) + len(x_test) == 1797 and len(x_test) == 359
    assert x_train.min() == 0.0 and x_train.max() == 1.0 and set(np.unique(y_test)) == set(range(10))
    again = demo.load_digits(limit=100)
    np.testing.assert_array_equal(again[0], x_train[:100])  # --limit takes a prefix of the same split
    np.testing.assert_array_equal(again[3], y_test)          # and keeps the whole test set


def test_demo_cli_on_cpu_and_opencl_with_plot(tmp_path):
    png = tmp_path / "losses.png"
    args = ["--epochs", "2", "--limit", "256", "--plot", str(png)] + (["--device", "opencl"] if HAS_OPENCL else [])
    proc = subprocess.run([sys.executable, "-m", "tensorswitch.demo", *args], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "256 8x8 digits (359 held out), 2 epochs of Adam" in proc.stdout
    table = rows(proc.stdout)
    expected = ["cpu", "opencl"] if HAS_OPENCL else ["cpu"]
    assert list(table) == expected, proc.stdout
    cpu_losses, _, cpu_diff, _ = table["cpu"]
    assert cpu_diff == 0.0  # cpu is the reference
    for name, (losses, accuracy, diff, ms) in table.items():
        assert len(losses) == 2 and losses[1] < losses[0]  # one point per epoch, and it learns
        assert 0.3 < accuracy <= 1.0 and ms is not None and ms > 0
        assert diff < 1e-4 and np.allclose(losses, cpu_losses, atol=1e-3), name  # the same run, up to rounding
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {png}" in proc.stdout
    if demo.tqdm is None:  # plain progress lines on stderr (else a tqdm bar there)
        assert "cpu: epoch 2/2, loss" in proc.stderr


def test_training_is_deterministic_and_matches_pytorch_step_for_step():
    torch = pytest.importorskip("torch")
    data = demo.load_digits(limit=96)
    epochs = 2
    run = demo.train("cpu", data, epochs=epochs, progress=False)
    again = demo.train("cpu", data, epochs=epochs, progress=False)
    assert again.step_losses == run.step_losses
    for name, w in run.weights.items():
        np.testing.assert_array_equal(again.weights[name], w)

    # Replay the same run in PyTorch: the same initial weights and the same batches (the seed draws the weights, then
    # each epoch's shuffle, from the cpu generator, as demo.train does), the same layers, loss and Adam.
    ts.manual_seed(0)
    initial = {k: torch.from_numpy(v.numpy().copy()) for k, v in demo.make_model().state_dict().items()}
    dataset = ts.utils.data.TensorDataset(ts.asarray(data[0]), ts.asarray(data[1]))
    loader = ts.utils.data.DataLoader(dataset, batch_size=demo.BATCH_SIZE, shuffle=True)
    batches = [(torch.from_numpy(x.numpy()), torch.from_numpy(y.numpy())) for _ in range(epochs) for x, y in loader]
    tn = torch.nn
    model = tn.Sequential(tn.Conv2d(1, 8, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2),
                          tn.Conv2d(8, 16, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2), tn.Flatten(), tn.Linear(64, 10))
    model.load_state_dict(initial)
    optimizer = torch.optim.Adam(model.parameters(), lr=demo.LR)
    losses = []
    for x, y in batches:
        optimizer.zero_grad()
        loss = tn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    # Observed: losses within 2e-7, weights within 1.3e-7 of PyTorch's, while training moved them by 0.05.
    np.testing.assert_allclose(run.step_losses, losses, rtol=1e-5, atol=1e-6)
    for name, w in model.state_dict().items():
        np.testing.assert_allclose(run.weights[name], w.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_demo_options(capsys, monkeypatch, tmp_path):
    unusable = sorted(ts.dispatch.device.unavailable_reasons())
    if unusable:  # a known device that cannot be used here is skipped with its reason on one line
        demo.main(["--epochs", "1", "--limit", "40", "--device", unusable[0]])
        out = capsys.readouterr().out
        assert list(rows(out)) == ["cpu"]
        skip = [line for line in out.splitlines() if line.startswith(unusable[0])]
        assert len(skip) == 1 and "skipped: " in skip[0] and "cannot be used" in skip[0]
    with pytest.raises(SystemExit) as exc:  # an unknown one is a usage error
        demo.main(["--device", "nosuchdev"])
    assert exc.value.code == 2 and "unknown device 'nosuchdev'" in capsys.readouterr().err
    for bad in (["--epochs", "0"], ["--limit", "0"]):
        with pytest.raises(SystemExit):
            demo.main(bad)
        assert "must be at least 1" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # --plot without matplotlib fails before any training
    with pytest.raises(SystemExit):
        demo.main(["--plot", str(tmp_path / "x.png")])
    captured = capsys.readouterr()
    assert 'pip install "tensorswitch[plot]"' in captured.err and captured.out == ""


def test_demo_progress_with_and_without_tqdm(capsys, monkeypatch):
    monkeypatch.setattr(demo, "tqdm", None)
    data = demo.load_digits(limit=64)
    run = demo.train("cpu", data, epochs=2)
    err = capsys.readouterr().err
    assert f"cpu: epoch 1/2, loss {run.epoch_losses[0]:.4f}" in err and "cpu: epoch 2/2" in err
    assert run.seconds_per_step is not None and len(run.step_losses) == 4  # 64 samples, batches of 32

    bars = []

    class FakeTqdm:  # the part of tqdm's API the demo uses
        def __init__(self, iterable, **kwargs):
            self.iterable, self.kwargs, self.postfix, self.closed = iterable, kwargs, [], False
            bars.append(self)

        def __iter__(self):
            return iter(self.iterable)

        def set_postfix(self, **kwargs):
            self.postfix.append(kwargs)

        def close(self):
            self.closed = True

    monkeypatch.setattr(demo, "tqdm", FakeTqdm)
    demo.train("cpu", data, epochs=2)
    assert capsys.readouterr().err == ""  # the bar replaces the plain lines
    (bar,) = bars
    assert bar.kwargs["desc"] == "cpu" and bar.kwargs["leave"] is False and bar.closed
    assert bar.postfix == [{"loss": f"{v:.4f}"} for v in run.epoch_losses]  # the same run: the same losses


def test_example_script_trains_saves_and_reloads(tmp_path):
    ckpt = tmp_path / "net.safetensors"
    proc = subprocess.run([sys.executable, EXAMPLE, "--device", "cpu", "--epochs", "1", "--limit", "256",
                           "--save", str(ckpt)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"^epoch 1: loss (\d+\.\d+), test accuracy (\d\.\d{3})$", proc.stdout, re.M)
    assert m, proc.stdout
    assert f"saved to {ckpt}; reloaded, test accuracy {m[2]}" in proc.stdout  # the reloaded model is the same
    state = ts.load(ckpt)
    assert sorted(state) == ["conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight", "fc.bias", "fc.weight"]
    assert state["conv2.weight"].shape == (16, 8, 3, 3) and state["fc.weight"].shape == (10, 64)
