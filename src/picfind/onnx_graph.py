"""What every picfind graph builder ends with: the same inputs, outputs and checks.

Each model's graph takes ``pixels`` (N, 3, S, S) and gives ``logits`` (N, classes)
and ``pooled`` (N, D); ``models.py`` relies on those names whatever the network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

from picfind.errors import ModelError

OPSET = 17


def classifier_model(
    nodes: list[onnx.NodeProto],
    initializers: list[onnx.TensorProto],
    *,
    name: str,
    size: int,
    classes: int,
    pooled: int,
    builder_version: int,
    full_check: bool = True,
) -> onnx.ModelProto:
    """Wrap built nodes as a checked model (full shape checks cost time on big graphs)."""
    import onnx
    from onnx import TensorProto, helper  # on first need: importing onnx costs ~1 s

    graph = helper.make_graph(
        nodes,
        name.replace("-", "_"),
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 3, size, size])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes]),
            helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["N", pooled]),
        ],
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="picfind",
        producer_version=str(builder_version),
    )
    model.ir_version = 8  # what every onnxruntime >= 1.14 reads
    try:
        onnx.checker.check_model(model, full_check=full_check)
    except onnx.checker.ValidationError as e:
        raise ModelError(f"built an invalid ONNX graph for {name}: {e}") from None
    return model
