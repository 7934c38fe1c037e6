"""LeCun local contrast normalization with pylearn2's semantics (``lecun_lcn``, ``LeCunLCN``;
docs/REPRODUCTION.md §3.4).

pylearn2 compiled a Theano convolution for this; here SciPy convolves directly, accumulating in float64 and rounding
to float32, so results can differ from the original float32 Theano/GPU arithmetic in the last bits.
"""

from typing import Sequence

import numpy as np
from scipy import ndimage

KERNEL_SIZE = 7
SIGMA = 2.0
THRESHOLD = np.float32(1e-4)  # Theano casts the Python float to floatX (float32)
IMAGE_SHAPE = (32, 32)
N_CHANNELS = 3
# pylearn2's LeCunLCN.transform returns inside its loop over channels=[0, 1, 2]: only channel 0 is normalized.
FAITHFUL_CHANNELS = (0,)
ALL_CHANNELS = (0, 1, 2)  # what LeCunLCN meant to do: a deviation from the original


def gaussian_kernel(size: int = KERNEL_SIZE, sigma: float = SIGMA) -> np.ndarray:
    """pylearn2's ``gaussian_filter``: float32 (size, size), centred on floor(size/2), normalized to sum 1.

    Each entry is exp(-(dx²+dy²)/(2σ²))/(2πσ²) in float64, stored as float32; the float32 array is then divided
    by its float32 sum.
    """
    offsets = np.arange(size) - size // 2
    squared_distances = (offsets[:, np.newaxis] ** 2 + offsets[np.newaxis, :] ** 2).astype(np.float64)
    kernel = (1.0 / (2 * np.pi * sigma**2) * np.exp(-squared_distances / (2.0 * sigma**2))).astype(np.float32)
    return kernel / np.sum(kernel)


def _blur(images: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Same-size 2-D convolution of each (H, W) image with ``kernel``, zero padding (Theano 'full' conv cropped)."""
    return ndimage.convolve(images, kernel[np.newaxis], mode="constant", cval=0.0)


def lecun_lcn(images: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """Normalize a stack of single-channel images (N, H, W); float32 in, float32 out (§3.4).

    (x - blur(x)) / max(sqrt(blur(x²)), per-image mean of sqrt(blur(x²)), threshold): the denominator is the local
    weighted RMS of the *uncentred* input.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3:
        raise ValueError("lecun_lcn needs images of shape (N, H, W), got %s" % (images.shape,))
    kernel = gaussian_kernel()
    centred = images - _blur(images, kernel)
    denominator = np.sqrt(_blur(np.square(images), kernel))
    # Theano's mean of float32 sums in float64 and returns float32.
    per_image_mean = denominator.mean(axis=(1, 2), dtype=np.float64).astype(np.float32)
    divisor = np.maximum(denominator, per_image_mean[:, np.newaxis, np.newaxis])
    divisor = np.maximum(divisor, np.float32(threshold))
    return centred / divisor


def lcn_rows(X: np.ndarray, channels: Sequence[int] = FAITHFUL_CHANNELS) -> np.ndarray:
    """pylearn2's ``LeCunLCN((32, 32))`` on a design matrix of channel-major rows (N, 3072); returns a new array.

    Each row is viewed as a 32x32x3 image (pylearn2's ('b', 0, 1, 'c') topological view of rows stored as
    (c, row, col)); the planes of ``channels`` are replaced by ``lecun_lcn`` of themselves, the others are copied
    unchanged. The default, channel 0 only, is the original's behaviour; ``ALL_CHANNELS`` deviates from it.
    """
    X = np.array(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] != N_CHANNELS * IMAGE_SHAPE[0] * IMAGE_SHAPE[1]:
        raise ValueError(
            "lcn_rows needs rows of %d values, got shape %s" % (N_CHANNELS * IMAGE_SHAPE[0] * IMAGE_SHAPE[1], X.shape)
        )
    planes = X.reshape((-1, N_CHANNELS) + IMAGE_SHAPE)  # a view: writing a plane writes X
    for channel in channels:
        planes[:, channel] = lecun_lcn(planes[:, channel])
    return X
