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
    os.environ["THEANO_FLAGS"] = ",".join(
        filter(None, [os.environ.get("THEANO_FLAGS"), "gcc.cxxflags=-ffp-contract=off"])
    )
if platform.machine() == "x86_64":
    os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")
# Under `make test` the tests' own make commands would be sub-makes, which print "Entering directory" lines: each
# make a test runs is a top-level make, as a user's is.
for variable in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS"):
    os.environ.pop(variable, None)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


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
    return py2_pickle(
        {
            b"batch_label": name.encode(),
            b"labels": list(labels),
            b"data": data,
            b"filenames": [b"img_%d.png" % i for i in range(len(labels))],
        }
    )


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


def smoke_flags(name: str) -> list:
    """The flags of an experiment's small run (what `make <target>-smoke` passes): experiments.py."""
    import experiments

    return experiments.by_name(name).smoke_flags.split()


def adam_first_step(g, LR):
    """Lasagne Adam's first step from zero moments (docs/REPRODUCTION.md §1.5): a_1 * m_1 / (sqrt(v_1) + eps)."""
    g = g.astype(np.float64)
    a_1 = LR * np.sqrt(1 - 0.999) / (1 - 0.9)
    return a_1 * (0.1 * g) / (np.sqrt(0.001 * g**2) + 1e-8)


def missing_real_data(what: str) -> None:
    """Skip a test for want of real data, or fail it under CI (which must have it)."""
    message = "%s not present" % what
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: the real-data tests must run; .ci/run stages ../shared/data)")
    pytest.skip(message)


def pytest_collection_modifyitems(items) -> None:
    """Every test that uses the six trained runs trains (once per session): it is slow (`make test-fast` skips it)."""
    for item in items:
        if "trained_runs" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


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


# --- six small trained runs, one per experiment (tests/test_golden.py, tests/test_trained.py) ----------------------

MNIST_RUN = [
    "--num-epochs",
    "2",
    "--num-units",
    "64",
    "--n-hidden-layers",
    "1",
    "--train-size",
    "1000",
    "--valid-size",
    "200",
    "--test-size",
    "200",
]
CONVNET_RUN = [
    "--num-epochs",
    "2",
    "--filters",
    "4",
    "4",
    "8",
    "8",
    "8",
    "8",
    "--num-units",
    "16",
    "--train-size",
    "200",
    "--valid-size",
    "50",
    "--test-size",
    "50",
    "--batch-size",
    "25",
]


def _synthetic_convnet_data(root: Path) -> dict:
    """Learnable synthetic inputs for the four ConvNet scripts under ``root``: CIFAR-10 batches (45,050 training
    rows, so that the scripts' validation rows 45000.. exist, and 100 test rows), a whitened set of the same size
    (compressed: only the rows used are non-zero), and SVHN h5 files, raw for BinaryNet and GCN + LCN-like for
    BinaryConnect. Returns the CIFAR-10 checksums that accept the batches."""
    from datasets import cifar10, cifar10_whitened, svhn

    rng = np.random.RandomState(11)
    rows = dict({name: 9010 for name in cifar10.FILES["train"]}, test_batch=100)
    write_cifar10(root, rows, rng, templates=True)
    folder = cifar10_whitened.output_folder(root)
    folder.mkdir(parents=True)
    for which, n in (("train", 45050), ("test", 100)):
        X = np.zeros((n, 3072), np.float32)
        y = rng.randint(0, 10, (n, 1)).astype(np.uint8)
        for used in (slice(0, 250), slice(45000, n)):  # training, validation (and all the test) rows
            X[used] = rng.normal(0, 1, X[used].shape) + y[used] * 0.3
        np.savez_compressed(folder / (which + ".npz"), X=X, y=y)
    square = np.eye(3072, dtype=np.float32)
    np.savez_compressed(folder / "preprocessor.npz", mean=np.zeros(3072, np.float32), P=square, inverse=square)
    for where, scale in ((svhn.default_folder(str(root)), 255), (root / "local", 1)):
        for name, n in (("splitted_train", 200), ("valid", 50), ("test", 50)):
            labels = rng.randint(0, 10, n)
            X = (rng.uniform(0, 1, (n, 3072)) * 0.5 + labels[:, None] * 0.05) * scale
            write_h5(svhn.h5_path(where, name), X.astype(np.float32), np.eye(10, dtype=np.float32)[labels])
    return {name: md5_of(root / "cifar10" / cifar10.FOLDER / name) for name in rows}


@pytest.fixture(scope="session")
def trained_runs(real_mnist_root, tmp_path_factory) -> dict:
    """{experiment: (run folder, its stdout)} of six small finished runs (MNIST_RUN on the real MNIST, CONVNET_RUN
    on synthetic data), trained once for the session."""
    import contextlib

    from binaryconnect import cifar10 as bc_cifar10
    from binaryconnect import mnist as bc_mnist
    from binaryconnect import svhn as bc_svhn
    from binarynet import cifar10 as bn_cifar10
    from binarynet import mnist as bn_mnist
    from binarynet import svhn as bn_svhn
    from datasets import cifar10

    data = tmp_path_factory.mktemp("convnet_data")
    checksums = _synthetic_convnet_data(data)
    runs = {}
    with pytest.MonkeyPatch.context() as patch:
        for name, checksum in checksums.items():
            patch.setitem(cifar10.CHECKSUMS, name, checksum)
        patch.setenv("SVHN_LOCAL_PATH", str(data / "local"))
        for script, flags, root in (
            (bn_mnist, MNIST_RUN, real_mnist_root),
            (bc_mnist, MNIST_RUN, real_mnist_root),
            (bn_cifar10, CONVNET_RUN, data),
            (bc_cifar10, CONVNET_RUN, data),
            (bn_svhn, CONVNET_RUN, data),
            (bc_svhn, CONVNET_RUN, data / "local"),
        ):
            name = "%s-%s" % tuple(script.__name__.split("."))
            folder = tmp_path_factory.mktemp(name)
            stdout = io.StringIO()
            with contextlib.redirect_stdout(stdout):
                assert script.main(flags + ["--data-path", str(root), "--output-dir", str(folder)]) == 0, name
            runs[name] = folder, stdout.getvalue()
        yield runs
