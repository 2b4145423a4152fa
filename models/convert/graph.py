"""What both graph writers share: the model under construction, whose graph receives the
weights as they are made. ``helper.make_graph`` + ``helper.make_model`` would copy every
initializer twice more (for Qwen2.5's fp32 graph 2.5 GB a copy, 11 GB at the peak instead
of ~7)."""

from __future__ import annotations

from typing import Sequence

import onnx

IR_VERSION = 8


class GraphBuilder:
    """Nodes, inputs and outputs collected in lists; initializers appended straight into
    ``model.graph``; ``finish`` sets what make_graph / make_model would."""

    def __init__(self) -> None:
        self.model = onnx.ModelProto()
        self.initializers = self.model.graph.initializer  # appended as made, never copied whole
        self.nodes: list[onnx.NodeProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._consts: dict = {}

    def finish(self, name: str, opset_imports: Sequence[onnx.OperatorSetIdProto], doc: str) -> onnx.ModelProto:
        model, graph = self.model, self.model.graph
        graph.node.extend(self.nodes)
        graph.name = name
        graph.input.extend(self.inputs)
        graph.output.extend(self.outputs)
        model.ir_version = IR_VERSION
        model.opset_import.extend(opset_imports)
        model.producer_name = "nodespace-models"
        model.producer_version = "1"
        model.doc_string = doc
        return model
