"""The Optimizer base: parameter groups, per-parameter state, zero_grad, step hooks and state dicts in PyTorch's format.

Written against the public ``ts`` API only (STYLE.md section 6).  A subclass gives its defaults, checks a group's
hyperparameters in ``_check_group`` (``check_options`` and ``check_flags`` below do PyTorch's checks) and implements
``_update_group``, the update of one group's parameters that have a gradient (``params_with_grad``), which ``step``
calls for each group under ``ts.no_grad()``; see ``sgd.py`` for the smallest one.  A subclass may implement ``step``
itself instead, as in PyTorch.

    import tensorswitch as ts
    w = ts.zeros((3,), requires_grad=True)
    opt = ts.optim.SGD([w], lr=0.1, momentum=0.9)
    w.grad = ts.ones((3,))
    opt.step()               # w is updated in place: the same Python object
    opt.zero_grad()          # w.grad is None again
"""

import collections
import copy
import functools
import itertools
import numbers

import numpy as np

import tensorswitch as ts  # only used at call time: this module may be imported while tensorswitch initialises
from ..utils.hooks import RemovableHandle

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """The default of a hyperparameter that every parameter group must give (``lr=required``)."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _with_hooks(step):
    """``step`` running the optimiser's step hooks around it (once, even when a subclass calls ``super().step``)."""

    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        if self._in_step:
            return step(self, *args, **kwargs)
        for hook in list(self._step_pre_hooks.values()):
            result = hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(f"a step pre-hook must return None or a tuple (args, kwargs), got {result!r}")
                args, kwargs = result
        self._opt_called = True  # read by the learning rate schedulers' call-order warning
        self._in_step = True
        try:
            out = step(self, *args, **kwargs)
        finally:
            self._in_step = False
        for hook in list(self._step_post_hooks.values()):
            hook(self, args, kwargs)
        return out

    return wrapper


class Optimizer:
    """Base class of all optimisers.

    ``params``: an iterable of tensors (leaves; updated in place), of ``(name, tensor)`` pairs, or of dicts, each a
    parameter group: ``{"params": [...], "lr": 0.01, ...}``; options a group does not give come from ``defaults``.

    ``state`` maps each parameter to its state dict (momentum buffers and the like, on the parameter's device and in
    its dtype).  ``state_dict()`` gives ``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``,
    PyTorch's layout, with parameters replaced by their index in the order of the groups.
    """

    #: state entries that have the parameter's shape (``load_state_dict`` checks them)
    _param_shaped_state = ()
    #: this optimiser keeps ``state["step"]`` as a 0-d float32 cpu tensor, like PyTorch's Adam and RMSprop
    _step_as_tensor = False
    _in_step = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _with_hooks(cls.__dict__["step"])

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self._step_pre_hooks = collections.OrderedDict()
        self._step_post_hooks = collections.OrderedDict()
        name = type(self).__name__
        self._check_group(self.defaults)  # PyTorch's messages ("Invalid learning rate: -1") for bad arguments
        if isinstance(params, ts.Tensor):
            raise TypeError(f"params argument given to the optimizer should be an iterable of Tensors or dicts, but "
                            f"got a tensor; pass [tensor] ({name})")
        if isinstance(params, dict):
            raise TypeError(f"params argument given to the optimizer should be an iterable of Tensors or dicts, but "
                            f"got one dict; pass a list of parameter groups: [{{'params': ...}}] ({name})")
        if isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering of "
                            "tensors in sets will change between runs. Please use a list instead.")
        self.state = collections.defaultdict(dict)
        self.param_groups = []
        try:
            groups = list(params)
        except TypeError:
            raise TypeError(f"params argument given to the optimizer should be an iterable of Tensors or dicts, but "
                            f"got {type(params).__name__}") from None
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- hyperparameters ------------------------------------------------------------------------------------------

    def _check_group(self, group):
        """Raise ValueError (PyTorch's texts) for bad hyperparameters in ``group``; may normalise values in place.
        Subclasses override this; options equal to ``required`` are skipped (they are checked per group)."""

    def add_param_group(self, param_group):
        """Add a parameter group: a dict with "params" (tensors, or (name, tensor) pairs) and any options.

        Useful when fine-tuning: layers unfrozen later join the optimiser with their own options.  The dict itself
        becomes ``self.param_groups[-1]`` (as in PyTorch), with the defaults filled in.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("param_group must have a 'params' entry (the tensors it optimises)")
        params = param_group["params"]
        if isinstance(params, ts.Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering of "
                            "tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        tensors, names = [], []
        for p in params:
            if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str):
                names.append(p[0])
                p = p[1]
            tensors.append(p)
        if names and len(names) != len(tensors):
            raise ValueError("all optimizer params should be with/without names. Some param names are missing")
        for i, p in enumerate(tensors):
            if not isinstance(p, ts.Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params (index {i}) is "
                                f"{type(p).__module__}.{type(p).__qualname__}")
            if p.dtype.kind != "float":
                raise TypeError(f"optimizer can only optimize floating-point tensors, but parameter {i} is "
                                f"{p.dtype.name} (on {p.device}); convert it with .astype(ts.float32)")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor (one computed from others); optimise the leaf it "
                                 "comes from, or x.detach().requires_grad_(True)")
        param_group["params"] = tensors
        if names:
            param_group["param_names"] = names

        for key, default in self.defaults.items():
            if default is required and key not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {key}")
            param_group.setdefault(key, default)
        try:
            self._check_group(param_group)
        except ValueError as exc:
            raise ValueError(f"{exc} (in parameter group {len(self.param_groups)})") from None

        if len({id(p) for p in tensors}) != len(tensors):
            ts.errors.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                           "cause an error; see github.com/pytorch/pytorch/issues/40967 for more information",
                           UserWarning)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in tensors):
            raise ValueError("some parameters appear in more than one parameter group")
        for group in self.param_groups:
            if ("param_names" in group) != ("param_names" in param_group):
                have = "with names" if "param_names" in param_group else "without names"
                raise ValueError(f"all optimizer param groups should be with/without names. cannot add param group "
                                 f"{have} to the optimizer")
        self.param_groups.append(param_group)

    # -- gradients and steps ---------------------------------------------------------------------------------------

    def zero_grad(self, set_to_none=True):
        """Reset the gradients of every parameter: to None (the default, as in PyTorch), or to zeros in place.

        With ``set_to_none=True`` a parameter that gets no gradient before the next ``step`` is skipped by it; with
        zeros it takes a step with a zero gradient (which still moves it when there is momentum or weight decay).
        """
        with ts.no_grad():
            for group in self.param_groups:
                for p, grad in params_with_grad(group):
                    if set_to_none:
                        p.grad = None
                        continue
                    if grad.grad_fn is not None:  # a gradient made with create_graph=True: cut it from its graph
                        grad = grad.detach()
                        p.grad = grad
                    elif grad.requires_grad:
                        grad.requires_grad_(False)
                    grad[...] = 0

    @_with_hooks  # the subclasses' own steps are wrapped by __init_subclass__
    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` (re-evaluating the model and returning the loss)
        is called first, with gradients enabled, and its result returned."""
        loss = self._evaluate(closure)
        with ts.no_grad():
            for group in self.param_groups:
                self._update_group(group)
        return loss

    def _update_group(self, group):
        """Update the parameters of ``group`` that have a gradient, in place (called by ``step``, under no_grad)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement step() (or _update_group(group), which "
                                  f"the base step calls for each parameter group)")

    def _evaluate(self, closure):
        if closure is None:
            return None
        with ts.enable_grad():
            return closure()

    def register_step_pre_hook(self, hook):
        """Call ``hook(optimizer, args, kwargs)`` before each ``step``; it may return new ``(args, kwargs)``."""
        handle = RemovableHandle(self._step_pre_hooks)
        self._step_pre_hooks[handle.id] = hook
        return handle

    def register_step_post_hook(self, hook):
        """Call ``hook(optimizer, args, kwargs)`` after each ``step``."""
        handle = RemovableHandle(self._step_post_hooks)
        self._step_post_hooks[handle.id] = hook
        return handle

    # -- state dicts -----------------------------------------------------------------------------------------------

    def state_dict(self):
        """The optimiser's state in PyTorch's layout:

            {"state": {0: {"momentum_buffer": tensor, ...}, ...},
             "param_groups": [{"lr": 0.01, ..., "params": [0, 1]}, ...]}

        Parameters are numbered in the order the groups list them; only parameters with state appear in "state".
        The dicts are new, but the tensors are the optimiser's own (as in PyTorch): ``ts.save`` it, or deep-copy it,
        to keep a snapshot while training goes on.
        """
        mapping = {}
        start = 0
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {(mapping[id(k)] if isinstance(k, ts.Tensor) else k): dict(v) for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a state dict made by ``state_dict()`` (here, or by PyTorch with its tensors converted to NumPy
        arrays or ts tensors).

        The groups must match this optimiser's in number and size; saved hyperparameters replace the current ones
        and state tensors are copied to each parameter's device and dtype (``step`` stays a float32 cpu tensor), so
        the optimiser never shares memory with ``state_dict``.  Load after creating a learning rate scheduler:
        creating one resets the learning rates.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            got = sorted(map(str, state_dict)) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups' (from "
                             f"state_dict()), got {got}")
        saved_groups = copy.deepcopy(list(state_dict["param_groups"]))
        groups = self.param_groups
        if len(groups) != len(saved_groups):
            raise ValueError(f"loaded state dict has a different number of parameter groups ({len(saved_groups)}; "
                             f"this {name} has {len(groups)})")
        for i, (group, saved) in enumerate(zip(groups, saved_groups)):
            if not isinstance(saved, dict) or "params" not in saved:
                raise ValueError(f"{name}.load_state_dict: param_groups[{i}] is not a parameter group (a dict with "
                                 f"'params')")
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(f"loaded state dict contains a parameter group that doesn't match the size of "
                                 f"optimizer's group (group {i}: {len(saved['params'])} parameters saved, "
                                 f"{len(group['params'])} in this {name})")
        id_map = dict(zip(itertools.chain.from_iterable(g["params"] for g in saved_groups),
                          itertools.chain.from_iterable(g["params"] for g in groups)))

        for i, (group, saved) in enumerate(zip(groups, saved_groups)):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            for key, default in self.defaults.items():  # groups saved before an option existed get its default
                if default is not required:
                    saved.setdefault(key, default)
            try:
                self._check_group(saved)
            except ValueError as exc:
                raise ValueError(f"{name}.load_state_dict: param_groups[{i}]: {exc}") from None

        state = collections.defaultdict(dict)
        with ts.no_grad():
            for key, value in dict(state_dict["state"]).items():
                if key not in id_map:
                    raise ValueError(f"{name}.load_state_dict: the state has an entry for parameter {key!r}, which "
                                     f"no parameter group lists")
                if not isinstance(value, dict):
                    raise ValueError(f"{name}.load_state_dict: the state of parameter {key!r} must be a dict, got "
                                     f"{type(value).__name__}")
                param = id_map[key]
                state[param] = {k: self._load_value(param, key, k, v) for k, v in value.items()}
        self.state = state
        self.param_groups = saved_groups

    def _load_value(self, param, index, key, value):
        """One state value, as this optimiser keeps it: tensors (or NumPy arrays) copied to the parameter's device
        and dtype, ``step`` a float32 cpu tensor where the optimiser keeps it so, anything else deep-copied."""
        if isinstance(value, dict):
            return {k: self._load_value(param, index, k, v) for k, v in value.items()}
        is_array = isinstance(value, (ts.Tensor, np.ndarray))
        if key == "step" and self._step_as_tensor:
            if is_array and value.size != 1 or not is_array and not isinstance(value, numbers.Real):
                raise ValueError(f"{type(self).__name__}.load_state_dict: the step of parameter {index!r} must be a "
                                 f"number or a one-element tensor, got {value!r}")
            host = float(value.item() if is_array else value)
            return ts.asarray(np.float32(host), device="cpu")
        if not is_array:
            return copy.deepcopy(value)
        if key in self._param_shaped_state and tuple(value.shape) != tuple(param.shape):
            raise ValueError(f"{type(self).__name__}.load_state_dict: state[{index!r}][{key!r}] has shape "
                             f"{tuple(value.shape)}, but its parameter has shape {tuple(param.shape)}: the state dict "
                             f"belongs to other parameters (or to parameters listed in another order)")
        if key == "step":  # PyTorch never casts a step (issue 74424)
            return ts.asarray(value, copy=True) if isinstance(value, ts.Tensor) else ts.asarray(value, device="cpu")
        return ts.asarray(value, dtype=param.dtype, device=param.device, copy=True)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


# -- helpers shared by the optimisers ---------------------------------------------------------------------------------

def params_with_grad(group):
    """``(parameter, gradient)`` for each parameter of ``group`` that has a gradient, in order; the others are skipped
    (PyTorch's rule: a parameter that got no gradient since ``zero_grad()`` neither moves nor changes its state)."""
    for p in group["params"]:
        grad = p.grad
        if grad is not None:
            yield p, grad


def check_real(optimizer, name, value):
    """``value`` (a hyperparameter) must be a real number; Python and NumPy numbers pass, bools and tensors do not."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        hint = " (pass a Python float)" if isinstance(value, (ts.Tensor, np.ndarray)) else ""
        raise TypeError(f"{optimizer}: {name} must be a real number, got {value!r} ({type(value).__name__}){hint}")


#: what PyTorch calls each hyperparameter that must not be negative in its "Invalid learning rate: -1" errors
_NONNEGATIVE_WORDS = {"lr": "learning rate", "eps": "epsilon value", "momentum": "momentum value",
                      "weight_decay": "weight_decay value", "alpha": "alpha value"}


def check_options(optimizer, group, real=(), nonnegative=()):
    """The number checks of ``group`` that the optimisers share: each option in ``real`` must be a real number
    (:func:`check_real`), then each in ``nonnegative`` at least 0 (NaN is not), with PyTorch's ValueError text.  Both
    are checked in the order given, which is PyTorch's: with two bad options, the same one is named."""
    for key in real:
        check_real(optimizer, key, group[key])
    for key in nonnegative:
        if not 0.0 <= group[key]:
            raise ValueError(f"Invalid {_NONNEGATIVE_WORDS[key]}: {group[key]}")


def check_flags(optimizer, group, **supported):
    """PyTorch's implementation switches that tensorswitch accepts only at their default (``fused=None`` ...)."""
    for flag, allowed in supported.items():
        if flag in group and group[flag] not in allowed:
            raise ValueError(f"{optimizer}: {flag}={group[flag]!r} is not supported by tensorswitch (it has no fused, "
                             f"capturable or differentiable optimiser kernels); leave it at "
                             f"{' or '.join(map(repr, allowed))}")


# Note [Optimiser step cost]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~
# A step is a handful of elementwise ops per parameter, and on a big parameter each op is a pass over its memory; on a
# small one each costs a few microseconds of dispatch.  PyTorch fuses ``add_(alpha=)``, ``addcmul_``, ``addcdiv_`` and
# ``lerp_`` into one pass each; tensorswitch has binary ops only, so the optimisers keep the count at what those allow:
# - Temporaries are our own and updated in place (``d = end - start; d *= w``), never ``(a - b) * w``: the same
#   roundings, one fresh buffer fewer (a second live buffer of a big parameter costs more than the op itself).
# - Hyperparameters are Python scalars, folded into one scalar where the math allows (``-lr * sign``, Adam's bias
#   corrections); the dispatcher caches each value as one 0-d constant per device and dtype, so the step-dependent ones
#   cost one fill per step, shared by all the parameters.
# - ``maximize`` negates no tensor: the optimisers carry the gradient's sign and flip a scalar or turn ``+=`` into
#   ``-=`` instead.  Each such rewrite only moves a sign, which rounding commutes with, so the values are bit for bit
#   those of negating first.  Adam moving ``sqrt(1 - beta2**t)`` into its scalars is the one rewrite that is only equal
#   in exact arithmetic; its results stay within the same few units in the last place of PyTorch's.
# - The step counter lives on cpu (as in PyTorch), so reading it is a host read, never a device sync.
# Per parameter and step: SGD 2 ops, with momentum 4 (6 with nesterov); Adam 12 plus the counter; RMSprop 9 plus the
# counter; weight decay adds 2 (AdamW's decoupled one 1).  ``tests/test_optim.py`` counts them.

def weight_decayed(grad, param, weight_decay):
    """``grad + weight_decay * param`` in a new tensor (``grad`` is the user's and is never written); one temporary."""
    decayed = param * weight_decay
    decayed += grad
    return decayed


def lerp_(start, end, weight, negate_end=False):
    """``start`` moved in place towards ``end`` (``-end`` with ``negate_end``) by ``weight``, with PyTorch's two
    formulas, exact at both ends: ``start + weight * (end - start)`` below 0.5, ``end - (end - start) * (1 - weight)``
    from 0.5 on.  Three elementwise ops; the negation is folded into them (each rewrite below only flips signs, which
    rounding commutes with, so the values are those of the formulas on ``-end``)."""
    if abs(weight) < 0.5:
        if negate_end:
            diff = end + start  # -(-end - start)
            diff *= -weight
        else:
            diff = end - start
            diff *= weight
        start += diff
    else:  # in start itself, no temporary: ((start - end) * (1 - weight)) + end
        if negate_end:
            start += end
            start *= 1 - weight
            start -= end
        else:
            start -= end
            start *= 1 - weight
            start += end
    return start
