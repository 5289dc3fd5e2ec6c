"""``ts.save`` / ``ts.load``: tensors and nested containers of them in a safetensors file; loading never unpickles.

    import tensorswitch as ts
    ts.save({"weight": ts.ones((2, 3)), "step": 10}, "ckpt.safetensors")
    state = ts.load("ckpt.safetensors", map_location="cpu")

See Note [File format] for what the file holds and Note [Devices on load] for where tensors go.
"""

import collections
import io
import json
import math
import os
import secrets
import struct

import numpy as np

import tensorswitch as ts  # only used at call time: this module may be imported while tensorswitch initialises

__all__ = ["save", "load"]

# Note [File format]
# ~~~~~~~~~~~~~~~~~~
# A file written by ``save`` is a plain safetensors file (readable by any safetensors reader as a flat dict of
# arrays).  Every tensor of the saved object becomes one safetensors entry under a generated key ("0", "1", ...), in
# its own dtype and shape (0-d and empty tensors included).  The object's structure is JSON in the header's
# ``__metadata__`` (safetensors metadata is a str -> str dict):
#
#   "format": "tensorswitch"            marks the file as ours
#   "tensorswitch.version": "1"         the version of this layout; ``load`` refuses versions it does not know
#   "tensorswitch.structure": <JSON>    the object, one node per value:
#       None, bool, int, str, finite float      themselves (JSON keeps 1 and 1.0 apart: Python writes 1.0 as "1.0")
#       list                                    a JSON array of nodes
#       anything else                           a JSON object whose "$" says what it is:
#           {"$": "tensor", "key": "3", "device": "opencl:0"}   the device it was saved from
#           {"$": "tensor", "key": "4", "device": "cpu", "dtype": "complex128"}
#               a tensor safetensors has no dtype for, stored as its parts: complex128 as a float64 entry of shape
#               (..., 2), real and imaginary parts interleaved as in memory (safetensors has C64 but no C128)
#           {"$": "tuple", "items": [...]}
#           {"$": "dict" | "OrderedDict" | "Counter", "items": [[key node, value node], ...]}
#               (pairs, not a JSON object: keys keep their type, so an optimiser's {0: ...} loads with int keys,
#               and their order)
#           {"$": "float", "value": "nan" | "inf" | "-inf"}      (JSON has no NaN or infinity)
#
# A tensor object that appears several times in the structure is stored once and loads as one tensor appearing in
# the same places (views of one tensor are separate tensors, stored and loaded separately).  Containers are not
# shared that way: a list that appears twice loads as two equal lists.

_FORMAT = "tensorswitch"
_VERSION = "1"
_KEY_FORMAT, _KEY_VERSION, _KEY_STRUCTURE = "format", "tensorswitch.version", "tensorswitch.structure"
_DICT_TYPES = {dict: "dict", collections.OrderedDict: "OrderedDict", collections.Counter: "Counter"}
_DICT_BY_TAG = {tag: cls for cls, tag in _DICT_TYPES.items()}
_SUPPORTED = ("tensors, dicts (dict, OrderedDict, Counter), lists, tuples, and int, float, bool, str or None")
_STORED_AS = {"complex128": "float64"}  # dtypes safetensors lacks -> the part dtype they are stored as
_MAX_HEADER = 100_000_000  # safetensors' own limit on the header's size


# -- save -----------------------------------------------------------------------------------------------------------

def save(obj, f):
    """Save ``obj`` to ``f`` (a path or a binary file object opened for writing).

    ``obj`` is a tensor or nested dicts, lists and tuples of tensors and plain values (int, float, bool, str, None;
    NumPy scalars are stored as the equivalent Python number), for example a module's or an optimiser's
    ``state_dict()``.  Tensors keep their dtype, shape and values, and remember the device they were saved from
    (see :func:`load`).  The file is a safetensors file (Note [File format]); saving to a path writes a temporary
    file next to it and renames it, so an interrupted save never leaves a half-written file in its place.

    >>> import io, tensorswitch as ts
    >>> f = io.BytesIO()                         # or a path: ts.save(state, "ckpt.safetensors")
    >>> ts.save({"w": ts.ones((2,)), "epoch": 3}, f)
    >>> _ = f.seek(0)
    >>> ts.load(f)["w"].tolist()
    [1.0, 1.0]
    """
    arrays, memo = {}, {}
    structure = _encode(obj, "obj", arrays, memo, set())
    metadata = {_KEY_FORMAT: _FORMAT, _KEY_VERSION: _VERSION,
                _KEY_STRUCTURE: json.dumps(structure, separators=(",", ":"), allow_nan=False)}
    from safetensors.numpy import save as to_bytes, save_file

    if _is_path(f):
        path = os.path.realpath(os.fsdecode(os.fspath(f)))  # write next to a symlink's target, not over the link
        # a fresh name next to the target, created with open() so that it gets the umask's permissions (mkstemp's
        # would be 0600), then renamed over the target
        folder = os.path.dirname(path)
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"ts.save: cannot write {os.fspath(f)!r}: the folder {folder!r} does not exist")
        tmp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        open(tmp, "xb").close()
        try:
            save_file(arrays, tmp, metadata=metadata)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    elif hasattr(f, "write"):
        f.write(to_bytes(arrays, metadata=metadata))
    else:
        raise TypeError(f"ts.save: f must be a path (str or os.PathLike) or a binary file object, got "
                        f"{type(f).__name__}")


def _is_path(f):
    return isinstance(f, (str, bytes, os.PathLike))


def _encode(value, where, arrays, memo, active):
    """The JSON node of ``value`` (at ``where``, such as "obj['a'][2]"), adding its tensors to ``arrays``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)  # int subclasses (IntEnum ...) store as plain ints
    if isinstance(value, float):
        value = float(value)
        return value if math.isfinite(value) else {"$": "float", "value": repr(value)}  # 'nan', 'inf', '-inf'
    if isinstance(value, ts.Tensor):
        return _encode_tensor(value, arrays, memo)
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return _encode(value.item(), where, arrays, memo, active)
    if isinstance(value, (list, tuple)) or type(value) in _DICT_TYPES:
        if id(value) in active:
            raise ValueError(f"ts.save: {where} contains itself; a structure with a cycle cannot be saved")
        active.add(id(value))
        try:
            if isinstance(value, list):
                return [_encode(v, f"{where}[{i}]", arrays, memo, active) for i, v in enumerate(value)]
            if isinstance(value, tuple):
                return {"$": "tuple", "items": [_encode(v, f"{where}[{i}]", arrays, memo, active)
                                                for i, v in enumerate(value)]}
            items = []
            for k, v in value.items():
                items.append([_encode_key(k, where), _encode(v, f"{where}[{k!r}]", arrays, memo, active)])
            return {"$": _DICT_TYPES[type(value)], "items": items}
        finally:
            active.discard(id(value))
    hint = ""
    if isinstance(value, np.ndarray):
        hint = " (convert NumPy arrays with ts.asarray first)"
    elif isinstance(value, dict):
        hint = " (convert it with dict(...) first)"
    elif hasattr(value, "state_dict"):
        hint = " (save its state_dict() instead)"
    raise TypeError(f"ts.save: cannot save {type(value).__module__}.{type(value).__qualname__} at {where}{hint}; "
                    f"ts.save stores {_SUPPORTED}")


def _encode_key(key, where):
    """A dict key's node: only plain values (and tuples of them) are keys in the file."""
    if key is None or isinstance(key, (bool, int, float, str, np.bool_, np.integer, np.floating)):
        return _encode(key, where, None, None, set())
    if isinstance(key, tuple):
        return {"$": "tuple", "items": [_encode_key(k, where) for k in key]}
    raise TypeError(f"ts.save: cannot save the dict key {key!r} ({type(key).__name__}) in {where}; dict keys must be "
                    f"int, float, bool, str, None or tuples of them")


def _encode_tensor(t, arrays, memo):
    key = memo.get(id(t))
    if key is None:
        key = memo[id(t)] = str(len(arrays))
        host = t.numpy()  # a host copy in the tensor's dtype (read-only views are materialised)
        stored = _STORED_AS.get(host.dtype.name)
        if stored is not None:  # Note [File format]: complex128 as float64 pairs
            host = np.ascontiguousarray(host).view(stored).reshape(host.shape + (2,))
        arrays[key] = host
        memo[("keep", key)] = t  # keep the tensor alive so that its id is not reused while saving
        memo[("dtype", key)] = t.dtype.name if stored is not None else None
    node = {"$": "tensor", "key": key, "device": str(t.device)}
    if memo[("dtype", key)] is not None:
        node["dtype"] = memo[("dtype", key)]
    return node


# -- load -----------------------------------------------------------------------------------------------------------

# Note [Devices on load]
# ~~~~~~~~~~~~~~~~~~~~~~
# ``map_location=None`` puts each tensor back on the device it was saved from when that device is usable here and
# holds its dtype; otherwise on cpu, with one warning per load naming the devices that were replaced.  A device or
# device string puts every tensor there; a dict maps saved devices (full "opencl:1" or type "opencl") to devices,
# other tensors following the None rule.

def load(f, map_location=None):
    """Load an object saved by :func:`save` from ``f`` (a path or a binary file object).

    ``map_location``: None (each tensor on the device it was saved from if that is usable here, else on cpu with a
    warning), a device or device string (every tensor there), or a dict from saved device ("opencl:1" or "opencl")
    to device.  Dicts, lists and tuples come back as they were saved (also ``OrderedDict`` and ``Counter``, and int
    dict keys); tensors come back as plain tensors (a saved parameter loads as a tensor with
    ``requires_grad=False``).  The file is read with safetensors and JSON only: nothing is unpickled, so a file from an
    untrusted source cannot run code.

    >>> import io, tensorswitch as ts
    >>> buf = io.BytesIO()
    >>> ts.save([ts.zeros(()), (1, "a")], buf)
    >>> _ = buf.seek(0)
    >>> ts.load(buf)
    [tensor(0., dtype=float32, device='cpu'), (1, 'a')]
    """
    placement = _Placement(map_location)
    if _is_path(f):
        path = os.fsdecode(os.fspath(f))
        if not os.path.exists(path):
            raise FileNotFoundError(f"ts.load: no such file: {path!r}")
        if os.path.isdir(path):
            raise IsADirectoryError(f"ts.load: {path!r} is a directory, not a file saved by ts.save")
        with open(path, "rb") as fh:
            header, _ = _read_header(fh, repr(path))
        structure = _structure(header, repr(path))
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(path, framework="numpy") as sf:
                return _Decoder(sf.get_tensor, set(sf.keys()), placement, repr(path)).run(structure)
        except SafetensorError as exc:  # a header that points outside the file, a truncated file
            raise ValueError(f"ts.load: {path!r} is damaged: {exc}") from None
    if not hasattr(f, "read"):
        raise TypeError(f"ts.load: f must be a path (str or os.PathLike) or a binary file object, got "
                        f"{type(f).__name__}")
    data = f.read()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"ts.load: the file object must be opened in binary mode (read() returned "
                        f"{type(data).__name__})")
    data = bytes(data)
    name = repr(getattr(f, "name", "the file object"))
    header, _ = _read_header(io.BytesIO(data), name)
    structure = _structure(header, name)
    from safetensors import SafetensorError
    from safetensors.numpy import load as from_bytes

    try:
        arrays = from_bytes(data)
    except SafetensorError as exc:
        raise ValueError(f"ts.load: {name} is damaged: {exc}") from None
    return _Decoder(arrays.__getitem__, set(arrays), placement, name).run(structure)


def _not_ours(name, why, head=b""):
    """The error for a file ``load`` cannot read, guessing what the file is from its first bytes."""
    guess = ""
    if head.startswith(b"PK\x03\x04"):
        guess = (" It looks like a zip archive, such as a PyTorch torch.save() file: ts.load never unpickles (that "
                 "could run code from the file); load it with torch.load, convert its tensors with "
                 "ts.asarray(t.numpy()) and save them with ts.save.")
    elif head[:1] == b"\x80":
        guess = (" It looks like a pickle file: ts.load never unpickles (that could run code from the file); "
                 "convert it with the library that wrote it.")
    elif head.startswith(b"\x93NUMPY"):
        guess = " It looks like a NumPy .npy file: read it with numpy.load and convert it with ts.asarray."
    return ValueError(f"ts.load: {name} is not a file saved by ts.save: {why}.{guess}")


def _read_header(fh, name):
    """The parsed safetensors header of the open binary file ``fh`` (raising when the file is not ours)."""
    head = fh.read(8)
    if len(head) < 8:
        raise _not_ours(name, f"it is only {len(head)} bytes long", head)
    (size,) = struct.unpack("<Q", head)
    if size > _MAX_HEADER:
        raise _not_ours(name, "it does not start with a safetensors header", head)
    raw = fh.read(size)
    if len(raw) < size:
        raise _not_ours(name, "it is truncated or does not start with a safetensors header", head)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _not_ours(name, "it does not start with a safetensors header", head) from None
    if not isinstance(header, dict):
        raise _not_ours(name, "its safetensors header is not a JSON object", head)
    return header, head


def _structure(header, name):
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or meta.get(_KEY_FORMAT) != _FORMAT:
        raise ValueError(f"ts.load: {name} is a safetensors file, but not one saved by ts.save (its metadata has "
                         f"no 'format': 'tensorswitch'); read its arrays with safetensors.numpy.load_file(path) "
                         f"and convert them with ts.asarray")
    version = meta.get(_KEY_VERSION)
    if version != _VERSION:
        raise ValueError(f"ts.load: {name} was saved in tensorswitch file format version {version!r}; this version "
                         f"of tensorswitch reads version {_VERSION!r}: upgrade tensorswitch to read it")
    try:
        return json.loads(meta[_KEY_STRUCTURE])
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"ts.load: {name} is damaged: its structure metadata is missing or not JSON") from None


class _Placement:
    """Where each loaded tensor goes (Note [Devices on load])."""

    def __init__(self, map_location):
        self.fixed, self.table, self.cache, self.replaced = None, {}, {}, {}
        if map_location is None:
            return
        if isinstance(map_location, dict):
            for saved, target in map_location.items():
                if not isinstance(saved, str):
                    raise TypeError(f"ts.load: map_location's keys must be device strings such as 'opencl' or "
                                    f"'cuda:0', got {saved!r}")
                self.table[saved] = ts.device(target)
        elif isinstance(map_location, (str, ts.Device)):
            self.fixed = ts.device(map_location)  # raises at once, saying why, for a device that cannot be used
        else:
            raise TypeError(f"ts.load: map_location must be None, a device, a device string or a dict of them, got "
                            f"{type(map_location).__name__}")

    def device(self, saved, dtype):
        if self.fixed is not None:
            return self.fixed
        target = self.table.get(saved) or self.table.get(saved.split(":")[0])
        if target is not None:
            return target
        key = (saved, dtype)
        dev = self.cache.get(key)
        if dev is None:
            try:
                dev = ts.device(saved)
                if dtype not in dev.supported_dtypes():
                    raise ts.UnsupportedDtypeError(f"{saved} cannot hold {dtype.name}")
            except ts.TensorSwitchError as exc:
                self.replaced[saved] = str(exc)
                dev = ts.device("cpu")
            self.cache[key] = dev
        return dev

    def warn(self, name):
        if self.replaced:
            reasons = "; ".join(f"{d!r}: {why}" for d, why in self.replaced.items())
            ts.errors.warn(f"ts.load: {name} holds tensors saved on devices that cannot take them here ({reasons}); "
                           f"they were loaded on cpu. Pass map_location to choose the device.", UserWarning)


class _Decoder:
    """Turns the JSON structure back into the object, reading each tensor once."""

    def __init__(self, get_array, keys, placement, name):
        self.get_array, self.keys, self.placement, self.name = get_array, keys, placement, name
        self.tensors = {}

    def run(self, structure):
        out = self.node(structure, "obj")
        self.placement.warn(self.name)
        return out

    def damaged(self, where, what):
        return ValueError(f"ts.load: {self.name} is damaged: {what} at {where}")

    def node(self, node, where):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.node(v, f"{where}[{i}]") for i, v in enumerate(node)]
        if not isinstance(node, dict):
            raise self.damaged(where, f"an unknown node {node!r}")
        tag = node.get("$")
        if tag == "tensor":
            return self.tensor(node, where)
        if tag == "tuple":
            return tuple(self.node(v, f"{where}[{i}]") for i, v in enumerate(self.items(node, where)))
        if tag in _DICT_BY_TAG:
            out = _DICT_BY_TAG[tag]()
            for pair in self.items(node, where):
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise self.damaged(where, "a dict entry that is not a [key, value] pair")
                key = self.node(pair[0], where)
                out[key] = self.node(pair[1], f"{where}[{key!r}]")
            return out
        if tag == "float" and node.get("value") in ("nan", "inf", "-inf"):
            return float(node["value"])
        raise self.damaged(where, f"an unknown node {node!r}")

    def items(self, node, where):
        items = node.get("items")
        if not isinstance(items, list):
            raise self.damaged(where, "a container without items")
        return items

    def tensor(self, node, where):
        key, saved = node.get("key"), node.get("device")
        if key in self.tensors:
            return self.tensors[key]
        if key not in self.keys or not isinstance(saved, str):
            raise self.damaged(where, f"a tensor whose data ({key!r}) is missing")
        host = self.get_array(key)
        as_dtype = node.get("dtype")
        if as_dtype is not None:  # Note [File format]: stored as its parts
            if _STORED_AS.get(as_dtype) != host.dtype.name or host.shape[-1:] != (2,):
                raise self.damaged(where, f"a {as_dtype} tensor stored as {host.dtype.name} {tuple(host.shape)}")
            host = np.ascontiguousarray(host).view(as_dtype).reshape(host.shape[:-1])
        dtype = ts.dtype(host.dtype.name)
        dev = self.placement.device(saved, dtype)
        try:
            t = ts.asarray(host, device=dev)
        except ts.TensorSwitchError as exc:
            raise type(exc)(f"ts.load: cannot put the tensor at {where} ({dtype.name}, shape {tuple(host.shape)}) "
                            f"on {dev}: {exc}") from None
        self.tensors[key] = t
        return t
