"""Seed sweeps without a cluster: the sweep's folders and command lines, the Slurm batch script, the local back
end, ``sweep.status``, stopping a run at an epoch boundary on SIGUSR1 (harness.stop), and bad input (one
``error:`` line before anything runs). The real Slurm cluster: tests/test_sweep_slurm.py."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import STOPPED, Stopped, UserError
from sweep import local, plan, slurm, status
from sweep import run as sweep_run
from tests.test_compare import write_run

ROOT = Path(__file__).resolve().parents[1]


def options(**changes) -> slurm.Options:
    values = dict(
        time="2:00:00", gpus=1, signal_seconds=900, python="/venv/bin/python", launcher=[], theano_cache=None, sbatch=[]
    )
    values.update(changes)
    return slurm.Options(**values)


def test_names_flags_and_folders(tmp_path: Path) -> None:
    sweep = plan.make("bc-mnist-smoke", ["--num-epochs", "2"], tmp_path, None)
    assert sweep.experiment.name == "binaryconnect-mnist"
    assert sweep.folder == tmp_path / "binaryconnect-mnist-smoke-sweep"
    assert sweep.flags == sweep.experiment.smoke_flags.split() + ["--num-epochs", "2"]  # the user's come last
    assert (
        sweep.command("py", 7)
        == ["py", "-u", "-m", "binaryconnect.mnist", "--seed", "7", "--output-dir", str(sweep.folder / "seed-7")]
        + sweep.flags
    )
    assert plan.make("binarynet-cifar10", [], tmp_path, tmp_path / "x").folder == tmp_path / "x"
    with pytest.raises(UserError, match="mnistt is not an experiment: name one of mnist, cifar10"):
        plan.make("mnistt", [], tmp_path, None)
    with pytest.raises(UserError, match="--seed, --output-dir: the sweep sets each run's seed and folder"):
        plan.make("mnist", ["--seed", "3", "--output-dir=x"], tmp_path, None)


def test_a_sweep_folder_keeps_its_experiment_and_flags(tmp_path: Path) -> None:
    sweep = plan.make("mnist", ["--num-epochs", "2"], tmp_path, None)
    plan.prepare(sweep)
    plan.record(sweep, {2: {"backend": "local"}, 1: {"backend": "local"}})
    plan.record(sweep, {3: {"backend": "slurm", "job": "9_0"}})
    recorded = plan.read(sweep.folder)
    assert list(recorded["seeds"]) == ["1", "2", "3"] and recorded["seeds"]["3"]["job"] == "9_0"
    other = plan.make("mnist", ["--num-epochs", "3"], tmp_path, None)
    with pytest.raises(
        UserError, match="is a sweep of binarynet-mnist with flags \\[--num-epochs 2\\]: choose another --sweep-dir"
    ):
        plan.prepare(other)


def test_batch_script_asks_for_what_each_task_needs(tmp_path: Path) -> None:
    sweep = plan.make("mnist", ["--num-epochs", "2"], tmp_path, tmp_path / "my sweep")
    text = slurm.script(sweep, [1234, 5, 6], options(), ROOT)
    for line in (
        "#SBATCH --array=0-2",
        "#SBATCH --time=2:00:00",
        "#SBATCH --signal=B:USR1@900",
        "#SBATCH --requeue",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --open-mode=append",
        "seeds=(1234 5 6)",
        "export THEANO_FLAGS=\"${THEANO_FLAGS:+$THEANO_FLAGS,}base_compiledir=$compiledir\"",
        "if [ \"$status\" -eq %d ]; then" % STOPPED,
        "    scontrol requeue \"$SLURM_JOB_ID\"",
    ):
        assert line in text.splitlines(), line
    assert "compiledir='%s/.theano/seed-$seed'" % (tmp_path / "my sweep") not in text  # quoted, $seed outside
    assert "/venv/bin/python -u -m binarynet.mnist --seed \"$seed\" --output-dir \"$run\" --num-epochs 2 &" in text
    assert "cp -r" not in text
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0
    cpu = slurm.script(
        sweep, [1], options(gpus=0, theano_cache=tmp_path, launcher=["apptainer", "exec", "i.sif"]), ROOT
    )
    assert "--gres" not in cpu and "cp -r %s/. " % tmp_path in cpu
    assert "\napptainer exec i.sif /venv/bin/python -u -m binarynet.mnist" in cpu


def test_the_batch_script_runs_a_seed_and_requeues_a_stopped_one(tmp_path: Path) -> None:
    """The script under bash with stand-ins for Python and scontrol: the seed of its task, its own compile
    directory, and a requeue only when the run stopped (exit status 3)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text("#!/bin/sh\necho \"scontrol $*\" >> %s/calls\n" % tmp_path)
    fake = bin_dir / "fake-python"
    fake.write_text("#!/bin/sh\necho \"$@ $THEANO_FLAGS\" >> %s/calls\nexit $FAKE_STATUS\n" % tmp_path)
    for path in bin_dir.iterdir():
        path.chmod(0o755)
    sweep = plan.make("mnist", [], tmp_path, tmp_path / "sweep")
    cache = tmp_path / "warm"
    (cache / "compiledir_x" / "lock_dir").mkdir(parents=True)
    (cache / "compiledir_x" / "module.so").write_text("compiled")
    script = slurm.script(sweep, [4, 8], options(python=str(fake), theano_cache=cache), ROOT)
    env = dict(
        os.environ,
        PATH="%s:%s" % (bin_dir, os.environ["PATH"]),
        SLURM_ARRAY_TASK_ID="1",
        SLURM_JOB_ID="77",
        THEANO_FLAGS="floatX=float32",
    )
    for status_code in (0, STOPPED, 1):
        done = subprocess.run(
            ["bash", "-c", script], env=dict(env, FAKE_STATUS=str(status_code)), capture_output=True, text=True
        )
        assert done.returncode == status_code
    calls = (tmp_path / "calls").read_text().splitlines()
    run = "-u -m binarynet.mnist --seed 8 --output-dir %s/seed-8 floatX=float32,base_compiledir=%s/.theano/seed-8" % (
        sweep.folder.resolve(),
        sweep.folder.resolve(),
    )
    assert calls == [run, run, "scontrol requeue 77", run]
    copied = sweep.folder / ".theano" / "seed-8"
    assert sorted(p.name for p in copied.rglob("*")) == ["compiledir_x", "module.so"]  # the warm cache, unlocked
    assert [p.name for p in (sweep.folder / ".theano").iterdir()] == ["seed-8"]


def fake_python(tmp_path: Path, statuses: dict) -> str:
    """An interpreter stand-in: records its seed, ends with the status given for that seed."""
    path = tmp_path / "python"
    path.write_text(
        "#!/bin/sh\nseed=$5\necho $seed >> %s/ran\ncase $seed in %s\nesac\nexit 0\n"
        % (tmp_path, " ".join("%s) exit %d;;" % item for item in statuses.items()))
    )
    path.chmod(0o755)
    return str(path)


def test_local_runs_seeds_in_turn_and_stops_at_a_stopped_or_failed_one(tmp_path: Path) -> None:
    sweep = plan.make("mnist", [], tmp_path, None)
    local.run(sweep, [1, 2], fake_python(tmp_path, {}))
    with pytest.raises(Stopped):
        local.run(sweep, [3, 4, 5], fake_python(tmp_path, {4: STOPPED}))
    with pytest.raises(UserError, match="seed 7 ended with exit status 2 \\(its console: .*seed-7/console.log\\)"):
        local.run(sweep, [6, 7, 8], fake_python(tmp_path, {7: 2}))
    assert (tmp_path / "ran").read_text().split() == ["1", "2", "3", "4", "6", "7"]


def test_local_with_devices_runs_one_seed_per_device_at_once(tmp_path: Path) -> None:
    path = tmp_path / "python"
    path.write_text("#!/bin/sh\necho \"$5 $THEANO_FLAGS\" >> %s/ran\nsleep 1\n" % tmp_path)
    path.chmod(0o755)
    sweep = plan.make("mnist", [], tmp_path, None)
    local.run(sweep, [1, 2, 3], str(path), ["cuda0", "cuda1"])
    ran = sorted(line.split(" ", 1) for line in (tmp_path / "ran").read_text().splitlines())
    compiledir = sweep.folder.resolve() / ".theano"
    assert [(seed, flags.split(",")[-1]) for seed, flags in ran] == [
        (str(seed), "base_compiledir=%s/seed-%d" % (compiledir, seed)) for seed in (1, 2, 3)
    ]
    devices = [flags.split(",")[-2] for _, flags in ran]  # after the flags the sweep was given
    assert devices[:2] == ["device=cuda0", "device=cuda1"] and devices[2] in devices[:2]


def test_status_shows_each_seeds_epoch_and_state(tmp_path: Path, capsys) -> None:
    sweep = plan.make("mnist", [], tmp_path, None)
    plan.prepare(sweep)
    plan.record(sweep, {seed: {"backend": "local"} for seed in (1, 2, 3, 4)})
    write_run(sweep.run_folder(1), "binarynet-mnist", 5, 5, seed=1)
    write_run(sweep.run_folder(2), "binarynet-mnist", 5, 2, seed=2)
    write_run(sweep.run_folder(3), "binarynet-mnist", 5, 3, seed=3)
    (sweep.run_folder(3) / ".lock").write_text("process %d on %s since now\n" % (os.getpid() + 10**7, os.uname()[1]))
    (sweep.folder / "seed-4").mkdir()
    (sweep.folder / "seed-4" / ".lock").write_text("process 1 on another-host since 2026-01-01T00:00:00Z\n")
    assert status.main(["mnist", "--runs", str(tmp_path)]) == 0
    rows = {
        line.split(" | ")[0].strip("| "): line.split(" | ")[1:3]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| ") and not line.startswith(("| seed", "| ---"))
    }
    assert rows == {
        "1": ["5 / 5", "finished"],
        "2": ["2 / 5", "stopped"],
        "3": ["3 / 5", "stopped"],  # its lock names a process that is gone
        "4": ["0", "running (process 1 on another-host since 2026-01-01T00:00:00Z)"],
    }


@pytest.mark.parametrize(
    "argv, message",
    [
        (["mnist", "--seeds", "1", "1"], "--seeds lists a seed twice"),
        (["mnist", "--seeds", "-1"], "--seeds -1: must be"),
        (["mnist", "--seeds", "1", "--gpus", "-1"], "--gpus and --signal-seconds must be 0 or more"),
        (["mnist", "--seeds", "1", "--theano-cache", "/nonexistent"], "--theano-cache /nonexistent is not a folder"),
        (["mnist", "--seeds", "1", "--", "--num-units", "0"], "--num-units 0: must be"),
        (["mnist", "--seeds", "1", "--", "--seed", "4"], "--seed: the sweep sets each run's seed"),
        (["nope", "--seeds", "1"], "nope is not an experiment"),
        (["mnist"], "the following arguments are required: --seeds"),
    ],
)
def test_bad_input_is_one_error_line_before_anything_runs(tmp_path: Path, argv, message, capsys) -> None:
    code = sweep_run.main(["--runs", str(tmp_path)] + argv)
    err = capsys.readouterr().err.splitlines()
    assert code in (1, 2) and len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_slurm_without_sbatch_is_one_error_line_before_anything_is_written(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert sweep_run.main(["--runs", str(tmp_path), "mnist", "--seeds", "1", "--backend", "slurm"]) == 1
    assert capsys.readouterr().err.startswith("error: sbatch is not installed here")
    assert list(tmp_path.iterdir()) == []


def test_status_without_a_sweep_names_the_command(tmp_path: Path, capsys) -> None:
    assert status.main(["--runs", str(tmp_path)]) == 1
    assert "`make sweep EXPERIMENT=... SEEDS=...`" in capsys.readouterr().err


def test_sigusr1_stops_a_run_after_its_epoch_and_the_rerun_ends_as_an_uninterrupted_one(tmp_path: Path, capsys) -> None:
    from tests.test_train_loop import FakeFunctions, read_log, run, strip

    class SignalledAt(FakeFunctions):
        def __call__(self, X, y, LR):
            result = super().__call__(X, y, LR)
            if self.epoch == 2:
                os.kill(os.getpid(), signal.SIGUSR1)  # during epoch 2: it finishes, then the run stops
            return result

    _, straight, _ = run(FakeFunctions(), tmp_path / "straight")
    with pytest.raises(Stopped):
        run(SignalledAt(), tmp_path / "stopped")
    assert "stopped after epoch 2 of 5 on SIGUSR1: rerun the same command to continue" in capsys.readouterr().err
    assert len(read_log(tmp_path / "stopped")) == 2
    _, resumed, _ = run(FakeFunctions(epochs_done=2), tmp_path / "stopped")
    assert strip(resumed.history) == strip(straight.history)
    assert signal.getsignal(signal.SIGUSR1) is not signal.SIG_DFL


def test_a_stopped_run_ends_with_status_3(tmp_path: Path) -> None:
    """The command's exit status, which the batch script reads (harness.errors.STOPPED)."""
    from harness.errors import command

    @command
    def main(argv=None):
        raise Stopped()

    assert main([]) == STOPPED == 3


def test_sweep_json_is_valid_json_with_the_seeds_in_order(tmp_path: Path) -> None:
    sweep = plan.make("svhn", [], tmp_path, None)
    plan.prepare(sweep)
    plan.record(sweep, {10: {"backend": "local"}, 9: {"backend": "local"}})
    assert list(json.loads((sweep.folder / plan.NAME).read_text())["seeds"]) == ["9", "10"]
    (sweep.folder / plan.NAME).write_text("{")
    with pytest.raises(UserError, match="is unreadable"):
        plan.read(sweep.folder)
    assert subprocess.run(
        [sys.executable, "-m", "sweep.status", "--sweep-dir", str(sweep.folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stderr.startswith("error: ")
