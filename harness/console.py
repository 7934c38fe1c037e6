"""The console of every command: stdout and stderr that survive their reader, and a run's ``console.log``.

Inside ``with surviving():`` (every command, through :func:`harness.errors.command`), ``sys.stdout`` and
``sys.stderr`` keep working when what is behind them can no longer be written (a closed pipe, ``| head -1``; a full
device): the stream is given up (its file descriptor now points at /dev/null, so the interpreter's own flush at exit
does not fail either), a ``warning:`` line says so on the other stream or in the run's log, and the command goes on.

Inside ``with console_log(path):``, both also append to the log file, so the log lands beside ``log.jsonl``
whatever chose the folder and keeps everything even when the terminal is gone. The originals' console lines go to
stdout; this project's own notices and progress go to stderr. A live progress bar is drawn on the terminal only,
and written to the log as sparse plain lines (:func:`to_log_only`). A log that cannot be written (a full disk) is
a UserError.
"""

import contextlib
import os
import sys
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Optional

from harness.files import reporting_write_failures

_log: Optional[IO[str]] = None


class _Survivor:
    """A text stream that stops writing to ``stream`` once it fails with an OSError (closed pipe, full device)."""

    def __init__(self, stream: IO[str], name: str) -> None:
        self.stream, self.name, self.lost = stream, name, False

    def _attempt(self, write: Callable[[], Any]) -> None:
        if self.lost:
            return
        try:
            write()
        except (OSError, ValueError) as error:  # ValueError: a stream closed inside this process
            self.lost = True
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.stream.fileno())
                os.close(devnull)
            _say_lost(self.name, getattr(error, "strerror", None) or str(error))

    def write(self, text: str) -> int:
        self._attempt(lambda: self.stream.write(text))
        return len(text)

    def flush(self) -> None:
        self._attempt(self.stream.flush)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding...: the stream's own
        return getattr(self.stream, name)


def _say_lost(name: str, reason: str) -> None:
    line = "warning: %s can no longer be written (%s): the command goes on%s\n" % (
        name,
        reason,
        ", and console.log keeps everything" if _log is not None else "",
    )
    if _log is not None:
        to_log_only(line.rstrip("\n"))
    other = sys.stderr if name == "stdout" else sys.stdout
    if isinstance(other, _Tee):
        other = other.stream
    if not getattr(other, "lost", True):
        other.write(line)


@contextlib.contextmanager
def surviving() -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` that survive a closed or full destination, for the duration of the block."""
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Survivor(stdout, "stdout"), _Survivor(stderr, "stderr")
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = stdout, stderr


class _Tee:
    """A text stream that writes to ``stream`` and to the open log."""

    def __init__(self, stream: IO[str], log: IO[str], path: Path) -> None:
        self.stream, self.log, self.path = stream, log, path

    def write(self, text: str) -> int:
        with reporting_write_failures(self.path):
            self.log.write(text)
        self.stream.write(text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()
        with reporting_write_failures(self.path):
            self.log.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()


@contextlib.contextmanager
def console_log(path: Path) -> Iterator[None]:
    """Append stdout and stderr to ``path`` for the duration of the block (line-buffered)."""
    global _log
    with reporting_write_failures(path):
        log = open(path, "a", buffering=1, encoding="utf-8")
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr, _log = _Tee(stdout, log, path), _Tee(stderr, log, path), log
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            sys.stdout.flush()
            sys.stderr.flush()
        sys.stdout, sys.stderr, _log = stdout, stderr, None
        with contextlib.suppress(OSError):
            log.close()


def terminal() -> Optional[IO[str]]:
    """The stderr stream a live bar may be drawn on (the terminal itself, bypassing the log), or None."""
    stream = sys.stderr
    while isinstance(stream, (_Tee, _Survivor)):
        if getattr(stream, "lost", False):
            return None
        stream = stream.stream
    return stream if stream.isatty() else None


def to_log_only(line: str) -> None:
    """Write a line to the open console log without showing it on the terminal (no-op without a log)."""
    if _log is not None:
        with contextlib.suppress(OSError):  # a full disk is reported by the next real write
            _log.write(line + "\n")
