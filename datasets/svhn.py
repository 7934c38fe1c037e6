"""SVHN with pylearn2's semantics (``pylearn2.datasets.svhn.SVHN``; docs/REPRODUCTION.md §2.3, §3.3, §4 traps 17-18).

Raw files: ``train_32x32.mat``, ``test_32x32.mat``, ``extra_32x32.mat`` in ``$PYLEARN2_DATA_PATH/SVHN/format2/``
(``make download-svhn``). Built files: ``<path>/h5/<which_set>_32x32.h5`` (``make svhn-h5``, see
:mod:`datasets.svhn_h5`), whose rows are in pylearn2's order (:func:`row_order`), X raw pixels 0..255 as float32
in channel-major order, y one-hot float32 with class index = .mat label - 1 (label 10 is digit 0 -> index 9).
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional, Tuple

import numpy as np
import tables

from datasets import pytables_file
from datasets.fetch import Wanted, fetch_all
from datasets.paths import data_root
from datasets.py27_set import Py27IntSet
from datasets.rows import row_range
from harness.errors import UserError
from harness.files import Checksum, readable_file

DOWNLOAD_COMMAND = "make download-svhn"
BUILD_COMMAND = "make svhn-h5"
URL = "http://ufldl.stanford.edu/housenumbers/"
# md5 of the published files (torchvision's values; the SVHN site publishes none; §3.3).
CHECKSUMS: Dict[str, Checksum] = {
    "train": Checksum("md5", "e26dedcc434d2e4c54c9b2d4a06d8373"),
    "test": Checksum("md5", "eb5a983be6a315427106f1b164d9cef3"),
    "extra": Checksum("md5", "a93ce644f1a588dc4d68dda5feec44a7"),
}
SIZES = {"train": 73257, "test": 26032, "extra": 531131, "train_all": 604388, "splitted_train": 598388, "valid": 6000}
# The .mat files each set draws from, in the order pylearn2 concatenates them.
SOURCES = {
    "train": ("train",),
    "test": ("test",),
    "extra": ("extra",),
    "train_all": ("extra", "train"),
    "splitted_train": ("train", "extra"),
    "valid": ("train", "extra"),
}
VALID_PER_CLASS = {"train": 400, "extra": 200}  # examples of each class moved into 'valid'
SEED = 322
N_CLASSES = 10
N_FEATURES = 32 * 32 * 3


def mat_path(folder: Path, source: str) -> Path:
    """``<folder>/<source>_32x32.mat``."""
    return folder / ("%s_32x32.mat" % source)


def h5_path(folder: Path, which_set: str) -> Path:
    """``<folder>/h5/<which_set>_32x32.h5``."""
    return folder / "h5" / ("%s_32x32.h5" % which_set)


def default_folder(root: Optional[str] = None) -> Path:
    """``<root>/SVHN/format2/`` (root: ``$PYLEARN2_DATA_PATH`` by default): the .mat files and pylearn2's h5/."""
    return data_root(root) / "SVHN" / "format2"


@dataclass(frozen=True)
class RowOrder:
    """Where each row of a built file comes from: row k is example ``index[k]`` of ``sources[source[k]]``."""

    sources: Tuple[str, ...]
    source: np.ndarray
    index: np.ndarray


def split_valid(labels: np.ndarray, per_class: int, rng: np.random.RandomState) -> Tuple[np.ndarray, np.ndarray]:
    """(train indices, valid indices) of one .mat file in pylearn2's order (§3.3 steps 1-2).

    For each class 1..10: its indices, ascending, shuffled in place by ``rng``; the first ``per_class`` go to
    valid. Both lists then come out of CPython 2.7 sets: valid = list(set(chosen)), train =
    list(set(range(N)) - set(chosen)).
    """
    chosen = []
    for label in range(1, N_CLASSES + 1):
        members = np.nonzero(labels == label)[0]
        if len(members) < per_class:
            raise UserError(
                "class %d has %d examples, fewer than the %d that go to 'valid': run `%s`"
                % (label, len(members), per_class, DOWNLOAD_COMMAND)
            )
        rng.shuffle(members)
        chosen.append(members[:per_class])
    valid = Py27IntSet(np.concatenate(chosen).tolist())
    train = Py27IntSet(range(len(labels))) - valid
    return np.fromiter(train, np.int64, len(train)), np.fromiter(valid, np.int64, len(valid))


def row_order(
    which_set: str, labels: Mapping[str, np.ndarray], valid_per_class: Mapping[str, int] = VALID_PER_CLASS
) -> RowOrder:
    """The rows of ``<which_set>_32x32.h5`` in pylearn2's order (§3.3), from the .mat labels of its sources.

    A fresh RandomState(322) per file; 'splitted_train'/'valid' first draw the split (train.mat's 10 class
    shuffles, then extra.mat's); every set is finally permuted by ``shuffle(range(N))`` of that generator.
    """
    rng = np.random.RandomState(SEED)
    sources = SOURCES[which_set]
    if which_set in ("splitted_train", "valid"):
        halves = [split_valid(labels[name], valid_per_class[name], rng) for name in sources]
        parts = [train if which_set == "splitted_train" else valid for train, valid in halves]
    else:
        parts = [np.arange(len(labels[name])) for name in sources]
    source = np.concatenate([np.full(len(part), k, np.int8) for k, part in enumerate(parts)])
    index = np.concatenate(parts)
    permutation = np.arange(len(index))
    rng.shuffle(permutation)  # same draws as pylearn2's shuffle of a Python list range(N)
    return RowOrder(sources, source[permutation], index[permutation])


def check_layout(h5: tables.File, path: Path, fix: str = BUILD_COMMAND) -> None:
    """Raise a UserError naming ``fix`` unless the open h5 file's X is (N, 3072) and its y (N, 10), both float32."""
    try:
        X, y = pytables_file.data_nodes(h5)
    except tables.NoSuchNodeError as error:
        raise UserError("%s lacks /Data/X or /Data/y: delete it and run `%s`" % (path, fix)) from error
    n = X.shape[0]
    if X.shape != (n, N_FEATURES) or y.shape != (n, N_CLASSES) or X.dtype != np.float32 or y.dtype != np.float32:
        raise UserError(
            "%s holds X %s %s and y %s %s, expected (N, %d) and (N, %d) float32 (one-hot y): "
            "delete it and run `%s`" % (path, X.shape, X.dtype, y.shape, y.dtype, N_FEATURES, N_CLASSES, fix)
        )


def open_h5(file: Path, fix: str = BUILD_COMMAND, mode: str = "r") -> tables.File:
    """Open an SVHN h5 file with its layout checked; anything else (a folder, no file, an unreadable, short or
    foreign file) is a UserError naming ``fix``, the command that writes that file."""
    readable_file(file, fix)
    try:
        h5 = tables.open_file(str(file), mode=mode)
    except (OSError, tables.HDF5ExtError) as error:
        raise UserError(
            "%s is not a readable h5 file (%s): delete it and run `%s`"
            % (file, str(error).splitlines()[0] if str(error) else type(error).__name__, fix)
        ) from None
    try:
        check_layout(h5, file, fix)
    except BaseException:
        h5.close()
        raise
    return h5


def check_data(h5: tables.File, path: Path, fix: str = BUILD_COMMAND, expected_rows: Optional[int] = None) -> None:
    """Read every row of an open SVHN h5 file, slab by slab (decompressing each chunk, so a damaged file is found
    without holding it in memory); a UserError naming ``fix`` when it is damaged or has not ``expected_rows``."""
    X, y = pytables_file.data_nodes(h5)
    if expected_rows is not None and X.shape[0] != expected_rows:
        raise UserError("%s has %d rows, %d expected: delete it and run `%s`" % (path, X.shape[0], expected_rows, fix))
    try:
        for start in range(0, X.shape[0], pytables_file.SLAB):
            X.read(start, start + pytables_file.SLAB)
            y.read(start, start + pytables_file.SLAB)
    except (tables.HDF5ExtError, OSError, ValueError) as error:
        raise UserError("%s is damaged (%s): delete it and run `%s`" % (path, error, fix)) from None


def read_rows(
    file: Path, start: Optional[int] = None, stop: Optional[int] = None, fix: str = BUILD_COMMAND
) -> Tuple[np.ndarray, np.ndarray]:
    """Rows ``start:stop`` (default: all) of an SVHN h5 file's X and y, read whole (every compressed chunk is
    decompressed, so a damaged file is found here); UserErrors name ``fix``."""
    with open_h5(file, fix) as h5:
        X, y = pytables_file.data_nodes(h5)
        start, stop = row_range(X.shape[0], start, stop, str(file), fix)
        try:
            return X.read(start, stop), y.read(start, stop)
        except (tables.HDF5ExtError, OSError, ValueError) as error:
            raise UserError("%s is damaged (%s): delete it and run `%s`" % (file, error, fix)) from None


class SVHN:
    """``SVHN(which_set, path=None, start=None, stop=None)`` as in pylearn2 (§3.3): ``X`` (N, 3072) and ``y``
    (N, 10), float32, in memory: rows ``start:stop`` of the file (all by default).

    Reads ``<path>/h5/<which_set>_32x32.h5``, ``path`` defaulting to ``$PYLEARN2_DATA_PATH/SVHN/format2/``
    (splitted_train's X alone is 7.35 GB). Unlike pylearn2 it never builds a missing file on first use: that
    is ``fix``'s job (``make svhn-h5`` for pylearn2's files, ``make svhn-preprocess`` for the GCN + LCN copies).
    """

    def __init__(
        self,
        which_set: str,
        path: Optional[str] = None,
        start: Optional[int] = None,
        stop: Optional[int] = None,
        fix: str = BUILD_COMMAND,
    ) -> None:
        if which_set not in SOURCES:
            raise ValueError("which_set must be one of %s, not %r" % (sorted(SOURCES), which_set))
        folder = default_folder() if path is None else Path(os.path.expandvars(path))
        self.X, self.y = read_rows(h5_path(folder, which_set), start, stop, fix)


def download(root: Path) -> None:
    """Fetch train/test/extra_32x32.mat into ``<root>/SVHN/format2/``, verified against their md5."""
    folder = default_folder(str(root))
    fetch_all(
        [
            Wanted([URL + mat_path(folder, source).name], mat_path(folder, source), checksum)
            for source, checksum in CHECKSUMS.items()
        ],
        DOWNLOAD_COMMAND,
    )
