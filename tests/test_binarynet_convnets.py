"""The CIFAR-10 and SVHN ConvNet scripts (REPRODUCTION.md §2.2, §2.3; §4 traps 8, 9, 13, 16, 24).

The paper-size networks are only built (Lasagne layers, no Theano compile); one tiny CIFAR-10 run of the real
main() on synthetic batches in the real pickle format is compiled and trained; SVHN's loading is checked on
tiny h5 files in pylearn2's layout.
"""
import compat  # noqa: F401

import json

import lasagne
import numpy as np
import pytest
import theano.tensor as T
from theano.sandbox.rng_mrg import MRG_RandomStreams

from binarynet import binary_net, cifar10, convnet, experiment, svhn
from datasets import cifar10 as cifar10_data
from datasets import svhn as svhn_data
from test_cifar10_data import batch_bytes, md5_of

f32 = np.float32
# §2.2 / §2.3: per binary layer, input to output, the W_LR_scale values the originals print.
PAPER_W_LR_SCALE = {
    cifar10: ["28.035692", "39.191837", "48.0", "55.425625", "67.88225", "78.383675", "78.383675", "36.950417",
              "26.255157"],
    svhn: ["20.049938", "27.712812", "33.941124", "39.191837", "48.0", "55.425625", "58.42374", "36.950417",
           "26.255157"],
}
CONV_BLOCK = ["Conv2DLayer", "BatchNormLayer", "NonlinearityLayer",
              "Conv2DLayer", "MaxPool2DLayer", "BatchNormLayer", "NonlinearityLayer"]  # pool before BN (trap 8)
DENSE_BLOCK = ["DenseLayer", "BatchNormLayer", "NonlinearityLayer"]


def paper_network(script):
    np.random.seed(1234)
    return convnet.build_cnn(T.tensor4("inputs"), script.parse_args([]), *experiment.PAPER)


def binary_layers(network):
    return [layer for layer in lasagne.layers.get_all_layers(network) if layer.get_params(binary=True)]


@pytest.mark.parametrize("script, filters, flat", [(cifar10, [128, 128, 256, 256, 512, 512], 8192),
                                                   (svhn, [64, 64, 128, 128, 256, 256], 4096)])
def test_paper_architecture(script, filters, flat):
    network = paper_network(script)
    layers = lasagne.layers.get_all_layers(network)
    assert [type(layer).__name__ for layer in layers] == (
        ["InputLayer"] + CONV_BLOCK * 3 + DENSE_BLOCK * 2 + ["DenseLayer", "BatchNormLayer"])  # BN output (trap 9)
    convs = [layer for layer in layers if isinstance(layer, binary_net.Conv2DLayer)]
    assert [layer.num_filters for layer in convs] == filters
    for layer in convs:
        assert layer.filter_size == (3, 3) and layer.stride == (1, 1) and layer.pad == (1, 1)
        assert layer.b is not None and layer.nonlinearity is lasagne.nonlinearities.identity
    assert [layer.output_shape[2] for layer in convs] == [32, 32, 16, 16, 8, 8]  # 'same' size, pools halve
    for layer in binary_layers(network):
        assert layer.binary and not layer.stochastic and layer.H == 1.
    for layer in layers:
        if isinstance(layer, binary_net.BatchNormLayer):
            assert (layer.epsilon, layer.alpha) == (1e-4, .1)
    dense = [layer for layer in layers if isinstance(layer, binary_net.DenseLayer)]
    assert [layer.W.get_value().shape for layer in dense] == [(flat, 1024), (1024, 1024), (1024, 10)]
    assert dense[0].input_shape == (None, filters[-1], 4, 4)  # flattened channel-major (trap 24)
    assert network.output_shape == (None, 10)
    assert not any(isinstance(layer, lasagne.layers.DropoutLayer) for layer in layers)


@pytest.mark.parametrize("script", [cifar10, svhn])
def test_paper_W_LR_scale_values(script):
    """float32(1/sqrt(1.5/(fan_in+fan_out))) rounded once, as the original computes it (§1.3, §2.2, §2.3)."""
    scales = [layer.W_LR_scale for layer in binary_layers(paper_network(script))]
    assert [str(scale) for scale in scales] == PAPER_W_LR_SCALE[script]
    assert all(scale.dtype == f32 for scale in scales)


def test_np_random_draws_one_seed_then_the_weights_per_binary_layer():
    """§1.10: after seed(1234), each binary layer draws randint(1, 2147462579) for its MRG stream, then W from
    uniform(-1, 1); BN, pooling and the sign units draw nothing."""
    layers = binary_layers(paper_network(cifar10))
    np.random.seed(1234)
    for layer in layers:
        seed = np.random.randint(1, binary_net.SEED_HIGH)
        np.testing.assert_array_equal(layer._srng.rstate, MRG_RandomStreams(seed).rstate)
        W = layer.W.get_value()
        np.testing.assert_array_equal(W, np.random.uniform(-1, 1, W.shape).astype(f32))
    after_replay = np.random.randint(2 ** 31)
    paper_network(cifar10)
    assert np.random.randint(2 ** 31) == after_replay


@pytest.mark.parametrize("script, expected", [
    (cifar10, [("batch_size", 50), ("alpha", .1), ("epsilon", 1e-4),
               ("activation", "binary_net.binary_tanh_unit"), ("binary", True), ("stochastic", False), ("H", 1.),
               ("W_LR_scale", "Glorot"), ("num_epochs", 500), ("LR_start", .001), ("LR_fin", 3e-7),
               ("LR_decay", 0.9839074353050999), ("train_set_size", 45000), ("shuffle_parts", 1)]),
    (svhn, [("batch_size", 50), ("alpha", .1), ("epsilon", 1e-4),
            ("activation", "binary_net.binary_tanh_unit"), ("binary", True), ("stochastic", False), ("H", 1.),
            ("W_LR_scale", "Glorot"), ("num_epochs", 200), ("LR_start", .001), ("LR_fin", 1e-6),
            ("LR_decay", 0.9660508789898133), ("shuffle_parts", 1)]),
])
def test_defaults_are_the_paper_settings_printed_in_the_original_order(script, expected, monkeypatch):
    calls = []
    monkeypatch.setattr(experiment, "run", lambda *args, **kwargs: calls.append(args) or 0)
    assert script.main([]) == 0
    args, hyperparameters, LR_decay, loading, _, building, _ = calls[0]
    assert hyperparameters == expected and LR_decay == dict(expected)["LR_decay"]
    assert (loading, building) == ({cifar10: "Loading CIFAR-10 dataset...", svhn: "Loading SVHN dataset"}[script],
                                   "Building the CNN...")
    assert (args.seed, args.batch_size, args.filters, args.num_units) == (1234, 50, list(script.FILTERS), 1024)
    assert script.SIZES == {cifar10: (45000, 5000, 10000), svhn: (598388, 6000, 26032)}[script]


def test_sizes_beyond_the_paper_sets_are_refused(capsys):
    with pytest.raises(SystemExit):
        cifar10.parse_args(["--train-size", "45001"])
    assert "sizes must be in 1..45000 (train), 1..5000 (valid), 1..10000 (test)" in capsys.readouterr().err


# --- CIFAR-10 on synthetic batches ------------------------------------------------------------------------------

@pytest.fixture
def small_cifar10(tmp_path, monkeypatch):
    """Five 20-row training batches and a 10-row test batch; the script's split moves to 80/20/10 rows."""
    rng = np.random.RandomState(0)
    folder = tmp_path / "cifar10" / cifar10_data.FOLDER
    folder.mkdir(parents=True)
    data, labels, checksums = {}, {}, {}
    for name in cifar10_data.FILES["train"] + cifar10_data.FILES["test"]:
        rows = 10 if name == "test_batch" else 20
        data[name] = rng.randint(0, 256, (rows, 3072)).astype(np.uint8)
        data[name][0, :2] = (0, 255)  # the extremes map to -1 and +1
        labels[name] = rng.randint(0, 10, rows).tolist()
        (folder / name).write_bytes(batch_bytes(data[name], labels[name], name))
        checksums[name] = md5_of(folder / name)
    monkeypatch.setattr(cifar10_data, "CHECKSUMS", checksums)
    monkeypatch.setattr(cifar10, "SIZES", experiment.SetSizes(80, 20, 10))
    train = np.concatenate([data[name] for name in cifar10_data.FILES["train"]])
    train_labels = sum((labels[name] for name in cifar10_data.FILES["train"]), [])
    return tmp_path, train, train_labels, data["test_batch"], labels["test_batch"]


def test_cifar10_sets_are_scaled_to_pm1_images_with_pm1_targets(small_cifar10):
    root, train, train_labels, test, test_labels = small_cifar10
    args = cifar10.parse_args(["--data-path", str(root), "--train-size", "70", "--valid-size", "15"])
    X_train, y_train, X_val, y_val, X_test, y_test = experiment.load_splits(cifar10.load_set, args, 80)
    for X, y, raw, raw_labels in ((X_train, y_train, train[:70], train_labels[:70]),
                                  (X_val, y_val, train[80:95], train_labels[80:95]),
                                  (X_test, y_test, test, test_labels)):
        assert X.dtype == f32 and X.shape == (len(raw), 3, 32, 32)
        # x * (2/255) - 1 in float32, the rows read channel-major (1024 R, 1024 G, 1024 B; trap 16)
        np.testing.assert_array_equal(X, (raw.astype(f32) * f32(2. / 255.) - f32(1)).reshape(-1, 3, 32, 32))
        assert y.dtype == f32 and y.tolist() == (2 * np.eye(10)[raw_labels] - 1).tolist()
    assert X_train[0, 0, 0, :2].tolist() == [-1, 1]
    assert X_train[1, 2, 31, 31] == f32(train[1, 3071]) * f32(2. / 255.) - 1


def test_cifar10_script_trains_and_prints_like_the_original(small_cifar10, tmp_path, capsys):
    root = small_cifar10[0]
    output_dir = tmp_path / "run"
    status = cifar10.main(["--data-path", str(root), "--output-dir", str(output_dir), "--num-epochs", "2",
                           "--batch-size", "10", "--filters", "8", "8", "8", "8", "8", "8", "--num-units", "16"])
    assert status == 0
    lines = capsys.readouterr().out.splitlines()
    head = lines[:lines.index("Loading CIFAR-10 dataset...")]
    assert [line.split(" = ")[0] for line in head] == [
        "batch_size", "alpha", "epsilon", "activation", "binary", "stochastic", "H", "W_LR_scale", "num_epochs",
        "LR_start", "LR_fin", "LR_decay", "train_set_size", "shuffle_parts"]
    assert "train_set_size = 80" in head and "num_epochs = 2" in head
    building = lines[lines.index("Building the CNN...") + 1:lines.index("Training...")]
    assert [line.split(" = ")[0] for line in building] == ["W_LR_scale", "H"] * 9
    assert building[0] == "W_LR_scale = %s" % f32(1 / np.sqrt(1.5 / (9 * 3 + 9 * 8)))  # first conv: 3 -> 8 maps
    assert set(building[1::2]) == {"H = 1.0"}
    epochs = lines[lines.index("Training...") + 1:]
    assert len(epochs) == 2 * 9 and epochs[0].startswith("Epoch 1 of 2 took ") and epochs[9].startswith("Epoch 2 of 2")
    log = [json.loads(line) for line in (output_dir / "log.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in log] == [1, 2]
    assert epochs[4] == "  %-31s%r%%" % ("validation error rate:", log[0]["validation_error_rate"])
    assert log[1]["LR"] == pytest.approx(.001 * (3e-7 / .001) ** .5)
    assert sorted(path.name for path in output_dir.iterdir()) == ["checkpoint.npz", "log.jsonl"]  # no parameters


# --- SVHN on synthetic h5 files ---------------------------------------------------------------------------------

def test_svhn_sets_are_read_from_the_h5_files_and_scaled(tmp_path, write_h5):
    folder = svhn_data.default_folder(str(tmp_path))
    rng = np.random.RandomState(1)
    written = {}
    for name, rows in zip(svhn.SETS, (12, 5, 7)):
        X = rng.randint(0, 256, (rows, 3072)).astype(f32)
        y = np.eye(10, dtype=f32)[rng.randint(0, 10, rows)]
        write_h5(svhn_data.h5_path(folder, name), X, y)
        written[name] = X, y
    args = svhn.parse_args(["--data-path", str(tmp_path), "--train-size", "10", "--valid-size", "5",
                            "--test-size", "6"])
    loaded = svhn.load(args)
    for (name, (X, y)), rows, k in zip(written.items(), (10, 5, 6), (0, 2, 4)):
        assert loaded[k].shape == (rows, 3, 32, 32) and loaded[k].dtype == f32
        np.testing.assert_array_equal(loaded[k], (X[:rows] * f32(2. / 255.) - f32(1)).reshape(-1, 3, 32, 32))
        assert loaded[k + 1].dtype == f32 and loaded[k + 1].tolist() == (2 * y[:rows] - 1).tolist()
