"""``python -m datasets.svhn_h5``: build pylearn2's SVHN h5 files from the .mat files (docs/REPRODUCTION.md §3.3).

Writes ``$PYLEARN2_DATA_PATH/SVHN/format2/h5/<which_set>_32x32.h5`` for each requested set (default: test, valid,
splitted_train, as pylearn2's ``make_svhn_pytables.py``), rows in pylearn2's order (:func:`datasets.svhn.row_order`),
5000 rows at a time: memory holds one slab, the labels and the row order, never a whole set. Examples are read
one by one (3072 contiguous bytes each) from the .mat file, or, when the file is compressed (MATLAB 7's default),
from an unnamed scratch copy of its decompressed pixels in the h5 folder, which vanishes with the process.
Each file is written under a temporary name and renamed when complete; existing complete files are kept.
"""

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from datasets import mat5, pytables_file, svhn
from harness.errors import ArgumentParser, UserError, command
from harness.files import Checksum, atomic_path, ensure_space, verify
from harness.progress import Progress

IMAGE_DIMS = (32, 32, 3)
DEFAULT_SETS = ("test", "valid", "splitted_train")


class MatImages:
    """Per-example access to a .mat file's X (32, 32, 3, N) uint8: example i is 3072 contiguous bytes."""

    def __init__(self, path: Path, array: mat5.MatArray, scratch_dir: Path) -> None:
        if array.compressed:
            self._file = tempfile.TemporaryFile(dir=scratch_dir)  # unnamed: gone even after a kill
            mat5.copy_data(path, array, self._file, svhn.DOWNLOAD_COMMAND)
            self._file.flush()
            self._base = 0
        else:
            self._file = open(path, "rb")
            self._base = array.content_offset + array.data_offset

    def read(self, indices: np.ndarray) -> np.ndarray:
        """(len(indices), 3072) uint8: the examples' bytes in file order (row, column, channel; row fastest)."""
        out = np.empty((len(indices), svhn.N_FEATURES), np.uint8)
        fd = self._file.fileno()
        for k in np.argsort(indices, kind="stable"):  # in ascending file offsets
            out[k] = np.frombuffer(
                os.pread(fd, svhn.N_FEATURES, self._base + svhn.N_FEATURES * int(indices[k])), np.uint8
            )
        return out

    def close(self) -> None:
        self._file.close()


def open_source(folder: Path, name: str, checksum: Checksum, scratch_dir: Path) -> Tuple[np.ndarray, MatImages]:
    """(labels 1..10 as a vector, images) of ``<name>_32x32.mat``, after checking its checksum and shapes."""
    path = verify(svhn.mat_path(folder, name), checksum, svhn.DOWNLOAD_COMMAND)
    arrays = mat5.locate(path, svhn.DOWNLOAD_COMMAND)
    X, y = arrays.get("X"), arrays.get("y")
    if X is None or y is None:
        raise UserError("%s lacks variable X or y: delete it and run `%s`" % (path, svhn.DOWNLOAD_COMMAND))
    n = X.dims[-1]
    if X.dims != IMAGE_DIMS + (n,) or X.dtype != np.uint8 or y.dims != (n, 1):
        raise UserError(
            "%s holds X %s %s and y %s, expected (32, 32, 3, N) uint8 and (N, 1): delete it and "
            "run `%s`" % (path, X.dims, X.dtype, y.dims, svhn.DOWNLOAD_COMMAND)
        )
    labels = mat5.read_array(path, y, svhn.DOWNLOAD_COMMAND).ravel()
    if labels.min() < 1 or labels.max() > svhn.N_CLASSES or np.any(labels != np.round(labels)):
        raise UserError("%s has labels outside 1..10: delete it and run `%s`" % (path, svhn.DOWNLOAD_COMMAND))
    return labels.astype(np.int64), MatImages(path, X, scratch_dir)


def design_rows(raw: np.ndarray) -> np.ndarray:
    """float32 design rows in channel-major (c, row, col) order from examples in MATLAB's byte order (row fastest):
    pylearn2's ``transpose(X, (3, 2, 0, 1)).reshape(N, 3072)`` of the (32, 32, 3, N) array."""
    rows = np.empty(raw.shape, np.float32)
    rows.reshape(-1, 3, 32, 32)[...] = raw.reshape(-1, 3, 32, 32).transpose(0, 1, 3, 2)
    return rows


def one_hot(labels: np.ndarray) -> np.ndarray:
    """(N, 10) float32 with 1 at index label - 1 (.mat label 10, digit 0, is index 9; §4 trap 17)."""
    targets = np.zeros((len(labels), svhn.N_CLASSES), np.float32)
    targets[np.arange(len(labels)), labels - 1] = 1
    return targets


def write_set(
    target: Path,
    order: svhn.RowOrder,
    labels: Mapping[str, np.ndarray],
    images: Mapping[str, MatImages],
    progress: Progress,
) -> None:
    """Write one h5 file, slab by slab; it appears under ``target`` only once complete."""
    n = len(order.index)
    raw = np.empty((pytables_file.SLAB, svhn.N_FEATURES), np.uint8)
    with atomic_path(target) as temporary, pytables_file.writing(target):
        h5 = pytables_file.create(temporary, n)
        try:
            X, y = pytables_file.data_nodes(h5)
            for start in range(0, n, pytables_file.SLAB):
                ensure_space(temporary, pytables_file.SLAB_BYTES)
                stop = min(start + pytables_file.SLAB, n)
                source, index = order.source[start:stop], order.index[start:stop]
                slab_labels = np.empty(stop - start, np.int64)
                for k, name in enumerate(order.sources):
                    mine = np.nonzero(source == k)[0]
                    raw[mine] = images[name].read(index[mine])
                    slab_labels[mine] = labels[name][index[mine]]
                X[start:stop] = design_rows(raw[: stop - start])
                y[start:stop] = one_hot(slab_labels)
                progress.update(stop - start)
        finally:
            h5.close()
            progress.close()


def is_complete(path: Path) -> bool:
    """Whether ``path`` is what its loader accepts: an h5 file with the SVHN layout, every row readable (files
    appear only when finished, so the row count is right). Anything else in its place is reported (and rebuilt
    by the caller)."""
    if not path.exists():
        return False
    try:
        with svhn.open_h5(path) as h5:
            svhn.check_data(h5, path)
        return True
    except UserError as error:
        print("  %s: unusable, rebuilding it (%s)" % (path, error), flush=True)
        return False


def build(
    folder: Path,
    which_sets: Sequence[str] = DEFAULT_SETS,
    checksums: Mapping[str, Checksum] = svhn.CHECKSUMS,
    valid_per_class: Mapping[str, int] = svhn.VALID_PER_CLASS,
) -> List[Path]:
    """Build ``<folder>/h5/<which_set>_32x32.h5`` for each set not already complete; returns their paths."""
    h5_dir = folder / "h5"
    h5_dir.mkdir(parents=True, exist_ok=True)
    todo = []
    for which_set in which_sets:
        if is_complete(svhn.h5_path(folder, which_set)):
            print("  %s: present" % svhn.h5_path(folder, which_set))
        else:
            todo.append(which_set)
    needed = sorted({name for which_set in todo for name in svhn.SOURCES[which_set]})
    labels: Dict[str, np.ndarray] = {}
    images: Dict[str, MatImages] = {}
    with contextlib.ExitStack() as stack:
        for name in needed:
            print("  reading %s" % svhn.mat_path(folder, name), flush=True)
            labels[name], images[name] = open_source(folder, name, checksums[name], h5_dir)
            stack.callback(images[name].close)
        for which_set in todo:
            order = svhn.row_order(which_set, labels, valid_per_class)
            print("  %s: %d rows -> %s" % (which_set, len(order.index), svhn.h5_path(folder, which_set)), flush=True)
            write_set(
                svhn.h5_path(folder, which_set),
                order,
                labels,
                images,
                Progress("writing " + which_set, len(order.index), "rows"),
            )
            print("  %s: done" % which_set, flush=True)
    return [svhn.h5_path(folder, which_set) for which_set in which_sets]


@command
def main(argv: Optional[List[str]] = None) -> None:
    """Build the requested files."""
    parser = ArgumentParser(prog="python -m datasets.svhn_h5", description=__doc__.splitlines()[0])
    parser.add_argument("--data-path", help="data folder (default: $PYLEARN2_DATA_PATH)")
    parser.add_argument(
        "--sets",
        nargs="+",
        choices=sorted(svhn.SOURCES),
        default=list(DEFAULT_SETS),
        metavar="SET",
        help="which_set values to build, of %s (default: %s)"
        % (", ".join(sorted(svhn.SOURCES)), " ".join(DEFAULT_SETS)),
    )
    args = parser.parse_args(argv)
    folder = svhn.default_folder(args.data_path)
    print("SVHN h5 files in %s" % (folder / "h5"))
    build(folder, args.sets)


if __name__ == "__main__":
    raise SystemExit(main())
