"""ts.save / ts.load: every dtype and shape on every device, nested structures, devices on load, and clear errors
for files that are not ours and objects that cannot be saved."""

import collections
import io
import json
import math
import os
import pathlib
import warnings

import numpy as np
import pytest
import safetensors.numpy

import tensorswitch as ts
from tensorswitch import serialization
from tensorswitch.serialization import load, save  # ts.save / ts.load once the lead exports them

SHAPES = [(), (0,), (3,), (2, 3), (0, 4), (2, 1, 3)]


def _sample(dtype, shape, rng):
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype.startswith("float"):
        return rng.standard_normal(shape).astype(dtype)
    if dtype.startswith("complex"):
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_every_dtype_and_shape_round_trips(device, shape, tmp_path, rng):
    dtypes = [dt for dt in ts._DTYPES if dt in device.supported_dtypes()]
    arrays = {dt.name: _sample(dt.name, shape, rng) for dt in dtypes}
    obj = {name: ts.asarray(a, device=device) for name, a in arrays.items()}
    save(obj, tmp_path / "t.safetensors")
    back = load(tmp_path / "t.safetensors")
    assert list(back) == list(arrays)
    for name, a in arrays.items():
        t = back[name]
        assert isinstance(t, ts.Tensor) and t.dtype == ts.dtype(name) and t.shape == shape and t.device == device
        np.testing.assert_array_equal(t.numpy(), a)


def test_special_float_values_keep_their_bits(tmp_path):
    values = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300, np.finfo(np.float64).max])
    for dtype in ("float16", "float32", "float64"):
        with np.errstate(over="ignore"):
            a = values.astype(dtype)
        save(ts.asarray(a), tmp_path / "f.safetensors")
        assert load(tmp_path / "f.safetensors").numpy().tobytes() == a.tobytes()


def test_views_are_saved_as_their_values(tmp_path):
    base = ts.asarray(np.arange(12.0).reshape(3, 4))
    views = {"T": base.T, "step": base[::2, 1::2], "broadcast": ts.broadcast_to(ts.asarray([1.0, 2.0]), (3, 2))}
    save(views, tmp_path / "v.safetensors")
    back = load(tmp_path / "v.safetensors")
    for name, view in views.items():
        np.testing.assert_array_equal(back[name].numpy(), view.numpy())
        back[name][...] = 0.0  # loaded tensors are ordinary writable tensors
    np.testing.assert_array_equal(base.numpy(), np.arange(12.0).reshape(3, 4))


def test_nested_structure_round_trips(tmp_path):
    w = ts.asarray(np.ones((2, 2), dtype=np.float32))
    obj = {
        "state": {0: {"step": ts.zeros(()), "momentum_buffer": w}, 1: {}},
        "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "nesterov": False, "foreach": None, "params": [0, 1],
                          "name": "group é"}],
        "model": collections.OrderedDict([("layer.weight", w), ("layer.bias", ts.zeros(2))]),
        "milestones": collections.Counter([5, 12, 12]),
        "numbers": [0, -7, 2 ** 70, 1.0, -0.0, math.inf, -math.inf, 1e-310, True, None],
        "nested": ((1, (2, [3])), [], (), {}),
        (1, "a"): "tuple key", 2.5: "float key", None: "None key", True: "bool key",
        "numpy": [np.float32(0.5), np.int64(3), np.bool_(True)],
    }
    save(obj, tmp_path / "s.safetensors")
    back = load(tmp_path / "s.safetensors")
    assert list(back) == list(obj)
    assert back["param_groups"] == obj["param_groups"]
    assert type(back["model"]) is collections.OrderedDict and list(back["model"]) == ["layer.weight", "layer.bias"]
    assert type(back["milestones"]) is collections.Counter and back["milestones"] == obj["milestones"]
    assert back["numbers"] == obj["numbers"] and [type(v) for v in back["numbers"]] == [type(v) for v in
                                                                                          obj["numbers"]]
    assert math.copysign(1.0, back["numbers"][4]) == -1.0
    assert back["nested"] == obj["nested"]
    assert back[(1, "a")] == "tuple key" and back[2.5] == "float key" and back[None] == "None key"
    assert back[True] == "bool key"
    assert back["numpy"] == [0.5, 3, True] and [type(v) for v in back["numpy"]] == [float, int, bool]
    assert list(back["state"]) == [0, 1]  # int keys stay ints
    np.testing.assert_array_equal(back["state"][0]["momentum_buffer"].numpy(), w.numpy())


def test_nan_in_structure(tmp_path):
    save({"x": math.nan}, tmp_path / "n.safetensors")
    assert math.isnan(load(tmp_path / "n.safetensors")["x"])


def test_a_tensor_shared_twice_loads_as_one_tensor(tmp_path):
    w = ts.ones(3)
    save({"a": w, "b": [w, w[1:]]}, tmp_path / "s.safetensors")
    back = load(tmp_path / "s.safetensors")
    assert back["a"] is back["b"][0]
    assert back["b"][1] is not back["a"]  # a view is stored as its own tensor
    with safetensors.safe_open(str(tmp_path / "s.safetensors"), framework="numpy") as f:
        assert len(list(f.keys())) == 2  # stored once


def test_top_level_values(tmp_path):
    for obj in (ts.arange(3), 5, "text", None, [], 1.5):
        save(obj, tmp_path / "x.safetensors")
        back = load(tmp_path / "x.safetensors")
        if isinstance(obj, ts.Tensor):
            assert back.tolist() == obj.tolist()
        else:
            assert back == obj and type(back) is type(obj)


def test_file_objects_and_paths(tmp_path):
    buf = io.BytesIO()
    save({"x": ts.arange(4)}, buf)
    buf.seek(0)
    assert load(buf)["x"].tolist() == [0, 1, 2, 3]
    for path in (str(tmp_path / "p.safetensors"), pathlib.Path(tmp_path / "q.safetensors")):
        save([ts.ones(1)], path)
        assert load(path)[0].tolist() == [1.0]
    with open(tmp_path / "p.safetensors", "rb") as f:
        assert load(f)[0].tolist() == [1.0]
    with open(tmp_path / "p.safetensors", "r", encoding="latin-1") as f, pytest.raises(TypeError, match="binary"):
        load(f)
    with pytest.raises(TypeError, match="path .* or a binary file object"):
        save(ts.ones(1), 42)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save(ts.ones(1), tmp_path / "no" / "such" / "folder.safetensors")
    with pytest.raises(TypeError, match="path .* or a binary file object"):
        load(42)


def test_the_file_is_plain_safetensors(tmp_path):
    """Any safetensors reader sees the arrays; the structure is JSON metadata."""
    save({"w": ts.asarray(np.eye(2)), "lr": 0.1}, tmp_path / "m.safetensors")
    arrays = safetensors.numpy.load_file(str(tmp_path / "m.safetensors"))
    assert list(arrays) == ["0"]
    np.testing.assert_array_equal(arrays["0"], np.eye(2))
    with safetensors.safe_open(str(tmp_path / "m.safetensors"), framework="numpy") as f:
        meta = f.metadata()
    assert meta["format"] == "tensorswitch" and meta["tensorswitch.version"] == "1"
    assert json.loads(meta["tensorswitch.structure"])["$"] == "dict"


def test_save_replaces_an_existing_file_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "c.safetensors"
    save({"v": 1}, path)
    save({"v": 2}, path)
    assert load(path) == {"v": 2}
    with pytest.raises(TypeError):
        save({"v": object()}, path)  # a failed save leaves the last good file in place
    assert load(path) == {"v": 2}
    assert os.listdir(tmp_path) == ["c.safetensors"]


# -- devices on load ------------------------------------------------------------------------------------------------

def test_map_location(device, tmp_path):
    obj = {"f": ts.asarray(np.arange(3.0, dtype=np.float32), device=device), "i": ts.arange(2, device=device)}
    save(obj, tmp_path / "d.safetensors")
    assert {t.device for t in load(tmp_path / "d.safetensors").values()} == {device}
    for where in ("cpu", ts.device("cpu"), {str(device): "cpu"}, {device.type: "cpu"}):
        back = load(tmp_path / "d.safetensors", map_location=where)
        assert {t.device for t in back.values()} == {ts.device("cpu")}
        assert back["f"].tolist() == [0.0, 1.0, 2.0] and back["i"].dtype == ts.int64
    back = load(tmp_path / "d.safetensors", map_location={"nosuchdevice": "cpu"})  # other devices: the None rule
    assert {t.device for t in back.values()} == {device}
    cpu_file = tmp_path / "c.safetensors"
    save({"x": ts.ones(2)}, cpu_file)
    assert load(cpu_file, map_location=device)["x"].device == device


def _rewrite_devices(path, device_name):
    """The file at ``path`` with every tensor's saved device replaced by ``device_name``."""
    with safetensors.safe_open(str(path), framework="numpy") as f:
        meta = f.metadata()
        arrays = {k: f.get_tensor(k) for k in f.keys()}
    meta["tensorswitch.structure"] = meta["tensorswitch.structure"].replace('"device":"cpu"',
                                                                            f'"device":"{device_name}"')
    safetensors.numpy.save_file(arrays, str(path), metadata=meta)


@pytest.mark.parametrize("saved_on", ["cuda:7", "nosuchdevice", "opencl:99"])
def test_unusable_saved_device_loads_on_cpu_with_a_warning(saved_on, tmp_path):
    path = tmp_path / "u.safetensors"
    save({"a": ts.ones(2), "b": ts.zeros(3)}, path)
    _rewrite_devices(path, saved_on)
    with pytest.warns(UserWarning, match=f"saved on devices that cannot take them here .*'{saved_on}'"):
        back = load(path)
    assert {t.device for t in back.values()} == {ts.device("cpu")}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load(path, map_location="cpu")["a"].tolist() == [1.0, 1.0]


def test_dtype_the_saved_device_cannot_hold_loads_on_cpu(tmp_path):
    for dev in ts.devices():
        if ts.float16 not in dev.supported_dtypes():
            break
    else:
        pytest.skip("every device here holds float16")
    path = tmp_path / "h.safetensors"
    save(ts.ones(2, dtype=ts.float16), path)
    _rewrite_devices(path, str(dev))
    with pytest.warns(UserWarning, match="cannot hold float16"):
        assert load(path).device == ts.device("cpu")
    with pytest.raises(ts.UnsupportedDtypeError, match=r"ts.load: cannot put the tensor at obj \(float16"):
        load(path, map_location=dev)


def test_bad_map_location(tmp_path):
    save(ts.ones(1), tmp_path / "x.safetensors")
    with pytest.raises(ts.DeviceError):
        load(tmp_path / "x.safetensors", map_location="nosuchdevice")
    with pytest.raises(TypeError, match="map_location must be"):
        load(tmp_path / "x.safetensors", map_location=3)


# -- errors ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("obj, where, hint", [
    ({"a": [1, object()]}, r"obj\['a'\]\[1\]", "ts.save stores tensors"),
    ({"a": np.zeros(2)}, r"obj\['a'\]", "convert NumPy arrays with ts.asarray"),
    ([{1, 2}], r"obj\[0\]", "ts.save stores"),
    ({"d": collections.defaultdict(int)}, r"obj\['d'\]", r"dict\(...\)"),
    ((1, 2, b"bytes"), r"obj\[2\]", "ts.save stores"),
])
def test_unsupported_objects_name_their_path(obj, where, hint, tmp_path):
    with pytest.raises(TypeError, match=f"cannot save .* at {where}.*{hint}"):
        save(obj, tmp_path / "x.safetensors")
    assert not os.listdir(tmp_path)


def test_bad_dict_keys_and_cycles(tmp_path):
    with pytest.raises(TypeError, match=r"dict key frozenset\(\{1\}\) .* in obj\['a'\]"):
        save({"a": {frozenset([1]): 1}}, tmp_path / "x.safetensors")
    loop = [1]
    loop.append(loop)
    with pytest.raises(ValueError, match=r"obj\[1\] contains itself"):
        save(loop, tmp_path / "x.safetensors")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load(tmp_path / "missing.safetensors")
    with pytest.raises(IsADirectoryError):
        load(tmp_path)


@pytest.mark.parametrize("content, message", [
    (b"", "only 0 bytes long"),
    (b"hello world, not a tensor file", "does not start with a safetensors header"),
    (b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00", "looks like a pickle file"),
    (b"PK\x03\x04" + bytes(100), "looks like a zip archive, such as a PyTorch torch.save"),
    (b"\x93NUMPY\x01\x00" + bytes(100), "NumPy .npy"),
])
def test_files_that_are_not_ours(content, message, tmp_path):
    path = tmp_path / "bad.bin"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"is not a file saved by ts.save: .*{message}"):
        load(path)


def test_torch_file_is_refused_without_unpickling(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"a": torch.zeros(2)}, tmp_path / "t.pt")
    with pytest.raises(ValueError, match="never unpickles"):
        load(tmp_path / "t.pt")


def test_foreign_safetensors_file_is_refused(tmp_path):
    safetensors.numpy.save_file({"w": np.zeros(2)}, str(tmp_path / "hf.safetensors"))
    with pytest.raises(ValueError, match="not one saved by ts.save .*safetensors.numpy.load_file"):
        load(tmp_path / "hf.safetensors")


def test_damaged_files(tmp_path):
    path = tmp_path / "d.safetensors"
    save({"w": ts.ones(100)}, path)
    data = path.read_bytes()
    path.write_bytes(data[:-50])  # truncated data
    with pytest.raises(ValueError, match="damaged"):
        load(path)
    with pytest.raises(ValueError, match="damaged"):
        load(io.BytesIO(data[:-50]))
    path.write_bytes(data[:20])  # truncated header
    with pytest.raises(ValueError, match="truncated"):
        load(path)
    with safetensors.safe_open(str(_fresh(tmp_path)), framework="numpy") as f:
        meta, arrays = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    for change, message in ((lambda m: m.update({"tensorswitch.version": "99"}), "format version '99'"),
                            (lambda m: m.update({"tensorswitch.structure": "{not json"}), "damaged"),
                            (lambda m: m.update({"tensorswitch.structure": '{"$":"tensor","key":"9","device":"cpu"}'}),
                             "data .* is missing")):
        bad = dict(meta)
        change(bad)
        safetensors.numpy.save_file(arrays, str(path), metadata=bad)
        with pytest.raises(ValueError, match=message):
            load(path)


def _fresh(tmp_path):
    path = tmp_path / "fresh.safetensors"
    save({"w": ts.ones(2)}, path)
    return path


@pytest.mark.skipif(not hasattr(ts, "save"), reason="ts.save / ts.load are exported by tensorswitch/__init__.py")
def test_exported_names():
    assert ts.save is serialization.save and ts.load is serialization.load
    assert serialization.__all__ == ["save", "load"]


def test_parameters_and_graph_tensors_load_as_plain_tensors(tmp_path):
    p = ts.autograd.Parameter(ts.ones(2))
    save({"p": p, "q": p * 2}, tmp_path / "p.safetensors")
    back = load(tmp_path / "p.safetensors")
    assert type(back["p"]) is ts.Tensor and not back["p"].requires_grad and back["p"].is_leaf
    assert back["q"].tolist() == [2.0, 2.0] and back["q"].grad_fn is None
