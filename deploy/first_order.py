"""The float32 first layer without the BLAS, summed in the BLAS's own order (docs/EXPORT.md, "The first layer").

Theano computes the first layer with one sgemm (a convolution: one per image, CorrMM). With ±1 weights every product
x * w is exact, so an output is fixed by the order in which the sgemm adds its terms. OpenBLAS adds them in blocks of
the reduction axis: the terms of a block one by one from 0, then each block's sum into the output, from 0. Its split
(interface level3: blocks of Q while 2 Q or more terms remain, then the rest in one block, or halved and rounded up to
the kernel's unroll) depends on its version and the CPU's kernels, and on the product's size: OpenBLAS 0.3.21 sums
small products in one block (its small-matrix kernel) and rounds the halves otherwise on one thread than threaded.

``SgemmOrder.split(rows, first_sums)`` finds the split for products of ``rows`` rows at its first use: the splits
that matched other sizes first, then every split, largest blocks first, on two random probes, keeping the first whose
sums equal the sgemm's in every bit. The C library (``first_sums``) then sums in that order from the weights' sign
bits (1/32 of the float32 weights' memory). Where no split matches (another BLAS), the engine keeps calling the sgemm.
"""

import functools
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from deploy import layout

UNROLLS = (1, 2, 4, 8, 16, 32, 64)  # the kernels' unroll factors a split rounds to
PROBE_ROWS, PROBE_UNITS = 2, 64  # the outputs each split is first tried on

Split = Tuple[int, ...]  # bounds 0 < ... < n of the blocks


def openblas_split(n: int, q: int, unroll: int) -> Split:
    """OpenBLAS's blocks for a sum of n terms with block size q."""
    bounds, rest = [0], n
    while rest > 0:
        size = rest
        if rest >= 2 * q:
            size = q
        elif rest > q:
            size = min(rest, (rest // 2 + unroll - 1) // unroll * unroll)
        bounds.append(bounds[-1] + size)
        rest -= size
    return tuple(bounds)


@functools.lru_cache(maxsize=None)
def splits(n: int) -> Tuple[Split, ...]:
    """Every distinct split of n terms, the largest first block first (one block first of all)."""
    every = (openblas_split(n, q, unroll) for q in range(n, 0, -1) for unroll in UNROLLS)
    return tuple(dict.fromkeys(every))


def sign_bits(weights: np.ndarray) -> np.ndarray:
    """float32 ±1 weights (n, units) -> uint64 (words(units), n): bit u % 64 of word [u // 64, k] is 1 where unit u's
    weight k is +1."""
    return np.ascontiguousarray(layout.pack(weights > 0).T)


class SgemmOrder:
    """A first layer's ±1 weights (n, units) as sign bits, summed by a C backend's ``first_sums``
    (deploy.kernels.CKernels) in the order of ``sgemm_rows``: v (rows, n) -> its float32 sums (rows, units) through the
    BLAS, exactly as the first layer calls it."""

    def __init__(self, weights: np.ndarray, sgemm_rows: Callable[[np.ndarray], np.ndarray]) -> None:
        self.units = weights.shape[1]
        self.bits = sign_bits(weights)
        self.sgemm_rows = sgemm_rows
        self.found: Dict[int, Optional[Split]] = {}  # rows -> the sgemm's split, or None
        self._inputs = np.arange(weights.shape[0], dtype=np.int64)

    def sums(self, first_sums: Callable, v: np.ndarray, split: Split) -> np.ndarray:
        """float32 (rows, units): v (rows, n) times the ±1 weights, summed in the order ``split``."""
        return self._sums(first_sums, v, split, self.bits, self.units)

    def _sums(self, first_sums: Callable, v: np.ndarray, split: Split, bits: np.ndarray, units: int) -> np.ndarray:
        n, bounds = len(self._inputs), np.asarray(split, dtype=np.int64)
        return first_sums(v, self._inputs, (1, 1, len(v)), (0, 0, n), bits, units, bounds)

    def conv_sums(
        self, first_sums: Callable, padded: np.ndarray, filter_size: Tuple[int, int], split: Split
    ) -> np.ndarray:
        """float32 (N * out_h * out_w, filters): the stride-1 convolution of zero-padded images (N, C, H, W) with the
        ±1 filters (taps in order channel, row, column, as CorrMM's columns), summed in the order ``split``."""
        images, channels, height, width = padded.shape
        (kh, kw), plane = filter_size, height * width
        taps = (np.arange(channels)[:, None, None] * plane + np.arange(kh)[:, None] * width + np.arange(kw)).ravel()
        grid = (images, height - kh + 1, width - kw + 1)
        strides, bounds = (channels * plane, width, 1), np.asarray(split, dtype=np.int64)
        return first_sums(padded, taps.astype(np.int64), grid, strides, self.bits, self.units, bounds)

    def split(self, rows: int, first_sums: Callable) -> Optional[Split]:
        """The sgemm's split for products of ``rows`` rows (found at the first call for that size), or None."""
        if rows not in self.found:
            self.found[rows] = self._find(rows, first_sums)
        return self.found[rows]

    def _find(self, rows: int, first_sums: Callable) -> Optional[Split]:
        """Tried on uniform random inputs in [-1, 1): nearly every sum rounds, so a wrong order shows in many outputs;
        the split kept must give every output of two such products."""
        n = len(self._inputs)
        seeds = (2 * rows, 2 * rows + 1)
        probes = [np.random.RandomState(seed).uniform(-1, 1, (rows, n)).astype(np.float32) for seed in seeds]
        expected = [self.sgemm_rows(probe) for probe in probes]
        few, few_units = self.bits[:1], min(PROBE_UNITS, self.units)
        known = [split for split in self.found.values() if split is not None]
        for split in known + [split for split in splits(n) if split not in known]:
            ours = self._sums(first_sums, probes[0][:PROBE_ROWS], split, few, few_units)
            if np.array_equal(ours, expected[0][:PROBE_ROWS, :few_units]):
                exact = all(np.array_equal(self.sums(first_sums, p, split), e) for p, e in zip(probes, expected))
                return split if exact else None
        return None

    def described(self) -> str:
        """The splits found so far, in words."""
        found = sorted((rows, split) for rows, split in self.found.items())
        return ", ".join(
            "%d rows: %s" % (rows, "+".join(str(b - a) for a, b in zip(split, split[1:])) if split else "none")
            for rows, split in found
        )
