"""How a deploy file lays out bits and convolution taps (docs/EXPORT.md): NumPy only.

Sign bits: 1 means +1, 0 means -1. The fan-in axis (the last axis) is packed into 64-bit little-endian words,
least significant bit first: element k is bit k % 64 of word k // 64. The padding bits of the last word are 0,
in weights and in activations alike, so they never count in popcount(a XOR w).
"""

from typing import Tuple

import numpy as np

FORMAT = "binarynet-packed"  # the file's "format" entry; "version" is VERSION
VERSION = 1
WORD_BITS = 64
WORD = np.dtype("<u8")


def words(n: int) -> int:
    """64-bit words holding n bits."""
    return -(-n // WORD_BITS)


def pack(bits: np.ndarray) -> np.ndarray:
    """bool (..., n) -> uint64 (..., words(n)), LSB first, padding bits 0."""
    n = bits.shape[-1]
    padded = np.zeros(bits.shape[:-1] + (words(n) * WORD_BITS,), dtype=np.uint8)
    padded[..., :n] = bits
    return np.packbits(padded, axis=-1, bitorder="little").view(WORD)


def unpack(packed: np.ndarray, n: int) -> np.ndarray:
    """uint64 (..., words(n)) -> bool (..., n), the inverse of ``pack``."""
    as_bytes = np.ascontiguousarray(packed, dtype=WORD).view(np.uint8)
    return np.unpackbits(as_bytes, axis=-1, count=n, bitorder="little").astype(bool)


def signs(bits: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """Sign bits -> ±1 values."""
    return np.where(bits, dtype(1), dtype(-1))


def conv_output_size(height: int, width: int, filter_size: Tuple[int, int], pad: Tuple[int, int]) -> Tuple[int, int]:
    """Output rows and columns of a stride-1 convolution with zero padding ``pad`` on each side."""
    return height + 2 * pad[0] - filter_size[0] + 1, width + 2 * pad[1] - filter_size[1] + 1


def valid_taps(height: int, width: int, filter_size: Tuple[int, int], pad: Tuple[int, int]) -> np.ndarray:
    """bool (out rows, out columns, kh, kw): whether tap (i, j) of output pixel (y, x) reads input pixel
    (y + i - pad, x + j - pad) inside the image rather than the zero padding, which is neither +1 nor -1."""
    out_rows, out_columns = conv_output_size(height, width, filter_size, pad)
    rows = np.arange(out_rows)[:, None] + np.arange(filter_size[0])[None, :] - pad[0]
    columns = np.arange(out_columns)[:, None] + np.arange(filter_size[1])[None, :] - pad[1]
    rows_ok, columns_ok = (rows >= 0) & (rows < height), (columns >= 0) & (columns < width)
    return rows_ok[:, None, :, None] & columns_ok[None, :, None, :]
