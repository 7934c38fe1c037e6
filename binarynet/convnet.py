"""The ConvNet of BinaryNet's CIFAR-10 and SVHN scripts (REPRODUCTION.md §2.2, §2.3; §4 traps 8, 9, 23, 24).

Three blocks [Conv -> BN -> sign -> Conv -> Pool -> BN -> sign] (pooling before the second BN), then
2 x [Dense -> BN -> sign] and Dense(10) -> BN. Both scripts differ only in the filter counts, the data and
a few settings; what they share lives here.
"""
import compat  # noqa: F401  (must precede theano and lasagne)

import argparse
from typing import Callable, Sequence

import lasagne
import numpy as np
import theano.tensor as T

from binarynet import binary_net, experiment

NUM_UNITS = 1024  # both dense hidden layers, in both scripts


def add_arguments(parser: argparse.ArgumentParser, filters: Sequence[int]) -> None:
    """--filters (the six convolutions' output channels) and --num-units (the two hidden dense layers)."""
    parser.add_argument("--filters", type=int, nargs=6, default=list(filters), metavar="C",
                        help="output channels of the six 3x3 convolutions (paper: %s)" % " ".join(map(str, filters)))
    parser.add_argument("--num-units", type=int, default=NUM_UNITS,
                        help="units of the two hidden dense layers (paper: %d)" % NUM_UNITS)


def scale_pixels(X: np.ndarray) -> np.ndarray:
    """(N, 3072) raw pixels 0..255, channel-major -> (N, 3, 32, 32) in [-1, 1]: x * (2/255) - 1 (§2.2, trap 16).

    Computed in place in X's float32 (as the original's np.multiply/np.subtract give): SVHN's training set
    is 7.35 GB and gets no second copy.
    """
    np.multiply(2. / 255., X, out=X)
    np.subtract(X, 1., out=X)
    return X.reshape(-1, 3, 32, 32)


def build_cnn(input: T.TensorVariable, args: argparse.Namespace, activation: Callable, binary: bool,
              stochastic: bool, H: float, W_LR_scale: str) -> lasagne.layers.Layer:
    """Input(3, 32, 32) -> 3 x [Conv(c) -> BN -> sign -> Conv(c') -> Pool 2x2 -> BN -> sign]
    -> 2 x [Dense(num_units) -> BN -> sign] -> Dense(10) -> BN (§2.2). Convolutions: 3x3, pad 1, stride 1, bias.
    """
    binary_layer = dict(binary=binary, stochastic=stochastic, H=H, W_LR_scale=W_LR_scale,
                        nonlinearity=lasagne.nonlinearities.identity)

    def normalize_and_sign(layer: lasagne.layers.Layer) -> lasagne.layers.Layer:
        layer = binary_net.BatchNormLayer(layer, epsilon=args.epsilon, alpha=args.alpha)
        return lasagne.layers.NonlinearityLayer(layer, nonlinearity=activation)

    cnn = lasagne.layers.InputLayer(shape=(None, 3, 32, 32), input_var=input)
    for k, num_filters in enumerate(args.filters):
        cnn = binary_net.Conv2DLayer(cnn, num_filters=num_filters, filter_size=(3, 3), pad=1, **binary_layer)
        if k % 2:  # the second convolution of a block pools before its BN (trap 8)
            cnn = lasagne.layers.MaxPool2DLayer(cnn, pool_size=(2, 2))
        cnn = normalize_and_sign(cnn)
    for _ in range(2):
        cnn = normalize_and_sign(binary_net.DenseLayer(cnn, num_units=args.num_units, **binary_layer))
    cnn = binary_net.DenseLayer(cnn, num_units=10, **binary_layer)
    return binary_net.BatchNormLayer(cnn, epsilon=args.epsilon, alpha=args.alpha)


def run(args: argparse.Namespace, loading_message: str, load: Callable[[], experiment.Data],
        last_hyperparameters: experiment.Hyperparameters) -> int:
    """A ConvNet script after its flags: settings printed in the originals' order (§2.2, §2.3), ending with
    ``last_hyperparameters``; then experiment.run with build_cnn. Nothing is saved but the checkpoint (§1.11).
    """
    LR_decay = binary_net.LR_decay(args.LR_start, args.LR_fin, args.num_epochs)
    hyperparameters = (experiment.bn_hyperparameters(args) + experiment.layer_hyperparameters()
                       + [("num_epochs", args.num_epochs)] + experiment.LR_hyperparameters(args, LR_decay)
                       + list(last_hyperparameters))
    return experiment.run(args, hyperparameters, LR_decay, loading_message, load, "Building the CNN...",
                          lambda input: build_cnn(input, args, *experiment.PAPER))
