"""``python -m tensorswitch.demo``: one CNN, trained with ts.nn and ts.optim on every usable device, side by side.

A small convolutional network learns the 8x8 handwritten digits that ship with tensorswitch (scikit-learn's bundled
copy, ``tensorswitch/data/digits.npz``, so nothing is downloaded): a fixed 80/20 train/test split, Adam, a shuffled
DataLoader and ``loss.backward()``.  ``ts.manual_seed`` before each run, and tensorswitch's counter-based generator
(which draws the same numbers on every device), give every device the same initial weights and the same batches, so
every device should end at the same weights up to float32 rounding: the table shows how far each one is from cpu.

    python -m tensorswitch.demo                       # every usable device
    python -m tensorswitch.demo --device opencl       # opencl, and cpu to compare against
    python -m tensorswitch.demo --epochs 3 --plot losses.png

The table goes to stdout; progress (a tqdm bar when tqdm is installed, else one line per epoch) to stderr.
"""

import argparse
import dataclasses
import os
import re
import sys
import time

import numpy as np

import tensorswitch as ts
from tensorswitch.dispatch.device import unavailable_reasons

try:
    from tqdm import tqdm
except ImportError:  # tqdm is optional: plain progress lines instead
    tqdm = None

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "digits.npz")
TEST_FRACTION = 0.2
SPLIT_SEED = 0  # the train/test split is fixed: every run and every device sees the same samples
MAX_SHOWN = 8  # loss points printed per device (the plot has every step)
EPOCHS, BATCH_SIZE, LR = 6, 32, 1e-2  # about 97% test accuracy in well under a minute on two cpu cores


def load_digits(limit=None):
    """The digits as NumPy arrays ``(x_train, y_train, x_test, y_test)``: images (N, 1, 8, 8) float32 scaled to
    [0, 1] (the raw pixels are 0..16) and int64 labels.  ``limit`` keeps only the first ``limit`` training samples
    (the test set stays whole)."""
    with np.load(DATA) as f:
        images, target = f["images"], f["target"]
    x = (images.astype(np.float32) / 16.0)[:, None]  # add the channel axis: (N, C=1, H, W)
    y = target.astype(np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    n_test = int(round(len(x) * TEST_FRACTION))
    test, train = order[:n_test], order[n_test:]
    if limit is not None:
        train = train[:limit]
    return x[train], y[train], x[test], y[test]


def make_model():
    """Two conv + pool blocks and a linear head: (N, 1, 8, 8) -> (N, 10) logits."""
    nn = ts.nn
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # -> (N, 8, 4, 4)
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # -> (N, 16, 2, 2)
        nn.Flatten(), nn.Linear(16 * 2 * 2, 10))


@dataclasses.dataclass
class Run:
    """What one device's training gives: per-step and per-epoch training losses, the test accuracy, the final
    parameters (name -> NumPy array) and the time per step in seconds (None when too few steps were timed)."""
    step_losses: list
    epoch_losses: list
    accuracy: float
    weights: dict
    seconds_per_step: float | None


def train(device, data, epochs=EPOCHS, batch_size=BATCH_SIZE, lr=LR, seed=0, progress=True):
    """Train :func:`make_model` on ``device`` with the arrays ``data`` (as :func:`load_digits` returns them)."""
    device = ts.device(device)
    x_train, y_train, x_test, y_test = data
    ts.manual_seed(seed)  # the same weights, then the same shuffles: both draw from the cpu generator, in this order
    model = make_model().to(device)
    optimizer = ts.optim.Adam(model.parameters(), lr=lr)
    loss_fn = ts.nn.CrossEntropyLoss()
    # The dataset stays on the cpu and each batch moves to the device, as in PyTorch's tutorials.
    dataset = ts.utils.data.TensorDataset(ts.asarray(x_train), ts.asarray(y_train))
    loader = ts.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)
    # The first steps compile kernels on opencl/cuda (and the first short last batch may compile more): time from
    # the second epoch on, or after two steps when there is only one epoch.
    warmup = len(loader) if epochs > 1 else min(2, len(loader))
    epochs_iter = range(epochs)
    bar = None
    if progress and tqdm is not None:
        bar = epochs_iter = tqdm(epochs_iter, desc=f"{device}", unit="epoch", leave=False, file=sys.stderr)
    step_losses, epoch_losses = [], []
    step, start = 0, None
    for epoch in epochs_iter:
        model.train()
        pending = []
        for xb, yb in loader:
            if step == warmup:
                device.synchronize()
                start = time.perf_counter()
            xb, yb = xb.to(device), yb.to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            pending.append(loss.detach())  # read back once per epoch, not once per step
            step += 1
        losses = [float(v) for v in pending]
        step_losses.extend(losses)
        epoch_losses.append(sum(losses) / len(losses))
        if bar is not None:
            bar.set_postfix(loss=f"{epoch_losses[-1]:.4f}")
        elif progress:
            print(f"  {device}: epoch {epoch + 1}/{epochs}, loss {epoch_losses[-1]:.4f}", file=sys.stderr, flush=True)
    device.synchronize()
    timed = step - warmup
    seconds_per_step = (time.perf_counter() - start) / timed if start is not None and timed > 0 else None
    if bar is not None:
        bar.close()
    model.eval()
    with ts.no_grad():
        logits = model(ts.asarray(x_test, device=device))
        correct = ts.argmax(logits, axis=1) == ts.asarray(y_test, device=device)
        accuracy = float(correct.astype("float32").mean())
    weights = {name: value.numpy() for name, value in model.state_dict().items()}
    return Run(step_losses, epoch_losses, accuracy, weights, seconds_per_step)


def shown_epochs(epochs):
    """The (0-based) epochs whose loss the table prints: all of them, or MAX_SHOWN spread out, always the last."""
    if epochs <= MAX_SHOWN:
        return list(range(epochs))
    return sorted({int(round(i)) for i in np.linspace(0, epochs - 1, MAX_SHOWN)})


def one_line(text):
    return re.sub(r"\s+", " ", str(text)).strip()


def select_devices(names):
    """(devices to train on, cpu first; [(name, why it is skipped)]) for ``--device`` names, or every device.
    An unknown name raises ``ts.DeviceError``; a known device that cannot be used here is skipped."""
    skipped = []
    if not names:
        return ts.devices(), sorted(unavailable_reasons().items())
    chosen = [ts.device("cpu")]  # always there: the reference the others are compared with
    for name in names:
        try:
            dev = ts.device(name)
        except ts.DeviceUnavailableError as exc:
            skipped.append((name, one_line(exc)))
            continue
        if dev not in chosen:
            chosen.append(dev)
    return chosen, skipped


def plot(path, runs, steps_per_epoch):
    """Every device's per-step training loss in one PNG (the curves should lie on top of each other)."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    styles = ["-", "--", ":", "-."]
    for i, (name, run) in enumerate(runs.items()):
        ax.plot(np.arange(1, len(run.step_losses) + 1), run.step_losses, styles[i % len(styles)], lw=1.5,
                label=f"{name} (test accuracy {run.accuracy:.3f})")
    for e in range(1, len(next(iter(runs.values())).epoch_losses)):
        ax.axvline(e * steps_per_epoch + 0.5, color="0.85", lw=0.8, zorder=0)
    ax.set_xlabel("step (grey lines: epochs)")
    ax.set_ylabel("training loss (cross-entropy)")
    ax.set_yscale("log")
    ax.set_title(f"tensorswitch {ts.__version__}: the same CNN on every device")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tensorswitch.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"passes over the training set (default {EPOCHS})")
    parser.add_argument("--device", action="append", metavar="D",
                        help="only this device (repeatable), plus cpu to compare with (default: every usable one)")
    parser.add_argument("--limit", type=int, metavar="N", help="train on the first N training samples only")
    parser.add_argument("--plot", metavar="PATH", help="write the loss curves of all devices to this PNG")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.plot:
        try:  # say so now, not after the training
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error('--plot needs matplotlib: pip install "tensorswitch[plot]"')

    data = load_digits(args.limit)
    try:
        devices, skipped = select_devices(args.device)
    except ts.DeviceError as exc:
        parser.error(one_line(exc))
    steps_per_epoch = -(-len(data[0]) // BATCH_SIZE)
    epochs = f"{args.epochs} epoch{'s' if args.epochs > 1 else ''}"
    print(f"tensorswitch {ts.__version__}: a CNN (2 conv + pool blocks, a linear head) on {len(data[0])} 8x8 digits "
          f"({len(data[2])} held out), {epochs} of Adam, batch {BATCH_SIZE}, on {', '.join(map(str, devices))}\n")
    shown = shown_epochs(args.epochs)
    loss_header = "train loss, epoch " + " / ".join(str(e + 1) for e in shown)
    if len(loss_header) > 56:
        loss_header = f"train loss, epoch {shown[0] + 1} / {shown[1] + 1} / ... / {shown[-1] + 1}"
    trail_width = max(len(loss_header), 7 * len(shown)) + 2
    print(f"{'device':<10} {loss_header:<{trail_width}} {'test acc':>8} {'max |w - w_cpu|':>16} {'ms/step':>8}",
          flush=True)
    runs, reference = {}, None
    for device in devices:
        name = str(device)
        try:
            run = train(device, data, args.epochs)
        except (ts.KernelNotFoundError, ts.UnsupportedDtypeError) as exc:  # a device that lacks what the model needs
            print(f"{name:<10} failed: {one_line(exc)}", flush=True)
            continue
        if reference is None:
            reference = run.weights
        diff = max(float(np.max(np.abs(w - reference[k]))) for k, w in run.weights.items())
        trail = " ".join(f"{run.epoch_losses[e]:.4f}" for e in shown)
        ms = f"{run.seconds_per_step * 1e3:.2f}" if run.seconds_per_step is not None else "n/a"
        print(f"{name:<10} {trail:<{trail_width}} {run.accuracy:>8.3f} {diff:>16.2e} {ms:>8}", flush=True)
        runs[name] = run
    for name, reason in skipped:
        print(f"{name:<10} skipped: {reason}")
    if args.plot and runs:
        plot(args.plot, runs, steps_per_epoch)
        print(f"\nwrote {args.plot}")


if __name__ == "__main__":
    main()
