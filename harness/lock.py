"""One writer at a time for every command that writes a shared folder (a run folder, the preprocessed SVHN files).

``with locked(folder / NAME, busy) as holder:`` takes an exclusive ``flock`` on the lock file (creating and
writing it proves the folder writable) and writes who holds it; a second process is refused with the UserError
``busy % holder``, naming the first, before it touches anything. The kernel drops the lock when its process ends,
however it ends: the lock of a killed process is taken over, and ``holder`` says what that process had written.
:func:`holder` reads, from another process, who holds a lock file.
"""

import contextlib
import fcntl
import os
import re
import socket
from pathlib import Path
from typing import Iterator, Optional

from harness.errors import UserError
from harness.files import process_alive, reporting_write_failures, writable_file
from harness.manifest import now

NAME = ".lock"  # the lock file's name in the folder it guards
HOLDER = "process %d on %s since %s"  # what the holding process writes into it


@contextlib.contextmanager
def locked(path: Path, busy: str) -> Iterator[str]:
    """Hold the lock file ``path`` for the block; yields what an earlier holder that ended without releasing it
    had written ('' if none). ``busy`` is the message for a lock held by another process (``%s``: that process)."""
    writable_file(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise UserError(
            "cannot write %s (%s): choose another folder, or fix its permissions" % (path, error.strerror)
        ) from None
    try:
        holder = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(busy % (holder or "a process that has not written its name yet")) from None
        with reporting_write_failures(path):
            os.ftruncate(fd, 0)
            os.pwrite(fd, (HOLDER % (os.getpid(), socket.gethostname(), now()) + "\n").encode(), 0)
            os.fsync(fd)
        try:
            yield holder
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing releases the flock


def holder(path: Path) -> Optional[str]:
    """What the lock file ``path`` says of the process holding it (``process PID on HOST since TIME``), or None when
    none does: the file is emptied when its holder ends, and a killed holder's process on this machine is gone.
    Only reads (a holder on another machine is taken at its word)."""
    try:
        written = path.read_text(errors="replace").strip()
    except OSError:
        return None
    match = re.match(r"process (\d+) on (\S+) ", written)
    if not written or (match and match.group(2) == socket.gethostname() and not process_alive(int(match.group(1)))):
        return None
    return written
