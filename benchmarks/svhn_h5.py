"""``python -m benchmarks.svhn_h5``: memory and speed of building SVHN's h5 files, extrapolated to the real build.

Writes synthetic train/extra/test .mat files (MATLAB 7 compressed, like the published ones) of an affordable size
in a scratch folder, builds test, valid and splitted_train from them with the real 400/200-per-class split
(docs/REPRODUCTION.md §3.3), and prints peak RSS, rows/s and MB/s of float32 rows written. The split and row order
are also computed at full size (73,257 / 531,131 labels), and the figures are extrapolated to the real
test + valid + splitted_train build (26,032 + 6,000 + 598,388 = 630,420 rows).
"""

import multiprocessing
import resource
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import scipy.io

from benchmarks.mnist_mlp import positive_int
from datasets import svhn, svhn_h5
from harness.errors import ArgumentParser, command
from harness.files import Checksum, file_digest

FULL_ROWS = sum(svhn.SIZES[name] for name in svhn_h5.DEFAULT_SETS)  # 630,420 = train + extra + test examples


def synthetic_images(rng: np.random.RandomState, n: int) -> np.ndarray:
    """(32, 32, 3, n) uint8 with some spatial structure (8x8 blocks plus noise), so zlib and blosc have work."""
    blocks = rng.randint(0, 248, (8, 8, 3, n)).astype(np.uint8)
    return blocks.repeat(4, axis=0).repeat(4, axis=1) + rng.randint(0, 8, (32, 32, 3, n)).astype(np.uint8)


def write_sources(folder: Path, sizes: Dict[str, int]) -> None:
    """The three .mat files, each class 1..10 equally often (label 10 = digit 0), in random order."""
    rng = np.random.RandomState(0)
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in sizes.items():
        labels = (np.arange(n) % svhn.N_CLASSES + 1).astype(np.uint8)
        rng.shuffle(labels)
        scipy.io.savemat(
            str(svhn.mat_path(folder, name)), {"X": synthetic_images(rng, n), "y": labels[:, None]}, do_compression=True
        )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@command
def main(argv: Optional[List[str]] = None) -> None:
    parser = ArgumentParser(prog="python -m benchmarks.svhn_h5", description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=positive_int, default=7000, help="train.mat examples (default: 7000)")
    parser.add_argument("--extra", type=positive_int, default=50000, help="extra.mat examples (default: 50000)")
    parser.add_argument("--test", type=positive_int, default=2600, help="test.mat examples (default: 2600)")
    parser.add_argument("--scratch", help="folder for the synthetic files (default: a temporary one)")
    args = parser.parse_args(argv)
    sizes = {"train": args.train, "extra": args.extra, "test": args.test}
    scratch = Path(tempfile.mkdtemp(dir=args.scratch, prefix="svhn-bench-"))
    folder = scratch / "SVHN" / "format2"
    try:
        # A separate process makes the inputs, so that this one's peak RSS is the build's alone.
        writer = multiprocessing.get_context("spawn").Process(target=write_sources, args=(folder, sizes))
        writer.start()
        writer.join()
        checksums = {name: Checksum("md5", file_digest(svhn.mat_path(folder, name), "md5")) for name in sizes}
        mat_mb = sum(svhn.mat_path(folder, name).stat().st_size for name in sizes) / 1e6
        before = peak_rss_mb()

        start = time.perf_counter()
        paths = svhn_h5.build(folder, svhn_h5.DEFAULT_SETS, checksums)
        build_s = time.perf_counter() - start
        build_peak = peak_rss_mb()
        rows = sum(sizes.values())  # valid + splitted_train hold train + extra; test is test
        h5_mb = sum(path.stat().st_size for path in paths) / 1e6

        rng = np.random.RandomState(1)
        full_labels = {name: rng.randint(1, 11, svhn.SIZES[name]) for name in ("train", "extra")}
        start = time.perf_counter()
        svhn.row_order("splitted_train", full_labels)
        order_s = time.perf_counter() - start
        tracemalloc.start()
        svhn.row_order("splitted_train", full_labels)
        order_mb = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()

        float_mb = rows * svhn.N_FEATURES * 4 / 1e6
        print(
            "synthetic inputs:    train %d, extra %d, test %d examples (%.0f MB of compressed .mat)"
            % (args.train, args.extra, args.test, mat_mb)
        )
        print(
            "built:               test + valid + splitted_train = %d rows = %.0f MB of float32, %.0f MB of h5"
            % (rows, float_mb, h5_mb)
        )
        print(
            "build time:          %.1f s = %.0f rows/s = %.0f MB/s of float32 rows (checksums, decompression "
            "and split included)" % (build_s, rows / build_s, float_mb / build_s)
        )
        print("peak RSS:            %.0f MB after imports, %.0f MB after the build" % (before, build_peak))
        print(
            "full-size row order: splitted_train from 73,257 + 531,131 labels: %.1f s, %.0f MB at its peak"
            % (order_s, order_mb)
        )
        print(
            "real build (extrapolated): %d rows, about %.0f s at the same rows/s; peak RSS about %.0f MB "
            "(this build's peak + the full-size row order)"
            % (FULL_ROWS, FULL_ROWS * build_s / rows, build_peak + order_mb)
        )
    finally:
        shutil.rmtree(scratch)


if __name__ == "__main__":
    raise SystemExit(main())
