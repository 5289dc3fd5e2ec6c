"""ts.nn against PyTorch: every layer's forward and backward in float64 on the same weights and inputs, the losses
over their options, Module mechanics (state dicts, to(), repr, hooks, containers), initialisation and a short
training run that must agree between cpu and each accelerator (opencl, cuda where present).

Weights travel from torch to ts through ``load_state_dict`` of NumPy-converted state dicts, which works only because
ts.nn's state dict keys are PyTorch's.
"""

import math
import warnings

import numpy as np
import pytest

import tensorswitch as ts
import tensorswitch.nn as nn
import tensorswitch.nn.functional as F

torch = pytest.importorskip("torch")
tnn, TF = torch.nn, torch.nn.functional

RTOL, ATOL = 1e-10, 1e-12


def _usable_with_float64(name):
    try:
        dev = ts.device(name)
    except Exception:  # noqa: BLE001  (no such platform or driver on this machine)
        return False
    return ts.float64 in dev.supported_dtypes()


# the accelerators every layer is also checked on (float64 comparisons need float64 kernels); the cross-device tests
# compare each of them with cpu
ACCELERATORS = [name for name in ("opencl", "cuda") if _usable_with_float64(name)]
DEVICES = ["cpu"] + ACCELERATORS
on_accelerators = pytest.mark.parametrize(
    "accel", ACCELERATORS or [pytest.param("opencl", marks=pytest.mark.skip(reason="no OpenCL or CUDA device with "
                                                                                   "float64 here"))])


# -- helpers --------------------------------------------------------------------------------------------------------

def np_of(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.numpy()


def assert_close(actual, expected, rtol=RTOL, atol=ATOL, what=""):
    a, e = np_of(actual), np_of(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=what)


def torch_state(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def run_pair(t_mod, s_mod, inputs, device="cpu", grad_inputs=None, rtol=RTOL, atol=ATOL, seed=0):
    """Run torch's and ts's module on the same weights and ``inputs`` (NumPy arrays); compare outputs, the
    gradients of the float inputs and of every parameter for a random output gradient.  Returns the ts module."""
    s_mod.load_state_dict(torch_state(t_mod))
    s_mod.to(device)
    grad_inputs = [a.dtype.kind == "f" for a in inputs] if grad_inputs is None else grad_inputs
    t_in = [torch.tensor(a, requires_grad=g) for a, g in zip(inputs, grad_inputs)]
    s_in = [ts.asarray(a, device=device, requires_grad=g) for a, g in zip(inputs, grad_inputs)]
    t_out, s_out = t_mod(*t_in), s_mod(*s_in)
    assert s_out.device == ts.device(device)
    assert_close(s_out, t_out, rtol, atol, "forward")
    g = np.random.default_rng(seed).standard_normal(tuple(t_out.shape))
    t_out.backward(torch.tensor(g))
    s_out.backward(ts.asarray(g, device=device))
    for i, (t, s) in enumerate(zip(t_in, s_in)):
        if t.requires_grad:
            assert_close(s.grad, t.grad, rtol, atol, f"grad of input {i}")
    t_params, s_params = dict(t_mod.named_parameters()), dict(s_mod.named_parameters())
    assert list(t_params) == list(s_params)
    for name, tp in t_params.items():
        if tp.grad is None:
            assert s_params[name].grad is None, name
        else:
            assert_close(s_params[name].grad, tp.grad, rtol, atol, f"grad of {name}")
    for name, tb in t_mod.named_buffers():  # BatchNorm's running statistics
        assert_close(dict(s_mod.named_buffers())[name], tb, rtol, atol, f"buffer {name}")
    return s_mod


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


F64 = dict(dtype=torch.float64)
S64 = dict(dtype=ts.float64)


# -- layers ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dev", DEVICES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear(dev, bias):
    torch.manual_seed(0)
    t = tnn.Linear(5, 3, bias=bias, **F64)
    s = nn.Linear(5, 3, bias=bias, **S64)
    for shape in [(4, 5), (2, 3, 5), (5,)]:
        run_pair(t, s, [randn(*shape)], dev)
        t.zero_grad(), s.zero_grad()


CONV_CASES = [
    dict(),
    dict(stride=2),
    dict(stride=(2, 1), padding=(1, 2)),
    dict(padding=2, dilation=2),
    dict(groups=2, padding=1),
    dict(groups=4, stride=2, dilation=(1, 2), bias=False),
    dict(padding="same"),
    dict(padding="same", dilation=2, kernel_size=(2, 4)),  # an even kernel: the odd total padding goes last
    dict(padding="valid", kernel_size=1),
    dict(kernel_size=1),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "plain")
def test_conv2d(case):
    case = dict(case)
    kernel = case.pop("kernel_size", 3)
    torch.manual_seed(1)
    t = tnn.Conv2d(4, 8, kernel, **case, **F64)
    s = nn.Conv2d(4, 8, kernel, **case, **S64)
    run_pair(t, s, [randn(2, 4, 9, 8)])
    assert repr(s) == repr(t)


@pytest.mark.parametrize("dev", DEVICES)
def test_conv2d_device_and_unbatched(dev):
    torch.manual_seed(2)
    t = tnn.Conv2d(3, 6, (3, 2), stride=(1, 2), padding=1, groups=3, **F64)
    s = nn.Conv2d(3, 6, (3, 2), stride=(1, 2), padding=1, groups=3, **S64)
    run_pair(t, s, [randn(2, 3, 7, 6)], dev)
    t.zero_grad(), s.zero_grad()
    run_pair(t, s, [randn(3, 7, 6)], dev)  # (C, H, W): no batch dim


def test_conv2d_errors():
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(ts.ShapeError,
                       match=r"Conv2d\(3, 4, kernel_size=\(3, 3\).*expects an input with 3 channels.*\(1, 5, 8, 8\)"):
        conv(ts.zeros((1, 5, 8, 8)))
    with pytest.raises(ts.ShapeError, match=r"smaller than the kernel"):
        conv(ts.zeros((1, 3, 2, 8)))
    with pytest.raises(ts.ShapeError, match="3-D .* or 4-D"):
        conv(ts.zeros((3, 8)))
    with pytest.raises(NotImplementedError, match="padding_mode='reflect'"):
        nn.Conv2d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)


POOL_CASES = [
    (tnn.MaxPool2d, nn.MaxPool2d, dict(kernel_size=2)),
    (tnn.MaxPool2d, nn.MaxPool2d, dict(kernel_size=3, stride=2, padding=1)),
    (tnn.MaxPool2d, nn.MaxPool2d, dict(kernel_size=(2, 3), stride=1, dilation=2, ceil_mode=True)),
    (tnn.AvgPool2d, nn.AvgPool2d, dict(kernel_size=2)),
    (tnn.AvgPool2d, nn.AvgPool2d, dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    (tnn.AvgPool2d, nn.AvgPool2d, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (tnn.AvgPool2d, nn.AvgPool2d, dict(kernel_size=2, divisor_override=3)),
    (tnn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool2d, dict(output_size=1)),
    (tnn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool2d, dict(output_size=(3, 2))),  # 7 -> 3 windows overlap
    (tnn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool2d, dict(output_size=(None, 5))),
    (tnn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool2d, dict(output_size=(9, 4))),  # larger than the input
]


@pytest.mark.parametrize("t_cls,s_cls,kw", POOL_CASES, ids=lambda v: v if isinstance(v, dict) else "")
def test_pooling(t_cls, s_cls, kw):
    t, s = t_cls(**kw), s_cls(**kw)
    assert repr(s) == repr(t)
    run_pair(t, s, [randn(2, 3, 7, 8)])
    run_pair(t, s, [randn(3, 7, 8)])


@pytest.mark.parametrize("dev", DEVICES)
def test_pooling_devices(dev):
    x = randn(2, 2, 6, 7)
    run_pair(tnn.MaxPool2d(3, 2, 1), nn.MaxPool2d(3, 2, 1), [x], dev)
    run_pair(tnn.AdaptiveAvgPool2d((4, 3)), nn.AdaptiveAvgPool2d((4, 3)), [x], dev)


def test_max_pool2d_ties_and_errors():
    x = np.ones((1, 1, 4, 4))  # every window ties: the first maximum takes the gradient, as in PyTorch
    run_pair(tnn.MaxPool2d(2, 1), nn.MaxPool2d(2, 1), [x])
    with pytest.raises(ValueError, match="at most half"):
        F.max_pool2d(ts.zeros((1, 1, 4, 4)), 2, padding=2)


@pytest.mark.parametrize("dev", DEVICES)
@pytest.mark.parametrize("kw", [dict(), dict(momentum=None), dict(affine=False), dict(track_running_stats=False),
                                dict(momentum=0.3, eps=1e-3, bias=False)], ids=str)
def test_batchnorm2d_train_then_eval(dev, kw):
    torch.manual_seed(3)
    t, s = tnn.BatchNorm2d(3, **kw, **F64), nn.BatchNorm2d(3, **kw, **S64)
    if t.affine:
        with torch.no_grad():
            t.weight.uniform_(0.5, 1.5)
            if t.bias is not None:
                t.bias.uniform_(-0.5, 0.5)
    s.load_state_dict(torch_state(t))
    for step in range(3):  # training steps update the running statistics (checked inside run_pair)
        run_pair(t, s, [randn(4, 3, 5, 2, seed=step) * 2 + 1], dev)
        t.zero_grad(), s.zero_grad()
    if t.track_running_stats:
        assert int(s.num_batches_tracked.item()) == 3 and s.num_batches_tracked.dtype == ts.int64
    t.eval(), s.eval()
    run_pair(t, s, [randn(2, 3, 4, 4, seed=9)], dev)
    assert repr(s) == repr(t)


def test_batchnorm1d():
    torch.manual_seed(4)
    t, s = tnn.BatchNorm1d(4, **F64), nn.BatchNorm1d(4, **S64)
    run_pair(t, s, [randn(6, 4)])
    t.zero_grad(), s.zero_grad()
    run_pair(t, s, [randn(3, 4, 5, seed=1)])
    t.eval(), s.eval()
    run_pair(t, s, [randn(2, 4, seed=2)])
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        s(ts.zeros((2, 4, 1, 1), dtype=ts.float64))
    s.train()
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        s(ts.zeros((1, 4), dtype=ts.float64))


@pytest.mark.parametrize("shape,kw", [((4,), dict()), ((3, 4), dict()), ((4,), dict(elementwise_affine=False)),
                                      ((4,), dict(bias=False, eps=1e-3))], ids=str)
def test_layernorm(shape, kw):
    torch.manual_seed(5)
    t, s = tnn.LayerNorm(shape, **kw, **F64), nn.LayerNorm(shape, **kw, **S64)
    if t.weight is not None:
        with torch.no_grad():
            t.weight.normal_()
            if t.bias is not None:
                t.bias.normal_()
    run_pair(t, s, [randn(2, 3, 4) * 3])
    assert repr(s) == repr(t)
    with pytest.raises(ts.ShapeError, match="normalized_shape"):
        s(ts.zeros((2, 5), dtype=ts.float64))


ACTIVATIONS = [(tnn.ReLU, nn.ReLU, {}), (tnn.GELU, nn.GELU, {}), (tnn.GELU, nn.GELU, dict(approximate="tanh")),
               (tnn.SiLU, nn.SiLU, {}), (tnn.Tanh, nn.Tanh, {}), (tnn.Sigmoid, nn.Sigmoid, {}),
               (tnn.Softmax, nn.Softmax, dict(dim=1)), (tnn.LogSoftmax, nn.LogSoftmax, dict(dim=-1)),
               (tnn.Softmax, nn.Softmax, dict(dim=0))]


@pytest.mark.parametrize("dev", DEVICES)
@pytest.mark.parametrize("t_cls,s_cls,kw", ACTIVATIONS, ids=lambda v: v.__name__ if isinstance(v, type) else str(v))
def test_activations(dev, t_cls, s_cls, kw):
    x = np.concatenate([randn(3, 40) * 4, np.linspace(-30, 30, 120).reshape(3, 40)], axis=1)
    run_pair(t_cls(**kw), s_cls(**kw), [x], dev)
    assert repr(s_cls(**kw)) == repr(t_cls(**kw))


@pytest.mark.parametrize("t_fn,s_fn", [(lambda x: torch.relu_(x), lambda x: F.relu(x, inplace=True)),
                                       (lambda x: TF.silu(x, inplace=True), lambda x: F.silu(x, inplace=True)),
                                       (lambda x: TF.dropout(x, 0.0, inplace=True),
                                        lambda x: F.dropout(x, 0.0, inplace=True))])
def test_inplace_activations(t_fn, s_fn):
    a = randn(3, 5)
    tx, sx = torch.tensor(a, requires_grad=True), ts.asarray(a, requires_grad=True)
    ty, sy = tx * 1.5, sx * 1.5  # non-leaf: in-place writes are allowed and recorded
    assert s_fn(sy) is sy
    t_fn(ty)
    assert_close(sy, ty)
    (ty * ty).sum().backward(), (sy * sy).sum().backward()
    assert_close(sx.grad, tx.grad)


def test_gelu_float32_and_extremes():
    x = np.array([-40.0, -8.0, -1e-8, 0.0, 1e-8, 3.0, 40.0])
    for dt, tdt, tol in ((ts.float64, torch.float64, 1e-14), (ts.float32, torch.float32, 2e-6)):
        out = F.gelu(ts.asarray(x, dtype=dt))
        assert out.dtype == dt
        assert_close(out, TF.gelu(torch.tensor(x, dtype=tdt)), rtol=tol, atol=tol)


def test_softmax_dims():
    x = ts.asarray(randn(2, 3, 4))
    tx = torch.tensor(randn(2, 3, 4))
    with pytest.warns(UserWarning, match="Implicit dimension"):
        out = F.softmax(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_close(out, TF.softmax(tx))  # legacy dim: 0 for a 3-D input
    assert F.softmax(ts.asarray(3.0), dim=0).item() == 1.0
    assert F.log_softmax(ts.asarray(3.0), dim=-1).item() == 0.0
    assert_close(F.log_softmax(x, 1, dtype=ts.float32), TF.log_softmax(tx, 1, dtype=torch.float32), rtol=1e-6)


def test_dropout():
    ts.manual_seed(7)
    x = ts.asarray(randn(200, 50) + 5, requires_grad=True)
    drop = nn.Dropout(0.3)
    assert repr(drop) == repr(tnn.Dropout(0.3))
    out = drop(x)
    kept = out.numpy() != 0
    assert 0.65 < kept.mean() < 0.75
    np.testing.assert_allclose(out.numpy()[kept], x.detach().numpy()[kept] / 0.7, rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.7, rtol=1e-6)
    drop.eval()
    assert drop(x) is x
    zeros = F.dropout(x, p=1.0)
    assert not zeros.numpy().any()
    ts.manual_seed(7)
    again = nn.Dropout(0.3)(x)
    np.testing.assert_array_equal(again.numpy(), out.numpy())  # the mask comes from ts's seeded generator
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


@on_accelerators
def test_dropout_same_mask_on_every_device(accel):
    x = randn(30, 20)
    ts.manual_seed(11)
    a = F.dropout(ts.asarray(x), 0.4)
    ts.manual_seed(11)
    b = F.dropout(ts.asarray(x, device=accel), 0.4)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    # one stream for every device (Note [Identical initial weights]): weights drawn on cpu, then a mask on the
    # accelerator, draw what a cpu-only run draws in the same order
    runs = []
    for dev in ("cpu", accel):
        ts.manual_seed(12)
        layer = nn.Linear(20, 20).to(dev)
        runs.append((layer.weight.numpy(), F.dropout(ts.asarray(x, device=dev), 0.4).numpy()))
    for first, second in zip(*runs):
        np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("dev", DEVICES)
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding(dev, padding_idx):
    torch.manual_seed(6)
    t = tnn.Embedding(7, 3, padding_idx=padding_idx, **F64)
    s = nn.Embedding(7, 3, padding_idx=padding_idx, **S64)
    assert repr(s) == repr(t)
    idx = np.array([[0, 2, 2, 6], [6, 1, 2, 5]])  # repeats: their gradients add up (a scatter-add)
    run_pair(t, s, [idx], dev)
    if padding_idx is not None:
        assert not s.weight.grad.numpy()[padding_idx % 7].any()


def test_embedding_init_and_errors():
    ts.manual_seed(0)
    e = nn.Embedding(1000, 8, padding_idx=3)
    w = e.weight.detach().numpy()
    assert not w[3].any()
    assert abs(w.mean()) < 0.05 and abs(w.std() - 1) < 0.05  # N(0, 1)
    with pytest.raises(IndexError, match="index 1000 is out of range"):
        e(ts.asarray([1, 1000]))
    with pytest.raises(IndexError, match="index -1"):
        e(ts.asarray([-1]))
    with pytest.raises(TypeError, match="integer tensor"):
        e(ts.asarray([1.0]))
    with pytest.raises(NotImplementedError, match="max_norm"):
        nn.Embedding(4, 2, max_norm=1.0)
    pre = nn.Embedding.from_pretrained(ts.asarray([[1.0, 2.0], [3.0, 4.0]]))
    assert not pre.weight.requires_grad and pre(ts.asarray([1])).tolist() == [[3.0, 4.0]]


def test_flatten_unflatten():
    x = randn(2, 3, 4, 5)
    for s, t in [(nn.Flatten(), tnn.Flatten()), (nn.Flatten(0, 2), tnn.Flatten(0, 2)),
                 (nn.Unflatten(1, (3, 1)), tnn.Unflatten(1, (3, 1))),
                 (nn.Unflatten(-1, (-1, 5)), tnn.Unflatten(-1, (-1, 5)))]:
        assert repr(s) == repr(t)
        run_pair(t, s, [x])
    assert F.flatten(ts.asarray(2.0)).shape == (1,)
    with pytest.raises(ts.ShapeError):
        nn.Unflatten(1, (2, 2))(ts.zeros((2, 3)))


def test_empty_batch():
    assert nn.Conv2d(2, 3, 3)(ts.zeros((0, 2, 5, 5))).shape == (0, 3, 3, 3)
    assert nn.Embedding(4, 2)(ts.zeros((0,), dtype=ts.int64)).shape == (0, 2)
    assert math.isnan(F.cross_entropy(ts.zeros((0, 3)), ts.zeros((0,), dtype=ts.int64)).item())


def test_deepcopy_and_pickle():
    import copy
    import pickle

    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert list(clone.state_dict()) == list(model.state_dict())
        assert isinstance(clone[0].weight, nn.Parameter) and clone[0].weight is not model[0].weight
        np.testing.assert_array_equal(clone[0].weight.numpy(), model[0].weight.numpy())
        clone(ts.ones((2, 2))).sum().backward()
        assert clone[0].weight.grad.shape == (3, 2) and model[0].weight.grad is None


def test_identity():
    x = ts.ones(3)
    assert nn.Identity(54, unused="x")(x) is x


# -- functional -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pad", [(1, 2), (0, 0, 2, 1), (-1, 2, 1, -2), (1, 1, 1, 1, 1, 1), (0, 0)])
def test_pad(pad):
    x = randn(2, 3, 4)
    tx, sx = torch.tensor(x, requires_grad=True), ts.asarray(x, requires_grad=True)
    t_out, s_out = TF.pad(tx, pad, value=1.5), F.pad(sx, pad, value=1.5)
    assert_close(s_out, t_out)
    g = randn(*t_out.shape, seed=1)
    t_out.backward(torch.tensor(g)), s_out.backward(ts.asarray(g))
    assert_close(sx.grad, tx.grad)
    with pytest.raises(NotImplementedError, match="reflect"):
        F.pad(sx, (1, 1), mode="reflect")


def test_one_hot():
    idx = ts.asarray([[0, 3], [2, 1]])
    out = F.one_hot(idx)
    assert out.dtype == ts.int64 and out.shape == (2, 2, 4)
    np.testing.assert_array_equal(out.numpy(), TF.one_hot(torch.tensor([[0, 3], [2, 1]])).numpy())
    assert F.one_hot(ts.asarray([1]), num_classes=5).tolist() == [[0, 1, 0, 0, 0]]
    with pytest.raises(ValueError, match="non-negative"):
        F.one_hot(ts.asarray([-1, 0]))
    with pytest.raises(ValueError, match="smaller than num_classes"):
        F.one_hot(ts.asarray([3]), num_classes=3)
    with pytest.raises(TypeError, match="integer"):
        F.one_hot(ts.asarray([1.0]))


def test_linear_shape_error():
    with pytest.raises(ts.ShapeError, match=r"\(2, 3\).*\(4, 5\).*in_features=5"):
        F.linear(ts.zeros((2, 3)), ts.zeros((4, 5)))
    with pytest.raises(ts.ShapeError, match=r"^Linear\(in_features=5, out_features=4, bias=True\): linear:"):
        nn.Linear(5, 4)(ts.zeros((2, 3)))


@on_accelerators
def test_device_mismatch_names_the_layer(accel):
    x = ts.zeros((1, 3, 4, 4), device=accel)
    with pytest.raises(ts.DeviceMismatchError, match=rf"^Conv2d\(3, 2.*conv2d: input is on {accel} but weight is on "
                                                     rf"cpu; move the module with model.to\('{accel}'\)"):
        nn.Conv2d(3, 2, 3)(x)
    with pytest.raises(ts.DeviceMismatchError, match="cross_entropy: input is on cpu but target"):
        F.cross_entropy(ts.zeros((1, 2)), ts.asarray([1], device=accel))


# -- losses ---------------------------------------------------------------------------------------------------------

def loss_pair(t_fn, s_fn, arrays, grad_mask, t_kwargs, s_kwargs, rtol=RTOL, atol=ATOL):
    """Compare a loss and the gradients of the arrays marked in ``grad_mask``."""
    t_args = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grad_mask)]
    s_args = [ts.asarray(a, requires_grad=g) for a, g in zip(arrays, grad_mask)]
    t_out, s_out = t_fn(*t_args, **t_kwargs), s_fn(*s_args, **s_kwargs)
    assert_close(s_out, t_out, rtol, atol, "loss")
    g = randn(*t_out.shape, seed=5) if t_out.ndim else np.array(1.7)
    t_out.backward(torch.tensor(g)), s_out.backward(ts.asarray(g))
    for i, (t, s) in enumerate(zip(t_args, s_args)):
        if grad_mask[i]:
            assert_close(s.grad, t.grad, rtol, atol, f"grad of argument {i}")


def _with_weight(kwargs, weight):
    t_kw, s_kw = dict(kwargs), dict(kwargs)
    if weight is not None:
        t_kw["weight"], s_kw["weight"] = torch.tensor(weight), ts.asarray(weight)
    return t_kw, s_kw


CLASS_WEIGHT = np.array([0.3, 1.0, 2.5, 0.7, 1.2])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight", [None, CLASS_WEIGHT], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("shape", [(6, 5), (3, 5, 2, 3), (5,)], ids=str)
def test_cross_entropy_indices(reduction, weight, label_smoothing, shape):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal(shape) * 2
    target_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    target = rng.integers(0, 5, size=target_shape)
    if target.ndim:
        target.flat[::3] = -100  # ignored
    t_kw, s_kw = _with_weight(dict(reduction=reduction, label_smoothing=label_smoothing), weight)
    loss_pair(TF.cross_entropy, F.cross_entropy, [logits, target], [True, False], t_kw, s_kw)
    # the module, with a custom ignore_index
    t_mod = tnn.CrossEntropyLoss(weight=t_kw.get("weight"), ignore_index=3, reduction=reduction,
                                 label_smoothing=label_smoothing)
    s_mod = nn.CrossEntropyLoss(weight=s_kw.get("weight"), ignore_index=3, reduction=reduction,
                                label_smoothing=label_smoothing)
    loss_pair(t_mod, s_mod, [logits, np.where(target == -100, 3, target)], [True, False], {}, {})


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight", [None, CLASS_WEIGHT], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_probabilities(reduction, weight, label_smoothing):
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((4, 5, 3))
    probs = rng.random((4, 5, 3))
    probs /= probs.sum(axis=1, keepdims=True)
    t_kw, s_kw = _with_weight(dict(reduction=reduction, label_smoothing=label_smoothing), weight)
    loss_pair(TF.cross_entropy, F.cross_entropy, [logits, probs], [True, True], t_kw, s_kw)
    loss_pair(TF.cross_entropy, F.cross_entropy, [logits[:, :, 0], probs[:, :, 0]], [True, False], t_kw, s_kw)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight", [None, CLASS_WEIGHT], ids=["unweighted", "weighted"])
def test_nll_loss(reduction, weight):
    rng = np.random.default_rng(3)
    logp = np.log(rng.random((7, 5, 2)))
    target = rng.integers(0, 5, size=(7, 2))
    target[1, 0] = target[4, 1] = 1
    t_kw, s_kw = _with_weight(dict(reduction=reduction, ignore_index=1), weight)
    loss_pair(TF.nll_loss, F.nll_loss, [logp, target], [True, False], t_kw, s_kw)
    loss_pair(tnn.NLLLoss(**t_kw), nn.NLLLoss(**s_kw), [logp[:, :, 0], target[:, 0]], [True, False], {}, {})


def test_nll_ignored_minus_inf_is_not_nan():
    logp = np.array([[-np.inf, 0.0], [0.0, -np.inf]])
    loss_pair(TF.nll_loss, F.nll_loss, [logp, np.array([1, 0])], [True, False], dict(ignore_index=0), {
        "ignore_index": 0})


def test_cross_entropy_all_ignored_is_nan():
    out = F.cross_entropy(ts.zeros((2, 3)), ts.asarray([-100, -100]))
    assert math.isnan(out.item()) and math.isnan(TF.cross_entropy(torch.zeros(2, 3), torch.tensor([-100, -100])))


def test_class_target_errors():
    x = ts.zeros((3, 4))
    with pytest.raises(IndexError, match="target 4 is out of bounds for 4 classes"):
        F.cross_entropy(x, ts.asarray([0, 4, 1]))
    with pytest.raises(IndexError, match="target -2 is out of bounds"):
        F.nll_loss(x, ts.asarray([0, -2, 1]))
    with pytest.raises(TypeError, match="integer tensor"):
        F.nll_loss(x, ts.asarray([0.0, 1.0, 1.0]))
    with pytest.raises(ts.ShapeError, match=r"expected a target of shape \(3,\)"):
        F.cross_entropy(x, ts.asarray([0, 1]))
    with pytest.raises(ts.ShapeError, match="must have the input's shape"):
        F.cross_entropy(x, ts.zeros((3, 5)))
    with pytest.raises(ts.ShapeError, match="one weight per class"):
        F.cross_entropy(x, ts.asarray([0, 1, 2]), weight=ts.ones(3))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.cross_entropy(x, ts.asarray([0, 1, 2]), reduction="avg")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_mse_and_l1(reduction, weighted):
    a, b, w = randn(4, 3), randn(4, 3, seed=1), np.abs(randn(4, 3, seed=2))
    for t_fn, s_fn in ((TF.mse_loss, F.mse_loss), (TF.l1_loss, F.l1_loss)):
        t_kw, s_kw = _with_weight(dict(reduction=reduction), w if weighted else None)
        loss_pair(t_fn, s_fn, [a, b], [True, True], t_kw, s_kw)
    loss_pair(tnn.MSELoss(reduction=reduction), nn.MSELoss(reduction=reduction), [a, b], [True, True], {}, {})
    loss_pair(tnn.L1Loss(reduction=reduction), nn.L1Loss(reduction=reduction), [a, b], [True, True], {}, {})


def test_mse_broadcast_warns():
    with pytest.warns(UserWarning, match="different to the input size"):
        F.mse_loss(ts.zeros((3, 2)), ts.zeros((2,)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy(reduction, weighted):
    rng = np.random.default_rng(4)
    p = np.concatenate([rng.uniform(0.02, 0.98, 10), [1e-50, 1 - 1e-16]])  # clamped logs at the ends
    y = np.concatenate([rng.random(10), [1.0, 0.0]])
    w = rng.random(12) + 0.5
    t_kw, s_kw = _with_weight(dict(reduction=reduction), w if weighted else None)
    loss_pair(TF.binary_cross_entropy, F.binary_cross_entropy, [p[:10], y[:10]], [True, True],
              *_with_weight(dict(reduction=reduction), w[:10] if weighted else None))
    t_out = TF.binary_cross_entropy(torch.tensor(p), torch.tensor(y), **t_kw)  # forward only at the clamp
    assert_close(F.binary_cross_entropy(ts.asarray(p), ts.asarray(y), **s_kw), t_out)
    loss_pair(tnn.BCELoss(reduction=reduction), nn.BCELoss(reduction=reduction), [p[:10], y[:10]], [True, False],
              {}, {})
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(ts.asarray([1.5]), ts.asarray([1.0]))
    with pytest.raises(ValueError, match="target size"):
        F.binary_cross_entropy(ts.asarray([0.5, 0.5]), ts.asarray([1.0]))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos_weighted", [False, True])
def test_bce_with_logits(reduction, weighted, pos_weighted):
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.standard_normal((4, 3)) * 3, [[-800.0, 0.0, 800.0]]])  # stable at extreme logits
    y = rng.random((5, 3))
    t_kw, s_kw = _with_weight(dict(reduction=reduction), rng.random((5, 3)) if weighted else None)
    if pos_weighted:
        pw = rng.random(3) * 3
        t_kw["pos_weight"], s_kw["pos_weight"] = torch.tensor(pw), ts.asarray(pw)
    loss_pair(TF.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, [x, y], [True, True],
              t_kw, s_kw)
    t_mod = tnn.BCEWithLogitsLoss(reduction=reduction, weight=t_kw.get("weight"), pos_weight=t_kw.get("pos_weight"))
    s_mod = nn.BCEWithLogitsLoss(reduction=reduction, weight=s_kw.get("weight"), pos_weight=s_kw.get("pos_weight"))
    assert list(s_mod.state_dict()) == list(t_mod.state_dict())
    loss_pair(t_mod, s_mod, [x, y], [True, False], {}, {})


# -- Module mechanics -----------------------------------------------------------------------------------------------

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.register_buffer("scale", ts.ones(4))
        self.register_buffer("scratch", ts.zeros(2), persistent=False)

    def forward(self, x):
        return ts.relu(self.bn(self.conv(x))) * self.scale.reshape(4, 1, 1)


class TorchBlock(tnn.Module):
    def __init__(self):
        super().__init__()
        self.conv = tnn.Conv2d(2, 4, 3, padding=1)
        self.bn = tnn.BatchNorm2d(4)
        self.register_buffer("scale", torch.ones(4))
        self.register_buffer("scratch", torch.zeros(2), persistent=False)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x))) * self.scale.reshape(4, 1, 1)


def make_models():
    s = nn.Sequential(Block(), nn.Flatten(), nn.Linear(64, 3))
    t = tnn.Sequential(TorchBlock(), tnn.Flatten(), tnn.Linear(64, 3))
    return s, t


def test_state_dict_keys_and_round_trip():
    s, t = make_models()
    assert list(s.state_dict()) == list(t.state_dict())
    assert "0.scratch" not in s.state_dict() and "0.bn.num_batches_tracked" in s.state_dict()
    assert [n for n, _ in s.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in s.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in s.named_modules()] == [n for n, _ in t.named_modules()]
    t.double()
    s.double()
    result = s.load_state_dict(torch_state(t))
    assert result.missing_keys == [] and result.unexpected_keys == [] and repr(result) == repr(
        t.load_state_dict(t.state_dict()))
    run_pair(t, s, [randn(2, 2, 4, 4)])
    # ts -> ts round trip: values copied in place, Parameter objects kept
    s2, _ = make_models()
    s2.double()
    w = s2[2].weight
    s2.load_state_dict(s.state_dict())
    assert s2[2].weight is w
    for (k, a), (_, b) in zip(s.state_dict().items(), s2.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    # state_dict values are detached aliases
    sd = s.state_dict()
    assert not sd["2.weight"].requires_grad
    assert sd["0.bn.num_batches_tracked"].dtype == ts.int64


def test_load_state_dict_errors():
    s, t = make_models()
    sd = torch_state(t)
    bad = dict(sd)
    del bad["2.bias"]
    bad["2.extra"] = np.zeros(3)
    bad["0.conv.weight"] = np.zeros((4, 2, 5, 5))
    with pytest.raises(RuntimeError) as info:
        s.load_state_dict(bad)
    text = str(info.value)
    assert 'Missing key(s) in state_dict: "2.bias"' in text
    assert 'Unexpected key(s) in state_dict: "2.extra"' in text
    assert "size mismatch for 0.conv.weight" in text and "(4, 2, 5, 5)" in text and "(4, 2, 3, 3)" in text
    del bad["0.conv.weight"]
    result = s.load_state_dict(bad, strict=False)
    assert result.missing_keys == ["0.conv.weight", "2.bias"] and result.unexpected_keys == ["2.extra"]
    assert type(result).__name__ == "_IncompatibleKeys" and result._fields == ("missing_keys", "unexpected_keys")
    with pytest.raises(RuntimeError, match="size mismatch for 2.weight"):  # shapes are checked even when lenient
        s.load_state_dict({"2.weight": np.zeros((3, 3))}, strict=False)


def test_load_state_dict_casts_and_stays_on_device():
    s = nn.Linear(2, 2)
    s.load_state_dict({"weight": np.arange(4.0).reshape(2, 2), "bias": np.array([1, 2])})  # float64 / int64
    assert s.weight.dtype == ts.float32 and s.bias.tolist() == [1.0, 2.0]
    assert s.weight.requires_grad and s.weight.is_leaf


@pytest.mark.parametrize("dev", DEVICES)
def test_to_keeps_objects(dev):
    s, _ = make_models()
    params = list(s.parameters())
    ids = [id(p) for p in params]
    s(ts.randn((2, 2, 4, 4))).sum().backward()
    grads = [id(p.grad) for p in params]
    assert s.to(dev, ts.float64) is s
    assert [id(p) for p in s.parameters()] == ids and [id(p.grad) for p in s.parameters()] == grads
    for p in s.parameters():
        assert p.device == ts.device(dev) and p.dtype == ts.float64 and p.requires_grad and p.is_leaf
        assert p.grad.device == ts.device(dev) and p.grad.dtype == ts.float64
    bn = s[0].bn
    assert bn.running_mean.dtype == ts.float64 and bn.running_mean.device == ts.device(dev)
    assert bn.num_batches_tracked.dtype == ts.int64  # to(dtype) changes only floating tensors
    assert s[0].scratch.device == ts.device(dev)  # non-persistent buffers move too
    s(ts.randn((2, 2, 4, 4), dtype=ts.float64, device=dev)).sum().backward()  # still trains there
    s.to("cpu").float()
    assert all(p.device == ts.device("cpu") and p.dtype == ts.float32 for p in s.parameters())
    with pytest.raises(TypeError, match="floating point"):
        s.to(ts.int32)


@pytest.mark.parametrize("dev", DEVICES)
def test_to_device_or_dtype_alone_moves_every_tensor_in_place(dev):
    model = nn.Sequential(Block(), nn.BatchNorm1d(3, affine=False, track_running_stats=False), nn.Linear(3, 2))
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    assert "1.running_mean" not in tensors and "0.scratch" in tensors  # None buffers are skipped, not moved
    values = {k: t.numpy() for k, t in tensors.items()}
    assert model.to(dev) is model  # a device alone: dtypes stay
    for k, t in tensors.items():
        get = model.get_parameter if isinstance(t, nn.Parameter) else model.get_buffer
        assert get(k) is t, k  # the same objects, now on the device
        assert t.device == ts.device(dev) and t.numpy().dtype == values[k].dtype, k
        np.testing.assert_array_equal(t.numpy(), values[k], err_msg=k)
    assert model.to("float64") is model and model.to(dtype=ts.float64) is model  # a dtype alone: devices stay
    for k, t in tensors.items():
        assert t.device == ts.device(dev), k
        assert t.dtype == (ts.int64 if k.endswith("num_batches_tracked") else ts.float64), k
    assert model.to(ts.zeros(1, dtype=ts.float32)) is model  # a tensor: its device and its dtype
    with pytest.raises(AttributeError, match="Linear has no parameter `scale`"):
        model.get_parameter("2.scale")
    with pytest.raises(AttributeError, match="Block has no buffer `weight`"):
        model.get_buffer("0.weight")
    assert all(t.device == ts.device("cpu") and t.dtype in (ts.float32, ts.int64) for t in tensors.values())
    with pytest.raises(TypeError, match="expects a device, a dtype or a tensor, got int"):
        model.to(3)
    with pytest.raises(ts.DeviceError, match="unknown device 'nodevice'"):
        model.to("nodevice")


def test_load_state_dict_error_names_the_model_and_every_problem():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    sd = {k: v.numpy() for k, v in model.state_dict().items()}
    del sd["0.bias"], sd["2.weight"]
    sd["2.bias"] = np.zeros(3)
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(sd)
    text = str(info.value)
    assert text.startswith("Error(s) in loading state_dict for Sequential:")
    assert 'Missing key(s) in state_dict: "0.bias", "2.weight"' in text
    assert "size mismatch for 2.bias: copying a param with shape (3,) from checkpoint, the shape in current model " \
           "is (2,)" in text
    with pytest.raises(TypeError, match="dict-like"):
        model.load_state_dict([("0.weight", np.zeros((4, 3)))])


def test_setattr_and_registration():
    m = nn.Module()
    m.w = nn.Parameter(ts.ones(2))
    m.child = nn.Linear(2, 2)
    m.register_buffer("b", ts.zeros(1))
    m.plain = 3
    assert list(m._parameters) == ["w"] and list(m._modules) == ["child"] and list(m._buffers) == ["b"]
    assert "plain" in m.__dict__ and m.w is m._parameters["w"]
    with pytest.raises(TypeError, match="as parameter 'w'"):
        m.w = ts.ones(2)
    m.w = None
    assert m.w is None and list(m.parameters()) == list(m.child.parameters())
    m.b = ts.ones(1)  # re-assigning a buffer keeps it a buffer
    assert m._buffers["b"].tolist() == [1.0]
    with pytest.raises(TypeError, match="as buffer"):
        m.b = 3
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("plain", ts.zeros(1))
    with pytest.raises(KeyError, match="contain"):
        m.register_parameter("a.b", None)
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'missing'"):
        m.missing
    del m.child
    assert "child" not in m._modules
    with pytest.raises(AttributeError, match="before Module.__init__"):
        class Bad(nn.Module):
            def __init__(self):
                self.w = nn.Parameter(ts.ones(1))
        Bad()


def test_shared_parameters_and_iteration():
    lin = nn.Linear(3, 3)
    model = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(model.parameters())) == 2
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert [n for n, _ in model.named_modules()] == ["", "0", "1"]
    assert len(list(model.children())) == 2 and [n for n, _ in model.named_children()] == ["0", "1"]
    seen = []
    assert model.apply(lambda mod: seen.append(type(mod).__name__)) is model
    assert seen == ["Linear", "ReLU", "Sequential"]
    assert model.eval() is model and not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    with pytest.raises(ValueError, match="boolean"):
        model.train("no")
    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())


def test_zero_grad_and_hooks():
    lin = nn.Linear(3, 2)
    lin(ts.ones((1, 3))).sum().backward()
    lin.zero_grad(set_to_none=False)
    assert lin.weight.grad is not None and not lin.weight.grad.numpy().any()
    lin.zero_grad()
    assert lin.weight.grad is None
    calls = []
    h1 = lin.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
    h2 = lin.register_forward_hook(lambda mod, args, out: calls.append(out.shape) or out + 1)
    with ts.no_grad():
        base = nn.functional.linear(ts.ones((1, 3)) * 2, lin.weight, lin.bias) + 1
        np.testing.assert_allclose(lin(ts.ones((1, 3))).numpy(), base.numpy(), rtol=1e-6)
    assert calls == [(1, 2)]
    h1.remove(), h2.remove()
    with ts.no_grad():
        plain = nn.functional.linear(ts.ones((1, 3)), lin.weight, lin.bias)
        np.testing.assert_allclose(lin(ts.ones((1, 3))).numpy(), plain.numpy(), rtol=1e-6)
    assert calls == [(1, 2)]


def test_containers():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and isinstance(seq[1:], nn.Sequential)
    t_seq = tnn.Sequential(tnn.Linear(2, 3), tnn.ReLU(), tnn.Linear(3, 1))
    assert list(seq[1:]._modules) == list(t_seq[1:]._modules) == ["1", "2"]  # a slice keeps its keys
    del seq[1]
    assert list(seq._modules) == ["0", "1"] and isinstance(seq[1], nn.Linear)
    seq.append(nn.Tanh())
    seq.insert(0, nn.Identity())
    assert [type(m).__name__ for m in seq] == ["Identity", "Linear", "Linear", "Tanh"]
    assert seq(ts.ones((4, 2))).shape == (4, 1)
    from collections import OrderedDict
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"] and named.fc is named[0]
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    ml.append(nn.ReLU())
    ml.insert(1, nn.Tanh())
    assert len(ml) == 5 and isinstance(ml[1], nn.Tanh) and len(list(ml.parameters())) == 6
    del ml[0]
    assert list(ml._modules) == ["0", "1", "2", "3"]
    ml += [nn.Sigmoid()]
    assert isinstance(ml[-1], nn.Sigmoid)
    md = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.ReLU()})
    md["c"] = nn.Tanh()
    assert list(md) == ["a", "b", "c"] and "a" in md and len(md) == 3
    assert list(md.state_dict()) == ["a.weight", "a.bias"]
    assert isinstance(md.pop("b"), nn.ReLU) and list(md.keys()) == ["a", "c"]


def test_repr_matches_torch():
    s = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                      nn.MaxPool2d(2), nn.AvgPool2d(3, stride=1, padding=1), nn.AdaptiveAvgPool2d((1, 1)),
                      nn.Flatten(), nn.Dropout(0.1), nn.Linear(8, 4), nn.GELU(), nn.LayerNorm(4), nn.SiLU(),
                      nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4), nn.Tanh()]),
                      nn.ModuleDict({"head": nn.Linear(4, 2), "act": nn.LogSoftmax(dim=1)}),
                      nn.Embedding(10, 4, padding_idx=0), nn.BatchNorm1d(4, momentum=None, affine=False),
                      nn.Conv2d(4, 4, (1, 3), padding="same", dilation=2, groups=2), nn.Identity(),
                      nn.CrossEntropyLoss(), nn.Softmax(dim=-1), nn.Sigmoid(), nn.Unflatten(1, (2, 2)))
    t = tnn.Sequential(tnn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), tnn.BatchNorm2d(8), tnn.ReLU(inplace=True),
                       tnn.MaxPool2d(2), tnn.AvgPool2d(3, stride=1, padding=1), tnn.AdaptiveAvgPool2d((1, 1)),
                       tnn.Flatten(), tnn.Dropout(0.1), tnn.Linear(8, 4), tnn.GELU(), tnn.LayerNorm(4), tnn.SiLU(),
                       tnn.ModuleList([tnn.Linear(4, 4), tnn.Linear(4, 4), tnn.Tanh()]),
                       tnn.ModuleDict({"head": tnn.Linear(4, 2), "act": tnn.LogSoftmax(dim=1)}),
                       tnn.Embedding(10, 4, padding_idx=0), tnn.BatchNorm1d(4, momentum=None, affine=False),
                       tnn.Conv2d(4, 4, (1, 3), padding="same", dilation=2, groups=2), tnn.Identity(),
                       tnn.CrossEntropyLoss(), tnn.Softmax(dim=-1), tnn.Sigmoid(), tnn.Unflatten(1, (2, 2)))
    assert repr(s) == repr(t)
    assert repr(nn.ModuleList()) == repr(tnn.ModuleList())


# -- initialisation -------------------------------------------------------------------------------------------------

def test_calculate_gain_and_fans():
    for args in [("linear",), ("conv2d",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",), ("leaky_relu", 0.2),
                 ("leaky_relu", math.sqrt(5)), ("selu",)]:
        assert nn.init.calculate_gain(*args) == tnn.init.calculate_gain(*args)
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        nn.init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        nn.init.calculate_gain("leaky_relu", True)
    for shape in [(3, 4), (8, 4, 3, 2), (5, 2, 7)]:
        assert nn.init._calculate_fan_in_and_fan_out(ts.empty(shape)) == \
            tnn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init._calculate_fan_in_and_fan_out(ts.empty(3))


def test_init_functions_distributions():
    ts.manual_seed(0)
    w = ts.empty((200, 300))
    for fn, kw, bound in [(nn.init.kaiming_uniform_, dict(a=math.sqrt(5)), 1 / math.sqrt(300)),
                          (nn.init.kaiming_uniform_, dict(nonlinearity="relu", mode="fan_out"), math.sqrt(6 / 200)),
                          (nn.init.xavier_uniform_, dict(gain=2.0), 2 * math.sqrt(6 / 500)),
                          (nn.init.uniform_, dict(a=-0.5, b=1.5), None)]:
        assert fn(w, **kw) is w
        v = w.numpy()
        lo, hi = (-bound, bound) if bound else (-0.5, 1.5)
        assert v.min() >= lo and v.max() < hi and v.min() < lo + 0.01 * (hi - lo) and v.max() > hi - 0.01 * (hi - lo)
    for fn, kw, std in [(nn.init.kaiming_normal_, dict(), math.sqrt(2 / (1 + 0.01 ** 2)) / math.sqrt(300)),
                        (nn.init.xavier_normal_, dict(), math.sqrt(2 / 500)),
                        (nn.init.normal_, dict(mean=3.0, std=0.5), 0.5)]:
        v = fn(w, **kw).numpy()
        assert abs(v.std() / std - 1) < 0.02 and abs(v.mean() - kw.get("mean", 0.0)) < 0.05 * std
    assert not nn.init.zeros_(w).numpy().any() and (nn.init.ones_(w).numpy() == 1).all()
    assert (nn.init.constant_(w, 2.5).numpy() == 2.5).all()
    p = nn.Parameter(ts.zeros(3))
    nn.init.uniform_(p)  # in place on a leaf that requires grad: the fill runs under no_grad
    assert p.requires_grad and p.is_leaf and p.numpy().any()
    with pytest.raises(ValueError, match="Mode fan_avg"):
        nn.init.kaiming_uniform_(w, mode="fan_avg")


def test_default_initialisation_bounds():
    ts.manual_seed(1)
    lin, conv = nn.Linear(50, 40), nn.Conv2d(6, 8, 3, groups=2)
    for layer, fan_in in ((lin, 50), (conv, 27)):
        bound = 1 / math.sqrt(fan_in)
        for p in layer.parameters():
            v = p.numpy()
            assert np.abs(v).max() <= bound and np.abs(v).max() > 0.8 * bound
    bn, ln = nn.BatchNorm2d(3), nn.LayerNorm(3)
    for m in (bn, ln):
        assert m.weight.tolist() == [1.0] * 3 and m.bias.tolist() == [0.0] * 3
    assert bn.running_var.tolist() == [1.0] * 3 and bn.running_mean.tolist() == [0.0] * 3


@on_accelerators
def test_identical_initial_weights_on_every_device(accel):
    def build(device):
        ts.manual_seed(1234)
        return nn.Sequential(nn.Conv2d(3, 4, 3, device=device), nn.BatchNorm2d(4, device=device), nn.Flatten(),
                             nn.Linear(16, 5, device=device), nn.Embedding(7, 3, padding_idx=1, device=device))

    a, b = build("cpu"), build(accel)
    assert all(p.device == ts.device(accel) for p in b.parameters())
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(x.numpy(), y.numpy(), err_msg=k)


# -- utils ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
def test_clip_grad_norm(norm_type):
    grads = [randn(3, 4), randn(5, seed=1)]
    t_params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    s_params = [nn.Parameter(ts.zeros(g.shape, dtype=ts.float64)) for g in grads]
    for tp, sp, g in zip(t_params, s_params, grads):
        tp.grad, sp.grad = torch.tensor(g), ts.asarray(g)
    t_norm = torch.nn.utils.clip_grad_norm_(t_params, 0.5, norm_type)
    s_norm = nn.utils.clip_grad_norm_(s_params, 0.5, norm_type)
    assert_close(s_norm, t_norm)
    for tp, sp in zip(t_params, s_params):
        assert_close(sp.grad, tp.grad)
    torch.nn.utils.clip_grad_value_(t_params, 0.1)
    nn.utils.clip_grad_value_(s_params, 0.1)
    for tp, sp in zip(t_params, s_params):
        assert_close(sp.grad, tp.grad)
    vec = nn.utils.parameters_to_vector(s_params)
    assert vec.shape == (17,)
    nn.utils.vector_to_parameters(ts.arange(17, dtype=ts.float64), s_params)
    assert s_params[1].tolist() == [12.0, 13.0, 14.0, 15.0, 16.0]


def test_clip_grad_norm_nonfinite():
    p = nn.Parameter(ts.zeros(2))
    p.grad = ts.asarray([float("inf"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


# -- training -------------------------------------------------------------------------------------------------------

def _train(device, steps=5):
    # built on the device itself (test_training.py trains models built on cpu and moved): weights and dropout masks
    # both come from the cpu generator (Note [Identical initial weights]), so both runs draw identical numbers
    ts.manual_seed(99)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, device=device), nn.BatchNorm2d(4, device=device), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16, 8, device=device), nn.GELU(), nn.Dropout(0.2),
                          nn.Linear(8, 3, device=device))
    rng = np.random.default_rng(0)
    x = ts.asarray(rng.standard_normal((8, 2, 4, 4)).astype(np.float32), device=device)
    y = ts.asarray(rng.integers(0, 3, 8), device=device)
    losses = []
    for _ in range(steps):
        model.zero_grad()
        loss = F.cross_entropy(model(x), y, label_smoothing=0.05)
        loss.backward()
        with ts.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
        losses.append(loss.item())
    return model, losses


def test_training_reduces_loss():
    _, losses = _train("cpu", steps=8)
    assert losses[-1] < losses[0]


@on_accelerators
def test_training_same_on_cpu_and_accelerator(accel):
    a, la = _train("cpu")
    b, lb = _train(accel)
    np.testing.assert_allclose(la, lb, rtol=1e-4, atol=1e-5)
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-4, atol=1e-4, err_msg=k)
