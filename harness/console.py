"""A run's console: everything printed also goes to ``console.log`` in the run's own folder.

Inside ``with console_log(path):``, ``sys.stdout`` and ``sys.stderr`` write both to the terminal (or whatever they
were) and, appended, to the log file, so the log lands beside ``log.jsonl`` whatever chose the folder. The
originals' console lines go to stdout; this project's own notices and progress go to stderr. A live progress bar
is drawn on the terminal only, and written to the log as sparse plain lines (:func:`to_log_only`).
"""
import contextlib
import sys
from pathlib import Path
from typing import IO, Iterator, Optional

_log: Optional[IO[str]] = None


class _Tee:
    """A text stream that writes to ``stream`` and to the open log."""

    def __init__(self, stream: IO[str], log: IO[str]) -> None:
        self.stream, self.log = stream, log

    def write(self, text: str) -> int:
        self.log.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()
        self.log.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()


@contextlib.contextmanager
def console_log(path: Path) -> Iterator[None]:
    """Append stdout and stderr to ``path`` for the duration of the block (line-buffered)."""
    global _log
    log = open(path, "a", buffering=1, encoding="utf-8")
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr, _log = _Tee(stdout, log), _Tee(stderr, log), log
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr, _log = stdout, stderr, None
        log.close()


def terminal() -> Optional[IO[str]]:
    """The stderr stream a live bar may be drawn on (the terminal itself, bypassing the log), or None."""
    stream = sys.stderr.stream if isinstance(sys.stderr, _Tee) else sys.stderr
    return stream if stream.isatty() else None


def to_log_only(line: str) -> None:
    """Write a line to the open console log without showing it on the terminal (no-op without a log)."""
    if _log is not None:
        _log.write(line + "\n")
