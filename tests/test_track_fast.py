"""The C recorder (kernels/cpu/autograd.cpp, Note [Recording in C]) builds the node Python's track() builds."""

import gc
import sys
import weakref

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch.dispatch import autograd as ag
from tensorswitch.dispatch.autograd import SavedTensor


@pytest.fixture
def python_track(monkeypatch):
    """Run with the C recorder off: every node comes from dispatch/autograd.py's track()."""
    ag._track_fast if ag._track_fast is not None else ag._load_track_fast()
    monkeypatch.setattr(ag, "_track_fast", False)


def _graph(device):
    a = ts.asarray([1.0, -2.0, 3.0], device=device, requires_grad=True)
    b = ts.asarray([0.5, 4.0, -1.5], device=device, requires_grad=True)
    c = ts.asarray([2.0, 2.0, 2.0], device=device)  # needs no gradient
    h = a * b           # saves both
    k = h + c           # saves nothing, one untracked input
    m = k * c           # saves only b's... c's factor: k needs it, c does not
    n = m - 0.5         # a float operand
    q = n / b           # divide saves both
    e = ts.exp(q)       # unary
    return (a, b), [h, k, m, n, q, e]


def _describe(t, leaves):
    node = t.grad_fn
    edges = []
    for e in node.next_edges:
        if e is None:
            edges.append(None)
        elif type(e[0]) is ag.AccumulateGrad:
            edges.append(("leaf", [x is e[0].variable for x in leaves].index(True), e[1]))
        else:
            edges.append((e[0].name, e[1]))
    saved = []
    for s in node.inputs or ():
        if isinstance(s, SavedTensor):
            saved.append(("saved", s.tensor.numpy().tolist(), s.version, s.entry is s.tensor.buffer.version,
                          s.is_output))
        else:
            saved.append(s)
    metas = [m if m is None else (m[0], m[1].name, str(m[2])) for m in node.metas]
    return (node.name, repr(node), edges, metas, node.needs is node.metas, saved, node.ctx is ag.SELF,
            node.backward_fn.__name__)


def test_the_c_recorder_is_on():
    from tensorswitch import _cpu

    assert ag._load_track_fast() is _cpu.track_fast


def test_nodes_match_pythons(device, python_track):
    leaves, outs = _graph(device)
    want = [_describe(t, list(leaves)) for t in outs]
    ts.sum(outs[-1]).backward()
    want_grads = [x.grad.numpy() for x in leaves]
    ag._track_fast = None  # monkeypatch restores False at teardown; load the C recorder for this half
    ag._load_track_fast()
    leaves, outs = _graph(device)
    got = [_describe(t, list(leaves)) for t in outs]
    seqs = [t.grad_fn.seq for t in outs]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # creation order, shared with Python's nodes
    assert got == want
    ts.sum(outs[-1]).backward()
    for x, g in zip(leaves, want_grads):
        np.testing.assert_array_equal(x.grad.numpy(), g)


def test_version_counter_still_catches_in_place_writes(device):
    a = ts.asarray([1.0, 2.0], device=device, requires_grad=True)
    b = ts.asarray([3.0, 4.0], device=device)
    y = a * b  # saves b (a needs the gradient)
    b += 1
    with pytest.raises(RuntimeError, match="multiply.*modified by an in-place operation"):
        ts.sum(y).backward()


def test_graphs_are_freed():
    """No reference the C recorder took outlives the graph (nodes, edges, metas, saved tensors, outputs)."""
    a = ts.ones(100, requires_grad=True)
    for _ in range(3):  # warm every cache
        ts.sum(a * a + a).backward()
    gc.collect()
    y = a * a + a
    node = weakref.ref(y.grad_fn)
    out = weakref.ref(y)
    del y
    gc.collect()
    assert node() is None and out() is None
    refs = sys.getrefcount(a)
    for _ in range(100):
        ts.sum(a * a + a).backward()
    gc.collect()
    assert sys.getrefcount(a) == refs


def test_views_take_pythons_path(device):
    """A view input whose base may have been written since: the C recorder declines and track() refreshes it."""
    a = ts.asarray([1.0, 2.0, 3.0, 4.0], device=device, requires_grad=True)
    base = a * 1.0
    v = base[1:3]
    base[1:2] = ts.asarray([10.0], device=device)  # base written after the view was made
    y = v * v
    ts.sum(y).backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 0.0, 6.0, 0.0])  # element 1 was overwritten: no gradient


def test_a_dropped_graph_is_freed_without_the_garbage_collector(device):
    """Nodes hold no reference to themselves (Note [Nodes without cycles]): refcounting frees a graph that never ran
    backward, and a leaf's accumulator is made once, not per op."""
    a = ts.ones(4, device=device, requires_grad=True)
    b = ts.ones(4, device=device, requires_grad=True)
    gc.collect()
    gc.disable()
    try:
        y = a * b + a
        acc = y.grad_fn.next_edges[1][0]
        node = weakref.ref(y.grad_fn)
        middle = weakref.ref(y.grad_fn.next_edges[0][0])
        del y
        assert node() is None and middle() is None
        z = a * b
        assert z.grad_fn.next_edges[0][0] is acc  # the same accumulator as before
    finally:
        gc.enable()


def test_backward_after_the_leaf_is_gone(device):
    """The accumulator holds its leaf weakly: a leaf nobody holds any more gets no gradient, and nothing breaks."""
    a = ts.ones(3, device=device, requires_grad=True)
    y = ts.sum(ts.ones(3, device=device, requires_grad=True) * a)
    ts.autograd.backward(y)
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 1.0, 1.0])


def test_the_one_call_path_matches_the_general_one(device, python_track, rng):
    """GradTensor.__add__ and friends on cpu run binary_grad: same values, nodes and gradients as the general path,
    for a tensor, a float and non-contiguous operands (which take the general path)."""
    x = rng.standard_normal((4, 5)).astype(np.float32)
    z = rng.standard_normal((4, 5)).astype(np.float32)

    def run():
        a = ts.asarray(x, device=device, requires_grad=True)
        b = ts.asarray(z, device=device, requires_grad=True)
        outs = [a + b, a - 0.25, a * b, b / a, a.T * b.T, a[:, ::2] + b[:, ::2]]
        ts.sum(ts.sum(outs[0] * outs[1] + outs[2] - outs[3]) + ts.sum(outs[4]) + ts.sum(outs[5])).backward()
        return [o.numpy() for o in outs], [o.grad_fn.name for o in outs], a.grad.numpy(), b.grad.numpy()

    want = run()
    ag._track_fast = None
    ag._load_track_fast()
    got = run()
    for w, g in zip(want[0], got[0]):
        np.testing.assert_array_equal(w, g)
    assert want[1] == got[1]
    np.testing.assert_array_equal(want[2], got[2])
    np.testing.assert_array_equal(want[3], got[3])


def test_binary_new_in_a_fresh_process():
    """The one-call cpu path of plain elementwise ops (binary_new) reads tensors' slots at offsets init_track gives:
    a process whose first op is a plain add (no autograd yet) must get them first."""
    import subprocess

    code = ("import tensorswitch as ts\n"
            "a = ts.asarray([1.0, 2.0, 3.0])\n"
            "print((a + a).tolist(), (a * 2.0).tolist(), (a < 2.5).tolist(), (ts.asarray([1, 2]) + 1).tolist())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[2.0, 4.0, 6.0] [2.0, 4.0, 6.0] [True, True, False] [2, 3]"


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "uint64", "bool", "complex64"])
def test_binary_new_matches_numpy(dtype, rng):
    x = (rng.standard_normal(37) * 5).astype(dtype)
    y = (rng.standard_normal(37) * 5).astype(dtype)
    a, b = ts.asarray(x), ts.asarray(y)
    for op, ref in (("add", np.add), ("multiply", np.multiply), ("equal", np.equal), ("logical_or", np.logical_or)):
        if dtype == "bool" and op in ("add", "multiply"):
            continue
        got = getattr(ts, op)(a, b)
        with np.errstate(all="ignore"):
            want = ref(x, y)
        assert got.dtype.name == want.dtype.name
        np.testing.assert_array_equal(got.numpy(), want)
    empty = ts.asarray(np.zeros(0, dtype))
    assert (empty == empty).shape == (0,)
