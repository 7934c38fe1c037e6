"""BinaryNet MNIST MLP (Train-time/mnist.py; docs/REPRODUCTION.md §2.1): ``python -m binarynet.mnist``.

Read top to bottom like the original: its settings with the paper's values, in its printing order; the data; the
MLP, layer by layer; then training. With no flags this is the paper's experiment (3 x 4096 binary units, 1000
epochs, expected test error about 0.96 %); flags make smaller runs (``--help``). The run folder (``--output-dir``)
receives ``log.jsonl``, ``mnist_parameters.npz`` (the best epoch's parameters, keys arr_0..arr_23, as the
original), ``checkpoint.npz``, ``run.json`` and ``console.log``; rerunning the same command after an interruption
resumes from the last completed epoch.
"""
import compat  # noqa: F401  (must precede theano and lasagne)

from dataclasses import dataclass
from typing import List, Optional, Tuple

import lasagne
import numpy as np
import theano.tensor as T

from binarynet import binary_net
from datasets.mnist import MNIST
from harness import run_folder
from harness.errors import command
from harness.settings import (
    Settings,
    derived,
    fixed,
    flag,
    learning_rate,
    moving_average_weight,
    positive,
    probability,
    rows,
)


@dataclass(frozen=True)
class MNISTSettings(Settings):
    """BinaryNet MNIST MLP (docs/REPRODUCTION.md §2.1); every default is the paper's setting."""

    EXPERIMENT = "binarynet-mnist"

    # BN parameters
    batch_size: int = flag(100, positive, "minibatch size")
    alpha: float = flag(.1, moving_average_weight, "BN: weight of the new batch in the running averages")
    epsilon: float = flag(1e-4, positive, "BN: added to the variance")
    # MLP parameters
    num_units: int = flag(4096, positive, "units of each hidden layer")
    n_hidden_layers: int = flag(3, positive, "hidden layers")
    # Training parameters
    num_epochs: int = flag(1000, positive, "training epochs")
    # Dropout parameters
    dropout_in: float = flag(.2, probability, "dropout probability of the input (0 means no dropout)")
    dropout_hidden: float = flag(.5, probability, "dropout probability after each hidden layer")
    # BinaryOut
    activation: str = fixed("binary_net.binary_tanh_unit")
    # BinaryConnect
    binary: bool = fixed(True)
    stochastic: bool = fixed(False)
    H: float = fixed(1.)  # (-H, +H) are the two binary values
    W_LR_scale: str = fixed("Glorot")  # "Glorot" means the coefficients of Glorot's paper
    # Decaying LR
    LR_start: float = flag(.003, learning_rate, "learning rate of the first epoch")
    LR_fin: float = flag(.0000003, learning_rate, "the rate the schedule would reach after the last epoch")
    LR_decay: float = derived(lambda s: (s.LR_fin / s.LR_start) ** (1. / s.num_epochs))
    save_path: str = fixed("mnist_parameters.npz")  # in the run folder
    shuffle_parts: int = fixed(1)
    # Not in the original (which always uses every row): the rows of each set, for smaller runs
    train_size: int = rows(50000, "training rows 0..N of the official training file")
    valid_size: int = rows(10000, "validation rows 50000..50000+N of the official training file")
    test_size: int = rows(10000, "first N rows of the test file")


def load(s: MNISTSettings) -> Tuple[MNIST, MNIST, MNIST]:
    """The original's sets (§2.1): training rows 0..50000 and validation rows 50000..60000 of the training file,
    the test file; inputs in bc01 format scaled to [-1, +1], targets one-hot in {-1, +1}."""
    train_set = MNIST(which_set="train", start=0, stop=s.train_size, center=False, path=s.data_path)
    valid_set = MNIST(which_set="train", start=50000, stop=50000 + s.valid_size, center=False, path=s.data_path)
    test_set = MNIST(which_set="test", start=0, stop=s.test_size, center=False, path=s.data_path)
    for dataset in (train_set, valid_set, test_set):
        dataset.X = 2 * dataset.X.reshape(-1, 1, 28, 28) - 1.
        dataset.y = binary_net.hinge_targets(dataset.y)
    return train_set, valid_set, test_set


def build_mlp(s: MNISTSettings) -> lasagne.layers.Layer:
    """The original's MLP (§2.1): Dropout -> n x [binary Dense -> BN -> sign -> Dropout] -> binary Dense(10) -> BN."""
    binary = dict(binary=s.binary, stochastic=s.stochastic, H=s.H, W_LR_scale=s.W_LR_scale,
                  nonlinearity=lasagne.nonlinearities.identity)
    mlp = lasagne.layers.InputLayer(shape=(None, 1, 28, 28), input_var=T.tensor4("inputs"))
    mlp = lasagne.layers.DropoutLayer(mlp, p=s.dropout_in)
    for _ in range(s.n_hidden_layers):
        mlp = binary_net.DenseLayer(mlp, num_units=s.num_units, **binary)
        mlp = binary_net.BatchNormLayer(mlp, epsilon=s.epsilon, alpha=s.alpha)
        mlp = lasagne.layers.NonlinearityLayer(mlp, nonlinearity=binary_net.binary_tanh_unit)
        mlp = lasagne.layers.DropoutLayer(mlp, p=s.dropout_hidden)
    mlp = binary_net.DenseLayer(mlp, num_units=10, **binary)
    return binary_net.BatchNormLayer(mlp, epsilon=s.epsilon, alpha=s.alpha)


@command
def main(argv: Optional[List[str]] = None) -> None:
    """The script, as the original: seed, settings, data, MLP, training (in its run folder)."""
    with run_folder.start(MNISTSettings, argv) as run:
        s = run.settings
        np.random.seed(s.seed)  # for reproducibility (the original: 1234)
        s.print_listing()
        print("Loading MNIST dataset...")
        train_set, valid_set, test_set = load(s)
        print("Building the MLP...")
        binary_net.fit(run, build_mlp(s), train_set, valid_set, test_set, shuffle_parts=s.shuffle_parts)


if __name__ == "__main__":
    raise SystemExit(main())
