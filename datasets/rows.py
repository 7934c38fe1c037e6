"""pylearn2's ``start``/``stop`` arguments: which rows of a design matrix a dataset keeps."""

from typing import Optional, Tuple

import numpy as np

from harness.errors import UserError


def row_range(n: int, start: Optional[int], stop: Optional[int], source: str, fix: str) -> Tuple[int, int]:
    """``(start, stop)`` with the defaults filled in (all ``n`` rows of ``source``); a request outside them is a
    UserError that says how many rows there are and what to do (``fix`` rebuilds the data)."""
    start = 0 if start is None else start
    stop = n if stop is None else stop
    if not 0 <= start < stop <= n:
        raise UserError(
            "%s has %d rows, rows %d..%d were asked for: use fewer rows (the --*-size flags), or "
            "delete it and run `%s`" % (source, n, start, stop, fix)
        )
    return start, stop


def take_rows(array: np.ndarray, start: Optional[int], stop: Optional[int], source: str, fix: str) -> np.ndarray:
    """Rows ``start:stop`` of ``array`` (defaults: all of them); see :func:`row_range`.

    A part is copied, so that a 5,000-row validation set does not keep the whole 50,000-row array alive.
    """
    n = len(array)
    start, stop = row_range(n, start, stop, source, fix)
    return array if (start, stop) == (0, n) else array[start:stop].copy()
