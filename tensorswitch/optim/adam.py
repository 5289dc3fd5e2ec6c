"""Adam and AdamW (PyTorch's single-tensor formulation, step for step).

For each parameter with a gradient ``g`` (negated when ``maximize``), at step ``t``::

    p = p * (1 - lr * weight_decay)          AdamW (decoupled weight decay)
    g = g + weight_decay * p                 Adam
    m = m + (1 - beta1) * (g - m)            (PyTorch's lerp)
    v = beta2 * v + (1 - beta2) * g * g
    v_max = max(v_max, v)                    amsgrad; then v_max replaces v below
    p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

The last line runs as ``p - (lr / (1 - beta1**t) * c) * m / (sqrt(v) + eps * c)`` with ``c = sqrt(1 - beta2**t)``,
so a step is twelve elementwise ops per parameter (Note [Optimiser step cost] in ``optimizer.py``).
"""

import tensorswitch as ts  # only used at call time

from .optimizer import Optimizer, check_flags, check_options, check_real, lerp_, params_with_grad, weight_decayed

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam``.

    lr (default 1e-3), betas ((0.9, 0.999)), eps (1e-8), weight_decay (0; added to the gradient, or with
    ``decoupled_weight_decay=True`` applied to the parameter as in AdamW), amsgrad (False), maximize (False).
    ``foreach`` is accepted and changes nothing; ``capturable``, ``differentiable`` and ``fused`` must stay at their
    defaults.  State per parameter: ``step`` (a 0-d float32 tensor on cpu, as in PyTorch), ``exp_avg``,
    ``exp_avg_sq`` and, with amsgrad, ``max_exp_avg_sq`` (on the parameter's device, in its dtype).

    >>> import tensorswitch as ts
    >>> w = ts.asarray([1.0, -1.0], requires_grad=True)
    >>> opt = ts.optim.Adam([w], lr=0.1)
    >>> w.grad = ts.asarray([2.0, -3.0])
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [0.9, -0.9]
    """

    _param_shaped_state = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _step_as_tensor = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable, "fused": fused, "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def _check_group(self, group):
        name = type(self).__name__
        # types first, then values in PyTorch's order (lr, eps, betas, weight_decay): the betas sit in between
        check_options(name, group, real=("lr", "eps", "weight_decay"))
        betas = group["betas"]
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        for i, beta in enumerate(betas):
            check_real(name, f"betas[{i}]", beta)
        check_options(name, group, nonnegative=("lr", "eps"))
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        check_options(name, group, nonnegative=("weight_decay",))
        group["betas"] = tuple(float(b) for b in betas)  # PyTorch keeps a tuple of floats
        check_flags(name, group, capturable=(False,), differentiable=(False,), fused=(None, False))

    def _update_group(self, group):
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        weight_decay, amsgrad = group["weight_decay"], group["amsgrad"]
        decoupled = group["decoupled_weight_decay"]
        # ``h`` below is PyTorch's gradient times ``sign``: maximize flips the sign of scalars instead of costing a
        # negation per parameter (Note [Optimiser step cost]); the second moment does not see the sign at all.
        sign = -1.0 if group["maximize"] else 1.0
        for p, grad in params_with_grad(group):
            state = self.state[p]
            if not state:
                state["step"] = ts.zeros((), dtype=ts.float32, device="cpu")
                state["exp_avg"] = ts.zeros_like(p)
                state["exp_avg_sq"] = ts.zeros_like(p)
                if amsgrad:
                    state["max_exp_avg_sq"] = ts.zeros_like(p)
            step_t = state["step"]
            step_t += 1
            step = float(step_t)  # a host read: the step lives on cpu (as in PyTorch) whatever the device

            h = grad
            if weight_decay != 0:
                if decoupled:
                    p *= 1 - lr * weight_decay
                else:
                    h = weight_decayed(grad, p, sign * weight_decay)
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            lerp_(exp_avg, h, 1 - beta1, negate_end=sign < 0)
            exp_avg_sq *= beta2
            square = h * (1 - beta2)  # PyTorch's addcmul order, (value * g) * g; the sign cancels
            square *= h
            exp_avg_sq += square

            bias_correction1 = 1 - beta1 ** step
            bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
            step_size = lr / bias_correction1
            if amsgrad:
                max_sq = state.get("max_exp_avg_sq")
                if max_sq is None:  # amsgrad switched on after the first steps: start the maximum now
                    max_sq = state["max_exp_avg_sq"] = ts.zeros_like(p)
                max_sq[...] = ts.maximum(max_sq, exp_avg_sq)
                denom = ts.sqrt(max_sq)
            else:
                denom = ts.sqrt(exp_avg_sq)
            # PyTorch's p -= step_size * m / (sqrt(v) / bc2_sqrt + eps), with bc2_sqrt moved into the two scalars:
            # equal in exact arithmetic, one pass over the parameter fewer (Note [Optimiser step cost])
            denom += eps * bias_correction2_sqrt
            update = exp_avg / denom
            update *= -step_size * bias_correction2_sqrt
            p += update


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: Adam whose weight decay shrinks the parameters directly
    (``p *= 1 - lr * weight_decay``) instead of entering the moment estimates.  weight_decay defaults to 1e-2;
    everything else is as in :class:`Adam`.

    >>> import tensorswitch as ts
    >>> w = ts.asarray([1.0], requires_grad=True)
    >>> opt = ts.optim.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> w.grad = ts.asarray([0.0])
    >>> opt.step()
    >>> round(w.item(), 6)
    0.95
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def _check_group(self, group):
        super()._check_group(group)
        group["decoupled_weight_decay"] = True  # as PyTorch's AdamW, whatever a loaded state dict says

