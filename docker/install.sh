#!/usr/bin/env bash
# The one install recipe of the project: the Dockerfile runs it, `make setup` runs it, CI runs it.
#
#   docker/install.sh [--venv DIR] [--gpu] [--lint] [--onnx] [--slurm] [--no-apt]
#
#   --venv DIR  where the virtual environment goes (default: .venv in the repository)
#   --gpu       also install the CUDA 11.8 runtime libraries from Debian's non-free component
#               and the unversioned names libgpuarray opens (libnvrtc.so, libcublas.so)
#   --lint      also install the Dockerfile linter (CI)
#   --onnx      also install the optional ONNX/QONNX export (onnx, onnxruntime, qonnx; docs/EXPORT.md)
#   --slurm     also install Slurm and MUNGE from Debian (sweeps on a cluster; CI's one-node test cluster)
#   --no-apt    skip the Debian packages (they are already there, or you are not root)
#
# Idempotent: a second run installs nothing new. Facts behind each step: docs/STACK.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
venv="$repo/.venv"
gpu=0
lint=0
onnx=0
slurm=0
apt=1
while [ $# -gt 0 ]; do
    case "$1" in
        --venv) venv=$2; shift 2 ;;
        --gpu) gpu=1; shift ;;
        --lint) lint=1; shift ;;
        --onnx) onnx=1; shift ;;
        --slurm) slurm=1; shift ;;
        --no-apt) apt=0; shift ;;
        *) echo "install.sh: unknown option '$1' (see the header of $0)" >&2; exit 2 ;;
    esac
done

packages() { grep -v '^\s*#' "$1" | grep -v '^\s*$'; }

if [ "$apt" = 1 ]; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "install.sh: Debian packages need root: run as root, or install sudo" >&2; exit 1; }
        sudo=sudo
    fi
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2046
    if ! dpkg -s $(packages "$here/apt-packages.txt") >/dev/null 2>&1; then
        $sudo apt-get update
        # shellcheck disable=SC2046
        $sudo apt-get install -y --no-install-recommends $(packages "$here/apt-packages.txt")
    fi
    if [ "$slurm" = 1 ]; then
        # shellcheck disable=SC2046
        if ! dpkg -s $(packages "$here/apt-packages-slurm.txt") >/dev/null 2>&1; then
            $sudo apt-get update
            # Installing starts no daemon where there is no init system; tests start their own.
            # shellcheck disable=SC2046
            $sudo apt-get install -y --no-install-recommends $(packages "$here/apt-packages-slurm.txt")
        fi
    fi
    if [ "$gpu" = 1 ]; then
        # shellcheck disable=SC2046
        if ! dpkg -s $(packages "$here/apt-packages-gpu.txt") >/dev/null 2>&1; then
            $sudo apt-get update
            if ! apt-cache show libcublas11 >/dev/null 2>&1; then
                echo "install.sh: the CUDA runtime is in Debian's non-free component, which apt does not see;" >&2
                echo "  add 'non-free' to the Components of /etc/apt/sources.list.d/debian.sources, then rerun." >&2
                exit 1
            fi
            # shellcheck disable=SC2046
            $sudo apt-get install -y --no-install-recommends $(packages "$here/apt-packages-gpu.txt")
        fi
    fi
fi

if [ "$gpu" = 1 ]; then
    # libgpuarray dlopens unversioned names; Debian ships only versioned ones (docs/STACK.md item 5).
    # libcuda.so.1 comes from the host driver (NVIDIA Container Toolkit) and is linked at run time.
    libdir=/usr/lib/x86_64-linux-gnu
    for name in libnvrtc libcublas; do
        target=$(find "$libdir" -maxdepth 1 -name "$name.so.*" | sort | head -n 1)
        [ -n "$target" ] || { echo "install.sh: $name.so.* not found in $libdir" >&2; exit 1; }
        ln -sfn "$target" "$libdir/$name.so"
    done
    # libcuda.so -> libcuda.so.1: the .so.1 appears when the container starts with the driver mounted.
    ln -sfn libcuda.so.1 "$libdir/libcuda.so"
fi

python=/usr/bin/python3
[ -x "$python" ] || { echo "install.sh: $python is missing: run without --no-apt" >&2; exit 1; }
if [ ! -x "$venv/bin/python" ]; then
    # --system-site-packages: the venv sees Debian's NumPy/SciPy/PyTables/pygpu (pygpu's ABI pairs with them).
    "$python" -m venv --system-site-packages "$venv"
fi
pip_install() {
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
        --require-hashes --no-deps --no-build-isolation -r "$1"
}
pip_install "$here/requirements.txt"
[ "$lint" = 0 ] || pip_install "$here/requirements-lint.txt"
[ "$onnx" = 0 ] || pip_install "$here/requirements-onnx.txt"

# Refuse a stack that is not the verified pairing.
"$venv/bin/python" - <<'EOF'
import sys
import numpy
problems = []
if sys.version_info[:2] != (3, 11):
    problems.append("Python %d.%d (want 3.11, Debian's /usr/bin/python3)" % sys.version_info[:2])
if not numpy.__version__.startswith("1.24."):
    problems.append("NumPy %s (want Debian's 1.24.x)" % numpy.__version__)
try:
    import pygpu
    if pygpu.__version__ != "0.7.6":
        problems.append("pygpu %s (want Debian's 0.7.6, built against its libgpuarray3)" % pygpu.__version__)
except ImportError as error:
    problems.append("pygpu does not import (%s): install Debian's python3-pygpu" % error)
if problems:
    sys.exit("install.sh: unexpected stack: " + "; ".join(problems))
EOF
touch "$venv/.setup-done"  # the Makefile's sign that setup has run
echo "install.sh: stack ready in $venv"
