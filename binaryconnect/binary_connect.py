"""BinaryConnect's building blocks (Courbariaux, Bengio, David 2015; the ``lasagne`` branch's binary_connect.py).

The original repeated most of BinaryNet's binary_net.py; the shared parts are identical in the two originals
and are the very objects of binarynet.binary_net here, so they cannot drift apart:
``hard_sigmoid`` and ``binarization`` (REPRODUCTION.md §1.1), the binary ``DenseLayer`` and ``Conv2DLayer``
(§1.3), ``compute_grads`` and ``clipping_scaling`` (§1.4). BinaryConnect's scripts build their training and
validation functions exactly as BinaryNet's do (binary_net.compile_functions).

What differs: BinaryConnect's own ``BatchNormLayer`` (binaryconnect.batch_norm, §1.8) and a ``train`` without
parameter saving or ``shuffle_parts`` (§1.10).
"""
import compat  # noqa: F401  (must precede theano and lasagne)

from typing import Callable, Optional

import numpy as np

from binaryconnect.batch_norm import BatchNormLayer
from binarynet import binary_net
from binarynet.binary_net import (Conv2DLayer, DenseLayer, binarization, clipping_scaling, compute_grads,
                                  hard_sigmoid)
from binarynet.checkpoint import Checkpoint, LoopState

__all__ = ["BatchNormLayer", "Conv2DLayer", "DenseLayer", "binarization", "clipping_scaling", "compute_grads",
           "hard_sigmoid", "train"]


def train(train_fn: Callable, val_fn: Callable, batch_size: int, LR_start: float, LR_decay: float,
          num_epochs: int, X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
          X_test: np.ndarray, y_test: np.ndarray, checkpoint: Optional[Checkpoint] = None,
          log_path: Optional[str] = None) -> LoopState:
    """BinaryConnect's training loop: BinaryNet's (binary_net.train) with no model, no parameter saving and a
    single shuffled part (§1.10). ``checkpoint`` and ``log_path`` are this project's additions, as there.

    The one difference in the loop leaves results unchanged: the original built shuffled copies of the training
    set (a row loop over ``np.copy``), whereas binary_net.train permutes the caller's X_train and y_train in
    place. Both draw the same permutation (np.random.shuffle of range(N)) and apply it to the current order,
    so every epoch sees the same minibatches.
    """
    return binary_net.train(train_fn, val_fn, None, batch_size, LR_start, LR_decay, num_epochs,
                            X_train, y_train, X_val, y_val, X_test, y_test, save_path=None, shuffle_parts=1,
                            checkpoint=checkpoint, log_path=log_path)
