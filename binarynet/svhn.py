"""BinaryNet SVHN ConvNet (Train-time/svhn.py; REPRODUCTION.md §2.3): ``python -m binarynet.svhn``.

With no flags this is the paper's experiment (the CIFAR-10 ConvNet with half the filters, 200 epochs,
expected test error about 2.80 %) on pylearn2's raw-pixel h5 files ``splitted_train``, ``valid`` and ``test``
in ``$PYLEARN2_DATA_PATH/SVHN/format2/h5/`` (``make svhn-h5``; no GCN/LCN). The training set takes 7.35 GB
of memory. Like the original it saves no parameters; ``--output-dir`` receives ``log.jsonl`` and
``checkpoint.npz`` (rerun the same command to resume).
"""
import compat  # noqa: F401  (must precede theano and lasagne)

import argparse
import sys
from typing import List, Optional, Tuple

import numpy as np

from binarynet import convnet, experiment
from datasets import svhn
from datasets.rows import take_rows

SETS = ("splitted_train", "valid", "test")
SIZES = experiment.SetSizes(*(svhn.SIZES[name] for name in SETS))
FILTERS = (64, 64, 128, 128, 256, 256)


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    """Command-line flags; every default is the paper's setting."""
    p = argparse.ArgumentParser(description="BinaryNet SVHN ConvNet; the defaults are the paper's settings.")
    experiment.add_common_arguments(
        p, batch_size=50, num_epochs=200, LR_start=.001, LR_fin=.000001, sizes=SIZES,
        size_help=["first N rows of %s" % name for name in SETS], output_dir="runs/binarynet-svhn")
    convnet.add_arguments(p, FILTERS)
    return experiment.parse_checked(p, argv, SIZES)


def load_set(which_set: str, rows: int, data_path: Optional[str]) -> Tuple[np.ndarray, np.ndarray]:
    """The first ``rows`` rows of pylearn2's SVHN(which_set) from ``<data_path>/SVHN/format2/h5/`` as (N,3,32,32)
    inputs x*(2/255)-1 and (N,10) targets 2y-1 from the one-hot y (§2.3, §3.3)."""
    dataset = svhn.SVHN(which_set, path=str(svhn.default_folder(data_path)))
    return convnet.scale_pixels(take_rows(dataset.X, None, rows)), experiment.pm1(take_rows(dataset.y, None, rows))


def load(args: argparse.Namespace) -> experiment.Data:
    """splitted_train, valid, test (§2.3): each set's first --*-size rows (all of them by default)."""
    sizes = (args.train_size, args.valid_size, args.test_size)
    return sum((load_set(name, rows, args.data_path) for name, rows in zip(SETS, sizes)), ())


def main(argv: Optional[List[str]] = None) -> int:
    """The script (§2.3); returns the exit status."""
    args = parse_args(argv)
    return convnet.run(args, "Loading SVHN dataset", lambda: load(args),
                       [("shuffle_parts", experiment.SHUFFLE_PARTS)])


if __name__ == "__main__":
    sys.exit(main())
