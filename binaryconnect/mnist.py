"""BinaryConnect MNIST MLP (the ``lasagne`` branch's mnist.py; docs/REPRODUCTION.md §2.4):
``python -m binaryconnect.mnist``.

Read top to bottom like the original: its settings with the paper's values, in its printing order; the data; the
MLP, layer by layer; then training. With no flags this is the README's experiment (3 x 2048 units with stochastic
binary weights, BinaryConnect's batch normalization with the ReLU inside, 250 epochs, expected test error about
1.15 %; the README stresses that this is not the article's MNIST experiment). Inputs are pixel/255 minus the mean
image of their file (pylearn2's center=True), not rescaled. The original saved no parameters; this one keeps the
best epoch's in ``mnist_parameters.npz``, beside ``log.jsonl``, ``checkpoint.npz``, ``run.json`` and
``console.log`` in the run folder (``--output-dir``). Rerun the same command to resume.
"""
import compat  # noqa: F401  (must precede theano and lasagne)

from dataclasses import dataclass
from typing import List, Optional, Tuple

import lasagne
import numpy as np
import theano.tensor as T

from binaryconnect import batch_norm, binary_connect
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
    parameters_file,
    positive,
    probability,
    rows,
)


@dataclass(frozen=True)
class MNISTSettings(Settings):
    """BinaryConnect MNIST MLP (docs/REPRODUCTION.md §2.4); every default is the paper's setting."""

    EXPERIMENT = "binaryconnect-mnist"

    # BN parameters
    batch_size: int = flag(100, positive, "minibatch size")
    alpha: float = flag(.15, moving_average_weight, "BN: weight of the new batch in the running averages")
    epsilon: float = flag(1e-4, positive, "BN: added to the standard deviation")
    # MLP parameters
    num_units: int = flag(2048, positive, "units of each hidden layer")
    n_hidden_layers: int = flag(3, positive, "hidden layers")
    # Training parameters
    num_epochs: int = flag(250, positive, "training epochs")
    # Dropout parameters
    dropout_in: float = flag(0., probability, "dropout probability of the input (0 means no dropout)")
    dropout_hidden: float = flag(0., probability, "dropout probability after each hidden layer")
    # BinaryConnect
    binary: bool = fixed(True)
    stochastic: bool = fixed(True)
    H: float = fixed(1.)  # (-H, +H) are the two binary values
    W_LR_scale: str = fixed("Glorot")  # printed; the layers are not given it and take their default, "Glorot"
    # Decaying LR
    LR_start: float = flag(.001, learning_rate, "learning rate of the first epoch")
    LR_fin: float = flag(.000003, learning_rate, "the rate the schedule would reach after the last epoch")
    LR_decay: float = derived(lambda s: (s.LR_fin / s.LR_start) ** (1. / s.num_epochs))
    # Not in the original: the rows of each set (for smaller runs), the saved parameters
    train_size: int = rows(50000, "training rows 0..N of the official training file")
    valid_size: int = rows(10000, "validation rows 50000..50000+N of the official training file")
    test_size: int = rows(10000, "first N rows of the test file")
    save_path: str = parameters_file("mnist_parameters.npz")


def load(s: MNISTSettings) -> Tuple[MNIST, MNIST, MNIST]:
    """The original's sets (§2.4): training rows 0..50000 and validation rows 50000..60000 of the training file,
    the test file, each centred with the mean image of its whole file (trap 15), as bc01 images; targets one-hot
    in {-1, +1}."""
    train_set = MNIST(which_set="train", start=0, stop=s.train_size, center=True, path=s.data_path)
    valid_set = MNIST(which_set="train", start=50000, stop=50000 + s.valid_size, center=True, path=s.data_path)
    test_set = MNIST(which_set="test", start=0, stop=s.test_size, center=True, path=s.data_path)
    for dataset in (train_set, valid_set, test_set):
        dataset.X = dataset.X.reshape(-1, 1, 28, 28)
        dataset.y = binary_connect.hinge_targets(dataset.y)
    return train_set, valid_set, test_set


def build_mlp(s: MNISTSettings) -> lasagne.layers.Layer:
    """The original's MLP (§2.4): Dropout -> n x [binary Dense -> BN with ReLU -> Dropout] -> binary Dense(10) ->
    BN; dropout p = 0 by default, and those no-op layers still draw their seeds (trap 30)."""
    binary = dict(binary=s.binary, stochastic=s.stochastic, H=s.H, nonlinearity=lasagne.nonlinearities.identity)
    mlp = lasagne.layers.InputLayer(shape=(None, 1, 28, 28), input_var=T.tensor4("inputs"))
    mlp = lasagne.layers.DropoutLayer(mlp, p=s.dropout_in)
    for _ in range(s.n_hidden_layers):
        mlp = binary_connect.DenseLayer(mlp, num_units=s.num_units, **binary)
        mlp = batch_norm.BatchNormLayer(mlp, epsilon=s.epsilon, alpha=s.alpha,
                                        nonlinearity=lasagne.nonlinearities.rectify)
        mlp = lasagne.layers.DropoutLayer(mlp, p=s.dropout_hidden)
    mlp = binary_connect.DenseLayer(mlp, num_units=10, **binary)
    return batch_norm.BatchNormLayer(mlp, epsilon=s.epsilon, alpha=s.alpha,
                                     nonlinearity=lasagne.nonlinearities.identity)


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
        binary_connect.fit(run, build_mlp(s), train_set, valid_set, test_set)


if __name__ == "__main__":
    raise SystemExit(main())
