"""``python -m deploy.onnx_export RUN_DIR`` (``make export-onnx RUN=...``): a finished run's best network as ONNX.

BinaryNet (§2.1-§2.3): the packed network (deploy.export, deploy.engine) as two ONNX files, ``model.onnx`` for any
runtime and ``model-qonnx.onnx`` for FINN, both computing what the packed engine computes (deploy.onnx_graph).
BinaryConnect (§2.4-§2.6): its test-time network is float (stochastic binarization evaluates with the real-valued
weights, §1.1, trap 1; batch norm + ReLU, §1.8), so ``model.onnx`` is a float model, labelled so in its metadata.
Settings and provenance (run folder, run.json, checksums) go into each model's metadata_props (docs/EXPORT.md).
"""

import compat  # noqa: F401  (must precede theano and lasagne)

import json
from pathlib import Path
from typing import Dict, List, Optional

import lasagne
import numpy as np

from binaryconnect import batch_norm as bc_batch_norm
from deploy import onnx_graph, trained
from deploy.engine import PackedNetwork
from deploy.export import export_arrays
from deploy.stages import Stage, not_runnable_reason, read_stages
from harness import manifest
from harness.errors import ArgumentParser, UserError, command
from harness.files import file_digest

FILES = {"onnx": "model.onnx", "qonnx": "model-qonnx.onnx", onnx_graph.FLOAT_FLAVOUR: "model.onnx"}
FLOAT_NETWORK = (
    "BinaryConnect with stochastic binarization: a float network. Its test-time pass uses the "
    "real-valued weights W (docs/REPRODUCTION.md §1.1, trap 1) and batch norm + ReLU (§1.8); "
    "nothing in it is binary"
)
FLOAT_EXACTNESS = (
    "float32: the scores equal Theano's deterministic pass to float32 rounding (onnxruntime sums "
    "its MatMul and Conv in another order)"
)


def provenance(run: trained.Run) -> Dict[str, str]:
    """The run's settings and where the network came from, as metadata_props strings."""
    recorded = manifest.read(run.folder)
    parameters = run.folder / run.settings.save_path
    return {
        "experiment": run.settings.EXPERIMENT,
        "run_folder": str(run.folder.resolve()),
        "best_epoch": str(run.saved.best_epoch),
        "epochs_done": str(run.saved.epoch),
        "settings": json.dumps(recorded["settings"], sort_keys=True),
        "run_json_sha256": file_digest(run.folder / manifest.NAME, "sha256"),
        "parameters_file": parameters.name,
        "parameters_sha256": file_digest(parameters, "sha256"),
        "logged_test_error_percent": repr(run.saved.loop["test_err"]),
        "exported_by": json.dumps(manifest.code_revision(), sort_keys=True),
        "exported_at": manifest.now(),
        "input": "images: float32 (N,) + input shape, preprocessed as the run's script loads its test set",
    }


def _broadcast(vector: np.ndarray, conv: bool) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    return vector.reshape(1, -1, 1, 1) if conv else vector.reshape(1, -1)


def _float_stage(graph: onnx_graph.Graph, stage: Stage, x: str, first: bool) -> str:
    """One BinaryConnect stage in float32: x W + b (or Theano's flipping conv2d + b), max-pool, then its batch
    norm (x - mean) * (gamma / (std + epsilon)) + beta and ReLU (§1.8), as binaryconnect.batch_norm computes it."""
    layer = stage.binary
    if not layer.stochastic:
        raise UserError(
            "%s binarizes deterministically; BinaryConnect's scripts binarize stochastically, which "
            "the float export assumes (real-valued W at test time)" % layer
        )
    W = layer.W.get_value()
    if stage.is_conv:
        (ph, pw), (kh, kw) = layer.pad, layer.filter_size
        flipped = np.ascontiguousarray(W[:, :, ::-1, ::-1])  # Theano's conv2d is a true convolution (trap 23)
        x = graph.node(
            "Conv", [x, graph.constant("W", flipped.astype(np.float32))], kernel_shape=[kh, kw], pads=[ph, pw, ph, pw]
        )
    else:
        if first or len(layer.input_shape) > 2:
            x = graph.node("Flatten", [x], axis=1)
        x = graph.node("MatMul", [x, graph.constant("W", W.astype(np.float32))])
    if layer.b is not None:
        x = graph.node("Add", [x, graph.constant("b", _broadcast(layer.b.get_value(), stage.is_conv))])
    if stage.pool is not None:
        x = graph.node("MaxPool", [x], kernel_shape=list(stage.pool_size), strides=list(stage.pool_size))
    norm = stage.norm
    values = {param.name: param.get_value() for param in norm.get_params()}
    scale = values["gamma"] / (values["std"] + np.float32(norm.epsilon))
    x = graph.node("Sub", [x, graph.constant("mean", _broadcast(values["mean"], stage.is_conv))])
    x = graph.node("Mul", [x, graph.constant("scale", _broadcast(scale, stage.is_conv))])
    x = graph.node("Add", [x, graph.constant("beta", _broadcast(values["beta"], stage.is_conv))])
    if norm.nonlinearity is lasagne.nonlinearities.rectify:
        x = graph.node("Relu", [x])
    elif norm.nonlinearity is not lasagne.nonlinearities.identity:
        raise UserError(
            "the batch norm of %s applies %r; the ONNX export knows ReLU and the identity" % (layer, norm.nonlinearity)
        )
    return x


def binaryconnect_model(network: lasagne.layers.Layer, metadata: Dict[str, str]) -> object:
    """BinaryConnect's test-time network as a float ONNX model (the flavour FLOAT_FLAVOUR)."""
    stages = read_stages(network)
    if not all(isinstance(stage.norm, bc_batch_norm.BatchNormLayer) for stage in stages):
        raise UserError("the float ONNX export is for BinaryConnect networks (binaryconnect.batch_norm)")
    graph = onnx_graph.Graph()
    x = onnx_graph.INPUT
    for index, stage in enumerate(stages):
        x = _float_stage(graph, stage, x, index == 0)
    graph.nodes[-1].output[0] = onnx_graph.SCORES
    graph.node("ArgMax", [onnx_graph.SCORES], onnx_graph.LABELS, axis=1, keepdims=0)
    props = dict(
        metadata,
        format=onnx_graph.FORMAT,
        version=onnx_graph.VERSION,
        flavour=onnx_graph.FLOAT_FLAVOUR,
        network=FLOAT_NETWORK,
        exactness=FLOAT_EXACTNESS,
    )
    return graph.model(stages[0].binary.input_shape[1:], stages[-1].binary.output_shape[1], props)


def export_onnx(network: lasagne.layers.Layer, folder: Path, metadata: Dict[str, str]) -> List[Path]:
    """Write the network's ONNX files into ``folder`` (FILES names them); returns their paths."""
    stages = read_stages(network)
    if not_runnable_reason(stages) is not None:
        return [onnx_graph.save(binaryconnect_model(network, metadata), folder / FILES[onnx_graph.FLOAT_FLAVOUR])]
    packed = PackedNetwork.from_arrays(export_arrays(network), backend="numpy")
    props = dict(metadata, network="BinaryNet, deterministic: ±1 weights and ±1 hidden activations (§1.1-§1.3)")
    return [
        onnx_graph.save(onnx_graph.binarynet_model(packed, flavour, props), folder / FILES[flavour])
        for flavour in onnx_graph.FLAVOURS
    ]


@command
def main(argv: Optional[List[str]] = None) -> None:
    parser = ArgumentParser(prog="python -m deploy.onnx_export", description=__doc__.splitlines()[0])
    trained.add_run_arguments(parser)
    parser.add_argument("--output-dir", type=Path, help="where the .onnx files go (default: RUN_DIR)")
    parser.add_argument("--unfinished", action="store_true", help="accept an unfinished run (its best epoch so far)")
    args = parser.parse_args(argv)
    onnx_graph.onnx_module()  # before any Theano work: says how to install the extra
    if args.output_dir is not None and not args.output_dir.is_dir():
        raise UserError("%s is not a folder: create it, or leave out --output-dir" % args.output_dir)
    run = trained.open_run(trained.chosen_folder(args), finished=not args.unfinished)
    paths = export_onnx(trained.trained_network(run), args.output_dir or run.folder, provenance(run))
    print("%s: %s, best epoch %d" % (run.folder, run.settings.EXPERIMENT, run.saved.best_epoch))
    for path in paths:
        kind = onnx_graph.metadata(onnx_graph.read_model(path))["flavour"]
        print("  %-20s %s (%.2f MB)" % (kind, path, path.stat().st_size / 1e6))
    print("check one: python -m deploy.onnx_check %s" % paths[0])


if __name__ == "__main__":
    raise SystemExit(main())
