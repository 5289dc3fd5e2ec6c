"""``python -m tensorswitch.demo``: the same model code on every usable device.

A seeded 2-layer MLP classifies points of a synthetic spiral: forward pass, cross-entropy loss, a hand-written
gradient step.  Random numbers come from tensorswitch's counter-based generator, which draws the same numbers on
every device, so every device starts from the same weights and data and should end at the same loss.
"""

import argparse
import time

import numpy as np

import tensorswitch as ts


def make_data(n_per_class, classes, device):
    """A spiral: ``classes`` arms of ``n_per_class`` noisy points each."""
    ts.manual_seed(0)
    t = ts.linspace(0.0, 1.0, n_per_class, device=device)
    xs, labels = [], []
    for c in range(classes):
        angle = t * 4.0 + c * (2 * np.pi / classes) + ts.randn(n_per_class, device=device) * 0.2
        xs.append(ts.stack([t * ts.sin(angle), t * ts.cos(angle)], axis=1))
        labels.append(ts.full((n_per_class,), c, dtype="int64", device=device))
    return ts.concat(xs), ts.concat(labels)


def init(shape, device):
    fan_in = shape[0]
    return ts.randn(*shape, device=device) * float(np.sqrt(2.0 / fan_in))


def train(device, steps=200, hidden=64, classes=3, n_per_class=200, lr=0.5):
    """Train on ``device``; returns (losses, final weights as NumPy, seconds per step)."""
    x, y = make_data(n_per_class, classes, device)
    n = x.shape[0]
    onehot = (ts.arange(classes, device=device)[None, :] == y[:, None]).astype("float32")
    w1, b1 = init((2, hidden), device), ts.zeros(hidden, device=device)
    w2, b2 = init((hidden, classes), device), ts.zeros(classes, device=device)
    losses = []
    start = None
    for step in range(steps + 1):
        if step == 1:  # the first step compiles kernels on opencl/cuda; time the rest
            device.synchronize()
            start = time.perf_counter()
        # forward
        h_pre = x @ w1 + b1
        h = ts.relu(h_pre)
        logits = h @ w2 + b2
        logp = ts.log_softmax(logits, axis=1)
        loss = -(logp * onehot).sum() / n
        if step % 50 == 0 or step == steps:
            losses.append(float(loss))
        if step == steps:
            break
        # backward, by hand
        dlogits = (ts.exp(logp) - onehot) / n
        dw2 = h.T @ dlogits
        db2 = dlogits.sum(axis=0)
        dh = (dlogits @ w2.T) * (h_pre > 0)
        dw1 = x.T @ dh
        db1 = dh.sum(axis=0)
        # update in place
        w1 -= lr * dw1
        b1 -= lr * db1
        w2 -= lr * dw2
        b2 -= lr * db2
    device.synchronize()
    per_step = (time.perf_counter() - start) / steps
    accuracy = float((ts.argmax(logits, axis=1) == y).astype("float32").mean())
    return losses, accuracy, [w.numpy() for w in (w1, b1, w2, b2)], per_step


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tensorswitch.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--device", action="append", help="only these devices (default: every usable one)")
    args = parser.parse_args(argv)
    devices = [ts.device(d) for d in args.device] if args.device else ts.devices()
    print(f"tensorswitch {ts.__version__}: a 2-layer MLP, {args.steps} steps, on {', '.join(map(str, devices))}\n")
    print(f"{'device':<10} {'loss at 0 / 50 / ... / end':<44} {'accuracy':>8} {'max |w - w_cpu|':>16} "
          f"{'ms/step':>8}")
    reference = None
    for device in devices:
        losses, accuracy, weights, per_step = train(device, args.steps)
        if reference is None:
            reference = weights
        diff = max(float(np.max(np.abs(w - r))) for w, r in zip(weights, reference))
        trail = " ".join(f"{v:.4f}" for v in losses)
        print(f"{str(device):<10} {trail:<44} {accuracy:>8.3f} {diff:>16.2e} {per_step * 1e3:>8.2f}")


if __name__ == "__main__":
    main()
