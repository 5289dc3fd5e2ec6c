"""``ts.nn.Module``: the base class of every layer, with PyTorch's semantics.

A module keeps three ordered dicts, filled by ``__setattr__`` exactly as ``torch.nn.Module`` fills them:
``_parameters`` (``ts.nn.Parameter`` objects), ``_buffers`` (plain tensors such as BatchNorm's running statistics)
and ``_modules`` (child modules).  Everything else -- ``parameters()``, ``state_dict()``, ``to()``, ``repr`` -- walks
those dicts, so a model written for PyTorch reads the same here and its state dict keys ("0.weight",
"features.1.running_mean") are PyTorch's.

This module uses only the public ``tensorswitch`` API (see STYLE.md section 6).

>>> import tensorswitch as ts
>>> class Affine(ts.nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.scale = ts.nn.Parameter(ts.ones(3))
...     def forward(self, x):
...         return x * self.scale
>>> list(Affine().state_dict())
['scale']
"""

from collections import OrderedDict, namedtuple
import itertools

import numpy as np

import tensorswitch as ts
from tensorswitch.autograd import Parameter
from ..utils.hooks import RemovableHandle

__all__ = ["Module", "Parameter", "RemovableHandle"]


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: PyTorch's namedtuple, with its repr."""

    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _addindent(text, spaces):
    """Indent every line of ``text`` but the first (PyTorch's ``_addindent``: blank lines stay empty)."""
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    first = lines.pop(0)
    return first + "\n" + "\n".join(" " * spaces + line if line.strip() else "" for line in lines)


def _check_name(kind, name, module):
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
    if not name:
        raise KeyError(f'{kind} name can\'t be empty string ""')
    if "." in name:
        raise KeyError(f'{kind} name can\'t contain ".", got {name!r}')


def _parse_to(args, kwargs):
    """``Module.to``'s arguments as (device or None, dtype or None), as ``torch.nn.Module.to`` accepts them:
    ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)`` and the keywords ``device=``, ``dtype=``."""
    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)  # accepted for PyTorch compatibility; copies here are synchronous
    if kwargs:
        raise TypeError(f"Module.to() got unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
    if len(args) > 2:
        raise TypeError(f"Module.to() takes at most 2 positional arguments (device, dtype), got {len(args)}")
    for arg in args:
        if isinstance(arg, ts.Tensor):
            device, dtype = arg.device, arg.dtype
        elif isinstance(arg, ts.DType):
            dtype = arg
        elif isinstance(arg, ts.Device):
            device = arg
        elif isinstance(arg, str):
            try:
                dtype = ts.dtype(arg)
            except TypeError:
                device = arg
        else:
            raise TypeError(f"Module.to() expects a device, a dtype or a tensor, got {type(arg).__name__}")
    if device is not None:
        device = ts.device(device)  # raises, saying why, for a device that cannot be used
    if dtype is not None:
        dtype = ts.dtype(dtype)
        if dtype.kind != "float":
            raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dtype.name}")
    return device, dtype


class Module:
    """Base class for all neural network modules; subclasses define ``__init__`` (calling ``super().__init__()``
    first) and ``forward``.  Calling the module runs the forward pre-hooks, ``forward`` and the forward hooks."""

    training: bool
    _version = 1

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments; Module.__init__ takes "
                            f"none (pass them to your subclass's own __init__)")
        # object.__setattr__: our own __setattr__ needs these dicts to exist first
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())

    # -- forward ----------------------------------------------------------------------------------------------------

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        for hook in tuple(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook in tuple(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    def register_forward_pre_hook(self, hook):
        """``hook(module, args)`` runs before ``forward``; it may return new args (a tuple, or one value)."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook):
        """``hook(module, args, output)`` runs after ``forward``; it may return a new output."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    # -- attributes -------------------------------------------------------------------------------------------------

    def __setattr__(self, name, value):
        def remove_from(*dicts_or_sets):
            for d in dicts_or_sets:
                if name in d:
                    if isinstance(d, dict):
                        del d[name]
                    else:
                        d.discard(name)

        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            remove_from(self.__dict__, self._buffers, self._modules, self._non_persistent_buffers_set)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                f"(ts.nn.Parameter or None expected)")
            self.register_parameter(name, value)
        else:
            modules = self.__dict__.get("_modules")
            if isinstance(value, Module):
                if modules is None:
                    raise AttributeError("cannot assign module before Module.__init__() call")
                remove_from(self.__dict__, self._parameters, self._buffers, self._non_persistent_buffers_set)
                modules[name] = value
            elif modules is not None and name in modules:
                if value is not None:
                    raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                    f"(ts.nn.Module or None expected)")
                modules[name] = value
            else:
                buffers = self.__dict__.get("_buffers")
                if buffers is not None and name in buffers:
                    if value is not None and not isinstance(value, ts.Tensor):
                        raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                        f"(ts.Tensor or None expected)")
                    buffers[name] = value
                else:
                    object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # only called when normal lookup fails: look in the three dicts
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            table = d.get(key)
            if table is not None and name in table:
                return table[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self):
        keys = list(object.__dir__(self)) + list(self._parameters) + list(self._modules) + list(self._buffers)
        return sorted(k for k in set(keys) if not k[:1].isdigit())

    # -- registration -----------------------------------------------------------------------------------------------

    def register_parameter(self, name, param):
        """Add ``param`` (a ``ts.nn.Parameter`` or None) as the parameter ``name``."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_name("parameter", name, self)
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            f"(ts.nn.Parameter or None required)")
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Add ``tensor`` (a ``ts.Tensor`` or None) as the buffer ``name``: state that is not trained (BatchNorm's
        running mean), moved by ``to()`` and saved in ``state_dict()`` unless ``persistent=False``."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_name("buffer", name, self)
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, ts.Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            f"(ts.Tensor or None required)")
        if isinstance(tensor, Parameter):
            raise TypeError(f"cannot register the Parameter {name!r} as a buffer; use register_parameter")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name, module):
        """Add the child ``module`` (or None) under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string, got {type(name).__name__}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target):
        """The submodule at the dotted path ``target`` ("" is the module itself)."""
        module = self
        for item in target.split(".") if target else ():
            if item not in module._modules or module._modules[item] is None:
                raise AttributeError(f"{module._get_name()} has no attribute `{item}`")
            module = module._modules[item]
        return module

    def get_parameter(self, target):
        """The parameter at the dotted path ``target`` ("fc.weight")."""
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if name not in module._parameters:
            raise AttributeError(f"{module._get_name()} has no parameter `{name}`")
        return module._parameters[name]

    def get_buffer(self, target):
        """The buffer at the dotted path ``target`` ("bn.running_mean")."""
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if name not in module._buffers:
            raise AttributeError(f"{module._get_name()} has no buffer `{name}`")
        return module._buffers[name]

    # -- iteration --------------------------------------------------------------------------------------------------

    def _named_members(self, get_members, prefix="", recurse=True, remove_duplicate=True):
        memo = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else \
            [(prefix, self)]
        for module_prefix, module in modules:
            for k, v in get_members(module):
                if v is None:
                    continue
                if remove_duplicate:
                    if id(v) in memo:
                        continue
                    memo.add(id(v))
                yield (module_prefix + ("." if module_prefix else "") + k), v

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(name, parameter) pairs, each parameter once (shared ones under their first name)."""
        yield from self._named_members(lambda m: m._parameters.items(), prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members(lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def named_children(self):
        memo = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in memo:
                memo.add(id(module))
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(name, module) pairs for this module ("") and every submodule, depth first."""
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            yield from module.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    # -- modes ------------------------------------------------------------------------------------------------------

    def train(self, mode=True):
        """Set training mode (``training = mode``) on this module and every submodule; returns self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Drop every parameter's gradient (``set_to_none``, the default) or fill it with zeros."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                with ts.no_grad():
                    p.grad[...] = 0

    def apply(self, fn):
        """Call ``fn`` on every submodule (children first), then on this module; returns self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # -- devices and dtypes -----------------------------------------------------------------------------------------

    def to(self, *args, **kwargs):
        """Move and/or cast every parameter, buffer and gradient in place; returns self.

        ``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(tensor)``.  A dtype applies only to floating
        parameters and buffers (BatchNorm's int64 ``num_batches_tracked`` stays int64), as in PyTorch.  The
        Parameter objects stay the same objects (``p.data = ...``), so an optimiser made before still holds them.
        Every conversion is made before any is assigned: if one fails (a dtype the device lacks), the module is
        left as it was.
        """
        device, dtype = _parse_to(args, kwargs)

        def convert(t):
            dt = dtype if dtype is not None and t.dtype.kind == "float" else None
            return t.to(device, dt)

        moves, seen = [], set()  # (tensor to update, its new value); a shared tensor is converted once

        def add(t):
            if t is not None and id(t) not in seen:
                seen.add(id(t))
                moves.append((t, convert(t.data)))

        with ts.no_grad():
            for module in self.modules():
                for p in module._parameters.values():
                    add(p)
                    if p is not None:
                        add(p.grad)
                for b in module._buffers.values():
                    add(b)
            for t, new in moves:
                if new.device is not t.device or new.dtype is not t.dtype:
                    t.data = new
        return self

    def cpu(self):
        return self.to("cpu")

    def float(self):  # noqa: A003  (PyTorch's name)
        return self.to(ts.float32)

    def double(self):
        return self.to(ts.float64)

    def half(self):
        return self.to(ts.float16)

    # -- state dict -------------------------------------------------------------------------------------------------

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()

    def state_dict(self, *, destination=None, prefix="", keep_vars=False):
        """An ordered dict from PyTorch-style names ("0.weight", "bn.running_mean") to tensors (detached aliases
        of the parameters and persistent buffers, unless ``keep_vars``)."""
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        return destination

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs, assign=False):
        """Copy this module's own entries of ``state_dict`` (those under ``prefix``) into its tensors (PyTorch's
        hook of the same name: subclasses with extra state override it)."""
        persistent = {k: v for k, v in self._buffers.items() if k not in self._non_persistent_buffers_set}
        local_state = {k: v for k, v in itertools.chain(self._parameters.items(), persistent.items())
                       if v is not None}
        for name, target in local_state.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            value = state_dict[key]
            if not isinstance(value, ts.Tensor):
                try:
                    value = np.asarray(value)
                except Exception as exc:  # noqa: BLE001  (any object NumPy refuses)
                    error_msgs.append(f'While copying the parameter named "{key}", expected a tensor or an array '
                                      f"from the checkpoint but received {type(value).__name__} ({exc})")
                    continue
                if value.dtype.kind not in "biuf":
                    error_msgs.append(f'While copying the parameter named "{key}", expected a tensor or an array '
                                      f"of numbers from the checkpoint but received {type(value).__name__} of "
                                      f"dtype {value.dtype}")
                    continue
            if tuple(value.shape) != tuple(target.shape):
                error_msgs.append(f"size mismatch for {key}: copying a param with shape {tuple(value.shape)} from "
                                  f"checkpoint, the shape in current model is {tuple(target.shape)}.")
                continue
            try:
                with ts.no_grad():
                    converted = ts.asarray(value, dtype=target.dtype, device=target.device)
                    if assign:
                        # the module takes the checkpoint's tensor itself (PyTorch's assign=True)
                        if isinstance(target, Parameter):
                            setattr(self, name, Parameter(converted, requires_grad=target.requires_grad))
                        else:
                            setattr(self, name, converted)
                    else:
                        target[...] = converted
            except Exception as exc:  # noqa: BLE001  (reported with the key, as PyTorch does)
                error_msgs.append(f'While copying the parameter named "{key}", whose dimensions in the model are '
                                  f"{tuple(target.shape)} and whose dimensions in the checkpoint are "
                                  f"{tuple(value.shape)}, an exception occurred: {exc}")
        if strict:
            for key in state_dict.keys():
                if not isinstance(key, str) or not key.startswith(prefix):
                    continue
                input_name = key[len(prefix):].split(".", 1)
                if len(input_name) > 1:
                    if input_name[0] not in self._modules:
                        unexpected_keys.append(key)
                elif input_name[0] not in local_state:
                    unexpected_keys.append(key)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy ``state_dict``'s values (ts tensors, NumPy arrays, or anything ``np.asarray`` takes, such as
        PyTorch CPU tensors) into this module's parameters and buffers, in place, under ``ts.no_grad()``, cast to
        each tensor's dtype on its device.

        Raises RuntimeError listing missing keys, unexpected keys (both only when ``strict``) and shape mismatches
        (always), in PyTorch's words.  Returns the ``(missing_keys, unexpected_keys)`` namedtuple.
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
        missing_keys, unexpected_keys, error_msgs = [], [], []

        def load(module, prefix=""):
            module._load_from_state_dict(state_dict, prefix, {}, True, missing_keys, unexpected_keys, error_msgs,
                                         assign)
            for name, child in module._modules.items():
                if child is not None:
                    load(child, prefix + name + ".")

        load(self)
        if strict:
            if unexpected_keys:
                error_msgs.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in unexpected_keys)))
            if missing_keys:
                error_msgs.insert(0, "Missing key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in missing_keys)))
        if error_msgs:
            raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
                type(self).__name__, "\n\t".join(error_msgs)))
        return _IncompatibleKeys(missing_keys, unexpected_keys)

    # -- repr -------------------------------------------------------------------------------------------------------

    def _get_name(self):
        return type(self).__name__

    def extra_repr(self):
        """The module's own settings, shown inside its repr (one line, or several separated by newlines)."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): " + _addindent(repr(module), 2) for key, module in self._modules.items()]
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:  # the one-line form most layers use
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"
