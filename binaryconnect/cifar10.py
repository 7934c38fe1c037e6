"""BinaryConnect CIFAR-10 ConvNet (the ``lasagne`` branch's cifar10.py; REPRODUCTION.md §2.5):
``python -m binaryconnect.cifar10``.

With no flags this is the paper's experiment (BinaryNet's 2x128C3-MP2-2x256C3-MP2-2x512C3-MP2-2x1024FC-10
with stochastic binary weights and BinaryConnect's batch normalization with the ReLU inside, 500 epochs,
expected test error about 8.27 %) on the GCN + ZCA-whitened set of ``make cifar10-whitened``, values used
as they are. Like the original it saves no parameters; ``--output-dir`` receives ``log.jsonl`` and
``checkpoint.npz`` (rerun the same command to resume).
"""
import compat  # noqa: F401  (must precede theano and lasagne)

import argparse
import sys
from typing import List, Optional, Tuple

import numpy as np

from binarynet import cifar10 as binarynet_cifar10
from binarynet import convnet, experiment
from datasets import cifar10_whitened


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    """Command-line flags; every default is the paper's setting (§2.5)."""
    return binarynet_cifar10.parse_args(
        argv, "BinaryConnect CIFAR-10 ConvNet; the defaults are the paper's settings.", LR_start=.003,
        LR_fin=.000002, output_dir="runs/binaryconnect-cifar10")


def load_set(which_set: str, start: int, stop: int, data_path: Optional[str]) -> Tuple[np.ndarray, np.ndarray]:
    """Rows start..stop of the whitened set as (N,3,32,32) inputs, values unchanged, and (N,10) targets in
    {-1, +1} (§2.5)."""
    dataset = cifar10_whitened.GCNWhitenedCIFAR10(which_set, start, stop, path=data_path)
    return convnet.as_images(dataset.X), experiment.pm1_one_hot(dataset.y)


def load(args: argparse.Namespace) -> experiment.Data:
    """Training rows 0..45000, validation rows 45000..50000 of the whitened training set, and its test set.

    The original also loads the fitted preprocessor (without applying it again): a run without one fails here,
    as the original does.
    """
    cifar10_whitened.load_preprocessor(args.data_path)
    return experiment.load_splits(load_set, args, binarynet_cifar10.SIZES.train)


def main(argv: Optional[List[str]] = None) -> int:
    """The script (§2.5); returns the exit status."""
    args = parse_args(argv)
    return convnet.run(args, "Loading CIFAR-10 dataset...", lambda: load(args),
                       [("train_set_size", args.train_size)], experiment.BINARY_CONNECT)


if __name__ == "__main__":
    sys.exit(main())
