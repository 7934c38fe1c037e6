"""``python -m sweep.run`` (``make sweep``): one experiment, several seeds, a run folder each, on Slurm or here.

On Slurm, one job array (sweep/slurm.py); locally, one seed after another, or one per device at once
(sweep/local.py). The folders:
sweep/plan.py. The script's flags are checked for every seed before anything is submitted or run.
"""

import os
import sys
from pathlib import Path
from typing import List, Optional

from harness.errors import ArgumentParser, UserError, command
from harness.settings import seed as seed_check
from sweep import local, plan, slurm

REPOSITORY = Path(__file__).resolve().parents[1]


def parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="python -m sweep.run",
        description=__doc__.splitlines()[0].split(": ", 1)[1],
        epilog="Everything after -- goes to the script, e.g. -- --num-epochs 10.",
    )
    p.add_argument(
        "experiment",
        help="mnist, cifar10, svhn, bc-mnist, bc-cifar10, bc-svhn (or the experiment's "
        "name), with -smoke for its small run",
    )
    p.add_argument("--seeds", type=int, nargs="+", required=True, metavar="N", help="one run per seed")
    p.add_argument(
        "--backend",
        choices=("slurm", "local"),
        default="local",
        help="slurm: submit one job array; local: run the seeds here (default)",
    )
    p.add_argument("--runs", type=Path, default=Path("runs"), help="folder of run folders (default: runs)")
    p.add_argument("--sweep-dir", type=Path, help="the sweep folder (default: RUNS/<experiment>-sweep)")
    p.add_argument(
        "--devices",
        nargs="+",
        default=[],
        metavar="DEVICE",
        help="local: run one seed per device at once, e.g. cuda0 cuda1 (Theano's device names)",
    )
    slurm_options = p.add_argument_group("slurm")
    slurm_options.add_argument("--time", default="24:00:00", help="each task's time limit (default: 24:00:00)")
    slurm_options.add_argument("--gpus", type=int, default=1, help="GPUs per task, --gres=gpu:N (0: none; default: 1)")
    slurm_options.add_argument(
        "--signal-seconds",
        type=int,
        default=900,
        help="ask a run to stop this long before its time limit; must exceed one epoch (default: 900)",
    )
    slurm_options.add_argument(
        "--theano-cache",
        type=Path,
        metavar="DIR",
        help="a warm Theano base_compiledir that each task's own compile directory starts as a copy of",
    )
    slurm_options.add_argument(
        "--launcher",
        default="",
        metavar="WORDS",
        help="words before the interpreter in each task, e.g. 'apptainer exec --nv IMAGE'",
    )
    slurm_options.add_argument(
        "--python", default=sys.executable, help="the interpreter of each task (default: this one, %s)" % sys.executable
    )
    slurm_options.add_argument(
        "--sbatch",
        default="",
        metavar="OPTIONS",
        help="more sbatch options, e.g. '--partition=gpu --account=me' (override the script's)",
    )
    return p


def check(args) -> None:
    """The sweep's own options (before anything is imported or submitted)."""
    for value in args.seeds:
        problem = seed_check(value)
        if problem:
            raise UserError("--seeds %d: must be %s" % (value, problem), 2)
    if len(set(args.seeds)) != len(args.seeds):
        raise UserError("--seeds lists a seed twice: list each once", 2)
    if args.devices and args.backend != "local":
        raise UserError("--devices is for --backend local (on Slurm, --gpus asks each task for its GPU)", 2)
    if len(set(args.devices)) != len(args.devices):
        raise UserError("--devices lists a device twice: list each once", 2)
    if args.gpus < 0 or args.signal_seconds < 0:
        raise UserError("--gpus and --signal-seconds must be 0 or more", 2)
    if args.theano_cache is not None and not args.theano_cache.is_dir():
        raise UserError(
            "--theano-cache %s is not a folder: name a Theano base_compiledir (e.g. ~/.theano)" % args.theano_cache, 2
        )


@command
def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args, flags = parser().parse_args(argv[:split]), argv[split + 1 :]
    check(args)
    if args.backend == "slurm":
        slurm.check_client()
    sweep = plan.make(args.experiment, flags, args.runs, args.sweep_dir)
    plan.check_flags(sweep, args.seeds)
    plan.prepare(sweep)
    seeds = {seed: {"backend": args.backend} for seed in args.seeds}
    if args.backend == "local":
        plan.record(sweep, seeds)
        local.run(sweep, args.seeds, args.python, args.devices)
        return
    if args.gpus and "device=" not in os.environ.get("THEANO_FLAGS", ""):
        print(
            "note: THEANO_FLAGS names no device, so the tasks compute on the CPU beside their GPU: for the GPU, "
            "THEANO_FLAGS=device=cuda,dnn.enabled=False (README: Running on a GPU)",
            file=sys.stderr,
        )
    options = slurm.Options(
        args.time,
        args.gpus,
        args.signal_seconds,
        args.python,
        args.launcher.split(),
        args.theano_cache,
        args.sbatch.split(),
    )
    job = slurm.submit(sweep, args.seeds, options, REPOSITORY)
    plan.record(sweep, {seed: dict(how, job="%s_%d" % (job, task)) for task, (seed, how) in enumerate(seeds.items())})
    print(
        "submitted job array %s: seeds %s into %s (`make sweep-status` shows their progress)"
        % (job, " ".join(map(str, args.seeds)), sweep.folder)
    )


if __name__ == "__main__":
    raise SystemExit(main())
