"""BinaryNet CIFAR-10 ConvNet (Train-time/cifar10.py; REPRODUCTION.md §2.2): ``python -m binarynet.cifar10``.

With no flags this is the paper's experiment (2x128C3-MP2-2x256C3-MP2-2x512C3-MP2-2x1024FC-10, 500 epochs,
expected test error about 11.40 %). Flags make smaller runs. Like the original it saves no parameters;
``--output-dir`` receives ``log.jsonl`` and ``checkpoint.npz`` (rerun the same command to resume).
"""
import compat  # noqa: F401  (must precede theano and lasagne)

import argparse
import sys
from typing import List, Optional, Tuple

import numpy as np

from binarynet import convnet, experiment
from datasets import cifar10

SIZES = experiment.SetSizes(train=45000, valid=5000, test=10000)
FILTERS = (128, 128, 256, 256, 512, 512)


def parse_args(argv: Optional[List[str]],
               description: str = "BinaryNet CIFAR-10 ConvNet; the defaults are the paper's settings.",
               LR_start: float = .001, LR_fin: float = .0000003,
               output_dir: str = "runs/binarynet-cifar10") -> argparse.Namespace:
    """Command-line flags; every default is the paper's setting (BinaryNet's unless given: §2.2, §2.5)."""
    p = argparse.ArgumentParser(description=description)
    experiment.add_common_arguments(
        p, batch_size=50, num_epochs=500, LR_start=LR_start, LR_fin=LR_fin, sizes=SIZES,
        size_help=("training rows 0..N of the training set (train_set_size)",
                   "validation rows %d..%d+N of the training set" % (SIZES.train, SIZES.train),
                   "first N rows of the test set"),
        output_dir=output_dir)
    convnet.add_arguments(p, FILTERS)
    return experiment.parse_checked(p, argv, SIZES)


def load_set(which_set: str, start: int, stop: int, data_path: Optional[str]) -> Tuple[np.ndarray, np.ndarray]:
    """pylearn2 CIFAR10 rows start..stop as (N,3,32,32) inputs x*(2/255)-1 and (N,10) targets in {-1, +1}."""
    # cifar10.CHECKSUMS is looked up at call time, so that tests can substitute their own.
    dataset = cifar10.CIFAR10(which_set, start, stop, path=data_path, checksums=cifar10.CHECKSUMS)
    return convnet.scale_pixels(dataset.X), experiment.pm1_one_hot(dataset.y)


def main(argv: Optional[List[str]] = None) -> int:
    """The script (§2.2); returns the exit status."""
    args = parse_args(argv)
    return convnet.run(args, "Loading CIFAR-10 dataset...",
                       lambda: experiment.load_splits(load_set, args, SIZES.train),
                       [("train_set_size", args.train_size), ("shuffle_parts", experiment.SHUFFLE_PARTS)])


if __name__ == "__main__":
    sys.exit(main())
