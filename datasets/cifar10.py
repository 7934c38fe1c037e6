"""CIFAR-10 with pylearn2's semantics (``pylearn2.datasets.cifar10.CIFAR10``; docs/REPRODUCTION.md §3.2, §4 trap 16).

Files: the Python-2 pickles ``data_batch_1..5`` and ``test_batch`` in
``$PYLEARN2_DATA_PATH/cifar10/cifar-10-batches-py/``. ``X`` is the (N, 3072) float32 design matrix of the raw
bytes 0..255, rows channel-major (1024 R, 1024 G, 1024 B, each 32x32 row-major), so ``X.reshape(-1, 3, 32, 32)``
gives the images; ``y`` the (N, 1) uint8 labels. Every file is checksum-verified before it is unpickled, and
unpickled with an unpickler that can build nothing but NumPy arrays.
"""

import hashlib
import pickle
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any, Dict, List, Optional

import numpy as np

from datasets.fetch import fetch
from datasets.gcn import global_contrast_normalize
from datasets.paths import data_root
from datasets.rows import take_rows
from harness.errors import UserError
from harness.files import Checksum, atomic_output, verify

DOWNLOAD_COMMAND = "make download-cifar10"
FOLDER = "cifar-10-batches-py"
TARBALL = "cifar-10-python.tar.gz"
URLS = ("https://www.cs.toronto.edu/~kriz/" + TARBALL, "http://www.cs.utoronto.ca/~kriz/" + TARBALL)
# md5 is what is published (§3.2): the tarball's on the CIFAR page (170,498,071 bytes), the batches' by torchvision.
TARBALL_CHECKSUM = Checksum("md5", "c58f30108f718f92721af3b95e74349a")
CHECKSUMS: Dict[str, Checksum] = {
    "data_batch_1": Checksum("md5", "c99cafc152244af753f735de768cd75f"),
    "data_batch_2": Checksum("md5", "d4bba439e000b95fd0a9bffe97cbabec"),
    "data_batch_3": Checksum("md5", "54ebc095f3ab1f0389bbae665268c751"),
    "data_batch_4": Checksum("md5", "634d18415352ddfa80567beed471001a"),
    "data_batch_5": Checksum("md5", "482c414d41f54cd18b22e5b47cb7c3cb"),
    "test_batch": Checksum("md5", "40351d587109b95175f43aff81a1287e"),
}
FILES = {"train": ["data_batch_%d" % i for i in range(1, 6)], "test": ["test_batch"]}
N_FEATURES, N_CLASSES = 3 * 32 * 32, 10

# What a pickled NumPy array needs, and nothing else: no other callable can be reached from a batch file.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays; any other global is refused."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UserError(
                "refusing to unpickle %s.%s: a CIFAR-10 batch holds only arrays, lists and strings" % (module, name)
            ) from None


def read_batch(path: Path, checksum: Checksum) -> Dict[str, Any]:
    """Verify ``path`` against ``checksum``, then unpickle it (Python-2 strings as latin1) and check its shapes."""
    with open(verify(path, checksum, DOWNLOAD_COMMAND), "rb") as f:
        try:
            batch = _ArrayOnlyUnpickler(f, encoding="latin1").load()
        except UserError:
            raise
        except Exception as error:  # whatever a damaged pickle makes the unpickler raise
            raise UserError(
                "%s is not a readable pickle (%s): delete it and run `%s`" % (path, error, DOWNLOAD_COMMAND)
            ) from error

    def malformed(what: str) -> UserError:
        return UserError("%s is not a CIFAR-10 batch (%s): delete it and run `%s`" % (path, what, DOWNLOAD_COMMAND))

    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        raise malformed("no dict with 'data' and 'labels'")
    data, labels = batch["data"], np.asarray(batch["labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != N_FEATURES:
        raise malformed(
            "'data' is %s %s, expected uint8 (n, %d)"
            % (getattr(data, "dtype", type(data).__name__), np.shape(data), N_FEATURES)
        )
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu":
        raise malformed("'labels' is %s %s, expected %d integers" % (labels.dtype, labels.shape, len(data)))
    if len(labels) and not (labels.min() >= 0 and labels.max() < N_CLASSES):
        raise malformed("labels outside 0..%d" % (N_CLASSES - 1))
    return {"data": data, "labels": labels}


class CIFAR10:
    """``CIFAR10(which_set, start, stop, gcn)`` as in pylearn2 (§3.2).

    'train' is data_batch_1..5 concatenated in order (50,000 rows), 'test' is test_batch (10,000). ``gcn``
    (pylearn2 passes 55.) is global contrast normalization of the *whole* set, done before the ``start:stop``
    slice is taken. ``checksums`` maps file names to their expected digests.
    """

    def __init__(
        self,
        which_set: str,
        start: Optional[int] = None,
        stop: Optional[int] = None,
        gcn: Optional[float] = None,
        path: Optional[str] = None,
        checksums: Dict[str, Checksum] = CHECKSUMS,
    ) -> None:
        if which_set not in FILES:
            raise ValueError("which_set must be 'train' or 'test', not %r" % (which_set,))
        folder = data_root(path) / "cifar10" / FOLDER
        batches = [read_batch(folder / name, checksums[name]) for name in FILES[which_set]]
        X = np.concatenate([batch["data"] for batch in batches]).astype(np.float32)
        y = np.concatenate([batch["labels"] for batch in batches]).astype(np.uint8).reshape(-1, 1)
        del batches
        if gcn is not None:
            X = global_contrast_normalize(X, scale=float(gcn))
        self.X = take_rows(X, start, stop, "CIFAR-10 '%s' in %s" % (which_set, folder), DOWNLOAD_COMMAND)
        self.y = take_rows(y, start, stop, "CIFAR-10 '%s' in %s" % (which_set, folder), DOWNLOAD_COMMAND)


def _unpack(archive: tarfile.TarFile, folder: Path, checksums: Dict[str, Checksum]) -> List[str]:
    """Write the expected members of ``archive`` into ``folder``, each verified before its rename."""
    written = []
    for member in archive:
        name = PurePosixPath(member.name)
        if name.is_absolute() or ".." in name.parts:
            raise UserError("%s has an unsafe member %r: refusing to unpack it" % (TARBALL, member.name))
        if len(name.parts) != 2 or name.parts[0] != FOLDER or name.name not in checksums:
            continue
        if not member.isreg():
            raise UserError("%s: member %s is not a regular file" % (TARBALL, member.name))
        checksum = checksums[name.name]
        digest = hashlib.new(checksum.algorithm)
        source = archive.extractfile(member)
        with atomic_output(folder / name.name) as out:
            for block in iter(lambda: source.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
            if digest.hexdigest() != checksum.hexdigest:
                raise UserError(
                    "%s in %s has %s %s, expected %s"
                    % (name.name, TARBALL, checksum.algorithm, digest.hexdigest(), checksum.hexdigest)
                )
        written.append(name.name)
    return written


def download(root: Path) -> None:
    """Fetch the tarball, unpack the six verified batch files into cifar10/cifar-10-batches-py, delete it."""
    folder = root / "cifar10" / FOLDER
    missing = []
    for name, checksum in CHECKSUMS.items():
        try:
            verify(folder / name, checksum, DOWNLOAD_COMMAND)
            print("  %s: present, checksum ok" % (folder / name))
        except UserError:
            missing.append(name)
    if not missing:
        return
    tarball = fetch(URLS, root / "cifar10" / TARBALL, TARBALL_CHECKSUM, DOWNLOAD_COMMAND)
    with tarfile.open(tarball, "r:gz") as archive:
        written = _unpack(archive, folder, {name: CHECKSUMS[name] for name in missing})
    lacking = set(missing) - set(written)
    if lacking:
        raise UserError("%s lacks %s" % (TARBALL, ", ".join(sorted(lacking))))
    print("  unpacked %s into %s" % (", ".join(written), folder))
    tarball.unlink()
