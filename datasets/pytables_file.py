"""The PyTables layout of pylearn2's ``DenseDesignMatrixPyTables`` files (the SVHN h5 files; docs/REPRODUCTION.md §3.3).

File title "SVHN Dataset"; group ``/Data`` (title "Data"); CArrays ``/Data/X`` (N, 3072) "Data values" and
``/Data/y`` (N, 10) "Data targets", both Float32 (pylearn2's y atom is Float32 too), blosc level 5.
"""

import contextlib
import re
from pathlib import Path
from typing import Iterator, Tuple, Union

import tables

from harness.errors import UserError

TITLE = "SVHN Dataset"
FILTERS = tables.Filters(complib="blosc", complevel=5)
SLAB = 5000  # rows pylearn2 writes (and preprocesses) at a time
SLAB_BYTES = SLAB * (3072 + 10) * 4  # what one slab of float32 rows takes at most (before compression)


def create(path: Union[str, Path], n_rows: int, n_features: int = 3072, n_classes: int = 10) -> tables.File:
    """Create (truncate) an h5 file with empty ``/Data/X`` and ``/Data/y``; the caller fills and closes it."""
    h5 = tables.open_file(str(path), mode="w", title=TITLE)
    group = h5.create_group(h5.root, "Data", "Data")
    h5.create_carray(
        group, "X", atom=tables.Float32Atom(), shape=(n_rows, n_features), title="Data values", filters=FILTERS
    )
    h5.create_carray(
        group, "y", atom=tables.Float32Atom(), shape=(n_rows, n_classes), title="Data targets", filters=FILTERS
    )
    return h5


@contextlib.contextmanager
def writing(path: Union[str, Path]) -> Iterator[None]:
    """Turn an HDF5 write failure of ``path`` into one UserError. HDF5 does not recover well from a write that fails
    halfway (the process may crash when it exits), so the writers also check the free space before each slab
    (:func:`harness.files.ensure_space`)."""
    try:
        yield
    except tables.HDF5ExtError as error:
        reason = re.search(r"error message = '([^']*)'", str(error))
        raise UserError(
            "writing %s failed (HDF5: %s): a full disk is the usual cause: free some space, then rerun "
            "the same command" % (path, reason.group(1) if reason else type(error).__name__)
        ) from None


def data_nodes(h5: tables.File) -> Tuple[tables.CArray, tables.CArray]:
    """``(/Data/X, /Data/y)`` of an open file."""
    return h5.get_node("/Data", "X"), h5.get_node("/Data", "y")
