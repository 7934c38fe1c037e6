"""BinaryConnect SVHN ConvNet (the ``lasagne`` branch's svhn.py; docs/REPRODUCTION.md §2.6):
``python -m binaryconnect.svhn``.

Read top to bottom like the original: its settings with the paper's values, in its printing order; the data; the
ConvNet (CIFAR-10's with filters 64, 64, 128, 128, 256, 256), layer by layer; then training. With no flags this is
the paper's experiment (stochastic binary weights, BinaryConnect's batch normalization with the ReLU inside, 200
epochs, expected test error about 2.15 %) on the GCN + LCN h5 files that ``make svhn-preprocess`` writes to
``$SVHN_LOCAL_PATH/h5/`` (splitted_train, valid, test), values used as they are; the training set takes 7.35 GB of
memory. The original saved no parameters; this one keeps the best epoch's in ``svhn_parameters.npz``, beside
``log.jsonl``, ``checkpoint.npz``, ``run.json`` and ``console.log`` in the run folder (``--output-dir``). Rerun the
same command to resume.
"""
import compat  # noqa: F401  (must precede theano and lasagne)

from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

import lasagne
import numpy as np
import theano.tensor as T

from binaryconnect import batch_norm, binary_connect
from binaryconnect.svhn_preprocessing import PREPROCESS_COMMAND, local_root
from datasets.svhn import SVHN
from harness import run_folder
from harness.errors import command
from harness.settings import (
    Settings,
    derived,
    fixed,
    flag,
    learning_rate,
    moving_average_weight,
    parameters_file,
    positive,
    rows,
    size,
)


@dataclass(frozen=True)
class SVHNSettings(Settings):
    """BinaryConnect SVHN ConvNet (docs/REPRODUCTION.md §2.6); every default is the paper's setting."""

    EXPERIMENT = "binaryconnect-svhn"
    DATA_PATH_HELP = ("folder whose h5/ holds the GCN + LCN files of `%s` (default: $SVHN_LOCAL_PATH)"
                      % PREPROCESS_COMMAND)

    # BN parameters
    batch_size: int = flag(50, positive, "minibatch size")
    alpha: float = flag(.1, moving_average_weight, "BN: weight of the new batch in the running averages")
    epsilon: float = flag(1e-4, positive, "BN: added to the standard deviation")
    # Training parameters
    num_epochs: int = flag(200, positive, "training epochs")
    # BinaryConnect
    binary: bool = fixed(True)
    stochastic: bool = fixed(True)
    H: float = fixed(1.)  # (-H, +H) are the two binary values
    W_LR_scale: str = fixed("Glorot")  # "Glorot" means the coefficients of Glorot's paper
    # Decaying LR
    LR_start: float = flag(.01, learning_rate, "learning rate of the first epoch")
    LR_fin: float = flag(.000003, learning_rate, "the rate the schedule would reach after the last epoch")
    LR_decay: float = derived(lambda s: (s.LR_fin / s.LR_start) ** (1. / s.num_epochs))
    # Not in the original: the network's sizes, the rows of each set (for smaller runs), the saved parameters
    filters: Tuple[int, ...] = size((64, 64, 128, 128, 256, 256), "output channels of the six 3x3 convolutions")
    num_units: int = size(1024, "units of the two hidden dense layers")
    train_size: int = rows(598388, "first N rows of splitted_train")
    valid_size: int = rows(6000, "first N rows of valid")
    test_size: int = rows(26032, "first N rows of test")
    save_path: str = parameters_file("svhn_parameters.npz")


def load(s: SVHNSettings) -> Tuple[SVHN, SVHN, SVHN]:
    """The original's sets (§2.6): ``SVHN(which_set, path=SVHN_LOCAL_PATH)`` for splitted_train, valid and test, the
    GCN + LCN values used as they are (trap 21), as bc01 images; one-hot targets -> {-1, +1}."""
    folder = str(local_root(s.data_path, "--data-path"))
    train_set = SVHN(which_set="splitted_train", path=folder, start=0, stop=s.train_size, fix=PREPROCESS_COMMAND)
    valid_set = SVHN(which_set="valid", path=folder, start=0, stop=s.valid_size, fix=PREPROCESS_COMMAND)
    test_set = SVHN(which_set="test", path=folder, start=0, stop=s.test_size, fix=PREPROCESS_COMMAND)
    for dataset in (train_set, valid_set, test_set):
        dataset.X = dataset.X.reshape(-1, 3, 32, 32)
        dataset.y = 2 * dataset.y - 1.
    return train_set, valid_set, test_set


def build_cnn(s: Any) -> lasagne.layers.Layer:
    """The original's ConvNet (§2.6): three blocks [Conv -> BN with ReLU -> Conv -> MaxPool -> BN with ReLU] (pooling
    before BN, trap 8), 2 x [Dense -> BN with ReLU], Dense(10) -> BN (trap 9); stochastic binary weights.
    Convolutions 3x3, pad 1, with bias; the flatten before the first dense layer is channel-major (trap 24)."""
    binary = dict(binary=s.binary, stochastic=s.stochastic, H=s.H, W_LR_scale=s.W_LR_scale,
                  nonlinearity=lasagne.nonlinearities.identity)
    relu = lasagne.nonlinearities.rectify
    cnn = lasagne.layers.InputLayer(shape=(None, 3, 32, 32), input_var=T.tensor4("inputs"))
    for first, second in (s.filters[0:2], s.filters[2:4], s.filters[4:6]):  # 64C3-64C3-P2, 128..., 256...
        cnn = binary_connect.Conv2DLayer(cnn, num_filters=first, filter_size=(3, 3), pad=1, **binary)
        cnn = batch_norm.BatchNormLayer(cnn, epsilon=s.epsilon, alpha=s.alpha, nonlinearity=relu)
        cnn = binary_connect.Conv2DLayer(cnn, num_filters=second, filter_size=(3, 3), pad=1, **binary)
        cnn = lasagne.layers.MaxPool2DLayer(cnn, pool_size=(2, 2))
        cnn = batch_norm.BatchNormLayer(cnn, epsilon=s.epsilon, alpha=s.alpha, nonlinearity=relu)
    for _ in range(2):  # 1024FP-1024FP
        cnn = binary_connect.DenseLayer(cnn, num_units=s.num_units, **binary)
        cnn = batch_norm.BatchNormLayer(cnn, epsilon=s.epsilon, alpha=s.alpha, nonlinearity=relu)
    cnn = binary_connect.DenseLayer(cnn, num_units=10, **binary)  # 10FP-10SVM
    return batch_norm.BatchNormLayer(cnn, epsilon=s.epsilon, alpha=s.alpha,
                                     nonlinearity=lasagne.nonlinearities.identity)


@command
def main(argv: Optional[List[str]] = None) -> None:
    """The script, as the original: seed, settings, data, ConvNet, training (in its run folder)."""
    with run_folder.start(SVHNSettings, argv) as run:
        s = run.settings
        np.random.seed(s.seed)  # for reproducibility (the original: 1234)
        s.print_listing()
        print("Loading SVHN dataset")
        train_set, valid_set, test_set = load(s)
        print("Building the CNN...")
        binary_connect.fit(run, build_cnn(s), train_set, valid_set, test_set)


if __name__ == "__main__":
    raise SystemExit(main())
