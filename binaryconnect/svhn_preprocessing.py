"""BinaryConnect's svhn_preprocessing.py: GCN + LeCun LCN of the SVHN h5 files (docs/REPRODUCTION.md §2.6, §3.4).

``python -m binaryconnect.svhn_preprocessing`` (``make svhn-preprocess``) writes GCN (scale 1) + LeCun LCN versions
of pylearn2's SVHN h5 files (splitted_train, valid, test) from ``$PYLEARN2_DATA_PATH/SVHN/format2/h5/`` to
``$SVHN_LOCAL_PATH/h5/`` under the same names, where ``SVHN(which_set, path=SVHN_LOCAL_PATH)`` reads them.
The values are the original's; the file handling is not: the original copied each file and normalized the copy in
place, so a rerun normalized it twice (trap 22). Here the source is only read, each output is written in 5000-row
slabs to ``<name>.partial`` (an interrupted run resumes at its last completed slab), marked complete, then renamed.
A finished output is skipped on a rerun; an output without the completion marker is refused.
"""
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tables

from datasets import pytables_file, svhn
from datasets.gcn import global_contrast_normalize
from datasets.lcn import ALL_CHANNELS, FAITHFUL_CHANNELS, lcn_rows
from datasets.paths import folder_from_env
from harness import lock
from harness.errors import ArgumentParser, UserError, command
from harness.files import ensure_space, writable_file
from harness.progress import Progress

SETS = ("splitted_train", "valid", "test")
PREPROCESS_COMMAND = "make svhn-preprocess"
DEVIATION = "a DEVIATION from the original, whose LeCunLCN normalizes channel 0 only"
UNMARKED_RAW = ("%s holds raw pixels and no completion marker (a copy of the source?); it is left untouched: "
                "delete it and rerun")
UNMARKED_PROCESSED = ("%s holds preprocessed-looking values but no completion marker of this program: it may come "
                      "from the original svhn_preprocessing.py, which normalizes in place and again on every rerun "
                      "(docs/REPRODUCTION.md trap 22), or from an unfinished copy. Refusing to preprocess it again: "
                      "delete it and rerun to rebuild it from the source")


def local_root(explicit: Optional[str] = None, flag: str = "--local-path") -> Path:
    """The output folder: ``explicit`` (the command's ``flag``) if given, else ``$SVHN_LOCAL_PATH`` (§2.6)."""
    return folder_from_env(explicit, "SVHN_LOCAL_PATH", "export SVHN_LOCAL_PATH=/path/to/local/SVHN "
                           "(make sets it to $PYLEARN2_DATA_PATH/local), or pass %s" % flag)


def recipe(channels: Sequence[int]) -> str:
    """Human-readable name of the preprocessing, stored in every output file."""
    text = "pylearn2 GlobalContrastNormalization(scale=1) + LeCunLCN((32, 32)) on channels %s" % list(channels)
    return text + (" (all channels: %s)" % DEVIATION if tuple(channels) != FAITHFUL_CHANNELS else " (as the original)")


def preprocess_rows(X: np.ndarray, channels: Sequence[int] = FAITHFUL_CHANNELS) -> np.ndarray:
    """GCN with pylearn2's defaults (scale 1) then LeCunLCN, on a slab of raw rows (§3.4); float32."""
    return lcn_rows(global_contrast_normalize(X, scale=1.), channels)


def _marker(source: Path, channels: Sequence[int]) -> Dict[str, object]:
    """Attributes that identify an output: what was done, to which source file (and which build of it)."""
    stat = source.stat()
    # The source's name, not its path: the same data is ./data on the host and /data in the Docker image.
    return {"preprocessing": recipe(channels), "source": source.name, "source_bytes": stat.st_size,
            "source_mtime_ns": stat.st_mtime_ns}


def _stored_marker(h5: tables.File, expected: Dict[str, object]) -> Dict[str, object]:
    attrs = h5.root._v_attrs
    return {key: getattr(attrs, key) for key in expected if key in attrs}


def _looks_raw(X: tables.CArray) -> bool:
    """True when the first rows hold whole numbers in 0..255, as raw SVHN pixels do."""
    head = X[:16]
    return head.size == 0 or bool(np.all(head == np.round(head)) and head.min() >= 0 and head.max() <= 255)


def _check_finished(output: Path, expected: Dict[str, object]) -> None:
    """Return if ``output`` is a finished output of this very preprocessing that its loader reads whole, else raise
    with the reason."""
    with svhn.open_h5(output, PREPROCESS_COMMAND) as h5:
        if not getattr(h5.root._v_attrs, "complete", False):
            raise UserError((UNMARKED_RAW if _looks_raw(pytables_file.data_nodes(h5)[0]) else UNMARKED_PROCESSED)
                            % output)
        stored = _stored_marker(h5, expected)
        svhn.check_data(h5, output, PREPROCESS_COMMAND)
    if stored != expected:
        raise UserError("%s was made differently (%s) from what this run would make (%s): delete it to redo it"
                        % (output, stored, expected))


def _resumable(partial: Path, expected: Dict[str, object], n_rows: int) -> Optional[Tuple[tables.File, int]]:
    """The open partial output and its completed rows, if made from this source by this preprocessing."""
    try:
        h5 = tables.open_file(str(partial), "r+")
    except (OSError, tables.HDF5ExtError):  # e.g. killed while HDF5 metadata was being written
        return None
    try:
        rows_done = int(h5.root._v_attrs.rows_done)
        svhn.check_layout(h5, partial, PREPROCESS_COMMAND)
        usable = pytables_file.data_nodes(h5)[0].shape[0] == n_rows and _stored_marker(h5, expected) == expected
    except (AttributeError, UserError, tables.HDF5ExtError):  # killed while being set up
        usable = False
    if usable:
        return h5, rows_done
    h5.close()
    return None


def _open_partial(partial: Path, expected: Dict[str, object], n_rows: int) -> Tuple[tables.File, int]:
    """The partial output and the row to continue from: a matching one is resumed, anything else restarted."""
    if partial.exists():
        resumed = _resumable(partial, expected, n_rows)
        if resumed is not None:
            print("  resuming %s at row %d of %d" % (partial.name, resumed[1], n_rows), flush=True)
            return resumed
        print("  discarding %s (unreadable, or from another source or preprocessing)" % partial.name, flush=True)
        partial.unlink()
    h5 = pytables_file.create(partial, n_rows)
    for key, value in expected.items():
        setattr(h5.root._v_attrs, key, value)
    h5.root._v_attrs.rows_done = 0
    h5.flush()
    return h5, 0


def preprocess_file(source: Path, output: Path, channels: Sequence[int] = FAITHFUL_CHANNELS,
                    slab: int = pytables_file.SLAB) -> bool:
    """Write the GCN + LCN version of ``source`` to ``output`` slab by slab (§3.4); False if already done.

    The source is never modified, so a slab half-written by a killed run is simply redone on the next one.
    """
    if output.resolve() == source.resolve():
        raise UserError("the output %s is the source file itself: set SVHN_LOCAL_PATH to another folder" % output)
    expected = _marker(source, channels)
    if output.exists():
        _check_finished(output, expected)
        print("%s: already preprocessed, skipping (%s)" % (output, expected["preprocessing"]), flush=True)
        return False
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    with svhn.open_h5(source, svhn.BUILD_COMMAND) as src:
        X_src, y_src = pytables_file.data_nodes(src)
        n_rows = X_src.shape[0]
        print("%s -> %s (%d rows)" % (source, output, n_rows), flush=True)
        with pytables_file.writing(partial):
            h5, start = _open_partial(partial, expected, n_rows)
            with h5:
                X, y = pytables_file.data_nodes(h5)
                progress = Progress("preprocessing " + output.name, n_rows - start, "rows")
                for i in range(start, n_rows, slab):
                    ensure_space(partial, pytables_file.SLAB_BYTES)
                    stop = min(i + slab, n_rows)
                    X[i:stop] = preprocess_rows(X_src[i:stop], channels)
                    y[i:stop] = y_src[i:stop]
                    h5.flush()  # the slab reaches the file before the progress mark does
                    h5.root._v_attrs.rows_done = stop
                    h5.flush()
                    progress.update(stop - i)
                progress.close()
                h5.root._v_attrs.complete = True
    with open(partial, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(partial, output)
    print("%s: done" % output, flush=True)
    return True


def preprocess(sets: Sequence[str] = SETS, data_path: Optional[str] = None, local_path: Optional[str] = None,
               channels: Sequence[int] = FAITHFUL_CHANNELS, slab: int = pytables_file.SLAB) -> None:
    """Preprocess each of ``sets`` into the local folder; every source and output path is checked before any work
    starts, and the output folder is locked: a second preprocessing into it is refused, naming the first."""
    local = local_root(local_path)
    sources = [svhn.h5_path(svhn.default_folder(data_path), which) for which in sets]
    missing = [str(path) for path in sources if not path.is_file()]
    if missing:
        raise UserError("missing SVHN h5 file(s) %s: run `%s` first" % (", ".join(missing), svhn.BUILD_COMMAND))
    outputs = [svhn.h5_path(local, which) for which in sets]
    folder = outputs[0].parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError("cannot make %s (%s): set SVHN_LOCAL_PATH (or --local-path) to another folder"
                        % (folder, error.strerror)) from None
    for output in outputs:
        writable_file(output)
        writable_file(output.with_name(output.name + ".partial"))
    busy = "%s is in use by another SVHN preprocessing (%%s): wait for it to end, then rerun" % folder
    with lock.locked(folder / lock.NAME, busy):
        for source, output in zip(sources, outputs):
            preprocess_file(source, output, channels, slab)


@command
def main(argv: Optional[List[str]] = None) -> None:
    parser = ArgumentParser(prog="python -m binaryconnect.svhn_preprocessing", description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS), help="sets to preprocess (default: all)")
    parser.add_argument("--all-channels", action="store_true",
                        help="LCN-normalize all three channels (%s, docs/REPRODUCTION.md §3.4)" % DEVIATION)
    parser.add_argument("--data-path", help="pylearn2 data folder with SVHN/format2/h5 (default: $PYLEARN2_DATA_PATH)")
    parser.add_argument("--local-path", help="output folder (default: $SVHN_LOCAL_PATH); files go to its h5/")
    args = parser.parse_args(argv)
    channels = ALL_CHANNELS if args.all_channels else FAITHFUL_CHANNELS
    print("SVHN preprocessing: %s" % recipe(channels), flush=True)
    preprocess(args.sets, args.data_path, args.local_path, channels)


if __name__ == "__main__":
    raise SystemExit(main())
