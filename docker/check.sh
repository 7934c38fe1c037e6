#!/usr/bin/env bash
# Before each docker target (Makefile): the Docker daemon answers, and with --gpu, Docker can give a container the
# GPU. Otherwise one `error:` line naming the fix, and status 1.
#
#   docker/check.sh [--gpu]
set -euo pipefail

fail() { echo "error: $*" >&2; exit 1; }

command -v docker >/dev/null \
    || fail "docker is missing: install Docker (Debian: sudo apt-get install docker.io; or Docker Engine, docs.docker.com/engine/install)"
if ! answer=$(docker version --format '{{.Server.Version}}' 2>&1); then
    case "$answer" in
        *"permission denied"*)
            fail "no permission to use the Docker daemon: add yourself to the docker group (sudo usermod -aG docker \$USER), then log in again" ;;
        *)
            fail "the Docker daemon does not answer ($(tail -n 1 <<<"$answer")): start it (sudo systemctl start docker)" ;;
    esac
fi
if [ "${1:-}" = --gpu ]; then
    # `docker run --gpus` needs the NVIDIA Container Toolkit: its runtime registered with the daemon, or its hook.
    runtimes=$(docker info --format '{{json .Runtimes}}' 2>/dev/null || true)
    case "$runtimes" in
        *nvidia*) ;;
        *) command -v nvidia-container-runtime-hook >/dev/null \
               || fail "Docker has no NVIDIA runtime: install the NVIDIA Container Toolkit (docs.nvidia.com/datacenter/cloud-native/container-toolkit), run sudo nvidia-ctk runtime configure --runtime=docker, and restart the daemon" ;;
    esac
fi
