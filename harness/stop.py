"""Stopping a run at an epoch boundary on request: a signal sets a flag; the run folder looks at it after each
epoch's checkpoint and log are written (harness.run_folder.RunFolder.epoch_done) and then ends the run.

A batch scheduler asks for it before a time limit: Slurm's ``--signal=B:USR1@SECONDS`` (sweep/slurm.py forwards the
signal from the batch shell to the training process). The run ends with one line saying after which epoch it stopped,
and exit status :data:`harness.errors.STOPPED`, which tells the batch script to requeue the task; the requeued task
reruns the same command, which resumes exactly after that epoch (docs/REPRODUCTION.md §6). Any other way of ending a
run (Ctrl-C, SIGTERM, SIGKILL) is not this module's: those stop it at once, and a rerun resumes from the last
checkpoint all the same.
"""

import signal
from typing import Optional

SIGNAL = signal.SIGUSR1

_requested: Optional[str] = None


def _handler(signum: int, frame: object) -> None:
    global _requested
    _requested = signal.Signals(signum).name


def listen() -> None:
    """From now on, :data:`SIGNAL` asks the run to stop after the epoch in progress (and forgets any earlier
    request)."""
    global _requested
    _requested = None
    signal.signal(SIGNAL, _handler)


def requested() -> Optional[str]:
    """The name of the signal that asked the run to stop, or None."""
    return _requested
