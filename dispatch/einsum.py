"""``ts.einsum``: Einstein summation, contracted through ``matmul``.

Note [Einsum]
~~~~~~~~~~~~~
An einsum is turned into ops every backend already has, so it runs on every device and plugin and autograd
differentiates it through them (no kernel and no derivative of its own):

1. Parse: ``"ij,jk->ik"``; ``...`` stands for the broadcast dims (NumPy's rules, including size-1 broadcasting);
   without ``->`` the output is every label used once, in alphabetical order, after the broadcast dims.
2. Per operand: a label repeated within it (``"ii->i"``) takes the diagonal, as a product with an identity mask and
   a sum; a label no other operand and not the output uses is summed out at once.
3. Pairs of operands are contracted in the order ``opt_einsum.contract_path`` picks (its greedy search; for two
   operands there is nothing to pick).  A pair becomes one ``matmul``: each operand is permuted to (labels both keep,
   its own labels, the summed labels) and reshaped to (*shared, M, K) / (*shared, K, N); a pair that sums nothing
   is a broadcast ``multiply`` instead.
4. The last tensor's remaining labels are summed and permuted into the output order.
"""

import builtins
import math
import string

from . import dispatcher as d
from . import errors
from . import functions as F

__all__ = ["einsum"]

_LETTERS = set(string.ascii_letters)


def einsum(subscripts, /, *operands):
    """Einstein summation over ``operands`` as ``subscripts`` says (NumPy's and PyTorch's notation).

    >>> import tensorswitch as ts
    >>> a, b = ts.ones((2, 3)), ts.ones((3, 4))
    >>> ts.einsum("ij,jk->ik", a, b).shape
    (2, 4)
    >>> ts.einsum("ii", ts.eye(3)).item()
    3.0
    """
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a string such as 'ij,jk->ik', got {type(subscripts).__name__}")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):  # torch.einsum("...", [a, b])
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum: needs at least one operand")
    for x in operands:
        d.require_tensor("einsum", x)
    first = operands[0]
    for x in operands[1:]:
        if x.device is not first.device:
            raise errors.device_mismatch("einsum", (first.device, x.device))
    inputs, output = _parse(subscripts, operands)
    sizes = _sizes(inputs, operands)

    terms = []
    for labels, x in zip(inputs, operands):
        labels, x = _diagonals(labels, x)
        terms.append((labels, x))
    out_set = set(output)
    # sum out, per operand, the labels nothing else uses
    for i, (labels, x) in enumerate(terms):
        others = out_set.union(*(set(lab) for j, (lab, _) in enumerate(terms) if j != i))
        drop = [k for k, c in enumerate(labels) if c not in others]
        if drop:
            x = F.sum(x, axis=tuple(drop))
            labels = "".join(c for c in labels if c not in set(labels[k] for k in drop))
        terms[i] = (labels, x)

    for i, j in _order([lab for lab, _ in terms], output, sizes):
        (la, a), (lb, b) = terms[i], terms[j]
        rest = [lab for k, (lab, _) in enumerate(terms) if k not in (i, j)]
        keep = out_set.union(*(set(lab) for lab in rest))
        merged = _contract(la, a, lb, b, keep, sizes)
        terms = [t for k, t in enumerate(terms) if k not in (i, j)] + [merged]

    labels, x = terms[0]
    drop = tuple(k for k, c in enumerate(labels) if c not in out_set)
    if drop:
        x = F.sum(x, axis=drop)
        labels = "".join(c for c in labels if c in out_set)
    x = _broadcast(labels, x, sizes)
    if labels != output:
        x = x.permute_dims(tuple(labels.index(c) for c in output))
    if x is first and len(operands) == 1 and not output:
        return F.astype(x, x.dtype)
    return x


def _parse(subscripts, operands):
    """The labels of each operand and of the output, with ``...`` replaced by one private label per broadcast dim
    (characters outside ASCII letters, so they never clash with the user's)."""
    text = subscripts.replace(" ", "")
    if "->" in text:
        lhs, out = text.split("->", 1)
        if "->" in out:
            raise ValueError(f"einsum: {subscripts!r} has more than one '->'")
    else:
        lhs, out = text, None
    specs = lhs.split(",")
    if len(specs) != len(operands):
        raise ValueError(f"einsum: {subscripts!r} names {len(specs)} operand(s), {len(operands)} were given")
    ell_ndim = 0
    for spec, x in zip(specs, operands):
        _check_labels(subscripts, spec)
        if "..." in spec:
            ell_ndim = builtins.max(ell_ndim, x.ndim - (len(spec) - 3))
    ell = "".join(chr(0x100 + k) for k in range(ell_ndim))  # private labels for the broadcast dims
    inputs = []
    for spec, x in zip(specs, operands):
        if "..." in spec:
            n = x.ndim - (len(spec) - 3)
            if n < 0:
                raise ValueError(f"einsum: operand {spec!r} names more dims than its {x.ndim}")
            spec = spec.replace("...", ell[ell_ndim - n:])
        if len(spec) != x.ndim:
            raise ValueError(f"einsum: subscripts {spec!r} name {len(spec)} dims, the operand has {x.ndim} "
                             f"(shape {x.shape})")
        inputs.append(spec)
    if out is None:
        counts = {}
        for spec in inputs:
            for c in spec:
                counts[c] = counts.get(c, 0) + 1
        output = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c in _LETTERS))
    else:
        _check_labels(subscripts, out)
        if "..." in out:
            out = out.replace("...", ell)
        elif ell:
            raise ValueError(f"einsum: {subscripts!r}: the operands have broadcast dims ('...') but the output does "
                             f"not name them; write '...' in the output too")
        output = out
        if len(set(output)) != len(output):
            raise ValueError(f"einsum: the output {out!r} repeats a label")
        used = set("".join(inputs))
        for c in output:
            if c not in used:
                raise ValueError(f"einsum: output label {c!r} does not appear in any operand of {subscripts!r}")
    return inputs, output


def _check_labels(subscripts, spec):
    body = spec.replace("...", "", 1)
    if "." in body:
        raise ValueError(f"einsum: {subscripts!r}: an ellipsis is written '...', once per operand")
    for c in body:
        if c not in _LETTERS:
            raise ValueError(f"einsum: {subscripts!r}: labels are ASCII letters, got {c!r}")


def _sizes(inputs, operands):
    """Each label's size; size 1 broadcasts against any other (NumPy), other mismatches raise."""
    sizes = {}
    for spec, x in zip(inputs, operands):
        for c, n in zip(spec, x.shape):
            m = sizes.get(c)
            if m is None or m == 1:
                sizes[c] = n
            elif n != 1 and n != m:
                name = "a broadcast dim" if ord(c) >= 0x100 else f"label {c!r}"
                raise errors.ShapeError(f"einsum: {name} has size {m} in one operand and {n} in another")
    return sizes


def _diagonals(labels, x):
    """Labels with repeats folded: x's diagonal over each repeated label (identity mask, then a sum)."""
    while len(set(labels)) != len(labels):
        c = next(c for c in labels if labels.count(c) > 1)
        p = labels.index(c)
        q = labels.index(c, p + 1)
        n, m = x.shape[p], x.shape[q]
        if n != m:
            raise errors.ShapeError(f"einsum: label {c!r} repeats in one operand with sizes {n} and {m}")
        shape = [1] * x.ndim
        shape[p], shape[q] = n, n
        eye = F.reshape(F.eye(n, dtype=x.dtype, device=x.device), tuple(shape))
        x = F.sum(x * eye, axis=q)
        labels = labels[:q] + labels[q + 1:]
    return labels, x


def _order(labels, output, sizes):
    """The pairs to contract, in order, as positions into the shrinking list of terms (the merged term goes last)."""
    n = len(labels)
    if n <= 2:
        return [(0, 1)] if n == 2 else []
    try:
        import opt_einsum
    except ImportError:  # left to right
        return [(0, 1)] * (n - 1)
    # opt_einsum wants one-character labels; map ours (private broadcast labels included) to letters it accepts
    chars = {c: opt_einsum.get_symbol(k) for k, c in enumerate(sorted(set("".join(labels)) | set(output)))}
    eq = ",".join("".join(chars[c] for c in lab) for lab in labels) + "->" + "".join(chars[c] for c in output)
    shapes = [tuple(sizes[c] for c in lab) for lab in labels]
    path, _ = opt_einsum.contract_path(eq, *shapes, shapes=True, optimize="greedy")
    out = []
    for step in path:
        if len(step) == 1:  # a lone operand to reduce: nothing to pair (we reduced those already)
            continue
        i, j = sorted(step)[:2]
        out.append((i, j))
    while len(out) < n - 1:
        out.append((0, 1))
    return out


def _broadcast(labels, x, sizes):
    shape = tuple(sizes[c] for c in labels)
    return x if x.shape == shape else x.broadcast_to(shape)


def _contract(la, a, lb, b, keep, sizes):
    """One pair: (labels of the result, the result)."""
    both = [c for c in la if c in lb]
    batch = [c for c in both if c in keep]
    summed = [c for c in both if c not in keep]
    only_a = [c for c in la if c not in lb]
    only_b = [c for c in lb if c not in la]
    a = _broadcast(la, a, {c: (sizes[c] if c in both else a.shape[la.index(c)]) for c in la})
    b = _broadcast(lb, b, {c: (sizes[c] if c in both else b.shape[lb.index(c)]) for c in lb})
    if not summed:  # an outer product over the shared dims: a broadcast multiply
        out_labels = batch + only_a + only_b
        av = a.permute_dims(tuple(la.index(c) for c in batch + only_a))
        bv = b.permute_dims(tuple(lb.index(c) for c in batch + only_b))
        av = F.reshape(av, av.shape + (1,) * len(only_b))
        bv = F.reshape(bv, bv.shape[:len(batch)] + (1,) * len(only_a) + bv.shape[len(batch):])
        return "".join(out_labels), av * bv
    av = a.permute_dims(tuple(la.index(c) for c in batch + only_a + summed))
    bv = b.permute_dims(tuple(lb.index(c) for c in batch + summed + only_b))
    nb = len(batch)
    bshape = av.shape[:nb]
    m = math.prod(sizes[c] for c in only_a)
    k = math.prod(sizes[c] for c in summed)
    n = math.prod(sizes[c] for c in only_b)
    prod = F.matmul(F.reshape(av, bshape + (m, k)), F.reshape(bv, bshape + (k, n)))
    out_labels = batch + only_a + only_b
    return "".join(out_labels), F.reshape(prod, bshape + tuple(sizes[c] for c in only_a + only_b))
