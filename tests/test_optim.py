"""ts.optim against torch.optim: the same parameters and gradients, step for step, for every option combination;
state on the parameters' devices; state dicts in PyTorch's layout; learning rate schedulers epoch for epoch."""

import collections
import itertools
import logging
import math
import re
import warnings

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch import optim
from tensorswitch.optim import lr_scheduler
from tensorswitch.serialization import load, save  # ts.save / ts.load once the lead exports them

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (5,), (), (0, 2)]  # 0-d and empty parameters too
TOL = {"float64": 1e-10, "float32": 1e-5}
STEPS = 12


def _param(array, device="cpu"):
    return ts.asarray(array, device=device).requires_grad_(True)


def _arrays(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def _grads(step, dtype, seed=1):
    """The gradients of one step; parameter 1 gets none on every third step (it must be skipped, then resume)."""
    rng = np.random.default_rng([seed, step])
    out = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    if step % 3 == 2:
        out[1] = None
    return out


def _groups(params, grouped, lr):
    if not grouped:
        return params
    return [{"params": params[:1], "lr": lr * 0.5}, {"params": params[1:]}]


def _set_grads(params, grads, to_tensor):
    for p, g in zip(params, grads):
        p.grad = None if g is None else to_tensor(g)


def _run_pair(ts_cls, torch_cls, kwargs, dtype="float64", device="cpu", steps=STEPS, grouped=False):
    """Run the ts and torch optimisers side by side; returns both, after checking parameters after every step."""
    arrays = _arrays(dtype)
    ts_params = [_param(a, device) for a in arrays]
    torch_params = [torch.tensor(a, requires_grad=True) for a in arrays]
    lr = kwargs["lr"]
    ts_opt = ts_cls(_groups(ts_params, grouped, lr), **kwargs)
    torch_opt = torch_cls(_groups(torch_params, grouped, lr), **kwargs)
    ids = [id(p) for p in ts_params]
    for step in range(steps):
        grads = _grads(step, dtype)
        _set_grads(ts_params, grads, lambda g: ts.asarray(g, device=device))
        _set_grads(torch_params, grads, lambda g: torch.from_numpy(g.copy()))
        ts_opt.step()
        torch_opt.step()
        for i, (p, q) in enumerate(zip(ts_params, torch_params)):
            np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=TOL[dtype], atol=TOL[dtype],
                                       err_msg=f"{ts_cls.__name__}{kwargs} parameter {i} after step {step}")
    assert [id(p) for p in ts_params] == ids  # updated in place: the same Python objects
    for p in ts_params:
        assert p.is_leaf and p.requires_grad and p.dtype == ts.dtype(dtype) and p.device == ts.device(device)
    return ts_opt, torch_opt, ts_params, torch_params


def _combos(**options):
    keys = list(options)
    for values in itertools.product(*options.values()):
        yield dict(zip(keys, values))


def _id(kwargs):
    return ",".join(f"{k}={v}" for k, v in kwargs.items())


SGD_CASES = [c for c in _combos(lr=[0.1], momentum=[0.0, 0.9], dampening=[0.0, 0.5], nesterov=[False, True],
                                weight_decay=[0.0, 0.1], maximize=[False, True])
             if not (c["nesterov"] and (c["momentum"] == 0 or c["dampening"] != 0))]
ADAM_CASES = list(_combos(lr=[0.01], betas=[(0.9, 0.999), (0.3, 0.6)], weight_decay=[0.0, 0.1], amsgrad=[False, True],
                          maximize=[False, True]))
RMSPROP_CASES = list(_combos(lr=[0.01], alpha=[0.99, 0.3], momentum=[0.0, 0.5], centered=[False, True],
                             weight_decay=[0.0, 0.1], maximize=[False, True]))


# -- step for step against torch -----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kwargs", SGD_CASES, ids=_id)
def test_sgd_matches_torch(kwargs, dtype):
    _run_pair(optim.SGD, torch.optim.SGD, kwargs, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kwargs", ADAM_CASES, ids=_id)
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_matches_torch(name, kwargs, dtype):
    _run_pair(getattr(optim, name), getattr(torch.optim, name), kwargs, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kwargs", RMSPROP_CASES, ids=_id)
def test_rmsprop_matches_torch(kwargs, dtype):
    _run_pair(optim.RMSprop, torch.optim.RMSprop, kwargs, dtype)


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
])
def test_param_groups_with_different_lrs(name, kwargs):
    ts_opt, torch_opt, _, _ = _run_pair(getattr(optim, name), getattr(torch.optim, name), kwargs, grouped=True)
    assert [g["lr"] for g in ts_opt.param_groups] == [kwargs["lr"] * 0.5, kwargs["lr"]]


def test_adam_decoupled_weight_decay_is_adamw():
    kwargs = {"lr": 0.01, "weight_decay": 0.1}
    a, _, pa, _ = _run_pair(optim.Adam, torch.optim.Adam, dict(kwargs, decoupled_weight_decay=True))
    b, _, pb, _ = _run_pair(optim.AdamW, torch.optim.AdamW, kwargs)
    for p, q in zip(pa, pb):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_adamw_default_weight_decay_matches_torch():
    ts_opt, torch_opt, _, _ = _run_pair(optim.AdamW, torch.optim.AdamW, {"lr": 0.01})
    assert ts_opt.param_groups[0]["weight_decay"] == torch_opt.param_groups[0]["weight_decay"] == 1e-2


def test_closure_runs_with_grad_enabled_and_returns_its_loss():
    p = _param(np.array([1.0, 2.0]))
    opt = optim.SGD([p], lr=0.1)
    calls = []

    def closure():
        opt.zero_grad()
        assert ts.is_grad_enabled()
        loss = (p * p).sum()
        loss.backward()
        calls.append(loss.item())
        return loss

    with ts.no_grad():  # step enables grad for the closure
        loss = opt.step(closure)
    assert calls == [5.0] and loss.item() == 5.0
    np.testing.assert_allclose(p.numpy(), [0.8, 1.6])


def test_parameters_without_grad_are_skipped():
    a, b = _param(np.ones(2)), _param(np.ones(2))
    for opt in (optim.SGD([a, b], lr=0.1, momentum=0.9), optim.Adam([a, b]), optim.RMSprop([a, b])):
        a.grad, b.grad = ts.ones(2, dtype=ts.float64), None
        before = b.numpy()
        opt.step()
        assert b not in opt.state and a in opt.state
        np.testing.assert_array_equal(b.numpy(), before)


def test_noncontiguous_gradient_and_buffer_independent_of_it():
    g = np.arange(6.0).reshape(2, 3)
    p = _param(np.zeros((3, 2)))
    q = torch.zeros((3, 2), dtype=torch.float64, requires_grad=True)
    ts_opt, torch_opt = optim.SGD([p], lr=0.1, momentum=0.9), torch.optim.SGD([q], lr=0.1, momentum=0.9)
    for _ in range(3):
        p.grad = ts.asarray(g).T  # a transposed view
        q.grad = torch.from_numpy(g.copy()).T
        ts_opt.step()
        torch_opt.step()
        p.grad[...] = 100.0  # writing the gradient afterwards must not touch the momentum buffer
    np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-12)
    assert ts_opt.state[p]["momentum_buffer"].is_contiguous


def test_zero_grad():
    p = _param(np.ones(3))
    opt = optim.SGD([p], lr=0.1)
    p.grad = ts.ones(3, dtype=ts.float64)
    opt.zero_grad()
    assert p.grad is None
    p.grad = ts.ones(3, dtype=ts.float64)
    grad = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad and p.grad.tolist() == [0.0, 0.0, 0.0]
    opt.zero_grad(set_to_none=False)  # no gradient at all: nothing to do
    p.grad = None
    opt.zero_grad(set_to_none=False)
    assert p.grad is None


def test_step_hooks():
    p = _param(np.ones(1))
    opt = optim.Adam([p])
    seen = []
    pre = opt.register_step_pre_hook(lambda o, args, kwargs: seen.append(("pre", o is opt)))
    post = opt.register_step_post_hook(lambda o, args, kwargs: seen.append(("post", o is opt)))
    p.grad = ts.ones(1, dtype=ts.float64)
    opt.step()
    pre.remove()
    opt.step()
    post.remove()
    opt.step()
    assert seen == [("pre", True), ("post", True), ("post", True)]


def test_a_subclass_implements_update_group_or_step():
    """The base step runs the hooks once, the closure with gradients on, and ``_update_group`` for each group under
    no_grad, which sees only the parameters that have a gradient; a subclass's own step keeps all of that."""

    class SignDescent(optim.Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, {"lr": lr})

        def _update_group(self, group):
            for p, grad in optim.optimizer.params_with_grad(group):
                assert not ts.is_grad_enabled()
                p -= ts.sign(grad) * group["lr"]

    class Logged(SignDescent):
        def step(self, closure=None):
            seen.append("own step")
            return super().step(closure)

    for cls in (SignDescent, Logged):
        seen = []
        a, b = _param(np.array([1.0, -1.0])), _param(np.array([2.0]))
        opt = cls([{"params": [a]}, {"params": [b], "lr": 0.5}])
        opt.register_step_pre_hook(lambda *_: seen.append("pre"))
        opt.register_step_post_hook(lambda *_: seen.append("post"))
        a.grad = ts.asarray([3.0, 0.5], dtype=ts.float64)
        assert opt.step(lambda: seen.append("closure") or ts.is_grad_enabled()) is True
        assert a.tolist() == [0.9, -1.1] and b.tolist() == [2.0]  # b had no gradient: untouched
        assert seen == (["pre"] + ["own step"] * (cls is Logged) + ["closure", "post"])
    with pytest.raises(NotImplementedError, match="Bare does not implement step"):
        type("Bare", (optim.Optimizer,), {})([_param(np.zeros(1))], {"lr": 0.1}).step()


# -- state: devices, dtypes and PyTorch's layout --------------------------------------------------------------------

STATE_CASES = [
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ("RMSprop", {"lr": 0.01}),
]


@pytest.mark.parametrize("name, kwargs", STATE_CASES, ids=[f"{n}-{_id(k)}" for n, k in STATE_CASES])
def test_state_dict_has_torchs_layout_and_values(name, kwargs):
    ts_opt, torch_opt, ts_params, _ = _run_pair(getattr(optim, name), getattr(torch.optim, name), kwargs, steps=4,
                                                grouped=True)
    mine, theirs = ts_opt.state_dict(), torch_opt.state_dict()
    assert list(mine) == list(theirs) == ["state", "param_groups"]
    assert list(mine["state"]) == list(theirs["state"])
    for index, entry in theirs["state"].items():
        assert list(mine["state"][index]) == list(entry)
        for key, value in entry.items():
            ours = mine["state"][index][key]
            if key == "step":
                assert ours.dtype == ts.float32 and ours.device == ts.device("cpu") and ours.shape == ()
            else:
                p = ts_params[index]
                assert ours.device == p.device and ours.dtype == p.dtype and ours.shape == p.shape
            np.testing.assert_allclose(ours.numpy(), value.numpy(), rtol=1e-10, atol=1e-10)
    assert len(mine["param_groups"]) == len(theirs["param_groups"])
    for g, h in zip(mine["param_groups"], theirs["param_groups"]):
        assert list(g) == list(h)
        assert g == h  # hyperparameters (betas as a tuple of floats) and parameter indices


@pytest.mark.parametrize("name, kwargs", STATE_CASES, ids=[f"{n}-{_id(k)}" for n, k in STATE_CASES])
def test_state_dict_round_trip_through_a_file(name, kwargs, tmp_path):
    """Save after 5 steps, build a new optimiser over copies of the parameters, load, continue: identical to an
    uninterrupted run."""
    cls = getattr(optim, name)
    arrays = _arrays("float64")
    straight = [_param(a) for a in arrays]
    opt = cls(_groups(straight, True, kwargs["lr"]), **kwargs)
    resumed = [_param(a) for a in arrays]
    first = cls(_groups(resumed, True, kwargs["lr"]), **kwargs)
    for step in range(10):
        grads = _grads(step, "float64")
        if step == 5:
            save(first.state_dict(), tmp_path / "opt.safetensors")
            del first
            resumed = [_param(p.numpy()) for p in resumed]
            first = cls(_groups(resumed, True, 123.0), **kwargs)  # loaded hyperparameters replace these
            first.load_state_dict(load(tmp_path / "opt.safetensors"))
            assert [g["lr"] for g in first.param_groups] == [g["lr"] for g in opt.param_groups]
        for ps in (straight, resumed):
            _set_grads(ps, grads, ts.asarray)
        opt.step()
        first.step()
    for p, q in zip(straight, resumed):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


@pytest.mark.parametrize("name, kwargs", STATE_CASES, ids=[f"{n}-{_id(k)}" for n, k in STATE_CASES])
def test_loads_a_torch_state_dict_converted_to_numpy(name, kwargs):
    """A torch optimiser's state dict, its tensors as NumPy arrays, continues in ts as it does in torch."""
    arrays = _arrays("float64")
    torch_params = [torch.tensor(a, requires_grad=True) for a in arrays]
    torch_opt = getattr(torch.optim, name)(_groups(torch_params, True, kwargs["lr"]), **kwargs)
    for step in range(4):
        _set_grads(torch_params, _grads(step, "float64"), lambda g: torch.from_numpy(g.copy()))
        torch_opt.step()
    sd = torch_opt.state_dict()
    converted = {"state": {i: {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in s.items()}
                           for i, s in sd["state"].items()},
                 "param_groups": sd["param_groups"]}
    ts_params = [_param(p.detach().numpy()) for p in torch_params]
    ts_opt = getattr(optim, name)(_groups(ts_params, True, 1.0), **kwargs)
    ts_opt.load_state_dict(converted)
    for step in range(4, 10):
        grads = _grads(step, "float64")
        _set_grads(torch_params, grads, lambda g: torch.from_numpy(g.copy()))
        _set_grads(ts_params, grads, ts.asarray)
        torch_opt.step()
        ts_opt.step()
    for p, q in zip(ts_params, torch_params):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-10, atol=1e-10)


def test_load_state_dict_copies_and_casts_to_the_parameters():
    p = _param(np.ones(3, dtype=np.float32))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    buf = ts.asarray(np.full(3, 2.0))  # float64: cast to the float32 parameter
    opt.load_state_dict({"state": {0: {"momentum_buffer": buf}}, "param_groups": opt.state_dict()["param_groups"]})
    loaded = opt.state[p]["momentum_buffer"]
    assert loaded.dtype == ts.float32 and loaded is not buf
    buf[...] = 7.0
    assert loaded.tolist() == [2.0, 2.0, 2.0]
    assert opt.param_groups[0]["params"][0] is p


def test_load_state_dict_errors():
    a, b = _param(np.ones(2)), _param(np.ones(3))
    opt = optim.Adam([a, b])
    a.grad, b.grad = ts.ones(2, dtype=ts.float64), ts.ones(3, dtype=ts.float64)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.Adam([{"params": [a]}, {"params": [b]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        optim.Adam([a]).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"state\[0\]\['exp_avg'\] has shape \(2,\), but its parameter has shape "
                                         r"\(3,\)"):
        optim.Adam([b, a]).load_state_dict(sd)
    with pytest.raises(ValueError, match="expected a dict with 'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
    bad = {"state": {5: {}}, "param_groups": sd["param_groups"]}
    with pytest.raises(ValueError, match="parameter 5, which no parameter group lists"):
        opt.load_state_dict(bad)
    fused = {"state": {}, "param_groups": [dict(sd["param_groups"][0], fused=True)]}
    with pytest.raises(ValueError, match="fused=True is not supported"):
        opt.load_state_dict(fused)


# -- arguments ------------------------------------------------------------------------------------------------------

BAD_ARGUMENTS = [
    ("SGD", {"lr": -1}), ("SGD", {"lr": 0.1, "momentum": -0.5}), ("SGD", {"lr": 0.1, "weight_decay": -1}),
    ("SGD", {"lr": 0.1, "nesterov": True}), ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True}),
    ("Adam", {"lr": -1}), ("Adam", {"eps": -1.0}), ("Adam", {"betas": (1.0, 0.999)}), ("Adam", {"betas": (0.9, -0.1)}),
    ("Adam", {"weight_decay": -0.1}), ("AdamW", {"lr": -0.5}),
    ("RMSprop", {"lr": -1}), ("RMSprop", {"eps": -1.0}), ("RMSprop", {"momentum": -1.0}),
    ("RMSprop", {"weight_decay": -1.0}), ("RMSprop", {"alpha": -1.0}),
    # two bad options: the one PyTorch checks first is named (optimizer.check_options keeps its order)
    ("SGD", {"lr": 0.1, "momentum": -1.0, "weight_decay": -1.0}), ("Adam", {"lr": -1, "eps": -1.0}),
    ("Adam", {"eps": -1.0, "betas": (2.0, 2.0)}), ("Adam", {"betas": (2.0, 0.9), "weight_decay": -1.0}),
    ("RMSprop", {"alpha": -1.0, "weight_decay": -1.0}), ("RMSprop", {"eps": -1.0, "momentum": -1.0}),
]


@pytest.mark.parametrize("name, kwargs", BAD_ARGUMENTS, ids=[f"{n}-{_id(k)}" for n, k in BAD_ARGUMENTS])
def test_bad_hyperparameters_raise_torchs_errors(name, kwargs):
    with pytest.raises(ValueError) as expected:
        getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match=re.escape(str(expected.value))):
        getattr(optim, name)([_param(np.zeros(1))], **kwargs)


def test_bad_hyperparameter_in_a_group_names_the_group():
    with pytest.raises(ValueError, match=r"Invalid learning rate: -1 \(in parameter group 1\)"):
        optim.SGD([{"params": [_param(np.zeros(1))]}, {"params": [_param(np.zeros(1))], "lr": -1}], lr=0.1)


def test_bad_params():
    p = _param(np.zeros(2))
    with pytest.raises(TypeError, match="iterable of Tensors or dicts, but got a tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(TypeError, match="floating-point tensors, but parameter 0 is int64"):
        optim.SGD([ts.zeros(2, dtype=ts.int64)], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD({p}, lr=0.1)
    with pytest.raises(TypeError, match="lr must be a real number"):
        optim.Adam([p], lr="0.1")
    with pytest.raises(ValueError, match="fused=True is not supported"):
        optim.Adam([p], fused=True)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        optim.SGD([p, p], lr=0.1)


def test_named_parameters_and_add_param_group():
    a, b = _param(np.zeros(2)), _param(np.zeros(3))
    opt = optim.SGD([("a", a)], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": [("b", b)], "lr": 0.5})
    groups = opt.state_dict()["param_groups"]
    assert [g["param_names"] for g in groups] == [["a"], ["b"]]
    assert [g["params"] for g in groups] == [[0], [1]]
    assert groups[1]["lr"] == 0.5 and groups[1]["momentum"] == 0.9
    with pytest.raises(ValueError, match="with/without names"):
        opt.add_param_group({"params": [_param(np.zeros(1))]})
    assert "Parameter Group 1" in repr(opt) and "lr: 0.5" in repr(opt)


def test_state_stays_on_the_parameters_device(device):
    params = [_param(a, device) for a in _arrays("float32")]
    for cls, kwargs in ((optim.SGD, {"lr": 0.1, "momentum": 0.9}), (optim.Adam, {"amsgrad": True}),
                        (optim.RMSprop, {"momentum": 0.5, "centered": True})):
        opt = cls(params, **kwargs)
        for step in range(2):
            _set_grads(params, _grads(step, "float32"), lambda g: ts.asarray(g, device=device))
            opt.step()
        for p in params:
            for key, value in opt.state[p].items():
                want = (ts.device("cpu"), ts.float32) if key == "step" else (p.device, p.dtype)
                assert (value.device, value.dtype) == want, (cls.__name__, key)


@pytest.mark.parametrize("name, kwargs", [("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True,
                                                    "weight_decay": 0.01}),
                                          ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
                                          ("AdamW", {"lr": 0.01}),
                                          ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5})])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_device_matches_cpu(device, name, kwargs, dtype):
    """10 steps on ``device`` land within 1e-5 of the same steps on cpu."""
    if ts.dtype(dtype) not in device.supported_dtypes():
        pytest.skip(f"{device} has no {dtype}")
    results = []
    for dev in ("cpu", device):
        params = [_param(a, dev) for a in _arrays(dtype)]
        opt = getattr(optim, name)(params, **kwargs)
        for step in range(10):
            _set_grads(params, _grads(step, dtype), lambda g: ts.asarray(g, device=dev))
            opt.step()
        assert all(p.device == ts.device(dev) for p in params)
        results.append([p.numpy() for p in params])
    for cpu, dev in zip(*results):
        np.testing.assert_allclose(dev, cpu, rtol=1e-5, atol=1e-5)


# -- the cost of a step (Note [Optimiser step cost]) ----------------------------------------------------------------

def _kernels_of_one_step(caplog, opt):
    """{op: kernel launches} of one ``opt.step()``, read from the dispatch trace (every kernel run logs once)."""
    logger = "tensorswitch.dispatch"
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger=logger):
        ts.set_trace(True)
        try:
            opt.step()
        finally:
            ts.set_trace(False)
    return collections.Counter(r.args[0] for r in caplog.records if r.name == logger)


@pytest.mark.parametrize("name, kwargs, per_param", [
    ("SGD", {"lr": 0.1}, {"multiply": 1, "add": 1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}, {"multiply": 2, "add": 2}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}, {"multiply": 3, "add": 2}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, {"multiply": 3, "add": 3}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1}, {"multiply": 3, "add": 3}),
    ("Adam", {"lr": 0.01}, {"add": 6, "multiply": 5, "sqrt": 1, "divide": 1}),
    ("Adam", {"lr": 0.01, "betas": (0.3, 0.6)}, {"add": 6, "multiply": 5, "sqrt": 1, "divide": 1}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}, {"add": 7, "multiply": 6, "sqrt": 1, "divide": 1}),
    ("AdamW", {"lr": 0.01}, {"add": 6, "multiply": 6, "sqrt": 1, "divide": 1}),
    ("RMSprop", {"lr": 0.01}, {"add": 4, "multiply": 4, "sqrt": 1, "divide": 1}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5}, {"add": 5, "multiply": 5, "sqrt": 1, "divide": 1}),
    ("RMSprop", {"lr": 0.01, "centered": True}, {"add": 7, "multiply": 6, "sqrt": 1, "divide": 1}),
])
@pytest.mark.parametrize("maximize", [False, True])
def test_a_step_costs_the_fewest_elementwise_ops(caplog, name, kwargs, per_param, maximize):
    """Counted kernel launches of a steady-state step (the step counter's add included; a subtraction counts as an
    add): maximize costs nothing, and the step-dependent scalars are one fill each per step, shared by every
    parameter (none for constant ones)."""
    params = [_param(np.ones((4, 3))), _param(np.ones(5)), _param(np.ones(()))]
    opt = getattr(optim, name)(params, maximize=maximize, **kwargs)
    for step in range(3):  # the first steps create the state; the third is the steady state
        for p in params:
            p.grad = ts.full(p.shape, 0.5 + step, dtype=p.dtype)
        counts = _kernels_of_one_step(caplog, opt)
    fills = counts.pop("fill", 0)
    counts["add"] += counts.pop("subtract", 0)
    assert dict(counts) == {op: n * len(params) for op, n in per_param.items()}
    assert fills <= (2 if name.startswith("Adam") else 0)


MAXIMIZE_CASES = [(n, c) for n, cases in [("SGD", SGD_CASES), ("Adam", ADAM_CASES), ("AdamW", ADAM_CASES),
                                           ("RMSprop", RMSPROP_CASES)] for c in cases if c["maximize"]]


@pytest.mark.parametrize("name, kwargs", MAXIMIZE_CASES, ids=[f"{n}-{_id(c)}" for n, c in MAXIMIZE_CASES])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_maximize_is_bit_for_bit_a_negated_gradient(name, kwargs, dtype):
    """maximize is folded into scalars and subtractions (no negation op), which must not change a single bit."""
    results = []
    for maximize, sign in ((True, 1), (False, -1)):
        params = [_param(a) for a in _arrays(dtype)]
        opt = getattr(optim, name)(params, **{**kwargs, "maximize": maximize})
        for step in range(6):
            _set_grads(params, _grads(step, dtype), lambda g: ts.asarray(sign * g))
            opt.step()
        state = [v.numpy() for st in opt.state.values() for v in st.values()]
        results.append([p.numpy() for p in params] + state)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("weight", [0.0, 0.1, 0.49, 0.5, 0.7, 1.0])
@pytest.mark.parametrize("negate_end", [False, True])
def test_lerp_is_pytorchs_formula(weight, negate_end):
    from tensorswitch.optim.optimizer import lerp_

    rng = np.random.default_rng(3)
    start, end = rng.standard_normal(50).astype(np.float32), rng.standard_normal(50).astype(np.float32)
    target = -end if negate_end else end
    w = np.float32(weight)
    want = start + w * (target - start) if weight < 0.5 else target - (target - start) * np.float32(1 - weight)
    got = lerp_(ts.asarray(start), ts.asarray(end), weight, negate_end=negate_end)
    np.testing.assert_array_equal(got.numpy(), want)
    if weight in (0.0, 1.0):  # exact at both ends
        np.testing.assert_array_equal(got.numpy(), start if weight == 0 else target)


# -- learning rate schedulers ---------------------------------------------------------------------------------------

SCHEDULERS = [
    ("StepLR", {"step_size": 7, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [5, 12, 12, 20], "gamma": 0.3}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.01}),  # 30 epochs: down, up again, down again
    ("CosineAnnealingLR", {"T_max": 7}),
    ("LambdaLR", {"lr_lambda": lambda epoch: 0.95 ** epoch}),
    ("LambdaLR", {"lr_lambda": [lambda epoch: 1 / (epoch + 1), lambda epoch: 0.5 ** (epoch // 4)]}),
]


def _two_group_optimizers():
    ts_opt = optim.SGD([{"params": [_param(np.zeros(1))], "lr": 0.1},
                        {"params": [_param(np.zeros(1))], "lr": 0.02}], lr=1.0)
    torch_opt = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": 0.1},
                                 {"params": [torch.zeros(1, requires_grad=True)], "lr": 0.02}], lr=1.0)
    return ts_opt, torch_opt


def _epoch(optimizers, schedulers):
    """One epoch: every optimiser steps, then every scheduler (the order PyTorch asks for)."""
    for opt in optimizers:
        opt.step()
    for sched in schedulers:
        sched.step()


@pytest.mark.parametrize("name, kwargs", SCHEDULERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULERS)])
def test_scheduler_matches_torch_for_30_epochs(name, kwargs):
    ts_opt, torch_opt = _two_group_optimizers()
    mine = getattr(lr_scheduler, name)(ts_opt, **kwargs)
    theirs = getattr(torch.optim.lr_scheduler, name)(torch_opt, **kwargs)
    assert mine.get_last_lr() == theirs.get_last_lr()
    for epoch in range(30):
        _epoch([ts_opt, torch_opt], [mine, theirs])
        assert mine.get_last_lr() == theirs.get_last_lr(), f"epoch {epoch}"  # the same floats
        assert [g["lr"] for g in ts_opt.param_groups] == [g["lr"] for g in torch_opt.param_groups]
        assert mine.last_epoch == theirs.last_epoch
    assert list(mine.state_dict()) == list(theirs.state_dict())


@pytest.mark.parametrize("name, kwargs", SCHEDULERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULERS)])
def test_scheduler_resumes_from_a_saved_state_dict(name, kwargs, tmp_path):
    ts_opt, _ = _two_group_optimizers()
    straight = getattr(lr_scheduler, name)(ts_opt, **kwargs)
    expected = []
    for _ in range(20):
        _epoch([ts_opt], [straight])
        expected.append(straight.get_last_lr())

    opt, _ = _two_group_optimizers()
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    got = []
    for epoch in range(20):
        if epoch == 8:
            save({"opt": opt.state_dict(), "sched": sched.state_dict()}, tmp_path / "ckpt.safetensors")
            opt, _ = _two_group_optimizers()
            sched = getattr(lr_scheduler, name)(opt, **kwargs)
            saved = load(tmp_path / "ckpt.safetensors")
            opt.load_state_dict(saved["opt"])
            sched.load_state_dict(saved["sched"])
        _epoch([opt], [sched])
        got.append(sched.get_last_lr())
    assert got == expected


@pytest.mark.parametrize("name, kwargs", SCHEDULERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULERS)])
def test_scheduler_created_with_last_epoch_matches_torch(name, kwargs):
    """A scheduler made with last_epoch=k over an optimiser that holds initial_lr continues as torch's does."""
    ts_opt, torch_opt = _two_group_optimizers()
    scheds = [getattr(lr_scheduler, name)(ts_opt, **kwargs),
              getattr(torch.optim.lr_scheduler, name)(torch_opt, **kwargs)]
    for _ in range(5):
        _epoch([ts_opt, torch_opt], scheds)
    mine = getattr(lr_scheduler, name)(ts_opt, last_epoch=5, **kwargs)
    theirs = getattr(torch.optim.lr_scheduler, name)(torch_opt, last_epoch=5, **kwargs)
    assert mine.get_last_lr() == theirs.get_last_lr()
    for _ in range(10):
        _epoch([ts_opt, torch_opt], [mine, theirs])
        assert mine.get_last_lr() == theirs.get_last_lr()


def test_scheduler_closed_form_epoch_argument_matches_torch():
    ts_opt, torch_opt = _two_group_optimizers()
    mine = lr_scheduler.CosineAnnealingLR(ts_opt, T_max=10)
    theirs = torch.optim.lr_scheduler.CosineAnnealingLR(torch_opt, T_max=10)
    ts_opt.step()
    torch_opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mine.step(4)
        theirs.step(4)
    assert mine.get_last_lr() == theirs.get_last_lr()
    assert math.isclose(mine.get_last_lr()[0], 0.1 * (1 + math.cos(math.pi * 4 / 10)) / 2)


def test_scheduler_warnings_and_errors():
    opt, _ = _two_group_optimizers()
    sched = lr_scheduler.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR(torch.optim.SGD([torch.zeros(1, requires_grad=True)]), step_size=2)
    fresh, _ = _two_group_optimizers()
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.ExponentialLR(fresh, gamma=0.9, last_epoch=3)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        lr_scheduler.LambdaLR(fresh, [lambda e: 1.0])
    with pytest.raises(ValueError, match="step_size must be a positive int"):
        lr_scheduler.StepLR(fresh, step_size=0)
