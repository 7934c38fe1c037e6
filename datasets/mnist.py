"""MNIST with pylearn2's semantics (``pylearn2.datasets.mnist.MNIST``; docs/REPRODUCTION.md §3.1).

Files: the four uncompressed IDX files in ``$PYLEARN2_DATA_PATH/mnist/``. ``X`` is the (N, 784) float32
design matrix of pixel/255 in [0, 1], rows in file order; ``y`` the (N, 1) uint8 labels.
"""

import gzip
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from datasets.fetch import Wanted, fetch_all
from datasets.paths import data_root
from datasets.rows import take_rows
from harness.errors import UserError
from harness.files import Checksum, atomic_output, verify

DOWNLOAD_COMMAND = "make download-mnist"
MIRRORS = ("http://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/")

# sha256 of the uncompressed files (what is parsed) and of the published .gz files (what is downloaded),
# computed from copies whose md5 matched the widely used published values (docs/REPRODUCTION.md §3.1).
CHECKSUMS: Dict[str, Checksum] = {
    "train-images-idx3-ubyte": Checksum("sha256", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train-labels-idx1-ubyte": Checksum("sha256", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images-idx3-ubyte": Checksum("sha256", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t10k-labels-idx1-ubyte": Checksum("sha256", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}
GZ_CHECKSUMS: Dict[str, Checksum] = {
    "train-images-idx3-ubyte": Checksum("sha256", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "train-labels-idx1-ubyte": Checksum("sha256", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "t10k-images-idx3-ubyte": Checksum("sha256", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "t10k-labels-idx1-ubyte": Checksum("sha256", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse an IDX file of unsigned bytes: big-endian int32 magic, dimensions, then the data."""
    raw = Path(path).read_bytes()
    ndim = {IMAGE_MAGIC: 3, LABEL_MAGIC: 1}[magic]
    header = 4 * (1 + ndim)
    if len(raw) < header:
        raise UserError("%s is truncated (no complete IDX header): run `%s`" % (path, DOWNLOAD_COMMAND))
    fields = np.frombuffer(raw, dtype=">i4", count=1 + ndim)
    if fields[0] != magic:
        raise UserError("%s has IDX magic %d, expected %d: run `%s`" % (path, fields[0], magic, DOWNLOAD_COMMAND))
    shape = tuple(int(n) for n in fields[1:])
    if len(raw) != header + int(np.prod(shape)):
        raise UserError(
            "%s holds %d data bytes, its header says %s: run `%s`" % (path, len(raw) - header, shape, DOWNLOAD_COMMAND)
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


class MNIST:
    """``MNIST(which_set, start, stop, center)`` as in pylearn2.

    ``center=True`` subtracts the per-pixel mean of the *whole file* (60,000 or 10,000 images) before the
    ``start:stop`` slice is taken (docs/REPRODUCTION.md §4 trap 15). ``checksums`` maps file names to their
    expected digests; every file is verified before it is parsed.
    """

    def __init__(
        self,
        which_set: str,
        start: Optional[int] = None,
        stop: Optional[int] = None,
        center: bool = False,
        path: Optional[str] = None,
        checksums: Dict[str, Checksum] = CHECKSUMS,
    ) -> None:
        if which_set not in FILES:
            raise ValueError("which_set must be 'train' or 'test', not %r" % (which_set,))
        folder = data_root(path) / "mnist"
        image_name, label_name = FILES[which_set]
        images = read_idx(verify(folder / image_name, checksums[image_name], DOWNLOAD_COMMAND), IMAGE_MAGIC)
        labels = read_idx(verify(folder / label_name, checksums[label_name], DOWNLOAD_COMMAND), LABEL_MAGIC)
        if len(images) != len(labels):
            raise UserError(
                "%s has %d images but %d labels: run `%s`" % (folder, len(images), len(labels), DOWNLOAD_COMMAND)
            )
        X = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
        if center:
            X -= X.mean(axis=0)
        source = "MNIST '%s' in %s" % (which_set, folder)
        self.X = take_rows(X, start, stop, source, DOWNLOAD_COMMAND)
        self.y = take_rows(labels.reshape(-1, 1), start, stop, source, DOWNLOAD_COMMAND)


def download(root: Path) -> None:
    """Fetch the four .gz files, verify them, and write the uncompressed IDX files pylearn2 reads; offline, one
    error names every file that is missing."""
    folder = root / "mnist"
    wanted = []
    for name, checksum in CHECKSUMS.items():
        target = folder / name
        if target.exists() and not target.is_file():
            raise UserError(
                "%s is a folder (or another non-file) where that file belongs: remove it, then run `%s`"
                % (target, DOWNLOAD_COMMAND)
            )
        if target.is_file():
            try:
                verify(target, checksum, DOWNLOAD_COMMAND)
                print("  %s: present, checksum ok" % target)
                continue
            except UserError:
                pass
        wanted.append(
            Wanted([mirror + name + ".gz" for mirror in MIRRORS], folder / (name + ".gz"), GZ_CHECKSUMS[name])
        )
    for gz in fetch_all(wanted, DOWNLOAD_COMMAND):
        target = gz.with_suffix("")
        with gzip.open(gz, "rb") as source, atomic_output(target) as out:
            for block in iter(lambda: source.read(1 << 20), b""):
                out.write(block)
        verify(target, CHECKSUMS[target.name], DOWNLOAD_COMMAND)
        gz.unlink()
