"""``python -m benchmarks.integer_first_layer``: where the exact integer first layer (deploy.pixels,
``first_layer="pixels"``) and the float path (Theano's float32 sums, bit for bit Theano's scores) disagree, on the
10,000 MNIST test images (``data/mnist``, ``make download-mnist``).

The network is a finished run's (``RUN_DIR``) or, without one, the paper-size MLP with random parameters
(benchmarks.packed). Prints how many first-layer sign bits, score rows and predictions differ, and the time per image
of both paths.
"""

import compat  # noqa: F401  (must precede theano and lasagne)

from pathlib import Path
from typing import List, Optional

import numpy as np

from benchmarks.packed import NETWORKS, best_ms, cpu_model, load, randomize
from datasets.mnist import CHECKSUMS, FILES, IMAGE_MAGIC, read_idx
from datasets.paths import data_root
from deploy import pixels, trained
from deploy.engine import PackedNetwork
from deploy.export import export_arrays
from harness.errors import ArgumentParser, UserError, command
from harness.files import verify


@command
def main(argv: Optional[List[str]] = None) -> None:
    parser = ArgumentParser(prog="python -m benchmarks.integer_first_layer", description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", help="a finished BinaryNet MNIST run (default: random parameters)")
    parser.add_argument("--seed", type=int, default=0, help="of the random parameters (default: 0)")
    parser.add_argument("--data-path", help="data folder (default: $PYLEARN2_DATA_PATH or ./data)")
    args = parser.parse_args(argv)
    if args.run_dir:
        run = trained.open_run(Path(args.run_dir))
        network = trained.trained_network(run)
        what = "%s, best epoch %d" % (run.folder, run.saved.best_epoch)
    else:
        np.random.seed(args.seed)  # Lasagne's initial W
        network = NETWORKS["mnist"]()
        randomize(network, np.random.RandomState(args.seed))
        what = "paper-size MLP, random parameters (seed %d)" % args.seed
    arrays = export_arrays(network)
    name = FILES["test"][0]
    path = data_root(args.data_path) / "mnist" / name
    k = read_idx(verify(path, CHECKSUMS[name], "make download-mnist"), IMAGE_MAGIC)[:, None]
    X = pixels.scaled(k)
    floats = PackedNetwork.from_arrays(arrays)
    if floats.input_shape != X.shape[1:]:
        raise UserError("the network takes inputs of shape %s, not MNIST's" % (floats.input_shape,))
    integers = PackedNetwork.from_arrays(arrays, first_layer="pixels")
    bits_f, bits_i, scores_f, scores_i = [], [], [], []
    for start in range(0, len(X), 500):
        for net, bits, scores in ((floats, bits_f, scores_f), (integers, bits_i, scores_i)):
            outputs = net.layer_outputs(X[start : start + 500])
            bits.append(outputs[0])
            scores.append(outputs[-1])
    bits_f, bits_i = np.concatenate(bits_f), np.concatenate(bits_i)
    scores_f, scores_i = np.concatenate(scores_f), np.concatenate(scores_i)
    differ = bits_f != bits_i
    print("CPU: %s; %s" % (cpu_model(), load()))
    print("network: %s; %d test images" % (what, len(X)))
    print(
        "first-layer sign bits that differ: %d of %d (%d images, %d units)"
        % (differ.sum(), differ.size, differ.any(axis=1).sum(), differ.any(axis=0).sum())
    )
    print(
        "images whose scores differ: %d; whose predictions differ: %d"
        % ((scores_f != scores_i).any(axis=1).sum(), (scores_f.argmax(1) != scores_i.argmax(1)).sum())
    )
    for batch in (1, 100):
        for label, net in (("float32 first layer", floats), ("integer first layer", integers)):
            ms = best_ms(net.forward, (X[:batch],), 20, 3.0) / batch
            print("batch %3d  %-20s %8.3f ms/image" % (batch, label, ms))


if __name__ == "__main__":
    raise SystemExit(main())
