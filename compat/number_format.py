"""Numbers as the original scripts printed them: Python 2's ``str(float)`` (docs/REPRODUCTION.md §1.12).

The originals ran on Python 2, whose ``str`` of a float shows 12 significant digits (``'%.12g'``) and keeps a
``.0`` on whole numbers, so a 2016 log reads ``18.599999994%`` where Python 3 would print ``18.599999994039536%``.
Printing the same way lets a log of this project be diffed against a 2016 log; ``log.jsonl`` keeps every digit.
"""

import math
from numbers import Real


def py2_str(value: Real) -> str:
    """What Python 2.7 printed for ``str(value)`` of a float: ``'%.12g'``, plus ``.0`` when that looks whole."""
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    text = "%.12g" % value
    return text if any(c in text for c in ".e") else text + ".0"
