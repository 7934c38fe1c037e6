"""``export(network, path)``: a deterministic BinaryNet as one .npz of packed sign bits and integer thresholds
(docs/EXPORT.md; docs/REPRODUCTION.md §1.1-§1.3, §1.8, §2).
"""

import compat  # noqa: F401  (must precede theano and lasagne)

import warnings
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Union

import lasagne
import numpy as np

from binaryconnect import batch_norm as bc_batch_norm
from binarynet import binary_net
from deploy import layout, thresholds, trained
from deploy.stages import Stage, not_runnable_reason, read_stages
from harness.errors import ArgumentParser, UserError, command
from harness.files import write_npz


class NotRunnableWarning(UserWarning):
    """The exported network cannot be run with XNOR + popcount; the file holds only its binary parts."""


class Exported(NamedTuple):
    """What ``export`` wrote."""

    path: Path
    runnable: bool
    note: str  # why the file cannot be run, or ""


def sign_bits(layer: binary_net.DenseLayer) -> np.ndarray:
    """Theano's deterministic binarization of W as bits in the file layout, 1 = +1 (§1.1).

    Wb = +1 iff round_half_away(clip((W + 1) / 2, 0, 1)) != 0 in float32, i.e. iff float32(1 + W) >= 1: W = 0 and
    -3e-8 <~ W < 0 give +1 too (traps 32 and 35). Dense W (n_in, units) -> (units, n_in); conv W (C_out, C_in, kh, kw)
    -> (C_out, kh, kw, C_in) with the taps flipped, since Theano's conv2d is a true convolution (trap 23): tap (i, j)
    of output pixel (y, x) reads input pixel (y + i - pad, x + j - pad).
    """
    W = layer.W.get_value(borrow=True)
    positive = np.float32(1) + W >= np.float32(1)
    if isinstance(layer, binary_net.Conv2DLayer):
        return np.ascontiguousarray(positive[:, :, ::-1, ::-1].transpose(0, 2, 3, 1))
    return np.ascontiguousarray(positive.T)


def _float_parameters(stage: Stage) -> Dict[str, np.ndarray]:
    """The stage's bias and batch norm parameters as float32 vectors (kept for reference: the engine reads the
    thresholds and the output table instead)."""
    arrays = {} if stage.binary.b is None else {"b": stage.binary.b.get_value()}
    for param in stage.norm.get_params():
        arrays[param.name] = param.get_value().reshape(-1)
    if isinstance(stage.norm, bc_batch_norm.BatchNormLayer):  # epsilon is added to its std (§1.8)
        arrays["epsilon"] = np.float32(stage.norm.epsilon)
    return arrays


def _shapes(stage: Stage) -> Dict[str, np.ndarray]:
    """Per-image shapes and, for a convolution, its geometry."""
    output_layer = stage.binary if stage.pool is None else stage.pool
    arrays = {
        "kind": np.array("conv" if stage.is_conv else "dense"),
        "fan_in": np.int64(stage.fan_in),
        "input_shape": np.array(stage.binary.input_shape[1:], dtype=np.int64),
        "output_shape": np.array(output_layer.output_shape[1:], dtype=np.int64),
    }
    if stage.is_conv:
        arrays.update(
            filter_size=np.array(stage.binary.filter_size, dtype=np.int64),
            pad=np.array(stage.binary.pad, dtype=np.int64),
            pool_size=np.array(stage.pool_size, dtype=np.int64),
        )
    return arrays


def _flip_rows(bits: np.ndarray, flipped: np.ndarray) -> np.ndarray:
    return bits ^ flipped.reshape((-1,) + (1,) * (bits.ndim - 1))


def _runnable_layer(stage: Stage, role: str) -> Dict[str, np.ndarray]:
    """weights (rows negated where flipped) and threshold, or the output table (§1.8 folded)."""
    bits = sign_bits(stage.binary)
    if role == "output":
        if stage.is_conv:
            raise UserError("the output layer is a convolution; BinaryNet's is Dense(10) -> BN (trap 9)")
        return {"weights": layout.pack(bits), "table": thresholds.output_table(stage)}
    flipped, threshold = (thresholds.float_thresholds if role == "first" else thresholds.integer_thresholds)(stage)
    return {"weights": layout.pack(_flip_rows(bits, flipped)), "flipped": flipped, "threshold": threshold}


def _check_finite(stages: List[Stage]) -> None:
    for stage in stages:
        for layer in (stage.binary, stage.norm):
            for param in layer.get_params():
                if not np.isfinite(param.get_value(borrow=True)).all():
                    raise UserError(
                        "%s.%s holds NaN or infinite values (did training diverge?)"
                        % (type(layer).__name__, param.name)
                    )


def export_arrays(network: lasagne.layers.Layer) -> Dict[str, np.ndarray]:
    """The deploy file's arrays of ``network`` (see ``export``), in memory: PackedNetwork.from_arrays runs them."""
    stages = read_stages(network)
    _check_finite(stages)
    reason = not_runnable_reason(stages)
    note = (
        ""
        if reason is None
        else (
            "not runnable with XNOR + popcount: %s. The sign_W arrays are the "
            "deterministic binarization of the latent weights, not the evaluated network." % reason
        )
    )
    arrays = {
        "format": np.array(layout.FORMAT),
        "version": np.int64(layout.VERSION),
        "runnable": np.bool_(reason is None),
        "note": np.array(note),
        "num_layers": np.int64(len(stages)),
        "input_shape": np.array(stages[0].binary.input_shape[1:], dtype=np.int64),
    }
    for index, stage in enumerate(stages):
        role = "first" if index == 0 else "output" if index == len(stages) - 1 else "hidden"
        layer = dict(_shapes(stage), role=np.array(role), **_float_parameters(stage))
        layer.update(
            _runnable_layer(stage, role) if reason is None else {"sign_W": layout.pack(sign_bits(stage.binary))}
        )
        arrays.update(("layer%d/%s" % (index, key), value) for key, value in layer.items())
    return arrays


def export(network: lasagne.layers.Layer, path: Union[str, Path]) -> Exported:
    """Write ``network`` (the output layer of a network of binary_net / binaryconnect layers) to ``path``.

    A deterministic BinaryNet (MLP or ConvNet, §2.1-§2.3) becomes a file deploy.engine runs exactly. Any other
    network of binary layers (stochastic binarization, BinaryConnect's batch norm + ReLU) has no ±1 test-time
    network: the file then holds only each layer's packed sign(W), labelled as not the evaluated network, with
    the float parameters, and a NotRunnableWarning says why. UserError for anything else.
    """
    path = Path(path)
    arrays = export_arrays(network)
    write_npz(path, arrays)
    note = str(arrays["note"])
    if note:
        warnings.warn("%s: %s" % (path, note), NotRunnableWarning, stacklevel=2)
    return Exported(path, not note, note)


@command
def main(argv: Optional[List[str]] = None) -> None:
    """``python -m deploy.export RUN_DIR`` (``make export RUN=...``): the run's best network as a packed file."""
    parser = ArgumentParser(
        prog="python -m deploy.export",
        description="Export a finished run's best network as packed bits (docs/EXPORT.md).",
    )
    trained.add_run_arguments(parser)
    parser.add_argument("--output", type=Path, help="the file to write (default: RUN_DIR/packed.npz)")
    parser.add_argument("--unfinished", action="store_true", help="accept an unfinished run (its best epoch so far)")
    args = parser.parse_args(argv)
    run = trained.open_run(trained.chosen_folder(args), finished=not args.unfinished)
    net = trained.trained_network(run)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotRunnableWarning)  # said plainly below
        exported = export(net, args.output or run.folder / "packed.npz")
    print(
        "%s: %s, best epoch %d -> %s (%.2f MB)"
        % (run.folder, run.settings.EXPERIMENT, run.saved.best_epoch, exported.path, exported.path.stat().st_size / 1e6)
    )
    if exported.runnable:
        print("runnable with XNOR + popcount: python -m deploy.evaluate %s --engine packed" % run.folder)
    else:
        print(exported.note)


if __name__ == "__main__":
    raise SystemExit(main())
