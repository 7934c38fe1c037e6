"""deploy.engine against Theano's deterministic pass, bit for bit, and its popcount backends (NumPy; C with every
kernel this CPU runs, on 1, 2 and 3 threads) against each other and against plain integer arithmetic (docs/EXPORT.md;
docs/REPRODUCTION.md §1, §2)."""

import compat  # noqa: F401

import ctypes

import deploy_cases as cases
import lasagne
import numpy as np
import pytest
import theano
import theano.tensor as T

from binarynet import binary_net
from deploy import kernels, layout
from deploy.engine import PackedNetwork, sgemm
from deploy.errors import DeployError
from deploy.export import export, export_arrays

NETWORKS = ["mlp"] + sorted(cases.CONVNETS)
THREADS = (1, 2, 3)


def every_backend():
    """NumPy's, then C's with each kernel this CPU runs on each of THREADS, the threads started even for the tests'
    small products (grain 1)."""
    yield kernels.NumpyKernels()
    for kernel in kernels.select("c").available:
        for threads in THREADS:
            backend = kernels.select("c", kernel, threads)
            backend.grain = 1
            yield backend


def _label(backend) -> str:
    return "%s %s, %d threads" % (backend.name, backend.kernel, backend.threads)


@pytest.mark.parametrize("name", NETWORKS)
def test_every_layer_equals_theano_on_the_planted_edge_cases_with_every_kernel_and_thread_count(name):
    case = cases.exported(name)
    network = PackedNetwork.load(case.path)
    for backend in every_backend():
        network.backend = backend
        outputs = network.layer_outputs(case.X)
        assert len(outputs) == len(case.hidden) + 1
        for index, (ours, theirs) in enumerate(zip(outputs, case.hidden)):
            assert ours.shape == theirs.shape and np.array_equal(ours, theirs), (index, _label(backend))
        assert outputs[-1].dtype == np.float32 and np.array_equal(outputs[-1], case.scores), _label(backend)
        # Output units 3 and 7 have the same parameters: their scores tie, often at the top, and both argmaxes take
        # the first.
        assert np.array_equal(case.scores[:, 3], case.scores[:, 7])
        labels = network.predict(case.X)
        assert np.array_equal(labels, np.argmax(case.scores, axis=1)) and 3 in labels and 7 not in labels


def test_the_auto_kernel_is_the_fastest_this_cpu_runs_and_the_portable_one_always_runs():
    backend = kernels.select("c")
    assert backend.available[0] == "portable" and backend.kernel == backend.available[-1]
    assert backend.threads == kernels.usable_cpus()
    with pytest.raises(DeployError, match="kernel must be"):
        kernels.select("c", "sse9")
    with pytest.raises(DeployError, match="threads"):
        kernels.select("c", "auto", 0)


def test_from_arrays_runs_the_export_in_memory_as_the_file():
    case = cases.exported("mlp")
    network = PackedNetwork.from_arrays(export_arrays(case.case.network))
    assert np.array_equal(network.forward(case.X), case.scores)
    with pytest.raises(DeployError, match="not a binarynet-packed"):
        PackedNetwork.from_arrays({"format": np.array("other")})
    arrays = dict(export_arrays(case.case.network))
    del arrays["layer1/threshold"]
    with pytest.raises(DeployError, match="not a complete"):
        PackedNetwork.from_arrays(arrays)


@pytest.mark.parametrize("name", NETWORKS)
def test_real_valued_inputs_at_batch_1_and_batch_50(name):
    """Inputs not exact in float32 sums: the first layer must round as Theano's sgemm does."""
    case = cases.exported(name)
    network = PackedNetwork.load(case.path)
    X = np.random.RandomState(3).uniform(-1, 1, (50,) + case.X.shape[1:]).astype(np.float32)
    _, scores, _ = case.case.run(X)
    assert np.array_equal(network.forward(X), scores)
    for image in range(3):
        _, one, _ = case.case.run(X[image : image + 1])
        assert np.array_equal(network.forward(X[image : image + 1]), one)
    assert np.array_equal(network.predict(X), np.argmax(scores, axis=1))


def test_sgemm_sums_a_single_row_as_theanos_dot22_does():
    rng = np.random.RandomState(0)
    a = rng.uniform(-1, 1, (1, 784)).astype(np.float32)
    b = layout.signs(rng.rand(784, 512) < 0.5)
    x, W = T.matrix("x"), T.matrix("W")
    theirs = theano.function([x, W], T.dot(x, W))(a, b)
    assert np.array_equal(sgemm(a, b), theirs)
    assert np.array_equal(sgemm(b.T, a.T), theirs.T)  # a single column too
    assert not np.array_equal(a @ b, theirs), "NumPy's sgemv path now sums as sgemm: sgemm() could go"


def _reference_dense(act_bits: np.ndarray, weight_bits: np.ndarray) -> np.ndarray:
    return layout.signs(act_bits, np.int64) @ layout.signs(weight_bits, np.int64).T


def _reference_conv(act_bits: np.ndarray, weight_bits: np.ndarray, pad: int) -> np.ndarray:
    """Cross-correlation of ±1 maps (N, H, W, C) with taps (F, kh, kw, C), zeros around: int64 (N, H', W', F)."""
    padded = np.pad(layout.signs(act_bits, np.int64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, weight_bits.shape[1:3], axis=(1, 2))
    return np.einsum("nyxcij,fijc->nyxf", windows, layout.signs(weight_bits, np.int64))


@pytest.mark.parametrize(
    "n, images, units", [(1, 5, 33), (63, 1, 6), (64, 9, 7), (67, 4, 2), (130, 6, 9), (600, 7, 257)]
)
def test_dense_kernels_equal_each_other_and_plain_arithmetic(n, images, units):
    """Sizes that leave every micro-kernel's edges (images and units not multiples of 4, words of a partial
    vector)."""
    rng = np.random.RandomState(n)
    act, W = rng.rand(images, n) < 0.5, rng.rand(units, n) < 0.5
    expected = _reference_dense(act, W)
    for backend in every_backend():
        assert np.array_equal(backend.dense_dot(layout.pack(act), layout.pack(W), n), expected), _label(backend)


@pytest.mark.parametrize(
    "channels, pad, size, filters",
    [(3, 1, (7, 6), 4), (67, 1, (5, 4), 5), (130, 0, (4, 5), 3), (5, 2, (3, 3), 7), (64, 1, (9, 11), 6)],
)
def test_conv_kernels_equal_each_other_and_plain_arithmetic(channels, pad, size, filters):
    """The C kernel pads once with zero words and takes their popcounts off at the border, NumPy's counts them
    separately: both must give the true sums."""
    rng = np.random.RandomState(channels)
    act, W = rng.rand(2, size[0], size[1], channels) < 0.5, rng.rand(filters, 3, 3, channels) < 0.5
    expected = _reference_conv(act, W, pad)
    for backend in every_backend():
        s = backend.conv_dot(layout.pack(act), layout.pack(W), channels, (pad, pad))
        assert np.array_equal(s, expected), _label(backend)


def test_auto_backend_falls_back_to_numpy_without_a_compiler_and_says_so_once(monkeypatch, capsys):
    monkeypatch.setattr(kernels, "find_compiler", lambda: None)
    monkeypatch.setattr(kernels, "_fallback_reported", False)
    assert kernels.select("auto").name == "numpy"
    assert kernels.select("auto").name == "numpy"
    message = capsys.readouterr().err
    assert message.count("NumPy fallback") == 1 and "no C compiler" in message
    with pytest.raises(DeployError, match="cannot be built"):
        kernels.select("c")


def test_c_kernel_is_compiled_into_the_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    kernels.build.cache_clear()
    try:
        library = kernels.build(kernels.find_compiler())
    finally:
        kernels.build.cache_clear()
    assert library.parent == tmp_path / "binarized-nets" and library.is_file()
    assert [path.name for path in library.parent.iterdir()] == [library.name]  # no partial files left
    ones = layout.pack(np.ones((2, 3), bool))
    assert kernels.CKernels(ctypes.CDLL(str(library))).dense_dot(ones[:1], ones, 3).tolist() == [[3, 3]]


def test_inputs_of_the_wrong_shape_are_refused():
    network = PackedNetwork.load(cases.exported("mlp").path)
    with pytest.raises(DeployError, match="shape"):
        network.forward(np.zeros((2, 784), np.float32))


def test_after_a_few_adam_steps_the_packed_network_still_equals_theano(tmp_path, capsys):
    """Parameters moved by the scripts' training functions (§1.4, §1.5, §1.10), not set by hand."""
    case = cases.exported("mlp").case
    params = lasagne.layers.get_all_params(case.network)
    saved = [param.get_value() for param in params]
    train_fn, _ = binary_net.compile_functions(case.network, binary=True)
    rng = np.random.RandomState(5)
    X = rng.uniform(-1, 1, (100, 1, 28, 28)).astype(np.float32)
    y = (2 * np.eye(10)[rng.randint(0, 10, 100)] - 1).astype(np.float32)
    try:
        for _ in range(8):
            train_fn(X, y, 0.003)
        moved = [not np.array_equal(param.get_value(), value) for param, value in zip(params, saved)]
        path = tmp_path / "trained.npz"
        export(case.network, path)
        hidden, scores, _ = case.run(X)
        outputs = PackedNetwork.load(path).layer_outputs(X)
    finally:
        for param, value in zip(params, saved):
            param.set_value(value)
    assert all(moved)  # every W, b, beta, gamma and running statistic
    for ours, theirs in zip(outputs, hidden + [scores]):
        assert np.array_equal(ours, theirs)
