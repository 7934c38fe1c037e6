"""The ConvNet of the CIFAR-10 and SVHN scripts of both papers (REPRODUCTION.md §2.2, §2.3, §2.5, §2.6; §4 traps
8, 9, 23, 24).

Three blocks [Conv -> BN -> act -> Conv -> Pool -> BN -> act] (pooling before the second BN), then
2 x [Dense -> BN -> act] and Dense(10) -> BN. BinaryNet's "BN -> act" is Lasagne's BN and a sign layer,
BinaryConnect's its own BN with the ReLU inside. The four scripts differ only in that, the filter counts,
the data and a few settings; what they share lives here.
"""
import compat  # noqa: F401  (must precede theano and lasagne)

import argparse
from typing import Callable, Optional, Sequence

import lasagne
import numpy as np
import theano.tensor as T

from binarynet import binary_net, experiment

NUM_UNITS = 1024  # both dense hidden layers, in all four ConvNet scripts


def add_arguments(parser: argparse.ArgumentParser, filters: Sequence[int]) -> None:
    """--filters (the six convolutions' output channels) and --num-units (the two hidden dense layers)."""
    parser.add_argument("--filters", type=int, nargs=6, default=list(filters), metavar="C",
                        help="output channels of the six 3x3 convolutions (paper: %s)" % " ".join(map(str, filters)))
    parser.add_argument("--num-units", type=int, default=NUM_UNITS,
                        help="units of the two hidden dense layers (paper: %d)" % NUM_UNITS)


def as_images(X: np.ndarray) -> np.ndarray:
    """(N, 3072) channel-major rows -> (N, 3, 32, 32) images, values unchanged (§3, trap 16)."""
    return X.reshape(-1, 3, 32, 32)


def scale_pixels(X: np.ndarray) -> np.ndarray:
    """(N, 3072) raw pixels 0..255, channel-major -> (N, 3, 32, 32) in [-1, 1]: x * (2/255) - 1 (§2.2, trap 16).

    Computed in place in X's float32 (as the original's np.multiply/np.subtract give): SVHN's training set
    is 7.35 GB and gets no second copy.
    """
    np.multiply(2. / 255., X, out=X)
    np.subtract(X, 1., out=X)
    return as_images(X)


def build_cnn(input: T.TensorVariable, args: argparse.Namespace, activation: Callable, binary: bool,
              stochastic: bool, H: float, W_LR_scale: Optional[str],
              normalize: experiment.Normalize = experiment.lasagne_batch_norm) -> lasagne.layers.Layer:
    """Input(3, 32, 32) -> 3 x [Conv(c) -> BN -> act -> Conv(c') -> Pool 2x2 -> BN -> act]
    -> 2 x [Dense(num_units) -> BN -> act] -> Dense(10) -> BN (§2.2, §2.5), "BN -> act" made by ``normalize``
    (experiment.LayerSettings). Convolutions: 3x3, pad 1, stride 1, bias.
    """
    binary_layer = experiment.binary_layer_arguments(binary, stochastic, H, W_LR_scale)
    cnn = lasagne.layers.InputLayer(shape=(None, 3, 32, 32), input_var=input)
    for k, num_filters in enumerate(args.filters):
        cnn = binary_net.Conv2DLayer(cnn, num_filters=num_filters, filter_size=(3, 3), pad=1, **binary_layer)
        if k % 2:  # the second convolution of a block pools before its BN (trap 8)
            cnn = lasagne.layers.MaxPool2DLayer(cnn, pool_size=(2, 2))
        cnn = normalize(cnn, args.epsilon, args.alpha, activation)
    for _ in range(2):
        cnn = normalize(binary_net.DenseLayer(cnn, num_units=args.num_units, **binary_layer),
                        args.epsilon, args.alpha, activation)
    cnn = binary_net.DenseLayer(cnn, num_units=10, **binary_layer)
    return normalize(cnn, args.epsilon, args.alpha, None)


def run(args: argparse.Namespace, loading_message: str, load: Callable[[], experiment.Data],
        last_hyperparameters: experiment.Hyperparameters,
        method: experiment.Method = experiment.BINARY_NET) -> int:
    """A ConvNet script after its flags: settings printed in the originals' order (§2.2, §2.3, §2.5, §2.6),
    ending with ``last_hyperparameters``; then experiment.run with build_cnn. Nothing is saved but the
    checkpoint (§1.11).
    """
    LR_decay = binary_net.LR_decay(args.LR_start, args.LR_fin, args.num_epochs)
    epochs = [("num_epochs", args.num_epochs)]
    hyperparameters = (experiment.bn_hyperparameters(args)
                       + (epochs + method.printed if method.epochs_first else method.printed + epochs)
                       + experiment.LR_hyperparameters(args, LR_decay) + list(last_hyperparameters))
    return experiment.run(args, hyperparameters, LR_decay, loading_message, load, "Building the CNN...",
                          lambda input: build_cnn(input, args, *method.layers), method=method)
