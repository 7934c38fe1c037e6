#!/usr/bin/env bash
# make docker-test (and CI after the test suite): build the image from this working tree and train in it on the CPU.
#
# Without Docker Hub, snapshot.debian.org or PyPI: the base is a Debian bookworm made here with debootstrap from this
# machine's Debian mirror (its tarball cached in $CACHE), the Debian packages come from that mirror, and pip gets the
# pinned files (downloaded here, hashes checked) from a local HTTP server. Then, as a user other than root:
#   1. in a container: `make selfcheck` on the CPU, a small BinaryNet MNIST run on the real MNIST mounted at /data,
#      and `make evaluate` on that run;
#   2. the run folder is on the host, owned by that user, with the same figures as the same run natively here (both
#      in the tests' float environment: gcc.cxxflags=-ffp-contract=off, OPENBLAS_CORETYPE=Haswell; docs/STACK.md);
#   3. a second container evaluates again from the compile cache in the runs volume: no new compiled module.
# It prints the build time, the image size and both runs' figures side by side. What it cannot prove (the GPU, the
# pinned digest and snapshot): README, Docker.
#
# Starts dockerd only if no daemon answers, and stops only that one. Installs docker.io and debootstrap where missing
# (root). Environment: CACHE (default ~/.cache/binarized-nets/docker), DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR (default: the
# machine's own, from /etc/apt), TEST_USER (uid:gid for the containers when run as root; default 4242:4242).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/binarized-nets/docker}
BASE=binarized-nets-base:bookworm-minbase
IMAGE=binarized-nets:test
PYTHON=${VENV:-.venv}/bin/python
TARGET=mnist-smoke  # its run folder: $RUNS/binarynet-mnist-smoke
RUN=binarynet-mnist-smoke
# Smaller than `make mnist-smoke` (experiments.py): the run is a comparison, not a result.
SMALL="--num-epochs 2 --num-units 256 --train-size 5000 --valid-size 1000 --test-size 2000"
FLOAT_ENV=(THEANO_FLAGS=device=cpu,gcc.cxxflags=-ffp-contract=off OPENBLAS_CORETYPE=Haswell)

fail() { echo "error: $*" >&2; exit 1; }
say() { echo "docker-test: $*"; }

[ -x "$PYTHON" ] || fail "$PYTHON is missing: run \`make setup\` first (the native run uses it)"
[ -f data/mnist/train-images-idx3-ubyte ] || fail "data/mnist is missing: run \`make download-mnist\` first"

# Debian's tools, where missing.
missing=()
command -v docker >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || fail "${missing[*]} missing: install them (sudo apt-get install ${missing[*]})"
    say "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

work=$(mktemp -d)
started_dockerd=""
server=""
cleanup() {
    [ -z "$server" ] || kill "$server" 2>/dev/null || true
    if [ -n "$started_dockerd" ]; then
        say "stopping the dockerd it started (pid $started_dockerd)"
        kill "$started_dockerd" 2>/dev/null && while kill -0 "$started_dockerd" 2>/dev/null; do sleep 0.5; done
    fi
    rm -rf "$work"
}
trap cleanup EXIT

if ! docker version >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null || bash docker/check.sh
    # No bridge and no iptables rules: every container here runs with --network host or none.
    dockerd --iptables=false --bridge=none >"$work/dockerd.log" 2>&1 &
    started_dockerd=$!
    for _ in $(seq 60); do docker version >/dev/null 2>&1 && break; sleep 1; done
    docker version >/dev/null 2>&1 || { tail -n 5 "$work/dockerd.log" >&2; fail "dockerd did not start (log above)"; }
    say "started dockerd (pid $started_dockerd)"
fi
bash docker/check.sh

# This machine's Debian mirror (deb822 sources first, then sources.list).
mirror() {
    grep -hoE "(URIs:[[:space:]]*|^deb[[:space:]]+)https?://[^[:space:]]*/$1/?([[:space:]]|$)" \
        /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | grep -oE 'https?://[^[:space:]]*' \
        | head -n 1 | sed 's|/$||' || true
}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-$(mirror debian)}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-$(mirror debian-security)}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

# The base image: debootstrap's bookworm, its tarball cached between runs on this machine.
mkdir -p "$CACHE"
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
    tarball=$CACHE/bookworm-minbase.tar
    if [ ! -f "$tarball" ]; then
        [ "$(id -u)" = 0 ] || fail "debootstrap needs root: run \`make docker-test\` once as root (it caches $tarball)"
        say "debootstrap --variant=minbase bookworm from $DEBIAN_MIRROR"
        debootstrap --variant=minbase bookworm "$work/rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 \
            || { tail -n 5 "$work/debootstrap.log" >&2; fail "debootstrap failed (log above)"; }
        tar -C "$work/rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
        rm -rf "$work/rootfs"
    fi
    docker import "$tarball" "$BASE" >/dev/null
fi

# PyPI's pinned files, hashes checked, served to the build on 127.0.0.1 (the build runs with --network host).
wheels=$CACHE/pip
"$PYTHON" -m pip download --quiet --no-deps --require-hashes --no-build-isolation -d "$wheels" \
    -r docker/requirements.txt 2>"$work/pip.log" || { cat "$work/pip.log" >&2; fail "pip download failed (above)"; }
# The same port when free, so that a later build on this machine reuses Docker's layer cache (the URL is a build arg).
port=$("$PYTHON" -c 'import socket
s = socket.socket()
try:
    s.bind(("127.0.0.1", 18915))
except OSError:
    s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
"$PYTHON" -m http.server --bind 127.0.0.1 --directory "$wheels" "$port" >"$work/http.log" 2>&1 &
server=$!

# The native run, beside the build (2 cores: the build mostly waits on the network and dpkg).
mkdir -p "$work/native"
env "${FLOAT_ENV[@]}" make --no-print-directory "$TARGET" RUNS="$work/native" ARGS="$SMALL" \
    >"$work/native.log" 2>&1 &
native=$!

say "building $IMAGE from this working tree on $BASE, Debian packages from $DEBIAN_MIRROR"
previous=$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
start=$SECONDS
make --no-print-directory docker-build IMAGE="$IMAGE" DOCKER_BUILD_ARGS="--network host \
    --build-arg BASE_IMAGE=$BASE --build-arg DEBIAN_MIRROR=$DEBIAN_MIRROR \
    --build-arg DEBIAN_SECURITY_MIRROR=$DEBIAN_SECURITY_MIRROR \
    --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=http://127.0.0.1:$port/" >"$work/build.log" 2>&1 \
    || { tail -n 30 "$work/build.log" >&2; fail "the image did not build (log above)"; }
build_seconds=$((SECONDS - start))
# The image this replaces, unless it is the same (each is 2 GB).
[ -z "$previous" ] || [ "$previous" = "$(docker image inspect --format '{{.Id}}' "$IMAGE")" ] \
    || docker rmi "$previous" >/dev/null 2>&1 || true
kill "$server" && server=""
size=$(docker image inspect --format '{{.Size}}' "$IMAGE")
wait "$native" || { tail -n 30 "$work/native.log" >&2; fail "the native run failed (log above)"; }

# The containers run as a user other than root: the caller, or TEST_USER when the caller is root.
user="$(id -u):$(id -g)"
[ "$(id -u)" != 0 ] || user=${TEST_USER:-4242:4242}
runs=$work/runs
mkdir -p "$runs" && chown "$user" "$runs"
in_container() {
    docker run --rm --network none --user "$user" -e HOME=/runs -e "${FLOAT_ENV[0]}" -e "${FLOAT_ENV[1]}" \
        -v "$repo/data/mnist:/data/mnist:ro" -v "$runs:/runs" "$IMAGE" bash -c "$1"
}
# The compiled modules in the cache, by name (the name is a hash of the module's code).
compiled() { find "$runs/.theano" -name '*.so' -printf '%f\n' | sort; }

say "container 1: make selfcheck, the small run, make evaluate (as $user)"
start=$SECONDS
in_container "make selfcheck && make $TARGET ARGS='$SMALL' && make evaluate RUN=/runs/$RUN" 2>&1 \
    | tee "$work/container1.log"
first_seconds=$((SECONDS - start))
compiled >"$work/modules1"
say "container 2: make evaluate again, from the compile cache in /runs/.theano"
start=$SECONDS
in_container "make evaluate RUN=/runs/$RUN" 2>&1 | tee "$work/container2.log"
second_seconds=$((SECONDS - start))
compiled >"$work/modules2"
modules=$(wc -l <"$work/modules1")
new=$(comm -13 <(sort -u "$work/modules1") <(sort -u "$work/modules2") | wc -l)
again=$(( $(wc -l <"$work/modules2") - modules ))

# The checks.
[ -f "$runs/$RUN/log.jsonl" ] || fail "the container's run folder is not on the host ($runs/$RUN)"
strangers=$(find "$runs" ! -user "${user%:*}" | head -n 3)
[ -z "$strangers" ] || fail "files in the runs volume not owned by $user: $strangers"
[ "$modules" -gt 0 ] || fail "no compiled module in /runs/.theano: the compile cache is not in the runs volume"
[ "$new" = 0 ] || fail "the second container compiled $new modules the first had not: the compile cache was not reused"
result() { grep -F 'test error rate:' "$1" | tail -n 1; }
[ "$(result "$work/container1.log")" = "$(result "$work/container2.log")" ] \
    || fail "the two containers' evaluations differ"

echo
say "build ${build_seconds} s; image $((size / 1000000)) MB ($IMAGE)"
say "container 1 (selfcheck, training, evaluate) ${first_seconds} s; container 2 (evaluate) ${second_seconds} s"
say "compile cache: $modules modules after container 1; container 2 compiled none new ($again again: Theano 1.0.5" \
    "recompiles one module in every process, docs/STACK.md)"
"$PYTHON" - "$work/native/$RUN/log.jsonl" "$runs/$RUN/log.jsonl" <<'EOF'
"""Both runs' per-epoch figures side by side; status 1 unless they are equal (all but the times)."""
import json
import sys

from harness.epoch_log import KEYS

native, container = ([json.loads(line) for line in open(path)] for path in sys.argv[1:])
keys = [key for key in KEYS if key != "seconds"]
print("%-28s %24s %24s" % ("figure", "native", "container"))
for n, c in zip(native, container):
    for key in keys:
        print("%-28s %24r %24r%s" % (key, n[key], c[key], "" if n[key] == c[key] else "  <- differs"))
same = len(native) == len(container) and all(n[k] == c[k] for n, c in zip(native, container) for k in keys)
print("docker-test: the figures are %s" % ("identical" if same else "DIFFERENT"))
sys.exit(0 if same else "error: the container's figures differ from the native run's (above)")
EOF
say "passed"
