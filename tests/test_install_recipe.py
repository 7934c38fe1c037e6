"""One install recipe (docker/install.sh) for the image, `make setup` and CI: no second copy of its steps."""

import configparser
import os
import re
import subprocess
import sys
from pathlib import Path

import experiments

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = (REPO / "docker" / "Dockerfile").read_text()


def instructions(keyword):
    """The Dockerfile's instructions of one kind, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    return [line[len(keyword) :].strip() for line in joined.splitlines() if line.startswith(keyword + " ")]


def test_the_image_installs_only_through_the_recipe():
    runs = instructions("RUN")
    assert any("docker/install.sh --gpu" in run for run in runs)
    for run in runs:
        assert not re.search(r"apt-get\s+install|pip\d?\s+install|python\S*\s+-m\s+pip", run), run


def test_base_image_pinned_by_digest_and_packages_by_snapshot():
    assert re.search(r"^ARG BASE_IMAGE=debian:bookworm-\S+@sha256:[0-9a-f]{64}$", DOCKERFILE, re.M)
    assert instructions("FROM") == ["${BASE_IMAGE}"]
    assert re.search(r"snapshot\.debian\.org/archive/debian/\$\{SNAPSHOT\}", DOCKERFILE)
    for name in ("requirements.txt", "requirements-lint.txt", "requirements-onnx.txt"):
        text = re.sub(r"\\\n", " ", (REPO / "docker" / name).read_text())
        pins = [line for line in text.splitlines() if line and not line.startswith("#")]
        assert pins and all(re.search(r"==\S+ +--hash=sha256:[0-9a-f]{64}", line) for line in pins)


def test_image_runs_theano_on_the_gpu_without_cudnn_as_non_root():
    env = " ".join(instructions("ENV"))
    assert "THEANORC=/opt/binarized-nets/docker/theanorc" in env and "THEANO_FLAGS" not in env
    theanorc = configparser.ConfigParser()
    theanorc.read(REPO / "docker" / "theanorc")
    assert dict(theanorc["global"]) == {"device": "cuda", "floatx": "float32", "base_compiledir": "/runs/.theano"}
    assert theanorc["dnn"]["enabled"] == "False"
    assert "NVIDIA_VISIBLE_DEVICES=all" in env and "NVIDIA_DRIVER_CAPABILITIES=compute,utility" in env
    assert instructions("USER") == ["1000:1000"]
    packages = [
        line
        for line in (REPO / "docker" / "apt-packages-gpu.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert packages and not any("cudnn" in package for package in packages)


def test_make_setup_and_ci_run_the_same_recipe():
    setup = subprocess.run(["make", "-n", "setup"], cwd=REPO, capture_output=True, text=True).stdout
    assert "bash docker/install.sh" in setup
    ci = (REPO / ".ci" / "run").read_text()
    assert "make setup" in ci and "make test" in ci and "make lint" in ci
    assert ci.index("make test") < ci.index("make docker-test")


def test_the_recipe_is_idempotent():
    venv = Path(sys.executable).parents[1]
    done = subprocess.run(
        ["bash", "docker/install.sh", "--no-apt", "--venv", str(venv)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "stack ready" in done.stdout


def test_dataset_targets_run_their_download():
    """Each download-NAME target runs the downloader (make skips plain pattern rules for .PHONY targets)."""
    for name in ("mnist", "cifar10", "svhn"):
        dry_run = subprocess.run(["make", "-n", "download-" + name], cwd=REPO, capture_output=True, text=True)
        assert "-m datasets.download %s" % name in dry_run.stdout, dry_run.stdout + dry_run.stderr
    mnist = subprocess.run(["make", "-n", "mnist"], cwd=REPO, capture_output=True, text=True).stdout
    assert mnist.index("-m datasets.download mnist") < mnist.index("-m binarynet.mnist")


def test_bc_svhn_builds_its_data_first_without_the_training_flags():
    """make bc-svhn: .mat files, h5 files, GCN + LCN, then training; ARGS reach the training script only."""
    dry_run = subprocess.run(
        ["make", "-n", "bc-svhn", "ARGS=--num-epochs 2"], cwd=REPO, capture_output=True, text=True
    ).stdout
    steps = [
        "-m datasets.download svhn",
        "-m datasets.svhn_h5",
        "-m binaryconnect.svhn_preprocessing",
        "-m binaryconnect.svhn ",
    ]
    positions = [dry_run.index(step) for step in steps]
    assert positions == sorted(positions)
    assert dry_run.count("--num-epochs 2") == 1 and "--num-epochs 2" in dry_run[positions[-1] :]


def test_make_help_lists_every_target_with_its_variables_expanded():
    makefile = (REPO / "Makefile").read_text()
    phony = set(" ".join(re.findall(r"^\.PHONY:((?:.*\\\n)*.*)", makefile, re.M)[0].split("\\\n")).split())
    phony = {name for name in phony if not name.startswith("$(")} | {"download-mnist", "download-cifar10"}
    phony |= {target for e in experiments.EXPERIMENTS for target in (e.target, e.smoke_target)}
    listed = subprocess.run(["make", "help", "VENV=/some/venv"], cwd=REPO, capture_output=True, text=True).stdout
    names = set(" ".join(line.split("  ")[0][len("make ") :] for line in listed.splitlines()).split())
    assert len(phony) > 30 and phony <= names, sorted(phony - names)
    assert "$(" not in listed and "into /some/venv" in listed
    assert listed.splitlines()[0].startswith("make %s " % experiments.EXPERIMENTS[0].target)


def test_training_targets_leave_the_console_to_the_script():
    """No `tee` into a fixed folder: the script writes console.log into whatever --output-dir it was given."""
    dry_run = subprocess.run(
        ["make", "-n", "--no-print-directory", "mnist-smoke", "ARGS=--output-dir runs/x"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=dict(os.environ, MAKEFLAGS=""),
    ).stdout
    assert not re.search(r"\btee\b", dry_run) and dry_run.strip().endswith("--output-dir runs/x")
