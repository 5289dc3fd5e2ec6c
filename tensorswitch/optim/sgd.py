"""Stochastic gradient descent, optionally with momentum (PyTorch's formulation, step for step).

For each parameter with a gradient ``g`` (negated when ``maximize``)::

    g = g + weight_decay * p
    b = g                                   on the first step (no dampening yet, as in PyTorch)
    b = momentum * b + (1 - dampening) * g  afterwards
    g = g + momentum * b   (nesterov)   or   g = b
    p = p - lr * g

With momentum that is four elementwise ops per parameter and step, without it two (Note [Optimiser step cost] in
``optimizer.py``).
"""

import tensorswitch as ts  # only used at call time

from .optimizer import Optimizer, check_flags, check_options, params_with_grad, weight_decayed

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent (optionally with momentum), as ``torch.optim.SGD``.

    lr (default 1e-3), momentum (0), dampening (0), weight_decay (0, an L2 penalty added to the gradient), nesterov
    (False; needs momentum > 0 and dampening 0), maximize (False: minimise).  ``foreach`` is accepted and changes
    nothing; ``fused`` and ``differentiable`` must stay at their defaults.  State: ``momentum_buffer`` per parameter
    (only when momentum is nonzero).

    >>> import tensorswitch as ts
    >>> w = ts.asarray([1.0, 2.0], requires_grad=True)
    >>> opt = ts.optim.SGD([w], lr=0.5)
    >>> w.grad = ts.asarray([1.0, 1.0])
    >>> opt.step()
    >>> w.tolist()
    [0.5, 1.5]
    """

    _param_shaped_state = ("momentum_buffer",)

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False,
                 foreach=None, differentiable=False, fused=None):
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize, "foreach": foreach, "differentiable": differentiable,
                    "fused": fused}
        super().__init__(params, defaults)

    def _check_group(self, group):
        check_options("SGD", group, real=("lr", "momentum", "dampening", "weight_decay"),
                      nonnegative=("lr", "momentum", "weight_decay"))
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        check_flags("SGD", group, fused=(None, False), differentiable=(False,))

    def _update_group(self, group):
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        weight_decay, nesterov = group["weight_decay"], group["nesterov"]
        # ``h`` below is the gradient PyTorch steps with, times ``sign``: maximize flips the sign of a scalar instead of
        # costing a negation per parameter (Note [Optimiser step cost]).
        sign = -1.0 if group["maximize"] else 1.0
        for p, grad in params_with_grad(group):
            h = grad if weight_decay == 0 else weight_decayed(grad, p, sign * weight_decay)
            if momentum == 0:
                p += h * (-lr * sign)
                continue
            state = self.state[p]
            buf = state.get("momentum_buffer")
            if buf is None:  # PyTorch's first step: the buffer is the gradient itself (a copy of it)
                buf = state["momentum_buffer"] = ts.asarray(h, copy=True) if sign > 0 else -h
            else:
                buf *= momentum
                if dampening != 0:
                    buf += h * (sign * (1 - dampening))
                elif sign > 0:
                    buf += h
                else:
                    buf -= h
            if nesterov:  # the gradient plus momentum times the new buffer, in a temporary of our own
                update = buf * momentum
                if sign > 0:
                    update += h
                else:
                    update -= h
                update *= -lr
                p += update
            else:
                p += buf * -lr
