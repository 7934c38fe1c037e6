"""The other smoke runs learn, with the very flags of their make targets: BinaryConnect MNIST on the real MNIST
(`make bc-mnist-smoke`, under 10 % test error) and the BinaryNet ConvNet of `make cifar10-smoke` on a learnable
synthetic CIFAR-10 (a per-class pattern plus noise; under 20 %, chance being 90 %)."""

import compat  # noqa: F401

import json

import numpy as np
import pytest
from conftest import md5_of, smoke_flags, write_cifar10

from binaryconnect import mnist as bc_mnist
from binarynet import cifar10 as bn_cifar10
from datasets import cifar10 as cifar10_data

pytestmark = pytest.mark.slow


def last_epoch(folder):
    return json.loads((folder / "log.jsonl").read_text().splitlines()[-1])


def test_binaryconnect_mnist_smoke_run_learns(real_mnist_root, tmp_path):
    argv = smoke_flags("binaryconnect-mnist") + ["--data-path", str(real_mnist_root), "--output-dir", str(tmp_path)]
    assert bc_mnist.main(argv) == 0
    last = last_epoch(tmp_path)
    assert last["epoch"] == last["num_epochs"] and last["test_error_rate"] < 10


def test_the_convnet_smoke_run_learns_on_synthetic_cifar10(tmp_path, monkeypatch):
    flags = smoke_flags("binarynet-cifar10")
    valid, test = (int(flags[flags.index(flag) + 1]) for flag in ("--valid-size", "--test-size"))
    rows = dict({name: (45000 + valid) // 5 for name in cifar10_data.FILES["train"]}, test_batch=test)
    write_cifar10(tmp_path, rows, np.random.RandomState(11), templates=True)
    for name in rows:
        monkeypatch.setitem(cifar10_data.CHECKSUMS, name, md5_of(tmp_path / "cifar10" / cifar10_data.FOLDER / name))
    assert bn_cifar10.main(flags + ["--data-path", str(tmp_path), "--output-dir", str(tmp_path / "run")]) == 0
    last = last_epoch(tmp_path / "run")
    assert last["epoch"] == last["num_epochs"] and last["test_error_rate"] < 20
