"""The nn kernel families on the cpu (dispatch/nnops.py over kernels/cpu/nn.cpp): against the NumPy references and
against PyTorch on random geometries, the errors users get, empty inputs, the parallel paths (which must give the
same bits as one thread), the C++ entry points' own checks, and that the conformance samples catch wrong kernels."""

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch import _cpu
from tensorswitch.dispatch import nnops
from tensorswitch.testing import reference, samples

from limited_backend import LIMITED

torch = pytest.importorskip("torch")
F = torch.nn.functional

CPU = ts.device("cpu")
FLOATS = ("float16", "float32", "float64")
TOL = {"float16": dict(rtol=1e-2, atol=1e-2), "float32": dict(rtol=1e-5, atol=1e-5),
       "float64": dict(rtol=1e-12, atol=1e-12)}


def T(x):
    return ts.asarray(x)


def close(got, expected, dtype, **kw):
    assert isinstance(got, ts.Tensor) and got.dtype.name == np.dtype(dtype).name
    np.testing.assert_allclose(got.numpy().astype(np.float64), np.asarray(expected, np.float64),
                               **{**TOL.get(np.dtype(dtype).name, {}), **kw})


# -- against NumPy, every float dtype ---------------------------------------------------------------------------------

GEOMETRIES = [  # (shape, kernel, stride, padding, dilation)
    ((2, 3, 7, 8), 3, 1, 1, 1), ((1, 2, 9, 7), (2, 3), (2, 1), (1, 0), (1, 2)), ((3, 6, 6), 2, 2, 0, 1),
    ((2, 1, 5, 5), 1, 1, 0, 1), ((2, 2, 10, 9), 3, 2, 1, 2)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", GEOMETRIES)
def test_each_function_matches_numpy(dtype, case, rng):
    shape, k, s, p, d = case
    x = rng.uniform(-1, 1, shape).astype(dtype)
    close(nnops.unfold(T(x), k, d, p, s), reference.unfold(x, k, d, p, s), dtype, rtol=0, atol=0)
    cols = rng.uniform(-1, 1, reference.unfold(x, k, d, p, s).shape).astype(dtype)
    close(nnops.fold(T(cols), shape[-2:], k, d, p, s), reference.fold(cols, shape[-2:], k, d, p, s), dtype)
    for ceil_mode in (False, True):
        y = reference.max_pool2d(x, k, s, p, d, ceil_mode)
        close(nnops.max_pool2d(T(x), k, s, p, d, ceil_mode), y, dtype, rtol=0, atol=0)
        g = rng.uniform(-1, 1, y.shape).astype(dtype)
        close(nnops.max_pool2d_backward(T(g), T(x), k, s, p, d, ceil_mode),
              reference.max_pool2d_backward(g, x, k, s, p, d, ceil_mode), dtype)
        for include in (True, False):
            for override in (None, 2):
                y = reference.avg_pool2d(x, k, s, p, ceil_mode, include, override)
                close(nnops.avg_pool2d(T(x), k, s, p, ceil_mode, include, override), y, dtype)
                g = rng.uniform(-1, 1, y.shape).astype(dtype)
                close(nnops.avg_pool2d_backward(T(g), shape, k, s, p, ceil_mode, include, override),
                      reference.avg_pool2d_backward(g, shape, k, s, p, ceil_mode, include, override), dtype)


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint8", "int32", "int64"] + list(FLOATS))
def test_take_along_axis_and_scatter_add_match_numpy(dtype, rng):
    x = (rng.integers(-50, 50, (4, 5, 6)) if dtype != "bool" else rng.integers(0, 2, (4, 5, 6))).astype(dtype)
    for axis in (0, 1, 2, -1):
        n = x.shape[axis]
        shape = list(x.shape)
        shape[axis] = 7
        index = rng.integers(-n, n, shape)
        assert np.array_equal(nnops.take_along_axis(T(x), T(index), axis=axis).numpy(),
                              np.take_along_axis(x, index, axis))
        if dtype == "bool":
            continue
        src = rng.integers(-50, 50, shape).astype(dtype)
        got = nnops.scatter_add(T(x), axis, T(index % n), T(src))
        close(got, reference.scatter_add(x, axis, index % n, src), dtype,
              **({} if dtype in FLOATS else {"rtol": 0, "atol": 0}))  # integers wrap, exactly


# -- against PyTorch on random geometries ---------------------------------------------------------------------------

def _random_geometry(rng, pooling=False):
    n, c = int(rng.integers(1, 4)), int(rng.integers(1, 5))
    k = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    p = (int(rng.integers(0, k[0] // 2 + 1)), int(rng.integers(0, k[1] // 2 + 1))) if pooling else \
        (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
    d = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    h = int(rng.integers(d[0] * (k[0] - 1) + 1, 15))
    w = int(rng.integers(d[1] * (k[1] - 1) + 1, 15))
    return (n, c, h, w), k, s, p, d


def test_unfold_and_fold_match_torch(rng):
    for _ in range(60):
        shape, k, s, p, d = _random_geometry(rng)
        x = rng.standard_normal(shape).astype(np.float32)
        expected = F.unfold(torch.from_numpy(x), k, d, p, s).numpy()
        np.testing.assert_array_equal(nnops.unfold(T(x), k, d, p, s).numpy(), expected)
        cols = rng.standard_normal(expected.shape).astype(np.float32)
        np.testing.assert_allclose(nnops.fold(T(cols), shape[2:], k, d, p, s).numpy(),
                                   F.fold(torch.from_numpy(cols), shape[2:], k, d, p, s).numpy(), rtol=1e-5,
                                   atol=1e-5)
    x = rng.standard_normal((3, 6, 7)).astype(np.float64)  # unbatched
    np.testing.assert_array_equal(nnops.unfold(T(x), 3, padding=1).numpy(),
                                  F.unfold(torch.from_numpy(x), 3, padding=1).numpy())
    cols = rng.standard_normal((27, 42))
    np.testing.assert_allclose(nnops.fold(T(cols), (6, 7), 3, padding=1).numpy(),
                               F.fold(torch.from_numpy(cols), (6, 7), 3, padding=1).numpy(), rtol=1e-12)


def _has_real_element_everywhere(shape, k, s, p, d, ceil_mode):
    """PyTorch corrupts memory in max_pool2d's backward when a window holds no real element (a dilated window in the
    padding; we give -inf and no gradient), so such geometries are compared with the reference only."""
    x = np.zeros(shape)
    return np.isfinite(reference.max_pool2d(x, k, s, p, d, ceil_mode)).all()


def test_pools_and_their_gradients_match_torch(rng):
    checked = 0
    for trial in range(80):
        shape, k, s, p, d = _random_geometry(rng, pooling=True)
        ceil_mode = bool(trial % 2)
        x = rng.standard_normal(shape)
        if _has_real_element_everywhere(shape, k, s, p, d, ceil_mode):
            tx = torch.from_numpy(x).requires_grad_()
            y = F.max_pool2d(tx, k, s, p, d, ceil_mode)
            g = rng.standard_normal(tuple(y.shape))
            y.backward(torch.from_numpy(g))
            np.testing.assert_array_equal(nnops.max_pool2d(T(x), k, s, p, d, ceil_mode).numpy(), y.detach().numpy())
            np.testing.assert_allclose(nnops.max_pool2d_backward(T(g), T(x), k, s, p, d, ceil_mode).numpy(),
                                       tx.grad.numpy(), rtol=1e-12, atol=1e-12)
            checked += 1
        include, override = bool(trial % 3), (None, None, 3)[trial % 3]
        tx = torch.from_numpy(x).requires_grad_()
        y = F.avg_pool2d(tx, k, s, p, ceil_mode, include, override)
        g = rng.standard_normal(tuple(y.shape))
        y.backward(torch.from_numpy(g))
        np.testing.assert_allclose(nnops.avg_pool2d(T(x), k, s, p, ceil_mode, include, override).numpy(),
                                   y.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(nnops.avg_pool2d_backward(T(g), shape, k, s, p, ceil_mode, include,
                                                             override).numpy(), tx.grad.numpy(), rtol=1e-12,
                                   atol=1e-12)
    assert checked > 40
    # the defaults: stride = kernel_size, and a float32 LeNet-sized batch
    x = rng.standard_normal((8, 6, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(nnops.max_pool2d(T(x), 2).numpy(), F.max_pool2d(torch.from_numpy(x), 2).numpy())
    np.testing.assert_allclose(nnops.avg_pool2d(T(x), 2).numpy(), F.avg_pool2d(torch.from_numpy(x), 2).numpy(),
                               rtol=1e-6)


def test_max_pool_nan_ties_and_infinities():
    nan, inf = np.nan, np.inf
    x = np.array([[[[1.0, 3.0, 3.0, 2.0], [nan, 0.0, -inf, -inf], [0.0, nan, -inf, -inf]]]])
    np.testing.assert_array_equal(nnops.max_pool2d(T(x), (1, 4), 1).numpy().ravel(), [3.0, nan, nan])
    grad = nnops.max_pool2d_backward(T(np.ones((1, 1, 3, 1))), T(x), (1, 4), 1, 0, 1, False).numpy()
    # ties: the first maximum; NaN: the first NaN (PyTorch's cpu kernel gives the last NaN; values agree)
    np.testing.assert_array_equal(grad[0, 0], [[0, 1, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0]])
    grad = nnops.max_pool2d_backward(T(np.ones((1, 1, 1, 1))), T(x[:, :, 1:, 2:]), 2, 2, 0, 1, False).numpy()
    assert grad[0, 0].tolist() == [[1.0, 0.0], [0.0, 0.0]]  # all -inf: the first real element
    # a window holding no real element (dilation 3 over a 2x2 input with padding 1): -inf, and no gradient
    x = np.arange(4.0).reshape(1, 1, 2, 2)
    assert nnops.max_pool2d(T(x), 2, 1, 1, 3).numpy().ravel().tolist() == [-inf]
    assert not nnops.max_pool2d_backward(T(np.ones((1, 1, 1, 1))), T(x), 2, 1, 1, 3, False).numpy().any()


def test_take_along_axis_and_scatter_add_match_torch(rng):
    for _ in range(40):
        ndim = int(rng.integers(1, 5))
        shape = tuple(int(n) for n in rng.integers(1, 6, ndim))
        axis = int(rng.integers(-ndim, ndim))
        x = rng.standard_normal(shape).astype(np.float32)
        ishape = list(shape)
        ishape[axis] = int(rng.integers(1, 8))
        index = rng.integers(0, shape[axis], ishape)
        np.testing.assert_array_equal(nnops.take_along_axis(T(x), T(index), axis=axis).numpy(),
                                      torch.gather(torch.from_numpy(x), axis, torch.from_numpy(index)).numpy())
        src = rng.standard_normal(ishape).astype(np.float32)
        np.testing.assert_allclose(nnops.scatter_add(T(x), axis, T(index), T(src)).numpy(),
                                   torch.scatter_add(torch.from_numpy(x), axis, torch.from_numpy(index),
                                                     torch.from_numpy(src)).numpy(), rtol=1e-6, atol=1e-6)
    # PyTorch's rule: index may be smaller than src, and than x except along the axis
    x, src = rng.standard_normal((4, 5, 6)), rng.standard_normal((4, 7, 6))
    index = rng.integers(0, 5, (3, 7, 2))
    np.testing.assert_allclose(nnops.scatter_add(T(x), 1, T(index), T(src)).numpy(),
                               torch.scatter_add(torch.from_numpy(x), 1, torch.from_numpy(index),
                                                 torch.from_numpy(src)).numpy(), rtol=1e-12)
    # 0-d tensors act as 1-d ones
    got = nnops.scatter_add(T(np.float32(1.5)), 0, T(np.int64(0)), T(np.float32(2.0)))
    assert got.shape == () and got.item() == 3.5


def test_take_along_axis_broadcasts_and_counts_negative_indices_from_the_end(rng):
    x = rng.standard_normal((3, 1, 5))
    index = rng.integers(-5, 5, (1, 4, 2))
    expected = np.take_along_axis(x, index, axis=2)
    assert expected.shape == (3, 4, 2)
    np.testing.assert_array_equal(nnops.take_along_axis(T(x), T(index), axis=2).numpy(), expected)
    row = T(rng.integers(0, 3, (1, 5)))
    x = rng.standard_normal((3, 5))
    np.testing.assert_array_equal(nnops.take_along_axis(T(x), ts.broadcast_to(row, (4, 5)), axis=0).numpy(),
                                  np.take_along_axis(x, np.broadcast_to(row.numpy(), (4, 5)), 0))
    assert nnops.take_along_axis(T(x), T(np.zeros((3, 0), np.int64)), axis=1).shape == (3, 0)


def test_non_contiguous_inputs(rng):
    base = rng.standard_normal((2, 9, 11, 3)).astype(np.float32)
    t = T(base).permute_dims((0, 3, 1, 2))[:, :, 1:8, ::2]  # channels-last, sliced and strided
    x = np.ascontiguousarray(base.transpose(0, 3, 1, 2)[:, :, 1:8, ::2])
    assert not t.is_contiguous
    np.testing.assert_array_equal(nnops.unfold(t, 3, padding=1).numpy(), reference.unfold(x, 3, 1, 1, 1))
    np.testing.assert_array_equal(nnops.max_pool2d(t, 3, 2, 1).numpy(), reference.max_pool2d(x, 3, 2, 1))
    np.testing.assert_allclose(nnops.avg_pool2d(t, 2, 1, 1, True).numpy(), reference.avg_pool2d(x, 2, 1, 1, True),
                               rtol=1e-6, atol=1e-6)
    cols = rng.standard_normal((2, 3 * 9, 12)).astype(np.float32)
    ct = T(np.ascontiguousarray(cols.transpose(2, 1, 0))).permute_dims((2, 1, 0))
    np.testing.assert_allclose(nnops.fold(ct, (7, 6), 3, padding=1, stride=(2, 2)).numpy(),
                               reference.fold(cols, (7, 6), 3, 1, 1, 2), rtol=1e-5, atol=1e-6)


# -- empty inputs ------------------------------------------------------------------------------------------------------

def test_empty_batches_and_channels_keep_their_shapes():
    for shape in [(0, 3, 6, 6), (2, 0, 6, 6)]:
        x = ts.zeros(shape)
        n, c = shape[:2]
        assert nnops.unfold(x, 3).shape == (n, c * 9, 16)
        assert nnops.max_pool2d(x, 2).shape == (n, c, 3, 3)
        assert nnops.avg_pool2d(x, 2, divisor_override=3).shape == (n, c, 3, 3)
        assert nnops.max_pool2d_backward(ts.zeros((n, c, 3, 3)), x, 2, 2, 0, 1, False).shape == shape
        assert nnops.avg_pool2d_backward(ts.zeros((n, c, 3, 3)), shape, 2, 2, 0, False, True, None).shape == shape
        assert nnops.fold(ts.zeros((n, c * 9, 16)), 6, 3).shape == shape
    x = T(np.arange(6.0).reshape(2, 3))
    assert nnops.scatter_add(x, 1, T(np.zeros((2, 0), np.int64)), ts.zeros((2, 0), dtype=ts.float64)).tolist() == \
        x.tolist()


# -- errors ------------------------------------------------------------------------------------------------------------

def test_bad_inputs_raise_clear_errors():
    x = ts.zeros((1, 2, 6, 6))
    cases = [
        (lambda: nnops.unfold(ts.zeros((6, 6)), 3), ts.ShapeError, r"unfold: expected a 3-D \(C, H, W\) or 4-D"),
        (lambda: nnops.max_pool2d(ts.zeros((1, 1, 1, 6, 6)), 2), ts.ShapeError, "max_pool2d: expected a 3-D"),
        (lambda: nnops.max_pool2d(ts.zeros((1, 2, 6, 6), dtype=ts.int32), 2), TypeError,
         "max_pool2d: input must have a float dtype .* got int32 on cpu"),
        (lambda: nnops.unfold(np.zeros((1, 1, 4, 4)), 2), TypeError, r"unfold: input must be a tensor.*ts.asarray"),
        (lambda: nnops.unfold(x, 0), ValueError, "unfold: kernel_size must be at least 1, got 0"),
        (lambda: nnops.unfold(x, 2, stride=(1, 0)), ValueError, "unfold: stride must be at least 1"),
        (lambda: nnops.unfold(x, 2, padding=-1), ValueError, "unfold: padding must be at least 0"),
        (lambda: nnops.unfold(x, 2, dilation=0), ValueError, "unfold: dilation must be at least 1"),
        (lambda: nnops.unfold(x, (2, 2, 2)), TypeError, "unfold: kernel_size must be an int or a pair of ints"),
        (lambda: nnops.unfold(x, 2.5), TypeError, "unfold: kernel_size must be an int or a pair"),
        (lambda: nnops.unfold(x, 7), ValueError, "unfold: the output would be 0x0 for a 6x6 input"),
        (lambda: nnops.unfold(x, 3, dilation=3), ValueError, r"unfold: the output would be 0x0 .* at least 7x7"),
        (lambda: nnops.max_pool2d(x, 3, padding=2), ValueError, "max_pool2d: padding must be at most half the kernel"),
        (lambda: nnops.avg_pool2d(x, 2, divisor_override=0), ValueError, "avg_pool2d: divisor_override must not be"),
        (lambda: nnops.fold(ts.zeros((1, 10, 9)), 4, 2), ts.ShapeError, "fold: .* must be divisible by the kernel"),
        (lambda: nnops.fold(ts.zeros((1, 8, 8)), 4, 2), ts.ShapeError, r"fold: the input has 8 blocks .* 3x3 = 9"),
        (lambda: nnops.fold(ts.zeros((1, 1, 4, 9)), 4, 2), ts.ShapeError, "fold: expected a 2-D"),
        (lambda: nnops.max_pool2d_backward(ts.zeros((1, 2, 2, 2)), x, 2, 2, 0, 1, False), ts.ShapeError,
         r"max_pool2d_backward: grad must have the shape of the forward output, \(1, 2, 3, 3\)"),
        (lambda: nnops.avg_pool2d_backward(ts.zeros((1, 2, 3, 3)), (1, 2, 6), 2, 2, 0, False, True, None),
         ts.ShapeError, "avg_pool2d_backward: grad must have the shape of the forward output"),
        (lambda: nnops.avg_pool2d_backward(ts.zeros((1, 2, 3, 3)), (6, 6), 2, 2, 0, False, True, None),
         ts.ShapeError, "avg_pool2d_backward: input_shape must be a 3-D"),
    ]
    for fn, error, pattern in cases:
        with pytest.raises(error, match=pattern):
            fn()


def test_index_errors_name_the_op_the_value_and_the_axis_size():
    x = ts.zeros((3, 4))
    with pytest.raises(IndexError, match=r"take_along_axis: index 4 is out of bounds for axis 1 with size 4"):
        nnops.take_along_axis(x, T(np.array([[0], [4], [1]])), axis=1)
    with pytest.raises(IndexError, match=r"take_along_axis: index -5 is out of bounds for axis 1 with size 4 "
                                         r"\(valid: -4 to 3\)"):
        nnops.take_along_axis(x, T(np.array([[0], [-5], [1]])), axis=-1)
    with pytest.raises(IndexError, match=r"take_along_axis: index 0 is out of bounds for axis 0 with size 0"):
        nnops.take_along_axis(ts.zeros((0, 4)), T(np.zeros((1, 4), np.int64)), axis=0)
    with pytest.raises(IndexError, match=r"scatter_add: index -1 is out of bounds for axis 0 with size 3 "
                                         r"\(valid: 0 to 2\)"):
        nnops.scatter_add(x, 0, T(np.array([[0, -1, 0, 0]])), ts.ones((1, 4)))
    with pytest.raises(IndexError, match="scatter_add: index 3 is out of bounds"):
        nnops.scatter_add(x, 0, T(np.array([[3, 0, 0, 0]])), ts.ones((1, 4)))


def test_indexing_shape_dtype_and_device_errors():
    x = ts.zeros((3, 4))
    i = T(np.zeros((3, 1), np.int64))
    with pytest.raises(ts.ShapeError, match="take_along_axis: indices must have as many dimensions as x"):
        nnops.take_along_axis(x, T(np.zeros((3,), np.int64)), axis=1)
    with pytest.raises(ts.ShapeError, match=r"take_along_axis: indices of shape \(2, 1\) do not broadcast"):
        nnops.take_along_axis(x, T(np.zeros((2, 1), np.int64)), axis=1)
    with pytest.raises(TypeError, match="take_along_axis: indices must have an integer dtype, got float32"):
        nnops.take_along_axis(x, ts.zeros((3, 1)), axis=1)
    with pytest.raises(ts.AxisError, match="take_along_axis: axis 2 is out of range"):
        nnops.take_along_axis(x, i, axis=2)
    with pytest.raises(ts.ShapeError, match="take_along_axis: x must have at least one dimension"):
        nnops.take_along_axis(ts.zeros(()), T(np.int64(0)))
    with pytest.raises(TypeError, match=r"scatter_add: src must have x's dtype \(float32\), got float64"):
        nnops.scatter_add(x, 1, i, ts.zeros((3, 1), dtype=ts.float64))
    with pytest.raises(ts.ShapeError, match="scatter_add: x, index and src must have the same number"):
        nnops.scatter_add(x, 1, T(np.zeros((3,), np.int64)), ts.zeros((3, 1)))
    with pytest.raises(ts.ShapeError, match="scatter_add: index of shape .* must be no larger than src"):
        nnops.scatter_add(x, 1, T(np.zeros((3, 2), np.int64)), ts.zeros((3, 1)))
    with pytest.raises(ts.ShapeError, match=r"scatter_add: index .* and than x .* \(dimension 0\)"):
        nnops.scatter_add(x, 1, T(np.zeros((4, 1), np.int64)), ts.zeros((4, 1)))
    with pytest.raises(ts.KernelNotFoundError, match="scatter_add has no kernel for device 'cpu' and dtype bool"):
        nnops.scatter_add(ts.zeros((3,), dtype=ts.bool), 0, T(np.zeros(2, np.int64)), ts.zeros((2,), dtype=ts.bool))
    other = ts.zeros((3, 4), device=LIMITED)
    for fn in (lambda: nnops.take_along_axis(other, i, axis=1),
               lambda: nnops.scatter_add(x, 1, i, ts.zeros((3, 1), device=LIMITED)),
               lambda: nnops.max_pool2d_backward(ts.zeros((1, 1, 2, 2), device=LIMITED), ts.zeros((1, 1, 4, 4)), 2,
                                                 2, 0, 1, False)):
        with pytest.raises(ts.DeviceMismatchError, match="tensors are on different devices"):
            fn()
    with pytest.raises(ts.KernelNotFoundError, match="max_pool2d has no kernel for device 'limited' and dtype "
                                                     "float32.*'cpu'"):
        nnops.max_pool2d(ts.zeros((1, 1, 4, 4), device=LIMITED), 2)


# -- the C++ side: threads, determinism, its own checks -------------------------------------------------------------

class _parallel:
    """Two threads and a grain of 1: the smallest inputs take the parallel paths."""

    def __enter__(self):
        self.saved = _cpu.get_num_threads(), _cpu.get_grain()
        _cpu.set_num_threads(2)
        _cpu.set_grain(1)

    def __exit__(self, *exc):
        _cpu.set_num_threads(self.saved[0])
        _cpu.set_grain(self.saved[1])


def _every_op(x, cols, g, index, src):
    return [nnops.unfold(x, 3, 1, 1, 2), nnops.fold(cols, (9, 8), 3, 1, 1, 1), nnops.max_pool2d(x, 3, 2, 1),
            nnops.max_pool2d_backward(g, x, 3, 2, 1, 1, False), nnops.avg_pool2d(x, 3, 2, 1, True, False),
            nnops.avg_pool2d_backward(g, x.shape, 3, 2, 1, False, False, None),
            nnops.take_along_axis(src, index, axis=1), nnops.scatter_add(src[:, :5], 1, index, src)]


@pytest.mark.parametrize("dtype", FLOATS)
def test_parallel_paths_give_the_same_bits_as_one_thread(dtype, rng):
    x = T(rng.standard_normal((3, 5, 9, 8)).astype(dtype))
    cols = T(rng.standard_normal((3, 45, 72)).astype(dtype))
    g = T(rng.standard_normal((3, 5, 5, 4)).astype(dtype))
    index = T(rng.integers(0, 5, (4, 300)))  # repeated indices: the order of the adds shows
    src = T(rng.standard_normal((4, 300)).astype(dtype))
    serial = [t.numpy() for t in _every_op(x, cols, g, index, src)]
    with _parallel():
        parallel = [t.numpy() for t in _every_op(x, cols, g, index, src)]
    for a, b in zip(serial, parallel):
        assert a.tobytes() == b.tobytes()
    # scatter_add split across the inner dimension too (few outer positions)
    src = T(rng.standard_normal((1, 50, 40)).astype(dtype))
    index = T(rng.integers(0, 3, (1, 50, 40)))
    one = nnops.scatter_add(ts.zeros((1, 3, 40), dtype=dtype), 1, index, src).numpy()
    with _parallel():
        two = nnops.scatter_add(ts.zeros((1, 3, 40), dtype=dtype), 1, index, src).numpy()
    assert one.tobytes() == two.tobytes()


def test_entry_points_check_layouts_and_indices():
    x = ts.zeros((1, 1, 4, 4))
    out = ts.zeros((1, 4, 8))  # im2col with kernel 2 needs (1, 4, 9)
    g = (2, 2, 1, 1, 0, 0, 1, 1)
    with pytest.raises(ValueError, match=r"im2col: out must have shape \(N, C\*KH\*KW, OH\*OW\)"):
        _cpu.im2col(7, x.buffer.handle, 0, x.shape, x.strides, out.buffer.handle, 0, (1, 4, 8), g)
    with pytest.raises(IndexError, match="im2col: out: the layout reaches elements"):  # 36 values into 32
        _cpu.im2col(7, x.buffer.handle, 0, x.shape, x.strides, out.buffer.handle, 0, (1, 4, 9), g)
    with pytest.raises(IndexError, match="max_pool2d: x: the layout reaches elements"):
        _cpu.max_pool2d(7, x.buffer.handle, 1, x.shape, x.strides, out.buffer.handle, 0, (1, 1, 2, 2), g)
    with pytest.raises(ValueError, match="geometry value 0 is out of range"):
        _cpu.max_pool2d(7, x.buffer.handle, 0, x.shape, x.strides, out.buffer.handle, 0, (1, 1, 2, 2),
                        (0, 2, 1, 1, 0, 0, 1, 1))
    with pytest.raises(ValueError, match="avg_pool2d needs a floating dtype"):
        _cpu.avg_pool2d(4, x.buffer.handle, 0, x.shape, x.strides, out.buffer.handle, 0, (1, 1, 2, 2), g, True)
    # an index the dispatcher would have refused: the kernel reads and writes nothing for it, and raises
    src, dst, picked = ts.ones((4,)), ts.zeros((3,)), ts.zeros((4,))
    bad = T(np.array([0, 3, 1, -1]))
    with pytest.raises(IndexError, match=r"take_along_axis: an index is outside \[0, 3\)"):
        _cpu.take_along_axis(7, (4,), picked.buffer.handle, 0, (1,), src.buffer.handle, 0, (1,), 3,
                             bad.buffer.handle, 0, (1,), 0)
    assert picked.tolist() == [1.0, 0.0, 1.0, 0.0]  # the good indices were read, the bad ones skipped
    with pytest.raises(IndexError, match=r"scatter_add: an index is outside \[0, 3\)"):
        _cpu.scatter_add(7, (4,), dst.buffer.handle, 0, 3, bad.buffer.handle, 0, (1,), src.buffer.handle, 0, (1,), 0)
    assert dst.tolist() == [1.0, 1.0, 0.0]  # the two good indices were added, the bad ones skipped
    with pytest.raises(ValueError, match="scatter_add has no bool kernel"):
        b = ts.zeros((3,), dtype=ts.bool)
        _cpu.scatter_add(0, (3,), b.buffer.handle, 0, 3, T(np.zeros(3, np.int64)).buffer.handle, 0, (1,),
                         b.buffer.handle, 0, (1,), 0)


# -- the conformance samples catch wrong kernels --------------------------------------------------------------------

def _wrong(op):
    """A cpu kernel of ``op`` with one typical bug: each of these must fail the samples."""
    right = ts.registry.kernels(op=op, device="cpu", dtype="float32")[0].fn
    if op == "max_pool2d_backward":  # the last maximum instead of the first
        def kernel(out, grad, x, geometry):
            flipped = ts.asarray(x.numpy()[..., ::-1].copy())
            right(out, ts.asarray(grad.numpy()[..., ::-1].copy()), flipped, geometry)
            fixed = out.numpy()[..., ::-1].copy()
            _cpu.copy_in(out.buffer.handle, out.offset * 4, fixed)
    elif op == "col2im":  # drops the last kernel position's terms
        def kernel(out, cols, geometry):
            kk = geometry[0] * geometry[1]
            c = cols.numpy().copy()
            c[:, kk - 1::kk] = 0
            right(out, ts.asarray(c), geometry)
    elif op == "avg_pool2d":  # always divides by the full kernel
        def kernel(out, x, geometry, count_include_pad):
            right(out, x, geometry, True)
    else:
        raise KeyError(op)
    return kernel


@pytest.mark.parametrize("op", ["max_pool2d_backward", "col2im", "avg_pool2d"])
def test_the_samples_catch_a_wrong_kernel(op):
    saved = ts.registry.snapshot()
    try:
        ts.register_kernel(op, "cpu", ["float32"], _wrong(op), override=True)
        with pytest.raises(samples.SampleFailure):
            samples.check(op, "float32", CPU)
    finally:
        ts.registry.restore(saved)
    assert samples.check(op, "float32", CPU) > 10


def test_take_along_axis_gradient_with_negative_indices(device):
    # negative indices count from the end in the forward pass, and their gradient lands where they picked from
    x = ts.asarray([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device=device, requires_grad=True)
    index = ts.asarray([[-1, 0, -1], [1, -3, -2]], device=device)
    y = ts.take_along_axis(x, index, axis=1)
    assert y.tolist() == [[3.0, 1.0, 3.0], [5.0, 4.0, 5.0]]
    (y * ts.asarray([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device=device)).sum().backward()
    tx = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=torch.float64, requires_grad=True)
    ti = torch.tensor([[2, 0, 2], [1, 0, 1]])
    (torch.gather(tx, 1, ti) * torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=torch.float64)).sum().backward()
    assert x.grad.tolist() == tx.grad.tolist()
