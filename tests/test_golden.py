"""Golden runs: one small run per method (BinaryNet and BinaryConnect MNIST on the real MNIST, the BinaryNet
ConvNet on synthetic CIFAR-10 batches) whose printed figures must equal, in every digit, those recorded in
tests/golden/ (the durations aside). Any change of what a run computes or prints shows here.

The figures depend on float32 arithmetic, which conftest.py makes the same on every x86-64 machine. A change that
is meant to alter the figures (an issue asks for it) re-records them: ``GOLDEN=record make test`` writes the files
anew, and the diff of tests/golden/ is then part of the change.
"""
import compat  # noqa: F401

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from binaryconnect import mnist as bc_mnist
from binarynet import cifar10 as bn_cifar10
from binarynet import mnist as bn_mnist
from conftest import md5_of, write_cifar10
from datasets import cifar10 as cifar10_data

GOLDEN = Path(__file__).resolve().parent / "golden"
MNIST_RUN = ["--num-epochs", "2", "--num-units", "64", "--n-hidden-layers", "1", "--train-size", "1000",
             "--valid-size", "200", "--test-size", "200"]
CIFAR10_RUN = ["--num-epochs", "2", "--filters", "4", "4", "8", "8", "8", "8", "--num-units", "16",
               "--train-size", "200", "--valid-size", "50", "--test-size", "50", "--batch-size", "25"]


def figures(stdout: str) -> str:
    """The printed lines with the epoch durations taken out."""
    return re.sub(r"^(Epoch \d+ of \d+ took )\S+s$", r"\1<seconds>s", stdout, flags=re.M)


def check_golden(name: str, stdout: str, folder: Path) -> None:
    """Compare (or, with GOLDEN=record, write) the run's printed figures; the log must hold the same numbers."""
    path = GOLDEN / (name + ".txt")
    if os.environ.get("GOLDEN") == "record":
        path.parent.mkdir(exist_ok=True)
        path.write_text(figures(stdout))
    assert figures(stdout).splitlines() == path.read_text().splitlines()
    log = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    assert "  test error rate:               %.12g%%" % log[-1]["test_error_rate"] in stdout.splitlines()


@pytest.fixture(scope="module")
def synthetic_cifar10(tmp_path_factory):
    """CIFAR-10 batches of a learnable synthetic set (class pattern plus noise): 45,050 training rows, so that the
    script's validation rows 45000.. exist, and 100 test rows."""
    root = tmp_path_factory.mktemp("cifar10_data")
    rows = dict({name: 9010 for name in cifar10_data.FILES["train"]}, test_batch=100)
    write_cifar10(root, rows, np.random.RandomState(11), templates=True)
    return root, {name: md5_of(root / "cifar10" / cifar10_data.FOLDER / name) for name in rows}


@pytest.mark.parametrize("script, name", [(bn_mnist, "binarynet-mnist"), (bc_mnist, "binaryconnect-mnist")])
def test_mnist_golden_run(script, name, real_mnist_root, tmp_path, capsys):
    assert script.main(MNIST_RUN + ["--data-path", str(real_mnist_root), "--output-dir", str(tmp_path)]) == 0
    check_golden(name, capsys.readouterr().out, tmp_path)


def test_binarynet_convnet_golden_run(synthetic_cifar10, tmp_path, capsys, monkeypatch):
    root, checksums = synthetic_cifar10
    for name, checksum in checksums.items():
        monkeypatch.setitem(cifar10_data.CHECKSUMS, name, checksum)
    assert bn_cifar10.main(CIFAR10_RUN + ["--data-path", str(root), "--output-dir", str(tmp_path)]) == 0
    check_golden("binarynet-cifar10", capsys.readouterr().out, tmp_path)
