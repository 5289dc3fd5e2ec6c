"""Training end to end on every usable device: ts.nn + ts.optim + ts.utils.data + ts.save/ts.load together.

A CNN (conv, batchnorm, pool, dropout, linear) and an MLP learn the bundled digits for 50 steps with SGD(momentum)
and with Adam, from one ``ts.manual_seed``, the model built on cpu and moved (``Net().to(device)``, as users write
it), batches from a shuffled DataLoader: every device must match cpu to 1e-4 for 30 steps and end within 1e-2 (float32).  Then the seed's reach
(initialisation, dropout masks, shuffling; Note [Identical initial weights] in ts.nn.init), a checkpoint saved on one
device and resumed on cpu (model and optimiser state through ts.save / ts.load(map_location="cpu")), and the
gradient rules a training loop meets (integer results, in-place writes into parameters).

Each device is compared with a cpu run of the same recipe; the cpu runs are computed once per module.
"""

import functools

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch.demo import load_digits

nn, F = ts.nn, ts.nn.functional

STEPS, BATCH = 50, 64  # 1438 training images: 23 batches an epoch, so 50 steps reshuffle twice and meet a short batch
ATOL = 1e-4
TIGHT_STEPS, DRIFT = 30, 1e-2  # see test_training_matches_cpu


@functools.lru_cache(maxsize=None)
def digits():
    x, y, _, _ = load_digits()
    return x, y


def make_cnn(device=None):
    # No bias on the conv that feeds BatchNorm: BN removes the channel mean, so that bias's gradient is pure rounding
    # noise, which Adam normalises into full-size steps of a device-dependent sign (it is dead weight in PyTorch too).
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1, bias=False, device=device), nn.BatchNorm2d(6, device=device), nn.ReLU(),
        nn.MaxPool2d(2),                                                       # -> (N, 6, 4, 4)
        nn.Conv2d(6, 8, 3, padding=1, device=device), nn.ReLU(), nn.AvgPool2d(2),  # -> (N, 8, 2, 2)
        nn.Dropout(0.2), nn.Flatten(), nn.Linear(32, 10, device=device))


def make_mlp(device=None):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32, device=device), nn.Tanh(), nn.Dropout(0.25),
                         nn.Linear(32, 32, device=device), nn.ReLU(), nn.Linear(32, 10, device=device))


MODELS = {"cnn": make_cnn, "mlp": make_mlp}
OPTIMIZERS = {"sgd": lambda params: ts.optim.SGD(params, lr=0.1, momentum=0.9),
              "adam": lambda params: ts.optim.Adam(params, lr=1e-2)}


def state_arrays(model):
    return {k: v.numpy() for k, v in model.state_dict().items()}


def assert_same_state(actual, expected, atol=ATOL, what=""):
    assert list(actual) == list(expected), what
    for k, e in expected.items():
        a = actual[k]
        assert a.dtype == e.dtype and a.shape == e.shape, f"{what} {k}"
        if e.dtype.kind == "f":
            np.testing.assert_allclose(a, e, rtol=0, atol=atol, err_msg=f"{what} {k}")
        else:  # num_batches_tracked
            np.testing.assert_array_equal(a, e, err_msg=f"{what} {k}")


def fit(model, optimizer, batches, device, loss_fn=F.cross_entropy):
    """One optimiser step per (x, y) pair of ``batches`` (ts tensors on any device); returns the losses."""
    model.train()
    losses = []
    for xb, yb in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(xb.to(device)), yb.to(device))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def loader_batches(loader, steps):
    """The first ``steps`` batches of ``loader``, epoch after epoch (each epoch reshuffles)."""
    while True:
        for batch in loader:
            yield batch
            steps -= 1
            if steps == 0:
                return


@functools.lru_cache(maxsize=None)
def train(device, model_name, opt_name):
    """The recipe users write: seed, build on cpu, move, shuffle, train.  Returns (losses, state arrays, eval
    logits of a few training images)."""
    x, y = digits()
    ts.manual_seed(0)
    model = MODELS[model_name]().to(device)
    optimizer = OPTIMIZERS[opt_name](model.parameters())
    if model_name == "mlp":  # the dataset on the device (the batch gather runs there) ...
        dataset = ts.utils.data.TensorDataset(ts.asarray(x, device=device), ts.asarray(y, device=device))
    else:  # ... or on cpu, each batch moved (the README's way)
        dataset = ts.utils.data.TensorDataset(ts.asarray(x), ts.asarray(y))
    loader = ts.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True)
    losses = fit(model, optimizer, loader_batches(loader, STEPS), device)
    assert all(p.device == ts.device(device) and p.dtype == ts.float32 for p in model.parameters())
    model.eval()
    with ts.no_grad():
        logits = model(ts.asarray(x[:16], device=device)).numpy()
    return losses, state_arrays(model), logits


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("model_name", list(MODELS))
def test_training_matches_cpu(device, model_name, opt_name):
    ref_losses, ref_state, ref_logits = train("cpu", model_name, opt_name)
    losses, state, logits = train(str(device), model_name, opt_name)
    assert len(losses) == STEPS
    assert np.mean(ref_losses[-5:]) < 0.5 * ref_losses[0], ref_losses  # it learned: the comparison means something
    # Float32 runs whose sums are ordered differently (vector widths, work-groups) agree to rounding until a near-tie
    # (a max-pool window, a ReLU at zero) is taken the other way: a gradient's worth of difference at one step, which
    # later steps carry.  On two cores of an AVX-512 AMD EPYC (8-float OpenCL vectors) cnn/sgd met one at step 36 and
    # ended 5e-4 apart.  So the first TIGHT_STEPS are held to 1e-4 and the end of the run to DRIFT.
    np.testing.assert_allclose(losses[:TIGHT_STEPS], ref_losses[:TIGHT_STEPS], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(losses, ref_losses, rtol=DRIFT)
    assert_same_state(state, ref_state, atol=DRIFT, what=f"{model_name}/{opt_name} on {device}")
    np.testing.assert_allclose(logits, ref_logits, rtol=DRIFT, atol=DRIFT * np.abs(ref_logits).max())


# -- ts.manual_seed covers initialisation, dropout and shuffling ----------------------------------------------------

def random_parts(seed, device):
    """What one seed decides, in the order a training script meets it: weights, a dropout mask, two epochs of a
    shuffled DataLoader, then a plain ts.rand draw (which shows how far the stream advanced)."""
    ts.manual_seed(seed)
    weights = state_arrays(make_cnn(device=device))
    mask = nn.Dropout(0.5)(ts.ones((8, 16), device=device)).numpy()
    loader = ts.utils.data.DataLoader(ts.utils.data.TensorDataset(ts.arange(40, device=device)), batch_size=7,
                                      shuffle=True)
    orders = [[int(i) for (b,) in loader for i in b.tolist()] for _ in range(2)]
    return weights, mask, orders, ts.rand(5).numpy()


def test_manual_seed_covers_initialisation_dropout_and_shuffling(device):
    weights, mask, orders, after = random_parts(3, device)
    again = random_parts(3, device)
    other = random_parts(4, device)
    on_cpu = random_parts(3, "cpu")
    for name, a, b, c in zip(("weights", "mask", "orders", "next draw"), (weights, mask, orders, after), again,
                             on_cpu):
        if isinstance(a, dict):
            for k in a:
                np.testing.assert_array_equal(a[k], b[k], err_msg=f"{name} {k}")
                np.testing.assert_array_equal(a[k], c[k], err_msg=f"{name} {k} against cpu")
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)
            np.testing.assert_array_equal(a, c, err_msg=f"{name} against cpu")
    # a different seed changes every part (the int64 counter and the constant BN buffers excepted)
    assert any(not np.array_equal(weights[k], other[0][k]) for k in weights)
    assert not np.array_equal(weights["0.weight"], other[0]["0.weight"])
    assert not np.array_equal(mask, other[1]) and not np.array_equal(orders, other[2])
    assert not np.array_equal(after, other[3])
    # the parts are real: a mask of zeros and twos, and each epoch a permutation of its own
    assert set(np.unique(mask)) == {0.0, 2.0}
    assert sorted(orders[0]) == sorted(orders[1]) == list(range(40)) and orders[0] != orders[1]


def test_same_initial_weights_built_on_cpu_moved_or_built_on_the_device(device):
    runs = []
    for build in (lambda: make_cnn(), lambda: make_cnn().to(device), lambda: make_cnn(device=device)):
        ts.manual_seed(0)
        model = build()
        # the next draw shows the generator advanced the same way: a dropout mask on the device comes next
        runs.append((model, state_arrays(model), F.dropout(ts.ones(64, device=device), 0.5).numpy()))
    (_, ref, ref_mask), (moved, *_), (built, *_) = runs
    for model in (moved, built):
        assert all(t.device == ts.device(device) for t in list(model.parameters()) + list(model.buffers()))
    for _, state, mask in runs[1:]:
        assert_same_state(state, ref, atol=0)
        np.testing.assert_array_equal(mask, ref_mask)


# -- checkpoints: state_dict -> ts.save -> ts.load(map_location="cpu") -> load_state_dict ---------------------------

def fixed_batches(n, seed=0):
    x, y = digits()
    rng = np.random.default_rng(seed)
    rows = [rng.choice(len(x), BATCH, replace=False) for _ in range(n)]
    return [(ts.asarray(x[r]), ts.asarray(y[r])) for r in rows]


def flat_state(opt_state):
    """An optimiser state dict as {"state.<param>.<name>": array, "param_groups": [...]}, for comparisons."""
    out = {"param_groups": opt_state["param_groups"]}
    for i, entry in opt_state["state"].items():
        for name, value in entry.items():
            out[f"state.{i}.{name}"] = value.numpy() if isinstance(value, ts.Tensor) else value
    return out


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_checkpoint_from_device_resumes_on_cpu(device, opt_name, tmp_path):
    before, after = fixed_batches(10, seed=1), fixed_batches(15, seed=2)
    ts.manual_seed(0)
    model = make_cnn().to(device)
    optimizer = OPTIMIZERS[opt_name](model.parameters())
    fit(model, optimizer, before, device)
    saved_model, saved_opt = state_arrays(model), flat_state(optimizer.state_dict())
    path = tmp_path / "ckpt.safetensors"
    ts.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3}, path)

    ckpt = ts.load(path, map_location="cpu")
    assert ckpt["epoch"] == 3 and list(ckpt["model"]) == list(saved_model)
    assert all(t.device == ts.device("cpu") for t in ckpt["model"].values())
    assert_same_state({k: v.numpy() for k, v in ckpt["model"].items()}, saved_model, atol=0, what="loaded")

    def restore(with_optimizer=True):
        ts.manual_seed(1)  # other initial weights: only the load can make them equal
        restored = make_cnn()
        assert not np.array_equal(restored[0].weight.numpy(), saved_model["0.weight"])
        result = restored.load_state_dict(ckpt["model"])
        assert result.missing_keys == [] and result.unexpected_keys == []
        opt = OPTIMIZERS[opt_name](restored.parameters())
        if with_optimizer:
            opt.load_state_dict(ckpt["optimizer"])
        return restored, opt

    restored, restored_opt = restore()
    assert all(p.device == ts.device("cpu") for p in restored.parameters())
    assert_same_state(state_arrays(restored), saved_model, atol=0, what="restored")
    restored_state = flat_state(restored_opt.state_dict())
    assert restored_state.keys() == saved_opt.keys() and restored_state["param_groups"] == saved_opt["param_groups"]
    for k, v in saved_opt.items():
        if k != "param_groups":
            np.testing.assert_array_equal(restored_state[k], v, err_msg=k)
    for entry in restored_opt.state.values():  # the moments live with their (cpu) parameters
        assert all(v.device == ts.device("cpu") for n, v in entry.items() if isinstance(v, ts.Tensor) and n != "step")

    # continued training: the original on its device and the copy on cpu, from the same seed (dropout masks)
    ts.manual_seed(7)
    fit(model, optimizer, after, device)
    ts.manual_seed(7)
    fit(restored, restored_opt, after, "cpu")
    assert_same_state(state_arrays(restored), state_arrays(model), what="continued")
    # the optimiser's state matters: resuming without it ends elsewhere
    fresh, fresh_opt = restore(with_optimizer=False)
    ts.manual_seed(7)
    fit(fresh, fresh_opt, after, "cpu")
    gap = max(np.abs(fresh[-1].weight.numpy() - restored[-1].weight.numpy()).max(),
              np.abs(fresh[0].weight.numpy() - restored[0].weight.numpy()).max())
    assert gap > 100 * ATOL, gap


def test_load_state_dict_across_devices_without_a_file(device):
    ts.manual_seed(0)
    source = make_mlp().to(device)
    ts.manual_seed(5)
    target = make_mlp()
    assert target.load_state_dict(source.state_dict()) is not None
    assert_same_state(state_arrays(target), state_arrays(source), atol=0)
    assert all(p.device == ts.device("cpu") and p.is_leaf and p.requires_grad for p in target.parameters())
    # and back the other way, onto the device, keeping the Parameter objects
    params = list(source.parameters())
    ts.manual_seed(6)
    source.load_state_dict(make_mlp().state_dict())
    assert list(source.parameters()) == params and all(p.device == ts.device(device) for p in params)


# -- the gradient rules a training loop meets -----------------------------------------------------------------------

def test_predictions_carry_no_gradient_and_parameters_refuse_in_place_writes(device):
    ts.manual_seed(0)
    model = make_mlp().to(device)
    x = ts.asarray(digits()[0][:8], device=device)
    logits = model(x)
    assert logits.requires_grad
    predictions = ts.argmax(logits, axis=1)  # integer results carry no gradient
    correct = predictions == ts.asarray(digits()[1][:8], device=device)
    for r in (predictions, correct, F.one_hot(predictions, 10)):
        assert not r.requires_grad and r.grad_fn is None
    with pytest.raises(RuntimeError, match="integer and bool results carry no gradient"):
        correct.sum().backward()
    with pytest.raises(ts.UnsupportedDtypeError, match="only floating-point tensors can require gradients"):
        predictions.requires_grad_()
    # an in-place update of a parameter outside no_grad is refused; the optimiser's way (no_grad) works
    logits.sum().backward()
    weight = model[1].weight
    before = weight.numpy()
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad cannot be modified in place.*no_grad"):
        weight -= 0.1 * weight.grad
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad cannot be modified in place"):
        F.relu(weight, inplace=True)
    np.testing.assert_array_equal(weight.numpy(), before)
    with ts.no_grad():
        weight -= 0.1 * weight.grad
    np.testing.assert_allclose(weight.numpy(), before - 0.1 * weight.grad.numpy(), rtol=1e-6, atol=1e-7)
    assert weight is model[1].weight and weight.is_leaf and weight.requires_grad
