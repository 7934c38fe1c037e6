"""Batch norm and sign folded into one threshold per unit, read off Theano's own float32 evaluation
(docs/EXPORT.md, "Thresholds"; docs/REPRODUCTION.md §1.2, §1.8, traps 8 and 32).

A stage's *tail* is everything after its dot product or convolution: + b, [max-pool,] batch norm [, sign]. It is
compiled here from the network's own layers (``lasagne.layers.get_output`` with the binary layer's output replaced
by ``pre + b``), so Theano fuses it into the very Composite the network's deterministic graph contains. That
Composite is not the textbook formula: it computes ``(1 + ((pre + b - mean) * gamma) * inv_std) + beta`` (the
sign's ``1 +`` merged with ``+ beta``, multiplications left to right), and g++ -O3 -march=native fuses the
``1 + ...`` into an FMA. No NumPy formula reproduces that on every unit, hence the tails are evaluated.

Every tail is monotone in ``pre`` (each float32 step is a correctly rounded monotone operation, and max-pooling
commutes with a monotone function), so its sign output is a step: +1 from a threshold on, or up to one.
"""

import compat  # noqa: F401  (must precede theano and lasagne)

from typing import Callable, Tuple

import lasagne
import numpy as np
import theano
import theano.tensor as T

from deploy.layout import valid_taps
from deploy.stages import Stage
from harness.errors import UserError

ELEMENTS_PER_CALL = 1 << 22
# The first layer's float32 pre-activation is searched in [-SEARCH_LIMIT, SEARCH_LIMIT]: |pre| <= fan_in for
# inputs in [-1, 1], and the limit leaves room for any input scale without overflowing the batch norm.
SEARCH_LIMIT = np.float32(2.0**32)


def compile_tail(stage: Stage) -> theano.compile.Function:
    """Theano's deterministic float32 computation of the stage from its binary layer's dot product (or
    convolution) ``pre`` to its sign (at the output: its batch norm), compiled from the network's own layers."""
    layer = stage.binary
    pre = T.tensor4("pre") if stage.is_conv else T.matrix("pre")
    activation = pre
    if layer.b is not None:  # as Lasagne's DenseLayer / Conv2DLayer add the bias
        activation = activation + layer.b.dimshuffle(("x", 0, "x", "x") if stage.is_conv else ("x", 0))
    output = lasagne.layers.get_output(stage.last, inputs={layer: layer.nonlinearity(activation)}, deterministic=True)
    return theano.function([pre], output)


def tail_function(stage: Stage) -> Callable[[np.ndarray], np.ndarray]:
    """f(values) -> the stage's outputs (K, units) for pre-activations values (K, units)."""
    compiled = compile_tail(stage)
    window = stage.pool_size

    def f(values: np.ndarray) -> np.ndarray:
        results = []
        rows = max(1, ELEMENTS_PER_CALL // (values.shape[1] * window[0] * window[1]))
        for start in range(0, len(values), rows):
            chunk = values[start : start + rows].astype(theano.config.floatX)
            if stage.is_conv:  # every pixel of a pooling window holds the value: the pooled value is the value
                chunk = np.ascontiguousarray(np.broadcast_to(chunk[:, :, None, None], chunk.shape + window))
            results.append(np.asarray(compiled(chunk)).reshape(len(chunk), -1))
        return np.concatenate(results)

    return f


def reachable_sums(stage: Stage) -> np.ndarray:
    """The integers a hidden stage's pre-activation can take, ascending: the dot product of n ±1 inputs has n's
    parity; a convolution sums only the taps inside the image (zero padding adds nothing), so border pixels
    have fewer inputs, possibly of the other parity; max-pooling mixes pixels."""
    if not stage.is_conv:
        return np.arange(-stage.fan_in, stage.fan_in + 1, 2)
    _, channels, height, width = stage.binary.input_shape
    counts = valid_taps(height, width, tuple(stage.binary.filter_size), tuple(stage.binary.pad)).sum(axis=(2, 3))
    counts = counts * channels
    n = counts.max()
    return np.arange(-n, n + 1, 1 if len(np.unique(counts % 2)) > 1 else 2)


def _signs(f: Callable[[np.ndarray], np.ndarray], values: np.ndarray, stage: Stage) -> np.ndarray:
    """f(values) as int8 ±1, refusing anything else (NaN or a non-sign output)."""
    out = f(values)
    if not np.isin(out, (-1.0, 1.0)).all():
        raise UserError("%s: the sign activation gave values other than ±1 (non-finite parameters?)" % stage.binary)
    return out.astype(np.int8)


def integer_thresholds(stage: Stage) -> Tuple[np.ndarray, np.ndarray]:
    """(flipped, threshold) of a hidden stage: the unit is +1 iff s' >= threshold, where s' is the integer dot
    product with the unit's weight row negated when ``flipped`` (its output falls as s grows: gamma * inv_std < 0).

    The tail is evaluated at every reachable integer and checked to be monotone. A constant unit (gamma * inv_std
    = 0: the output is sign(beta), trap 32 included) gets a threshold no s' reaches (always -1) or every s'
    reaches (always +1), unflipped.
    """
    candidates = reachable_sums(stage)
    units = stage.norm.beta.get_value(borrow=True).shape[0]
    out = _signs(tail_function(stage), np.repeat(candidates[:, None], units, axis=1), stage)
    if ((out[1:] != out[:-1]).sum(axis=0) > 1).any():
        raise UserError("%s: the batch norm + sign is not monotone in the pre-activation" % stage.binary)
    flipped = (out[0] == 1) & (out[-1] == -1)
    rising = (out[0] == -1) & (out[-1] == 1)
    n = stage.fan_in
    threshold = np.where(out[-1] == 1, -n, n + 1)  # constant units (and the default of the two cases below)
    threshold = np.where(rising, candidates[np.argmax(out == 1, axis=0)], threshold)
    # Falling: +1 iff s <= c, the last candidate giving +1, i.e. s' = -s >= -c.
    last_plus = candidates[len(candidates) - 1 - np.argmax(out[::-1] == 1, axis=0)]
    threshold = np.where(flipped, -last_plus, threshold)
    return flipped, threshold.astype(np.int32)


def _keys(x: np.ndarray) -> np.ndarray:
    """float32 -> int64, order preserving (-0.0 just below +0.0)."""
    bits = np.asarray(x, dtype=np.float32).view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFF) - 1, bits)


def _floats(keys: np.ndarray) -> np.ndarray:
    """The inverse of ``_keys``."""
    bits = np.where(keys < 0, -(np.asarray(keys) + 1) | 0x80000000, keys)
    return bits.astype(np.uint32).view(np.float32)


def float_thresholds(stage: Stage) -> Tuple[np.ndarray, np.ndarray]:
    """(flipped, threshold) of the first stage, whose pre-activation z is a float32 (real inputs times ±1
    weights): the unit is +1 iff z' >= threshold (float32), z' = -z when ``flipped``.

    The threshold is the smallest float32 z' giving +1, found by bisection on the float32 ordering within
    ±SEARCH_LIMIT; ±inf for constant units. The result is checked at the threshold, its predecessor and a
    grid of 4096 points.
    """
    f = tail_function(stage)
    units = stage.norm.beta.get_value(borrow=True).shape[0]
    ends = _signs(f, np.array([[-SEARCH_LIMIT], [SEARCH_LIMIT]], dtype=np.float32).repeat(units, axis=1), stage)
    flipped = (ends[0] == 1) & (ends[1] == -1)
    orient = np.where(flipped, np.float32(-1), np.float32(1))

    def g(z: np.ndarray) -> np.ndarray:  # the output as a function of z' (rising)
        return _signs(f, z * orient, stage)

    low, high = np.full(units, _keys(-SEARCH_LIMIT)), np.full(units, _keys(SEARCH_LIMIT))
    while (high - low > 1).any():
        middle = (low + high) // 2
        plus = g(_floats(middle)[None])[0] == 1
        high, low = np.where(plus, middle, high), np.where(plus, low, middle)
    constant = ends[0] == ends[1]
    threshold = np.where(constant, np.where(ends[1] == 1, -np.inf, np.inf), _floats(high)).astype(np.float32)
    grid = np.linspace(-SEARCH_LIMIT, SEARCH_LIMIT, 4096, dtype=np.float32)[:, None]
    probes = np.concatenate([grid.repeat(units, axis=1), _floats(high)[None], _floats(high - 1)[None]])
    if (g(probes) != np.where(probes >= threshold, 1, -1)).any():
        raise UserError("%s: the batch norm + sign is not monotone in the pre-activation" % stage.binary)
    return flipped, threshold


def output_table(stage: Stage) -> np.ndarray:
    """float32 (units, n + 1): the output stage's batch norm output for s = -n, -n + 2, ..., n, as Theano computes
    it; the engine looks its scores up at column (s + n) / 2, bit for bit the deterministic network's output."""
    candidates = reachable_sums(stage)
    units = stage.norm.beta.get_value(borrow=True).shape[0]
    return np.ascontiguousarray(tail_function(stage)(np.repeat(candidates[:, None], units, axis=1)).T, dtype=np.float32)
