"""Fixtures shared by the tests: IDX files in the real format, and the real MNIST of ../shared/data."""
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
