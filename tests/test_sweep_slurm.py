"""A seed sweep on a real Slurm cluster (tests/slurm_cluster.py: slurmctld, slurmd and munged on localhost):
three seeds of a tiny BinaryNet MNIST run as one job array; one task is killed and requeued mid-run
(``scontrol requeue``), another is asked to stop before its time limit (SIGUSR1 to its batch shell, as Slurm's
``--signal=B:USR1@...`` does) and requeues itself; every seed must end with the figures of the same seed run
directly, and ``make compare``'s aggregate must be their mean and sample standard deviation. Skipped without Slurm,
except under ``CI=true``, where it fails (CI installs it: ``docker/install.sh --slurm``)."""

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest

from tests import slurm_cluster

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (1, 2, 3)
EPOCHS = 15
FLAGS = [
    "--num-units",
    "8",
    "--n-hidden-layers",
    "1",
    "--train-size",
    "5000",
    "--valid-size",
    "100",
    "--test-size",
    "100",
    "--num-epochs",
    str(EPOCHS),
]

pytestmark = pytest.mark.slow


def figures(run: Path) -> List[Dict]:
    """A run's log.jsonl without its timings."""
    return [
        {k: v for k, v in json.loads(line).items() if k not in ("seconds", "time")}
        for line in (run / "log.jsonl").read_text().splitlines()
    ]


def epochs_done(run: Path) -> int:
    try:
        return len((run / "log.jsonl").read_text().splitlines())
    except OSError:
        return 0


def slurm(env: Dict[str, str], *command: str) -> str:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, "%s: %s" % (" ".join(command), done.stderr)
    return done.stdout


def wait(what: str, condition, timeout: float, step: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "%s did not happen within %d s" % (what, timeout)
        time.sleep(step)


@pytest.fixture
def slurm_installed() -> None:
    missing = slurm_cluster.missing()
    if missing:
        message = "Slurm is not installed (%s missing): %s" % (", ".join(missing), slurm_cluster.INSTALL)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: the Slurm test must run)")
        pytest.skip(message)


def test_a_sweep_on_slurm_survives_requeues_and_equals_the_seeds_run_alone(
    slurm_installed, real_mnist_root, tmp_path, tmp_path_factory, capsys
):
    env = dict(os.environ, PYLEARN2_DATA_PATH=str(real_mnist_root))
    # Each seed run directly: the reference figures; their Theano compile directory, now warm, is what each task's
    # own starts as a copy of.
    for seed in SEEDS:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "binarynet.mnist",
                "--seed",
                str(seed),
                "--output-dir",
                str(tmp_path / "direct" / ("seed-%d" % seed)),
            ]
            + FLAGS,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
    cache = subprocess.run(
        [sys.executable, "-c", "import compat, theano; print(theano.config.base_compiledir)"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    sweep = tmp_path / "runs" / "tiny-sweep"
    runs = {seed: sweep / ("seed-%d" % seed) for seed in SEEDS}

    with slurm_cluster.cluster(tmp_path_factory.mktemp("slurm"), cpus=len(SEEDS)) as cluster_env:
        env.update(SLURM_CONF=cluster_env["SLURM_CONF"])
        submitted = subprocess.run(
            [sys.executable, "-m", "sweep.run", "mnist", "--seeds"]
            + [str(s) for s in SEEDS]
            + [
                "--backend",
                "slurm",
                "--gpus",
                "0",
                "--time",
                "10",
                "--signal-seconds",
                "60",
                "--theano-cache",
                cache,
                "--sweep-dir",
                str(sweep),
                "--",
            ]
            + FLAGS,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert submitted.returncode == 0, submitted.stderr
        job = json.loads((sweep / "sweep.json").read_text())["seeds"]["1"]["job"].split("_")[0]
        assert submitted.stdout.startswith("submitted job array %s: seeds 1 2 3" % job)

        # Seed 1: killed and requeued mid-run. Seed 2: asked to stop before the limit; it requeues itself. Each as
        # soon as its second epoch is logged.
        interrupt = {1: ("scontrol", "requeue", "%s_0" % job), 2: ("scancel", "--batch", "--signal=USR1", "%s_1" % job)}
        interrupted_at: Dict[int, int] = {}

        def interrupted() -> bool:
            for seed in list(interrupt):
                if epochs_done(runs[seed]) >= 2:
                    slurm(env, *interrupt.pop(seed))
                    interrupted_at[seed] = epochs_done(runs[seed])
            return not interrupt

        wait("the second epoch of seeds 1 and 2", interrupted, 240)
        assert max(interrupted_at.values()) < EPOCHS, "a seed finished before it could be interrupted"

        def queue() -> Dict[str, str]:
            lines = slurm(env, "squeue", "--noheader", "--array", "--jobs", job, "--format", "%i %T %r").splitlines()
            return {line.split()[0]: line.split(None, 1)[1] for line in lines}

        held: Dict[str, float] = {}

        def settle() -> bool:
            """True once the array has left the queue. Slurm holds a requeued task about two minutes (its begin
            time); once held 3 s, it may start now (at once, slurmd would still refuse its new credential as
            revoked with the old one)."""
            tasks = queue()
            for task, state in tasks.items():
                if state != "PENDING BeginTime":
                    held.pop(task, None)
                elif time.monotonic() - held.setdefault(task, time.monotonic()) >= 3:
                    slurm(env, "scontrol", "update", "jobid=%s" % task, "StartTime=now")
                    held.pop(task)
            return not tasks

        wait("the job array's end", settle, 360, step=1)
        records = subprocess.run(
            ["sacct", "--completion", "--format", "JobID,JobName,State,ExitCode,Start,End", "--name", "tiny-sweep"],
            env=env,
            capture_output=True,
            text=True,
        ).stdout
        status = subprocess.run(
            [sys.executable, "-m", "sweep.status", "--sweep-dir", str(sweep)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
    with capsys.disabled():  # for CI's log
        print(
            "\nsacct --completion of the job array %s (one line per task run; a requeued task has two):\n%s"
            % (job, records)
        )
        print(status.stdout)

    for seed in SEEDS:
        assert figures(runs[seed]) == figures(tmp_path / "direct" / ("seed-%d" % seed)), "seed %d" % seed
    sessions = {seed: json.loads((runs[seed] / "run.json").read_text())["sessions"] for seed in SEEDS}
    assert len(sessions[3]) == 1
    for seed in (1, 2):  # each went on in a second session, after the epochs it had finished
        assert len(sessions[seed]) == 2 and 1 <= sessions[seed][1]["resumed_after_epoch"] <= EPOCHS - 1
    console = (runs[2] / "console.log").read_text()
    assert "stopped after epoch %d of %d on SIGUSR1" % (sessions[2][1]["resumed_after_epoch"], EPOCHS) in console
    assert "requeueing job" in (sweep / ("slurm-%s_1.out" % job)).read_text()
    assert status.returncode == 0 and status.stdout.count("| %d / %d | finished |" % (EPOCHS, EPOCHS)) == 3
    assert records.count("COMPLETED") == 3

    compared = subprocess.run(
        [sys.executable, "-m", "results.compare", "--runs", str(tmp_path / "runs")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert compared.returncode == 0, compared.stderr
    with capsys.disabled():
        print(compared.stdout)
    aggregate = [line for line in compared.stdout.splitlines() if line.startswith("| binarynet-mnist | tiny-sweep")]
    errors = [figures(tmp_path / "direct" / ("seed-%d" % seed))[-1]["test_error_rate"] for seed in SEEDS]
    assert aggregate == [
        "| binarynet-mnist | tiny-sweep | 3 | %d / %d | %.2f ± %.2f | %.2f | %.2f | 0.96 | - | - | "
        "not the paper's settings: no difference from the paper |"
        % (EPOCHS, EPOCHS, statistics.mean(errors), statistics.stdev(errors), min(errors), max(errors))
    ]
