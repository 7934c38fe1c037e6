"""BinaryNet MNIST MLP (Train-time/mnist.py; REPRODUCTION.md §2.1): ``python -m binarynet.mnist``.

With no flags this is the paper's experiment (3 x 4096 binary units, 1000 epochs, expected test error
about 0.96 %). Flags make smaller runs. Output (``--output-dir``): ``log.jsonl`` (one JSON object per
epoch), ``mnist_parameters.npz`` (the best epoch's parameters, keys arr_0..arr_23) and ``checkpoint.npz``;
rerunning the same command after an interruption resumes from the last completed epoch.
Its flags, MLP and run serve BinaryConnect's MNIST script too (binaryconnect.mnist, §2.4).
"""
import compat  # noqa: F401  (must precede theano and lasagne)

import argparse
import sys
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import lasagne
import numpy as np
import theano.tensor as T

from binarynet import binary_net, experiment
from datasets.mnist import MNIST

SIZES = experiment.SetSizes(train=50000, valid=10000, test=10000)


def parse_args(argv: Optional[List[str]],
               description: str = "BinaryNet MNIST MLP; the defaults are the paper's settings.",
               alpha: float = .1, num_epochs: int = 1000, LR_start: float = .003, LR_fin: float = .0000003,
               num_units: int = 4096, dropout_in: float = .2, dropout_hidden: float = .5,
               output_dir: str = "runs/binarynet-mnist") -> argparse.Namespace:
    """Command-line flags; every default is the paper's setting (BinaryNet's unless given: §2.1, §2.4)."""
    p = argparse.ArgumentParser(description=description)
    experiment.add_common_arguments(
        p, batch_size=100, num_epochs=num_epochs, LR_start=LR_start, LR_fin=LR_fin, sizes=SIZES,
        size_help=("training rows 0..N of the official training file",
                   "validation rows 50000..50000+N of the official training file", "first N rows of the test file"),
        output_dir=output_dir, alpha=alpha)
    p.add_argument("--num-units", type=int, default=num_units)
    p.add_argument("--n-hidden-layers", type=int, default=3)
    p.add_argument("--dropout-in", type=float, default=dropout_in)
    p.add_argument("--dropout-hidden", type=float, default=dropout_hidden)
    return experiment.parse_checked(p, argv, SIZES)


def load_set(which_set: str, start: int, stop: int, data_path: Optional[str]) -> Tuple[np.ndarray, np.ndarray]:
    """pylearn2 MNIST rows start..stop, as (N,1,28,28) inputs in [-1, 1] and (N,10) targets in {-1, +1}."""
    dataset = MNIST(which_set=which_set, start=start, stop=stop, center=False, path=data_path)
    return 2 * dataset.X.reshape(-1, 1, 28, 28) - 1., experiment.pm1_one_hot(dataset.y)


def build_mlp(input: T.TensorVariable, args: argparse.Namespace, activation: Callable, binary: bool,
              stochastic: bool, H: float, W_LR_scale: Optional[str],
              normalize: experiment.Normalize = experiment.lasagne_batch_norm) -> lasagne.layers.Layer:
    """Input -> Dropout -> n x [binary Dense -> BN -> act -> Dropout] -> binary Dense(10) -> BN (§2.1, §2.4),
    "BN -> act" made by ``normalize`` (experiment.LayerSettings)."""
    binary_layer = experiment.binary_layer_arguments(binary, stochastic, H, W_LR_scale)
    mlp = lasagne.layers.InputLayer(shape=(None, 1, 28, 28), input_var=input)
    mlp = lasagne.layers.DropoutLayer(mlp, p=args.dropout_in)
    for _ in range(args.n_hidden_layers):
        mlp = binary_net.DenseLayer(mlp, num_units=args.num_units, **binary_layer)
        mlp = normalize(mlp, args.epsilon, args.alpha, activation)
        mlp = lasagne.layers.DropoutLayer(mlp, p=args.dropout_hidden)
    mlp = binary_net.DenseLayer(mlp, num_units=10, **binary_layer)
    return normalize(mlp, args.epsilon, args.alpha, None)


def run(args: argparse.Namespace, load_set: Callable[[str, int, int, Optional[str]], Tuple[np.ndarray, np.ndarray]],
        method: experiment.Method, last_hyperparameters: experiment.Hyperparameters = (),
        save_path: Optional[Path] = None) -> int:
    """An MNIST script after its flags: settings printed in the originals' order (§2.1, §2.4), ending with
    ``last_hyperparameters``; then experiment.run with build_mlp on ``load_set``'s sets."""
    LR_decay = binary_net.LR_decay(args.LR_start, args.LR_fin, args.num_epochs)
    hyperparameters = (experiment.bn_hyperparameters(args)
                       + [("num_units", args.num_units), ("n_hidden_layers", args.n_hidden_layers),
                          ("num_epochs", args.num_epochs), ("dropout_in", args.dropout_in),
                          ("dropout_hidden", args.dropout_hidden)]
                       + method.printed + experiment.LR_hyperparameters(args, LR_decay) + list(last_hyperparameters))
    return experiment.run(args, hyperparameters, LR_decay,
                          "Loading MNIST dataset...", lambda: experiment.load_splits(load_set, args, SIZES.train),
                          "Building the MLP...", lambda input: build_mlp(input, args, *method.layers),
                          method=method, save_path=save_path)


def main(argv: Optional[List[str]] = None) -> int:
    """The script (§2.1); returns the exit status."""
    args = parse_args(argv)
    save_path = Path(args.output_dir) / "mnist_parameters.npz"
    return run(args, load_set, experiment.BINARY_NET,
               [("save_path", save_path), ("shuffle_parts", experiment.SHUFFLE_PARTS)], save_path)


if __name__ == "__main__":
    sys.exit(main())
