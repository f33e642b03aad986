"""Build the ONNX graph of EfficientNet-Lite0/1/2 from a PyTorch state dict, without PyTorch.

The architecture mirrors ``efficientnet_lite_pytorch`` (the code the weights were
trained for): MBConv blocks without squeeze-excitation, ReLU6, stem and head not
width-scaled, first and last stage repeats not depth-scaled, and TF "SAME"
padding computed from the fixed input size. Batch norm is folded into the conv
before it, so the graph is Conv(+bias) → Clip → ... which ONNX Runtime fuses.
Every weight shape is checked while building, so a wrong architecture guess or a
foreign weights file fails loudly instead of producing plausible garbage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx

from picfind.errors import ModelError
from picfind.onnx_graph import classifier_model

__all__ = ["BUILDER_VERSION", "LITE_COEFFICIENTS", "build_onnx"]

# Bump whenever the generated graph changes, so cached .onnx files are rebuilt.
BUILDER_VERSION = 1

# name -> (width, depth, resolution)
LITE_COEFFICIENTS: dict[str, tuple[float, float, int]] = {
    "efficientnet-lite0": (1.0, 1.0, 224),
    "efficientnet-lite1": (1.0, 1.1, 240),
    "efficientnet-lite2": (1.1, 1.2, 260),
}

_STAGES = (
    "r1_k3_s11_e1_i32_o16",
    "r2_k3_s22_e6_i16_o24",
    "r2_k5_s22_e6_i24_o40",
    "r3_k3_s22_e6_i40_o80",
    "r3_k5_s11_e6_i80_o112",
    "r4_k5_s22_e6_i112_o192",
    "r1_k3_s11_e6_i192_o320",
)
_STEM_CHANNELS = 32
_HEAD_CHANNELS = 1280
_BN_EPS = 1e-3
_DEPTH_DIVISOR = 8


@dataclass(frozen=True)
class _Stage:
    repeats: int
    kernel: int
    stride: int
    expand: int
    inp: int
    out: int


def _parse_stage(text: str) -> _Stage:
    fields = {part[0]: part[1:] for part in text.split("_")}
    return _Stage(
        repeats=int(fields["r"]),
        kernel=int(fields["k"]),
        stride=int(fields["s"][0]),
        expand=int(fields["e"]),
        inp=int(fields["i"]),
        out=int(fields["o"]),
    )


def _round_filters(filters: int, width: float) -> int:
    """Channel count scaled by ``width``, rounded to a multiple of 8 (never down by >10%)."""
    if width == 1.0:
        return filters
    scaled = filters * width
    rounded = max(
        _DEPTH_DIVISOR, int(scaled + _DEPTH_DIVISOR / 2) // _DEPTH_DIVISOR * _DEPTH_DIVISOR
    )
    if rounded < 0.9 * scaled:
        rounded += _DEPTH_DIVISOR
    return int(rounded)


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF SAME padding (before, after); the extra pixel goes after, as TensorFlow does."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class _GraphBuilder:
    """Accumulates nodes and initializers; consumes state-dict entries as it goes."""

    def __init__(self, state: Mapping[str, np.ndarray]) -> None:
        from onnx import numpy_helper  # on first need: importing onnx costs ~1 s

        self.state = state
        self.used: set[str] = set()
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        clip_min = numpy_helper.from_array(np.array(0.0, np.float32), "relu6_min")
        clip_max = numpy_helper.from_array(np.array(6.0, np.float32), "relu6_max")
        self.inits += [clip_min, clip_max]

    def weight(self, key: str, shape: tuple[int, ...]) -> np.ndarray:
        if key not in self.state:
            raise ModelError(f"weights do not match the architecture: missing {key}")
        value = self.state[key]
        if tuple(value.shape) != shape:
            raise ModelError(
                f"weights do not match the architecture: {key} has shape "
                f"{tuple(value.shape)}, expected {shape}"
            )
        self.used.add(key)
        return np.asarray(value, dtype=np.float64)

    def conv_bn(
        self,
        x: str,
        conv: str,
        bn: str,
        cin: int,
        cout: int,
        kernel: int,
        stride: int,
        size: int,
        *,
        depthwise: bool = False,
        relu6: bool = True,
    ) -> tuple[str, int]:
        """Conv (SAME) with batch norm folded in, optionally ReLU6; returns (output, size)."""
        from onnx import helper, numpy_helper  # on first need: importing onnx costs ~1 s

        per_group_in = 1 if depthwise else cin
        w = self.weight(f"{conv}.weight", (cout, per_group_in, kernel, kernel))
        gamma = self.weight(f"{bn}.weight", (cout,))
        beta = self.weight(f"{bn}.bias", (cout,))
        mean = self.weight(f"{bn}.running_mean", (cout,))
        var = self.weight(f"{bn}.running_var", (cout,))
        self.used.add(f"{bn}.num_batches_tracked")
        scale = gamma / np.sqrt(var + _BN_EPS)
        w_folded = (w * scale[:, None, None, None]).astype(np.float32)
        b_folded = (beta - mean * scale).astype(np.float32)
        self.inits.append(numpy_helper.from_array(w_folded, f"{conv}.w"))
        self.inits.append(numpy_helper.from_array(b_folded, f"{conv}.b"))
        before, after = _same_pads(size, kernel, stride)
        out = f"{conv}.out"
        self.nodes.append(
            helper.make_node(
                "Conv",
                [x, f"{conv}.w", f"{conv}.b"],
                [out],
                name=conv,
                kernel_shape=[kernel, kernel],
                strides=[stride, stride],
                pads=[before, before, after, after],
                group=cout if depthwise else 1,
            )
        )
        if relu6:
            act = f"{conv}.relu6"
            self.nodes.append(
                helper.make_node("Clip", [out, "relu6_min", "relu6_max"], [act], name=act)
            )
            out = act
        return out, math.ceil(size / stride)

    def block(
        self, x: str, idx: int, stage: _Stage, cin: int, stride: int, size: int
    ) -> tuple[str, int]:
        """One MBConv block: expand 1x1 → depthwise kxk → project 1x1 (+ skip)."""
        from onnx import helper  # on first need: importing onnx costs ~1 s

        p = f"_blocks.{idx}"
        mid = cin * stage.expand
        h = x
        if stage.expand != 1:
            h, _ = self.conv_bn(h, f"{p}._expand_conv", f"{p}._bn0", cin, mid, 1, 1, size)
        h, out_size = self.conv_bn(
            h,
            f"{p}._depthwise_conv",
            f"{p}._bn1",
            mid,
            mid,
            stage.kernel,
            stride,
            size,
            depthwise=True,
        )
        h, _ = self.conv_bn(
            h, f"{p}._project_conv", f"{p}._bn2", mid, stage.out, 1, 1, out_size, relu6=False
        )
        if stride == 1 and cin == stage.out:
            summed = f"{p}.add"
            self.nodes.append(helper.make_node("Add", [h, x], [summed], name=summed))
            h = summed
        return h, out_size


def _stages_for(width: float, depth: float) -> list[_Stage]:
    stages = []
    for i, text in enumerate(_STAGES):
        s = _parse_stage(text)
        fixed = i in (0, len(_STAGES) - 1)
        stages.append(
            _Stage(
                repeats=s.repeats if fixed else math.ceil(depth * s.repeats),
                kernel=s.kernel,
                stride=s.stride,
                expand=s.expand,
                inp=_STEM_CHANNELS if i == 0 else _round_filters(s.inp, width),
                out=_round_filters(s.out, width),
            )
        )
    return stages


def build_onnx(name: str, state: Mapping[str, np.ndarray]) -> onnx.ModelProto:
    """The checked ONNX graph of ``name``: ``pixels`` [N,3,S,S] → ``logits``, ``pooled``.

    Raises ModelError when the weights do not fit the architecture.
    """
    from onnx import helper, numpy_helper  # on first need: importing onnx costs ~1 s

    if name not in LITE_COEFFICIENTS:
        raise ModelError(f"no architecture for {name!r}")
    width, depth, size = LITE_COEFFICIENTS[name]
    g = _GraphBuilder(state)
    x, s = g.conv_bn("pixels", "_conv_stem", "_bn0", 3, _STEM_CHANNELS, 3, 2, size)
    idx = 0
    channels = _STEM_CHANNELS
    for stage in _stages_for(width, depth):
        if stage.inp != channels:
            raise ModelError(
                f"architecture error: stage expects {stage.inp} channels, has {channels}"
            )
        for r in range(stage.repeats):
            x, s = g.block(x, idx, stage, channels, stage.stride if r == 0 else 1, s)
            channels = stage.out
            idx += 1
    if f"_blocks.{idx}._project_conv.weight" in state:
        raise ModelError(f"weights have more blocks than {name} ({idx})")
    x, s = g.conv_bn(x, "_conv_head", "_bn1", channels, _HEAD_CHANNELS, 1, 1, s)
    g.nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"))
    g.nodes.append(helper.make_node("Flatten", ["gap"], ["pooled"], name="flatten", axis=1))
    fc_w = g.weight("_fc.weight", (1000, _HEAD_CHANNELS)).astype(np.float32)
    fc_b = g.weight("_fc.bias", (1000,)).astype(np.float32)
    g.inits += [numpy_helper.from_array(fc_w, "_fc.w"), numpy_helper.from_array(fc_b, "_fc.b")]
    g.nodes.append(
        helper.make_node("Gemm", ["pooled", "_fc.w", "_fc.b"], ["logits"], name="fc", transB=1)
    )
    unused = sorted(set(state) - g.used)
    if unused:
        raise ModelError(f"weights have entries {name} does not use: {', '.join(unused[:5])}")

    return classifier_model(
        g.nodes,
        g.inits,
        name=name,
        size=size,
        classes=1000,
        pooled=_HEAD_CHANNELS,
        builder_version=BUILDER_VERSION,
    )
