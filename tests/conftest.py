"""Fixtures shared by the tests: IDX and SVHN h5 files in the real formats, and the real MNIST of ../shared/data."""
import gzip
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def _write_idx(path: Path, array: np.ndarray) -> Path:
    """Write uint8 ``array`` as an IDX file (magic 2051 for 3-D images, 2049 for 1-D labels)."""
    magic = {3: 2051, 1: 2049}[array.ndim]
    header = np.array((magic,) + array.shape, dtype=">i4").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())
    return path


@pytest.fixture
def write_idx() -> Callable[[Path, np.ndarray], Path]:
    return _write_idx


def _write_h5(path: Path, X: np.ndarray, y: np.ndarray) -> Path:
    """Write X (N, 3072) and y (N, 10) as an SVHN h5 file in pylearn2's layout (datasets/pytables_file.py)."""
    from datasets import pytables_file
    path.parent.mkdir(parents=True, exist_ok=True)
    with pytables_file.create(path, len(X)) as h5:
        for node, values in zip(pytables_file.data_nodes(h5), (X, y)):
            node[:] = values
    return path


@pytest.fixture
def write_h5() -> Callable[[Path, np.ndarray, np.ndarray], Path]:
    return _write_h5


@pytest.fixture(scope="session")
def real_mnist_root(tmp_path_factory) -> Path:
    """A PYLEARN2_DATA_PATH holding the real uncompressed MNIST (skips when ../shared/data has none)."""
    if not SHARED_MNIST.is_dir():
        pytest.skip("real MNIST not present in %s" % SHARED_MNIST)
    root = tmp_path_factory.mktemp("pylearn2_data")
    (root / "mnist").mkdir()
    for gz in sorted(SHARED_MNIST.glob("*.gz")):
        with gzip.open(gz, "rb") as source, open(root / "mnist" / gz.name[:-3], "wb") as target:
            shutil.copyfileobj(source, target)
    return root
