"""The docker targets' checks (docker/check.sh, README "Docker"): one error line naming the fix where the daemon, the
permission or the NVIDIA runtime is missing; the image's Theano settings survive a user's THEANO_FLAGS
(docker/theanorc, docs/STACK.md "The Docker image"). A stand-in `docker` command plays the daemon's answers."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FAKE_DOCKER = """#!/bin/sh
case "$1" in
    version) [ -z "$FAKE_ERROR" ] || { echo "$FAKE_ERROR" >&2; exit 1; }; echo 20.10.24 ;;
    info) echo '{"runc":{"path":"runc"}}' ;;
    *) echo "fake docker: $*" >&2; exit 1 ;;
esac
"""
DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
DENIED = (
    "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: "
    "Get \"http://%2Fvar%2Frun%2Fdocker.sock/v1.24/version\": dial unix /var/run/docker.sock: connect: "
    "permission denied"
)


def make_with_fake_docker(tmp_path: Path, target: str, error: str = "") -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    path = os.pathsep.join(
        [str(bin_dir)]
        + [
            folder
            for folder in os.environ["PATH"].split(os.pathsep)
            if not (Path(folder) / "nvidia-container-runtime-hook").exists()
        ]
    )
    env = dict(
        os.environ, PATH=path, FAKE_ERROR=error, RUNS=str(tmp_path / "runs"), PYLEARN2_DATA_PATH=str(tmp_path / "data")
    )
    return subprocess.run(
        ["make", "--no-print-directory", target], cwd=REPO, capture_output=True, text=True, env=env, timeout=60
    )


def error_lines(done: subprocess.CompletedProcess):
    return [line for line in done.stderr.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize("target", ["docker-build", "docker-shell", "docker-selfcheck-gpu", "docker-mnist"])
@pytest.mark.parametrize(
    "error, fix", [(DOWN, "start it (sudo systemctl start docker)"), (DENIED, "add yourself to the docker group")]
)
def test_an_unreachable_daemon_is_one_error_line_naming_the_fix(tmp_path, target, error, fix):
    done = make_with_fake_docker(tmp_path, target, error)
    assert done.returncode != 0
    assert len(error_lines(done)) == 1 and fix in error_lines(done)[0], done.stderr
    assert not (tmp_path / "runs").exists()  # nothing made before the check


@pytest.mark.parametrize("target", ["docker-shell", "docker-selfcheck-gpu", "docker-mnist"])
def test_no_nvidia_runtime_is_one_error_line_naming_the_toolkit(tmp_path, target):
    done = make_with_fake_docker(tmp_path, target)
    assert done.returncode != 0
    assert len(error_lines(done)) == 1 and "install the NVIDIA Container Toolkit" in error_lines(done)[0], done.stderr


def test_a_failed_build_names_the_build_arguments(tmp_path):
    done = make_with_fake_docker(tmp_path, "docker-build")
    assert done.returncode != 0 and "fake docker: build" in done.stderr
    assert len(error_lines(done)) == 1 and "DOCKER_BUILD_ARGS=" in error_lines(done)[0], done.stderr


def test_missing_docker_names_its_install(tmp_path):
    done = subprocess.run(
        ["/bin/bash", "docker/check.sh"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=dict(os.environ, PATH=str(tmp_path)),
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: docker is missing: install Docker") and done.stderr.count("\n") == 1


def test_a_users_theano_flags_keep_the_images_settings(tmp_path):
    """THEANO_FLAGS=device=cpu overrides the device only: the compile cache stays where the theanorc puts it (here
    a temporary folder instead of /runs/.theano), float32 and no cuDNN stay."""
    theanorc = tmp_path / "theanorc"
    cache = tmp_path / "cache"
    theanorc.write_text((REPO / "docker" / "theanorc").read_text().replace("/runs/.theano", str(cache)))
    env = dict(os.environ, THEANORC=str(theanorc), THEANO_FLAGS="device=cpu")
    probe = "import compat, theano; c = theano.config; print(c.device, c.floatX, c.dnn.enabled, c.base_compiledir)"
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cpu", "float32", "False", str(cache)]
