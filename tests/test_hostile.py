"""Hostile input, table-driven: every case runs a real command and must end with its exit status, exactly one
``error:`` line (no traceback), quickly and without compiling anything, and with every file that existed before
(data, checkpoints, logs, parameters) unchanged. A few cases need a process of their own: a lock held by another
run, a full disk (RLIMIT_FSIZE), a concurrent run.
"""

import compat  # noqa: F401

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import pytest
from conftest import REPO, SHARED_MNIST, md5_of, missing_real_data, write_cifar10, write_h5, write_idx

from benchmarks import mnist_mlp
from binaryconnect import cifar10 as bc_cifar10
from binaryconnect import mnist as bc_mnist
from binaryconnect import svhn as bc_svhn
from binaryconnect import svhn_preprocessing
from binarynet import cifar10 as bn_cifar10
from binarynet import mnist as bn_mnist
from binarynet import svhn as bn_svhn
from binarynet.binary_net import LoopState
from datasets import cifar10 as cifar10_data
from datasets import cifar10_whitened, download, svhn_h5
from datasets import mnist as mnist_data
from datasets import svhn as svhn_data
from harness.checkpoint import Checkpoint
from results import compare

FAST = 20.0  # seconds: a refused command loads no data set and compiles nothing
ALLOWED_NEW = frozenset({".lock", "console.log", "run.json"})  # what opening a run folder writes before the error
SMALL_MNIST = [
    "--num-units",
    "8",
    "--n-hidden-layers",
    "1",
    "--train-size",
    "40",
    "--valid-size",
    "10",
    "--test-size",
    "10",
    "--batch-size",
    "10",
    "--num-epochs",
    "2",
]


@dataclass
class World:
    """A data folder with small, valid files of every dataset (their checksums accepted), an empty runs folder."""

    root: Path
    data: Path
    runs: Path

    def run_dir(self, name: str = "run") -> Path:
        return self.runs / name


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """The data folder, made once: small but complete MNIST (50,060 training rows, so that the validation rows
    50000.. exist), CIFAR-10 (45,020 training rows) and SVHN h5 files (pylearn2's and the GCN + LCN copies), and the
    checksums that accept its downloaded files."""
    data = tmp_path_factory.mktemp("pristine") / "data"
    rng = np.random.RandomState(0)
    checksums = {}
    for which, (image_name, label_name) in mnist_data.FILES.items():
        n = 50060 if which == "train" else 20
        for name, array in ((image_name, rng.randint(0, 256, (n, 28, 28))), (label_name, rng.randint(0, 10, n))):
            checksums[(mnist_data, name)] = _sha256(write_idx(data / "mnist" / name, array))
    rows = dict({name: 9004 for name in cifar10_data.FILES["train"]}, test_batch=20)
    write_cifar10(data, rows, rng)
    for name in rows:
        checksums[(cifar10_data, name)] = md5_of(data / "cifar10" / cifar10_data.FOLDER / name)
    for folder in (svhn_data.default_folder(str(data)), data / "local"):
        for name, n in (("splitted_train", 40), ("valid", 10), ("test", 10)):
            write_h5(
                svhn_data.h5_path(folder, name),
                rng.randint(0, 256, (n, 3072)).astype(np.float32),
                np.eye(10, dtype=np.float32)[rng.randint(0, 10, n)],
            )
    return data, checksums


@pytest.fixture
def world(pristine, tmp_path, monkeypatch) -> World:
    """A fresh copy of the pristine data (hard links: a case replaces the files it damages) and a runs folder."""
    source, checksums = pristine
    data, runs = tmp_path / "data", tmp_path / "runs"
    shutil.copytree(source, data, copy_function=os.link)
    for (module, name), checksum in checksums.items():
        monkeypatch.setitem(module.CHECKSUMS, name, checksum)
    runs.mkdir()
    monkeypatch.setenv("PYLEARN2_DATA_PATH", str(data))
    monkeypatch.setenv("SVHN_LOCAL_PATH", str(data / "local"))
    monkeypatch.chdir(tmp_path)
    return World(tmp_path, data, runs)


def _sha256(path: Path):
    from harness.files import Checksum

    return Checksum("sha256", hashlib.sha256(path.read_bytes()).hexdigest())


def snapshot(root: Path) -> Dict[str, tuple]:
    """Every file under ``root`` with what a write or a replacement changes (inode, size, mtime); lock files
    excepted."""
    return {
        str(path.relative_to(root)): (lambda st: (st.st_ino, st.st_size, st.st_mtime_ns))(path.stat())
        if path.is_file()
        else "dir"
        for path in root.rglob("*")
        if path.name != ".lock"
    }


def assert_refused(
    command: Callable,
    argv: List[str],
    root: Path,
    capsys,
    status: int,
    message: str,
    allowed_new: frozenset = ALLOWED_NEW,
) -> str:
    """Run ``command(argv)``; assert the status, one ``error:`` line matching ``message``, no traceback, no compile,
    no time spent, and no file that existed before changed (new files only those of an opened run folder)."""
    before = snapshot(root)
    started = time.monotonic()
    assert command(argv) == status
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert re.search(message, errors[0]), errors[0]
    assert "Traceback" not in err and "Compiling" not in err
    assert elapsed < FAST, "%.1f s: did it load or compile something?" % elapsed
    after = snapshot(root)
    assert {k: v for k, v in after.items() if k in before} == before, "a file changed"
    assert {Path(k).name for k in set(after) - set(before) if after[k] != "dir"} <= allowed_new
    return errors[0]


# --- 1. every flag of every script, checked before any work ---------------------------------------------------------

FLAG_CASES = [
    (bn_mnist, ["--num-epochs", "0"], r"--num-epochs 0: must be a whole number >= 1"),
    (bn_mnist, ["--num-epochs", "-1"], r"--num-epochs -1: must be a whole number >= 1"),
    (bn_mnist, ["--num-epochs", "2.5"], r"argument --num-epochs: invalid int value: '2.5' \(see --help\)"),
    (bn_mnist, ["--num-epochs"], r"argument --num-epochs: expected one argument"),
    (bn_mnist, ["--LR-start", "0"], r"--LR-start 0.0: must be a finite number > 0"),
    (bn_mnist, ["--LR-start", "nan"], r"--LR-start nan: must be a finite number > 0"),
    (bn_mnist, ["--LR-fin", "inf"], r"--LR-fin inf: must be a finite number > 0"),
    (bn_mnist, ["--LR-fin", "-0.001"], r"--LR-fin -0.001: must be a finite number > 0"),
    (bn_mnist, ["--batch-size", "0"], r"--batch-size 0: must be a whole number >= 1"),
    (bn_mnist, ["--batch-size", "20000"], r"--batch-size 20000 is larger than --valid-size 10000"),
    (bn_mnist, ["--batch-size", "200", "--test-size", "150"], r"--batch-size 200 is larger than --test-size 150"),
    (bn_mnist, ["--dropout-in", "1"], r"--dropout-in 1.0: must be a number p with 0 <= p < 1"),
    (bn_mnist, ["--dropout-hidden", "-0.5"], r"--dropout-hidden -0.5: must be a number p with 0 <= p < 1"),
    (bn_mnist, ["--alpha", "0"], r"--alpha 0.0: must be a number with 0 < alpha <= 1"),
    (bn_mnist, ["--alpha", "1.5"], r"--alpha 1.5: must be a number with 0 < alpha <= 1"),
    (bn_mnist, ["--epsilon", "0"], r"--epsilon 0.0: must be a finite number > 0"),
    (bn_mnist, ["--num-units", "0"], r"--num-units 0: must be a whole number >= 1"),
    (bn_mnist, ["--n-hidden-layers", "0"], r"--n-hidden-layers 0: must be a whole number >= 1"),
    (bn_mnist, ["--train-size", "0"], r"--train-size 0: must be a whole number from 1 to 50000"),
    (bn_mnist, ["--train-size", "50001"], r"--train-size 50001: must be a whole number from 1 to 50000"),
    (bn_mnist, ["--valid-size", "10001"], r"--valid-size 10001: must be a whole number from 1 to 10000"),
    (bn_mnist, ["--seed", "-1"], r"--seed -1: must be a whole number from 0 to 4294967295"),
    (bn_mnist, ["--seed", "4294967296"], r"--seed 4294967296: must be a whole number from 0 to 4294967295"),
    (bn_mnist, ["--bogus"], r"unrecognized arguments: --bogus \(see --help\)"),
    (bn_mnist, ["--data-path", "no/such/folder"], r"--data-path no/such/folder: must be an existing folder"),
    (bc_mnist, ["--dropout-in", "1.5"], r"--dropout-in 1.5: must be a number p with 0 <= p < 1"),
    (bc_mnist, ["--alpha", "-0.15"], r"--alpha -0.15: must be a number with 0 < alpha <= 1"),
    (bn_cifar10, ["--filters", "0", "8", "8", "8", "8", "8"], r"--filters 0 8 8 8 8 8: must be a whole number >= 1"),
    (bn_cifar10, ["--filters", "8", "8", "8"], r"argument --filters: expected 6 arguments"),
    (bn_cifar10, ["--train-size", "45001"], r"--train-size 45001: must be a whole number from 1 to 45000"),
    (bn_cifar10, ["--num-units", "-3"], r"--num-units -3: must be a whole number >= 1"),
    (bn_svhn, ["--test-size", "26033"], r"--test-size 26033: must be a whole number from 1 to 26032"),
    (bn_svhn, ["--batch-size", "7000"], r"--batch-size 7000 is larger than --valid-size 6000"),
    (bc_cifar10, ["--LR-start", "0"], r"--LR-start 0.0: must be a finite number > 0"),
    (bc_svhn, ["--batch-size", "0"], r"--batch-size 0: must be a whole number >= 1"),
    (bc_svhn, ["--epsilon=-1e-4"], r"--epsilon -0.0001: must be a finite number > 0"),
]


@pytest.mark.parametrize(
    "script, argv, message",
    FLAG_CASES,
    ids=["%s %s" % (script.__name__, " ".join(argv)) for script, argv, _ in FLAG_CASES],
)
def test_bad_flags_are_refused_before_anything(script, argv, message, world, capsys):
    assert_refused(script.main, argv, world.root, capsys, 2, message)
    assert not world.run_dir().exists() and not (world.root / "runs" / "binarynet-mnist").exists()


def test_a_data_path_that_is_a_file_is_refused(world, capsys):
    assert_refused(
        bn_mnist.main,
        ["--data-path", str(world.data / "mnist" / "t10k-labels-idx1-ubyte")],
        world.root,
        capsys,
        2,
        r"--data-path .*t10k-labels-idx1-ubyte: must be an existing folder",
    )


OTHER_COMMANDS = [
    (download.main, ["imagenet"], 2, r"argument names: invalid choice: 'imagenet'"),
    (svhn_h5.main, ["--sets", "bogus"], 2, r"argument --sets: invalid choice: 'bogus'"),
    (svhn_preprocessing.main, ["--sets"], 2, r"argument --sets: expected at least one argument"),
    (cifar10_whitened.main, ["--data-path"], 2, r"argument --data-path: expected one argument"),
    (compare.main, ["--csv"], 2, r"argument --csv: expected one argument"),
    (mnist_mlp.main, ["--iterations", "0"], 2, r"argument --iterations: invalid positive_int value: '0'"),
]


@pytest.mark.parametrize(
    "command, argv, status, message",
    OTHER_COMMANDS,
    ids=["%s %s" % (c.__module__, " ".join(a)) for c, a, _, _ in OTHER_COMMANDS],
)
def test_bad_command_lines_of_the_other_commands(command, argv, status, message, world, capsys):
    assert_refused(command, argv, world.root, capsys, status, message)


# --- 2. one run per output folder, checked first ------------------------------------------------------------------


def test_an_output_dir_that_is_a_file(world, capsys):
    (world.runs / "file").write_text("x")
    assert_refused(
        bn_mnist.main,
        ["--output-dir", str(world.runs / "file")],
        world.root,
        capsys,
        1,
        r"--output-dir .*file is a file, not a folder: choose another --output-dir",
    )


def test_an_output_dir_below_a_file(world, capsys):
    (world.runs / "file").write_text("x")
    assert_refused(
        bn_mnist.main,
        ["--output-dir", str(world.runs / "file" / "run")],
        world.root,
        capsys,
        1,
        r"cannot make --output-dir .*file/run \(Not a directory\): choose another --output-dir",
    )


def test_an_output_dir_where_nothing_can_be_written(world, capsys):
    target = Path("/sys/binarized-nets-test")
    try:
        target.mkdir()
        target.rmdir()
        pytest.skip("/sys is writable here")
    except OSError:
        pass
    assert_refused(
        bn_mnist.main,
        ["--output-dir", str(target)],
        world.root,
        capsys,
        1,
        r"cannot make --output-dir /sys/binarized-nets-test \(.*\): choose another --output-dir",
    )


@contextlib.contextmanager
def lock_held_by_another_process(path: Path):
    """Another process holding the lock file ``path``, as a running command does; yields its process id."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.write(fd, b'process %d on testhost since now' % os.getpid())\n"
            "print('held', flush=True)\ntime.sleep(60)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture
def held_lock(world):
    """Another process holding the run folder's lock, as a running training does; yields its process id."""
    folder = world.run_dir()
    folder.mkdir()
    with lock_held_by_another_process(folder / ".lock") as pid:
        yield pid


def test_a_folder_in_use_by_another_run_is_refused_naming_it(world, held_lock, capsys):
    line = assert_refused(
        bn_mnist.main,
        ["--output-dir", str(world.run_dir())],
        world.root,
        capsys,
        1,
        r"is in use by another run \(process \d+ on testhost since now\): wait for it to end, or "
        r"choose another --output-dir",
    )
    assert str(held_lock) in line


def test_a_stale_lock_of_a_killed_run_is_taken_over(world, capsys):
    folder = world.run_dir()
    folder.mkdir()
    (folder / ".lock").write_text("process 999999 on elsewhere since yesterday\n")
    (world.data / "mnist" / "t10k-images-idx3-ubyte").unlink()  # so that the run stops after taking the folder
    assert_refused(
        bn_mnist.main,
        MNIST_SMALL + ["--output-dir", str(folder)],
        world.root,
        capsys,
        1,
        r"t10k-images-idx3-ubyte is missing: run `make download-mnist`",
    )
    assert "process %d" % os.getpid() not in (folder / ".lock").read_text()  # released again
    log = (folder / "console.log").read_text()
    assert "taking over %s from a run that ended without releasing it (process 999999" % (folder / ".lock") in log


def save_checkpoint(folder: Path, config: dict, epoch: int = 1) -> Checkpoint:
    """A checkpoint as the loop writes it, for the MNIST settings ``config``."""
    import theano

    checkpoint = Checkpoint(folder / "checkpoint.npz", config)
    state = LoopState(LR=0.003, order=np.arange(4), epoch=epoch)
    checkpoint.save(state, [theano.shared(np.zeros(3, np.float32), name="W")], [{"epoch": e} for e in range(epoch)], [])
    return checkpoint


def mnist_config(argv: List[str]) -> dict:
    return bn_mnist.MNISTSettings.parse(argv).config()


def test_a_checkpoint_with_other_settings_is_refused_before_loading(world, capsys):
    folder = world.run_dir()
    save_checkpoint(folder, mnist_config(SMALL_MNIST))
    line = assert_refused(
        bn_mnist.main,
        SMALL_MNIST + ["--num-units", "16", "--output-dir", str(folder)],
        world.root,
        capsys,
        1,
        r"checkpoint.npz was written with other settings \(num_units 8, "
        r"now 16\): use the same flags to resume, or another --output-dir to "
        r"start afresh",
    )
    assert "Loading" not in line


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda path: path.write_bytes(path.read_bytes()[:300]), r"is damaged \("),
        (lambda path: path.write_bytes(b"garbage" * 100), r"is damaged \(not an .npz file: truncated or overwritten\)"),
        (
            lambda path: (path.unlink(), path.mkdir()),
            r"cannot write .*checkpoint.npz: a folder is in its place: remove it",
        ),
        (lambda path: np.savez(path, format=np.asarray(1)), r"has format 1, this code writes 2"),
    ],
    ids=["truncated", "garbage", "a folder", "old format"],
)
def test_a_damaged_checkpoint_without_a_previous_one(damage, message, world, capsys):
    folder = world.run_dir()
    save_checkpoint(folder, mnist_config(SMALL_MNIST))
    damage(folder / "checkpoint.npz")
    line = assert_refused(bn_mnist.main, SMALL_MNIST + ["--output-dir", str(folder)], world.root, capsys, 1, message)
    assert str(folder / "checkpoint.npz") in line
    if "format" not in message and "folder" not in message:
        assert "there is no usable previous checkpoint: delete %s (or choose another --output-dir)" % folder in line


def test_a_damaged_checkpoint_falls_back_to_the_previous_one(world, capsys):
    """Latest damaged, previous good: the run says so and resumes from the previous one (here: epoch 1 of 2 done,
    checked before anything is compiled by stopping on a missing data file)."""
    folder = world.run_dir()
    save_checkpoint(folder, mnist_config(SMALL_MNIST), epoch=1)
    save_checkpoint(folder, mnist_config(SMALL_MNIST), epoch=2)
    (folder / "checkpoint.npz").write_bytes(b"garbage")
    (world.data / "mnist" / "t10k-labels-idx1-ubyte").unlink()
    assert_refused(
        bn_mnist.main,
        SMALL_MNIST + ["--output-dir", str(folder)],
        world.root,
        capsys,
        1,
        r"t10k-labels-idx1-ubyte is missing",
        ALLOWED_NEW | {"log.jsonl"},
    )  # rewritten from the checkpoint
    assert (
        "warning: %s is damaged (not an .npz file: truncated or overwritten); resuming from %s (after epoch 1) "
        "instead" % (folder / "checkpoint.npz", folder / "checkpoint.previous.npz")
    ) in (folder / "console.log").read_text()


def test_a_finished_run_prints_its_result_and_does_nothing(world, capsys):
    folder = world.run_dir()
    history = [dict(epoch_record(e), num_epochs=2) for e in (1, 2)]
    import theano

    Checkpoint(folder / "checkpoint.npz", mnist_config(SMALL_MNIST)).save(
        LoopState(LR=1e-5, order=np.arange(40), epoch=2), [theano.shared(np.zeros(1), name="W")], history, []
    )
    started = time.monotonic()
    assert bn_mnist.main(SMALL_MNIST + ["--output-dir", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert time.monotonic() - started < FAST and "Compiling" not in err and "Loading" not in out
    assert out.splitlines()[-1] == (
        "%s: all 2 epochs are done; best epoch 2: validation error rate 10.0%%, test "
        "error rate 12.5%% (every epoch is in %s)" % (folder, folder / "log.jsonl")
    )
    assert [json.loads(line)["epoch"] for line in (folder / "log.jsonl").read_text().splitlines()] == [1, 2]


def epoch_record(epoch: int) -> dict:
    return {
        "epoch": epoch,
        "num_epochs": 2,
        "seconds": 1.0,
        "LR": 0.003,
        "training_loss": 0.5,
        "validation_loss": 0.4,
        "validation_error_rate": 10.0,
        "best_epoch": epoch,
        "best_validation_error_rate": 10.0,
        "test_loss": 0.4,
        "test_error_rate": 12.5,
        "time": "2026-12-01T00:00:00Z",
    }


# --- 3. data: missing, damaged, folders in their place; the named fix really fixes --------------------------------

MNIST_FILE = "t10k-images-idx3-ubyte"
MNIST_SMALL = SMALL_MNIST[:-2]
CONVNET_SMALL = ["--train-size", "20", "--valid-size", "4", "--test-size", "10", "--batch-size", "4"]
SVHN_SMALL = ["--train-size", "20", "--valid-size", "5", "--test-size", "5", "--batch-size", "5"]


def _truncate(path: Path) -> None:
    content = path.read_bytes()
    path.unlink()  # not a write through the hard link to the pristine copy
    path.write_bytes(content[: len(content) // 3])


def _replace(path: Path, content: bytes) -> None:
    path.unlink()
    path.write_bytes(content)


def _replace_by_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _svhn(world: World, which: str, local: bool = False) -> Path:
    return svhn_data.h5_path(world.data / "local" if local else svhn_data.default_folder(str(world.data)), which)


DATA_CASES = [  # (id, script, its flags, damage done to the world, the error expected)
    (
        "mnist missing",
        bn_mnist,
        MNIST_SMALL,
        lambda w: (w.data / "mnist" / MNIST_FILE).unlink(),
        MNIST_FILE + r" is missing: run `make download-mnist`",
    ),
    (
        "mnist folder",
        bn_mnist,
        MNIST_SMALL,
        lambda w: _replace_by_folder(w.data / "mnist" / MNIST_FILE),
        MNIST_FILE + r" is a folder, not a file: remove it, then run `make download-mnist`",
    ),
    (
        "mnist truncated",
        bc_mnist,
        MNIST_SMALL,
        lambda w: _truncate(w.data / "mnist" / MNIST_FILE),
        MNIST_FILE + r" is corrupt \(sha256 [0-9a-f]+, expected [0-9a-f]+\): delete it and run `make download-mnist`",
    ),
    ("mnist empty", bn_mnist, MNIST_SMALL, lambda w: _replace(w.data / "mnist" / MNIST_FILE, b""), r"is corrupt"),
    (
        "mnist too few rows",
        bn_mnist,
        ["--valid-size", "10000"],
        lambda w: None,
        r"MNIST 'train' in .* has 50060 rows, rows 50000\.\.60000 were asked for: use fewer rows",
    ),
    (
        "cifar10 missing",
        bn_cifar10,
        CONVNET_SMALL,
        lambda w: (w.data / "cifar10" / cifar10_data.FOLDER / "data_batch_3").unlink(),
        r"data_batch_3 is missing: run `make download-cifar10`",
    ),
    (
        "cifar10 corrupt",
        bn_cifar10,
        CONVNET_SMALL,
        lambda w: _truncate(w.data / "cifar10" / cifar10_data.FOLDER / "test_batch"),
        r"test_batch is corrupt \(md5 .*\): delete it and run `make download-cifar10`",
    ),
    (
        "whitened missing",
        bc_cifar10,
        CONVNET_SMALL,
        lambda w: None,
        r"preprocessor.npz is missing: run `make cifar10-whitened`",
    ),
    (
        "svhn missing",
        bn_svhn,
        SVHN_SMALL,
        lambda w: _svhn(w, "valid").unlink(),
        r"h5/valid_32x32.h5 is missing: run `make svhn-h5`",
    ),
    (
        "svhn truncated",
        bn_svhn,
        SVHN_SMALL,
        lambda w: _truncate(_svhn(w, "test")),
        r"test_32x32.h5 is not a readable h5 file \(.*\): delete it and run `make svhn-h5`",
    ),
    (
        "svhn folder",
        bn_svhn,
        SVHN_SMALL,
        lambda w: _replace_by_folder(_svhn(w, "test")),
        r"test_32x32.h5 is a folder, not a file: remove it, then run `make svhn-h5`",
    ),
    (
        "svhn too few rows",
        bn_svhn,
        SVHN_SMALL + ["--train-size", "100"],
        lambda w: None,
        r"splitted_train_32x32.h5 has 40 rows, rows 0\.\.100 were asked for",
    ),
    (
        "gcn+lcn missing",
        bc_svhn,
        SVHN_SMALL,
        lambda w: _svhn(w, "test", local=True).unlink(),
        r"local/h5/test_32x32.h5 is missing: run `make svhn-preprocess`",
    ),
    (
        "gcn+lcn truncated",
        bc_svhn,
        SVHN_SMALL,
        lambda w: _truncate(_svhn(w, "splitted_train", local=True)),
        r"splitted_train_32x32.h5 is not a readable h5 file .*: delete it and run `make svhn-preprocess`",
    ),
    (
        "gcn+lcn foreign file",
        bc_svhn,
        SVHN_SMALL,
        lambda w: _replace(_svhn(w, "valid", local=True), b"PK\x03\x04 not an h5 file"),
        r"valid_32x32.h5 is not a readable h5 file .*: delete it and run `make svhn-preprocess`",
    ),
]


@pytest.mark.parametrize(
    "script, argv, damage, message", [case[1:] for case in DATA_CASES], ids=[case[0] for case in DATA_CASES]
)
def test_missing_or_damaged_data_names_the_command_that_fixes_it(script, argv, damage, message, world, capsys):
    damage(world)
    assert_refused(script.main, argv + ["--output-dir", str(world.run_dir())], world.root, capsys, 1, message)


# --- 4. derived data verified like downloads; downloads that fail say what to place where ------------------------


@pytest.fixture
def tiny_cifar10(tmp_path, monkeypatch):
    """A CIFAR-10 folder of five 20-row batches and a 10-row test batch, accepted, and its whitened set built."""
    root = tmp_path / "tiny"
    rows = dict({name: 20 for name in cifar10_data.FILES["train"]}, test_batch=10)
    write_cifar10(root, rows, np.random.RandomState(4))
    for name in rows:
        monkeypatch.setitem(cifar10_data.CHECKSUMS, name, md5_of(root / "cifar10" / cifar10_data.FOLDER / name))
    assert cifar10_whitened.main(["--data-path", str(root)]) == 0
    return root


def test_a_damaged_whitened_set_is_refused_then_rebuilt_by_the_named_command(tiny_cifar10, capsys):
    """The loader names `make cifar10-whitened`; that command must not call the set present, but rebuild it."""
    folder = cifar10_whitened.output_folder(tiny_cifar10)
    good = (folder / "train.npz").read_bytes()
    _truncate(folder / "train.npz")
    capsys.readouterr()
    assert_refused(
        bc_cifar10.main,
        CONVNET_SMALL[4:]
        + [
            "--data-path",
            str(tiny_cifar10),
            "--train-size",
            "20",
            "--valid-size",
            "4",
            "--test-size",
            "10",
            "--output-dir",
            str(tiny_cifar10 / "run"),
        ],
        tiny_cifar10,
        capsys,
        1,
        r"train.npz is damaged .*: delete it and run `make cifar10-whitened`",
    )
    assert cifar10_whitened.main(["--data-path", str(tiny_cifar10)]) == 0
    out = capsys.readouterr().out
    assert "unusable, rebuilding it" in out and "present" not in out
    assert (folder / "train.npz").read_bytes() == good


def test_a_command_leaves_no_debris_of_a_killed_writer(tiny_cifar10, capsys):
    folder = cifar10_whitened.output_folder(tiny_cifar10)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    debris = folder / (".train.npz.%d.x1y2z3.tmp" % int(dead.stdout))
    debris.write_bytes(b"\0" * 1000)
    (folder / "preprocessor.npz").unlink()  # so that the set is built again, writing train.npz
    assert cifar10_whitened.main(["--data-path", str(tiny_cifar10)]) == 0
    assert not debris.exists() and sorted(p.name for p in folder.iterdir()) == [
        "preprocessor.npz",
        "test.npz",
        "train.npz",
    ]


def _mat(path: Path, n: int, rng: np.random.RandomState):
    """An SVHN .mat file (MATLAB 5) of ``n`` images, labels 1..10; returns its checksum."""
    import scipy.io

    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(
        str(path),
        {"X": rng.randint(0, 256, (32, 32, 3, n)).astype(np.uint8), "y": rng.randint(1, 11, (n, 1)).astype(np.uint8)},
        format="5",
    )
    return md5_of(path)


def test_a_damaged_svhn_h5_file_is_rebuilt_not_reported_present(world, monkeypatch, capsys):
    folder = svhn_data.default_folder(str(world.data))
    monkeypatch.setitem(
        svhn_data.CHECKSUMS, "test", _mat(svhn_data.mat_path(folder, "test"), 30, np.random.RandomState(5))
    )
    assert svhn_h5.main(["--sets", "test"]) == 0  # the world's 10-row file was not built from this .mat
    capsys.readouterr()
    assert svhn_h5.main(["--sets", "test"]) == 0
    assert "test_32x32.h5: present" in capsys.readouterr().out
    _truncate(_svhn(world, "test"))
    assert svhn_h5.main(["--sets", "test"]) == 0
    out = capsys.readouterr().out
    assert "unusable, rebuilding it" in out and svhn_data.SVHN("test", path=str(folder)).X.shape == (30, 3072)


@pytest.mark.parametrize(
    "command, argv, setup, message",
    [
        (
            svhn_h5.main,
            ["--sets", "test"],
            lambda w: _svhn(w, "test").unlink(),
            r"test_32x32.mat is missing: run `make download-svhn`",
        ),
        (
            svhn_preprocessing.main,
            ["--sets", "valid"],
            lambda w: _svhn(w, "valid").unlink(),
            r"missing SVHN h5 file\(s\) .*valid_32x32.h5: run `make svhn-h5` first",
        ),
        (
            svhn_preprocessing.main,
            ["--sets", "test"],
            lambda w: (_truncate(_svhn(w, "test")), _svhn(w, "test", local=True).unlink()),
            r"test_32x32.h5 is not a readable h5 file .*: delete it and run `make svhn-h5`",
        ),
        (
            svhn_preprocessing.main,
            ["--sets", "test"],
            lambda w: os.environ.pop("SVHN_LOCAL_PATH"),
            r"SVHN_LOCAL_PATH is not set: .*or pass --local-path",
        ),
        (
            svhn_preprocessing.main,
            ["--sets", "test"],
            lambda w: None,
            r"local/h5/test_32x32.h5 holds raw pixels and no completion marker .*: delete it and rerun",
        ),
        (
            cifar10_whitened.main,
            [],
            lambda w: (w.data / "cifar10" / cifar10_data.FOLDER / "data_batch_5").unlink(),
            r"data_batch_5 is missing: run `make download-cifar10`",
        ),
        (compare.main, ["--runs", "runs"], lambda w: None, r"no run to compare in runs .*: run `make mnist`"),
        (
            compare.main,
            ["--runs", "data/mnist/t10k-labels-idx1-ubyte"],
            lambda w: None,
            r"is not a folder of runs: run `make mnist`",
        ),
    ],
    ids=[
        "svhn-h5 without .mat",
        "preprocess without sources",
        "preprocess damaged source",
        "preprocess without SVHN_LOCAL_PATH",
        "preprocess over an unmarked output",
        "whitening without CIFAR-10",
        "compare without runs",
        "compare on a file",
    ],
)
def test_data_commands_refuse_in_one_line(command, argv, setup, message, world, monkeypatch, capsys):
    monkeypatch.setenv("SVHN_LOCAL_PATH", os.environ["SVHN_LOCAL_PATH"])  # restored after a case pops it
    setup(world)
    assert_refused(command, argv, world.root, capsys, 1, message)


def test_download_with_a_folder_in_a_files_place(world, capsys):
    _replace_by_folder(world.data / "mnist" / "train-labels-idx1-ubyte")
    assert_refused(
        download.main,
        ["mnist"],
        world.root,
        capsys,
        1,
        r"train-labels-idx1-ubyte is a folder \(or "
        r"another non-file\) where that file belongs: remove it, then run `make download-mnist`",
    )


@pytest.fixture
def offline(monkeypatch):
    """No mirror answers: a port on which nothing listens."""
    monkeypatch.setattr(mnist_data, "MIRRORS", ("http://127.0.0.1:9/mnist/",))


def test_an_offline_download_says_which_file_to_place_where(world, offline, capsys):
    (world.data / "mnist" / "t10k-labels-idx1-ubyte").unlink()
    line = assert_refused(
        download.main,
        ["mnist"],
        world.root,
        capsys,
        1,
        r"could not download t10k-labels-idx1-ubyte.gz from http://127.0.0.1:9/mnist/"
        r"t10k-labels-idx1-ubyte.gz \(.*\)\. Offline\? Put the published file "
        r"t10k-labels-idx1-ubyte.gz \(from http://127.0.0.1:9/mnist/t10k-labels-idx1-ubyte.gz, "
        r"sha256 [0-9a-f]{64}\) into .*/data/mnist by hand, then run `make download-mnist`: it "
        r"checks its sha256 and uses it",
    )
    assert mnist_data.GZ_CHECKSUMS["t10k-labels-idx1-ubyte"].hexdigest in line


def test_an_offline_download_names_every_missing_file_at_once(world, offline, capsys):
    for name in ("t10k-labels-idx1-ubyte", "train-images-idx3-ubyte"):
        (world.data / "mnist" / name).unlink()
    line = assert_refused(
        download.main,
        ["mnist"],
        world.root,
        capsys,
        1,
        r"could not download 2 files \(.*\)\. Offline\? Put the published files by hand: ",
    )
    for name in ("t10k-labels-idx1-ubyte", "train-images-idx3-ubyte"):
        assert (
            "%s.gz (from http://127.0.0.1:9/mnist/%s.gz, sha256 %s) into %s"
            % (name, name, mnist_data.GZ_CHECKSUMS[name].hexdigest, world.data / "mnist")
            in line
        )


def test_files_placed_by_hand_offline_are_verified_and_used(tmp_path, offline, monkeypatch, capsys):
    if not SHARED_MNIST.is_dir():
        missing_real_data("real MNIST .gz files in %s" % SHARED_MNIST)
    (tmp_path / "mnist").mkdir()
    for gz in SHARED_MNIST.glob("*.gz"):
        shutil.copy(gz, tmp_path / "mnist" / gz.name)
    assert download.main(["mnist", "--data-path", str(tmp_path)]) == 0
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == sorted(
        name for name in mnist_data.CHECKSUMS
    )  # verified, uncompressed, the .gz files removed
    assert mnist_data.MNIST("test", path=str(tmp_path)).X.shape == (10000, 784)


# --- 5. processes of their own: a full disk, two runs at once, a killed run ---------------------------------------


def run_limited(argv: List[str], limit: Optional[int] = None, **kwargs) -> subprocess.CompletedProcess:
    """``python -m argv`` in the repository; with ``limit``, once the training functions are compiled (Theano's
    compiler writes large files too), no file may grow beyond that many bytes: a disk that fills up."""
    code = "import runpy, sys\n"
    if limit:
        code += (
            "import resource, signal\nfrom harness.run_folder import RunFolder\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\ncompiled = RunFolder.compiled\n"
            "def full(self, seconds):\n    compiled(self, seconds)\n"
            "    resource.setrlimit(resource.RLIMIT_FSIZE, (%d, %d))\n"
            "RunFolder.compiled = full\n" % (limit, limit)
        )
    code += "sys.argv = sys.argv[1:]\nrunpy.run_module(sys.argv[0], run_name='__main__')"
    return subprocess.run(
        [sys.executable, "-c", code] + argv, cwd=REPO, capture_output=True, text=True, timeout=600, **kwargs
    )


def test_a_full_disk_while_preprocessing_is_one_line_and_the_rerun_resumes(world, monkeypatch, capsys):
    """The h5 writers check the free space before each slab (HDF5 does not recover from a write that fails
    halfway): a full disk at the third slab is one line, no output file, and the rerun resumes at that slab."""
    import harness.files

    write_h5(
        _svhn(world, "test"),
        *(
            np.random.RandomState(3).randint(0, 256, (12000, 3072)).astype(np.float32),
            np.eye(10, dtype=np.float32)[np.zeros(12000, int)],
        ),
    )
    slabs = []
    argv = ["--sets", "test", "--local-path", str(world.root / "out")]
    with monkeypatch.context() as full_disk:
        full_disk.setattr(
            harness.files, "free_bytes", lambda folder: slabs.append(1) or (0 if len(slabs) == 3 else 1 << 40)
        )
        assert_refused(
            svhn_preprocessing.main,
            argv,
            world.root,
            capsys,
            1,
            r"cannot write .*test_32x32.h5.partial \(no space left on the device: 62 MB needed, 0 MB "
            r"free\)",
            ALLOWED_NEW | {"test_32x32.h5.partial"},
        )  # the slabs done so far, to resume from
    assert not svhn_data.h5_path(world.root / "out", "test").exists()
    assert svhn_preprocessing.main(argv) == 0
    assert "resuming test_32x32.h5.partial at row 10000 of 12000" in capsys.readouterr().out
    assert svhn_data.SVHN("test", path=str(world.root / "out")).X.shape == (12000, 3072)


TINY_RUN = [
    "--num-units",
    "8",
    "--n-hidden-layers",
    "1",
    "--train-size",
    "1000",
    "--valid-size",
    "100",
    "--test-size",
    "100",
    "--num-epochs",
    "2",
]


@pytest.mark.slow
def test_a_full_disk_while_checkpointing_is_one_line_and_the_rerun_finishes(real_mnist_root, tmp_path):
    """The parameters file fits, the checkpoint does not: one line, no checkpoint, no log; the rerun completes and
    equals an uninterrupted run."""
    argv = ["binarynet.mnist"] + TINY_RUN + ["--data-path", str(real_mnist_root)]
    assert run_limited(argv + ["--output-dir", str(tmp_path / "whole")]).returncode == 0
    argv += ["--output-dir", str(tmp_path / "full")]
    full = run_limited(argv, limit=60000)
    assert full.returncode == 1 and full.stderr.count("error:") == 1 and "Traceback" not in full.stderr
    assert re.search(
        r"error: cannot write .*checkpoint.npz \(file too large .*\): free some space or fix the folder, "
        r"then rerun the same command",
        full.stderr,
    ), full.stderr
    folder = tmp_path / "full"
    assert not (folder / "checkpoint.npz").exists() and not (folder / "log.jsonl").exists()
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    done = run_limited(argv)
    assert done.returncode == 0, done.stderr

    def figures(log):
        return [
            {k: v for k, v in json.loads(line).items() if k not in ("seconds", "time")}
            for line in log.read_text().splitlines()
        ]

    assert (
        figures(folder / "log.jsonl") == figures(tmp_path / "whole" / "log.jsonl")
        and len(figures(folder / "log.jsonl")) == 2
    )


@pytest.mark.slow
def test_a_second_run_into_a_busy_folder_is_refused_and_a_killed_run_resumes(real_mnist_root, tmp_path):
    """Two runs into one folder (different seeds): the second is refused naming the first; the first, killed with
    SIGTERM after its first epoch, leaves its lock to the next run, which resumes. (Eight short epochs: a kill
    delayed by a busy machine still lands before the end.)"""
    argv = TINY_RUN[:-1] + ["8", "--data-path", str(real_mnist_root), "--output-dir", str(tmp_path)]
    first = subprocess.Popen(
        [sys.executable, "-m", "binarynet.mnist"] + argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while "process %d" % first.pid not in _read(tmp_path / ".lock") and time.time() < deadline:
        time.sleep(0.05)
    second = run_limited(["binarynet.mnist"] + argv + ["--seed", "7"])
    assert second.returncode == 1 and "in use by another run (process %d" % first.pid in second.stderr
    while not (tmp_path / "checkpoint.npz").exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)
    first.wait()
    logged = len((tmp_path / "log.jsonl").read_text().splitlines())
    resumed = run_limited(["binarynet.mnist"] + argv)
    assert resumed.returncode == 0, resumed.stderr
    resuming = re.search(r"Resuming after epoch (\d+) ", resumed.stderr)
    assert resuming, "the kill came too late to test anything: " + resumed.stderr
    # the log may lag the checkpoint by the epoch whose log line the kill prevented: rewritten from the checkpoint
    assert logged <= int(resuming.group(1)) < 8
    assert "taking over" in resumed.stderr
    assert [json.loads(line)["epoch"] for line in (tmp_path / "log.jsonl").read_text().splitlines()] == list(
        range(1, 9)
    )


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
