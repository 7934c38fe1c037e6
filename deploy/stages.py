"""A network of binary_net / binaryconnect layers read as stages: binary layer [-> max-pool] -> batch norm [-> sign]
(docs/REPRODUCTION.md §1.3, §1.8, §2; trap 8: the pool sits between a convolution and its batch norm).
"""

import compat  # noqa: F401  (must precede theano and lasagne)

from typing import List, NamedTuple, Optional, Tuple

import lasagne
import numpy as np
import theano
import theano.tensor as T

from binaryconnect import batch_norm as bc_batch_norm
from binarynet import binary_net
from harness.errors import UserError

BINARY_LAYERS = (binary_net.DenseLayer, binary_net.Conv2DLayer)
NORM_LAYERS = (binary_net.BatchNormLayer, bc_batch_norm.BatchNormLayer)
# Lasagne 0.1's Conv2DLayer calls one of these with filter_flip left at True: a true convolution (trap 23).
FLIPPING_CONVOLUTIONS = (binary_net.conv2d_without_shape_hints, T.nnet.conv2d)


class Stage(NamedTuple):
    """One binary layer and what follows it up to the next binary layer (dropout is the identity at test time)."""

    binary: lasagne.layers.Layer  # binary_net.DenseLayer or Conv2DLayer
    pool: Optional[lasagne.layers.Layer]  # MaxPool2DLayer before the batch norm (trap 8)
    norm: lasagne.layers.Layer  # binary_net's (Lasagne's) or BinaryConnect's batch norm (§1.8)
    sign: Optional[lasagne.layers.Layer]  # NonlinearityLayer(binary_tanh_unit); None at the output and for BC

    @property
    def is_conv(self) -> bool:
        return isinstance(self.binary, binary_net.Conv2DLayer)

    @property
    def last(self) -> lasagne.layers.Layer:
        return self.norm if self.sign is None else self.sign

    @property
    def fan_in(self) -> int:
        """Inputs of one output unit: n_in for a dense layer, C_in * kh * kw for a convolution."""
        return int(
            np.prod(self.binary.W.get_value(borrow=True).shape[1:] if self.is_conv else self.binary.input_shape[1:])
        )

    @property
    def pool_size(self) -> Tuple[int, int]:
        return (1, 1) if self.pool is None else tuple(self.pool.pool_size)


def is_sign(layer: lasagne.layers.Layer) -> bool:
    """A NonlinearityLayer applying BinaryNet's sign activation (§1.2)."""
    return isinstance(layer, lasagne.layers.NonlinearityLayer) and layer.nonlinearity is binary_net.binary_tanh_unit


def _describe(index: int, layer: lasagne.layers.Layer) -> str:
    return "layer %d (%s)" % (index, type(layer).__name__)


def _check_binary(index: int, layer: lasagne.layers.Layer) -> None:
    """The settings the packed arithmetic assumes; every script uses them (§1.3, §2)."""
    what = _describe(index, layer)
    if not layer.binary:
        raise UserError("%s has real-valued weights (binary=False): there is nothing to pack" % what)
    if layer.H != 1:
        raise UserError(
            "%s has H = %s; packed weights are ±1, which needs H = 1 (every script's value)" % (what, layer.H)
        )
    if layer.nonlinearity is not lasagne.nonlinearities.identity:
        raise UserError(
            "%s has its own nonlinearity; the scripts put batch norm and the activation in layers of their own" % what
        )
    if getattr(layer, "untie_biases", False):
        raise UserError("%s has untied biases (one per pixel); the scripts use one per filter" % what)
    if isinstance(layer, binary_net.Conv2DLayer):
        if tuple(layer.stride) != (1, 1) or not all(isinstance(p, int) for p in layer.pad):
            raise UserError(
                "%s: only stride 1 and integer zero padding are supported (the scripts: 3x3, "
                "pad=1, stride 1), not stride %s, pad %r" % (what, layer.stride, layer.pad)
            )
        if layer.convolution not in FLIPPING_CONVOLUTIONS:
            raise UserError(
                "%s computes its convolution with %r; the export assumes Theano's conv2d, which "
                "flips the filters (trap 23)" % (what, layer.convolution)
            )


def _check_pool(index: int, layer: lasagne.layers.Layer) -> None:
    if not (
        isinstance(layer, lasagne.layers.MaxPool2DLayer)
        and layer.mode == "max"
        and layer.ignore_border
        and tuple(layer.stride) == tuple(layer.pool_size)
        and tuple(layer.pad) == (0, 0)
    ):
        raise UserError(
            "%s: only non-overlapping max-pooling without padding (ignore_border=True) is supported"
            % _describe(index, layer)
        )


def read_stages(network: lasagne.layers.Layer) -> List[Stage]:
    """The stages of ``network`` (its output layer), input to output.

    Accepted: InputLayer, DropoutLayer anywhere, then stages of a binary Dense/Conv2D layer, a max-pool (after a
    convolution), a batch norm and, for BinaryNet's batch norm, a sign layer after every stage but the last.
    A dense layer may follow convolutions (it flattens channel-major, trap 24); no convolution follows a dense
    layer. Anything else raises UserError.
    """
    if theano.config.floatX != "float32":
        raise UserError(
            "floatX is %s; the export reproduces the float32 arithmetic of the originals (trap 25)"
            % theano.config.floatX
        )
    layers = lasagne.layers.get_all_layers(network)
    if not isinstance(layers[0], lasagne.layers.InputLayer):
        raise UserError("the network must start with an InputLayer")
    parts: List[list] = []  # [binary, pool, norm, sign] per stage, filled in order
    for index, layer in enumerate(layers[1:], 1):
        current = parts[-1] if parts else None
        if isinstance(layer, lasagne.layers.DropoutLayer):
            continue  # the identity when deterministic (§1.9)
        if isinstance(layer, BINARY_LAYERS):
            if current is not None and current[2] is None:
                raise UserError("%s follows a binary layer without batch norm in between" % _describe(index, layer))
            if (
                current is not None
                and isinstance(layer, binary_net.Conv2DLayer)
                and not isinstance(current[0], binary_net.Conv2DLayer)
            ):
                raise UserError(
                    "%s: a convolution after a dense layer is not a BinaryNet topology" % _describe(index, layer)
                )
            _check_binary(index, layer)
            parts.append([layer, None, None, None])
        elif (
            isinstance(layer, lasagne.layers.Pool2DLayer)
            and current is not None
            and current[2] is None
            and current[1] is None
            and isinstance(current[0], binary_net.Conv2DLayer)
        ):
            _check_pool(index, layer)
            current[1] = layer
        elif isinstance(layer, NORM_LAYERS) and current is not None and current[2] is None:
            current[2] = layer
        elif (
            is_sign(layer)
            and current is not None
            and isinstance(current[2], binary_net.BatchNormLayer)
            and current[3] is None
        ):
            current[3] = layer
        else:
            raise UserError(
                "%s does not fit a BinaryNet or BinaryConnect network (binary layer [-> max-pool] -> "
                "batch norm [-> sign], dropout anywhere)" % _describe(index, layer)
            )
    if not parts or parts[-1][2] is not layers[-1]:
        raise UserError("the network must end with a binary layer and its batch norm (no activation, trap 9)")
    stages = [Stage(*part) for part in parts]
    for stage in stages[:-1]:
        if isinstance(stage.norm, binary_net.BatchNormLayer) and stage.sign is None:
            raise UserError("the hidden layer %s has no sign activation after its batch norm" % stage.binary)
    return stages


def not_runnable_reason(stages: List[Stage]) -> Optional[str]:
    """Why the test-time network of ``stages`` is not a network of ±1 weights and ±1 activations, or None."""
    reasons = []
    if any(stage.binary.stochastic for stage in stages):
        reasons.append(
            "its weights are binarized stochastically, so its test-time network uses the real-valued "
            "weights (docs/REPRODUCTION.md §1.1, trap 1)"
        )
    if any(isinstance(stage.norm, bc_batch_norm.BatchNormLayer) for stage in stages):
        reasons.append("its hidden activations are BinaryConnect's batch norm + ReLU, real-valued (§1.8)")
    if len(stages) < 2:
        reasons.append("its only binary layer has real-valued inputs: no layer has ±1 inputs to pack")
    return "; ".join(reasons) or None
