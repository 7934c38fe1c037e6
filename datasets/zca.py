"""ZCA whitening with pylearn2's semantics (``pylearn2.datasets.preprocessing.ZCA``; docs/REPRODUCTION.md §3.2).

Fit on a float32 design matrix X (rows are examples): mu = column means, Xc = X - mu,
C = Xc^T Xc / N + filter_bias * I, (lam, V) = scipy.linalg.eigh(C), P = V diag(1/sqrt(lam)) V^T and, if
``store_inverse``, P^-1 = V diag(sqrt(lam)) V^T. Apply: (X - mu) P. As in pylearn2 (floatX=float32) every
step stays in float32: filter_bias is cast to float32, eigh gets a float32 matrix (so LAPACK's single
precision routine runs), and the eigenvalues are used as eigh returns them (ascending, neither sorted again
nor clipped; a non-positive one is an error). pylearn2 warns that the result differs across platforms and so
may this one: BLAS/LAPACK versions and summation order change the last bits (§5). Not settled: pylearn2's
matrix products ran through Theano (gemm, possibly on a GPU); here they are NumPy's float32 BLAS calls.
"""

from typing import Optional

import numpy as np
import scipy.linalg

APPLY_ROWS = 4096  # rows whitened per matrix product, so apply() needs no full-size temporary


class ZCA:
    """``ZCA(n_components, n_drop_components, filter_bias, store_inverse)`` as in pylearn2; fitted state in
    ``mean_``, ``P_`` and ``inv_P_`` (pylearn2's attribute names)."""

    def __init__(
        self,
        n_components: Optional[int] = None,
        n_drop_components: Optional[int] = None,
        filter_bias: float = 0.1,
        store_inverse: bool = True,
    ) -> None:
        if n_components and n_drop_components:
            raise ValueError("give n_components or n_drop_components, not both")
        self.n_components = n_components
        self.n_drop_components = n_drop_components
        self.filter_bias = np.float32(filter_bias)
        self.store_inverse = store_inverse
        self.mean_: Optional[np.ndarray] = None
        self.P_: Optional[np.ndarray] = None
        self.inv_P_: Optional[np.ndarray] = None

    def fit(self, X: np.ndarray) -> "ZCA":
        """Estimate mean_, P_ (and inv_P_) from the float32 rows of ``X``, which is left unchanged."""
        if X.ndim != 2 or X.dtype != np.float32:
            raise ValueError("ZCA.fit needs a 2-D float32 design matrix, got %s %s" % (X.dtype, X.shape))
        if np.isnan(X).any():
            raise ValueError("ZCA.fit: the design matrix contains NaN")
        self.mean_ = X.mean(axis=0)
        centered = X - self.mean_
        covariance = centered.T @ centered
        del centered
        covariance /= np.float32(len(X))
        covariance[np.diag_indices_from(covariance)] += self.filter_bias
        eigenvalues, eigenvectors = scipy.linalg.eigh(covariance)
        if not eigenvalues.min() > 0:
            raise ValueError("ZCA.fit: covariance + filter_bias*I has eigenvalue %g <= 0" % eigenvalues.min())
        # eigh sorts ascending: n_components keeps the largest, n_drop_components drops the smallest.
        if self.n_components:
            eigenvalues, eigenvectors = eigenvalues[-self.n_components :], eigenvectors[:, -self.n_components :]
        if self.n_drop_components:
            eigenvalues, eigenvectors = eigenvalues[self.n_drop_components :], eigenvectors[:, self.n_drop_components :]
        root = np.sqrt(eigenvalues)
        self.P_ = (eigenvectors * (np.float32(1) / root)) @ eigenvectors.T
        self.inv_P_ = (eigenvectors * root) @ eigenvectors.T if self.store_inverse else None
        return self

    def apply(self, X: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        """(X - mean_) P_ in float32, block by block; ``out=X`` whitens X in place."""
        if self.P_ is None:
            raise ValueError("ZCA.apply before fit")
        if out is None:
            out = np.empty((len(X), self.P_.shape[1]), dtype=np.float32)
        for start in range(0, len(X), APPLY_ROWS):
            rows = slice(start, start + APPLY_ROWS)
            out[rows] = (X[rows] - self.mean_) @ self.P_
        return out

    def inverse(self, X: np.ndarray) -> np.ndarray:
        """Map whitened rows back: X inv_P_ + mean_ (pylearn2's ``ZCA.inverse``)."""
        if self.inv_P_ is None:
            raise ValueError("ZCA.inverse needs a fit with store_inverse=True")
        return X @ self.inv_P_ + self.mean_
