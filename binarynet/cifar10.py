"""BinaryNet CIFAR-10 ConvNet (Train-time/cifar10.py; docs/REPRODUCTION.md §2.2): ``python -m binarynet.cifar10``.

Read top to bottom like the original: its settings with the paper's values, in its printing order; the data; the
ConvNet, layer by layer; then training. With no flags this is the paper's experiment
(2x128C3-MP2-2x256C3-MP2-2x512C3-MP2-2x1024FC-10, 500 epochs, expected test error about 11.40 %); flags make
smaller runs (``--help``). The original saved no parameters; this one keeps the best epoch's in
``cifar10_parameters.npz`` (as BinaryNet MNIST does), beside ``log.jsonl``, ``checkpoint.npz``, ``run.json`` and
``console.log`` in the run folder (``--output-dir``). Rerun the same command to resume.
"""
import compat  # noqa: F401  (must precede theano and lasagne)

from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

import lasagne
import numpy as np
import theano.tensor as T

from binarynet import binary_net
from datasets import cifar10
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
    """BinaryNet CIFAR-10 ConvNet (docs/REPRODUCTION.md §2.2); every default is the paper's setting."""

    EXPERIMENT = "binarynet-cifar10"

    # BN parameters
    batch_size: int = flag(50, positive, "minibatch size")
    alpha: float = flag(.1, moving_average_weight, "BN: weight of the new batch in the running averages")
    epsilon: float = flag(1e-4, positive, "BN: added to the variance")
    # BinaryOut
    activation: str = fixed("binary_net.binary_tanh_unit")
    # BinaryConnect
    binary: bool = fixed(True)
    stochastic: bool = fixed(False)
    H: float = fixed(1.)  # (-H, +H) are the two binary values
    W_LR_scale: str = fixed("Glorot")  # "Glorot" means the coefficients of Glorot's paper
    # Training parameters
    num_epochs: int = flag(500, positive, "training epochs")
    # Decaying LR
    LR_start: float = flag(.001, learning_rate, "learning rate of the first epoch")
    LR_fin: float = flag(.0000003, learning_rate, "the rate the schedule would reach after the last epoch")
    LR_decay: float = derived(lambda s: (s.LR_fin / s.LR_start) ** (1. / s.num_epochs))
    train_set_size: int = flag(45000, at_most(45000), "training rows 0..N of the training set", "--train-size")
    shuffle_parts: int = fixed(1)
    # Not in the original: the network's sizes, the rows of the other sets (for smaller runs), the saved parameters
    filters: Tuple[int, ...] = size((128, 128, 256, 256, 512, 512), "output channels of the six 3x3 convolutions")
    num_units: int = size(1024, "units of the two hidden dense layers")
    valid_size: int = rows(5000, "validation rows 45000..45000+N of the training set")
    test_size: int = rows(10000, "first N rows of the test set")
    save_path: str = parameters_file("cifar10_parameters.npz")


def scale_pixels(dataset: Any) -> None:
    """Raw pixels 0..255 -> [-1, 1] as bc01 images, in place in float32: the original's
    ``reshape(subtract(multiply(2./255., X), 1.), (-1, 3, 32, 32))``, the rows being channel-major (trap 16)."""
    np.multiply(2. / 255., dataset.X, out=dataset.X)
    np.subtract(dataset.X, 1., out=dataset.X)
    dataset.X = dataset.X.reshape(-1, 3, 32, 32)


def load(s: CIFAR10Settings) -> Tuple[cifar10.CIFAR10, cifar10.CIFAR10, cifar10.CIFAR10]:
    """The original's sets (§2.2): rows 0..45000 and 45000..50000 of the training set, the test set; inputs
    scaled to [-1, 1], targets one-hot in {-1, +1}."""
    # cifar10.CHECKSUMS is looked up at call time, so that tests can substitute their own.
    train_set = cifar10.CIFAR10(which_set="train", start=0, stop=s.train_set_size, path=s.data_path,
                                checksums=cifar10.CHECKSUMS)
    valid_set = cifar10.CIFAR10(which_set="train", start=45000, stop=45000 + s.valid_size, path=s.data_path,
                                checksums=cifar10.CHECKSUMS)
    test_set = cifar10.CIFAR10(which_set="test", start=0, stop=s.test_size, path=s.data_path,
                               checksums=cifar10.CHECKSUMS)
    for dataset in (train_set, valid_set, test_set):
        scale_pixels(dataset)
        dataset.y = binary_net.hinge_targets(dataset.y)
    return train_set, valid_set, test_set


def build_cnn(s: Any) -> lasagne.layers.Layer:
    """The original's ConvNet (§2.2, SVHN's too, §2.3): three blocks [Conv -> BN -> sign -> Conv -> MaxPool ->
    BN -> sign] (pooling before BN, trap 8), 2 x [Dense -> BN -> sign], Dense(10) -> BN (trap 9). Convolutions
    3x3, pad 1, with bias; the flatten before the first dense layer is channel-major (trap 24)."""
    binary = dict(binary=s.binary, stochastic=s.stochastic, H=s.H, W_LR_scale=s.W_LR_scale,
                  nonlinearity=lasagne.nonlinearities.identity)
    cnn = lasagne.layers.InputLayer(shape=(None, 3, 32, 32), input_var=T.tensor4("inputs"))
    for first, second in (s.filters[0:2], s.filters[2:4], s.filters[4:6]):  # 128C3-128C3-P2, 256..., 512...
        cnn = binary_net.Conv2DLayer(cnn, num_filters=first, filter_size=(3, 3), pad=1, **binary)
        cnn = binary_net.BatchNormLayer(cnn, epsilon=s.epsilon, alpha=s.alpha)
        cnn = lasagne.layers.NonlinearityLayer(cnn, nonlinearity=binary_net.binary_tanh_unit)
        cnn = binary_net.Conv2DLayer(cnn, num_filters=second, filter_size=(3, 3), pad=1, **binary)
        cnn = lasagne.layers.MaxPool2DLayer(cnn, pool_size=(2, 2))
        cnn = binary_net.BatchNormLayer(cnn, epsilon=s.epsilon, alpha=s.alpha)
        cnn = lasagne.layers.NonlinearityLayer(cnn, nonlinearity=binary_net.binary_tanh_unit)
    for _ in range(2):  # 1024FP-1024FP
        cnn = binary_net.DenseLayer(cnn, num_units=s.num_units, **binary)
        cnn = binary_net.BatchNormLayer(cnn, epsilon=s.epsilon, alpha=s.alpha)
        cnn = lasagne.layers.NonlinearityLayer(cnn, nonlinearity=binary_net.binary_tanh_unit)
    cnn = binary_net.DenseLayer(cnn, num_units=10, **binary)  # 10FP-10SVM
    return binary_net.BatchNormLayer(cnn, epsilon=s.epsilon, alpha=s.alpha)


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
        binary_net.fit(run, build_cnn(s), train_set, valid_set, test_set, shuffle_parts=s.shuffle_parts)


if __name__ == "__main__":
    raise SystemExit(main())
