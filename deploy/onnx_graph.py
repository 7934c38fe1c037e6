"""A packed BinaryNet (deploy.engine) as an ONNX graph computing exactly what the engine computes; reading such
files back (docs/EXPORT.md, "ONNX and QONNX"). NumPy and the optional onnx package only (`--onnx` install flag).

Per stage: MatMul or Conv of the ±1 (or, first, real) inputs with the ±1 weights, [MaxPool of the true
pre-activation, then Mul by ±1 to orient it], then the unit's threshold with BinaryNet's tie rule, +1 iff
pre' >= threshold: GreaterOrEqual + Where in plain ONNX (ONNX's Sign(0) is 0, not +1), MultiThreshold with a
BIPOLAR output in the QONNX flavour (FINN's node, also ">="). The output stage gathers the scores from the
exported table of Theano's batch norm outputs at the integer pre-activation, as the engine does.
"""

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from deploy import layout
from deploy.engine import Layer, PackedNetwork
from harness.errors import UserError

FORMAT = "binarynet-onnx"  # metadata_props "format"; "version" is VERSION
VERSION = "1"
FLAVOURS = ("onnx", "qonnx")  # BinaryNet; BinaryConnect's float model is FLOAT_FLAVOUR
FLOAT_FLAVOUR = "binaryconnect-float"
OPSET = 13
IR_VERSION = 8  # read by onnxruntime >= 1.10 and FINN's onnx
QONNX_DOMAIN = "qonnx.custom_op.general"
INPUT, SCORES, LABELS = "images", "scores", "labels"
TIE_RULE = "sign(x) = +1 for x >= 0, -1 otherwise (BinaryNet's and BipolarQuant's; ONNX Sign(0) = 0 is not used)"
INSTALL = "install the optional ONNX extra: make setup INSTALL_FLAGS=--onnx (docs/STACK.md)"


def onnx_module() -> Any:
    """The onnx package, or a UserError saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise UserError("the onnx package is missing: " + INSTALL) from None
    return onnx


class Graph:
    """Nodes, initializers and value names of an ONNX graph under construction."""

    def __init__(self) -> None:
        self.onnx = onnx_module()
        self.nodes: List[Any] = []
        self.initializers: List[Any] = []
        self.bipolar: List[str] = []  # tensors of ±1 only (annotated BIPOLAR in the QONNX flavour)
        self.count = 0

    def name(self, stem: str) -> str:
        self.count += 1
        return "%s_%d" % (stem, self.count)

    def constant(self, stem: str, value: np.ndarray) -> str:
        name = self.name(stem)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(
        self, op: str, inputs: Sequence[str], output: Optional[str] = None, domain: str = "", **attributes: Any
    ) -> str:
        output = output or self.name(op.lower())
        self.nodes.append(
            self.onnx.helper.make_node(op, list(inputs), [output], name=self.name(op), domain=domain, **attributes)
        )
        return output

    def model(self, input_shape: Sequence[int], classes: int, metadata: Dict[str, str], qonnx: bool = False) -> Any:
        """The model; the batch dimension is "N", or 1 in the QONNX flavour (FINN's static shapes: see
        ``fixed_batch``)."""
        helper, tensor = self.onnx.helper, self.onnx.TensorProto
        batch = 1 if qonnx else "N"
        graph = helper.make_graph(
            self.nodes,
            "binarized_net",
            [helper.make_tensor_value_info(INPUT, tensor.FLOAT, [batch] + list(input_shape))],
            [
                helper.make_tensor_value_info(SCORES, tensor.FLOAT, [batch, classes]),
                helper.make_tensor_value_info(LABELS, tensor.INT64, [batch]),
            ],
            self.initializers,
        )
        opsets = [helper.make_opsetid("", OPSET)] + ([helper.make_opsetid(QONNX_DOMAIN, 1)] if qonnx else [])
        model = helper.make_model(graph, opset_imports=opsets, producer_name="binarized-nets deploy.onnx_export")
        model.ir_version = IR_VERSION
        helper.set_model_props(model, metadata)
        return model


def _sign_weights(layer: Layer) -> np.ndarray:
    """float32 ±1 weights for MatMul (n, units) or Conv (units, C, kh, kw), rows stored negated where flipped
    (as in the file), so that the product is the oriented pre-activation s' (z' for the first layer)."""
    if layer.role == "first":  # the engine unpacked these at load: (fan_in, units) or (units, C*kh*kw)
        weights = layer.weights
        return (
            weights
            if layer.kind == "dense"
            else weights.reshape((len(weights), layer.input_shape[0]) + layer.filter_size)
        )
    if layer.kind == "dense":
        return layout.signs(layout.unpack(layer.weights, layer.fan_in)).T.copy()
    return layout.signs(layout.unpack(layer.weights, layer.input_shape[0])).transpose(0, 3, 1, 2).copy()


def _orientation(layer: Layer) -> np.ndarray:
    """-1 for the flipped units (their rows are stored negated), +1 for the others: (units,)."""
    return np.where(layer.flipped, np.float32(-1), np.float32(1))


def _stage(graph: Graph, layer: Layer, x: str, qonnx: bool) -> str:
    """One stage: its ±1 output (or the scores at the output)."""
    weights = _sign_weights(layer)
    if layer.kind == "dense" and (layer.role == "first" or len(layer.input_shape) > 1):
        x = graph.node("Flatten", [x], axis=1)  # images, or feature maps channel-major (C, H, W): trap 24
    pooled = layer.pool_size != (1, 1)
    if pooled:  # pool the true pre-activation s: unflip the rows, pool, orient again (trap 8)
        weights = weights * _orientation(layer).reshape(-1, 1, 1, 1)
    w = graph.constant("W", weights.astype(np.float32))
    graph.bipolar.append(w)
    if layer.kind == "dense":
        pre = graph.node("MatMul", [x, w])
    else:
        (ph, pw), (kh, kw) = layer.pad, layer.filter_size
        pre = graph.node("Conv", [x, w], kernel_shape=[kh, kw], pads=[ph, pw, ph, pw])
    if pooled:
        pre = graph.node("MaxPool", [pre], kernel_shape=list(layer.pool_size), strides=list(layer.pool_size))
        pre = graph.node("Mul", [pre, graph.constant("orientation", _orientation(layer).reshape(1, -1, 1, 1))])
    if layer.role == "output":
        return _scores(graph, layer, pre)
    threshold = layer.threshold.astype(np.float32)  # int32 thresholds are exact in float32 (|s| <= n < 2^24)
    if qonnx:
        out = graph.node(
            "MultiThreshold",
            [pre, graph.constant("threshold", threshold.reshape(-1, 1))],
            domain=QONNX_DOMAIN,
            out_dtype="BIPOLAR",
            out_scale=2.0,
            out_bias=-1.0,
        )
        graph.bipolar.append(out)
        return out
    shaped = threshold if layer.kind == "dense" else threshold.reshape(1, -1, 1, 1)
    positive = graph.node("GreaterOrEqual", [pre, graph.constant("threshold", shaped)])
    return graph.node(
        "Where", [positive, graph.constant("plus_one", np.float32(1)), graph.constant("minus_one", np.float32(-1))]
    )


def _scores(graph: Graph, layer: Layer, s: str) -> str:
    """table[u, (s + n) / 2] by one Gather from the flattened table: index s/2 + (n/2 + u (n + 1)), exact in
    float32 (an integer below 2^24), then the first of equal maxima as the label (ArgMax, as Theano's)."""
    units, width = layer.table.shape
    if units * width >= 2**24:
        raise UserError(
            "the output table has %d entries; the ONNX export indexes it in float32 (< 2^24)" % (units * width)
        )
    offsets = np.float32(layer.fan_in / 2) + np.arange(units, dtype=np.float32) * np.float32(width)
    index = graph.node(
        "Add",
        [
            graph.node("Mul", [s, graph.constant("half", np.float32(0.5))]),
            graph.constant("table_offset", offsets.astype(np.float32)),
        ],
    )
    index = graph.node("Cast", [index], to=graph.onnx.TensorProto.INT64)
    scores = graph.node("Gather", [graph.constant("table", layer.table.reshape(-1)), index], SCORES, axis=0)
    graph.node("ArgMax", [scores], LABELS, axis=1, keepdims=0)
    return scores


def binarynet_model(network: PackedNetwork, flavour: str, metadata: Dict[str, str]) -> Any:
    """The ONNX model (flavour "onnx") or QONNX model ("qonnx": MultiThreshold nodes, BIPOLAR annotations for
    FINN) of a packed network; ``metadata`` goes into metadata_props beside the format's own entries."""
    if flavour not in FLAVOURS:
        raise ValueError(flavour)
    graph = Graph()
    x = INPUT
    for layer in network.layers:
        x = _stage(graph, layer, x, flavour == "qonnx")
    classes = network.layers[-1].table.shape[0]
    props = dict(
        metadata,
        format=FORMAT,
        version=VERSION,
        flavour=flavour,
        tie_rule=TIE_RULE,
        exactness="scores bit for bit those of deploy.engine.PackedNetwork where the first layer's float32 "
        "sums round as its sgemm's (always for inputs exact in float32 sums); every later "
        "stage is integer-valued arithmetic, exact",
    )
    model = graph.model(network.input_shape, classes, props, qonnx=flavour == "qonnx")
    if flavour == "qonnx":
        _annotate_bipolar(model, graph.bipolar)
    return model


def _annotate_bipolar(model: Any, names: List[str]) -> None:
    """FINN's quantization_annotation: these tensors hold only ±1 (qonnx DataType BIPOLAR)."""
    onnx = onnx_module()
    for name in names:
        annotation = onnx.TensorAnnotation(tensor_name=name)
        annotation.quant_parameter_tensor_names.append(
            onnx.StringStringEntryProto(key="finn_datatype", value="BIPOLAR")
        )
        model.graph.quantization_annotation.append(annotation)


def fixed_batch(model: Any, size: int) -> Any:
    """A copy of ``model`` whose input and outputs have batch dimension ``size`` (qonnx executes static shapes)."""
    copy = onnx_module().ModelProto()
    copy.CopyFrom(model)
    for value in list(copy.graph.input) + list(copy.graph.output):
        value.type.tensor_type.shape.dim[0].dim_value = size
    return copy


def save(model: Any, path: Union[str, Path]) -> Path:
    """Write ``model`` atomically (harness.files)."""
    from harness.files import atomic_output

    with atomic_output(path) as f:
        f.write(model.SerializeToString())
    return Path(path)


def read_model(path: Union[str, Path]) -> Any:
    """A model written by this export, checked by onnx's checker; UserError for anything else."""
    onnx = onnx_module()
    from harness.files import readable_file

    path = readable_file(path, "make export-onnx RUN=...")
    try:
        model = onnx.load_model(str(path))
        onnx.checker.check_model(model)
    except Exception as error:  # protobuf's DecodeError, onnx's ValidationError: the file is not a sound model
        reason = " ".join(str(error).split()) or type(error).__name__
        raise UserError(
            "%s is not a valid ONNX model (%s): export it again with make export-onnx RUN=..." % (path, reason[:200])
        ) from None
    props = {entry.key: entry.value for entry in model.metadata_props}
    if props.get("format") != FORMAT:
        raise UserError(
            "%s is an ONNX model but not one of this project's exports (no metadata format=%s): "
            "make export-onnx RUN=... writes them" % (path, FORMAT)
        )
    if props.get("version") != VERSION:
        raise UserError("%s has export version %s; this code reads version %s" % (path, props.get("version"), VERSION))
    return model


def metadata(model: Any) -> Dict[str, str]:
    """The model's metadata_props as a dict."""
    return {entry.key: entry.value for entry in model.metadata_props}
