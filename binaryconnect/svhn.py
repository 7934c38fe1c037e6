"""BinaryConnect SVHN ConvNet (the ``lasagne`` branch's svhn.py; REPRODUCTION.md §2.6):
``python -m binaryconnect.svhn``.

With no flags this is the paper's experiment (the CIFAR-10 ConvNet with filters 64, 64, 128, 128, 256, 256,
stochastic binary weights, BinaryConnect's batch normalization with the ReLU inside, 200 epochs, expected test
error about 2.15 %) on the GCN + LCN h5 files that ``make svhn-preprocess`` writes to ``$SVHN_LOCAL_PATH/h5/``
(splitted_train, valid, test), values used as they are. The training set takes 7.35 GB of memory. Like the
original it saves no parameters; ``--output-dir`` receives ``log.jsonl`` and ``checkpoint.npz`` (rerun the
same command to resume).
"""
import compat  # noqa: F401  (must precede theano and lasagne)

import argparse
import sys
from typing import List, Optional

from binarynet import convnet, experiment
from binarynet import svhn as binarynet_svhn
from datasets import svhn
from datasets.files import DatasetError
from datasets.paths import folder_from_env

PREPROCESS_COMMAND = "make svhn-preprocess"


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    """Command-line flags; every default is the paper's setting (§2.6)."""
    return binarynet_svhn.parse_args(
        argv, "BinaryConnect SVHN ConvNet; the defaults are the paper's settings.", LR_start=.01, LR_fin=.000003,
        output_dir="runs/binaryconnect-svhn",
        data_help="folder whose h5/ holds the GCN + LCN files of `%s` (default: $SVHN_LOCAL_PATH)"
                  % PREPROCESS_COMMAND)


def load(args: argparse.Namespace) -> experiment.Data:
    """SVHN(which_set, path=$SVHN_LOCAL_PATH) for splitted_train, valid, test (§2.6): the preprocessed values
    as (N,3,32,32) inputs, not rescaled (trap 21), one-hot y -> 2y - 1; each set's first --*-size rows."""
    folder = folder_from_env(args.data_path, "SVHN_LOCAL_PATH", "export SVHN_LOCAL_PATH=/path/to/local/SVHN "
                             "(make sets it to $PYLEARN2_DATA_PATH/local), or pass --data-path")
    missing = [str(svhn.h5_path(folder, name)) for name in binarynet_svhn.SETS
               if not svhn.h5_path(folder, name).is_file()]
    if missing:
        raise DatasetError("missing preprocessed SVHN file(s) %s: run `%s` (GCN + LCN of the SVHN h5 files into "
                           "$SVHN_LOCAL_PATH/h5/)" % (", ".join(missing), PREPROCESS_COMMAND))
    return binarynet_svhn.load(args, folder, convnet.as_images)


def main(argv: Optional[List[str]] = None) -> int:
    """The script (§2.6); returns the exit status."""
    args = parse_args(argv)
    return convnet.run(args, "Loading SVHN dataset", lambda: load(args), [], experiment.BINARY_CONNECT)


if __name__ == "__main__":
    sys.exit(main())
