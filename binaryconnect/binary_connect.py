"""BinaryConnect's building blocks (Courbariaux, Bengio, David 2015; the ``lasagne`` branch's binary_connect.py).

The original repeated most of BinaryNet's binary_net.py; the shared parts are identical in the two originals
and are the very objects of binarynet.binary_net here, so they cannot drift apart:
``hard_sigmoid`` and ``binarization`` (docs/REPRODUCTION.md §1.1), the binary ``DenseLayer`` and ``Conv2DLayer``
(§1.3), ``compute_grads`` and ``clipping_scaling`` (§1.4), and the scripts' ±1 targets ``hinge_targets`` (§1.7).
BinaryConnect's scripts build their training and validation functions exactly as BinaryNet's do
(binary_net.compile_functions).

What differs: BinaryConnect's own ``BatchNormLayer`` (binaryconnect.batch_norm, §1.8) and its ``train`` loop,
which is BinaryNet's without ``shuffle_parts`` (one part, §1.10) and, in the original, without saving parameters
(here the best epoch's are kept, as BinaryNet MNIST does; the results do not change). The original built shuffled
copies of the training set (a row loop over ``np.copy``) where binary_net.train permutes it in place: both draw
the same permutation (np.random.shuffle of range(N)) and apply it to the current order, so every epoch sees the
same minibatches.
"""
import compat  # noqa: F401  (must precede theano and lasagne)

from typing import TYPE_CHECKING, Any

import lasagne

from binaryconnect.batch_norm import BatchNormLayer
from binarynet import binary_net
from binarynet.binary_net import (
    Conv2DLayer,
    DenseLayer,
    LoopState,
    binarization,
    clipping_scaling,
    compute_grads,
    hard_sigmoid,
    hinge_targets,
)

if TYPE_CHECKING:
    from harness.run_folder import RunFolder

__all__ = ["BatchNormLayer", "Conv2DLayer", "DenseLayer", "binarization", "clipping_scaling", "compute_grads",
           "fit", "hard_sigmoid", "hinge_targets"]


def fit(run: "RunFolder", network: lasagne.layers.Layer, train_set: Any, valid_set: Any, test_set: Any) -> LoopState:
    """What every BinaryConnect script does once its network is built: binary_net.fit with BinaryConnect's
    loop, whose training set is shuffled whole (one part; §1.10)."""
    return binary_net.fit(run, network, train_set, valid_set, test_set, shuffle_parts=1)
