"""BinaryNet MNIST MLP (Train-time/mnist.py; REPRODUCTION.md §2.1): ``python -m binarynet.mnist``.

With no flags this is the paper's experiment (3 x 4096 binary units, 1000 epochs, expected test error
about 0.96 %). Flags make smaller runs. Output (``--output-dir``): ``log.jsonl`` (one JSON object per
epoch), ``mnist_parameters.npz`` (the best epoch's parameters, keys arr_0..arr_23) and ``checkpoint.npz``;
rerunning the same command after an interruption resumes from the last completed epoch.
"""
import compat  # noqa: F401  (must precede theano and lasagne)

import argparse
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import lasagne
import numpy as np
import theano.tensor as T

from binarynet import binary_net
from binarynet.checkpoint import Checkpoint, CheckpointMismatch
from datasets.files import DatasetError
from datasets.mnist import MNIST

TRAIN_ROWS, VALID_ROWS, TEST_ROWS = 50000, 10000, 10000


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    """Command-line flags; every default is the paper's setting."""
    p = argparse.ArgumentParser(description="BinaryNet MNIST MLP; the defaults are the paper's settings.")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--alpha", type=float, default=.1, help="BN running-average weight of the new batch")
    p.add_argument("--epsilon", type=float, default=1e-4, help="BN epsilon")
    p.add_argument("--num-units", type=int, default=4096)
    p.add_argument("--n-hidden-layers", type=int, default=3)
    p.add_argument("--num-epochs", type=int, default=1000)
    p.add_argument("--dropout-in", type=float, default=.2)
    p.add_argument("--dropout-hidden", type=float, default=.5)
    p.add_argument("--LR-start", type=float, default=.003)
    p.add_argument("--LR-fin", type=float, default=.0000003)
    p.add_argument("--train-size", type=int, default=TRAIN_ROWS,
                   help="training rows 0..N of the official training file (paper: 50000)")
    p.add_argument("--valid-size", type=int, default=VALID_ROWS,
                   help="validation rows 50000..50000+N of the official training file (paper: 10000)")
    p.add_argument("--test-size", type=int, default=TEST_ROWS, help="first N rows of the test file (paper: 10000)")
    p.add_argument("--seed", type=int, default=1234, help="global np.random seed (paper: 1234)")
    p.add_argument("--data-path", help="pylearn2 data folder (default: $PYLEARN2_DATA_PATH)")
    p.add_argument("--output-dir", default="runs/binarynet-mnist", help="log, parameters and checkpoint go here")
    args = p.parse_args(argv)
    if not 0 < args.train_size <= TRAIN_ROWS or not 0 < args.valid_size <= VALID_ROWS \
            or not 0 < args.test_size <= TEST_ROWS:
        p.error("sizes must be in 1..%d (train), 1..%d (valid), 1..%d (test)" % (TRAIN_ROWS, VALID_ROWS, TEST_ROWS))
    return args


def load_set(which_set: str, start: int, stop: int, data_path: Optional[str]) -> Tuple[np.ndarray, np.ndarray]:
    """pylearn2 MNIST rows start..stop, as (N,1,28,28) inputs in [-1, 1] and (N,10) targets in {-1, +1}."""
    dataset = MNIST(which_set=which_set, start=start, stop=stop, center=False, path=data_path)
    X = 2 * dataset.X.reshape(-1, 1, 28, 28) - 1.
    y = 2 * np.float32(np.eye(10)[np.hstack(dataset.y)]) - 1.
    return X, y


def build_mlp(input: T.TensorVariable, args: argparse.Namespace, activation, binary: bool, stochastic: bool,
              H: float, W_LR_scale: str) -> lasagne.layers.Layer:
    """Input -> Dropout -> n x [binary Dense -> BN -> sign -> Dropout] -> binary Dense(10) -> BN (§2.1)."""
    mlp = lasagne.layers.InputLayer(shape=(None, 1, 28, 28), input_var=input)
    mlp = lasagne.layers.DropoutLayer(mlp, p=args.dropout_in)
    for _ in range(args.n_hidden_layers):
        mlp = binary_net.DenseLayer(mlp, binary=binary, stochastic=stochastic, H=H, W_LR_scale=W_LR_scale,
                                    nonlinearity=lasagne.nonlinearities.identity, num_units=args.num_units)
        mlp = binary_net.BatchNormLayer(mlp, epsilon=args.epsilon, alpha=args.alpha)
        mlp = lasagne.layers.NonlinearityLayer(mlp, nonlinearity=activation)
        mlp = lasagne.layers.DropoutLayer(mlp, p=args.dropout_hidden)
    mlp = binary_net.DenseLayer(mlp, binary=binary, stochastic=stochastic, H=H, W_LR_scale=W_LR_scale,
                                nonlinearity=lasagne.nonlinearities.identity, num_units=10)
    return binary_net.BatchNormLayer(mlp, epsilon=args.epsilon, alpha=args.alpha)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    np.random.seed(args.seed)
    activation = binary_net.binary_tanh_unit
    binary, stochastic, H, W_LR_scale = True, False, 1., "Glorot"
    LR_decay = binary_net.LR_decay(args.LR_start, args.LR_fin, args.num_epochs)
    output_dir = Path(args.output_dir)
    save_path = output_dir / "mnist_parameters.npz"
    shuffle_parts = 1

    for name, value in (("batch_size", args.batch_size), ("alpha", args.alpha), ("epsilon", args.epsilon),
                        ("num_units", args.num_units), ("n_hidden_layers", args.n_hidden_layers),
                        ("num_epochs", args.num_epochs), ("dropout_in", args.dropout_in),
                        ("dropout_hidden", args.dropout_hidden), ("activation", "binary_net.binary_tanh_unit"),
                        ("binary", binary), ("stochastic", stochastic), ("H", H), ("W_LR_scale", W_LR_scale),
                        ("LR_start", args.LR_start), ("LR_fin", args.LR_fin), ("LR_decay", LR_decay),
                        ("save_path", save_path), ("shuffle_parts", shuffle_parts)):
        print("%s = %s" % (name, value))

    print("Loading MNIST dataset...")
    try:
        X_train, y_train = load_set("train", 0, args.train_size, args.data_path)
        X_val, y_val = load_set("train", TRAIN_ROWS, TRAIN_ROWS + args.valid_size, args.data_path)
        X_test, y_test = load_set("test", 0, args.test_size, args.data_path)
    except DatasetError as error:
        print("error: %s" % error, file=sys.stderr)
        return 1

    print("Building the MLP...")
    input = T.tensor4("inputs")
    target = T.matrix("targets")
    mlp = build_mlp(input, args, activation, binary, stochastic, H, W_LR_scale)
    train_fn, val_fn = binary_net.compile_functions(mlp, input, target, binary)

    config = {key: value for key, value in vars(args).items() if key not in ("data_path", "output_dir")}
    print("Training...")
    try:
        binary_net.train(train_fn, val_fn, mlp, args.batch_size, args.LR_start, LR_decay, args.num_epochs,
                         X_train, y_train, X_val, y_val, X_test, y_test, save_path=str(save_path),
                         shuffle_parts=shuffle_parts, checkpoint=Checkpoint(output_dir / "checkpoint.npz", config),
                         log_path=str(output_dir / "log.jsonl"))
    except CheckpointMismatch as error:
        print("error: %s" % error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
