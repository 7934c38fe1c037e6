"""CPython 2.7's ``set`` of non-negative ints, emulated for its iteration order (docs/REPRODUCTION.md §3.3).

pylearn2 ordered SVHN's train/valid split with ``list(set(...))`` under Python 2.7, so the h5 row order
depends on that interpreter's hash table. For ints hash(n) = n. The table (``Objects/setobject.c``) is open
addressing: 8 slots at first; a key goes to slot ``n & mask``, and on a collision the probe moves to
``i = 5*i + perturb + 1`` (mod the size), with ``perturb`` starting at n and shifted right by 5 after each
step. An insertion that leaves ``fill*3 >= 2*size`` rebuilds the table at the smallest power of two above
4*used (2*used once used > 50,000), re-inserting the old slots in slot order. Iteration walks the slots in
order. pylearn2 never deletes, so there are no dummy slots to emulate.
"""

from typing import Iterable, Iterator, List

EMPTY = -1
MIN_SIZE = 8
PERTURB_SHIFT = 5


def _slot(table: List[int], mask: int, key: int) -> int:
    """The slot that holds ``key``, or the empty slot where CPython 2.7 would put it."""
    i = key & mask
    perturb = key
    while table[i] != EMPTY and table[i] != key:
        i = (5 * i + perturb + 1) & mask
        perturb >>= PERTURB_SHIFT
    return i


class Py27IntSet:
    """A set of non-negative ints that iterates in CPython 2.7's order (§3.3); build it, subtract, iterate."""

    def __init__(self, keys: Iterable[int] = ()) -> None:
        self._table = [EMPTY] * MIN_SIZE
        self._used = 0
        for key in keys:
            self.add(key)

    def add(self, key: int) -> None:
        """``set.add``: insert ``key`` unless present, then grow the table as CPython 2.7 does."""
        key = int(key)
        if key < 0:
            raise ValueError("only non-negative ints are emulated, got %d" % key)
        table = self._table
        i = _slot(table, len(table) - 1, key)
        if table[i] == key:
            return
        table[i] = key
        self._used += 1
        if self._used * 3 >= 2 * len(table):
            self._resize(2 * self._used if self._used > 50000 else 4 * self._used)

    def _resize(self, min_used: int) -> None:
        size = MIN_SIZE
        while size <= min_used:
            size <<= 1
        old, self._table = self._table, [EMPTY] * size
        mask = size - 1
        for key in old:
            if key != EMPTY:
                self._table[_slot(self._table, mask, key)] = key

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, int) or key < 0:
            return False
        return self._table[_slot(self._table, len(self._table) - 1, key)] == key

    def __len__(self) -> int:
        return self._used

    def __iter__(self) -> Iterator[int]:
        return (key for key in self._table if key != EMPTY)

    def __sub__(self, other: "Py27IntSet") -> "Py27IntSet":
        """``set(a) - set(b)``: a new set fed with a's keys in a's iteration order, skipping b's."""
        return Py27IntSet(key for key in self if key not in other)
