"""A single-node Slurm cluster on localhost for the tests: munged, slurmctld and slurmd started in the foreground
(``-D``) as children of the test, with their configuration, key, sockets, state and logs in one temporary folder.

``with cluster(folder) as env:`` yields the environment (``SLURM_CONF``) for sbatch, squeue, scontrol and sacct,
once the node is idle; on leaving, every job of the cluster is cancelled and the three daemons it started (only
those) are stopped. Debian bookworm's packages: ``slurm-wlm`` (Slurm 22.05) and ``munge``
(``bash docker/install.sh --slurm``). Job records come from ``jobcomp/filetxt`` (``sacct --completion``), as there
is no accounting database.
"""

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Dict, Iterator, List

DAEMONS = ("munged", "slurmctld", "slurmd")
INSTALL = "bash docker/install.sh --slurm (Debian packages slurm-wlm and munge)"


def missing() -> List[str]:
    """The programs of the cluster that are not installed."""
    return [name for name in DAEMONS + ("sbatch", "squeue", "scontrol", "sacct") if shutil.which(name) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(folder: Path, cpus: int) -> str:
    host, user = socket.gethostname(), getpass.getuser()
    return "\n".join(
        [
            "ClusterName=sweeptest",
            "SlurmctldHost=%s(127.0.0.1)" % host,
            "SlurmctldPort=%d" % _free_port(),
            "SlurmdPort=%d" % _free_port(),
            "SlurmUser=%s" % user,
            "SlurmdUser=%s" % user,
            "AuthType=auth/munge",
            "CredType=cred/munge",
            "AuthInfo=socket=%s" % (folder / "munge.socket"),
            "StateSaveLocation=%s" % (folder / "state"),
            "SlurmdSpoolDir=%s" % (folder / "spool"),
            "SlurmctldPidFile=%s" % (folder / "slurmctld.pid"),
            "SlurmdPidFile=%s" % (folder / "slurmd.pid"),
            "SlurmctldLogFile=%s" % (folder / "slurmctld.log"),
            "SlurmdLogFile=%s" % (folder / "slurmd.log"),
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "MpiDefault=none",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "JobCompType=jobcomp/filetxt",
            "JobCompLoc=%s" % (folder / "jobcomp.txt"),
            "AccountingStorageType=accounting_storage/none",
            "ReturnToService=2",
            "SlurmdParameters=config_overrides",  # the node's CPUs as configured here, not as counted
            "NodeName=%s NodeAddr=127.0.0.1 CPUs=%d State=UNKNOWN" % (host, cpus),
            "PartitionName=test Nodes=%s Default=YES MaxTime=INFINITE State=UP" % host,
            "",
        ]
    )


def _wait_for(what: str, ready, logs: List[Path], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            tails = "\n".join(
                "--- %s\n%s" % (log, log.read_text()[-2000:] if log.exists() else "(none)") for log in logs
            )
            raise RuntimeError("the test's Slurm cluster: %s did not happen within %d s\n%s" % (what, timeout, tails))
        time.sleep(0.5)


@contextlib.contextmanager
def cluster(folder: Path, cpus: int) -> Iterator[Dict[str, str]]:
    """Start the cluster in ``folder`` with one node of ``cpus`` CPUs (see the module's description)."""
    for name in ("state", "spool"):
        (folder / name).mkdir(parents=True)
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    (folder / "slurm.conf").write_text(_config(folder, cpus))
    env = dict(os.environ, SLURM_CONF=str(folder / "slurm.conf"))
    started: List[subprocess.Popen] = []

    def start(name: str, *args: str) -> None:
        with open(folder / (name + ".out"), "wb") as out:
            started.append(
                subprocess.Popen([name, *args], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            )

    def answers(*command: str) -> bool:
        return subprocess.run(command, env=env, capture_output=True).returncode == 0

    logs = [folder / name for name in ("munged.out", "slurmctld.out", "slurmctld.log", "slurmd.out", "slurmd.log")]
    try:
        start(
            "munged",
            "--foreground",
            "--force",
            "--socket=%s" % (folder / "munge.socket"),
            "--key-file=%s" % key,
            "--log-file=%s" % (folder / "munged.log"),
            "--pid-file=%s" % (folder / "munged.pid"),
            "--seed-file=%s" % (folder / "munged.seed"),
        )
        _wait_for("munged answering", lambda: (folder / "munge.socket").exists(), logs)
        start("slurmctld", "-D", "-i")
        _wait_for("slurmctld answering", lambda: answers("scontrol", "ping"), logs)
        start("slurmd", "-D")
        _wait_for(
            "the node idle",
            lambda: (
                subprocess.run(
                    ["sinfo", "--noheader", "--format=%T"], env=env, capture_output=True, text=True
                ).stdout.strip()
                == "idle"
            ),
            logs,
        )
        yield env
    finally:
        if len(started) >= 2:
            subprocess.run(["scancel", "--full", "--user", getpass.getuser()], env=env, capture_output=True)
        for process in reversed(started):  # slurmd, slurmctld, munged: each only what this test started
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
