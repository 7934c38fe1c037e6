"""BinaryConnect's MNIST, CIFAR-10 and SVHN scripts (REPRODUCTION.md §2.4-§2.6; §4 traps 1, 7, 15, 21, 29, 30).

The paper-size networks are only built (Lasagne layers, no Theano compile), the data loading is checked on
synthetic files in the real formats, and one tiny MNIST run of the real main() on the real MNIST is compiled
and trained.
"""
import compat  # noqa: F401

import json

import lasagne
import numpy as np
import pytest
import theano.tensor as T
from lasagne.nonlinearities import identity, rectify
from theano.sandbox.rng_mrg import MRG_RandomStreams

from binaryconnect import batch_norm, cifar10, mnist, svhn
from binarynet import binary_net, experiment
from binarynet import cifar10 as binarynet_cifar10
from binarynet import mnist as binarynet_mnist
from binarynet import svhn as binarynet_svhn
from datasets import cifar10_whitened
from datasets import mnist as mnist_data
from datasets import svhn as svhn_data
from datasets.files import Checksum, DatasetError, file_digest

f32 = np.float32


def captured_run(script, monkeypatch, argv=()):
    """(positional, keyword) arguments the script's main() hands to experiment.run, which is not run."""
    calls = []
    monkeypatch.setattr(experiment, "run", lambda *args, **kwargs: calls.append((args, kwargs)) or 0)
    assert script.main(list(argv)) == 0
    (call,) = calls
    return call


def paper_network(script, monkeypatch):
    """The network the script builds with no flags, after np.random.seed(1234) as the run does."""
    (args, *_, build), _ = captured_run(script, monkeypatch)
    np.random.seed(args.seed)
    return build(T.tensor4("inputs"))


def binary_layers(network):
    return [layer for layer in lasagne.layers.get_all_layers(network) if layer.get_params(binary=True)]


def check_batch_norms(network, alpha):
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
        assert layer.binary and layer.stochastic and layer.H == 1.
        assert layer.nonlinearity is identity and layer.b is not None
    return norms


# --- (a) the paper-size networks ---------------------------------------------------------------------------------

def test_mnist_paper_architecture(monkeypatch):
    """Input -> Dropout(0) -> 3 x [Dense(2048) -> BN(ReLU) -> Dropout(0)] -> Dense(10) -> BN(identity) (§2.4)."""
    network = paper_network(mnist, monkeypatch)
    layers = lasagne.layers.get_all_layers(network)
    hidden = ["DenseLayer", "BatchNormLayer", "DropoutLayer"]
    assert [type(layer).__name__ for layer in layers] == (
        ["InputLayer", "DropoutLayer"] + hidden * 3 + ["DenseLayer", "BatchNormLayer"])
    dropouts = [layer for layer in layers if isinstance(layer, lasagne.layers.DropoutLayer)]
    assert len(dropouts) == 4 and all(layer.p == 0 for layer in dropouts)  # no-ops that still draw (trap 30)
    check_batch_norms(network, alpha=.15)
    dense = binary_layers(network)
    assert [layer.W.get_value().shape for layer in dense] == [(784, 2048), (2048, 2048), (2048, 2048), (2048, 10)]
    scales = [layer.W_LR_scale for layer in dense]
    assert all(scale.dtype == f32 for scale in scales)
    assert scales == [f32(43.451122), f32(52.255783), f32(52.255783), f32(37.04052)]
    assert [str(scale) for scale in scales] == ["43.451122", "52.255783", "52.255783", "37.04052"]


def test_mnist_layers_take_W_LR_scale_from_the_layer_default(monkeypatch):
    """The MNIST script passes no W_LR_scale: a different layer default would change every layer (trap 29)."""
    monkeypatch.setattr(binary_net.DenseLayer.__init__, "__defaults__", (True, True, 1., 7.))
    assert [layer.W_LR_scale for layer in binary_layers(paper_network(mnist, monkeypatch))] == [7.] * 4


@pytest.mark.parametrize("script, filters, flat", [(cifar10, [128, 128, 256, 256, 512, 512], 8192),
                                                   (svhn, [64, 64, 128, 128, 256, 256], 4096)])
def test_convnet_paper_architecture(script, filters, flat, monkeypatch):
    """BinaryNet's ConvNet topology with BN(ReLU) in place of BN -> sign and stochastic weights (§2.5, §2.6):
    pooling before BN (trap 8), channel-major flatten to 8192 / 4096 (trap 24)."""
    network = paper_network(script, monkeypatch)
    layers = lasagne.layers.get_all_layers(network)
    block = ["Conv2DLayer", "BatchNormLayer", "Conv2DLayer", "MaxPool2DLayer", "BatchNormLayer"]
    assert [type(layer).__name__ for layer in layers] == (
        ["InputLayer"] + block * 3 + ["DenseLayer", "BatchNormLayer"] * 3)
    convs = [layer for layer in layers if isinstance(layer, binary_net.Conv2DLayer)]
    assert [layer.num_filters for layer in convs] == filters
    assert all(layer.filter_size == (3, 3) and layer.pad == (1, 1) for layer in convs)
    assert len(check_batch_norms(network, alpha=.1)) == 9
    dense = [layer for layer in layers if isinstance(layer, binary_net.DenseLayer)]
    assert dense[0].input_shape == (None, filters[-1], 4, 4)
    assert [layer.W.get_value().shape for layer in dense] == [(flat, 1024), (1024, 1024), (1024, 10)]
    expected = {cifar10: ["28.035692", "39.191837", "48.0", "55.425625", "67.88225", "78.383675", "78.383675",
                          "36.950417", "26.255157"],
                svhn: ["20.049938", "27.712812", "33.941124", "39.191837", "48.0", "55.425625", "58.42374",
                       "36.950417", "26.255157"]}[script]  # as BinaryNet's (§2.2, §2.3)
    assert [str(layer.W_LR_scale) for layer in binary_layers(network)] == expected


@pytest.mark.parametrize("script", [mnist, cifar10])
def test_np_random_draws_in_construction_order(script, monkeypatch):
    """After seed(1234): one randint(1, 2147462579) per Dropout layer (p = 0 included) and per binary layer, the
    latter followed by uniform(-1, 1) for W; BN and pooling draw nothing (§1.10, trap 30)."""
    layers = lasagne.layers.get_all_layers(paper_network(script, monkeypatch))
    after_build = np.random.randint(2 ** 31)
    np.random.seed(1234)
    drawing = 0
    for layer in layers:
        if isinstance(layer, (lasagne.layers.DropoutLayer, binary_net.DenseLayer, binary_net.Conv2DLayer)):
            drawing += 1
            seed = np.random.randint(1, binary_net.SEED_HIGH)
            np.testing.assert_array_equal(layer._srng.rstate, MRG_RandomStreams(seed).rstate)
        if layer.get_params(binary=True):
            W = layer.W.get_value()
            np.testing.assert_array_equal(W, np.random.uniform(-1, 1, W.shape).astype(f32))
    assert drawing == {mnist: 4 + 4, cifar10: 9}[script]
    assert np.random.randint(2 ** 31) == after_build


# --- (b) the printed settings -------------------------------------------------------------------------------------

PRINTED = {
    mnist: ["batch_size = 100", "alpha = 0.15", "epsilon = 0.0001", "num_units = 2048", "n_hidden_layers = 3",
            "num_epochs = 250", "dropout_in = 0.0", "dropout_hidden = 0.0", "binary = True", "stochastic = True",
            "H = 1.0", "W_LR_scale = Glorot", "LR_start = 0.001", "LR_fin = 3e-06", "LR_decay = 0.9770313182155517",
            "Loading MNIST dataset..."],
    cifar10: ["batch_size = 50", "alpha = 0.1", "epsilon = 0.0001", "num_epochs = 500", "binary = True",
              "stochastic = True", "H = 1.0", "W_LR_scale = Glorot", "LR_start = 0.003", "LR_fin = 2e-06",
              "LR_decay = 0.9854800059995851", "train_set_size = 45000", "Loading CIFAR-10 dataset..."],
    svhn: ["batch_size = 50", "alpha = 0.1", "epsilon = 0.0001", "num_epochs = 200", "binary = True",
           "stochastic = True", "H = 1.0", "W_LR_scale = Glorot", "LR_start = 0.01", "LR_fin = 3e-06",
           "LR_decay = 0.9602528532330731", "Loading SVHN dataset"],
}


@pytest.mark.parametrize("script, missing", [
    (mnist, "train-images-idx3-ubyte is missing: run `make download-mnist`"),
    (cifar10, "preprocessor.npz is missing: run `make cifar10-whitened`"),
    (svhn, "missing preprocessed SVHN file(s) "),
])
def test_defaults_print_the_paper_settings_in_the_original_order(script, missing, tmp_path, monkeypatch, capsys):
    """No flags but an empty data folder: the real run prints the §2.4-§2.6 settings and the loading message,
    then stops with an error line naming the command that makes the missing data."""
    monkeypatch.setenv("PYLEARN2_DATA_PATH", str(tmp_path))
    monkeypatch.setenv("SVHN_LOCAL_PATH", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert script.main([]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == PRINTED[script]
    assert err.startswith("error: ") and missing in err and err.count("\n") == 1
    if script is svhn:
        assert "run `make svhn-preprocess`" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("script, building", [(mnist, "Building the MLP..."), (cifar10, "Building the CNN..."),
                                              (svhn, "Building the CNN...")])
def test_runs_as_binary_connect(script, building, monkeypatch):
    """The building message, BinaryConnect's loop, no parameter file (§1.11), and the paper's seed and output."""
    (args, hyperparameters, LR_decay, _, _, message, _), kwargs = captured_run(script, monkeypatch)
    assert message == building and kwargs.get("save_path") is None
    assert kwargs["method"].train is experiment.BINARY_CONNECT.train
    assert LR_decay == dict(hyperparameters)["LR_decay"] == (args.LR_fin / args.LR_start) ** (1 / args.num_epochs)
    assert args.seed == 1234 and args.output_dir == "runs/binaryconnect-" + script.__name__.split(".")[1]


# --- (c) the data -------------------------------------------------------------------------------------------------

@pytest.fixture
def small_mnist(tmp_path, write_idx, monkeypatch):
    """A 30-image training file and a brighter 10-image test file; the script's split moves to 20/10/10 rows."""
    rng = np.random.RandomState(0)
    images = {"train": rng.randint(0, 200, (30, 28, 28)), "test": rng.randint(100, 256, (10, 28, 28))}
    for which, (image_name, label_name) in mnist_data.FILES.items():
        for name, array in ((image_name, images[which]), (label_name, rng.randint(0, 10, len(images[which])))):
            path = write_idx(tmp_path / "mnist" / name, array)
            monkeypatch.setitem(mnist_data.CHECKSUMS, name, Checksum("sha256", file_digest(path, "sha256")))
    monkeypatch.setattr(binarynet_mnist, "SIZES", experiment.SetSizes(20, 10, 10))
    return tmp_path, images


def test_mnist_sets_are_centered_with_their_whole_file_mean_and_not_rescaled(small_mnist):
    """x/255 minus the per-pixel mean of the whole file, taken before slicing: train and valid share the training
    file's mean, test has its own (§2.4, trap 15); no 2x - 1; reshaped (N, 1, 28, 28)."""
    root, images = small_mnist
    args = mnist.parse_args(["--data-path", str(root), "--train-size", "15", "--valid-size", "8",
                             "--test-size", "6"])
    X_train, y_train, X_val, y_val, X_test, y_test = experiment.load_splits(mnist.load_set, args, 20)
    scaled = {which: images[which].reshape(-1, 784) / 255. for which in images}
    centered = {which: scaled[which] - scaled[which].mean(axis=0) for which in images}
    for X, expected in ((X_train, centered["train"][:15]), (X_val, centered["train"][20:28]),
                        (X_test, centered["test"][:6])):
        assert X.dtype == f32 and X.shape == (len(expected), 1, 28, 28)
        np.testing.assert_allclose(X.reshape(len(X), 784), expected, atol=1e-6)
    assert np.abs(scaled["train"][:15].mean(axis=0) - scaled["train"].mean(axis=0)).max() > .05  # slice mean differs
    assert np.abs(scaled["test"].mean(axis=0) - scaled["train"].mean(axis=0)).max() > .2  # the test mean differs
    for y in (y_train, y_val, y_test):
        assert y.dtype == f32 and y.shape[1] == 10 and sorted(set(y.ravel())) == [-1, 1] and (y.sum(axis=1) == -8).all()


@pytest.fixture
def small_whitened_cifar10(tmp_path, monkeypatch):
    """A whitened set of 100 training and 10 test rows; the script's split moves to 80/20/10 rows."""
    rng = np.random.RandomState(2)
    folder = cifar10_whitened.output_folder(tmp_path)
    sets = {}
    for which, rows in (("train", 100), ("test", 10)):
        sets[which] = rng.normal(0, 3, (rows, 3072)).astype(f32), rng.randint(0, 10, (rows, 1)).astype(np.uint8)
        cifar10_whitened.save_arrays(folder / (which + ".npz"), X=sets[which][0], y=sets[which][1])
    square = np.eye(3072, dtype=f32)
    cifar10_whitened.save_arrays(folder / "preprocessor.npz", mean=np.zeros(3072, f32), P=square, inverse=square)
    monkeypatch.setattr(binarynet_cifar10, "SIZES", experiment.SetSizes(80, 20, 10))
    return tmp_path, sets


def test_cifar10_whitened_sets_are_used_as_they_are(small_whitened_cifar10):
    """Rows 0..train_size and 45000.. (here 80..) of train.npz, test.npz's first rows: values unchanged, rows read
    channel-major as (N, 3, 32, 32), targets +-1 one-hot (§2.5)."""
    root, sets = small_whitened_cifar10
    args = cifar10.parse_args(["--data-path", str(root), "--train-size", "70", "--valid-size", "15"])
    X_train, y_train, X_val, y_val, X_test, y_test = cifar10.load(args)
    (train_X, train_y), (test_X, test_y) = sets["train"], sets["test"]
    for X, y, rows, labels in ((X_train, y_train, train_X[:70], train_y[:70]),
                               (X_val, y_val, train_X[80:95], train_y[80:95]), (X_test, y_test, test_X, test_y)):
        assert X.dtype == f32 and X.shape == (len(rows), 3, 32, 32)
        np.testing.assert_array_equal(X, rows.reshape(-1, 3, 32, 32))
        assert X[0, 2, 31, 31] == rows[0, 3071]
        assert y.dtype == f32 and y.tolist() == (2 * np.eye(10)[labels.ravel()] - 1).tolist()


def test_cifar10_needs_the_preprocessor_file_like_the_original(small_whitened_cifar10):
    root, _ = small_whitened_cifar10
    (cifar10_whitened.output_folder(root) / "preprocessor.npz").unlink()
    with pytest.raises(DatasetError, match="preprocessor.npz is missing: run `make cifar10-whitened`"):
        cifar10.load(cifar10.parse_args(["--data-path", str(root), "--train-size", "70", "--valid-size", "15"]))


def write_svhn_sets(write_h5, folder, rng):
    """GCN + LCN-like values (small, signed) in the three h5 files; returns {set: (X, one-hot y)}."""
    written = {name: (rng.normal(0, .5, (rows, 3072)).astype(f32), np.eye(10, dtype=f32)[rng.randint(0, 10, rows)])
               for name, rows in zip(binarynet_svhn.SETS, (12, 5, 7))}
    for name, (X, y) in written.items():
        write_h5(svhn_data.h5_path(folder, name), X, y)
    return written


def test_svhn_sets_are_read_from_SVHN_LOCAL_PATH_without_rescaling(tmp_path, monkeypatch, write_h5):
    """SVHN(which_set, path=$SVHN_LOCAL_PATH): the preprocessed values unchanged (trap 21), (N, 3, 32, 32),
    targets 2y - 1 (§2.6); each set's first --*-size rows."""
    written = write_svhn_sets(write_h5, tmp_path / "local", np.random.RandomState(1))
    monkeypatch.setenv("SVHN_LOCAL_PATH", str(tmp_path / "local"))
    monkeypatch.setenv("PYLEARN2_DATA_PATH", str(tmp_path / "elsewhere"))
    loaded = svhn.load(svhn.parse_args(["--train-size", "10", "--valid-size", "5", "--test-size", "6"]))
    for (X, y), rows, k in zip(written.values(), (10, 5, 6), (0, 2, 4)):
        assert loaded[k].dtype == f32 and loaded[k].shape == (rows, 3, 32, 32)
        np.testing.assert_array_equal(loaded[k], X[:rows].reshape(-1, 3, 32, 32))
        assert loaded[k + 1].dtype == f32 and loaded[k + 1].tolist() == (2 * y[:rows] - 1).tolist()


def test_svhn_missing_files_name_make_svhn_preprocess(tmp_path, monkeypatch, write_h5):
    write_svhn_sets(write_h5, tmp_path, np.random.RandomState(3))
    (tmp_path / "h5" / "valid_32x32.h5").unlink()
    (tmp_path / "h5" / "test_32x32.h5").unlink()
    args = svhn.parse_args(["--data-path", str(tmp_path)])
    with pytest.raises(DatasetError) as error:
        svhn.load(args)
    assert str(error.value) == (
        "missing preprocessed SVHN file(s) %s, %s: run `make svhn-preprocess` (GCN + LCN of the SVHN h5 files into "
        "$SVHN_LOCAL_PATH/h5/)" % (tmp_path / "h5" / "valid_32x32.h5", tmp_path / "h5" / "test_32x32.h5"))
    monkeypatch.delenv("SVHN_LOCAL_PATH", raising=False)
    with pytest.raises(DatasetError, match="SVHN_LOCAL_PATH is not set: .*or pass --data-path"):
        svhn.load(svhn.parse_args([]))


# --- (d) one small run on the real MNIST ------------------------------------------------------------------------

def test_mnist_script_learns_and_writes_only_its_log_and_checkpoint(real_mnist_root, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status = mnist.main(["--num-epochs", "2", "--num-units", "64", "--n-hidden-layers", "1", "--train-size", "2000",
                         "--valid-size", "500", "--test-size", "500", "--data-path", str(real_mnist_root),
                         "--output-dir", "run"])
    assert status == 0
    lines = capsys.readouterr().out.splitlines()
    head = lines[:lines.index("Loading MNIST dataset...")]
    assert [line.split(" = ")[0] for line in head] == [line.split(" = ")[0] for line in PRINTED[mnist][:-1]]
    assert "num_units = 64" in head and "n_hidden_layers = 1" in head and "num_epochs = 2" in head
    assert lines[len(head) + 1] == "Building the MLP..."
    assert lines[len(head) + 2:lines.index("Training...")] == [
        "W_LR_scale = %s" % f32(1 / np.sqrt(1.5 / (784 + 64))), "H = 1.0",
        "W_LR_scale = %s" % f32(1 / np.sqrt(1.5 / (64 + 10))), "H = 1.0"]
    epochs = lines[lines.index("Training...") + 1:]
    assert len(epochs) == 2 * 9 and epochs[0].startswith("Epoch 1 of 2 took ") and epochs[9].startswith("Epoch 2 of 2")
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in log] == [1, 2]
    assert epochs[1] == "  %-31s%r" % ("LR:", log[0]["LR"]) and log[0]["LR"] == .001
    assert epochs[4] == "  %-31s%r%%" % ("validation error rate:", log[0]["validation_error_rate"])
    assert log[0]["validation_error_rate"] < 50, "chance is 90 %"
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == ["checkpoint.npz", "log.jsonl"]
    assert [path.name for path in tmp_path.iterdir()] == ["run"]  # no parameters saved anywhere (§1.11)
