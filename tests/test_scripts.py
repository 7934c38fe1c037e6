"""The six scripts as the originals (docs/REPRODUCTION.md §2; §4 traps 1, 7-9, 15, 16, 21, 24, 29, 30): their printed
settings, their networks at paper size (Lasagne layers only, no Theano compile), the np.random draws of building
them, and what their data loaders give on small synthetic files in the real formats.
"""

import compat  # noqa: F401

import dataclasses

import lasagne
import numpy as np
import pytest
from conftest import md5_of, write_cifar10, write_h5, write_idx
from lasagne.nonlinearities import identity, rectify

from binaryconnect import batch_norm
from binaryconnect import cifar10 as bc_cifar10
from binaryconnect import mnist as bc_mnist
from binaryconnect import svhn as bc_svhn
from binarynet import binary_net
from binarynet import cifar10 as bn_cifar10
from binarynet import mnist as bn_mnist
from binarynet import svhn as bn_svhn
from datasets import cifar10 as cifar10_data
from datasets import cifar10_whitened
from datasets import mnist as mnist_data
from datasets import svhn as svhn_data
from harness.errors import UserError

f32 = np.float32
SMALL = ["--batch-size", "5", "--train-size", "15", "--valid-size", "8", "--test-size", "6"]
SVHN_SMALL = ["--batch-size", "5", "--train-size", "10", "--valid-size", "5", "--test-size", "6"]
SCRIPTS = {
    bn_mnist: bn_mnist.MNISTSettings,
    bn_cifar10: bn_cifar10.CIFAR10Settings,
    bn_svhn: bn_svhn.SVHNSettings,
    bc_mnist: bc_mnist.MNISTSettings,
    bc_cifar10: bc_cifar10.CIFAR10Settings,
    bc_svhn: bc_svhn.SVHNSettings,
}
ACTIVATION, BINARY = (
    "activation = binary_net.binary_tanh_unit",
    ["binary = True", "stochastic = False", "H = 1.0", "W_LR_scale = Glorot"],
)
STOCHASTIC = ["binary = True", "stochastic = True", "H = 1.0", "W_LR_scale = Glorot"]
# §2.1-§2.6: the settings each original prints, in its order, numbers as Python 2 printed them (§1.12).
PRINTED = {
    bn_mnist: [
        "batch_size = 100",
        "alpha = 0.1",
        "epsilon = 0.0001",
        "num_units = 4096",
        "n_hidden_layers = 3",
        "num_epochs = 1000",
        "dropout_in = 0.2",
        "dropout_hidden = 0.5",
        ACTIVATION,
    ]
    + BINARY
    + [
        "LR_start = 0.003",
        "LR_fin = 3e-07",
        "LR_decay = 0.990831944893",
        "save_path = mnist_parameters.npz",
        "shuffle_parts = 1",
        "Loading MNIST dataset...",
    ],
    bn_cifar10: ["batch_size = 50", "alpha = 0.1", "epsilon = 0.0001", ACTIVATION]
    + BINARY
    + [
        "num_epochs = 500",
        "LR_start = 0.001",
        "LR_fin = 3e-07",
        "LR_decay = 0.983907435305",
        "train_set_size = 45000",
        "shuffle_parts = 1",
        "Loading CIFAR-10 dataset...",
    ],
    bn_svhn: ["batch_size = 50", "alpha = 0.1", "epsilon = 0.0001", ACTIVATION]
    + BINARY
    + [
        "num_epochs = 200",
        "LR_start = 0.001",
        "LR_fin = 1e-06",
        "LR_decay = 0.96605087899",
        "shuffle_parts = 1",
        "Loading SVHN dataset",
    ],
    bc_mnist: [
        "batch_size = 100",
        "alpha = 0.15",
        "epsilon = 0.0001",
        "num_units = 2048",
        "n_hidden_layers = 3",
        "num_epochs = 250",
        "dropout_in = 0.0",
        "dropout_hidden = 0.0",
    ]
    + STOCHASTIC
    + ["LR_start = 0.001", "LR_fin = 3e-06", "LR_decay = 0.977031318216", "Loading MNIST dataset..."],
    bc_cifar10: ["batch_size = 50", "alpha = 0.1", "epsilon = 0.0001", "num_epochs = 500"]
    + STOCHASTIC
    + [
        "LR_start = 0.003",
        "LR_fin = 2e-06",
        "LR_decay = 0.985480006",
        "train_set_size = 45000",
        "Loading CIFAR-10 dataset...",
    ],
    bc_svhn: ["batch_size = 50", "alpha = 0.1", "epsilon = 0.0001", "num_epochs = 200"]
    + STOCHASTIC
    + ["LR_start = 0.01", "LR_fin = 3e-06", "LR_decay = 0.960252853233", "Loading SVHN dataset"],
}
MISSING = {
    bn_mnist: "train-images-idx3-ubyte is missing: run `make download-mnist`",
    bc_mnist: "train-images-idx3-ubyte is missing: run `make download-mnist`",
    bn_cifar10: "data_batch_1 is missing: run `make download-cifar10`",
    bc_cifar10: "preprocessor.npz is missing: run `make cifar10-whitened`",
    bn_svhn: "splitted_train_32x32.h5 is missing: run `make svhn-h5`",
    bc_svhn: "splitted_train_32x32.h5 is missing: run `make svhn-preprocess`",
}
# §2.2-§2.6: per binary layer, input to output, the W_LR_scale values the originals print.
CIFAR10_SCALES = [
    "28.035692",
    "39.191837",
    "48.0",
    "55.425625",
    "67.88225",
    "78.383675",
    "78.383675",
    "36.950417",
    "26.255157",
]
SVHN_SCALES = [
    "20.049938",
    "27.712812",
    "33.941124",
    "39.191837",
    "48.0",
    "55.425625",
    "58.42374",
    "36.950417",
    "26.255157",
]


def paper_network(script):
    """The network the script builds with no flags, after np.random.seed(1234) as the run does."""
    np.random.seed(1234)
    settings = SCRIPTS[script].parse([])
    return (script.build_mlp if hasattr(script, "build_mlp") else script.build_cnn)(settings)


def binary_layers(network):
    return [layer for layer in lasagne.layers.get_all_layers(network) if layer.get_params(binary=True)]


def layer_names(network):
    return [type(layer).__name__ for layer in lasagne.layers.get_all_layers(network)]


# --- the printed settings -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", list(SCRIPTS), ids=lambda script: script.__name__)
def test_defaults_print_the_paper_settings_in_the_original_order(script, tmp_path, monkeypatch, capsys):
    """No flags, no data: the run prints the §2 settings and the loading message, then stops with one error line
    naming the command that makes the missing data, before anything is compiled."""
    monkeypatch.setenv("PYLEARN2_DATA_PATH", str(tmp_path / "data"))
    monkeypatch.setenv("SVHN_LOCAL_PATH", str(tmp_path / "data" / "local"))
    monkeypatch.chdir(tmp_path)
    assert script.main([]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == PRINTED[script]
    assert err.splitlines()[-1].startswith("error: ") and MISSING[script] in err.splitlines()[-1]
    run = tmp_path / "runs" / SCRIPTS[script].EXPERIMENT
    assert sorted(p.name for p in run.iterdir()) == [".lock", "console.log", "run.json"]
    assert (run / "console.log").read_text().splitlines()[-1] == err.splitlines()[-1]


@pytest.mark.parametrize("script", list(SCRIPTS), ids=lambda script: script.__name__)
def test_every_flag_shows_its_default_in_help(script, capsys):
    """--help lists one flag per settable field, each with its default (the paper's value)."""
    assert script.main(["--help"]) == 0
    text = "".join(capsys.readouterr().out.split())  # argparse wraps lines anywhere
    settings = SCRIPTS[script].parse([])
    settable = [field.name for field in dataclasses.fields(settings) if field.init]
    assert len(settable) >= 9
    for name in settable:
        value = getattr(settings, name)
        shown = " ".join(map(str, value)) if isinstance(value, tuple) else str(value)
        assert value is None or "(default:%s)" % shown.replace(" ", "") in text, name
    assert "--train-size" in text and "--output-dir" in text and "--LR-start" in text


# --- the paper-size networks --------------------------------------------------------------------------------------


def test_binarynet_mnist_architecture():
    """Input -> Dropout(.2) -> 3 x [Dense(4096) -> BN -> sign -> Dropout(.5)] -> Dense(10) -> BN (§2.1)."""
    network = paper_network(bn_mnist)
    hidden = ["DenseLayer", "BatchNormLayer", "NonlinearityLayer", "DropoutLayer"]
    assert layer_names(network) == ["InputLayer", "DropoutLayer"] + hidden * 3 + ["DenseLayer", "BatchNormLayer"]
    layers = lasagne.layers.get_all_layers(network)
    assert [layer.p for layer in layers if isinstance(layer, lasagne.layers.DropoutLayer)] == [0.2, 0.5, 0.5, 0.5]
    dense = binary_layers(network)
    assert [layer.W.get_value().shape for layer in dense] == [(784, 4096), (4096, 4096), (4096, 4096), (4096, 10)]
    assert [str(layer.W_LR_scale) for layer in dense] == ["57.038", "73.90083", "73.90083", "52.31953"]
    for layer in dense:
        assert layer.binary and not layer.stochastic and layer.H == 1.0 and layer.nonlinearity is identity
    assert all(
        layer.nonlinearity is binary_net.binary_tanh_unit
        for layer in layers
        if isinstance(layer, lasagne.layers.NonlinearityLayer)
    )
    norms = [layer for layer in layers if isinstance(layer, binary_net.BatchNormLayer)]
    assert len(norms) == 4 and all((n.epsilon, n.alpha) == (1e-4, 0.1) for n in norms)


def check_binaryconnect_batch_norms(network, alpha):
    """BinaryConnect's own BN everywhere (trap 7): the ReLU inside the hidden ones, identity at the output."""
    norms = [layer for layer in lasagne.layers.get_all_layers(network) if isinstance(layer, batch_norm.BatchNormLayer)]
    assert norms[-1] is network
    assert [layer.nonlinearity for layer in norms] == [rectify] * (len(norms) - 1) + [identity]
    for layer in norms:
        assert (layer.epsilon, layer.alpha) == (1e-4, alpha)
        assert layer.get_params() == [layer.mean, layer.std, layer.beta, layer.gamma]
        channels = layer.input_shape[1]
        expected = (1, channels) if len(layer.input_shape) == 2 else (1, channels, 1, 1)
        assert all(param.get_value().shape == expected for param in layer.get_params())
    for layer in binary_layers(network):  # stochastic binary weights, real W at test time (trap 1)
        assert layer.binary and layer.stochastic and layer.H == 1.0
        assert layer.nonlinearity is identity and layer.b is not None
    return norms


def test_binaryconnect_mnist_architecture():
    """Input -> Dropout(0) -> 3 x [Dense(2048) -> BN(ReLU) -> Dropout(0)] -> Dense(10) -> BN(identity) (§2.4);
    the layers take W_LR_scale from their default, "Glorot" (trap 29)."""
    network = paper_network(bc_mnist)
    hidden = ["DenseLayer", "BatchNormLayer", "DropoutLayer"]
    assert layer_names(network) == ["InputLayer", "DropoutLayer"] + hidden * 3 + ["DenseLayer", "BatchNormLayer"]
    dropouts = [
        layer for layer in lasagne.layers.get_all_layers(network) if isinstance(layer, lasagne.layers.DropoutLayer)
    ]
    assert len(dropouts) == 4 and all(layer.p == 0 for layer in dropouts)  # no-ops that still draw (trap 30)
    check_binaryconnect_batch_norms(network, alpha=0.15)
    dense = binary_layers(network)
    assert [layer.W.get_value().shape for layer in dense] == [(784, 2048), (2048, 2048), (2048, 2048), (2048, 10)]
    assert [str(layer.W_LR_scale) for layer in dense] == ["43.451122", "52.255783", "52.255783", "37.04052"]
    assert all(layer.W_LR_scale.dtype == f32 for layer in dense)


@pytest.mark.parametrize(
    "script, filters, flat, scales",
    [
        (bn_cifar10, [128, 128, 256, 256, 512, 512], 8192, CIFAR10_SCALES),
        (bn_svhn, [64, 64, 128, 128, 256, 256], 4096, SVHN_SCALES),
        (bc_cifar10, [128, 128, 256, 256, 512, 512], 8192, CIFAR10_SCALES),
        (bc_svhn, [64, 64, 128, 128, 256, 256], 4096, SVHN_SCALES),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_convnet_architecture(script, filters, flat, scales):
    """Three blocks [Conv -> BN -> act -> Conv -> Pool -> BN -> act] (pooling before BN, trap 8), 2 x [Dense -> BN ->
    act], Dense(10) -> BN (trap 9); BinaryNet's act is a sign layer after Lasagne's BN, BinaryConnect's the ReLU
    inside its own BN (§2.2, §2.3, §2.5, §2.6); channel-major flatten to 8192 / 4096 (trap 24)."""
    network = paper_network(script)
    binarynet = script in (bn_cifar10, bn_svhn)
    act = ["NonlinearityLayer"] if binarynet else []
    block = ["Conv2DLayer", "BatchNormLayer"] + act + ["Conv2DLayer", "MaxPool2DLayer", "BatchNormLayer"] + act
    assert layer_names(network) == (
        ["InputLayer"] + block * 3 + (["DenseLayer", "BatchNormLayer"] + act) * 2 + ["DenseLayer", "BatchNormLayer"]
    )
    layers = lasagne.layers.get_all_layers(network)
    convs = [layer for layer in layers if isinstance(layer, binary_net.Conv2DLayer)]
    assert [layer.num_filters for layer in convs] == filters
    for layer in convs:
        assert layer.filter_size == (3, 3) and layer.stride == (1, 1) and layer.pad == (1, 1)
    assert [layer.output_shape[2] for layer in convs] == [32, 32, 16, 16, 8, 8]  # 'same' size, pools halve
    dense = [layer for layer in layers if isinstance(layer, binary_net.DenseLayer)]
    assert dense[0].input_shape == (None, filters[-1], 4, 4)
    assert [layer.W.get_value().shape for layer in dense] == [(flat, 1024), (1024, 1024), (1024, 10)]
    assert [str(layer.W_LR_scale) for layer in binary_layers(network)] == scales
    assert network.output_shape == (None, 10)
    assert not any(isinstance(layer, lasagne.layers.DropoutLayer) for layer in layers)
    if binarynet:
        assert all(not layer.stochastic and layer.nonlinearity is identity for layer in binary_layers(network))
        assert all((n.epsilon, n.alpha) == (1e-4, 0.1) for n in layers if isinstance(n, binary_net.BatchNormLayer))
    else:
        assert len(check_binaryconnect_batch_norms(network, alpha=0.1)) == 9


@pytest.mark.parametrize("script", [bn_mnist, bc_mnist, bn_cifar10], ids=lambda script: script.__name__)
def test_np_random_draws_in_construction_order(script):
    """After seed(1234): one randint(1, 2147462579) per Dropout layer (p = 0 included) and per binary layer, the
    latter followed by uniform(-1, 1) for W; BN, pooling and the sign units draw nothing (§1.10, trap 30)."""
    layers = lasagne.layers.get_all_layers(paper_network(script))
    after_build = np.random.randint(2**31)
    np.random.seed(1234)
    drawing = 0
    for layer in layers:
        if isinstance(layer, (lasagne.layers.DropoutLayer, binary_net.DenseLayer, binary_net.Conv2DLayer)):
            drawing += 1
            np.random.randint(1, binary_net.SEED_HIGH)  # its MRG stream's seed: a draw missing shifts every W below
        if layer.get_params(binary=True):
            W = layer.W.get_value()
            np.testing.assert_array_equal(W, np.random.uniform(-1, 1, W.shape).astype(f32))
    assert drawing == {bn_mnist: 4 + 4, bc_mnist: 4 + 4, bn_cifar10: 9}[script]
    assert np.random.randint(2**31) == after_build


# --- the data -----------------------------------------------------------------------------------------------------


@pytest.fixture
def small_mnist(tmp_path, monkeypatch):
    """A 60-image training file and a brighter 10-image test file, accepted by datasets.mnist."""
    rng = np.random.RandomState(0)
    images = {"train": rng.randint(0, 200, (60, 28, 28)), "test": rng.randint(100, 256, (10, 28, 28))}
    for which, (image_name, label_name) in mnist_data.FILES.items():
        for name, array in ((image_name, images[which]), (label_name, rng.randint(0, 10, len(images[which])))):
            path = write_idx(tmp_path / "mnist" / name, array)
            monkeypatch.setitem(mnist_data.CHECKSUMS, name, md5_of(path))
    # rows 50000.. of the real file are the validation set: here the file is small, so take rows of a longer one
    monkeypatch.setattr(bn_mnist, "MNIST", _ShiftedMNIST)
    monkeypatch.setattr(bc_mnist, "MNIST", _ShiftedMNIST)
    return tmp_path, images


class _ShiftedMNIST(mnist_data.MNIST):
    """datasets.mnist.MNIST with start/stop 50000.. moved to 40.., so that a 60-row file has a validation set."""

    def __init__(self, which_set, start=None, stop=None, **kwargs):
        if start is not None and start >= 50000:
            start, stop = start - 49960, stop - 49960
        super().__init__(which_set, start, stop, **kwargs)


def test_binarynet_mnist_inputs_are_2x_minus_1_and_targets_pm1(small_mnist):
    root, images = small_mnist
    sets = bn_mnist.load(bn_mnist.MNISTSettings.parse(SMALL + ["--data-path", str(root)]))
    scaled = {which: images[which].reshape(-1, 784).astype(f32) / f32(255) for which in images}
    for dataset, expected in zip(sets, (scaled["train"][:15], scaled["train"][40:48], scaled["test"][:6])):
        assert dataset.X.dtype == f32 and dataset.X.shape == (len(expected), 1, 28, 28)
        np.testing.assert_array_equal(dataset.X.reshape(len(expected), 784), 2 * expected - 1)
        assert dataset.y.dtype == f32 and sorted(set(dataset.y.ravel())) == [-1, 1]
        assert (dataset.y.sum(axis=1) == -8).all()


def test_binaryconnect_mnist_sets_are_centered_with_their_whole_file_mean_and_not_rescaled(small_mnist):
    """x/255 minus the per-pixel mean of the whole file, taken before slicing: train and valid share the training
    file's mean, test has its own (§2.4, trap 15); no 2x - 1; reshaped (N, 1, 28, 28)."""
    root, images = small_mnist
    sets = bc_mnist.load(bc_mnist.MNISTSettings.parse(SMALL + ["--data-path", str(root)]))
    scaled = {which: images[which].reshape(-1, 784) / 255.0 for which in images}
    centered = {which: scaled[which] - scaled[which].mean(axis=0) for which in images}
    for dataset, expected in zip(sets, (centered["train"][:15], centered["train"][40:48], centered["test"][:6])):
        assert dataset.X.dtype == f32 and dataset.X.shape == (len(expected), 1, 28, 28)
        np.testing.assert_allclose(dataset.X.reshape(len(expected), 784), expected, atol=1e-6)
        assert dataset.y.dtype == f32 and (dataset.y.sum(axis=1) == -8).all()
    assert np.abs(scaled["train"][:15].mean(axis=0) - scaled["train"].mean(axis=0)).max() > 0.05  # slice mean differs
    assert np.abs(scaled["test"].mean(axis=0) - scaled["train"].mean(axis=0)).max() > 0.2  # the test mean differs


@pytest.fixture
def small_cifar10(tmp_path, monkeypatch):
    """Five 10000-row training batches would be 150 MB: instead batches of 9100 rows, so that rows 45000.. exist."""
    rows = dict({name: 9100 for name in cifar10_data.FILES["train"]}, test_batch=30)
    written = write_cifar10(tmp_path, rows, np.random.RandomState(0))
    for name in written:
        monkeypatch.setitem(cifar10_data.CHECKSUMS, name, md5_of(tmp_path / "cifar10" / cifar10_data.FOLDER / name))
    train = np.concatenate([written[name][0] for name in cifar10_data.FILES["train"]])
    labels = sum((written[name][1] for name in cifar10_data.FILES["train"]), [])
    return tmp_path, train, labels, written["test_batch"]


def test_binarynet_cifar10_sets_are_scaled_to_pm1_images(small_cifar10):
    """x * (2/255) - 1 in float32, rows read channel-major (1024 R, 1024 G, 1024 B; trap 16), rows 0..N and
    45000.. of the training set (§2.2)."""
    root, train, labels, (test, test_labels) = small_cifar10
    sets = bn_cifar10.load(
        bn_cifar10.CIFAR10Settings.parse(
            [
                "--batch-size",
                "5",
                "--data-path",
                str(root),
                "--train-size",
                "70",
                "--valid-size",
                "15",
                "--test-size",
                "30",
            ]
        )
    )
    for dataset, raw, raw_labels in zip(
        sets, (train[:70], train[45000:45015], test), (labels[:70], labels[45000:45015], test_labels)
    ):
        assert dataset.X.dtype == f32 and dataset.X.shape == (len(raw), 3, 32, 32)
        np.testing.assert_array_equal(dataset.X, (raw.astype(f32) * f32(2.0 / 255.0) - f32(1)).reshape(-1, 3, 32, 32))
        assert dataset.y.tolist() == (2 * np.eye(10)[raw_labels] - 1).tolist()
    assert sets[0].X[1, 2, 31, 31] == f32(train[1, 3071]) * f32(2.0 / 255.0) - 1


@pytest.fixture
def small_whitened_cifar10(tmp_path):
    """A whitened set of 45100 training and 10 test rows (values used as they are)."""
    rng = np.random.RandomState(2)
    folder = cifar10_whitened.output_folder(tmp_path)
    sets = {}
    for which, rows in (("train", 45100), ("test", 10)):
        sets[which] = rng.normal(0, 3, (rows, 3072)).astype(f32), rng.randint(0, 10, (rows, 1)).astype(np.uint8)
        cifar10_whitened.save_arrays(folder / (which + ".npz"), X=sets[which][0], y=sets[which][1])
    square = np.eye(3072, dtype=f32)
    cifar10_whitened.save_arrays(folder / "preprocessor.npz", mean=np.zeros(3072, f32), P=square, inverse=square)
    return tmp_path, sets


def test_binaryconnect_cifar10_whitened_sets_are_used_as_they_are(small_whitened_cifar10):
    root, sets = small_whitened_cifar10
    loaded = bc_cifar10.load(
        bc_cifar10.CIFAR10Settings.parse(
            [
                "--batch-size",
                "5",
                "--data-path",
                str(root),
                "--train-size",
                "70",
                "--valid-size",
                "15",
                "--test-size",
                "10",
            ]
        )
    )
    (train_X, train_y), (test_X, test_y) = sets["train"], sets["test"]
    for dataset, rows, labels in zip(
        loaded, (train_X[:70], train_X[45000:45015], test_X), (train_y[:70], train_y[45000:45015], test_y)
    ):
        np.testing.assert_array_equal(dataset.X, rows.reshape(-1, 3, 32, 32))
        assert dataset.y.dtype == f32 and dataset.y.tolist() == (2 * np.eye(10)[labels.ravel()] - 1).tolist()
    (cifar10_whitened.output_folder(root) / "preprocessor.npz").unlink()
    with pytest.raises(UserError, match="preprocessor.npz is missing: run `make cifar10-whitened`"):
        bc_cifar10.load(bc_cifar10.CIFAR10Settings.parse(["--data-path", str(root)]))


def write_svhn_sets(folder, rng, pixels):
    """The three h5 files with 12, 5 and 7 rows; returns {set: (X, one-hot y)}."""
    written = {}
    for name, rows in (("splitted_train", 12), ("valid", 5), ("test", 7)):
        X = rng.randint(0, 256, (rows, 3072)).astype(f32) if pixels else rng.normal(0, 0.5, (rows, 3072)).astype(f32)
        written[name] = X, np.eye(10, dtype=f32)[rng.randint(0, 10, rows)]
        write_h5(svhn_data.h5_path(folder, name), *written[name])
    return written


def test_binarynet_svhn_sets_are_read_from_the_h5_files_and_scaled(tmp_path):
    written = write_svhn_sets(svhn_data.default_folder(str(tmp_path)), np.random.RandomState(1), pixels=True)
    sets = bn_svhn.load(
        bn_svhn.SVHNSettings.parse(
            [
                "--batch-size",
                "5",
                "--data-path",
                str(tmp_path),
                "--train-size",
                "10",
                "--valid-size",
                "5",
                "--test-size",
                "6",
            ]
        )
    )
    for dataset, (X, y), rows in zip(sets, written.values(), (10, 5, 6)):
        assert dataset.X.shape == (rows, 3, 32, 32) and dataset.X.dtype == f32
        np.testing.assert_array_equal(dataset.X, (X[:rows] * f32(2.0 / 255.0) - f32(1)).reshape(-1, 3, 32, 32))
        assert dataset.y.tolist() == (2 * y[:rows] - 1).tolist()


def test_binaryconnect_svhn_sets_come_from_SVHN_LOCAL_PATH_without_rescaling(tmp_path, monkeypatch):
    """SVHN(which_set, path=$SVHN_LOCAL_PATH): the preprocessed values unchanged (trap 21); errors name the command
    that writes those files, `make svhn-preprocess` (§2.6)."""
    written = write_svhn_sets(tmp_path / "local", np.random.RandomState(2), pixels=False)
    monkeypatch.setenv("SVHN_LOCAL_PATH", str(tmp_path / "local"))
    monkeypatch.setenv("PYLEARN2_DATA_PATH", str(tmp_path / "elsewhere"))
    sets = bc_svhn.load(bc_svhn.SVHNSettings.parse(SVHN_SMALL))
    for dataset, (X, y), rows in zip(sets, written.values(), (10, 5, 6)):
        np.testing.assert_array_equal(dataset.X, X[:rows].reshape(-1, 3, 32, 32))
        assert dataset.y.tolist() == (2 * y[:rows] - 1).tolist()
    with pytest.raises(UserError, match=r"has 12 rows, rows 0\.\.20 were asked for: .* run `make svhn-preprocess`"):
        bc_svhn.load(bc_svhn.SVHNSettings.parse(SVHN_SMALL + ["--train-size", "20"]))
    monkeypatch.delenv("SVHN_LOCAL_PATH")
    with pytest.raises(UserError, match="SVHN_LOCAL_PATH is not set: .*or pass --data-path"):
        bc_svhn.load(bc_svhn.SVHNSettings.parse(SVHN_SMALL))
