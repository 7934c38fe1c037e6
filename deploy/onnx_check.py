"""``python -m deploy.onnx_check FILE``: read back a model of ``make export-onnx`` and run it once.

Checks the file with onnx's checker and this export's metadata (a damaged or foreign file gives one ``error:``
line), prints its metadata and nodes, and runs it on one all-zero image: with onnxruntime, or for the QONNX
flavour with qonnx's own shape and datatype inference and execution (qonnx.core.onnx_exec), as FINN reads it.
"""

from collections import Counter
from pathlib import Path
from typing import Any, List, Optional

import numpy as np

from deploy import onnx_graph
from harness.errors import ArgumentParser, UserError, command


def input_shape(model: Any) -> tuple:
    """One image's shape, from the model's input."""
    return tuple(dim.dim_value for dim in model.graph.input[0].type.tensor_type.shape.dim[1:])


def run(model: Any, X: np.ndarray) -> np.ndarray:
    """The scores of images X: onnxruntime, or qonnx's execution for the QONNX flavour."""
    if onnx_graph.metadata(model)["flavour"] == "qonnx":
        return run_qonnx(model, X)
    try:
        import onnxruntime
    except ImportError:
        raise UserError("onnxruntime is missing: " + onnx_graph.INSTALL) from None
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run([onnx_graph.SCORES], {onnx_graph.INPUT: X})[0]


def qonnx_model(model: Any, batch: int) -> Any:
    """The model as qonnx's ModelWrapper, batch fixed, after qonnx's checks: every tensor shape and datatype
    inferred (its InferShapes, InferDataTypes)."""
    try:
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.transformation.infer_datatypes import InferDataTypes
        from qonnx.transformation.infer_shapes import InferShapes
    except ImportError:
        raise UserError("qonnx is missing: " + onnx_graph.INSTALL) from None
    wrapped = ModelWrapper(onnx_graph.fixed_batch(model, batch)).transform(InferShapes()).transform(InferDataTypes())
    if not wrapped.check_all_tensor_shapes_specified():
        raise UserError("qonnx cannot infer every tensor shape of the model")
    return wrapped


def run_qonnx(model: Any, X: np.ndarray) -> np.ndarray:
    """The scores by qonnx's own execution (qonnx.core.onnx_exec)."""
    from qonnx.core.onnx_exec import execute_onnx

    return execute_onnx(qonnx_model(model, len(X)), {onnx_graph.INPUT: X})[onnx_graph.SCORES]


@command
def main(argv: Optional[List[str]] = None) -> None:
    parser = ArgumentParser(prog="python -m deploy.onnx_check", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="a .onnx file written by make export-onnx")
    args = parser.parse_args(argv)
    model = onnx_graph.read_model(args.file)
    for key, value in sorted(onnx_graph.metadata(model).items()):
        print("%-26s %s" % (key, value))
    counts = Counter(node.op_type for node in model.graph.node)
    print("%-26s %d: %s" % ("nodes", len(model.graph.node), ", ".join("%s x%d" % kv for kv in counts.items())))
    scores = run(model, np.zeros((1,) + input_shape(model), dtype=np.float32))
    print("%-26s runs: scores of shape %s for one all-zero image" % ("check", scores.shape))


if __name__ == "__main__":
    raise SystemExit(main())
