"""RMSprop (PyTorch's formulation, step for step).

For each parameter with a gradient ``g`` (negated when ``maximize``)::

    g = g + weight_decay * p
    v = alpha * v + (1 - alpha) * g * g
    a = a + (1 - alpha) * (g - a)        centered: the running mean of g ...
    d = sqrt(v - a * a) + eps            ... subtracted from v; otherwise d = sqrt(v) + eps
    b = momentum * b + g / d;  p = p - lr * b      with momentum > 0
    p = p - lr * g / d                             without
"""

import tensorswitch as ts  # only used at call time

from .optimizer import Optimizer, check_flags, check_options, lerp_, params_with_grad, weight_decayed

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``.

    lr (default 1e-2), alpha (0.99, the smoothing constant), eps (1e-8), weight_decay (0), momentum (0), centered
    (False: normalise by the running variance of the gradient instead of its second moment), maximize (False).
    ``foreach`` is accepted and changes nothing; ``capturable`` and ``differentiable`` must stay False.  State per
    parameter: ``step`` (a 0-d float32 tensor on cpu), ``square_avg``, and ``momentum_buffer`` (momentum > 0) and
    ``grad_avg`` (centered) on the parameter's device, in its dtype.

    >>> import tensorswitch as ts
    >>> w = ts.asarray([1.0], requires_grad=True)
    >>> opt = ts.optim.RMSprop([w], lr=0.01, alpha=0.75)
    >>> w.grad = ts.asarray([2.0])
    >>> opt.step()
    >>> round(w.item(), 4)
    0.98
    """

    _param_shaped_state = ("square_avg", "momentum_buffer", "grad_avg")
    _step_as_tensor = True

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
                    "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _check_group(self, group):
        check_options("RMSprop", group, real=("lr", "alpha", "eps", "weight_decay", "momentum"),
                      nonnegative=("lr", "eps", "momentum", "weight_decay", "alpha"))
        check_flags("RMSprop", group, capturable=(False,), differentiable=(False,))

    def _update_group(self, group):
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        weight_decay, momentum, centered = group["weight_decay"], group["momentum"], group["centered"]
        # ``h`` below is PyTorch's gradient times ``sign``: maximize flips the sign of scalars instead of costing a
        # negation per parameter (Note [Optimiser step cost]); the second moment does not see the sign at all.
        sign = -1.0 if group["maximize"] else 1.0
        for p, grad in params_with_grad(group):
            state = self.state[p]
            if not state:
                state["step"] = ts.zeros((), dtype=ts.float32, device="cpu")
                state["square_avg"] = ts.zeros_like(p)
                if momentum > 0:
                    state["momentum_buffer"] = ts.zeros_like(p)
                if centered:
                    state["grad_avg"] = ts.zeros_like(p)
            state["step"] += 1  # in place: the 0-d tensor stays the same object

            h = grad if weight_decay == 0 else weight_decayed(grad, p, sign * weight_decay)
            square_avg = state["square_avg"]
            square_avg *= alpha
            square = h * (1 - alpha)  # PyTorch's addcmul order: (value * g) * g
            square *= h
            square_avg += square
            if centered:
                grad_avg = state.get("grad_avg")
                if grad_avg is None:  # centered switched on after the first steps
                    grad_avg = state["grad_avg"] = ts.zeros_like(p)
                lerp_(grad_avg, h, 1 - alpha, negate_end=sign < 0)
                avg = ts.sqrt(square_avg - grad_avg * grad_avg)
            else:
                avg = ts.sqrt(square_avg)
            avg += eps
            update = h / avg
            if momentum > 0:
                buf = state.get("momentum_buffer")
                if buf is None:  # momentum switched on after the first steps
                    buf = state["momentum_buffer"] = ts.zeros_like(p)
                buf *= momentum
                if sign > 0:
                    buf += update
                else:
                    buf -= update
                p += buf * -lr
            else:
                update *= -lr * sign
                p += update
