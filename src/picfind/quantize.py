"""An int8 EfficientNet-Lite: static QDQ quantisation of the graph picfind builds.

EfficientNet-Lite was designed for int8 (ReLU6, no squeeze-excitation), and ONNX
Runtime runs a QDQ graph with int8 kernels. Static quantisation needs
*calibration* images, to learn each activation's range. The shared photos are
research-licensed and cannot ship, and nothing may be downloaded, so the images
are generated here, deterministically: a "dead leaves" model — overlapping discs
and rectangles of random colour whose sizes follow a power law, plus sensor-like
grain and shading. Such images have the scale-free statistics of natural photos (edges at
every size, flat regions, occlusions), which is what sets activation ranges;
uniform noise does not (bench/int8.py compares the two against calibrating on
real photos).

The recipe (bump :data:`RECIPE_VERSION` whenever it changes: cached graphs are
keyed by it, beside the weights' hash and the float builder's version):

* QDQ format, weights int8 per output channel (depthwise convolutions after
  batch-norm folding have very different ranges per channel), activations
  uint8 per tensor, MinMax ranges over :data:`CALIBRATION_IMAGES` images;
* weights use all 8 bits where the CPU's int8 kernels accumulate in 32 bits
  (x86 with VNNI — ``avx512_vnni`` or ``avx_vnni`` — and ARM), and 7 bits
  (``reduce_range``) elsewhere: on x86 CPUs without VNNI (AVX2, AVX-512F), ONNX
  Runtime's u8×s8 kernels add pairs of products in 16 bits and saturate with
  full 8-bit weights (measured on such a machine: top-1 agreement with float32
  fell from 0.89 to 0.64). Where 8 bits are safe they are both more accurate and
  faster (measured on a VNNI machine, same run: top-1 agreement on catsdogs 0.92
  instead of 0.85, model alone 2.3× float32 instead of 1.8×). The choice is part
  of the cache key (:func:`recipe_tag`), so a cache shared between machines never
  hands one the other's graph; for a given CPU class the graph is the same bytes
  on every run;
* the stem convolution (it sees the raw pixels) and the final classifier
  (1000 logits from the pooled features) stay float32: both are cheap, and the
  classifier's error would go straight into the class probabilities.
"""

from __future__ import annotations

import platform
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx

from picfind.errors import ModelError

__all__ = [
    "CALIBRATION_IMAGES",
    "RECIPE_VERSION",
    "calibration_images",
    "full_range_weights",
    "quantize_model",
    "recipe_tag",
]

RECIPE_VERSION = 2
CALIBRATION_IMAGES = 64
CALIBRATION_SEED = 20171014  # any fixed number; this one is the LIARR paper's month
FLOAT_NODES = ("_conv_stem", "fc")  # node names in effnet.build_onnx

_SHAPES = 500  # shapes per image: they cover about 90 % of the first background
_GRAIN = 6.0  # standard deviation of the added noise, in 8-bit levels


def full_range_weights(cpuinfo: str | None = None, machine: str | None = None) -> bool:
    """Whether this CPU's int8 kernels take 8-bit weights without saturating (see above).

    ``cpuinfo`` is the text of ``/proc/cpuinfo`` and ``machine`` ``platform.machine()``
    (both found when None). x86 without a readable VNNI flag (another OS, an
    unreadable file) gets 7-bit weights: slower, never wrong.
    """
    if (machine or platform.machine()).lower() in ("arm64", "aarch64"):
        return True
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})
    return False


def recipe_tag(full_range: bool | None = None) -> str:
    """The recipe's part of the cached graph's name: version and weight bits ("2-w8")."""
    full = full_range_weights() if full_range is None else full_range
    return f"{RECIPE_VERSION}-w{8 if full else 7}"


def calibration_images(
    count: int = CALIBRATION_IMAGES, size: int = 224, seed: int = CALIBRATION_SEED
) -> np.ndarray:
    """``count`` dead-leaves images, uint8 (count, size, size, 3), the same on every machine."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, size, size, 3), np.uint8)
    r_min, r_max = size / 64.0, size / 2.0
    ramp = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    for k in range(count):
        img = np.empty((size, size, 3), np.float32)
        img[:] = rng.uniform(0, 255, 3)
        for _ in range(_SHAPES):
            # Radius density ∝ r⁻³ on [r_min, r_max] (scale invariance), by inverse CDF.
            u = rng.random()
            r = (r_min**-2 - u * (r_min**-2 - r_max**-2)) ** -0.5
            cy, cx = rng.uniform(-r, size + r, 2)
            colour = rng.uniform(0, 255, 3).astype(np.float32)
            y0, y1 = max(0, int(cy - r)), min(size, int(cy + r) + 1)
            x0, x1 = max(0, int(cx - r)), min(size, int(cx + r) + 1)
            if y0 >= y1 or x0 >= x1:
                continue
            if rng.random() < 0.5:  # a disc
                yy, xx = np.ogrid[y0:y1, x0:x1]
                mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
                img[y0:y1, x0:x1][mask] = colour
            else:  # an axis-aligned rectangle of random aspect
                h = max(1, int(r * rng.uniform(0.3, 1.0)))
                y0, y1 = max(0, int(cy - h)), min(size, int(cy + h) + 1)
                if y0 < y1:
                    img[y0:y1, x0:x1] = colour
        # Shading: light falls off across the picture in a random direction.
        angle, strength = rng.uniform(0, 2 * np.pi), rng.uniform(0.0, 0.8)
        light = 1.0 + strength * (np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None])
        img *= light[:, :, None]
        img += rng.normal(0.0, _GRAIN, img.shape).astype(np.float32)
        out[k] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return out


class _Batches:
    """The CalibrationDataReader interface ONNX Runtime asks for: ``get_next`` until None."""

    def __init__(self, batches: Iterable[np.ndarray]) -> None:
        self._it: Iterator[np.ndarray] = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._it, None)
        return None if batch is None else {"pixels": batch}


def quantize_model(
    model: onnx.ModelProto, batches: Iterable[np.ndarray], *, full_range: bool | None = None
) -> onnx.ModelProto:
    """The int8 QDQ version of ``model``, calibrated on ``batches`` (preprocessed float32
    NCHW arrays, as the model takes them). Runs the float model once over them.
    ``full_range``: 8-bit weights (default: :func:`full_range_weights` of this CPU)."""
    import onnx  # on first need: importing onnx costs ~1 s

    full = full_range_weights() if full_range is None else full_range
    from onnxruntime.quantization import (  # type: ignore[import-untyped,unused-ignore]
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(_Batches, CalibrationDataReader):  # type: ignore[misc]
        pass

    with tempfile.TemporaryDirectory(prefix="picfind-quantize-") as tmp:
        source, target = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        onnx.save(model, source)
        try:
            quantize_static(
                source,
                target,
                Reader(batches),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                reduce_range=not full,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                nodes_to_exclude=list(FLOAT_NODES),
            )
        except Exception as e:  # ORT raises plain exceptions of many kinds here
            raise ModelError(f"cannot quantise {model.graph.name}: {e}") from None
        quantized = onnx.load(target)
    quantized.producer_name = model.producer_name
    quantized.producer_version = f"{model.producer_version}-q{recipe_tag(full)}"
    return quantized
