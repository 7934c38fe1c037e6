"""``python -m benchmarks.onnx_mnist`` (``make benchmark-onnx``): the paper-size BinaryNet MNIST MLP
(784-4096-4096-4096-10, §2.1, random parameters as in benchmarks.packed) exported as ONNX (deploy.onnx_graph)
and run by onnxruntime, beside the packed engine on the same CPU.

Prints the CPU, the ONNX graph's nodes, how many of 100 random images' scores and labels onnxruntime gives as the
engine does, and the seconds per image of both at batch 1 and batch 100 (median of repeated calls after a warm-up).
"""

import compat  # noqa: F401  (must precede theano and lasagne)

import os
import tempfile
from pathlib import Path
from typing import List, Optional

import numpy as np

from benchmarks.mnist_mlp import positive_int, timed
from benchmarks.packed import cpu_model, randomize
from binarynet.mnist import MNISTSettings, build_mlp
from deploy import onnx_graph
from deploy.engine import PackedNetwork
from deploy.export import export
from harness.errors import ArgumentParser, UserError, command


@command
def main(argv: Optional[List[str]] = None) -> None:
    parser = ArgumentParser(prog="python -m benchmarks.onnx_mnist", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=positive_int, default=20, help="timed calls per figure (default: 20)")
    parser.add_argument("--num-units", type=positive_int, default=4096, help="hidden units (default: 4096)")
    bench = parser.parse_args(argv)
    onnx_graph.onnx_module()
    try:
        import onnxruntime
    except ImportError:
        raise UserError("onnxruntime is missing: " + onnx_graph.INSTALL) from None
    args = MNISTSettings(num_units=bench.num_units)
    np.random.seed(args.seed)
    rng = np.random.RandomState(0)
    mlp = build_mlp(args)
    randomize(mlp, rng)
    with tempfile.TemporaryDirectory() as folder:
        packed = PackedNetwork.load(export(mlp, Path(folder) / "mnist.npz").path, backend="c")
    model = onnx_graph.binarynet_model(packed, "onnx", {})
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    def run_onnx(X: np.ndarray) -> np.ndarray:
        return session.run([onnx_graph.SCORES], {onnx_graph.INPUT: X})[0]

    X = rng.uniform(-1, 1, (100, 1, 28, 28)).astype(np.float32)
    engine, ours = packed.forward(X), run_onnx(X)
    print(
        "CPU:                     %s, %d cores (onnxruntime %s with its default threads, one per core)"
        % (cpu_model(), os.cpu_count(), onnxruntime.__version__)
    )
    print("network:                 784-%s-10, random parameters" % "-".join([str(args.num_units)] * 3))
    print("ONNX nodes (%d):         %s" % (len(model.graph.node), " -> ".join(n.op_type for n in model.graph.node)))
    print(
        "onnxruntime == engine:   scores of %d of %d images bit for bit, labels of %d"
        % (np.all(ours == engine, axis=1).sum(), len(X), (ours.argmax(1) == engine.argmax(1)).sum())
    )
    for batch in (1, 100):
        onnx_s = timed(run_onnx, (X[:batch],), bench.repeats) / batch
        packed_s = timed(packed.forward, (X[:batch],), bench.repeats) / batch
        print(
            "batch %3d: onnxruntime %8.3f ms/image, packed engine (C) %8.3f ms/image"
            % (batch, 1e3 * onnx_s, 1e3 * packed_s)
        )


if __name__ == "__main__":
    raise SystemExit(main())
