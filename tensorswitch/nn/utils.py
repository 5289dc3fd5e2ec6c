"""Gradient utilities: ``clip_grad_norm_``, ``clip_grad_value_``, ``parameters_to_vector``,
``vector_to_parameters`` (PyTorch's ``torch.nn.utils`` functions of the same names).

>>> import tensorswitch as ts
>>> p = ts.nn.Parameter(ts.ones(4))
>>> p.grad = ts.full((4,), 3.0)
>>> ts.nn.utils.clip_grad_norm_([p], max_norm=1.0).item()  # the norm before clipping
6.0
"""

import tensorswitch as ts

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def _as_list(parameters):
    return [parameters] if isinstance(parameters, ts.Tensor) else list(parameters)


def _vector_norm(x, norm_type):
    """The ``norm_type`` norm of all of ``x``'s elements (inf, -inf, 0 and any positive order)."""
    if norm_type == float("inf"):
        return ts.max(ts.abs(x)) if x.size else ts.zeros((), dtype=x.dtype, device=x.device)
    if norm_type == float("-inf"):
        return ts.min(ts.abs(x))
    if norm_type == 0:
        return ts.sum(x != 0).astype(x.dtype)
    if norm_type == 1:
        return ts.sum(ts.abs(x))
    if norm_type == 2:
        return ts.sqrt(ts.sum(ts.square(x)))
    return ts.sum(ts.abs(x) ** norm_type) ** (1.0 / norm_type)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale the gradients of ``parameters`` in place so that their joint ``norm_type`` norm is at most
    ``max_norm``; returns that norm before clipping (a 0-d tensor on the first gradient's device).

    The factor is ``min(1, max_norm / (norm + 1e-6))``, as in PyTorch.  Gradients may live on several devices;
    the per-tensor norms are gathered on the first one.
    """
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not grads:
        return ts.zeros(())
    with ts.no_grad():
        first = grads[0].device
        norms = [_vector_norm(g, norm_type).to(first) for g in grads]
        total = _vector_norm(ts.stack(norms), norm_type)
        if error_if_nonfinite and not bool(ts.isfinite(total).item()):
            raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is "
                               f"non-finite, so it cannot be clipped. To disable this error and scale the gradients "
                               f"by the non-finite norm anyway, set `error_if_nonfinite=False`")
        coef = ts.minimum(max_norm / (total + 1e-6), 1.0)
        for g in grads:
            g *= coef.to(g.device)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient of ``parameters`` to [-clip_value, clip_value] in place (NaN stays NaN)."""
    clip_value = float(clip_value)
    with ts.no_grad():
        for p in _as_list(parameters):
            if p.grad is not None:
                p.grad[...] = ts.minimum(ts.maximum(p.grad, -clip_value), clip_value)


def parameters_to_vector(parameters):
    """All of ``parameters`` flattened and joined into one 1-D tensor (they must share one device)."""
    params = _as_list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: got no parameters")
    for p in params[1:]:
        if p.device is not params[0].device:
            raise ts.DeviceMismatchError(f"parameters_to_vector: parameters are on {params[0].device} and "
                                         f"{p.device}; move them to one device first")
    return ts.concat([p.reshape(-1) for p in params])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D ``vec`` into ``parameters`` (in place, under ``ts.no_grad()``)."""
    if not isinstance(vec, ts.Tensor) or vec.ndim != 1:
        raise TypeError(f"vector_to_parameters: expected a 1-D ts.Tensor, got "
                        f"{getattr(vec, 'shape', type(vec).__name__)}")
    params = _as_list(parameters)
    total = sum(p.size for p in params)
    if total != vec.shape[0]:
        raise ts.ShapeError(f"vector_to_parameters: vec has {vec.shape[0]} elements but the parameters hold "
                            f"{total}")
    offset = 0
    with ts.no_grad():
        for p in params:
            p[...] = vec[offset:offset + p.size].reshape(p.shape)
            offset += p.size
