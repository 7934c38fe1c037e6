"""pylearn2's ``start``/``stop`` arguments: which rows of a design matrix a dataset keeps."""
from typing import Optional

import numpy as np


def take_rows(array: np.ndarray, start: Optional[int], stop: Optional[int]) -> np.ndarray:
    """Rows ``start:stop`` of ``array`` (defaults: all of them), refusing an empty or out-of-range request.

    A part is copied, so that a 5,000-row validation set does not keep the whole 50,000-row array alive.
    """
    n = len(array)
    start = 0 if start is None else start
    stop = n if stop is None else stop
    if not 0 <= start < stop <= n:
        raise ValueError("need 0 <= start < stop <= %d, got start=%d stop=%d" % (n, start, stop))
    return array if (start, stop) == (0, n) else array[start:stop].copy()
