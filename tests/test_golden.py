"""Golden runs: one small run per method (BinaryNet and BinaryConnect MNIST on the real MNIST, the BinaryNet
ConvNet on synthetic CIFAR-10 batches: conftest.trained_runs) whose printed figures must equal, in every digit, those
recorded in tests/golden/ (the durations aside). Any change of what a run computes or prints shows here.

The figures depend on float32 arithmetic, which conftest.py makes the same on every x86-64 machine. A change that
is meant to alter the figures (an issue asks for it) re-records them: ``GOLDEN=record make test`` writes the files
anew and skips the comparison (saying so), and the diff of tests/golden/ is then part of the change.
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
    """Compare the run's printed figures with the recorded ones (with GOLDEN=record: record them, compare
    nothing, and skip saying so); the log holds the same numbers."""
    folder, stdout = trained_runs[name]
    log = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    assert "  test error rate:               %.12g%%" % log[-1]["test_error_rate"] in stdout.splitlines()
    path = GOLDEN / (name + ".txt")
    if os.environ.get("GOLDEN") == "record":
        path.parent.mkdir(exist_ok=True)
        path.write_text(figures(stdout))
        pytest.skip("GOLDEN=record: wrote %s and compared nothing; review its diff" % path)
    assert figures(stdout).splitlines() == path.read_text().splitlines()
