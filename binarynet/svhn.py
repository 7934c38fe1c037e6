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
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import numpy as np

from binarynet import convnet, experiment
from datasets import svhn
from datasets.rows import take_rows

SETS = ("splitted_train", "valid", "test")
SIZES = experiment.SetSizes(*(svhn.SIZES[name] for name in SETS))
FILTERS = (64, 64, 128, 128, 256, 256)


def parse_args(argv: Optional[List[str]],
               description: str = "BinaryNet SVHN ConvNet; the defaults are the paper's settings.",
               LR_start: float = .001, LR_fin: float = .000001, output_dir: str = "runs/binarynet-svhn",
               data_help: str = experiment.DATA_PATH_HELP) -> argparse.Namespace:
    """Command-line flags; every default is the paper's setting (BinaryNet's unless given: §2.3, §2.6)."""
    p = argparse.ArgumentParser(description=description)
    experiment.add_common_arguments(
        p, batch_size=50, num_epochs=200, LR_start=LR_start, LR_fin=LR_fin, sizes=SIZES,
        size_help=["first N rows of %s" % name for name in SETS], output_dir=output_dir, data_help=data_help)
    convnet.add_arguments(p, FILTERS)
    return experiment.parse_checked(p, argv, SIZES)


def load_set(which_set: str, rows: int, folder: Path,
             images: Callable[[np.ndarray], np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """The first ``rows`` rows of pylearn2's SVHN(which_set) from ``<folder>/h5/`` as (N,3,32,32) inputs
    ``images(X)`` and (N,10) targets 2y-1 from the one-hot y (§2.3, §3.3)."""
    dataset = svhn.SVHN(which_set, path=str(folder))
    return images(take_rows(dataset.X, None, rows)), experiment.pm1(take_rows(dataset.y, None, rows))


def load(args: argparse.Namespace, folder: Optional[Path] = None,
         images: Callable[[np.ndarray], np.ndarray] = convnet.scale_pixels) -> experiment.Data:
    """splitted_train, valid, test (§2.3, §2.6): each set's first --*-size rows (all of them by default), read
    from ``folder`` (default: pylearn2's ``$PYLEARN2_DATA_PATH/SVHN/format2/``), pixels scaled to [-1, 1] by
    default."""
    folder = svhn.default_folder(args.data_path) if folder is None else folder
    sizes = (args.train_size, args.valid_size, args.test_size)
    return sum((load_set(name, rows, folder, images) for name, rows in zip(SETS, sizes)), ())


def main(argv: Optional[List[str]] = None) -> int:
    """The script (§2.3); returns the exit status."""
    args = parse_args(argv)
    return convnet.run(args, "Loading SVHN dataset", lambda: load(args),
                       [("shuffle_parts", experiment.SHUFFLE_PARTS)])


if __name__ == "__main__":
    sys.exit(main())
