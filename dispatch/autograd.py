"""Define-by-run autograd: grad mode, the graph's nodes, the engine, custom Functions and tensor methods.

The derivative of each op lives in one table, ``dispatch/derivatives.py``; this module records ops into a graph and
walks it backwards.  Gradients are computed with tensorswitch ops, so they run on the tensor's own device through the
registry, and a plugin backend gets them without writing a gradient kernel.

Note [Autograd dispatch]
~~~~~~~~~~~~~~~~~~~~~~~~
Autograd is a layer above the dispatcher, as PyTorch's Autograd dispatch key sits above its backend kernels:

- A tensor that autograd tracks (a leaf with ``requires_grad``, or the result of a recorded op) is a
  :class:`GradTensor` (``dispatch/tensor.py``), a subclass of ``Tensor`` with the same slots.  Every fast path of
  the dispatcher tests ``type(x) is Tensor``, so inference and optimiser updates pay nothing for autograd.
- ``dispatch/derivatives.py`` wraps each differentiable entry point of the dispatcher and of the public functions
  (the elementwise slow paths, reduce, matmul, softmax, where, astype, the views, setitem, the nn kernel families)
  once, at import.  A wrapper checks one flag (grad mode) and whether an input requires grad; only then does it run
  the op with recording off and attach a :class:`Node` holding the op's derivative from the table.
- The engine (:func:`run_backward`) runs those derivatives in reverse topological order, sums each gradient back to
  its input's shape, dtype and device (undoing broadcasting and promotion), and accumulates into ``.grad`` of leaves
  only.  With ``create_graph=True`` it runs them with recording on, so gradients have graphs of their own.
- In-place writes move a version counter (Note [Version counter], ``dispatch/tensor.py``) that the engine checks
  before it uses a saved tensor.
"""

import heapq
import itertools
import threading
import weakref

from . import errors
from .shapes import MAX_NDIM
from .tensor import GradTensor, ReadOnlyGradTensor, ReadOnlyTensor, Tensor, _RawTensor, make_tensor

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "Node", "Function", "Parameter",
           "run_backward", "grad", "backward", "needs_grad", "track"]


# -- grad mode ------------------------------------------------------------------------------------------------------

class _Mode(threading.local):
    enabled = True


MODE = _Mode()  # read by every recording wrapper: one attribute of a thread-local


def is_grad_enabled():
    """True when ops record for autograd (the default; off inside ``ts.no_grad()``)."""
    return MODE.enabled


class set_grad_enabled:
    """Turn recording on or off: as a call (``ts.set_grad_enabled(False)``), a context manager or a decorator."""

    def __init__(self, mode):
        self.prev = MODE.enabled
        self.mode = bool(mode)
        MODE.enabled = self.mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        MODE.enabled = self.prev
        return False

    def __call__(self, fn):
        MODE.enabled = self.prev  # used as a decorator: the call above must not have changed anything
        return _with_mode(self.mode, fn)


class _ModeContext:
    mode = True

    def __init__(self):
        self.prev = []

    def __enter__(self):
        self.prev.append(MODE.enabled)
        MODE.enabled = self.mode
        return self

    def __exit__(self, *exc):
        MODE.enabled = self.prev.pop()
        return False

    def __call__(self, fn):
        return _with_mode(self.mode, fn)


def _with_mode(mode, fn):
    """``fn`` running with grad mode ``mode`` (the decorator forms of no_grad, enable_grad, set_grad_enabled)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        prev = MODE.enabled
        MODE.enabled = mode
        try:
            return fn(*args, **kwargs)
        finally:
            MODE.enabled = prev
    return wrapper


class no_grad(_ModeContext):
    """Ops inside record nothing: results do not require grad, and in-place updates of leaves are allowed.

    >>> import tensorswitch as ts
    >>> w = ts.ones(3, requires_grad=True)
    >>> with ts.no_grad():
    ...     (w * 2).requires_grad
    False
    """

    mode = False


class enable_grad(_ModeContext):
    """Recording on again, inside ``no_grad``."""

    mode = True


# -- tracked tensors --------------------------------------------------------------------------------------------------

def needs_grad(x):
    """True when ``x`` is a tensor whose gradient autograd computes."""
    return isinstance(x, GradTensor) and x._requires_grad


def _check_float(op, x):
    if x.dtype.kind != "float":
        raise errors.UnsupportedDtypeError(
            f"{op}: only floating-point tensors can require gradients, got {x.dtype.name}; cast first "
            f"(x.astype(ts.float32))")


def _make_tracked(t, requires_grad, grad_fn, output_nr):
    """Turn ``t`` into a GradTensor in place (it keeps its identity, layout and any ``.grad``)."""
    cls = ReadOnlyGradTensor if isinstance(t, ReadOnlyTensor) else GradTensor
    try:
        grad = t._grad
    except AttributeError:
        grad = None
    t.__class__ = _RawTensor  # plain slot stores, then the class (Note [Read-only layout])
    t._requires_grad = requires_grad
    t._grad_fn = grad_fn
    t._output_nr = output_nr
    t._hooks = None
    t._acc = None
    t._grad = grad
    t.__class__ = cls
    return t


def detach(x):
    """An alias of ``x``'s memory (same layout and version) that autograd does not track."""
    t = make_tensor(x.buffer, x.offset, x.shape, x.strides, x.dtype, x.device, x.is_contiguous, x.size)
    if isinstance(x, ReadOnlyTensor):
        t.__class__ = ReadOnlyTensor
    return t


def _edge(x):
    """Where the gradient of the tracked tensor ``x`` goes: (its grad_fn, output number) or its leaf accumulator."""
    fn = x._grad_fn
    if fn is not None:
        if fn.base is not None:
            _refresh_view(x)
            fn = x._grad_fn
        return fn, x._output_nr
    return _accumulator(x), 0


def remember_base(view, base, remake):
    """Record on the node of ``view`` (a tracked view of ``base``) the base, its buffer's version now, and how to
    make the view again.  When the base is written in place later (``y[0] = 5`` after ``v = y[0]``), the view's own
    history is stale: the next op that uses it first re-derives it from the base's new history, as PyTorch does."""
    if isinstance(view, GradTensor) and view._grad_fn is not None:
        view._grad_fn.base = (base, SavedTensor(detach(base)), remake)


def _refresh_view(x):
    base, token, remake = x._grad_fn.base
    if token.entry[0] == token.version:
        return
    fresh = remake(base)
    x._grad_fn, x._output_nr = fresh._grad_fn, fresh._output_nr


def _accumulator(leaf):
    """The leaf's AccumulateGrad node: the leaf holds it, it holds the leaf weakly (Note [Nodes without cycles])."""
    acc = leaf._acc
    if acc is None:
        acc = leaf._acc = AccumulateGrad(leaf)
    return acc


# -- graph nodes ------------------------------------------------------------------------------------------------------

_sequence = itertools.count()


class SavedTensor:
    """A tensor saved for backward, with its buffer's version list and the version at save time (Note [Version
    counter])."""

    __slots__ = ("tensor", "entry", "version", "is_output")

    def __init__(self, tensor, is_output=False):
        self.tensor = tensor
        entry = tensor.buffer.version
        self.entry, self.version, self.is_output = entry, entry[0], is_output

    def release(self):
        self.tensor = None


_new_saved = object.__new__


class Node:
    """One recorded op: where its inputs' gradients go (``next_edges``) and how to compute them (``backward_fn``).

    ``name`` is the op's name as users know it (``multiply``); ``grad_fn`` prints as ``<MultiplyBackward>``.  For
    the ops of the derivative table the node is also the formula's ``ctx``: ``inputs`` (what was saved), ``params``
    (axes, shapes, indices), ``needs`` (which inputs need a gradient) and ``create_graph``."""

    # what every node sets are slots; what few set are class defaults, written into the instance's dict when one
    # does (track() runs once per recorded op: every store it skips shows in the cost of recording)
    __slots__ = ("name", "next_edges", "metas", "backward_fn", "ctx", "seq", "inputs", "needs", "__dict__",
                 "__weakref__")
    saved = None           # SavedTensor objects, freed after backward unless retain_graph
    n_outputs = 1
    pre_hooks = None       # {output number: [hook]}: hooks of non-leaf tensors
    released = False
    is_view = False
    params = None
    create_graph = False
    base = None            # a view's (base, its saved token, remake): see remember_base
    extra = None

    def __init__(self, name, next_edges, metas, backward_fn, ctx, n_outputs=1, is_view=False):
        self.name = name
        self.next_edges = next_edges  # per input: (node, output number) or None
        self.metas = metas            # per input: (shape, dtype, device) the gradient must have, or None
        self.backward_fn = backward_fn
        self.ctx = ctx if ctx is not None else SELF  # not self: a node referring to itself is a cycle, freed only
        # by the garbage collector; the engine reads SELF as the node (Note [Nodes without cycles])
        self.saved = None             # SavedTensor objects, freed after backward unless retain_graph
        self.seq = next(_sequence)
        self.n_outputs = n_outputs
        self.pre_hooks = None         # {output number: [hook]}: hooks of non-leaf tensors
        self.released = False
        self.is_view = is_view
        self.inputs = self.params = self.needs = self.base = self.extra = None
        self.create_graph = False

    def save(self, tensor, is_output=False):
        s = SavedTensor(tensor, is_output)
        if self.saved is None:
            self.saved = [s]
        else:
            self.saved.append(s)
        return s

    def unpack(self, s, create_graph):
        """A saved tensor, after checking that nothing wrote into it since it was saved."""
        if self.released:
            raise RuntimeError(self._released_text())
        if s.entry[0] != s.version:
            t = s.tensor
            raise RuntimeError(
                f"{self.name}: one of the tensors needed for its gradient ({t.dtype.name}, shape {t.shape}) has been "
                f"modified by an in-place operation: it is at version {s.entry[0]}, it was saved at version "
                f"{s.version}. Make the in-place write out of place (y = y + 1 instead of y += 1), or clone the "
                f"tensor before writing into it.")
        if s.is_output:  # re-wrapped with this node as its grad_fn: a double backward flows through the node again
            t = detach(s.tensor)
            if create_graph:
                _make_tracked(t, True, self, 0)
            return t
        return s.tensor

    def release(self):
        if self.saved is not None:
            for s in self.saved:
                s.release()
            self.saved = None
        self.released = True
        self.ctx = self.inputs = None

    def _released_text(self):
        return (f"{self.name}: trying to backward through the graph a second time (or to use its saved tensors after "
                f"they were freed). Pass retain_graph=True to the first backward() or autograd.grad() call if you "
                f"need to backward through the graph again.")

    def __repr__(self):
        return f"<{_camel(self.name)}Backward>"


def _camel(name):
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


class AccumulateGrad(Node):
    """The node of a leaf: adds the gradient that reaches it into ``leaf.grad``."""

    __slots__ = ("_variable",)

    def __init__(self, leaf):
        Node.__init__(self, "accumulate_grad", (), (), None, None)
        self._variable = weakref.ref(leaf)

    @property
    def variable(self):
        """The leaf, or None once nothing else holds it (its gradient then has nowhere to go)."""
        return self._variable()

    def __repr__(self):
        return "<AccumulateGrad>"


# Note [Nodes without cycles]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# The ops of the derivative table keep their formula's state on the node itself, so the node is its formula's ctx.
# Storing the node in its own ``ctx`` made every node a reference cycle: a graph that was dropped without backward
# (an evaluation under grad mode, a benchmark loop) was freed only when the cyclic garbage collector ran, and its
# collections cost more than the recording itself.  ``ctx`` holds SELF instead, which _apply reads as the node.
# Likewise a leaf holds its AccumulateGrad (``_acc``) and the node holds the leaf weakly: the node then lives as
# long as the leaf, not only while a graph refers to it, so a loop of recorded ops does not make a new one per op.
SELF = type("SelfContext", (), {"__repr__": lambda self: "<the node itself>", "__slots__": ()})()

_new_node = object.__new__
_next_seq = _sequence.__next__
_set_class = object.__setattr__  # out.__class__ = ... without Tensor.__setattr__'s Python frame
_set_grad_fn = _RawTensor._grad_fn.__set__  # the slot itself, past Tensor.__setattr__


def track(name, derivative, out, inputs, params=None, is_view=False, made=False):
    """Attach the node of ``derivative`` to ``out``, the result of ``name`` on ``inputs`` (tensors or scalars, in
    the derivative's order).  ``out`` is returned, tracked, unless it is an integer or bool tensor (those carry no
    gradient) or no input needs a gradient.  ``made=True``: ``out`` was allocated as a GradTensor for this
    (``empty_like(..., grad=True)``) and an input needs a gradient.  Kept flat: it runs once per recorded op."""
    if out.dtype.kind != "float":
        return out
    edges = []
    metas = []  # doubles as ``needs``: a meta (truthy) where the input needs a gradient, None where not
    tracked = False
    for x in inputs:
        if isinstance(x, GradTensor) and x._requires_grad:
            fn = x._grad_fn
            if fn is None:  # a leaf: its accumulator (_accumulator, inlined)
                acc = x._acc
                edges.append((acc if acc is not None else _accumulator(x), 0))
            else:
                if fn.base is not None:  # a view whose base may have been written since
                    _refresh_view(x)
                    fn = x._grad_fn
                edges.append((fn, x._output_nr))
            metas.append((x.shape, x.dtype, x.device))
            tracked = True
        else:
            edges.append(None)
            metas.append(None)
    if not tracked:
        return out
    node = _new_node(Node)
    node.name = name
    node.next_edges = edges
    node.metas = metas
    node.backward_fn = derivative.formula
    node.ctx = SELF
    node.seq = _next_seq()
    if is_view:  # the rest keep Node's class defaults unless set
        node.is_view = True
    if params is not None:
        node.params = params
    node.needs = metas
    saved = None
    if derivative.save_inputs or derivative.save_output:
        saved = []
        save_for = derivative.save_for
        for i in derivative.save_inputs:
            x = inputs[i]
            if save_for is not None and i in save_for:
                for j in save_for[i]:  # not any(...): a generator costs more than the whole save
                    if metas[j]:
                        break
                else:
                    saved.append(None)  # nothing will read it (see Derivative.save_for)
                    continue
            if isinstance(x, Tensor):  # SavedTensor(x), inlined; node.inputs keeps it, release() drops it
                s = _new_saved(SavedTensor)
                s.tensor = x
                s.entry = entry = x.buffer.version
                s.version = entry[0]
                s.is_output = False
                saved.append(s)
            else:
                saved.append(x)
        if derivative.save_output:
            saved.append(SavedTensor(detach(out), True))
    node.inputs = saved
    if made:  # already a GradTensor with its autograd slots: only the node to attach
        _set_grad_fn(out, node)
        return out
    # out is fresh: make it a GradTensor with plain slot stores (see Note [Read-only layout] for the class swap)
    _set_class(out, "__class__", _RawTensor)
    out._requires_grad = True
    out._grad_fn = node
    out._output_nr = 0
    out._hooks = out._acc = out._grad = None
    out.__class__ = GradTensor
    return out


_track_fast = None  # kernels/cpu/autograd.cpp's track_fast, once init_track has its classes (False: unavailable)
_binary_grad = None  # kernels/cpu/module.cpp's binary_grad, set with _track_fast


def _load_track_fast():
    global _track_fast, _binary_grad
    try:
        from .. import _cpu

        _cpu.init_track(GradTensor, Tensor, Node, SavedTensor, _accumulator, _sequence, SELF)
        _binary_grad = _cpu.binary_grad
        _track_fast = _cpu.track_fast
    except (ImportError, AttributeError, TypeError):  # no extension (a docs build), or one from before
        _track_fast = False
    return _track_fast


def track_made(name, derivative, out, inputs):
    """``track(name, derivative, out, inputs, made=True)``: ``out`` was allocated as a GradTensor for the op and an
    input needs a gradient.  The C recorder does the common case (Note [Recording in C] in
    kernels/cpu/autograd.cpp); whatever it declines (NotImplemented) takes track()."""
    fast = _track_fast if _track_fast is not None else _load_track_fast()
    saves = derivative.fast_saves
    if fast and saves is not None:
        result = fast(name, derivative.formula, out, inputs, saves)
        if result is not NotImplemented:
            return result
    return track(name, derivative, out, inputs, None, False, True)


# -- the engine -------------------------------------------------------------------------------------------------------

def _root_node(t, i):
    if not needs_grad(t):
        if isinstance(t, Tensor) and t.dtype.kind != "float":
            raise RuntimeError(f"element {i} of the tensors to differentiate is {errors.a(t.dtype.name)} result: "
                               f"integer and bool results carry no gradient; differentiate a floating-point result")
        raise RuntimeError(f"element {i} of the tensors to differentiate does not require grad and has no grad_fn: "
                           f"nothing it depends on requires grad (create leaves with requires_grad=True, and do not "
                           f"compute under ts.no_grad())")
    return _edge(t)


_LEADING = tuple(tuple(range(n)) for n in range(MAX_NDIM + 1))  # the axes _sum_to reduces when only leading dims go


_sum_fast_op = None


def _sum_fast(g, axis):
    global _sum_fast_op
    if _sum_fast_op is None:
        from .dispatcher import make_reduction

        _sum_fast_op = make_reduction("sum")
    return _sum_fast_op(g, axis)


def _sum_to(g, shape):
    """``g`` summed over the dimensions that broadcasting added to reach ``g.shape`` from ``shape``."""
    if g.shape == shape:
        return g
    gshape = g.shape
    lead = len(gshape) - len(shape)
    if lead == 1 and gshape[1:] == shape:  # a bias's gradient: one axis, the reduction's fast path
        return _sum_fast(g, 0)
    if lead < 0:
        return g.broadcast_to(shape)
    from .dispatcher import reduce
    from .functions import reshape

    kept = tuple(lead + i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1)
    if not kept:  # only leading dims to sum away: the reduction has the shape already
        return reduce("sum", g, _LEADING[lead], False) if lead else g
    return reshape(reduce("sum", g, tuple(range(lead)) + kept, True), shape)


def _conform(g, meta):
    """``g`` with the shape, dtype and device its input has."""
    shape, dt, device = meta
    if g.shape != shape:
        g = _sum_to(g, shape)
    if g.dtype is not dt:
        from .dispatcher import astype

        g = astype(g, dt)
    if g.device is not device:
        g = g.to(device)
    return g


def _add(a, b):
    from .dispatcher import binary

    return binary("add", a, b)


def run_backward(roots, grad_roots, retain_graph, create_graph, inputs=None, allow_unused=False):
    """Backpropagate ``grad_roots`` from ``roots``; accumulate into leaves' ``.grad``, or, with ``inputs``, return
    the gradients of those tensors instead (``autograd.grad``).  Nodes run in reverse creation order among those
    whose gradients are complete (PyTorch's order), each once."""
    root_edges = [_root_node(t, i) for i, t in enumerate(roots)]
    capture = None  # autograd.grad: (node, output number) -> positions in the result
    if inputs is not None:
        capture = {}
        for i, x in enumerate(inputs):
            if not isinstance(x, Tensor):
                raise TypeError(f"autograd.grad: inputs must be tensors, got {type(x).__name__} at position {i}")
            if not needs_grad(x):
                raise RuntimeError(f"autograd.grad: input {i} does not require grad")
            key = (x._grad_fn, x._output_nr) if x._grad_fn is not None else (_accumulator(x), 0)
            capture.setdefault(key, []).append(i)

    # the graph reachable from the roots, with the number of edges into each node
    deps = {}
    stack = [e[0] for e in root_edges]
    seen = set(stack)
    order = []
    while stack:
        node = stack.pop()
        order.append(node)
        for e in node.next_edges:
            if e is not None:
                nxt = e[0]
                deps[nxt] = deps.get(nxt, 0) + 1
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
    skip = None
    if capture is not None:  # run only the nodes that lead to an input (PyTorch prunes the same way)
        targets = {k[0] for k in capture}
        leads = {}
        for node in _topological(order, deps)[::-1]:
            leads[node] = node in targets or any(e is not None and leads.get(e[0], False) for e in node.next_edges)
        skip = {n for n, v in leads.items() if not v}

    buffers = {}
    for (node, nr), g in zip(root_edges, grad_roots):
        buf = buffers.get(node)
        if buf is None:
            buf = buffers[node] = [None] * node.n_outputs
        buf[nr] = g if buf[nr] is None else _add(buf[nr], g)
    handed = {id(g.buffer) for g in grad_roots}  # buffers a leaf's new .grad must not share (see _accumulate)
    results = [None] * len(inputs) if inputs is not None else None
    ready = [(-node.seq, id(node), node) for node in {e[0] for e in root_edges} if not deps.get(node)]
    heapq.heapify(ready)
    pop, push = heapq.heappop, heapq.heappush
    prev_mode = MODE.enabled
    MODE.enabled = create_graph
    try:
        while ready:
            node = pop(ready)[2]
            grads = buffers.pop(node, None) or [None] * node.n_outputs
            if node.pre_hooks:
                _pre_hooks(node, grads, handed)
            if capture is not None:
                for nr in range(node.n_outputs):
                    for i in capture.get((node, nr), ()):
                        g = grads[nr]
                        if g is not None and type(node) is AccumulateGrad and node.variable is not None:
                            g = _leaf_hooks(node.variable, g)
                        results[i] = g
            if type(node) is AccumulateGrad:
                if capture is None and grads[0] is not None:
                    leaf = node.variable
                    if leaf is not None:  # else nothing holds the leaf: its gradient has nowhere to go
                        _accumulate(leaf, grads[0], create_graph, handed)
                continue
            in_grads = None
            if skip is None or node not in skip:
                if node.released:
                    raise RuntimeError(node._released_text())
                for g in grads:
                    if g is not None:
                        in_grads = _apply(node, grads, create_graph)
                        break
                if not retain_graph:
                    node.release()
            metas = node.metas
            for i, e in enumerate(node.next_edges):
                if e is None:
                    continue
                nxt, nr = e
                if in_grads is not None:
                    g = in_grads[i]
                    if g is not None:
                        meta = metas[i]
                        if g.shape != meta[0] or g.dtype is not meta[1] or g.device is not meta[2]:
                            g = _conform(g, meta)
                        buf = buffers.get(nxt)
                        if buf is None:
                            buf = buffers[nxt] = [None] * nxt.n_outputs
                        buf[nr] = g if buf[nr] is None else _add(buf[nr], g)
                n = deps[nxt] - 1
                deps[nxt] = n
                if not n:
                    push(ready, (-nxt.seq, id(nxt), nxt))
    finally:
        MODE.enabled = prev_mode
    if inputs is None:
        return None
    for i, g in enumerate(results):
        if g is None:
            if not allow_unused:
                raise RuntimeError(f"autograd.grad: input {i} was not used to compute the outputs (or only through "
                                   f"ops without a gradient); pass allow_unused=True to get None for it")
        elif not create_graph and isinstance(g, GradTensor):
            results[i] = detach(g)
    return tuple(results)


def _topological(order, deps):
    """The nodes of ``order`` (all reachable from the roots) in an order where every node comes before the nodes
    its gradient flows to (Kahn's algorithm on a copy of the edge counts)."""
    remaining = dict(deps)
    queue = [n for n in order if not remaining.get(n)]
    out = []
    while queue:
        node = queue.pop()
        out.append(node)
        for e in node.next_edges:
            if e is not None:
                remaining[e[0]] -= 1
                if not remaining[e[0]]:
                    queue.append(e[0])
    return out


def _pre_hooks(node, grads, handed):
    for nr, hooks in node.pre_hooks.items():
        for hook in list(hooks):
            if grads[nr] is not None:
                new = hook(grads[nr])
                if new is not None:
                    grads[nr] = new
                handed.add(id(grads[nr].buffer))


def _apply(node, grads, create_graph):
    ctx = node.ctx
    if ctx is SELF:
        ctx = node
    elif ctx is None:
        raise RuntimeError(node._released_text())
    ctx.create_graph = create_graph
    if node.n_outputs == 1:
        out = node.backward_fn(ctx, grads[0])
    else:
        out = node.backward_fn(ctx, *grads)
    if not isinstance(out, tuple):
        out = (out,)
    if len(out) != len(node.next_edges):
        raise RuntimeError(f"{node.name}: its backward returned {len(out)} gradient(s), but the op has "
                           f"{len(node.next_edges)} input(s)")
    return out


def _leaf_hooks(leaf, g):
    hooks = leaf._hooks
    if hooks:
        for hook in list(hooks):
            new = hook(g)
            if new is not None:
                g = new
    return g


def _accumulate(leaf, g, create_graph, handed):
    """``leaf.grad += g``.  A new ``.grad`` never shares memory with another leaf's gradient or with a gradient the
    caller passed in, and is contiguous, so in-place updates of ``.grad`` (clipping, ``zero_grad(set_to_none=
    False)``) touch this leaf only."""
    from .dispatcher import astype, binary_inplace

    g = _leaf_hooks(leaf, g)
    current = leaf._grad
    if current is None:
        if create_graph:
            leaf._grad = g
        else:
            if isinstance(g, GradTensor):
                g = detach(g)
            if not g.is_contiguous or id(g.buffer) in handed:
                g = astype(g, g.dtype)
            handed.add(id(g.buffer))
            leaf._grad = g
    elif create_graph or isinstance(current, GradTensor):
        leaf._grad = _add(current, g)
    else:
        binary_inplace("add", current, g)


# -- public entry points ----------------------------------------------------------------------------------------------

def _as_list(x, what):
    if isinstance(x, Tensor):
        return [x]
    if isinstance(x, (list, tuple)):
        return list(x)
    raise TypeError(f"{what} must be a tensor or a sequence of tensors, got {type(x).__name__}")


def _ones(t):
    from .dispatcher import empty, run

    g = empty(t.shape, t.dtype, t.device)
    return run("fill", t.dtype, g, 1.0)


def _grad_roots(outputs, grad_outputs, op):
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    else:
        grad_outputs = _as_list(grad_outputs, f"{op}: grad_outputs") if not isinstance(grad_outputs, Tensor) \
            else [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"{op}: got {len(grad_outputs)} gradients for {len(outputs)} outputs")
    roots = []
    for i, (t, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: outputs must be tensors, got {type(t).__name__} at position {i}")
        if g is None:
            if t.size != 1:
                raise RuntimeError(f"{op}: a gradient can be created implicitly only for a one-element output; output "
                                   f"{i} has shape {t.shape}: pass gradient= (or grad_outputs=) of that shape")
            g = _ones(t)
        else:
            if not isinstance(g, Tensor):
                raise TypeError(f"{op}: gradient {i} must be a tensor, got {type(g).__name__}")
            if g.shape != t.shape:
                raise errors.ShapeError(f"{op}: gradient {i} has shape {g.shape}, but the output has shape {t.shape}")
            if g.device is not t.device:
                raise errors.device_mismatch(op, (t.device, g.device))
        roots.append(g)
    return roots


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Accumulate the gradients of ``tensors`` into the ``.grad`` of the leaves they depend on."""
    tensors = _as_list(tensors, "backward: tensors")
    roots = _grad_roots(tensors, grad_tensors, "backward")
    run_backward(tensors, roots, create_graph if retain_graph is None else retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """The gradients of ``outputs`` with respect to ``inputs``, as a tuple (``.grad`` is left alone).

    >>> import tensorswitch as ts
    >>> x = ts.asarray([1.0, 2.0], requires_grad=True)
    >>> ts.autograd.grad((x * x).sum(), x)[0].tolist()
    [2.0, 4.0]
    """
    outputs = _as_list(outputs, "autograd.grad: outputs")
    inputs = _as_list(inputs, "autograd.grad: inputs")
    roots = _grad_roots(outputs, grad_outputs, "autograd.grad")
    return run_backward(outputs, roots, create_graph if retain_graph is None else retain_graph, create_graph,
                        inputs, allow_unused)


# -- custom functions -------------------------------------------------------------------------------------------------

class FunctionCtx:
    """The ``ctx`` of a custom :class:`Function`: save tensors in ``forward``, read them in ``backward``."""

    def __init__(self):
        self._saved = ()
        self._node = None
        self.needs_input_grad = ()
        self.materialize_grads = True
        self.create_graph = False  # set by the engine before backward runs
        self._non_differentiable = set()

    def save_for_backward(self, *tensors):
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward takes tensors (or None), got {type(t).__name__}; keep other "
                                f"values as attributes of ctx")
        self._to_save = tensors

    @property
    def saved_tensors(self):
        node = self._node
        if node is None:
            return tuple(getattr(self, "_to_save", ()))
        return tuple(None if s is None else node.unpack(s, self.create_graph)
                     for s in self._saved)

    def mark_non_differentiable(self, *tensors):
        self._non_differentiable.update(id(t) for t in tensors)

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)


class Function:
    """A custom differentiable op: subclass with ``forward(ctx, *args)`` and ``backward(ctx, *grads)`` static
    methods and call ``MyOp.apply(*args)``.  ``forward`` runs with recording off; ``backward`` returns one gradient
    per argument of ``forward`` (None for non-tensors and for inputs that need none).

    >>> import tensorswitch as ts
    >>> class Cube(ts.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x * x * x
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         (x,) = ctx.saved_tensors
    ...         return 3 * x * x * g
    >>> x = ts.asarray([2.0], requires_grad=True)
    >>> Cube.apply(x).sum().backward()
    >>> x.grad.tolist()
    [12.0]
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("a Function subclass must define backward(ctx, *grads)")

    def __init__(self, *args, **kwargs):
        raise RuntimeError("call a Function with MyFunction.apply(...), not MyFunction(...)")

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        needs = tuple(needs_grad(a) for a in args)
        ctx.needs_input_grad = needs
        record = MODE.enabled and True in needs
        prev = MODE.enabled
        MODE.enabled = False
        try:
            result = cls.forward(ctx, *args, **kwargs)
        finally:
            MODE.enabled = prev
        if not record:
            return result
        single = not isinstance(result, tuple)
        outs = (result,) if single else result
        name = cls.__name__
        edges = tuple(_edge(a) if n else None for a, n in zip(args, needs))
        metas = tuple((a.shape, a.dtype, a.device) if n else None for a, n in zip(args, needs))
        node = Node(name, edges, metas, None, ctx, len(outs))
        ctx._node = node
        ctx._saved = tuple(None if t is None else node.save(t) for t in getattr(ctx, "_to_save", ()))
        out_metas = []
        wrapped = []
        for i, o in enumerate(outs):
            if not isinstance(o, Tensor):
                wrapped.append(o)
                out_metas.append(None)
                continue
            if any(o is a for a in args) or isinstance(o, GradTensor):  # an input returned as is: a fresh alias
                o = detach(o)
            out_metas.append((o.shape, o.dtype, o.device))
            if id(o) in ctx._non_differentiable or id(outs[i]) in ctx._non_differentiable or \
                    o.dtype.kind != "float":
                wrapped.append(o)
            else:
                wrapped.append(_make_tracked(o, True, node, i))

        def backward_fn(c, *grads):
            from .functions import zeros

            if c.materialize_grads:
                grads = tuple(zeros(m[0], dtype=m[1], device=m[2]) if g is None and m is not None else g
                              for g, m in zip(grads, out_metas))
            got = cls.backward(c, *grads)
            if not isinstance(got, tuple):
                got = (got,)
            if len(got) != len(args):
                raise RuntimeError(f"{name}.backward returned {len(got)} gradient(s), expected {len(args)} (one per "
                                   f"argument of forward; None for non-tensors)")
            for i, (g, n) in enumerate(zip(got, needs)):
                if g is not None and n and not isinstance(g, Tensor):
                    raise TypeError(f"{name}.backward: gradient {i} must be a tensor or None, got "
                                    f"{type(g).__name__}")
            return tuple(g if n else None for g, n in zip(got, needs))

        node.backward_fn = backward_fn
        ctx.create_graph = False
        return wrapped[0] if single else tuple(wrapped)


# -- Parameter ----------------------------------------------------------------------------------------------------------

class Parameter(GradTensor):
    """A leaf tensor that is a module's parameter: shares ``data``'s memory and requires grad by default.

    >>> import tensorswitch as ts
    >>> p = ts.nn.Parameter(ts.zeros(2))
    >>> p.requires_grad, p.is_leaf
    (True, True)
    """

    __slots__ = ()

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            from .functions import empty

            data = empty((0,))
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter: data must be a tensor, got {type(data).__name__}")
        if requires_grad:
            _check_float("Parameter", data)
        t = detach(data)
        if isinstance(t, ReadOnlyTensor):
            raise errors.ReadOnlyError("Parameter: cannot make a parameter of a read-only (broadcast) view")
        _make_tracked(t, bool(requires_grad), None, 0)
        t.__class__ = cls
        return t

    def __init__(self, *args, **kwargs):
        pass

    def __repr__(self):
        return "Parameter containing:\n" + Tensor.__repr__(self)

    __str__ = __repr__

    def __reduce__(self):
        return (_rebuild_parameter, (Tensor.__reduce__(self), self._requires_grad))

    def __deepcopy__(self, memo):
        from .dispatcher import astype

        with no_grad():
            copy = Parameter(astype(detach(self), self.dtype), self._requires_grad)
        memo[id(self)] = copy
        return copy


def _rebuild_parameter(reduced, requires_grad):
    fn, args = reduced
    return Parameter(fn(*args), requires_grad)


# -- tensor methods -----------------------------------------------------------------------------------------------------

class _Handle:
    """What ``register_hook`` returns: ``handle.remove()`` takes the hook off again."""

    __slots__ = ("hooks", "hook")

    def __init__(self, hooks, hook):
        self.hooks, self.hook = hooks, hook

    def remove(self):
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


def _set_layout(t, src):
    """Point ``t`` (the same Python object) at ``src``'s memory and layout: ``p.data = new`` (the core may set the
    layout slots directly; see Note [Read-only layout])."""
    from .tensor import LAYOUT, _RawTensor

    for name in LAYOUT:
        getattr(_RawTensor, name).__set__(t, getattr(src, name))


def _install_tensor_methods():
    from .tensor import _RawTensor

    slot = {name: getattr(_RawTensor, name) for name in ("_requires_grad", "_grad", "_grad_fn", "_output_nr")}
    grad_slot = slot["_grad"]

    def requires_grad_get(self):
        return type(self) is not Tensor and isinstance(self, GradTensor) and self._requires_grad

    def requires_grad_set(self, value):
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad=True):
        """Start (or stop) recording ops on this leaf for autograd; returns the tensor itself."""
        requires_grad = bool(requires_grad)
        if isinstance(self, GradTensor):
            if self._grad_fn is not None:
                if requires_grad:
                    return self
                raise RuntimeError("requires_grad_: only leaves' flags can be changed; this tensor is the result of "
                                   f"{self._grad_fn.name}; use x.detach() for a tensor that does not require grad")
            if requires_grad:
                _check_float("requires_grad_", self)
            self._requires_grad = requires_grad
            if not requires_grad and type(self) in (GradTensor, ReadOnlyGradTensor):  # back to the fast paths
                self.__class__ = ReadOnlyTensor if type(self) is ReadOnlyGradTensor else Tensor
            return self
        if requires_grad:
            _check_float("requires_grad_", self)
            _make_tracked(self, True, None, 0)
        return self

    def grad_get(self):
        try:
            return grad_slot.__get__(self)
        except AttributeError:
            return None

    def grad_set(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"grad: must be a tensor or None, got {type(value).__name__}")
            if value.shape != self.shape:
                raise errors.ShapeError(f"grad: a gradient of shape {value.shape} cannot be assigned to a tensor of "
                                        f"shape {self.shape}")
            if value.dtype is not self.dtype:
                raise TypeError(f"grad: a {value.dtype.name} gradient cannot be assigned to a {self.dtype.name} "
                                f"tensor; cast it first")
            if value.device is not self.device:
                raise errors.device_mismatch("grad", (self.device, value.device))
        grad_slot.__set__(self, value)

    def is_leaf(self):
        return not isinstance(self, GradTensor) or self._grad_fn is None

    def grad_fn(self):
        return self._grad_fn if isinstance(self, GradTensor) else None

    def data_get(self):
        return detach(self)

    def data_set(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"data: must be a tensor, got {type(value).__name__}")
        if isinstance(self, GradTensor) and self._requires_grad and value.dtype.kind != "float":
            raise errors.UnsupportedDtypeError(f"data: a tensor that requires grad cannot hold {value.dtype.name} "
                                               f"data")
        _set_layout(self, value)

    def backward_method(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate the gradient of this tensor into the ``.grad`` of every leaf it depends on.

        ``gradient`` is needed unless the tensor has one element; ``retain_graph`` keeps the graph for another
        backward; ``create_graph`` records the backward pass itself (for higher derivatives)."""
        if inputs is not None:
            ins = _as_list(inputs, "backward: inputs")
            grads = grad(self, ins, gradient, retain_graph, create_graph, allow_unused=True)
            for x, g in zip(ins, grads):
                if g is not None:
                    _accumulate(x, g, create_graph, set())
            return
        backward(self, gradient, retain_graph, create_graph)

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a non-None return value replaces it.
        Returns a handle whose ``remove()`` takes the hook off."""
        if not needs_grad(self):
            raise RuntimeError("register_hook: this tensor does not require grad, so no gradient will reach a hook")
        if not callable(hook):
            raise TypeError(f"register_hook: the hook must be callable, got {type(hook).__name__}")
        if self._grad_fn is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            node = self._grad_fn
            if node.pre_hooks is None:
                node.pre_hooks = {}
            hooks = node.pre_hooks.setdefault(self._output_nr, [])
        hooks.append(hook)
        return _Handle(hooks, hook)

    def retain_grad(self):
        """Keep the gradient of this non-leaf tensor in ``.grad`` after backward (leaves always keep theirs)."""
        if not needs_grad(self):
            raise RuntimeError("retain_grad: this tensor does not require grad")
        if self._grad_fn is None or getattr(self, "_retains", False):
            return
        ref = weakref.ref(self)

        def keep(g):
            t = ref()
            if t is not None:
                from .dispatcher import astype

                g = detach(g) if isinstance(g, GradTensor) else g
                grad_slot.__set__(t, astype(g, g.dtype) if t._grad is None else _add(t._grad, g))
        self.register_hook(keep)

    def detach_method(self):
        """An alias of this tensor's memory that does not require grad."""
        return detach(self)

    def clone(self):
        """A copy (contiguous, same dtype and device); gradients flow back to the original."""
        from .dispatcher import astype

        return astype(self, self.dtype)

    Tensor.requires_grad = property(requires_grad_get, requires_grad_set,
                                    doc="True when autograd computes this tensor's gradient.")
    Tensor.requires_grad_ = requires_grad_
    Tensor.grad = property(grad_get, grad_set, doc="The gradient accumulated by backward(), or None.")
    Tensor.is_leaf = property(is_leaf, doc="True unless the tensor is the result of a recorded op.")
    Tensor.grad_fn = property(grad_fn, doc="The node that computes this tensor's gradient inputs, or None.")
    Tensor.data = property(data_get, data_set, doc="An untracked alias; assigning swaps the memory in place.")
    Tensor.backward = backward_method
    Tensor.register_hook = register_hook
    Tensor.retain_grad = retain_grad
    Tensor.detach = detach_method
    Tensor.clone = clone
    Tensor.output_nr = property(lambda self: self._output_nr if isinstance(self, GradTensor) else 0)


_install_tensor_methods()
