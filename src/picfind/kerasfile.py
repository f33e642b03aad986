"""Read Keras HDF5 weight files into numpy arrays, with h5py only (no TensorFlow, no pickle).

An HDF5 file holds arrays and attributes, never code, so reading it is safe in
itself; what this module adds is knowing where Keras put each layer's weights.
Three layouts are understood:

* **legacy** (``model.save_weights("x.h5")`` in Keras 1 and 2, and Keras 3's
  legacy writer; what the files Keras publishes for ``keras.applications``
  are): the root's ``layer_names`` attribute lists the layers in model order;
  each layer is a group whose ``weight_names`` attribute lists its datasets,
  relative to the group. Keras 1 named them ``block1_conv1_W_1:0`` /
  ``..._b_1:0`` (directly in the group), Keras 2 ``block1_conv1/kernel:0`` /
  ``bias:0`` (a nested group), Keras 3 the same without ``:0``. An attribute
  too big for one HDF5 object header is split into ``layer_names0``,
  ``layer_names1``… A whole saved model (``model.save("x.h5")``) has the
  same structure under a ``model_weights`` group.
* **keras3** (``model.save_weights("x.weights.h5")``): ``layers/<name>/vars/0``,
  ``1``… where ``<name>`` is the snake-cased class plus a counter in model order
  (``conv2d``, ``conv2d_1``…, ``dense``…); TF 2.13 wrote
  ``_layer_checkpoint_dependencies`` instead of ``layers``.

Only layers that have weights are returned, in model order, each as its
arrays in the order Keras stored them (kernel, then bias).

A dataset may declare far more bytes than the file stores (chunks never
written read as the fill value: a 3.6 KB file held a 2 GiB "kernel"), so an
array is read only if the file stores at least 1/``_MAX_INFLATION`` of it; and
whatever h5py raises for a malformed file is a :class:`ModelError`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from picfind.errors import ModelError

__all__ = ["KerasLayer", "keras_cache_dir", "read_keras_weights"]

_MAX_INFLATION = 16
"""Keras writes weights uncompressed; an array stored in far fewer bytes is a bomb."""


@dataclass(frozen=True)
class KerasLayer:
    """One layer's weights as Keras stored them: its name, weight names and arrays."""

    name: str
    weight_names: tuple[str, ...]
    arrays: tuple[np.ndarray, ...]


def keras_cache_dir() -> Path:
    """Keras' own download folder: ``$KERAS_HOME/models``, else ``~/.keras/models``."""
    home = os.environ.get("KERAS_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".keras"
    return base / "models"


def _text(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes | np.bytes_) else str(value)


def _names_attr(group: Any, name: str) -> list[str] | None:
    """An attribute holding a list of names, joining Keras' ``name0``, ``name1``… chunks."""
    attrs = group.attrs
    if name in attrs:
        return [_text(v) for v in np.atleast_1d(attrs[name])]
    if f"{name}0" not in attrs:
        return None
    names: list[str] = []
    i = 0
    while f"{name}{i}" in attrs:
        names += [_text(v) for v in np.atleast_1d(attrs[f"{name}{i}"])]
        i += 1
    return names


def _array(group: Any, name: str, where: str) -> np.ndarray:
    import h5py

    try:
        node = group[name]
    except KeyError:
        raise ModelError(
            f"malformed Keras weights: {where} names {name!r}, which is missing"
        ) from None
    if not isinstance(node, h5py.Dataset):
        raise ModelError(f"malformed Keras weights: {where}/{name} is not an array")
    stored = node.id.get_storage_size()
    if node.nbytes > _MAX_INFLATION * max(stored, 64 * 1024):
        raise ModelError(
            f"malformed Keras weights: {where}/{name} declares {node.nbytes} bytes "
            f"and the file stores {stored}"
        )
    value = np.asarray(node[()])
    if value.dtype.kind != "f":
        raise ModelError(f"Keras weights {where}/{name} have dtype {value.dtype}, not float")
    return value


def _legacy(root: Any) -> list[KerasLayer]:
    layer_names = _names_attr(root, "layer_names") or []
    layers = []
    for layer in layer_names:
        if layer not in root:
            raise ModelError(f"malformed Keras weights: layer {layer!r} is listed but missing")
        group = root[layer]
        weight_names = _names_attr(group, "weight_names") or []
        if weight_names:
            arrays = tuple(_array(group, w, layer) for w in weight_names)
            layers.append(KerasLayer(layer, tuple(weight_names), arrays))
    return layers


def _counter(name: str) -> tuple[str, int]:
    """``conv2d_12`` → (``conv2d``, 12); ``conv2d`` → (``conv2d``, 0): Keras 3's naming."""
    m = re.fullmatch(r"(.+?)(?:_(\d+))?", name)
    assert m is not None  # the pattern matches every non-empty string
    return m.group(1), int(m.group(2) or 0)


def _keras3(root: Any) -> list[KerasLayer]:
    key = "layers" if "layers" in root else "_layer_checkpoint_dependencies"
    groups = root[key]
    # Group names sort alphabetically in HDF5 (conv2d_10 before conv2d_2); the counter
    # gives the model order within a class. Classes keep the order of their first use,
    # which HDF5 does not record, so the caller matches classes by shape.
    layers = []
    for name in sorted(groups, key=_counter):
        g = groups[name]
        if "vars" not in g:
            continue
        keys = sorted(g["vars"], key=int)
        if keys:
            arrays = tuple(_array(g["vars"], k, f"{key}/{name}/vars") for k in keys)
            layers.append(KerasLayer(name, tuple(keys), arrays))
    return layers


def read_keras_weights(path: str | os.PathLike[str]) -> list[KerasLayer]:
    """The weighted layers of a Keras ``.h5`` file in model order; ModelError if it is not one."""
    try:
        import h5py
    except ImportError:
        raise ModelError("reading Keras weights needs h5py: pip install 'picfind[vgg]'") from None
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            root = f.get("model_weights", f)
            if _names_attr(root, "layer_names") is not None:
                layers = _legacy(root)
            elif "layers" in root or "_layer_checkpoint_dependencies" in root:
                layers = _keras3(root)
            else:
                raise ModelError(f"{path} is an HDF5 file but not Keras weights (no layer_names)")
    except ModelError:
        raise
    except OSError as e:  # not HDF5, truncated, unreadable
        raise ModelError(f"cannot read Keras weights {path}: {e}") from None
    except Exception as e:  # KeyError, ValueError, TypeError, MemoryError… from a bad file
        raise ModelError(f"malformed Keras weights {path}: {type(e).__name__}: {e}") from None
    if not layers:
        raise ModelError(f"{path} holds no layer weights")
    return layers
