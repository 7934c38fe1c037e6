"""BinaryConnect MNIST MLP (the ``lasagne`` branch's mnist.py; REPRODUCTION.md §2.4):
``python -m binaryconnect.mnist``.

With no flags this is the README's experiment (3 x 2048 units with stochastic binary weights, BinaryConnect's
batch normalization with the ReLU inside, 250 epochs, expected test error about 1.15 %; the README stresses
that this is not the article's MNIST experiment). Inputs are pixel/255 minus the mean image of their file
(pylearn2's center=True), not rescaled. Like the original it saves no parameters; ``--output-dir`` receives
``log.jsonl`` and ``checkpoint.npz`` (rerun the same command to resume). The flags, the MLP and the run are
BinaryNet's (binarynet.mnist) with BinaryConnect's settings.
"""
import compat  # noqa: F401  (must precede theano and lasagne)

import argparse
import sys
from typing import List, Optional, Tuple

import numpy as np

from binarynet import experiment
from binarynet import mnist as binarynet_mnist
from datasets.mnist import MNIST

# The script passes no W_LR_scale to its layers, which take their default, "Glorot" (§2.4, trap 29);
# it still prints its own W_LR_scale variable.
METHOD = experiment.BINARY_CONNECT._replace(layers=experiment.BINARY_CONNECT.layers._replace(W_LR_scale=None))


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    """Command-line flags; every default is the paper's setting (§2.4). Dropout is off (p = 0) by default."""
    return binarynet_mnist.parse_args(
        argv, "BinaryConnect MNIST MLP; the defaults are the paper's settings.", alpha=.15, num_epochs=250,
        LR_start=.001, LR_fin=.000003, num_units=2048, dropout_in=0., dropout_hidden=0.,
        output_dir="runs/binaryconnect-mnist")


def load_set(which_set: str, start: int, stop: int, data_path: Optional[str]) -> Tuple[np.ndarray, np.ndarray]:
    """pylearn2 MNIST(center=True) rows start..stop as (N,1,28,28) inputs and (N,10) targets in {-1, +1}.

    Each file is centered with its own per-pixel mean, taken over the whole file before the rows are sliced:
    train and valid with the mean of the 60,000 training images, test with that of the 10,000 test images;
    no rescaling (§2.4, trap 15).
    """
    dataset = MNIST(which_set=which_set, start=start, stop=stop, center=True, path=data_path)
    return dataset.X.reshape(-1, 1, 28, 28), experiment.pm1_one_hot(dataset.y)


def main(argv: Optional[List[str]] = None) -> int:
    """The script (§2.4); returns the exit status."""
    return binarynet_mnist.run(parse_args(argv), load_set, METHOD)


if __name__ == "__main__":
    sys.exit(main())
