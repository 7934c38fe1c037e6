"""File safety shared by every dataset and by the training checkpoints: checksums and atomic writes."""
import contextlib
import hashlib
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]


class DatasetError(Exception):
    """A dataset file is missing, corrupt or malformed; the message names the command that fixes it."""


def exit_status(action: Callable[[], object]) -> int:
    """Run a command's ``action``: 0 when it succeeds, 1 with a one-line ``error:`` on stderr for a DatasetError."""
    try:
        action()
    except DatasetError as error:
        print("error: %s" % error, file=sys.stderr)
        return 1
    return 0


@dataclass(frozen=True)
class Checksum:
    """An expected digest: ``algorithm`` is a :mod:`hashlib` name ('sha256', or 'md5' where only that is published)."""

    algorithm: str
    hexdigest: str


def file_digest(path: PathLike, algorithm: str) -> str:
    """Hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: PathLike, expected: Checksum, fix: str) -> Path:
    """Check that ``path`` exists and has the expected digest; ``fix`` is the command to suggest otherwise.

    Call this before parsing (and above all before unpickling) anything that was downloaded.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError("%s is missing: run `%s`" % (path, fix))
    actual = file_digest(path, expected.algorithm)
    if actual != expected.hexdigest:
        raise DatasetError("%s is corrupt (%s %s, expected %s): delete it and run `%s`"
                           % (path, expected.algorithm, actual, expected.hexdigest, fix))
    return path


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """A hidden temporary path beside ``path`` for a writer that needs a file name (PyTables, np.savez).

    On success the file is synced and renamed to ``path`` in one step; a crash or an exception leaves
    ``path`` as it was (old content or absent) and removes the temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make outputs private to their owner
    try:
        yield Path(tmp)
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_output(path: PathLike) -> Iterator[BinaryIO]:
    """``atomic_path`` as an open binary stream: ``path`` gets the bytes only if the block completes."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        yield f
