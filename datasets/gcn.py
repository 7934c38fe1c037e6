"""Global contrast normalization with pylearn2's semantics (``pylearn2.expr.preprocessing``; docs/REPRODUCTION.md §3.2).

Used twice: CIFAR-10 with ``scale=55`` before ZCA (BinaryConnect's ``pylearn2_gcn_whitened`` set) and SVHN with
``scale=1`` before LeCun LCN (BinaryConnect's ``svhn_preprocessing.py``, §3.4).
"""

import numpy as np


def global_contrast_normalize(
    X: np.ndarray,
    scale: float = 1.0,
    subtract_mean: bool = True,
    use_std: bool = False,
    sqrt_bias: float = 0.0,
    min_divisor: float = 1e-8,
) -> np.ndarray:
    """Normalize each row (example) over all its features jointly; returns a new array of X's dtype.

    x <- x - mean(x) (if ``subtract_mean``), then x <- x / (sqrt(sqrt_bias + sum(x^2)) / scale), or with
    ``use_std`` the unbiased standard deviation in place of the L2 norm; divisors below ``min_divisor``
    become 1 (a blank row stays blank). Arithmetic stays in X's dtype (float32 for every experiment).
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError("global_contrast_normalize needs a 2-D design matrix, got shape %s" % (X.shape,))
    if subtract_mean:
        X = X - X.mean(axis=1)[:, np.newaxis]
    else:
        X = X.copy()
    if use_std:
        ddof = 1 if X.shape[1] > 1 else 0
        normalizers = np.sqrt(sqrt_bias + X.var(axis=1, ddof=ddof)) / scale
    else:
        normalizers = np.sqrt(sqrt_bias + (X**2).sum(axis=1)) / scale
    normalizers[normalizers < min_divisor] = 1.0
    X /= normalizers[:, np.newaxis]
    return X
