"""End to end on real MNIST: the smoke run of `make mnist-smoke` learns as the README says (under 10 % test error),
and the same run killed with SIGKILL resumes to exactly the uninterrupted result."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, smoke_flags

SMOKE = smoke_flags("binarynet-mnist")
EPOCHS = int(SMOKE[SMOKE.index("--num-epochs") + 1])

pytestmark = pytest.mark.slow


def command(data_root: Path, output_dir: Path):
    return [
        sys.executable,
        "-m",
        "binarynet.mnist",
        *SMOKE,
        "--data-path",
        str(data_root),
        "--output-dir",
        str(output_dir),
    ]


def finish(data_root: Path, output_dir: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(command(data_root, output_dir), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def uninterrupted(real_mnist_root, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("straight")
    return output_dir, finish(real_mnist_root, output_dir)


def test_the_smoke_run_learns_and_the_log_has_the_original_structure(uninterrupted):
    output_dir, done = uninterrupted
    stdout = done.stdout
    log = [json.loads(line) for line in (output_dir / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == list(range(1, EPOCHS + 1))
    assert log[0]["validation_error_rate"] < 20, "chance is 90 %"
    assert log[-1]["test_error_rate"] < 10, "the README promises under 10 %"
    lines = stdout.splitlines()
    head = lines[: lines.index("Loading MNIST dataset...")]
    assert [line.split(" = ")[0] for line in head] == [
        "batch_size",
        "alpha",
        "epsilon",
        "num_units",
        "n_hidden_layers",
        "num_epochs",
        "dropout_in",
        "dropout_hidden",
        "activation",
        "binary",
        "stochastic",
        "H",
        "W_LR_scale",
        "LR_start",
        "LR_fin",
        "LR_decay",
        "save_path",
        "shuffle_parts",
    ]
    building = lines[lines.index("Building the MLP...") + 1 : lines.index("Training...")]
    assert [line.split(" = ")[0] for line in building] == ["W_LR_scale", "H"] * 3  # 2 hidden layers + output
    epoch_1 = lines.index("Training...") + 1
    assert lines[epoch_1].startswith("Epoch 1 of %d took " % EPOCHS)
    assert lines[epoch_1 + 3] == "  validation loss:               %.12g" % log[0]["validation_loss"]
    assert set(stdout.splitlines()) <= set((output_dir / "console.log").read_text().splitlines())
    assert "Theano computes on: cpu" in done.stderr and "Compiling" in done.stderr
    with np.load(output_dir / "mnist_parameters.npz", allow_pickle=False) as params:
        assert len(params.files) == 3 * 6  # per block: W, b, beta, gamma, mean, inv_std
        assert params["arr_0"].shape == (784, 512) and np.abs(params["arr_0"]).max() <= 1


def test_a_killed_run_resumes_to_the_same_parameters(real_mnist_root, uninterrupted, tmp_path):
    straight_dir, _ = uninterrupted
    output_dir = tmp_path / "killed"
    process = subprocess.Popen(
        command(real_mnist_root, output_dir), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 400
    while not (output_dir / "checkpoint.npz").exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    log = output_dir / "log.jsonl"
    logged = len(log.read_text().splitlines()) if log.exists() else 0

    stderr = finish(real_mnist_root, output_dir).stderr
    killed_after = int(re.search(r"Resuming after epoch (\d+) ", stderr).group(1))
    # the log may lag the checkpoint by one epoch (killed between the two writes): it is rewritten from the checkpoint
    assert logged <= killed_after < EPOCHS, "the kill came too late to test anything"
    with (
        np.load(straight_dir / "checkpoint.npz", allow_pickle=False) as expected,
        np.load(output_dir / "checkpoint.npz", allow_pickle=False) as resumed,
    ):
        assert expected.files == resumed.files
        for key in expected.files:
            if key != "history":  # holds the epoch durations and times
                np.testing.assert_array_equal(resumed[key], expected[key], err_msg=key)

    def strip(path):
        return [
            {k: v for k, v in json.loads(line).items() if k not in ("seconds", "time")}
            for line in path.read_text().splitlines()
        ]

    assert strip(output_dir / "log.jsonl") == strip(straight_dir / "log.jsonl")
    manifest = json.loads((output_dir / "run.json").read_text())
    assert [session["resumed_after_epoch"] for session in manifest["sessions"]] == [0, killed_after]
