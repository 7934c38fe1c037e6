"""A sweep as one Slurm job array: one task per seed, each an ordinary run that stops cleanly before its time limit
and requeues itself, so that a run longer than the limit goes on in the next allocation, exactly (harness.stop).

The batch script (``sweep.sbatch`` in the sweep folder, submitted with ``sbatch --parsable``):

* ``--array=0-(n-1)``: task ``i`` runs seed ``i`` of the list (seeds may exceed Slurm's largest array index);
* ``--gres=gpu:N`` (none for ``--gpus 0``), ``--time``, ``--requeue``, ``--open-mode=append`` (a requeued task's
  output goes on in the same file, ``slurm-<job>_<task>.out``);
* ``--signal=B:USR1@<seconds>``: Slurm signals the batch shell that long before the time limit; the shell passes
  SIGUSR1 on to the training process, which ends after the epoch in progress with exit status 3
  (harness.errors.STOPPED); the shell then requeues its own task (``scontrol requeue``: Slurm holds a requeued job
  about two minutes before it may start again). The lead time must exceed one epoch, or the time limit ends the
  task first (resubmitting the sweep resumes it from its last checkpoint all the same);
* a Theano compile directory of its own (``base_compiledir``, set in ``THEANO_FLAGS`` before Python starts):
  tasks sharing one wait on each other's compile lock or clash on it (Theano issues 4858, 5694). It lives in the
  sweep folder (``.theano/seed-<n>``, kept for a requeued task) and, with ``--theano-cache``, starts as a copy of
  a warm compile directory, so that only changed graphs compile. ``APPTAINERENV_THEANO_FLAGS`` carries the same
  flags into an Apptainer container (``--launcher``), whose image's own ``THEANO_FLAGS`` would win otherwise.

A task killed any other way (``scancel``, ``scontrol requeue``, a node failure) reruns the same command when it is
requeued or the sweep resubmitted, and resumes from the run's last checkpoint.
"""

import shlex
import shutil
import subprocess
from pathlib import Path
from typing import List, NamedTuple, Optional, Sequence

from harness.errors import STOPPED, UserError
from harness.files import atomic_output
from sweep.plan import Sweep

SCRIPT = "sweep.sbatch"


class Options(NamedTuple):
    """What each task asks of Slurm, and how it runs the script."""

    time: str  # --time, Slurm's formats (minutes, HH:MM:SS, D-HH)
    gpus: int  # --gres=gpu:N; 0 asks for none
    signal_seconds: int  # how long before the time limit the run is asked to stop
    python: str  # the interpreter (inside the launcher, if any)
    launcher: List[str]  # words before the interpreter, e.g. apptainer exec --nv IMAGE
    theano_cache: Optional[Path]  # a warm Theano base_compiledir each task's own starts from
    sbatch: List[str]  # more sbatch options (override the script's)


def script(sweep: Sweep, seeds: Sequence[int], options: Options, repository: Path) -> str:
    """The batch script of the job array."""
    folder = sweep.folder.resolve()
    q = shlex.quote
    directives = [
        "--job-name=%s" % folder.name,
        "--array=0-%d" % (len(seeds) - 1),
        "--time=%s" % options.time,
        "--signal=B:USR1@%d" % options.signal_seconds,
        "--requeue",
        "--open-mode=append",
        "--output=%s" % (folder / "slurm-%A_%a.out"),
    ]
    if options.gpus:
        directives.append("--gres=gpu:%d" % options.gpus)
    command = (
        [q(word) for word in options.launcher + [options.python, "-u", "-m", sweep.experiment.module]]
        + ["--seed", "\"$seed\"", "--output-dir", "\"$run\""]
        + [q(flag) for flag in sweep.flags]
    )
    cache = ""
    if options.theano_cache is not None:
        cache = (
            "if [ ! -d \"$compiledir\" ]; then  # a copy of the warm cache; what it lacks is compiled\n"
            "    mkdir -p \"$compiledir.tmp.$$\"\n"
            "    cp -r %s/. \"$compiledir.tmp.$$\" 2>/dev/null ||\n"
            "        echo \"note: the copy of the Theano cache is incomplete (it changed meanwhile)\" >&2\n"
            "    find \"$compiledir.tmp.$$\" -name lock_dir -prune -exec rm -rf {} +\n"
            "    mv \"$compiledir.tmp.$$\" \"$compiledir\"\n"
            "fi\n" % q(str(options.theano_cache.resolve()))
        )
    return (
        "#!/bin/bash\n"
        + "".join("#SBATCH %s\n" % directive for directive in directives)
        + "# %s: seeds %s (task i runs the i-th), written by `python -m sweep.run`\n"
        % (sweep.experiment.name, " ".join(map(str, seeds)))
        + "set -u\n"
        + "seeds=(%s)\n" % " ".join(map(str, seeds))
        + "seed=${seeds[$SLURM_ARRAY_TASK_ID]}\n"
        + "run=%s/seed-$seed\n" % q(str(folder))
        + "compiledir=%s/.theano/seed-$seed\n" % q(str(folder))
        + cache
        + "export THEANO_FLAGS=\"${THEANO_FLAGS:+$THEANO_FLAGS,}base_compiledir=$compiledir\"\n"
        + "export APPTAINERENV_THEANO_FLAGS=\"$THEANO_FLAGS\"  # wins over an image's own (--launcher)\n"
        + "cd %s || exit 1\n" % q(str(repository))
        + "echo \"task $SLURM_ARRAY_TASK_ID (job $SLURM_JOB_ID, restart ${SLURM_RESTART_COUNT:-0}) on "
        "$(hostname): seed $seed into $run\" >&2\n"
        + " ".join(command)
        + " &\n"
        + "pid=$!\n"
        + "# Slurm's signal before the time limit: the run stops after its epoch in progress\n"
        + "trap 'kill -USR1 \"$pid\" 2>/dev/null' USR1\n"
        + "while kill -0 \"$pid\" 2>/dev/null; do wait \"$pid\"; done\n"
        + "wait \"$pid\"; status=$?\n"
        + "if [ \"$status\" -eq %d ]; then\n" % STOPPED
        + "    echo \"seed $seed stopped before the time limit: requeueing job $SLURM_JOB_ID\" >&2\n"
        + "    scontrol requeue \"$SLURM_JOB_ID\"\n"
        + "fi\n"
        + "exit \"$status\"\n"
    )


def check_client() -> None:
    """A UserError unless sbatch is here (before anything is written)."""
    if shutil.which("sbatch") is None:
        raise UserError(
            "sbatch is not installed here: submit from a Slurm login node (or `make setup "
            "INSTALL_FLAGS=--slurm` for Debian's client), or use --backend local"
        )


def submit(sweep: Sweep, seeds: Sequence[int], options: Options, repository: Path) -> str:
    """Write the batch script into the sweep folder and submit it; returns the job id."""
    path = sweep.folder / SCRIPT
    with atomic_output(path) as f:
        f.write(script(sweep, seeds, options, repository).encode())
    command = ["sbatch", "--parsable"] + options.sbatch + [str(path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise UserError("sbatch did not answer within 2 minutes: check the cluster (sinfo), then retry") from None
    if done.returncode != 0:
        raise UserError(
            "sbatch refused the job (%s): fix the options (--sbatch, --time, --gpus) and retry; the "
            "script is %s" % (" ".join(done.stderr.split()) or "no message", path)
        )
    return done.stdout.strip().split(";")[0]
