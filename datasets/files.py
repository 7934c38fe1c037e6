"""File safety shared by every dataset and by the training checkpoints: checksums and atomic writes."""
import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]


class DatasetError(Exception):
    """A dataset file is missing, corrupt or malformed; the message names the command that fixes it."""


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
def atomic_output(path: PathLike) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path`` in one rename.

    A crash or an exception leaves ``path`` as it was (old content or absent) and removes the temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
