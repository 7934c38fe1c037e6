"""``python -m sweep.status`` (``make sweep-status``): each seed of a sweep, its epoch and state.

Read from the run folders (``log.jsonl``, the lock of a run in progress) and, for seeds submitted to Slurm, from the
queue (``squeue``, where it is installed): ``finished``, ``running``, ``stopped`` (epochs done, no process: it
resumes when rerun or requeued), ``not started``, with the Slurm task's state beside it.
"""

import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

from harness import epoch_log, lock
from harness.errors import ArgumentParser, UserError, command
from harness.run_folder import LOG
from sweep import plan

COLUMNS = ("seed", "epoch", "state", "best epoch", "test error %", "slurm")


def queue(jobs: List[str]) -> Optional[Dict[str, str]]:
    """Slurm's state of each job (``<array job>_<task>``) still in the queue; None where squeue cannot tell."""
    if not jobs:
        return {}
    arrays = sorted({job.split("_")[0] for job in jobs})
    try:
        done = subprocess.run(
            ["squeue", "--noheader", "--array", "--jobs", ",".join(arrays), "--format", "%i %T"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:  # e.g. jobs so old that Slurm forgot them
        return None
    return dict(line.split()[:2] for line in done.stdout.splitlines() if len(line.split()) >= 2)


def row(folder: Path, seed: str, how: Dict[str, str], queued: Optional[Dict[str, str]]) -> List[str]:
    """One seed's cells (``queued`` None: the queue is unknown)."""
    run = folder / ("seed-%s" % seed)
    job = how.get("job")
    slurm = "-" if not job else job if queued is None else "%s %s" % (job, queued.get(job, "not in the queue"))
    holder = lock.holder(run / lock.NAME)
    try:
        last: Optional[dict] = epoch_log.read_log(run / LOG)[-1]
    except UserError:
        last = None
    if last is None:
        return [seed, "0", "running (%s)" % holder if holder else "not started", "-", "-", slurm]
    state = "finished" if last["epoch"] >= last["num_epochs"] else "running (%s)" % holder if holder else "stopped"
    return [
        seed,
        "%d / %d" % (last["epoch"], last["num_epochs"]),
        state,
        str(last["best_epoch"]),
        "%.2f" % last["test_error_rate"],
        slurm,
    ]


def status(folder: Path) -> str:
    """The Markdown table of a sweep folder's seeds."""
    recorded = plan.read(folder)
    seeds = recorded["seeds"]
    queued = queue([how["job"] for how in seeds.values() if how.get("job")])
    lines = [
        "%s: %s, flags [%s]" % (folder, recorded["experiment"], " ".join(recorded["flags"])),
        "",
        "| %s |" % " | ".join(COLUMNS),
        "|%s" % (" --- |" * len(COLUMNS)),
    ]
    lines += ["| %s |" % " | ".join(row(folder, seed, how, queued)) for seed, how in seeds.items()]
    return "\n".join(lines)


@command
def main(argv: Optional[List[str]] = None) -> None:
    parser = ArgumentParser(prog="python -m sweep.status", description=__doc__.splitlines()[0].split(": ", 1)[1])
    parser.add_argument(
        "experiment", nargs="?", help="the sweep of this experiment (as for sweep.run), in RUNS/<experiment>-sweep"
    )
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="folder of run folders (default: runs)")
    parser.add_argument("--sweep-dir", type=Path, help="the sweep folder (instead of an experiment)")
    args = parser.parse_args(argv)
    if args.sweep_dir is None and args.experiment is None:
        folders = sorted(path.parent for path in args.runs.glob("*/" + plan.NAME))
        if not folders:
            raise UserError("no sweep in %s: start one with `make sweep EXPERIMENT=... SEEDS=...`" % args.runs)
    else:
        folders = [args.sweep_dir or plan.make(args.experiment, [], args.runs, None).folder]
    print("\n\n".join(status(folder) for folder in folders))
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
