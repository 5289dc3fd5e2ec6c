"""Property tests (hypothesis): random shapes, broadcasting, views and values against NumPy on every device.
CI pins the seed (``--hypothesis-seed=0`` in the Makefile) so a run is reproducible."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tensorswitch as ts
from tensorswitch.testing.samples import compare

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
floats = st.floats(-1e3, 1e3, width=32) | st.sampled_from([np.nan, np.inf, -np.inf, -0.0])


@st.composite
def strided_view(draw, max_dims=4):
    """A NumPy array and an index that makes an arbitrary (possibly negative-stride) view of it."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=max_dims, min_side=0, max_side=6))
    base = draw(hnp.arrays(np.float32, shape, elements=floats))
    index = tuple(slice(draw(st.integers(-n - 1, n)), draw(st.integers(-n - 1, n)),
                        draw(st.sampled_from([1, 2, -1, -2]))) for n in shape)
    return base, index


@SETTINGS
@given(data=st.data())
def test_binary_ops_broadcast_like_numpy(device, data):
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=5))
    a = data.draw(hnp.arrays(np.float32, shapes.input_shapes[0], elements=floats))
    b = data.draw(hnp.arrays(np.float32, shapes.input_shapes[1], elements=floats))
    op, ref = data.draw(st.sampled_from([("add", np.add), ("multiply", np.multiply), ("maximum", np.maximum),
                                         ("less", np.less), ("subtract", np.subtract)]))
    with np.errstate(all="ignore"):
        expected = ref(a, b)
    compare(getattr(ts, op)(ts.asarray(a, device=device), ts.asarray(b, device=device)), expected, device, op)


@SETTINGS
@given(view=strided_view(), data=st.data())
def test_views_and_ops_on_views(device, view, data):
    base, index = view
    x = ts.asarray(base, device=device)[index]
    expected = base[index]
    compare(x, expected, device, "view")
    with np.errstate(all="ignore"):
        compare(ts.exp(x), np.exp(expected.astype(np.float64)).astype(np.float32), device, "exp of a view",
                rtol=1e-5)
    if expected.ndim:
        axis = data.draw(st.integers(0, expected.ndim - 1))
        got = x.sum(axis=axis)
        with np.errstate(all="ignore"):
            want = expected.astype(np.float64).sum(axis=axis).astype(np.float32)
            atol = 1e-3 + 1e-5 * np.abs(expected.astype(np.float64)).sum(axis=axis)
        compare(got, want, device, "sum of a view", atol=atol)


@SETTINGS
@given(data=st.data())
def test_reshape_and_permute_match_numpy(device, data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=5))
    base = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape)
    perm = data.draw(st.permutations(range(len(shape))))
    x = ts.asarray(base, device=device).permute_dims(perm)
    y = np.transpose(base, perm)
    compare(x, y, device, "permute")
    flat = x.reshape(-1)
    compare(flat, y.reshape(-1), device, "reshape of a permuted view")
    compare(x.contiguous(), np.ascontiguousarray(y), device, "contiguous")
