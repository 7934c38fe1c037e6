"""8-bit pixel inputs, and the exact integer first layer they allow (docs/EXPORT.md, "Exact integer first layer").

The MNIST scripts feed x = float32(2 * float32(k / 255) - 1) for pixel values k in 0..255 (binarynet/mnist.py). For
±1 weights w the first layer's pre-activation is then, in exact arithmetic, z = sum_j w_j (2 k_j - 255) / 255: an
integer over 255. With k_j = sum_b 2^b k_jb (bit planes) and 255 = sum_b 2^b, 255 z = sum_b 2^b d_b, where
d_b = sum_j w_j (2 k_jb - 1) is the ±1 dot product of bit plane b with w: eight popcount products. The unit's test
z' >= threshold is then decided exactly, 255 z' >= 255 * threshold (the float64 product is exact for a float32
threshold). Theano sums the rounded float32 x_j instead, rounding again as it adds; where its sum and the exact one
fall on two sides of a threshold, the two paths differ (benchmarks.integer_first_layer counts where).
"""

import numpy as np

from deploy import layout
from deploy.errors import DeployError

LEVELS = 255
BITS = 8


def scaled(k: np.ndarray) -> np.ndarray:
    """Pixel values k (0..255) as the MNIST scripts scale them: float32(2 * float32(k / 255) - 1)."""
    return 2 * (np.asarray(k).astype(np.float32) / np.float32(LEVELS)) - np.float32(1)


def scaled_rgb(k: np.ndarray) -> np.ndarray:
    """Pixel values k (0..255) as the CIFAR-10 and SVHN scripts scale them (binarynet/cifar10.py, svhn.py):
    float32(float32(2 / 255) * k) - 1."""
    return np.float32(2.0 / LEVELS) * np.asarray(k).astype(np.float32) - np.float32(1)


def scale(k: np.ndarray) -> np.ndarray:
    """Images k (N, C, H, W) of 0..255 as the scripts scale them: one channel as MNIST's, three as CIFAR-10's."""
    return scaled(k) if k.shape[1] == 1 else scaled_rgb(k)


def levels(X: np.ndarray) -> np.ndarray:
    """The pixel values k of inputs X = scaled(k): uint8, same shape. DeployError if X is not such an input."""
    k = np.rint((np.asarray(X, dtype=np.float64) + 1) * (LEVELS / 2))
    if k.size and (k.min() < 0 or k.max() > LEVELS or not np.array_equal(scaled(k), X)):
        raise DeployError(
            "the exact integer first layer takes 8-bit pixels scaled as 2 * (k / 255) - 1 (the MNIST "
            "scripts' inputs); these inputs are not"
        )
    return k.astype(np.uint8)


class IntegerFirstLayer:
    """A dense first layer (deploy.engine.Layer, float32 ±1 weights (n, units)) decided in integers."""

    def __init__(self, weights: np.ndarray, threshold: np.ndarray) -> None:
        self.rows = layout.pack(weights.T > 0)  # (units, words(n)), flipped rows negated as in the file
        self.bound = LEVELS * threshold.astype(np.float64)  # exact: a 24-bit mantissa times 8 bits

    def scaled_sums(self, k: np.ndarray, dense_dot) -> np.ndarray:
        """255 z' = sum_b 2^b d_b (int64, (N, units)) for pixels k (N, n), d_b the ±1 dot products of bit plane b
        with the rows, by ``dense_dot`` (a popcount backend's)."""
        images, n = k.shape
        planes = (k[:, None, :] >> np.arange(BITS, dtype=np.uint8)[None, :, None]) & 1  # (N, BITS, n)
        d = dense_dot(layout.pack(planes.reshape(images * BITS, n).astype(bool)), self.rows, n)
        d = d.reshape(images, BITS, -1).astype(np.int64)
        total = d[:, BITS - 1]
        for b in range(BITS - 2, -1, -1):  # Horner: sum_b 2^b d_b
            total = 2 * total + d[:, b]
        return total

    def bits(self, X: np.ndarray, dense_dot) -> np.ndarray:
        """The sign bits (N, units) of inputs X = scaled(k): z' >= threshold as 255 z' >= 255 * threshold."""
        return self.scaled_sums(levels(X).reshape(len(X), -1), dense_dot) >= self.bound
