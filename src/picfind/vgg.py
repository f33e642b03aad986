"""VGG16, the network of the LIARR paper, as an ONNX graph built from Keras' own weights file.

The weights are Keras' ``vgg16_weights_tf_dim_ordering_tf_kernels.h5`` (ImageNet,
``include_top=True``), read by ``kerasfile`` with h5py. The graph is Keras'
``keras.applications.VGG16``: five blocks of 3x3 "same" convolutions with ReLU
(64, 128, 256, 512, 512 channels; 2, 2, 3, 3, 3 convolutions), each closed by a
2x2 max-pool, then flatten, fc1 and fc2 (4096, ReLU) and the 1000-class
``predictions`` layer (its softmax is applied by ``models.Model.run``).

Keras is channels-last and picfind's graphs are NCHW, so the kernels are
transposed HWIO → OIHW and the rows of fc1, which Keras ordered by
(row, column, channel) when it flattened, are permuted to ONNX's
(channel, row, column) order once, at build time, instead of transposing the
activations on every run.

The embedding (``pooled``) is the global average of block5_pool (512-d), i.e.
what ``VGG16(include_top=False, pooling="avg")`` gives a Keras user, rather
than fc2 (4096-d): it is the same kind of feature as EfficientNet's pooled
one, it is 8x smaller in the index (1 KB per image as float16, and its 128-d
PCA candidates keep more of it), and it is less tied to the 1000 classes than
fc2, which feeds them directly, so ``hybrid`` mixes two different signals.
(Not measured: the real weights were not available offline when this was
written; ``picfind eval`` can compare once they are.)

Every shape is checked against the architecture: channel widths, the number
of layers and the fc sizes are read from the weights and must chain together,
so a reduced VGG of the same layout (fewer channels, smaller input) builds too
(the tests use one), while the registry's ``vgg16`` insists on the real sizes.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx

from picfind.errors import ModelError
from picfind.kerasfile import KerasLayer, keras_cache_dir, read_keras_weights
from picfind.onnx_graph import classifier_model

__all__ = [
    "BUILDER_VERSION",
    "CAFFE_MEAN_BGR",
    "CONV_LAYERS",
    "DENSE_LAYERS",
    "WEIGHTS_ENV",
    "WEIGHTS_FILE",
    "WEIGHTS_MD5",
    "WEIGHTS_URL",
    "build_onnx",
    "fetch_weights",
    "find_weights",
    "locate_weights",
    "read_weights",
]

# Bump whenever the generated graph changes, so cached .onnx files are rebuilt.
BUILDER_VERSION = 1

WEIGHTS_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
    "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
)
WEIGHTS_MD5 = "64373286793e3c8b2b4e3219cbf3544b"  # the file_hash keras.applications checks
WEIGHTS_ENV = "PICFIND_VGG16_WEIGHTS"

# Keras "caffe" preprocessing: RGB → BGR, minus these means (B, G, R), no scaling.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

_BLOCKS = (2, 2, 3, 3, 3)
CONV_LAYERS = tuple(f"block{b + 1}_conv{c + 1}" for b, n in enumerate(_BLOCKS) for c in range(n))
DENSE_LAYERS = ("fc1", "fc2", "predictions")
# The real network: output channels of each conv, then the fc sizes.
_WIDTHS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
_FC = (4096, 4096, 1000)
_INPUT_SIZE = 224
_POOL_AFTER = tuple(int(n) for n in np.cumsum(_BLOCKS))  # convs done when each block ends


# -- weights: locate, fetch, read ---------------------------------------------------------


def locate_weights(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """Where the weights file is: ``explicit``, else ``$PICFIND_VGG16_WEIGHTS``, else
    Keras' cache folder; None when nothing is there (an explicit path is returned as is)."""
    if explicit is not None:
        return Path(explicit).expanduser()
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return Path(env).expanduser()
    candidate = keras_cache_dir() / WEIGHTS_FILE
    return candidate if candidate.is_file() else None


def find_weights(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The weights file, or a ModelError saying where to put it or how to fetch it."""
    path = locate_weights(explicit)
    if path is None:
        raise ModelError(
            f"weights for vgg16 not found: put {WEIGHTS_FILE} in {keras_cache_dir()} "
            f"(or set {WEIGHTS_ENV}=FILE), or run 'picfind models fetch vgg16'"
        )
    if not path.is_file():
        origin = "given" if explicit is not None else f"named by {WEIGHTS_ENV}"
        raise ModelError(f"vgg16 weights file {origin} does not exist: {path}")
    return path


def fetch_weights(
    url: str = WEIGHTS_URL,
    *,
    dest_dir: Path | None = None,
    md5: str | None = WEIGHTS_MD5,
    timeout: float = 30.0,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download the weights into Keras' cache folder (the only download picfind does).

    The file is written beside its final name and renamed into place only once
    its MD5 matches Keras' published hash, so an interrupted or corrupt download
    never leaves a file that looks like the weights.
    """
    folder = dest_dir if dest_dir is not None else keras_cache_dir()
    target = folder / WEIGHTS_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelError(f"cannot create {folder}: {e.strerror or e}") from None
    fd, tmp = tempfile.mkstemp(prefix=f".{WEIGHTS_FILE}.", suffix=".part", dir=folder)
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    length = response.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                    done = 0
                    while chunk := response.read(1 << 20):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, total)
            except (urllib.error.URLError, OSError, ValueError) as e:
                if isinstance(e, urllib.error.HTTPError):
                    text = f"HTTP {e.code} {e.reason}"
                else:
                    text = " ".join(str(getattr(e, "reason", None) or e).split())
                raise ModelError(
                    f"cannot download vgg16 weights from {url}: {text} (offline? copy "
                    f"{WEIGHTS_FILE} into {folder} yourself, or set {WEIGHTS_ENV}=FILE)"
                ) from None
        if md5 is not None and digest.hexdigest() != md5:
            raise ModelError(
                f"downloaded vgg16 weights from {url} have MD5 {digest.hexdigest()}, "
                f"expected {md5}; nothing was saved"
            )
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return target


def read_weights(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """``{"block1_conv1.kernel": HWIO, ..., "predictions.bias": (1000,)}`` from a Keras file.

    Layers are matched by Keras' VGG16 layer names when the file has them, else
    (Keras 3 ``.weights.h5``, renamed layers) in model order: the 13 layers with
    4-d kernels are the convolutions, the 3 with 2-d kernels the dense layers.
    """
    return state_from_layers(read_keras_weights(path))


def state_from_layers(layers: Sequence[KerasLayer]) -> dict[str, np.ndarray]:
    """The VGG16 state dict from a file's weighted layers (see ``read_weights``)."""
    by_name = {layer.name: layer for layer in layers}
    wanted = (*CONV_LAYERS, *DENSE_LAYERS)
    if all(name in by_name for name in wanted):
        extra = [layer.name for layer in layers if layer.name not in wanted]
        if extra:
            raise ModelError(f"weights have layers VGG16 does not have: {', '.join(extra[:5])}")
        ordered = [(name, by_name[name]) for name in wanted]
    else:
        convs = [layer for layer in layers if layer.arrays and layer.arrays[0].ndim == 4]
        dense = [layer for layer in layers if layer.arrays and layer.arrays[0].ndim == 2]
        if not dense and len(convs) == len(CONV_LAYERS):
            raise ModelError(
                "these are VGG16 weights without the top (the _notop file); picfind needs "
                f"the 1000-class layers: {WEIGHTS_FILE}"
            )
        if (
            len(convs) != len(CONV_LAYERS)
            or len(dense) != len(DENSE_LAYERS)
            or (len(convs) + len(dense) != len(layers))
        ):
            names = ", ".join(layer.name for layer in layers[:6])
            raise ModelError(
                f"weights are not VGG16: {len(layers)} weighted layers ({names}…), expected "
                f"{len(CONV_LAYERS)} convolutions and {len(DENSE_LAYERS)} dense layers"
            )
        ordered = list(zip(wanted, [*convs, *dense], strict=True))
    state: dict[str, np.ndarray] = {}
    for name, layer in ordered:
        if len(layer.arrays) != 2:
            raise ModelError(
                f"weights for {name} ({layer.name}) have {len(layer.arrays)} arrays, "
                "expected a kernel and a bias"
            )
        kernel, bias = sorted(layer.arrays, key=lambda a: -a.ndim)
        state[f"{name}.kernel"] = kernel.astype(np.float32, copy=False)
        state[f"{name}.bias"] = bias.astype(np.float32, copy=False)
    return state


# -- the graph -------------------------------------------------------------------------------


def _get(state: dict[str, np.ndarray], key: str, ndim: int) -> np.ndarray:
    if key not in state:
        raise ModelError(f"weights do not match VGG16: missing {key}")
    value = state[key]
    if value.ndim != ndim:
        raise ModelError(f"weights do not match VGG16: {key} has shape {value.shape}")
    return value


def _check(key: str, value: np.ndarray, shape: tuple[int, ...]) -> None:
    if tuple(value.shape) != shape:
        hint = ""
        if key.endswith(".kernel") and value.ndim == 4 and value.shape[2:] == (3, 3):
            hint = " (Theano-ordered kernels? picfind reads the _tf_kernels files)"
        raise ModelError(
            f"weights do not match VGG16: {key} has shape {tuple(value.shape)}, "
            f"expected {shape}{hint}"
        )


def build_onnx(
    state: dict[str, np.ndarray], *, name: str = "vgg16", input_size: int | None = _INPUT_SIZE
) -> onnx.ModelProto:
    """The checked ONNX graph: ``pixels`` [N,3,S,S] (caffe-preprocessed BGR) → ``logits``,
    ``pooled``.

    Widths and S come from the weights (S from fc1's inputs); ``input_size`` (224
    by default, None to accept any) pins the real network, so a file of another
    size is refused instead of making a graph the registry cannot feed.
    """
    from onnx import helper, numpy_helper  # on first need: importing onnx costs ~1 s

    unused = set(state)
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []
    x, channels = "pixels", 3
    for i, layer in enumerate(CONV_LAYERS):
        kernel = _get(state, f"{layer}.kernel", 4)
        cout = kernel.shape[3]
        _check(f"{layer}.kernel", kernel, (3, 3, channels, cout))
        bias = _get(state, f"{layer}.bias", 1)
        _check(f"{layer}.bias", bias, (cout,))
        if input_size is not None:
            _check(f"{layer}.kernel", kernel, (3, 3, channels, _WIDTHS[i]))
        unused -= {f"{layer}.kernel", f"{layer}.bias"}
        w = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), dtype=np.float32)  # HWIO→OIHW
        inits += [
            numpy_helper.from_array(w, f"{layer}.w"),
            numpy_helper.from_array(bias.astype(np.float32), f"{layer}.b"),
        ]
        conv = helper.make_node(
            "Conv",
            [x, f"{layer}.w", f"{layer}.b"],
            [f"{layer}.conv"],
            name=layer,
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
        )
        nodes += [conv, helper.make_node("Relu", [f"{layer}.conv"], [layer], name=f"{layer}.relu")]
        x, channels = layer, cout
        if i + 1 in _POOL_AFTER:
            pool = f"block{_POOL_AFTER.index(i + 1) + 1}_pool"
            nodes.append(
                helper.make_node(
                    "MaxPool", [x], [pool], name=pool, kernel_shape=[2, 2], strides=[2, 2]
                )
            )
            x = pool

    fc1 = _get(state, "fc1.kernel", 2)
    cells, rem = divmod(fc1.shape[0], channels)
    side = math.isqrt(cells)
    if rem or side * side != cells or side == 0:
        raise ModelError(
            f"weights do not match VGG16: fc1 takes {fc1.shape[0]} inputs, not a square "
            f"grid of {channels} channels"
        )
    size = side * 32
    if input_size is not None and size != input_size:
        raise ModelError(f"weights are for {size}x{size} input, not {input_size}x{input_size}")
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["pooled"], name="pooled", axis=1))
    nodes.append(helper.make_node("Flatten", [x], ["flatten"], name="flatten", axis=1))
    # Keras flattened NHWC: row (h*side + w)*C + c. ONNX flattens NCHW: c*side² + h*side + w.
    h = "flatten"
    inputs = fc1.shape[0]
    for i, layer in enumerate(DENSE_LAYERS):
        kernel = _get(state, f"{layer}.kernel", 2)
        units = kernel.shape[1]
        _check(f"{layer}.kernel", kernel, (inputs, units))
        bias = _get(state, f"{layer}.bias", 1)
        _check(f"{layer}.bias", bias, (units,))
        if input_size is not None:
            _check(f"{layer}.kernel", kernel, (inputs, _FC[i]))
        unused -= {f"{layer}.kernel", f"{layer}.bias"}
        if layer == "fc1":
            kernel = kernel.reshape(side, side, channels, units).transpose(2, 0, 1, 3)
        w = np.ascontiguousarray(kernel.reshape(inputs, units), dtype=np.float32)
        inits += [
            numpy_helper.from_array(w, f"{layer}.w"),
            numpy_helper.from_array(bias.astype(np.float32), f"{layer}.b"),
        ]
        out = "logits" if layer == "predictions" else f"{layer}.dense"
        nodes.append(helper.make_node("Gemm", [h, f"{layer}.w", f"{layer}.b"], [out], name=layer))
        if layer != "predictions":
            nodes.append(helper.make_node("Relu", [out], [layer], name=f"{layer}.relu"))
            h = layer
        inputs = units
    if unused:
        raise ModelError(
            f"weights have entries VGG16 does not use: {', '.join(sorted(unused)[:5])}"
        )

    return classifier_model(
        nodes,
        inits,
        name=name,
        size=size,
        classes=inputs,
        pooled=channels,
        builder_version=BUILDER_VERSION,
        full_check=False,
    )
