"""The one user-error path of every command: :class:`UserError` and the :func:`command` decorator.

A ``UserError`` is anything the person running a command can fix (a bad flag value, missing or damaged data, a
checkpoint made with other settings, a folder in use, a malformed log, a full disk). Its message says what is wrong
and what to do. Commands are functions ``main(argv) -> None`` decorated with :func:`command`, which turns the error
into one ``error: ...`` line on stderr and an exit status; nothing deeper raises ``SystemExit``.
"""

import argparse
import errno
import functools
import sys
from typing import Any, Callable, List, Optional

USAGE = 2  # exit status of a bad command line (argparse's convention)
FAILED = 1  # exit status of any other user error
INTERRUPTED = 130  # exit status after Ctrl-C (128 + SIGINT, the shell's convention)
STOPPED = 3  # exit status of a run stopped at an epoch boundary on request (harness.stop): rerun to continue


class UserError(Exception):
    """Something the user can fix; ``str(error)`` is the whole message, ``status`` the exit status."""

    def __init__(self, message: str, status: int = FAILED) -> None:
        super().__init__(message)
        self.status = status


class Finished(Exception):
    """Nothing left to do (e.g. rerunning a finished run): the command ends with status 0 after its message."""


class Stopped(Exception):
    """A run stopped at an epoch boundary on request (harness.stop), after saying so: the command ends with
    status :data:`STOPPED`, and rerunning it continues the run."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse for every command: a bad command line is a UserError (one ``error:`` line, exit status 2) and
    ``--help`` ends the command with status 0 through :class:`Finished` (no SystemExit from inside). Abbreviated
    flags are refused (``--num-epoch`` is not ``--num-epochs``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError("%s (see --help)" % message, USAGE)

    def exit(self, status: int = 0, message: Optional[str] = None) -> None:  # type: ignore[override]
        if status:
            raise UserError((message or "").strip() or "bad command line", status)
        if message:
            print(message, end="")
        raise Finished()


def error_line(error: UserError) -> str:
    """The one line a command prints for a UserError."""
    return "error: %s" % " ".join(str(error).split("\n"))


Main = Callable[[Optional[List[str]]], None]


def command(main: Main) -> Callable[[Optional[List[str]]], int]:
    """Decorate ``main(argv)``: returns 0 when it completes or raises :class:`Finished`, :data:`STOPPED` for
    :class:`Stopped`, else the UserError's status after printing ``error: <message>`` (one line) to stderr. Ctrl-C
    that nothing deeper explained ends with ``error: interrupted`` and status 130; a path too long for the file
    system (ENAMETOOLONG, met wherever a given path is read) is one line too. stdout and stderr survive a closed or
    full destination (:func:`harness.console.surviving`)."""

    @functools.wraps(main)
    def run(argv: Optional[List[str]] = None) -> int:
        from harness.console import surviving  # the console imports this module

        with surviving():
            try:
                main(argv)
            except Finished:
                return 0
            except Stopped:
                return STOPPED
            except KeyboardInterrupt:
                error = UserError("interrupted (Ctrl-C)", INTERRUPTED)
            except UserError as caught:
                error = caught
            except OSError as caught:  # a path given by the user that no file system accepts, wherever it is read
                if caught.errno != errno.ENAMETOOLONG:
                    raise
                error = UserError(
                    "%s: a name in this path is longer than the file system allows: choose a shorter "
                    "one" % caught.filename
                )
            else:
                return 0
            print(error_line(error), file=sys.stderr, flush=True)
            return error.status

    return run
