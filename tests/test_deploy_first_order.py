"""deploy.first_order: the float32 first layer summed by the C library in the sgemm's own order, bit for bit the
sgemm's (docs/EXPORT.md, "The first layer"); and the C library's thread pool under concurrent calls and fork."""

import compat  # noqa: F401

import multiprocessing
import os
import subprocess
import sys
import threading

import deploy_cases as cases
import numpy as np
import pytest
from conftest import REPO
from test_deploy_engine import _label, every_backend

from deploy import kernels
from deploy.engine import PackedNetwork, sgemm
from deploy.first_order import SgemmOrder, openblas_split, splits


def c_backends():
    return [backend for backend in every_backend() if backend.name == "c"]


def ordered_sums(terms: np.ndarray, bounds) -> np.ndarray:
    """float32 sums of terms (rows, n, units) along n: each block from 0 one term at a time, added to the total."""
    total = np.zeros((terms.shape[0], terms.shape[2]), np.float32)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        total = total + np.add.accumulate(terms[:, start:stop], axis=1, dtype=np.float32)[:, -1]
    return total


def signs(rng: np.random.RandomState, n: int, units: int) -> np.ndarray:
    return np.where(rng.rand(n, units) < 0.5, 1, -1).astype(np.float32)


def test_openblas_split_follows_its_blocking_rule():
    assert openblas_split(784, 320, 8) == (0, 320, 552, 784)  # OpenBLAS threaded on this project's machines
    assert openblas_split(784, 320, 16) == (0, 320, 560, 784)  # and on one thread (the half rounded up to 16)
    assert openblas_split(1000, 320, 1) == (0, 320, 640, 820, 1000)
    assert openblas_split(27, 320, 8) == (0, 27)
    every = list(splits(100))
    assert every[0] == (0, 100) and len(every) == len(set(every))
    assert all(split[0] == 0 and split[-1] == 100 and all(np.diff(split) > 0) for split in every)


@pytest.mark.parametrize("rows, n, units", [(1, 150, 70), (7, 150, 130), (6, 40, 600)])
def test_first_sums_add_in_the_given_order_with_every_kernel_and_thread_count(rows, n, units):
    """Rows not a multiple of 4, units not of 64, one or many groups of 64 units (threads share rows or groups)."""
    rng = np.random.RandomState(rows)
    W = signs(rng, n, units)
    v = rng.uniform(-1, 1, (rows, n)).astype(np.float32)
    split = (0, 5, n // 2 + 3, n)
    order = SgemmOrder(W, None)
    expected = ordered_sums(v[:, :, None] * W[None], split)
    assert not np.array_equal(expected, ordered_sums(v[:, :, None] * W[None], (0, n))), "the order must matter here"
    for backend in c_backends():
        assert np.array_equal(order.sums(backend.first_sums, v, split), expected), _label(backend)


def test_conv_sums_read_each_pixels_taps_from_the_padded_images():
    """Channel, row, column: CorrMM's column order, against the same sums of patches copied out by NumPy."""
    rng = np.random.RandomState(4)
    padded = np.pad(rng.uniform(-1, 1, (2, 3, 7, 6)).astype(np.float32), ((0, 0), (0, 0), (1, 1), (1, 1)))
    W = signs(rng, 27, 5)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))  # (N, C, out_h, out_w, 3, 3)
    patches = windows.transpose(0, 2, 3, 1, 4, 5).reshape(-1, 27)
    expected = ordered_sums(patches[:, :, None] * W[None], (0, 27))
    order = SgemmOrder(W, None)
    for backend in c_backends():
        assert np.array_equal(order.conv_sums(backend.first_sums, padded, (3, 3), (0, 27)), expected), _label(backend)


def test_the_orders_found_for_a_dense_layer_are_the_sgemms_at_each_batch():
    """The stack's OpenBLAS sums a 784-term product in one block, or split as on one thread, or as threaded, by its
    size and CPU kernels; where one split gives every output of a size, the C sums in it equal the sgemm's (Theano's
    Dot22's, test_deploy_engine) on other inputs of that size. (With the Haswell kernels the tests choose, conftest.py,
    larger batches are summed otherwise at the edges of its tiles: no split is claimed for them.)"""
    rng = np.random.RandomState(5)
    W = signs(rng, 784, 300)
    backend = kernels.select("c")
    order = SgemmOrder(W, lambda v: sgemm(v, W))
    found = {batch: order.split(batch, backend.first_sums) for batch in (1, 3, 8, 50, 300)}
    assert found[1] is not None and any(split is not None and len(split) > 2 for split in found.values()), found
    for batch, split in found.items():
        if split is not None:
            X = rng.uniform(-1, 1, (batch, 784)).astype(np.float32)
            assert np.array_equal(order.sums(backend.first_sums, X, split), sgemm(X, W)), batch
    assert order.found == found


def test_no_order_is_claimed_for_sums_no_split_gives():
    """A product rounded once from float64: no sequence of float32 additions gives it, so the engine keeps the sgemm."""
    rng = np.random.RandomState(6)
    W = signs(rng, 300, 64)
    order = SgemmOrder(W, lambda v: (v.astype(np.float64) @ W).astype(np.float32))
    assert order.split(5, kernels.select("c").first_sums) is None and order.found == {5: None}


@pytest.mark.parametrize("name", ["mlp", "svhn-like"])
def test_sgemm_first_layer_gives_the_same_scores(name):
    case = cases.exported(name)
    X = np.random.RandomState(7).uniform(-1, 1, (20,) + case.X.shape[1:]).astype(np.float32)
    fast, blas = PackedNetwork.load(case.path), PackedNetwork.load(case.path, first_layer="sgemm")
    assert np.array_equal(fast.forward(X), blas.forward(X))
    assert blas.first_order is None and "sgemm" in blas.first_layer_path


NATIVE = """
import sys
import numpy as np
from deploy.engine import PackedNetwork
for path in sys.argv[1:]:
    fast, blas = PackedNetwork.load(path), PackedNetwork.load(path, first_layer="sgemm")
    for batch in (1, 7, 64):
        X = np.random.RandomState(batch).uniform(-1, 1, (batch,) + fast.input_shape).astype(np.float32)
        assert np.array_equal(fast.forward(X), blas.forward(X)), (path, batch)
    print(sum(split is not None for split in fast.first_order.found.values()), fast.first_layer_path)
"""


def test_with_the_cpus_own_kernels_the_scores_equal_the_sgemm_paths():
    """The tests fix OpenBLAS's kernels (Haswell, conftest.py); a user's run has the CPU's own, whose order the
    engine finds then: in a process of its own, the C first layer against the sgemm, batches 1, 7 and 64."""
    env = {name: value for name, value in os.environ.items() if name != "OPENBLAS_CORETYPE"}
    paths = [str(cases.exported(name).path) for name in ("mlp", "svhn-like")]
    result = subprocess.run([sys.executable, "-c", NATIVE] + paths, cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for line in lines:  # the batch sizes (of 3) whose order was found, and the engine's description
        if line.startswith("0 "):
            pytest.skip("this CPU's OpenBLAS kernels sum in no split the engine knows, it calls the sgemm: " + line)
    assert lines[1].startswith("1 ") and "1024 rows: 27" in lines[1], lines


def test_threads_share_the_pool_and_the_results():
    """Python threads calling at once: one call at a time uses the pool, the others work alone; all equal."""
    case = cases.exported("svhn-like")
    network = PackedNetwork.load(case.path, threads=2)
    network.backend.grain = 1
    X = np.random.RandomState(8).uniform(-1, 1, (6,) + case.X.shape[1:]).astype(np.float32)
    expected = network.forward(X)
    results = [None] * 4

    def run(index):
        results[index] = [network.forward(X) for _ in range(3)]

    workers = [threading.Thread(target=run, args=(index,)) for index in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert all(scores is not None and all(np.array_equal(s, expected) for s in scores) for scores in results)


def _forward_in_child(queue, path, X):
    network = PackedNetwork.load(path, threads=2)
    network.backend.grain = 1
    queue.put(network.forward(X))


def test_a_forked_child_starts_its_own_pool():
    """The parent's pool threads do not exist in a forked child: the child's first call starts new ones."""
    case = cases.exported("svhn-like")
    network = PackedNetwork.load(case.path, threads=2)
    network.backend.grain = 1
    X = np.random.RandomState(9).uniform(-1, 1, (3,) + case.X.shape[1:]).astype(np.float32)
    expected = network.forward(X)  # the parent's pool is running now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_forward_in_child, args=(queue, str(case.path), X))
    child.start()
    try:
        scores = queue.get(timeout=120)
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0 and np.array_equal(scores, expected)


def test_first_signs_compare_floats_as_numpy_does():
    """+1 iff the sum reaches the threshold: never for NaN; -0.0 reaches 0.0; infinities; units not a multiple of
    the vector (8 or 16) nor of 64; pooled stages left to NumPy."""
    rng = np.random.RandomState(10)
    pre = rng.normal(0, 1, (5, 3, 2, 83)).astype(np.float32)
    threshold = rng.normal(0, 1, 83).astype(np.float32)
    pre[0, 0, 0, :6] = [np.nan, -0.0, np.inf, -np.inf, threshold[4], np.nextafter(threshold[5], np.float32(-np.inf))]
    threshold[1] = 0.0
    flipped = rng.rand(83) < 0.5
    unpooled = kernels.NumpyKernels().first_signs(pre, flipped, threshold, (1, 1))
    assert int(unpooled[0, 0, 0, 0]) & 0b111111 == 0b010110  # -0.0, inf and the threshold itself reach it
    for pool in [(1, 1), (2, 2)]:
        expected = kernels.NumpyKernels().first_signs(pre, flipped, threshold, pool)
        for backend in c_backends():
            assert np.array_equal(backend.first_signs(pre, flipped, threshold, pool), expected), (_label(backend), pool)
