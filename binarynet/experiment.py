"""What the six scripts (BinaryNet's and BinaryConnect's mnist, cifar10, svhn) share (REPRODUCTION.md §1.7,
§1.10-§1.12, §2).

The common flags, the hyperparameter listing in the originals' ``name = value`` form, the ±1 one-hot
targets, what sets one paper's scripts apart from the other's (a ``Method``: the layers after each binary
layer, the printed settings, the training loop; §2.7), and the run itself: seed, print, load, build,
compile, train with a resumable checkpoint and a ``log.jsonl`` (neither changes the results).
"""
import compat  # noqa: F401  (must precede theano and lasagne)

import argparse
import sys
from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import lasagne
import numpy as np
import theano.tensor as T

from binaryconnect import batch_norm, binary_connect
from binarynet import binary_net
from binarynet.checkpoint import Checkpoint, CheckpointMismatch, LoopState
from datasets.files import DatasetError

# (X_train, y_train, X_valid, y_valid, X_test, y_test), in the order binary_net.train takes them.
Data = Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
Hyperparameters = List[Tuple[str, Any]]
# normalize(layer, epsilon, alpha, activation): the batch normalization after a binary layer and the hidden
# activation (None after the output layer, which has none).
Normalize = Callable[[lasagne.layers.Layer, float, float, Optional[Callable]], lasagne.layers.Layer]
SHUFFLE_PARTS = 1  # every BinaryNet script's value (§4 trap 28)
DATA_PATH_HELP = "pylearn2 data folder (default: $PYLEARN2_DATA_PATH)"


def lasagne_batch_norm(incoming: lasagne.layers.Layer, epsilon: float, alpha: float,
                       activation: Optional[Callable]) -> lasagne.layers.Layer:
    """BinaryNet: Lasagne's batch normalization, then the activation as a layer of its own (§1.8, §2.1)."""
    layer = binary_net.BatchNormLayer(incoming, epsilon=epsilon, alpha=alpha)
    return layer if activation is None else lasagne.layers.NonlinearityLayer(layer, nonlinearity=activation)


def binary_connect_batch_norm(incoming: lasagne.layers.Layer, epsilon: float, alpha: float,
                              activation: Optional[Callable]) -> lasagne.layers.Layer:
    """BinaryConnect: its own batch normalization with the activation inside, identity at the output (§1.8,
    §2.4; trap 7)."""
    return batch_norm.BatchNormLayer(incoming, epsilon=epsilon, alpha=alpha, nonlinearity=(
        lasagne.nonlinearities.identity if activation is None else activation))


class LayerSettings(NamedTuple):
    """A script's binary layers (§1.3) and what follows each of them: batch normalization and the activation."""

    activation: Callable
    binary: bool
    stochastic: bool
    H: float
    W_LR_scale: Optional[str]  # None: not passed, the layers' default ("Glorot") applies (trap 29)
    normalize: Normalize = lasagne_batch_norm


PAPER = LayerSettings(binary_net.binary_tanh_unit, True, False, 1., "Glorot")  # BinaryNet's: sign, deterministic


def binary_layer_arguments(binary: bool, stochastic: bool, H: float, W_LR_scale: Optional[str]) -> Dict[str, Any]:
    """Keyword arguments of every binary Dense/Conv2D layer: identity nonlinearity (§1.3), the settings given."""
    arguments = dict(binary=binary, stochastic=stochastic, H=H, nonlinearity=lasagne.nonlinearities.identity)
    if W_LR_scale is not None:
        arguments["W_LR_scale"] = W_LR_scale
    return arguments


def settings_hyperparameters(settings: LayerSettings) -> Hyperparameters:
    """binary, stochastic, H, W_LR_scale as the originals print them (§2)."""
    return [(name, getattr(settings, name)) for name in ("binary", "stochastic", "H", "W_LR_scale")]


def _train_without_model(train_fn: Callable, val_fn: Callable, model: lasagne.layers.Layer, *args: Any,
                         **kwargs: Any) -> LoopState:
    """binary_connect.train, which takes no model, called as binary_net.train is."""
    return binary_connect.train(train_fn, val_fn, *args, **kwargs)


class Method(NamedTuple):
    """One paper's choices, common to its three scripts (§2.7)."""

    layers: LayerSettings
    printed: Hyperparameters  # the layer settings as its scripts print them, BinaryNet's naming the activation
    epochs_first: bool  # its ConvNet scripts print num_epochs before the layer settings (§2.5), not after (§2.2)
    train: Callable[..., LoopState]  # its training loop, called as binary_net.train


BINARY_NET = Method(PAPER, [("activation", "binary_net.binary_tanh_unit")] + settings_hyperparameters(PAPER),
                    False, partial(binary_net.train, shuffle_parts=SHUFFLE_PARTS))
_BINARY_CONNECT_LAYERS = LayerSettings(lasagne.nonlinearities.rectify, True, True, 1., "Glorot",
                                       binary_connect_batch_norm)  # ReLU, stochastic weights
BINARY_CONNECT = Method(_BINARY_CONNECT_LAYERS, settings_hyperparameters(_BINARY_CONNECT_LAYERS), True,
                        _train_without_model)


class SetSizes(NamedTuple):
    """Rows in the paper's training, validation and test sets: the defaults and upper bounds of the size flags."""

    train: int
    valid: int
    test: int


def add_common_arguments(parser: argparse.ArgumentParser, batch_size: int, num_epochs: int, LR_start: float,
                         LR_fin: float, sizes: SetSizes, size_help: Sequence[str], output_dir: str,
                         alpha: float = .1, data_help: str = DATA_PATH_HELP) -> None:
    """Flags every script has; the defaults given are the script's paper settings.

    ``size_help`` says which rows each of --train-size, --valid-size and --test-size selects.
    """
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--alpha", type=float, default=alpha, help="BN running-average weight of the new batch")
    parser.add_argument("--epsilon", type=float, default=1e-4, help="BN epsilon")
    parser.add_argument("--num-epochs", type=int, default=num_epochs)
    parser.add_argument("--LR-start", type=float, default=LR_start)
    parser.add_argument("--LR-fin", type=float, default=LR_fin)
    for flag, default, text in zip(("--train-size", "--valid-size", "--test-size"), sizes, size_help):
        parser.add_argument(flag, type=int, default=default, help="%s (paper: %d)" % (text, default))
    parser.add_argument("--seed", type=int, default=1234, help="global np.random seed (paper: 1234)")
    parser.add_argument("--data-path", help=data_help)
    parser.add_argument("--output-dir", default=output_dir, help="log.jsonl, checkpoint (and saved parameters) go here")


def parse_checked(parser: argparse.ArgumentParser, argv: Optional[List[str]], sizes: SetSizes) -> argparse.Namespace:
    """Parse ``argv``, refusing set sizes outside 1..the paper's size."""
    args = parser.parse_args(argv)
    if not all(0 < n <= limit for n, limit in zip((args.train_size, args.valid_size, args.test_size), sizes)):
        parser.error("sizes must be in 1..%d (train), 1..%d (valid), 1..%d (test)" % sizes)
    return args


def bn_hyperparameters(args: argparse.Namespace) -> Hyperparameters:
    """The first three printed settings of every script: batch_size, alpha, epsilon (§2)."""
    return [("batch_size", args.batch_size), ("alpha", args.alpha), ("epsilon", args.epsilon)]


def LR_hyperparameters(args: argparse.Namespace, LR_decay: float) -> Hyperparameters:
    """LR_start, LR_fin, LR_decay (§1.6)."""
    return [("LR_start", args.LR_start), ("LR_fin", args.LR_fin), ("LR_decay", LR_decay)]


def pm1(one_hot: np.ndarray) -> np.ndarray:
    """0/1 one-hot targets -> {-1, +1} (§1.7): 2y - 1."""
    return 2 * one_hot - 1.


def pm1_one_hot(labels: np.ndarray) -> np.ndarray:
    """Integer labels ((N,) or pylearn2's (N, 1)) -> (N, 10) float32 targets in {-1, +1} (§1.7)."""
    return pm1(np.float32(np.eye(10)[np.hstack(labels)]))


def load_splits(load_set: Callable[[str, int, int, Optional[str]], Tuple[np.ndarray, np.ndarray]],
                args: argparse.Namespace, valid_start: int) -> Data:
    """MNIST's and CIFAR-10's split of pylearn2 files (§2.1, §2.2): train = rows 0..train_size of the training
    file, valid = its rows valid_start..valid_start+valid_size (in file order), test = the test file's first
    test_size rows. ``load_set(which_set, start, stop, data_path)`` gives one set's (inputs, targets).
    """
    return (load_set("train", 0, args.train_size, args.data_path)
            + load_set("train", valid_start, valid_start + args.valid_size, args.data_path)
            + load_set("test", 0, args.test_size, args.data_path))


def run(args: argparse.Namespace, hyperparameters: Hyperparameters, LR_decay: float, loading_message: str,
        load: Callable[[], Data], building_message: str, build: Callable[[T.TensorVariable], lasagne.layers.Layer],
        method: Method = BINARY_NET, save_path: Optional[Path] = None) -> int:
    """A whole script after its flags (§1.10, §1.12): seed np.random, print the settings, load, build, compile
    (the W_LR_scale/H lines), train with ``method``'s loop. Returns the exit status: 1 with an ``error:`` line
    for a missing or damaged dataset, or a checkpoint in ``--output-dir`` written with other settings.

    ``build(input)`` makes the network; ``save_path`` receives the best epoch's parameters (BinaryNet MNIST
    only, §1.11).
    """
    np.random.seed(args.seed)
    for name, value in hyperparameters:
        print("%s = %s" % (name, value))
    output_dir = Path(args.output_dir)
    try:
        print(loading_message)
        data = load()
        print(building_message)
        input = T.tensor4("inputs")
        target = T.matrix("targets")
        network = build(input)
        train_fn, val_fn = binary_net.compile_functions(network, input, target, method.layers.binary)
        config = {key: value for key, value in vars(args).items() if key not in ("data_path", "output_dir")}
        saving = {} if save_path is None else {"save_path": str(save_path)}
        print("Training...")
        method.train(train_fn, val_fn, network, args.batch_size, args.LR_start, LR_decay, args.num_epochs, *data,
                     checkpoint=Checkpoint(output_dir / "checkpoint.npz", config),
                     log_path=str(output_dir / "log.jsonl"), **saving)
    except (DatasetError, CheckpointMismatch) as error:
        print("error: %s" % error, file=sys.stderr)
        return 1
    return 0
