"""The fused ops (Note [Kernel contract], "Fused ops"): cross_entropy's nll_log_softmax pair and linear.

The conformance samples (tensorswitch/testing/samples/fused.py) check each kernel where a device registers it; these
tests check what users see: the public functions take the fused kernel where there is one and the composition where
there is not, with the same answers, the same errors and the same gradients, on every device.
"""

import numpy as np
import pytest
import torch

import tensorswitch as ts
from tensorswitch.dispatch import nnops
from tensorswitch.dispatch.registry import registry

F = ts.nn.functional


def _has(op, device, dtype=ts.float32):
    return (op, device.type, dtype) in registry.fast


@pytest.fixture
def without(request):
    """Take the named fused kernels out of the registry's fast table for one test (the composition then runs)."""
    removed = {}

    def remove(*ops):
        for key in list(registry.fast):
            if key[0] in ops:
                removed[key] = registry.fast.pop(key)

    yield remove
    registry.fast.update(removed)


def _torch_cross_entropy(x, y, reduction):
    tx = torch.from_numpy(x.astype(np.float64)).requires_grad_()
    loss = torch.nn.functional.cross_entropy(tx, torch.from_numpy(y), reduction=reduction)
    loss.backward()
    return loss.item(), tx.grad.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_cross_entropy_fused_and_composed_agree_with_torch(device, without, rng, reduction, layout):
    x = rng.standard_normal((37, 11)).astype(np.float32)
    y = rng.integers(0, 11, 37)
    want_loss, want_grad = _torch_cross_entropy(x, y, reduction)
    results = []
    for fused in (True, False):
        if not fused:
            without("nll_log_softmax", "nll_log_softmax_backward")
        t = ts.asarray(np.ascontiguousarray(x.T), device=device).T if layout == "transposed" else \
            ts.asarray(x, device=device)
        t.requires_grad_()
        loss = F.cross_entropy(t, ts.asarray(y, device=device), reduction=reduction)
        assert loss.grad_fn.name == "nll_log_softmax"  # one node either way
        loss.backward()
        results.append((loss.item(), t.grad.numpy()))
        np.testing.assert_allclose(results[-1][0], want_loss, rtol=2e-6)
        np.testing.assert_allclose(results[-1][1], want_grad, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("bad", [11, -1, 1 << 40])
def test_cross_entropy_bad_target_raises_naming_it(device, rng, bad):
    x = ts.asarray(rng.standard_normal((5, 11)).astype(np.float32), device=device, requires_grad=True)
    y = np.array([0, 3, bad, 10, 1])
    with pytest.raises(IndexError, match=rf"cross_entropy: target {bad} is out of bounds for 11 classes"):
        F.cross_entropy(x, ts.asarray(y, device=device))


def test_cross_entropy_ignore_index_leaves_the_fused_path(device, rng):
    """A target equal to ignore_index is not a class: the kernel reports it and the general path masks it."""
    x = rng.standard_normal((6, 4)).astype(np.float32)
    y = np.array([0, -100, 3, 2, -100, 1])
    t = ts.asarray(x, device=device, requires_grad=True)
    loss = F.cross_entropy(t, ts.asarray(y, device=device))
    assert loss.grad_fn.name != "nll_log_softmax"
    loss.backward()
    want_loss, want_grad = _torch_cross_entropy(x, y, "mean")
    np.testing.assert_allclose(loss.item(), want_loss, rtol=2e-6)
    np.testing.assert_allclose(t.grad.numpy(), want_grad, rtol=1e-5, atol=1e-7)


def test_cross_entropy_second_derivative_composes(rng):
    """create_graph=True takes the composed backward (differentiable ops), so double backward works."""
    x = rng.standard_normal((4, 5))
    y = rng.integers(0, 5, 4)
    t = ts.asarray(x, requires_grad=True)
    (g,) = ts.autograd.grad(F.cross_entropy(t, ts.asarray(y)), t, create_graph=True)
    (gg,) = ts.autograd.grad(ts.sum(g * g), t)
    tx = torch.from_numpy(x).requires_grad_()
    (tg,) = torch.autograd.grad(torch.nn.functional.cross_entropy(tx, torch.from_numpy(y)), tx, create_graph=True)
    (tgg,) = torch.autograd.grad((tg * tg).sum(), tx)
    np.testing.assert_allclose(gg.numpy(), tgg.numpy(), rtol=1e-10, atol=1e-14)


def test_nll_log_softmax_backward_is_none_without_a_kernel(without, rng):
    without("nll_log_softmax_backward")
    x = ts.asarray(rng.standard_normal((3, 4)).astype(np.float32))
    assert nnops.nll_log_softmax_backward(x, ts.asarray([[0], [1], [2]]), ts.asarray(np.float32(1)), True) is None


@pytest.mark.parametrize("shape", [(16, 9, 5), (1, 4, 1), (3, 0, 2)])
def test_linear_fused_and_composed_agree(device, without, rng, shape):
    m, k, n = shape
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((m, k), (n, k), (n,)))
    want = x.astype(np.float64) @ w.astype(np.float64).T + b
    got = []
    for fused in (True, False):
        if not fused:
            without("linear")
        got.append(F.linear(*(ts.asarray(a, device=device) for a in (x, w, b))).numpy())
        np.testing.assert_allclose(got[-1], want, rtol=1e-5, atol=1e-5)


def test_linear_with_grad_matches_torch(device, rng):
    x, w, b = (rng.standard_normal(s) for s in ((8, 6), (3, 6), (3,)))
    ts_args = [ts.asarray(a, device=device, requires_grad=True) for a in (x, w, b)]
    out = F.linear(*ts_args)
    assert out.grad_fn.name == "linear"
    ts.sum(out * out).backward()
    th = [torch.from_numpy(a).requires_grad_() for a in (x, w, b)]
    (torch.nn.functional.linear(*th) ** 2).sum().backward()
    for ours, theirs in zip(ts_args, th):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_cpu_registers_the_fused_kernels():
    cpu = ts.device("cpu")
    for op in ("nll_log_softmax", "nll_log_softmax_backward", "linear"):
        for dt in (ts.float16, ts.float32, ts.float64):
            assert _has(op, cpu, dt), (op, dt)


def test_where_fast_path_matches_the_general_one(device, rng):
    x = ts.asarray(rng.standard_normal((5, 7)).astype(np.float32), device=device)
    mask = x > 0
    fast = ts.where(mask, x, 0.0)  # the fast path: a bool mask, a tensor of its shape, a float
    general = ts.where(mask, x, ts.zeros((), dtype=ts.float32, device=device))  # a 0-d tensor: broadcast
    np.testing.assert_array_equal(fast.numpy(), general.numpy())
    np.testing.assert_array_equal(fast.numpy(), np.where(mask.numpy(), x.numpy(), np.float32(0)))
    assert fast.dtype == ts.float32
