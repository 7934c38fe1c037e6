"""Shim: Theano's start-up failures as one ``error:`` line naming the flag that fixes them.

``import theano`` reads ``THEANO_FLAGS`` and makes its compile directory (under ``$HOME/.theano``) at import time,
before any command runs: a bad flag value or an unwritable directory would end in a traceback, a GPU that cannot be
opened (``device=cuda`` without a driver) is logged with a traceback and then silently replaced by the CPU, and a
C++ compiler that is not there (``cxx=``) is found only when the first graph compiles. :func:`start` imports Theano
and turns each into one line and exit status 1 (there is no command around an import to do it); a flag Theano does
not know, which it ignores, gets one ``warning:`` line, and Ctrl-C during the
import one line and exit status 130.
"""

import contextlib
import importlib
import logging
import os
import shutil
import sys
import warnings
from typing import Iterator, List, NoReturn

GPU_LOGGER = "theano.gpuarray"


class _Kept(logging.Filter):
    """Keeps the error records of a logger instead of letting them print."""

    def __init__(self) -> None:
        super().__init__()
        self.records: List[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            self.records.append(record)
            return False
        return True


@contextlib.contextmanager
def _gpu_errors() -> Iterator[_Kept]:
    kept = _Kept()
    logger = logging.getLogger(GPU_LOGGER)
    logger.addFilter(kept)
    try:
        yield kept
    finally:
        logger.removeFilter(kept)


def _fail(message: str) -> NoReturn:
    raise SystemExit("error: " + " ".join(message.split()))


def start(module: str) -> None:
    """Import ``module`` (which imports Theano); exit with one line if Theano cannot start as asked."""
    flags = os.environ.get("THEANO_FLAGS", "")
    with _gpu_errors() as gpu, warnings.catch_warnings(record=True) as caught:
        try:
            importlib.import_module(module)
        except KeyboardInterrupt:
            print(
                "interrupted (Ctrl-C) while Theano was starting: nothing was written; rerun the command",
                file=sys.stderr,
            )
            raise SystemExit(130) from None
        except Exception as error:  # Theano raises ValueError, OSError, ImportError... at import
            text = str(error)
            if "compiledir" in text:
                _fail(
                    "Theano cannot make its compile directory (%s): set "
                    "THEANO_FLAGS=base_compiledir=<a writable folder> (or make $HOME writable)" % text
                )
            _fail(
                "Theano cannot start with THEANO_FLAGS=%r (%s: %s): correct or unset THEANO_FLAGS"
                % (flags, type(error).__name__, text)
            )
    for warning in caught:  # a flag Theano does not know: one line; anything else as Python would show it
        text = str(warning.message)
        if "Config key" in text or "does not recognise this flag" in text:
            print(
                "warning: THEANO_FLAGS=%r: %s%s" % (flags, text, "" if "ignoring" in text else "; Theano ignores it"),
                file=sys.stderr,
                flush=True,
            )
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    import theano

    device = str(theano.config.device)
    if device.startswith(("cuda", "opencl")) and not getattr(
        getattr(theano, "gpuarray", None), "pygpu_activated", False
    ):
        reason = (
            "; ".join(str(record.exc_info[1]) if record.exc_info else record.getMessage() for record in gpu.records)
            or "pygpu is not installed"
        )
        _fail(
            "THEANO_FLAGS asks for device=%s, which cannot be opened (%s): run on a machine with a working GPU "
            "driver (README: Running on a GPU; in Docker, start the container with `--gpus all`), or remove "
            "device=%s to compute on the CPU" % (device, reason, device)
        )
    cxx = str(theano.config.cxx)
    if cxx and shutil.which(cxx) is None:  # found only when the first graph compiles, after data loading
        _fail(
            "THEANO_FLAGS=%r names cxx=%s, which is not a program here: correct cxx, or leave it out for g++ "
            "(apt-get install g++)" % (flags, cxx)
        )
