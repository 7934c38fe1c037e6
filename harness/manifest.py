"""``run.json``: what made a run — its experiment and every setting, and per session (start or resume) the
command line, code revision, library versions, Theano's flags and device, start time and compile time.

The experiment of a run folder is read from here (not from the folder's name) by ``make compare`` and by the
commands that use a trained network.
"""

import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

from harness.errors import UserError
from harness.files import atomic_output

REPOSITORY = Path(__file__).resolve().parents[1]
NAME = "run.json"


def now() -> str:
    """The current time, UTC, ISO 8601 (seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def code_revision() -> Dict[str, Any]:
    """The git commit of this code and whether the working tree had changes (None where git cannot tell)."""

    def git(*args: str) -> Optional[str]:
        try:
            done = subprocess.run(
                ["git", "-C", str(REPOSITORY)] + list(args), capture_output=True, text=True, timeout=20
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def device() -> str:
    """The device Theano computes on: ``cpu``, or the GPU's name and Theano's device name."""
    import compat  # noqa: F401  (must precede theano; imported here so that reading a manifest needs no Theano)

    import theano

    if getattr(getattr(theano, "gpuarray", None), "pygpu_activated", False):
        context = theano.gpuarray.type.get_context(None)
        return "%s (%s)" % (getattr(context, "devname", "GPU"), theano.config.device)
    return "cpu"


def float_type() -> str:
    """Theano's floatX."""
    import compat  # noqa: F401  (must precede theano)

    import theano

    return theano.config.floatX


def versions() -> Dict[str, Optional[str]]:
    """Python, NumPy, Theano, Lasagne and pygpu versions."""
    import compat  # noqa: F401  (must precede theano and lasagne)

    import lasagne
    import numpy
    import theano

    try:
        import pygpu

        pygpu_version: Optional[str] = pygpu.__version__
    except ImportError:
        pygpu_version = None
    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "theano": theano.__version__,
        "lasagne": lasagne.__version__,
        "pygpu": pygpu_version,
    }


def session() -> Dict[str, Any]:
    """What this process is: its command line, code, libraries, Theano configuration, machine and start time."""
    return {
        "started": now(),
        "argv": list(sys.argv),
        "code": code_revision(),
        "versions": versions(),
        "THEANO_FLAGS": os.environ.get("THEANO_FLAGS", ""),
        "floatX": float_type(),
        "device": device(),
        "host": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "pid": os.getpid(),
        "compile_seconds": None,
        "resumed_after_epoch": 0,
    }


def read(folder: Path) -> Dict[str, Any]:
    """A run folder's manifest; a UserError when it is missing or malformed."""
    path = folder / NAME
    if not path.is_file():
        raise UserError(
            "%s has no %s: it is not a run folder of this project (or the run never started)" % (folder, NAME)
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise UserError("%s is unreadable (%s): rerun the training command to rewrite it" % (path, error)) from None
    if not (
        isinstance(manifest, dict)
        and isinstance(manifest.get("experiment"), str)
        and isinstance(manifest.get("settings"), dict)
        and isinstance(manifest.get("sessions"), list)
    ):
        raise UserError("%s lacks experiment, settings or sessions: rerun the training command to rewrite it" % path)
    return manifest


def write(folder: Path, manifest: Dict[str, Any]) -> None:
    """Write the manifest atomically."""
    with atomic_output(folder / NAME) as f:
        f.write((json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
