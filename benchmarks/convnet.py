"""``python -m benchmarks.convnet --dataset cifar10|svhn``: speed of a BinaryNet ConvNet on this device.

Prints the graph build + compile time, seconds per training iteration and per validation batch (batch 50),
and the implied seconds per epoch of the paper's setting (docs/REPRODUCTION.md §2.2: 900 training iterations,
100 validation and up to 200 test batches; §2.3: 11967, 120 and up to 520). Other flags go to the script's settings
(e.g. ``--filters 32 32 64 64 128 128 --num-units 256`` for a smaller network). Inputs are random: speed does not
depend on the pixels. The timing itself is benchmarks.mnist_mlp's.
"""

import compat  # noqa: F401  (must precede theano and lasagne)

import time
from typing import List, Optional

import numpy as np
import theano

from benchmarks.mnist_mlp import positive_int, timed
from binarynet import binary_net, cifar10, svhn
from harness.errors import ArgumentParser, command

SCRIPTS = {"cifar10": (cifar10.CIFAR10Settings, cifar10.build_cnn), "svhn": (svhn.SVHNSettings, svhn.build_cnn)}


@command
def main(argv: Optional[List[str]] = None) -> None:
    """Build and compile the paper-size network (or the one the script flags describe), then time it."""
    parser = ArgumentParser(prog="python -m benchmarks.convnet", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(SCRIPTS), default="cifar10", help="(default: cifar10)")
    parser.add_argument("--iterations", type=positive_int, default=10, help="timed training iterations (default: 10)")
    bench, script_argv = parser.parse_known_args(argv)
    settings_class, build_cnn = SCRIPTS[bench.dataset]
    args = settings_class.parse(script_argv)
    np.random.seed(args.seed)

    start = time.perf_counter()
    train_fn, val_fn = binary_net.compile_functions(build_cnn(args), binary=True)
    compile_s = time.perf_counter() - start

    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, (args.batch_size, 3, 32, 32)).astype(theano.config.floatX)
    y = binary_net.hinge_targets(rng.randint(0, 10, args.batch_size)).astype(theano.config.floatX)
    train_s = timed(train_fn, (X, y, args.LR_start), bench.iterations)
    val_s = timed(val_fn, (X, y), bench.iterations)
    paper = settings_class()
    sizes = (getattr(paper, "train_set_size", None) or paper.train_size, paper.valid_size, paper.test_size)
    batches = [size // args.batch_size for size in sizes]
    epoch_s = batches[0] * train_s + (batches[1] + batches[2]) * val_s

    print("device:               %s (floatX=%s)" % (theano.config.device, theano.config.floatX))
    print(
        "network:              %s ConvNet, filters %s, %d units, batch %d"
        % (bench.dataset, " ".join(map(str, args.filters)), args.num_units, args.batch_size)
    )
    print("build + compile:      %.1f s" % compile_s)
    print("training iteration:   %.4f s (median of %d)" % (train_s, bench.iterations))
    print("validation batch:     %.4f s" % val_s)
    print(
        "epoch (estimated):    %.1f s = %d iterations + %d validation + %d test batches"
        % (epoch_s, batches[0], batches[1], batches[2])
    )
    print("%d epochs (paper):   %.1f h" % (args.num_epochs, args.num_epochs * epoch_s / 3600))


if __name__ == "__main__":
    raise SystemExit(main())
