"""File safety for every writer and reader of the project: checksums, atomic writes, no debris.

Every file appears under its final name only when complete (:func:`atomic_path`): a kill leaves the previous
content or nothing. A writer killed before its rename leaves a hidden temporary file named after its process,
which the next write of the same file removes once that process is gone. A full disk, a read-only folder or a
missing permission while writing becomes one :class:`~harness.errors.UserError` naming the file.
"""

import contextlib
import errno
import hashlib
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Dict, Iterator, Optional, Union

import numpy as np

from harness.errors import UserError

PathLike = Union[str, "os.PathLike[str]"]
# errno values that a user fixes by freeing space, choosing another folder or mending permissions
WRITE_FAILURES = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for this file system or limit",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


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


def readable_file(path: PathLike, fix: str) -> Path:
    """``path`` if it is a readable regular file; otherwise a UserError that says what it is and how to fix it."""
    path = Path(path)
    if path.is_dir():
        raise UserError("%s is a folder, not a file: remove it, then run `%s`" % (path, fix))
    if not path.exists():
        raise UserError("%s is missing: run `%s`" % (path, fix))
    if not path.is_file():
        raise UserError("%s is not a regular file: remove it, then run `%s`" % (path, fix))
    if not os.access(path, os.R_OK):
        raise UserError(
            "%s is not readable (permission denied): fix its permissions, or delete it and run `%s`" % (path, fix)
        )
    return path


def verify(path: PathLike, expected: Checksum, fix: str) -> Path:
    """Check that ``path`` is a readable file with the expected digest; ``fix`` is the command to suggest otherwise.

    Call this before parsing (and above all before unpickling) anything that was downloaded.
    """
    path = readable_file(path, fix)
    actual = file_digest(path, expected.algorithm)
    if actual != expected.hexdigest:
        raise UserError(
            "%s is corrupt (%s %s, expected %s): delete it and run `%s`"
            % (path, expected.algorithm, actual, expected.hexdigest, fix)
        )
    return path


def write_failure(error: OSError, path: PathLike) -> UserError:
    """The UserError for an OSError met while writing ``path`` (the caller re-raises other errors)."""
    return UserError(
        "cannot write %s (%s): free some space or fix the folder, then rerun the same command "
        "(what was complete is kept, and it continues from there)" % (path, WRITE_FAILURES[error.errno])
    )


@contextlib.contextmanager
def reporting_write_failures(path: PathLike) -> Iterator[None]:
    """A write failure the user can fix (full disk, read-only folder) met in the block, while writing ``path``,
    raised as its UserError (:func:`write_failure`); any other error as it is."""
    try:
        yield
    except OSError as error:
        if error.errno in WRITE_FAILURES:
            raise write_failure(error, path) from None
        raise


def free_bytes(folder: PathLike) -> int:
    """Bytes an unprivileged writer may still use on the file system of ``folder``."""
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def ensure_space(path: PathLike, needed: int) -> None:
    """A UserError, before writing, when ``path``'s file system has fewer than ``needed`` bytes free. For writers
    (HDF5) that cannot recover from a write that fails halfway: they check each slab first."""
    free = free_bytes(Path(path).parent)
    if free < needed:
        raise UserError(
            "cannot write %s (no space left on the device: %.0f MB needed, %.0f MB free): free some "
            "space, then rerun the same command (what was complete is kept, and it continues from there)"
            % (path, needed / 1e6, free / 1e6)
        )


def _limit(path: Path, name: str, fallback: int) -> int:
    """``os.pathconf`` of the nearest existing folder above ``path`` (``fallback`` where it cannot say)."""
    folder = Path(os.path.abspath(path))
    while not os.path.isdir(folder) and folder != folder.parent:
        folder = folder.parent
    try:
        return os.pathconf(folder, name)
    except (OSError, ValueError):
        return fallback


def path_problem(path: PathLike) -> Optional[str]:
    """Why ``path`` cannot be made as a file or folder, or None: it is empty, one of its names is longer than
    the file system allows (room is left for the hidden temporary names of :func:`atomic_path`), or the whole
    path is."""
    text = os.fspath(path)
    if not text.strip():
        return "an empty path"
    longest = _limit(Path(text), "PC_NAME_MAX", 255) - len(".%d..tmp") - 16  # an atomic writer's temporary name
    for name in Path(text).parts:
        if len(os.fsencode(name)) > longest:
            return "a name longer than %d bytes (%s...)" % (longest, name[:24])
    if len(os.fsencode(os.path.abspath(text))) + 64 > _limit(Path(text), "PC_PATH_MAX", 4096):
        return "a path longer than the file system allows"
    return None


def writable_file(path: PathLike, fix: str = "rerun the same command") -> Path:
    """``path`` if a file can be written there (see :func:`path_problem`; no folder or other non-regular file in its
    place); otherwise a UserError saying what to do, before any work is done."""
    path = Path(path)
    problem = path_problem(path)
    if problem:
        raise UserError("cannot write %s: %s: choose a shorter or other name" % (path, problem))
    if path.exists() and not path.is_file():
        raise UserError(
            "cannot write %s: a %s is in its place: remove it, then %s"
            % (path, "folder" if path.is_dir() else "non-regular file", fix)
        )
    return path


def _temporary_prefix(path: Path) -> str:
    return "." + path.name + "."


def remove_debris(path: PathLike) -> None:
    """Delete the temporary files that killed writers of ``path`` left beside it (their process is gone)."""
    path = Path(path)
    pattern = re.compile(re.escape(_temporary_prefix(path)) + r"(\d+)\.[^.]+\.tmp$")
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            match = pattern.match(entry.name)
            if match and not process_alive(int(match.group(1))):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine is alive (never this process itself)."""
    if pid == os.getpid():
        return False  # an earlier writer of this very process: it failed, or it would have renamed its file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def atomic_path(path: PathLike, previous: Optional[PathLike] = None) -> Iterator[Path]:
    """A hidden temporary path beside ``path`` for a writer that needs a file name (PyTables, a zip file).

    On success the file is synced and renamed to ``path`` in one step (the old ``path``, if any, first becomes
    ``previous`` when that is given); an exception (or a kill) leaves ``path`` as it was (old content or absent);
    the temporary file is removed now, or by the next writer of ``path`` after a kill. Write failures the user
    can fix (full disk, read-only folder) become a UserError.
    """
    path = writable_file(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_debris(path)
        fd, tmp = tempfile.mkstemp(
            dir=path.parent, prefix="%s%d." % (_temporary_prefix(path), os.getpid()), suffix=".tmp"
        )
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make outputs private to their owner
        yield Path(tmp)
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        if previous is not None and path.exists():
            os.replace(path, previous)
        os.replace(tmp, path)
    except OSError as error:
        _discard(tmp)
        if error.errno in WRITE_FAILURES:
            raise write_failure(error, path) from error
        raise
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: Union[str, None]) -> None:
    if tmp is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_npz(path: PathLike, arrays: Dict[str, np.ndarray], previous: Optional[PathLike] = None) -> None:
    """``np.savez(path, **arrays)``, atomically (see :func:`atomic_path`): the same zip of ``<name>.npy`` members,
    written by a ZipFile that is closed even when a write fails (np.savez leaves it to the garbage collector, which
    then complains about the closed file). ``np.savez(f, *values)``'s names are ``arr_0``, ``arr_1``, ..."""
    with atomic_path(path, previous=previous) as tmp:
        with zipfile.ZipFile(tmp, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, array in arrays.items():
                with archive.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


@contextlib.contextmanager
def atomic_output(path: PathLike) -> Iterator[BinaryIO]:
    """``atomic_path`` as an open binary stream: ``path`` gets the bytes only if the block completes."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        yield f
