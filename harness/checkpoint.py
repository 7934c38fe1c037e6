"""Resumable training: the whole state of a run after an epoch, in one ``.npz`` written atomically.

A checkpoint holds every Theano shared variable the training function reads or updates (weights, biases,
BN averages, both Adams' moments and time steps, the MRG random streams of dropout and stochastic
binarization), the global ``np.random`` state, the current order of the training rows, the loop's
counters (LR, best-so-far, test numbers), the per-epoch history (from which ``log.jsonl`` is rewritten) and the
CRCs of the best parameters file it goes with. Loading it continues the run exactly where it stopped. It holds
no pickles (``allow_pickle=False``). The checkpoint before the latest is kept as ``checkpoint.previous.npz``:
a damaged latest one falls back to it.

Reading happens in two steps so that nothing is compiled for a run that cannot resume: :meth:`Checkpoint.read`
(before loading data) compares the settings and reads and checks every array; :meth:`Saved.restore` (after
compiling) checks every array against the shared variables before it assigns any.
"""

import contextlib
import json
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from harness.errors import UserError
from harness.files import write_npz

FORMAT = 2
SCALARS = ("epoch", "LR", "best_val_err", "best_epoch", "test_err", "test_loss")
PREVIOUS_SUFFIX = ".previous.npz"
START_AFRESH = "delete %s (or choose another --output-dir) to start afresh"
UNREADABLE = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


def npz_crcs(path: Path) -> List[int]:
    """The CRC-32 of each member of an .npz (zip) file, in order: a cheap fingerprint of its arrays."""
    with zipfile.ZipFile(path) as archive:
        return [info.CRC for info in archive.infolist()]


class _Crc:
    """A write-only stream that keeps the CRC-32 of what is written to it."""

    def __init__(self) -> None:
        self.value = 0

    def write(self, data: bytes) -> int:
        self.value = zlib.crc32(data, self.value)
        return len(data)


def npy_crc(array: np.ndarray) -> int:
    """The CRC-32 that an .npz member ``<name>.npy`` holding ``array`` has (:func:`harness.files.write_npz`)."""
    crc = _Crc()
    np.lib.format.write_array(crc, np.asanyarray(array), allow_pickle=False)
    return crc.value


def is_saved_file(path: Path, crcs: Sequence[int]) -> bool:
    """Whether ``path`` is the parameters file a checkpoint recorded (its members' CRC-32s ``crcs``)."""
    try:
        return npz_crcs(path) == list(crcs)
    except (OSError, zipfile.BadZipFile):
        return False


@dataclass
class Saved:
    """A checkpoint read and checked: the training loop's variables (``loop``: the fields of
    binarynet.binary_net.LoopState), the run's history and parameters-file CRCs, and the arrays still to be put
    into the shared variables."""

    path: Path
    loop: Dict[str, Any]
    history: List[Dict[str, Any]]
    saved_params: List[int]
    shared: List[Tuple[str, np.ndarray]]
    random_state: Tuple[Any, ...]

    @property
    def epoch(self) -> int:
        """Completed epochs."""
        return self.loop["epoch"]

    @property
    def best_epoch(self) -> int:
        """The epoch whose parameters the run keeps."""
        return self.loop["best_epoch"]

    def restore(self, shared: Sequence[Any]) -> Dict[str, Any]:
        """Check every saved array against ``shared`` (names, shapes, dtypes), then assign them all and the
        ``np.random`` state; returns the loop's variables."""
        names = [str(var) for var in shared]
        if [name for name, _ in self.shared] != names:
            raise UserError(
                "%s holds another network's variables (the code changed since it was written): %s"
                % (self.path, START_AFRESH % self.path.parent)
            )
        for var, (name, value) in zip(shared, self.shared):
            current = var.get_value(borrow=True)
            if value.shape != current.shape or value.dtype != current.dtype:
                raise UserError(
                    "%s: %s is %s %s, the network's is %s %s: %s"
                    % (
                        self.path,
                        name,
                        value.dtype,
                        value.shape,
                        current.dtype,
                        current.shape,
                        START_AFRESH % self.path.parent,
                    )
                )
        for var, (_, value) in zip(shared, self.shared):
            var.set_value(value)
        np.random.set_state(self.random_state)
        return dict(self.loop, order=self.loop["order"].copy())


class Checkpoint:
    """A run's checkpoint file. ``config`` (JSON-able settings) must match for a resume to be allowed."""

    def __init__(self, path: Path, config: Dict[str, Any]) -> None:
        self.path = Path(path)
        self.previous = self.path.with_name(self.path.name[: -len(".npz")] + PREVIOUS_SUFFIX)
        self.config = json.loads(json.dumps(config, sort_keys=True))

    def save(
        self, loop: Any, shared: Sequence[Any], history: List[Dict[str, Any]], saved_params: Sequence[int]
    ) -> None:
        """Write the state atomically: ``loop`` has the loop's variables as attributes (``order`` and SCALARS);
        the checkpoint it replaces becomes the previous one."""
        random_state = np.random.get_state()
        arrays = {
            "format": np.asarray(FORMAT),
            "config": np.asarray(json.dumps(self.config, sort_keys=True)),
            "history": np.asarray(json.dumps(history)),
            "saved_params": np.asarray(saved_params, dtype=np.int64),
            "order": loop.order,
            "shared_names": np.asarray([str(var) for var in shared]),
            "random_keys": random_state[1],
            "random_rest": np.asarray(random_state[2:], dtype=np.float64),
        }
        for name in SCALARS:
            value = getattr(loop, name)
            arrays["scalar_" + name] = np.asarray(np.nan if value is None else value)
        for i, var in enumerate(shared):
            arrays["shared_%d" % i] = var.get_value(borrow=True)
        write_npz(self.path, arrays, previous=self.previous)

    def read(self) -> Optional[Saved]:
        """The saved state, checked (None when the run has no checkpoint yet). A damaged or missing latest
        checkpoint falls back to the previous one, saying so on stderr; settings that differ are refused."""
        if not self.path.exists() and not self.previous.exists():
            return None
        problem = None
        if self.path.exists():
            try:
                return self._read(self.path)
            except _Damaged as damaged:
                problem = "%s is damaged (%s)" % (self.path, damaged)
        else:
            problem = "%s is missing (the run was killed while replacing it)" % self.path
        if self.previous.exists():
            try:
                saved = self._read(self.previous)
            except _Damaged as damaged:
                problem += ", and so is %s (%s)" % (self.previous, damaged)
            else:
                print(
                    "warning: %s; resuming from %s (after epoch %d) instead" % (problem, self.previous, saved.epoch),
                    file=sys.stderr,
                    flush=True,
                )
                return saved
        raise UserError(
            "%s, and there is no usable previous checkpoint: %s" % (problem, START_AFRESH % self.path.parent)
        )

    def parameters(self, saved: Saved) -> Optional[Tuple[Saved, List[np.ndarray]]]:
        """The best epoch's parameters rebuilt from ``saved`` or the previous checkpoint: the arrays whose .npz
        CRC-32s are those the run's parameters file had (``saved.saved_params``), in that order; None when neither
        checkpoint holds them all (the best epoch is older than both). Returns the checkpoint used, and the arrays.
        """
        candidates: List[Saved] = [saved]
        with contextlib.suppress(_Damaged, UserError):
            if self.previous.exists() and saved.path != self.previous:
                candidates.append(self._read(self.previous))
        for candidate in candidates:
            by_crc = {npy_crc(value): value for _, value in candidate.shared}
            if saved.saved_params and all(crc in by_crc for crc in saved.saved_params):
                return candidate, [by_crc[crc] for crc in saved.saved_params]
        return None

    def _read(self, path: Path) -> Saved:
        if path.is_file() and not zipfile.is_zipfile(path):
            raise _Damaged("not an .npz file: truncated or overwritten")
        try:
            with np.load(path, allow_pickle=False) as data:
                if int(data["format"]) != FORMAT:
                    raise UserError(
                        "%s has format %d, this code writes %d: %s"
                        % (path, data["format"], FORMAT, START_AFRESH % path.parent)
                    )
                saved = json.loads(str(data["config"]))
                if saved != self.config:
                    changed = sorted(k for k in set(saved) | set(self.config) if saved.get(k) != self.config.get(k))
                    raise UserError(
                        "%s was written with other settings (%s): use the same flags to resume, or another "
                        "--output-dir to start afresh"
                        % (path, ", ".join("%s %s, now %s" % (k, saved.get(k), self.config.get(k)) for k in changed))
                    )
                arrays = {key: data[key] for key in data.files}  # reads (and CRC-checks) every member
        except UserError:
            raise
        except UNREADABLE as error:
            raise _Damaged(error) from error
        try:
            names = [str(name) for name in arrays["shared_names"]]
            shared = [(name, arrays["shared_%d" % i]) for i, name in enumerate(names)]
            pos, has_gauss, cached = arrays["random_rest"]
            random_state = ("MT19937", arrays["random_keys"], int(pos), int(has_gauss), float(cached))
            # Python numbers, as the loop had them: Theano downcasts a Python float LR silently, not np.float64.
            scalars = {name: arrays["scalar_" + name].item() for name in SCALARS}
        except (KeyError, ValueError, TypeError) as error:
            raise _Damaged("incomplete: %s" % error) from error
        for name, value in shared:
            if value.dtype.kind in "fc" and not np.isfinite(value).all():
                raise _Damaged("%s holds NaN or infinite values: edited, or the training diverged" % name)
        for name in ("test_err", "test_loss"):
            if np.isnan(scalars[name]):
                scalars[name] = None
        return Saved(
            path,
            dict(scalars, order=arrays["order"]),
            json.loads(str(arrays["history"])),
            [int(crc) for crc in arrays["saved_params"]],
            shared,
            random_state,
        )


class _Damaged(Exception):
    """A checkpoint file that cannot be read whole (truncated, garbage, failed CRC)."""
