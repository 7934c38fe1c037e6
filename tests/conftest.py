"""What the tests share: a reproducible float environment, writers of small files in the real formats (IDX, SVHN
h5, CIFAR-10 Python-2 pickles), the real MNIST, and reference formulas.

Real MNIST is looked for where ``make download-mnist`` puts it (``$PYLEARN2_DATA_PATH/mnist``), then in
``../shared/data/mnist`` (the published .gz files). Without it the real-data tests are skipped, except under
``CI=true``, where they fail: CI must run them (``.ci/run`` stages the data).
"""
import gzip
import io
import os
import pickle
import platform
import shutil
import struct
from pathlib import Path

# Before Theano or NumPy's BLAS start: the same float32 results on any x86-64 machine, so that golden figures
# compare exactly. GCC may otherwise contract a*b+c into FMAs in Theano's generated C (-march=native), and
# OpenBLAS picks its kernels by CPU. Both settings only fix choices that are otherwise machine-dependent.
if "-ffp-contract" not in os.environ.get("THEANO_FLAGS", ""):
    os.environ["THEANO_FLAGS"] = ",".join(filter(None, [os.environ.get("THEANO_FLAGS"),
                                                        "gcc.cxxflags=-ffp-contract=off"]))
if platform.machine() == "x86_64":
    os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte")


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write uint8 ``array`` as an IDX file (magic 2051 for 3-D images, 2049 for 1-D labels)."""
    magic = {3: 2051, 1: 2049}[array.ndim]
    header = np.array((magic,) + array.shape, dtype=">i4").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())
    return path


def write_h5(path: Path, X: np.ndarray, y: np.ndarray) -> Path:
    """Write X (N, 3072) and y (N, 10) as an SVHN h5 file in pylearn2's layout (datasets/pytables_file.py)."""
    from datasets import pytables_file
    path.parent.mkdir(parents=True, exist_ok=True)
    with pytables_file.create(path, len(X)) as h5:
        for node, values in zip(pytables_file.data_nodes(h5), (X, y)):
            node[:] = values
    return path


class _Py2Pickler(pickle._Pickler):
    """Writes what Python 2's cPickle wrote: bytes as a Python-2 str (BINSTRING), not as _codecs.encode(...)."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def py2_pickle(obj) -> bytes:
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def batch_bytes(data, labels, name="batch") -> bytes:
    """A CIFAR-10 batch file as the CIFAR site ships it (Python-2 str keys; data uint8 (n, 3072); labels a list)."""
    return py2_pickle({b"batch_label": name.encode(), b"labels": list(labels), b"data": data,
                       b"filenames": [b"img_%d.png" % i for i in range(len(labels))]})


def md5_of(path: Path):
    from harness.files import Checksum, file_digest
    return Checksum("md5", file_digest(path, "md5"))


def write_cifar10(root: Path, rows: dict, rng: np.random.RandomState, templates: bool = False) -> dict:
    """CIFAR-10 batch files under ``root`` with ``rows[name]`` rows each; returns {name: (data, labels)} and makes
    datasets.cifar10 accept them (their checksums are substituted by the caller with ``md5_of``). With
    ``templates`` the images are a per-class pattern plus noise, so that a network can learn them."""
    from datasets import cifar10
    folder = root / "cifar10" / cifar10.FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    patterns = rng.randint(0, 256, (10, 3072))
    written = {}
    for name, n in rows.items():
        labels = rng.randint(0, 10, n)
        if templates:
            data = np.clip(patterns[labels] // 2 + rng.randint(0, 128, (n, 3072)), 0, 255).astype(np.uint8)
        else:
            data = rng.randint(0, 256, (n, 3072)).astype(np.uint8)
        (folder / name).write_bytes(batch_bytes(data, labels.tolist(), name))
        written[name] = data, labels.tolist()
    return written


def makefile_flags(variable: str) -> list:
    """The flags a Makefile variable holds (e.g. SMOKE_MNIST, what `make mnist-smoke` passes)."""
    import re
    text = (REPO / "Makefile").read_text().replace("\\\n", " ")
    return re.search(r"^%s := (.*)$" % variable, text, re.M).group(1).split()


def adam_first_step(g, LR):
    """Lasagne Adam's first step from zero moments (docs/REPRODUCTION.md §1.5): a_1 * m_1 / (sqrt(v_1) + eps)."""
    g = g.astype(np.float64)
    a_1 = LR * np.sqrt(1 - .999) / (1 - .9)
    return a_1 * (.1 * g) / (np.sqrt(.001 * g ** 2) + 1e-8)


def missing_real_data(what: str) -> None:
    """Skip a test for want of real data, or fail it under CI (which must have it)."""
    message = "%s not present" % what
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: the real-data tests must run; .ci/run stages ../shared/data)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def real_mnist_root(tmp_path_factory) -> Path:
    """A PYLEARN2_DATA_PATH holding the real uncompressed MNIST: $PYLEARN2_DATA_PATH itself when its mnist/ has
    the four verified files, else a copy made from ../shared/data's .gz files."""
    from datasets import mnist
    from harness.errors import UserError
    from harness.files import verify
    configured = os.environ.get("PYLEARN2_DATA_PATH")
    if configured:
        try:
            for name in MNIST_FILES:
                verify(Path(configured) / "mnist" / name, mnist.CHECKSUMS[name], mnist.DOWNLOAD_COMMAND)
            return Path(configured)
        except UserError:
            pass
    if not all((SHARED_MNIST / (name + ".gz")).is_file() for name in MNIST_FILES):
        missing_real_data("real MNIST (in $PYLEARN2_DATA_PATH/mnist or %s)" % SHARED_MNIST)
    root = tmp_path_factory.mktemp("pylearn2_data")
    (root / "mnist").mkdir()
    for name in MNIST_FILES:
        with gzip.open(SHARED_MNIST / (name + ".gz"), "rb") as source, open(root / "mnist" / name, "wb") as target:
            shutil.copyfileobj(source, target)
    return root
