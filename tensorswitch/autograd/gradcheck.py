"""Finite-difference checks of analytic gradients: ``gradcheck`` and ``gradgradcheck`` (as in PyTorch).

Both compare, for each output and each input that requires grad, the Jacobian that autograd computes (one backward
pass per output element, or one vector-Jacobian product with ``fast_mode=True``) with central differences
``(f(x + eps) - f(x - eps)) / (2 eps)`` taken element by element.  Use float64 inputs: in float32 the finite
differences themselves are only good to about 1e-3.
"""

import warnings

import numpy as np

import tensorswitch as ts

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """An analytic gradient disagrees with its finite-difference estimate."""


def _as_tuple(x):
    return x if isinstance(x, tuple) else tuple(x) if isinstance(x, list) else (x,)


def _float_outputs(fn, inputs):
    outs = _as_tuple(fn(*inputs))
    return [o for o in outs if isinstance(o, ts.Tensor) and o.dtype.kind == "float"]


def _evaluate(fn, inputs):
    # grad mode stays on: gradgradcheck's function differentiates inside
    return [o.numpy().astype(np.float64).ravel() for o in _float_outputs(fn, inputs)]


def _perturb(x, flat_index, value):
    with ts.no_grad():
        x[np.unravel_index(flat_index, x.shape) if x.ndim else ()] = value


def _numerical(fn, inputs, x, eps, direction=None):
    """d outputs / d x by central differences: one column per element of x (or, with ``direction``, the directional
    derivative along it)."""
    host = x.numpy().astype(np.float64)
    flat = host.ravel()
    if direction is not None:
        with ts.no_grad():
            x[...] = ts.asarray((flat + eps * direction).reshape(host.shape), dtype=x.dtype, device=x.device)
            plus = _evaluate(fn, inputs)
            x[...] = ts.asarray((flat - eps * direction).reshape(host.shape), dtype=x.dtype, device=x.device)
            minus = _evaluate(fn, inputs)
            x[...] = ts.asarray(host, dtype=x.dtype, device=x.device)
        return [((p - m) / (2 * eps))[:, None] for p, m in zip(plus, minus)]
    columns = None
    for j in range(flat.size):
        _perturb(x, j, flat[j] + eps)
        plus = _evaluate(fn, inputs)
        _perturb(x, j, flat[j] - eps)
        minus = _evaluate(fn, inputs)
        _perturb(x, j, flat[j])
        if columns is None:
            columns = [np.zeros((p.size, flat.size)) for p in plus]
        for c, p, m in zip(columns, plus, minus):
            c[:, j] = (p - m) / (2 * eps)
    if columns is None:  # x is empty
        columns = [np.zeros((p.size, 0)) for p in _evaluate(fn, inputs)]
    return columns


def _analytical(fn, inputs, diff, fast_vectors=None):
    """Rows of the Jacobian of every output with respect to every input in ``diff``, from backward passes."""
    outs = _float_outputs(fn, inputs)
    result = []
    for o in outs:
        per_input = [np.zeros((o.size, inputs[i].size)) for i in diff] if fast_vectors is None else None
        if fast_vectors is not None:
            v = fast_vectors[len(result)]
            g = ts.asarray(v.reshape(o.shape), dtype=o.dtype, device=o.device)
            grads = ts.autograd.grad(o, [inputs[i] for i in diff], g, retain_graph=True, allow_unused=True) \
                if o.requires_grad else [None] * len(diff)
            result.append([np.zeros(inputs[i].size) if gr is None else gr.numpy().astype(np.float64).ravel()
                           for i, gr in zip(diff, grads)])
            continue
        for k in range(o.size):
            if not o.requires_grad:
                break
            onehot = np.zeros(o.size)
            onehot[k] = 1.0
            g = ts.asarray(onehot.reshape(o.shape), dtype=o.dtype, device=o.device)
            grads = ts.autograd.grad(o, [inputs[i] for i in diff], g, retain_graph=True, allow_unused=True)
            for row, gr in zip(per_input, grads):
                if gr is not None:
                    row[k] = gr.numpy().astype(np.float64).ravel()
        result.append(per_input)
    return result


def _fail(raise_exception, text):
    if raise_exception:
        raise GradcheckError(text)
    return False


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, *, raise_exception=True, fast_mode=False):
    """Check the gradients of ``fn(*inputs)`` against finite differences.  Returns True, or raises
    :class:`GradcheckError` (False with ``raise_exception=False``) naming the output, the input and the worst element.

    >>> import tensorswitch as ts
    >>> x = ts.asarray([0.5, 1.5], dtype=ts.float64, requires_grad=True)
    >>> ts.autograd.gradcheck(lambda t: (t * t.exp()).sum(), (x,))
    True
    """
    inputs = _as_tuple(inputs)
    diff = [i for i, x in enumerate(inputs) if isinstance(x, ts.Tensor) and x.requires_grad]
    if not diff:
        raise ValueError("gradcheck: no input requires grad; create them with requires_grad=True")
    for i in diff:
        if inputs[i].dtype is not ts.float64:
            warnings.warn(f"gradcheck: input {i} is {inputs[i].dtype.name}, not float64; the finite differences are "
                          f"not precise enough for the default tolerances", stacklevel=2)
    rng = np.random.default_rng(0)
    n_out = len(_float_outputs(fn, inputs))
    if fast_mode:
        outs = _float_outputs(fn, inputs)
        vs = [rng.standard_normal(o.size) for o in outs]
        analytic = _analytical(fn, inputs, diff, vs)
        for pos, i in enumerate(diff):
            u = rng.standard_normal(inputs[i].size)
            numeric = _numerical(fn, inputs, inputs[i], eps, u)
            for k in range(n_out):
                want = float(vs[k] @ numeric[k][:, 0])
                got = float(analytic[k][pos] @ u)
                if not abs(got - want) <= atol + rtol * abs(want):
                    return _fail(raise_exception, f"gradcheck (fast mode): the gradient of output {k} with respect "
                                 f"to input {i} disagrees with finite differences: v^T J u is {got!r} analytically, "
                                 f"{want!r} numerically")
        return True
    analytic = _analytical(fn, inputs, diff)
    for pos, i in enumerate(diff):
        numeric = _numerical(fn, inputs, inputs[i], eps)
        for k in range(n_out):
            a, n = analytic[k][pos], numeric[k]
            bad = ~(np.abs(a - n) <= atol + rtol * np.abs(n))
            if bad.any():
                r, c = np.unravel_index(int(np.argmax(np.where(bad, np.abs(a - n), -1))), a.shape)
                return _fail(raise_exception,
                             f"gradcheck: Jacobian mismatch for output {k} with respect to input {i} (shape "
                             f"{inputs[i].shape}): d out[{r}] / d in[{c}] is {a[r, c]!r} analytically, "
                             f"{n[r, c]!r} numerically ({int(bad.sum())} of {bad.size} entries differ beyond "
                             f"atol={atol}, rtol={rtol})\nanalytical:\n{a}\nnumerical:\n{n}")
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, *, raise_exception=True,
                  fast_mode=False):
    """Check second derivatives: ``gradcheck`` of the vector-Jacobian product of ``fn`` (computed with
    ``create_graph=True``) with respect to the inputs and the output gradients."""
    inputs = _as_tuple(inputs)
    diff = [i for i, x in enumerate(inputs) if isinstance(x, ts.Tensor) and x.requires_grad]
    outs = _float_outputs(fn, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(1)
        grad_outputs = tuple(ts.asarray(rng.standard_normal(o.shape), dtype=o.dtype, device=o.device,
                                        requires_grad=True) for o in outs)
    grad_outputs = _as_tuple(grad_outputs)
    n = len(inputs)

    def vjp(*args):
        ins, gouts = args[:n], args[n:]
        o = _float_outputs(fn, ins)
        grads = ts.autograd.grad(o, [ins[i] for i in diff], list(gouts), create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(vjp, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol, raise_exception=raise_exception,
                     fast_mode=fast_mode)
