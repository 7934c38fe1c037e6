"""BinaryNet MNIST MLP (Train-time/mnist.py; REPRODUCTION.md §2.1): ``python -m binarynet.mnist``.

With no flags this is the paper's experiment (3 x 4096 binary units, 1000 epochs, expected test error
about 0.96 %). Flags make smaller runs. Output (``--output-dir``): ``log.jsonl`` (one JSON object per
epoch), ``mnist_parameters.npz`` (the best epoch's parameters, keys arr_0..arr_23) and ``checkpoint.npz``;
rerunning the same command after an interruption resumes from the last completed epoch.
"""
import compat  # noqa: F401  (must precede theano and lasagne)

import argparse
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import lasagne
import numpy as np
import theano.tensor as T

from binarynet import binary_net, experiment
from datasets.mnist import MNIST

SIZES = experiment.SetSizes(train=50000, valid=10000, test=10000)


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    """Command-line flags; every default is the paper's setting."""
    p = argparse.ArgumentParser(description="BinaryNet MNIST MLP; the defaults are the paper's settings.")
    experiment.add_common_arguments(
        p, batch_size=100, num_epochs=1000, LR_start=.003, LR_fin=.0000003, sizes=SIZES,
        size_help=("training rows 0..N of the official training file",
                   "validation rows 50000..50000+N of the official training file", "first N rows of the test file"),
        output_dir="runs/binarynet-mnist")
    p.add_argument("--num-units", type=int, default=4096)
    p.add_argument("--n-hidden-layers", type=int, default=3)
    p.add_argument("--dropout-in", type=float, default=.2)
    p.add_argument("--dropout-hidden", type=float, default=.5)
    return experiment.parse_checked(p, argv, SIZES)


def load_set(which_set: str, start: int, stop: int, data_path: Optional[str]) -> Tuple[np.ndarray, np.ndarray]:
    """pylearn2 MNIST rows start..stop, as (N,1,28,28) inputs in [-1, 1] and (N,10) targets in {-1, +1}."""
    dataset = MNIST(which_set=which_set, start=start, stop=stop, center=False, path=data_path)
    return 2 * dataset.X.reshape(-1, 1, 28, 28) - 1., experiment.pm1_one_hot(dataset.y)


def build_mlp(input: T.TensorVariable, args: argparse.Namespace, activation, binary: bool, stochastic: bool,
              H: float, W_LR_scale: str) -> lasagne.layers.Layer:
    """Input -> Dropout -> n x [binary Dense -> BN -> sign -> Dropout] -> binary Dense(10) -> BN (§2.1)."""
    mlp = lasagne.layers.InputLayer(shape=(None, 1, 28, 28), input_var=input)
    mlp = lasagne.layers.DropoutLayer(mlp, p=args.dropout_in)
    for _ in range(args.n_hidden_layers):
        mlp = binary_net.DenseLayer(mlp, binary=binary, stochastic=stochastic, H=H, W_LR_scale=W_LR_scale,
                                    nonlinearity=lasagne.nonlinearities.identity, num_units=args.num_units)
        mlp = binary_net.BatchNormLayer(mlp, epsilon=args.epsilon, alpha=args.alpha)
        mlp = lasagne.layers.NonlinearityLayer(mlp, nonlinearity=activation)
        mlp = lasagne.layers.DropoutLayer(mlp, p=args.dropout_hidden)
    mlp = binary_net.DenseLayer(mlp, binary=binary, stochastic=stochastic, H=H, W_LR_scale=W_LR_scale,
                                nonlinearity=lasagne.nonlinearities.identity, num_units=10)
    return binary_net.BatchNormLayer(mlp, epsilon=args.epsilon, alpha=args.alpha)


def main(argv: Optional[List[str]] = None) -> int:
    """The script (§2.1); returns the exit status."""
    args = parse_args(argv)
    LR_decay = binary_net.LR_decay(args.LR_start, args.LR_fin, args.num_epochs)
    save_path = Path(args.output_dir) / "mnist_parameters.npz"
    hyperparameters = (experiment.bn_hyperparameters(args)
                       + [("num_units", args.num_units), ("n_hidden_layers", args.n_hidden_layers),
                          ("num_epochs", args.num_epochs), ("dropout_in", args.dropout_in),
                          ("dropout_hidden", args.dropout_hidden)]
                       + experiment.layer_hyperparameters() + experiment.LR_hyperparameters(args, LR_decay)
                       + [("save_path", save_path), ("shuffle_parts", experiment.SHUFFLE_PARTS)])
    return experiment.run(args, hyperparameters, LR_decay,
                          "Loading MNIST dataset...", lambda: experiment.load_splits(load_set, args, SIZES.train),
                          "Building the MLP...", lambda input: build_mlp(input, args, *experiment.PAPER),
                          save_path=save_path)


if __name__ == "__main__":
    sys.exit(main())
