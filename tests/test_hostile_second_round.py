"""Hostile input, second round (issue 16): every case ends with its exit status and exactly one ``error:`` line (or
one ``warning:`` line and the run goes on), no traceback, before anything is compiled, with nothing written outside
the chosen folders and nothing that existed before changed. The cases: a finished run whose parameters file is
damaged (the rerun rebuilds it from a checkpoint), paths that cannot be written, environment variables, Theano's
start-up failures, a closed or full stdout, Ctrl-C, a disk too small for the first checkpoint, a lock on every
shared folder, damaged run.json and log.jsonl, a checksum mismatch while downloading.
"""

import compat  # noqa: F401

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import List

import numpy as np
import pytest
import test_hostile
import theano
from conftest import REPO
from test_compare import table_rows, write_run
from test_hostile import (
    ALLOWED_NEW,
    SMALL_MNIST,
    assert_refused,
    epoch_record,
    lock_held_by_another_process,
    mnist_config,
)

from binaryconnect import svhn_preprocessing
from binarynet import mnist as bn_mnist
from binarynet.binary_net import LoopState
from datasets import download, fetch
from datasets import svhn as svhn_data
from deploy import export
from harness import manifest, run_folder
from harness.checkpoint import Checkpoint, is_saved_file, npz_crcs
from harness.errors import command
from harness.files import Checksum, write_npz
from results import compare

PARAMETERS = "mnist_parameters.npz"
pristine, world = test_hostile.pristine, test_hostile.world  # the hostile suite's data folder and runs folder


def finished_run(folder: Path, best_epoch: int = 2, changed_after_best: bool = False) -> List[np.ndarray]:
    """A finished 2-epoch run of SMALL_MNIST as the loop leaves it: checkpoints after epochs 1 and 2 (shared
    variables: the two parameters and an optimizer's moment), the best epoch's parameters file, run.json. Returns
    the best epoch's parameters."""
    rng = np.random.RandomState(5)
    W, b, m = (
        theano.shared(rng.randn(*shape).astype(np.float32), name=name)
        for name, shape in (("W", (8, 10)), ("b", (10,)), ("m", (8, 10)))
    )
    checkpoint = Checkpoint(folder / run_folder.CHECKPOINT, mnist_config(SMALL_MNIST))
    history = [dict(epoch_record(e), num_epochs=2, best_epoch=min(e, best_epoch)) for e in (1, 2)]
    best, crcs = None, []
    for epoch in (1, 2):
        if epoch == 1 or not changed_after_best:
            W.set_value(W.get_value() + 1)  # training changed them
        if epoch <= best_epoch:
            best = [W.get_value(), b.get_value()]
            write_npz(folder / PARAMETERS, {"arr_0": best[0], "arr_1": best[1]})
            crcs = npz_crcs(folder / PARAMETERS)
        if changed_after_best and epoch > best_epoch:
            W.set_value(W.get_value() * 3)
        checkpoint.save(
            LoopState(LR=1e-5, order=np.arange(40), epoch=epoch, best_epoch=min(epoch, best_epoch)),
            [W, b, m],
            history[:epoch],
            crcs,
        )
    settings = bn_mnist.MNISTSettings.parse(SMALL_MNIST + ["--output-dir", str(folder)])
    manifest.write(
        folder,
        {"experiment": settings.EXPERIMENT, "paper_settings": False, "settings": settings.as_dict(), "sessions": []},
    )
    return best


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def _other_values(path: Path) -> None:
    with np.load(path) as saved:
        write_npz(path, {key: saved[key] + 0.5 for key in saved.files})  # e.g. a run with another seed


def _nan_edited(path: Path) -> None:
    with np.load(path) as saved:
        arrays = {key: saved[key].copy() for key in saved.files}
    arrays["arr_0"][0, 0] = np.nan
    write_npz(path, arrays)


# --- a finished run with a damaged parameters file: the rerun rebuilds it -------------------------------------------


@pytest.mark.parametrize(
    "damage",
    [_truncate, lambda path: path.write_bytes(os.urandom(3000)), _other_values, _nan_edited, Path.unlink],
    ids=["truncated", "random bytes", "other values", "NaN-edited", "deleted"],
)
def test_rerunning_a_finished_run_rebuilds_its_damaged_parameters_file(damage, world, capsys):
    folder = world.run_dir()
    best = finished_run(folder)
    crcs = npz_crcs(folder / PARAMETERS)
    damage(folder / PARAMETERS)
    assert bn_mnist.main(SMALL_MNIST + ["--output-dir", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Compiling" not in err and "error:" not in err
    assert "note: %s was missing or damaged: rebuilt from %s" % (folder / PARAMETERS, folder / "checkpoint.npz") in err
    assert "all 2 epochs are done" in out.splitlines()[-1]
    assert is_saved_file(folder / PARAMETERS, crcs)
    with np.load(folder / PARAMETERS, allow_pickle=False) as rebuilt:
        assert [rebuilt["arr_0"].tolist(), rebuilt["arr_1"].tolist()] == [value.tolist() for value in best]


def test_the_parameters_of_an_older_best_epoch_come_from_the_previous_checkpoint(world, capsys):
    folder = world.run_dir()
    best = finished_run(folder, best_epoch=1, changed_after_best=True)
    crcs = npz_crcs(folder / PARAMETERS)
    _truncate(folder / PARAMETERS)
    assert bn_mnist.main(SMALL_MNIST + ["--output-dir", str(folder)]) == 0
    err = capsys.readouterr().err
    assert "rebuilt from %s" % (folder / "checkpoint.previous.npz") in err
    assert is_saved_file(folder / PARAMETERS, crcs)
    with np.load(folder / PARAMETERS, allow_pickle=False) as rebuilt:
        assert np.array_equal(rebuilt["arr_0"], best[0])


def test_a_finished_run_whose_best_parameters_are_in_no_checkpoint_says_what_to_do(world, capsys):
    folder = world.run_dir()
    finished_run(folder, best_epoch=1, changed_after_best=True)
    (folder / "checkpoint.previous.npz").unlink()
    _truncate(folder / PARAMETERS)
    assert_refused(
        bn_mnist.main,
        SMALL_MNIST + ["--output-dir", str(folder)],
        world.root,
        capsys,
        1,
        r"mnist_parameters.npz is missing or damaged, and neither checkpoint holds the best epoch's \(1\) "
        r"parameters: train afresh \(the same command with another --output-dir\)",
        ALLOWED_NEW | {"log.jsonl"},
    )


def test_export_names_the_command_that_repairs_and_that_command_does(world, capsys):
    folder = world.run_dir()
    finished_run(folder)
    crcs = npz_crcs(folder / PARAMETERS)
    _nan_edited(folder / PARAMETERS)
    line = assert_refused(
        export.main,
        [str(folder)],
        world.root,
        capsys,
        1,
        r"mnist_parameters.npz is not the parameters file of the checkpoint in .*: rerun its "
        r"training command, which rebuilds it from the checkpoint: `python -m binarynet.mnist .*`",
        frozenset(),
    )
    words = shlex.split(re.search(r"`([^`]*)`$", line).group(1))
    assert words[:3] == ["python", "-m", "binarynet.mnist"] and "--output-dir" in words
    assert bn_mnist.main(words[3:]) == 0
    assert is_saved_file(folder / PARAMETERS, crcs)


def test_a_nan_in_a_checkpoint_is_damage(world, capsys):
    folder = world.run_dir()
    W = theano.shared(np.array([1.0, np.nan], dtype=np.float32), name="W")
    Checkpoint(folder / "checkpoint.npz", mnist_config(SMALL_MNIST)).save(
        LoopState(LR=1e-5, order=np.arange(40), epoch=1), [W], [dict(epoch_record(1), num_epochs=2)], []
    )
    assert_refused(
        bn_mnist.main,
        SMALL_MNIST + ["--output-dir", str(folder)],
        world.root,
        capsys,
        1,
        r"checkpoint.npz is damaged \(W holds NaN or infinite values: edited, or the training diverged\), "
        r"and there is no usable previous checkpoint",
    )


# --- paths a command writes, checked before any work ----------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--output-dir", ""],
            r"--output-dir : must be a folder name the file system accepts \(this is an empty path\)",
        ),
        (
            ["--output-dir", "x" * 300],
            r"--output-dir x+: must be a folder name the file system accepts \(this is a name "
            r"longer than \d+ bytes",
        ),
        (["--output-dir", "runs/" + "d/" * 3000], r"this is a path longer than the file system allows"),
        (["--num-epoch", "2"], r"unrecognized arguments: --num-epoch 2"),  # no abbreviations
        (["--LR", "0.1"], r"unrecognized arguments: --LR 0.1"),
    ],
    ids=["empty output-dir", "name too long", "path too long", "abbreviation", "ambiguous abbreviation"],
)
def test_unwritable_output_paths_and_abbreviations_are_refused(argv, message, world, capsys):
    assert_refused(bn_mnist.main, SMALL_MNIST + argv, world.root, capsys, 2, message, frozenset())
    assert not (world.root / "run.json").exists() and not (world.root / ".lock").exists()


@pytest.mark.parametrize(
    "name", [".lock", "console.log", "run.json", "log.jsonl", "checkpoint.npz", "checkpoint.previous.npz", PARAMETERS]
)
def test_a_folder_where_a_run_writes_a_file_is_named_before_any_work(name, world, capsys):
    folder = world.run_dir()
    (folder / name).mkdir(parents=True)
    assert_refused(
        bn_mnist.main,
        SMALL_MNIST + ["--output-dir", str(folder)],
        world.root,
        capsys,
        1,
        r"cannot write %s: a folder is in its place: remove it, then rerun the same command"
        % re.escape(str(folder / name)),
        frozenset(),
    )


# --- the environment, checked with the flags ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan", ""])
def test_a_bad_progress_interval_is_refused_with_the_flags(value, world, monkeypatch, capsys):
    monkeypatch.setenv("PROGRESS_INTERVAL", value)
    assert_refused(
        bn_mnist.main,
        SMALL_MNIST + ["--output-dir", str(world.run_dir())],
        world.root,
        capsys,
        2,
        r"PROGRESS_INTERVAL=%s: must be a number of seconds > 0" % re.escape(value),
        frozenset(),
    )


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300, env=dict(os.environ, **env)
    )


def _one_error_line(done: subprocess.CompletedProcess, status: int, message: str) -> None:
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.search(message, errors[0]), done.stderr


@pytest.mark.parametrize(
    "env, message",
    [
        (
            {"THEANO_FLAGS": "floatX=float99"},
            r"Theano cannot start with THEANO_FLAGS=.*floatX=float99.* \(ValueError: "
            r"Invalid value .*\): correct or unset THEANO_FLAGS",
        ),
        (
            {"THEANO_FLAGS": "base_compiledir=/dev/null/theano"},
            r"Theano cannot make its compile directory .*: set THEANO_FLAGS=base_compiledir=<a writable folder>",
        ),
        (
            {"HOME": "/dev/null"},
            r"Theano cannot make its compile directory .*/dev/null/\.theano.*: set "
            r"THEANO_FLAGS=base_compiledir=<a writable folder> \(or make \$HOME writable\)",
        ),
        (
            {"THEANO_FLAGS": "cxx=/nonexistent/g++"},
            r"names cxx=/nonexistent/g\+\+, which is not a program here: correct cxx, or leave it out for g\+\+",
        ),
    ],
    ids=["bad flag value", "unwritable compiledir", "unwritable HOME", "no such compiler"],
)
def test_theano_start_up_failures_are_one_line_naming_the_fix(env, message):
    _one_error_line(_python("import compat", **env), 1, message)


def test_ctrl_c_while_theano_starts_is_one_line_and_status_130(tmp_path):
    """Ctrl-C during Theano's import (before any command runs): a module standing in for Theano's import raises
    KeyboardInterrupt; compat.theano_start, loaded alone, ends with one line and exit status 130."""
    (tmp_path / "interrupted_import.py").write_text("raise KeyboardInterrupt\n")
    code = (
        "import importlib.util, sys\n"
        "sys.path.insert(0, %r)\n"
        "spec = importlib.util.spec_from_file_location('theano_start', 'compat/theano_start.py')\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "module.start('interrupted_import')\n" % str(tmp_path)
    )
    done = _python(code)
    assert done.returncode == 130 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines() == [
        "interrupted (Ctrl-C) while Theano was starting: nothing was written; rerun the command"
    ]


@pytest.mark.parametrize("flags", ["garbage", "no_such_flag=1"])
def test_a_theano_flag_theano_ignores_is_one_warning_line(flags):
    done = _python("import compat", THEANO_FLAGS=flags)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert [line for line in done.stderr.splitlines() if line.strip()] == [
        line for line in done.stderr.splitlines() if line.startswith("warning: THEANO_FLAGS=")
    ], done.stderr
    assert len(done.stderr.splitlines()) == 1 and flags.split("=")[0] in done.stderr


def test_a_gpu_that_cannot_be_opened_is_one_line_not_a_silent_cpu_run():
    done = _python("import compat", THEANO_FLAGS="device=cuda")
    if done.returncode == 0:
        pytest.skip("a GPU works here")
    _one_error_line(
        done,
        1,
        r"THEANO_FLAGS asks for device=cuda, which cannot be opened \(.*\): run on a machine "
        r"with a working GPU driver .*or remove device=cuda to compute on the CPU",
    )


# --- warnings: accepted, said once ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, warning",
    [
        (
            ["--LR-start", "0.001", "--LR-fin", "0.002"],
            r"--LR-fin 0.002 is above --LR-start 0.001: the learning rate "
            r"rises every epoch",
        ),
        (
            ["--LR-start", "5"],
            r"--LR-start 5.0 is 1666 times the paper's first learning rate 0.003: training will "
            r"probably diverge",
        ),
    ],
    ids=["rising schedule", "huge learning rate"],
)
def test_settings_outside_the_papers_range_are_accepted_with_a_warning(argv, warning, world, capsys):
    (world.data / "mnist" / "t10k-images-idx3-ubyte").unlink()  # so that the run stops once it is under way
    assert bn_mnist.main(SMALL_MNIST + argv + ["--output-dir", str(world.run_dir())]) == 1
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(warnings) == 1 and re.search(warning, warnings[0]), err
    assert len(errors) == 1 and "t10k-images-idx3-ubyte is missing" in errors[0] and "Traceback" not in err


# --- Ctrl-C, a closed or full stdout ----------------------------------------------------------------------------------


@command
def _interrupted_main(argv):
    """A script interrupted by Ctrl-C once its run folder is open (as during data loading, compiling or training)."""
    with run_folder.start(bn_mnist.MNISTSettings, argv):
        raise KeyboardInterrupt


@pytest.mark.parametrize("epochs_done", [0, 1])
def test_ctrl_c_says_what_was_kept_and_the_command_that_resumes(epochs_done, world, capsys):
    folder = world.run_dir()
    if epochs_done:
        Checkpoint(folder / "checkpoint.npz", mnist_config(SMALL_MNIST)).save(
            LoopState(LR=1e-5, order=np.arange(40), epoch=1),
            [theano.shared(np.zeros(1), name="W")],
            [dict(epoch_record(1), num_epochs=2)],
            [],
        )
    kept = "the checkpoint after epoch 1 of 2" if epochs_done else "no epoch \\(none had finished\\)"
    line = assert_refused(
        _interrupted_main,
        SMALL_MNIST + ["--output-dir", str(folder)],
        world.root,
        capsys,
        130,
        r"interrupted \(Ctrl-C\): %s keeps %s; resume with `python -m binarynet.mnist --output-dir "
        r"%s .*--num-epochs 2" % (re.escape(str(folder)), kept, re.escape(str(folder))),
        ALLOWED_NEW | {"log.jsonl"},
    )
    words = shlex.split(re.search(r"`([^`]*)`$", line).group(1))[3:]
    assert bn_mnist.MNISTSettings.parse(words) == bn_mnist.MNISTSettings.parse(
        SMALL_MNIST + ["--output-dir", str(folder)]
    )
    assert line in (folder / "console.log").read_text()


@pytest.mark.parametrize("stdout", ["closed pipe", "/dev/full"])
def test_a_closed_or_full_stdout_does_not_stop_a_command(stdout, world):
    folder = world.run_dir()
    finished_run(folder)
    if stdout == "closed pipe":
        read_end, target = os.pipe()
        os.close(read_end)
    else:
        target = os.open("/dev/full", os.O_WRONLY)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "binarynet.mnist"] + SMALL_MNIST + ["--output-dir", str(folder)],
            cwd=REPO,
            stdout=target,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    finally:
        os.close(target)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr and "error:" not in done.stderr
    log = (folder / "console.log").read_text()
    assert "all 2 epochs are done" in log and "can no longer be written" in log


def test_any_command_goes_on_after_its_stdout_is_closed(tmp_path):
    """``make compare | head -1``: the table is cut short, the plot is still written, one warning, status 0."""
    write_run(tmp_path / "runs" / "a", "binarynet-mnist", 10, 10, seed=1)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "results.compare", "--runs", str(tmp_path / "runs")],
            cwd=REPO,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 0 and "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith(("warning:", "error:"))] == [
        "warning: stdout can no longer be written (Broken pipe): the command goes on"
    ]
    assert (tmp_path / "runs" / "comparison.png").is_file()


# --- a disk too small for the first checkpoint, found before compiling ---------------------------------------------


def test_a_disk_too_small_for_the_first_checkpoint_is_found_before_compiling(world, monkeypatch, capsys):
    monkeypatch.setattr("harness.files.free_bytes", lambda folder: 1000)
    assert_refused(
        bn_mnist.main,
        SMALL_MNIST + ["--output-dir", str(world.run_dir())],
        world.root,
        capsys,
        1,
        r"cannot write .*checkpoint.npz \(no space left on the device: \d+ MB needed, 0 MB free\)",
    )


# --- a lock on every shared folder ----------------------------------------------------------------------------------


def test_a_second_svhn_preprocessing_is_refused_and_leaves_the_firsts_partial_file(world, capsys):
    h5 = svhn_data.h5_path(world.data / "local", "valid")
    for name in ("splitted_train", "valid", "test"):
        svhn_data.h5_path(world.data / "local", name).unlink()  # so that there is work to do
    partial = h5.with_name(h5.name + ".partial")
    partial.write_bytes(b"the first run's rows so far")
    with lock_held_by_another_process(h5.parent / ".lock") as pid:
        line = assert_refused(
            svhn_preprocessing.main,
            [],
            world.root,
            capsys,
            1,
            r"h5 is in use by another SVHN preprocessing \(process \d+ on testhost since now\): "
            r"wait for it to end, then rerun",
            frozenset(),
        )
    assert str(pid) in line
    assert partial.read_bytes() == b"the first run's rows so far"


def test_a_second_download_into_the_same_data_folder_is_refused(world, capsys):
    (world.data / "mnist" / "t10k-labels-idx1-ubyte").unlink()  # so that there is work to do
    part = world.data / "mnist" / "t10k-labels-idx1-ubyte.gz.part"
    part.write_bytes(b"the first download's bytes so far")
    with lock_held_by_another_process(world.data / ".lock") as pid:
        line = assert_refused(
            download.main,
            ["mnist"],
            world.root,
            capsys,
            1,
            r"data is in use by another download \(process \d+ on testhost since now\): wait for "
            r"it to end, then rerun",
            frozenset(),
        )
    assert str(pid) in line
    assert part.read_bytes() == b"the first download's bytes so far"


# --- damaged run.json and log.jsonl; NaN results ----------------------------------------------------------------------


def test_a_garbage_run_json_is_set_aside_not_replaced(world, capsys):
    folder = world.run_dir()
    Checkpoint(folder / "checkpoint.npz", mnist_config(SMALL_MNIST)).save(
        LoopState(LR=1e-5, order=np.arange(40), epoch=1),
        [theano.shared(np.zeros(1), name="W")],
        [dict(epoch_record(1), num_epochs=2)],
        [],
    )
    (folder / "run.json").write_bytes(b"\x00garbage{")
    (world.data / "mnist" / "t10k-images-idx3-ubyte").unlink()  # so that the run stops once it is under way
    assert bn_mnist.main(SMALL_MNIST + ["--output-dir", str(folder)]) == 1
    err = capsys.readouterr().err
    kept = list(folder.glob("run.json.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == b"\x00garbage{"
    assert "warning: %s is unreadable" % (folder / "run.json") in err and "it is kept as %s" % kept[0] in err
    assert json.loads((folder / "run.json").read_text())["sessions"]
    assert "Traceback" not in err and len([line for line in err.splitlines() if line.startswith("error:")]) == 1


@pytest.mark.parametrize("damage", [lambda path: path.write_text("{"), Path.unlink], ids=["garbage", "deleted"])
def test_a_finished_run_gets_its_run_json_back_for_evaluate_and_export(damage, world, capsys):
    folder = world.run_dir()
    finished_run(folder)
    recorded = json.loads((folder / "run.json").read_text())
    damage(folder / "run.json")
    assert bn_mnist.main(SMALL_MNIST + ["--output-dir", str(folder)]) == 0
    rewritten = json.loads((folder / "run.json").read_text())
    assert {k: rewritten[k] for k in ("experiment", "settings")} == {k: recorded[k] for k in ("experiment", "settings")}
    assert "Traceback" not in capsys.readouterr().err


def test_compare_skips_a_log_of_random_bytes_and_compares_the_others(tmp_path, capsys):
    runs = tmp_path / "runs"
    write_run(runs / "good", "binarynet-mnist", 10, 10, seed=1)
    write_run(runs / "noise", "binarynet-mnist", 10, 3, seed=2)
    (runs / "noise" / "log.jsonl").write_bytes(bytes(range(256)) * 4)
    assert compare.main(["--runs", str(runs)]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert (
        "skipped %s: %s is not text (byte 128 is not UTF-8): it is damaged"
        % (runs / "noise", runs / "noise" / "log.jsonl")
        in err
    )
    assert set(table_rows(out)) == {"good"}


def test_compare_tables_nan_error_rates_with_a_remark(tmp_path, capsys):
    runs = tmp_path / "runs"
    write_run(runs / "diverged", "binarynet-mnist", 3, 3, seed=1)
    log = runs / "diverged" / "log.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    records[-1]["test_error_rate"] = float("nan")
    log.write_text("".join(json.dumps(record) + "\n" for record in records))
    assert compare.main(["--runs", str(runs)]) == 0
    row = table_rows(capsys.readouterr().out)["diverged"]
    assert row["test error %"] == "nan" and "error rate NaN: the training diverged" in row["notes"]


# --- downloads: a checksum mismatch is no reason to suggest being offline -----------------------------------------


def test_a_checksum_mismatch_is_not_called_offline(tmp_path):
    source = tmp_path / "mirror" / "file.gz"
    source.parent.mkdir()
    source.write_bytes(b"not the published bytes")
    dest = tmp_path / "data" / "file.gz"
    url = "file://" + urllib.parse.quote(str(source))
    with pytest.raises(fetch.Unreachable) as raised:
        fetch.fetch([url], dest, Checksum("sha256", "0" * 64), "make download-x")
    message = str(raised.value)
    assert "Offline?" not in message and "sha256 checksum mismatch" in message
    assert "run `make download-x` again to download afresh" in message
    assert not dest.exists() and not dest.with_name("file.gz.part").exists()


# --- the same, in a real training run (slow: it compiles) -----------------------------------------------------------


@pytest.mark.slow
def test_ctrl_c_in_training_into_a_closed_pipe_then_the_named_command_resumes(real_mnist_root, tmp_path):
    """A tiny run of eight epochs with stdout into a closed pipe (``| head -1``) trains on; SIGINT after its first
    checkpoint ends it with one line naming what was kept and the command that resumes, which then finishes it."""
    argv = test_hostile.TINY_RUN[:-1] + ["8", "--data-path", str(real_mnist_root), "--output-dir", str(tmp_path)]

    def start(args: List[str]) -> subprocess.Popen:
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            return subprocess.Popen(
                [sys.executable, "-m", "binarynet.mnist"] + args,
                cwd=REPO,
                stdout=write_end,
                stderr=subprocess.PIPE,
                text=True,
            )
        finally:
            os.close(write_end)

    first = start(argv)
    deadline = time.time() + 300
    while not (tmp_path / "checkpoint.npz").exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGINT)
    err = first.communicate(timeout=300)[1]
    if first.returncode == 0:
        pytest.skip("the run ended before Ctrl-C reached it (a busy machine)")
    assert first.returncode == 130 and "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    match = re.search(
        r"interrupted \(Ctrl-C\): .* keeps the checkpoint after epoch (\d) of 8; resume with `([^`]*)`$", errors[0]
    )
    assert match, errors[0]
    resumed = start(shlex.split(match.group(2))[3:])
    err = resumed.communicate(timeout=600)[1]
    assert resumed.returncode == 0 and "Traceback" not in err and "Resuming after epoch %s" % match.group(1) in err
    assert [json.loads(line)["epoch"] for line in (tmp_path / "log.jsonl").read_text().splitlines()] == list(
        range(1, 9)
    )
    assert "can no longer be written (Broken pipe)" in (tmp_path / "console.log").read_text()


LONG = "x" * 300


@pytest.mark.parametrize(
    "command, argv",
    [
        (compare.main, ["--runs", LONG]),
        (export.main, [LONG]),
        (svhn_preprocessing.main, ["--local-path", LONG]),
        (download.main, ["mnist", "--data-path", LONG]),
    ],
    ids=["compare --runs", "export RUN_DIR", "svhn-preprocess --local-path", "download --data-path"],
)
def test_a_path_too_long_for_the_file_system_is_one_line_in_every_command(command, argv, world, capsys):
    assert_refused(
        command,
        argv,
        world.root,
        capsys,
        1,
        r"(longer than the file system allows|a name longer than|File name too long)",
        frozenset(),
    )
