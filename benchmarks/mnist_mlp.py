"""``python -m benchmarks.mnist_mlp``: speed of the BinaryNet MNIST MLP at paper size on this device.

Prints the graph build + compile time, seconds per training iteration (batch 100) and per validation
batch, and the implied seconds per epoch of the paper's setting (500 training iterations, then 100
validation and up to 100 test batches). Inputs are random: speed does not depend on the pixels.
"""

import compat  # noqa: F401  (must precede theano and lasagne)

import time
from typing import Callable, List, Optional, Sequence

import numpy as np
import theano

from binarynet import binary_net
from binarynet.mnist import MNISTSettings, build_mlp
from harness.errors import ArgumentParser, command
from harness.settings import positive


def timed(fn: Callable, args: Sequence, repeats: int) -> float:
    """Median seconds of ``repeats`` calls (after one warm-up call)."""
    fn(*args)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def positive_int(value: str) -> int:
    """An argparse type: a whole number >= 1."""
    number = int(value)
    if positive(number):
        raise ValueError(value)
    return number


@command
def main(argv: Optional[List[str]] = None) -> None:
    parser = ArgumentParser(prog="python -m benchmarks.mnist_mlp", description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=positive_int, default=10, help="timed training iterations (default: 10)")
    parser.add_argument("--num-units", type=positive_int, default=4096, help="hidden units (default: 4096)")
    bench = parser.parse_args(argv)
    args = MNISTSettings(num_units=bench.num_units)
    np.random.seed(args.seed)

    start = time.perf_counter()
    train_fn, val_fn = binary_net.compile_functions(build_mlp(args), binary=True)
    compile_s = time.perf_counter() - start

    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, (args.batch_size, 1, 28, 28)).astype(theano.config.floatX)
    y = (2 * np.eye(10)[rng.randint(0, 10, args.batch_size)] - 1).astype(theano.config.floatX)
    train_s = timed(train_fn, (X, y, args.LR_start), bench.iterations)
    val_s = timed(val_fn, (X, y), bench.iterations)
    batches = 50000 // args.batch_size
    epoch_s = batches * train_s + 2 * (10000 // args.batch_size) * val_s

    print("device:               %s (floatX=%s)" % (theano.config.device, theano.config.floatX))
    print(
        "network:              784-%s-10, batch %d"
        % ("-".join([str(args.num_units)] * args.n_hidden_layers), args.batch_size)
    )
    print("build + compile:      %.1f s" % compile_s)
    print("training iteration:   %.4f s (median of %d)" % (train_s, bench.iterations))
    print("validation batch:     %.4f s" % val_s)
    print(
        "epoch (estimated):    %.1f s = %d iterations + %d validation/test batches"
        % (epoch_s, batches, 2 * (10000 // args.batch_size))
    )
    print("1000 epochs (paper):  %.1f h" % (1000 * epoch_s / 3600))


if __name__ == "__main__":
    raise SystemExit(main())
