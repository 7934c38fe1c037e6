"""BinaryConnect CIFAR-10 ConvNet (the ``lasagne`` branch's cifar10.py; docs/REPRODUCTION.md §2.5):
``python -m binaryconnect.cifar10``.

Read top to bottom like the original: its settings with the paper's values, in its printing order; the data; the
ConvNet, layer by layer; then training. With no flags this is the paper's experiment (BinaryNet's
2x128C3-MP2-2x256C3-MP2-2x512C3-MP2-2x1024FC-10 with stochastic binary weights and BinaryConnect's batch
normalization with the ReLU inside, 500 epochs, expected test error about 8.27 %) on the GCN + ZCA-whitened set of
``make cifar10-whitened``, values used as they are. The original saved no parameters; this one keeps the best
epoch's in ``cifar10_parameters.npz``, beside ``log.jsonl``, ``checkpoint.npz``, ``run.json`` and ``console.log``
in the run folder (``--output-dir``). Rerun the same command to resume.
"""
import compat  # noqa: F401  (must precede theano and lasagne)

from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

import lasagne
import numpy as np
import theano.tensor as T

from binaryconnect import batch_norm, binary_connect
from datasets.cifar10_whitened import GCNWhitenedCIFAR10, load_preprocessor
from harness import run_folder
from harness.errors import command
from harness.settings import (
    Settings,
    at_most,
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
class CIFAR10Settings(Settings):
    """BinaryConnect CIFAR-10 ConvNet (docs/REPRODUCTION.md §2.5); every default is the paper's setting."""

    EXPERIMENT = "binaryconnect-cifar10"

    # BN parameters
    batch_size: int = flag(50, positive, "minibatch size")
    alpha: float = flag(.1, moving_average_weight, "BN: weight of the new batch in the running averages")
    epsilon: float = flag(1e-4, positive, "BN: added to the standard deviation")
    # Training parameters
    num_epochs: int = flag(500, positive, "training epochs")
    # BinaryConnect
    binary: bool = fixed(True)
    stochastic: bool = fixed(True)
    H: float = fixed(1.)  # (-H, +H) are the two binary values
    W_LR_scale: str = fixed("Glorot")  # "Glorot" means the coefficients of Glorot's paper
    # Decaying LR
    LR_start: float = flag(.003, learning_rate, "learning rate of the first epoch")
    LR_fin: float = flag(.000002, learning_rate, "the rate the schedule would reach after the last epoch")
    LR_decay: float = derived(lambda s: (s.LR_fin / s.LR_start) ** (1. / s.num_epochs))
    train_set_size: int = flag(45000, at_most(45000), "training rows 0..N of the whitened training set",
                               "--train-size")
    # Not in the original: the network's sizes, the rows of the other sets (for smaller runs), the saved parameters
    filters: Tuple[int, ...] = size((128, 128, 256, 256, 512, 512), "output channels of the six 3x3 convolutions")
    num_units: int = size(1024, "units of the two hidden dense layers")
    valid_size: int = rows(5000, "validation rows 45000..45000+N of the whitened training set")
    test_size: int = rows(10000, "first N rows of the whitened test set")
    save_path: str = parameters_file("cifar10_parameters.npz")


def load(s: CIFAR10Settings) -> Tuple[GCNWhitenedCIFAR10, GCNWhitenedCIFAR10, GCNWhitenedCIFAR10]:
    """The original's sets (§2.5): rows 0..45000 and 45000..50000 of the GCN + ZCA-whitened training set, its test
    set, values used as they are, as bc01 images; targets one-hot in {-1, +1}. Like the original it also loads the
    fitted preprocessor (not applied again): a set without one is refused."""
    load_preprocessor(s.data_path)
    train_set = GCNWhitenedCIFAR10(which_set="train", start=0, stop=s.train_set_size, path=s.data_path)
    valid_set = GCNWhitenedCIFAR10(which_set="train", start=45000, stop=45000 + s.valid_size, path=s.data_path)
    test_set = GCNWhitenedCIFAR10(which_set="test", start=0, stop=s.test_size, path=s.data_path)
    for dataset in (train_set, valid_set, test_set):
        dataset.X = dataset.X.reshape(-1, 3, 32, 32)
        dataset.y = binary_connect.hinge_targets(dataset.y)
    return train_set, valid_set, test_set


def build_cnn(s: Any) -> lasagne.layers.Layer:
    """The original's ConvNet (§2.5): three blocks [Conv -> BN with ReLU -> Conv -> MaxPool -> BN with ReLU] (pooling
    before BN, trap 8), 2 x [Dense -> BN with ReLU], Dense(10) -> BN (trap 9); stochastic binary weights.
    Convolutions 3x3, pad 1, with bias; the flatten before the first dense layer is channel-major (trap 24)."""
    binary = dict(binary=s.binary, stochastic=s.stochastic, H=s.H, W_LR_scale=s.W_LR_scale,
                  nonlinearity=lasagne.nonlinearities.identity)
    relu = lasagne.nonlinearities.rectify
    cnn = lasagne.layers.InputLayer(shape=(None, 3, 32, 32), input_var=T.tensor4("inputs"))
    for first, second in (s.filters[0:2], s.filters[2:4], s.filters[4:6]):  # 128C3-128C3-P2, 256..., 512...
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
    with run_folder.start(CIFAR10Settings, argv) as run:
        s = run.settings
        np.random.seed(s.seed)  # for reproducibility (the original: 1234)
        s.print_listing()
        print("Loading CIFAR-10 dataset...")
        train_set, valid_set, test_set = load(s)
        print("Building the CNN...")
        binary_connect.fit(run, build_cnn(s), train_set, valid_set, test_set)


if __name__ == "__main__":
    raise SystemExit(main())
