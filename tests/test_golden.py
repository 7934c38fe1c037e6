"""Golden runs: one small run per method (BinaryNet and BinaryConnect MNIST on the real MNIST, the BinaryNet
ConvNet on synthetic CIFAR-10 batches: conftest.trained_runs) whose printed figures must equal, in every digit, those
recorded in tests/golden/ (the durations aside). Any change of what a run computes or prints shows here.

The figures depend on float32 arithmetic, which conftest.py makes the same on every x86-64 machine. A change that
is meant to alter the figures (an issue asks for it) re-records them: ``GOLDEN=record make test`` writes the files
anew, and the diff of tests/golden/ is then part of the change.
"""
import compat  # noqa: F401

import json
import os
import re
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"


def figures(stdout: str) -> str:
    """The printed lines with the epoch durations taken out."""
    return re.sub(r"^(Epoch \d+ of \d+ took )\S+s$", r"\1<seconds>s", stdout, flags=re.M)


@pytest.mark.parametrize("name", ["binarynet-mnist", "binaryconnect-mnist", "binarynet-cifar10"])
def test_golden_run(name, trained_runs):
    """Compare (or, with GOLDEN=record, write) the run's printed figures; the log holds the same numbers."""
    folder, stdout = trained_runs[name]
    path = GOLDEN / (name + ".txt")
    if os.environ.get("GOLDEN") == "record":
        path.parent.mkdir(exist_ok=True)
        path.write_text(figures(stdout))
    assert figures(stdout).splitlines() == path.read_text().splitlines()
    log = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    assert "  test error rate:               %.12g%%" % log[-1]["test_error_rate"] in stdout.splitlines()
