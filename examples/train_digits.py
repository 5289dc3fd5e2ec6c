"""Train a small CNN on handwritten digits with tensorswitch, written the way PyTorch's tutorials are.

    python examples/train_digits.py                   # on DEVICE below
    python examples/train_digits.py --device opencl   # or "cuda", or a plugin's device

Coming from PyTorch: read ``ts`` as ``torch``.  ``ts.nn``, ``ts.optim``, ``ts.utils.data`` and ``ts.save``/``ts.load``
follow torch's API, and the only thing to change to train elsewhere is the device string.  The data are the 1,797
8x8 digits that ship with tensorswitch (scikit-learn's copy), so nothing is downloaded.
"""

import argparse
import os

import numpy as np

import tensorswitch as ts
from tensorswitch import nn
from tensorswitch.utils.data import DataLoader, TensorDataset

DEVICE = "cpu"  # the one line to change: "opencl", "cuda", "cuda:1", a plugin's device...


class Net(nn.Module):
    def __init__(self):
        super().__init__()  # registers the layers below as submodules, as in torch
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(16 * 2 * 2, 10)

    def forward(self, x):                              # x: (N, 1, 8, 8)
        x = self.pool(nn.functional.relu(self.conv1(x)))  # (N, 8, 4, 4)
        x = self.pool(nn.functional.relu(self.conv2(x)))  # (N, 16, 2, 2)
        x = x.reshape(x.shape[0], -1)                  # torch: torch.flatten(x, 1)
        return self.fc(x)                              # logits (N, 10)


def digits(limit=None):
    """Train and test sets as TensorDatasets: images (N, 1, 8, 8) scaled to [0, 1], labels int64 (torch's long)."""
    with np.load(os.path.join(os.path.dirname(ts.__file__), "data", "digits.npz")) as f:
        images = f["images"][:, None].astype(np.float32) / 16.0
        labels = f["target"].astype(np.int64)
    order = np.random.default_rng(0).permutation(len(images))  # a fixed split: 360 test images, the rest to train
    test, train = order[:360], order[360:][:limit]
    return (TensorDataset(ts.asarray(images[train]), ts.asarray(labels[train])),
            TensorDataset(ts.asarray(images[test]), ts.asarray(labels[test])))


def evaluate(model, loader, device):
    model.eval()
    correct = 0
    with ts.no_grad():  # no graph is recorded: faster, and nothing to backpropagate
        for images, labels in loader:
            logits = model(images.to(device))
            correct += int((ts.argmax(logits, axis=1) == labels.to(device)).sum())
    return correct / len(loader.dataset)


def main():
    parser = argparse.ArgumentParser(description="Train a CNN on the digits.")
    parser.add_argument("--device", default=DEVICE)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--limit", type=int, help="use only the first N training samples")
    parser.add_argument("--save", default="digits_cnn.safetensors", help="where to save the trained weights")
    args = parser.parse_args()
    device = args.device

    ts.manual_seed(0)  # torch.manual_seed: the same weights and batches on every run and every device
    train_set, test_set = digits(args.limit)
    train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=256)

    model = Net().to(device)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = ts.optim.Adam(model.parameters(), lr=1e-2)

    for epoch in range(args.epochs):
        model.train()
        running = 0.0
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(images), labels)
            loss.backward()
            optimizer.step()
            running += loss.item()
        print(f"epoch {epoch + 1}: loss {running / len(train_loader):.4f}, "
              f"test accuracy {evaluate(model, test_loader, device):.3f}")

    # Save the weights (a safetensors file: loading it never runs code) and load them into a fresh model.
    ts.save(model.state_dict(), args.save)
    restored = Net().to(device)
    restored.load_state_dict(ts.load(args.save, map_location=device))
    print(f"saved to {args.save}; reloaded, test accuracy {evaluate(restored, test_loader, device):.3f}")


if __name__ == "__main__":
    main()
