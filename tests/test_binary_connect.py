"""BinaryConnect (docs/REPRODUCTION.md §1.8 second part, §1.10, §2.4-§2.6) against NumPy reference values."""

import compat  # noqa: F401

import lasagne
import numpy as np
import pytest
import theano
import theano.tensor as T
from conftest import adam_first_step
from lasagne.layers import InputLayer, get_output
from lasagne.nonlinearities import identity, rectify

from binaryconnect import batch_norm, binary_connect
from binarynet import binary_net

f32 = np.float32


def relu(v):
    """Lasagne 0.1's rectify, 0.5 * (x + |x|), has these values (its gradient at 0 is 0.5: trap 38)."""
    return np.maximum(v, 0)


def test_shared_blocks_are_binary_nets_own_objects():
    """One implementation for both packages (§1.1, §1.3, §1.4): re-exports, not copies that could drift."""
    for name in ("hard_sigmoid", "binarization", "DenseLayer", "Conv2DLayer", "compute_grads", "clipping_scaling"):
        assert getattr(binary_connect, name) is getattr(binary_net, name), name
    assert binary_connect.BatchNormLayer is batch_norm.BatchNormLayer
    assert binary_connect.BatchNormLayer is not binary_net.BatchNormLayer


@pytest.mark.parametrize(
    "n_in, n_out, expected", [(784, 2048, 43.451122), (2048, 2048, 52.255783), (2048, 10, 37.04052)]
)
def test_mnist_W_LR_scale_comes_from_the_layer_default(n_in, n_out, expected):
    """The BinaryConnect MNIST script passes no W_LR_scale: the layer default "Glorot" applies (§2.4, trap 29)."""
    layer = binary_connect.DenseLayer(InputLayer((None, n_in)), n_out, binary=True, stochastic=True, H=1.0)
    assert layer.W_LR_scale.dtype == f32
    assert layer.W_LR_scale == f32(expected)


def test_batch_norm_parameters_and_defaults():
    dense = binary_connect.BatchNormLayer(InputLayer((None, 3)))
    conv = binary_connect.BatchNormLayer(InputLayer((None, 2, 5, 5)), epsilon=1e-4, alpha=0.1, nonlinearity=rectify)
    assert (dense.epsilon, dense.alpha, dense.nonlinearity) == (0.01, 0.5, identity)
    assert (conv.epsilon, conv.alpha, conv.nonlinearity) == (1e-4, 0.1, rectify)
    for layer, shape in ((dense, (1, 3)), (conv, (1, 2, 1, 1))):
        assert layer.get_params() == [layer.mean, layer.std, layer.beta, layer.gamma]
        assert [p.get_value().shape for p in layer.get_params()] == [shape] * 4
        assert [p.get_value().ravel()[0] for p in layer.get_params()] == [0, 1, 0, 1]
        assert [layer.params[p] for p in layer.get_params()] == [
            set(),
            set(),
            {"trainable", "regularizable"},
            {"trainable"},
        ]
        assert layer.output_shape == layer.input_shape


def test_batch_norm_train_and_test_modes_and_running_averages():
    """Train: batch mean and biased std; epsilon on the std; the ReLU inside. Test: running mean and std,
    which move by alpha towards the batch's mean and std, without epsilon (§1.8, trap 7)."""
    rng = np.random.RandomState(0)
    x2, x4 = T.matrix("x2"), T.tensor4("x4")
    dense = binary_connect.BatchNormLayer(InputLayer((None, 3), x2), epsilon=0.5, alpha=0.15, nonlinearity=rectify)
    conv = binary_connect.BatchNormLayer(InputLayer((None, 2, 3, 3), x4))  # defaults: epsilon .01, alpha .5, identity
    for layer in (dense, conv):
        shape = layer.mean.get_value().shape
        for param, low, high in zip(layer.get_params(), (-1, 0.5, -1, 0.5), (1, 2, 1, 2)):
            param.set_value(rng.uniform(low, high, shape).astype(f32))
    before = {layer: [p.get_value() for p in layer.get_params()] for layer in (dense, conv)}
    f = theano.function(
        [x2, x4],
        [
            get_output(dense),
            get_output(dense, deterministic=True),
            get_output(conv),
            get_output(conv, deterministic=True),
        ],
    )
    X2 = rng.normal(1, 3, (6, 3)).astype(f32)
    X4 = rng.normal(-1, 2, (4, 2, 3, 3)).astype(f32)
    dense_train, dense_test, conv_train, conv_test = (np.asarray(v) for v in f(X2, X4))

    for layer, X, train_out, test_out, nonlinearity in (
        (dense, X2, dense_train, dense_test, relu),
        (conv, X4, conv_train, conv_test, lambda v: v),
    ):
        mean, std, beta, gamma = before[layer]
        axes = layer.axes
        mu, s = X.mean(axis=axes, keepdims=True), X.std(axis=axes, keepdims=True)  # biased std
        eps, alpha = layer.epsilon, layer.alpha
        np.testing.assert_allclose(train_out, nonlinearity((X - mu) * gamma / (s + eps) + beta), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            test_out, nonlinearity((X - mean) * gamma / (std + eps) + beta), rtol=1e-5, atol=1e-5
        )
        np.testing.assert_allclose(layer.mean.get_value(), (1 - alpha) * mean + alpha * mu, rtol=1e-5)
        np.testing.assert_allclose(layer.std.get_value(), (1 - alpha) * std + alpha * s, rtol=1e-5)
    assert (dense_train == 0).any() and (dense_train > 0).any(), "the ReLU should cut some outputs"


def test_stochastic_weights_sampled_in_training_real_at_test_time():
    """Training samples Wb = +-H with P(+H) = hard_sigmoid(W / H), afresh on each call; the test-time
    forward pass uses the real-valued W (§1.1, trap 1)."""
    levels = np.array([-1, -0.5, 0, 0.5, 0.9, 1], dtype=f32)
    x = T.matrix("x")
    layer = binary_connect.DenseLayer(InputLayer((None, len(levels)), x), 4000, stochastic=True, nonlinearity=identity)
    layer.W.set_value(np.repeat(levels[:, None], 4000, axis=1))
    layer.b.set_value(np.linspace(-1, 1, 4000).astype(f32))
    train_out = get_output(layer, deterministic=False)
    Wb = layer.Wb
    test_out = get_output(layer, deterministic=True)
    assert layer.Wb is layer.W
    f = theano.function([x], [train_out, Wb, test_out])

    X = np.random.RandomState(1).uniform(-1, 1, (2, len(levels))).astype(f32)
    first, Wb1, test1 = (np.asarray(v) for v in f(X))  # GPU outputs may come back as GpuArrays
    _, Wb2, test2 = (np.asarray(v) for v in f(X))
    assert set(np.unique(Wb1)) == {-1.0, 1.0}
    np.testing.assert_allclose((Wb1 == 1).mean(axis=1), (levels + 1) / 2, atol=0.03)
    assert (Wb1 != Wb2).any(), "a fresh sample on every call"
    np.testing.assert_allclose(first, X @ Wb1 + layer.b.get_value(), rtol=1e-5, atol=1e-5)
    expected = X @ layer.W.get_value() + layer.b.get_value()
    np.testing.assert_allclose(test1, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(test1, test2)


def test_training_step_of_a_stochastic_net():
    """One train_fn step of Dense -> BN(ReLU) -> Dense -> BN, built as the scripts do (binary_net.compile_functions):
    binary W get the scaled, clipped Adam step of dL/dWb for the Wb sampled in that step; b, beta and gamma a
    plain Adam step; the BN running averages move towards the batch's statistics; val_fn uses the real W and
    the running averages (§1.4, §1.5, §1.8, trap 1). Float-noise gradient elements are ignored (trap 34).
    """
    np.random.seed(42)
    eps, alpha = 1e-4, 0.15
    x, t = T.tensor4("x"), T.matrix("t")
    first = binary_connect.DenseLayer(InputLayer((None, 1, 2, 2), x), 6, stochastic=True, nonlinearity=identity)
    hidden = binary_connect.BatchNormLayer(first, epsilon=eps, alpha=alpha, nonlinearity=rectify)
    second = binary_connect.DenseLayer(hidden, 3, stochastic=True, nonlinearity=identity)
    net = binary_connect.BatchNormLayer(second, epsilon=eps, alpha=alpha)
    train_fn, val_fn = binary_net.compile_functions(net, binary=True)

    # A second training graph; its MRG states are set to train_fn's, so it samples the very Wb train_fn will.
    pre_bn = get_output([first, second, net], deterministic=False)
    loss = binary_net.squared_hinge_loss(pre_bn[2], t)
    plain = lasagne.layers.get_all_params(net, trainable=True, binary=False)
    assert plain == [first.b, hidden.beta, hidden.gamma, second.b, net.beta, net.gamma]
    for layer in (first, second):
        (train_state, *_), (our_state, *_) = layer._srng.state_updates
        our_state.set_value(train_state.get_value())
    grad_fn = theano.function(
        [x, t],
        [loss, first.Wb, second.Wb, pre_bn[0], pre_bn[1]] + theano.grad(loss, [first.Wb, second.Wb] + plain),
        no_default_updates=True,
    )

    X = np.random.uniform(-1, 1, (8, 1, 2, 2)).astype(f32)
    Y = (2 * np.eye(3)[np.random.randint(0, 3, 8)] - 1).astype(f32)
    LR = 0.1
    before = [p.get_value() for p in [first.W, second.W] + plain]
    expected_loss, Wb1, Wb2, a1, a2, *grads = (np.asarray(v) for v in grad_fn(X, Y))
    assert train_fn(X, Y, LR) == pytest.approx(expected_loss, rel=1e-6), "train_fn should draw the same Wb"
    assert set(np.unique(np.concatenate([Wb1.ravel(), Wb2.ravel()]))) == {-1.0, 1.0}

    # Binary W: clip(W - W_LR_scale * Adam step, -H, H) with H = 1; the other parameters: p - Adam step.
    scales = [first.W_LR_scale, second.W_LR_scale] + [1] * len(plain)
    clipped = 0
    for k, (param, p0, g, scale) in enumerate(zip([first.W, second.W] + plain, before, grads, scales)):
        stepped = p0 - scale * adam_first_step(g, LR)
        if k < 2:
            clipped += np.sum(np.abs(stepped) > 1)
            stepped = np.clip(stepped, -1, 1)
        real = np.abs(g) > 1e-7
        np.testing.assert_allclose(param.get_value()[real], stepped[real], atol=1e-5)
    assert clipped > 0, "the test should exercise clipping"
    assert sum(np.abs(g).max() > 1e-7 for g in grads[2:]) >= 4, "beta and gamma should get real gradients"
    for layer, a in ((hidden, a1), (net, a2)):  # from mean 0 and std 1
        np.testing.assert_allclose(layer.mean.get_value(), alpha * a.mean(axis=0, keepdims=True), atol=1e-6)
        np.testing.assert_allclose(layer.std.get_value(), 1 - alpha + alpha * a.std(axis=0, keepdims=True), rtol=1e-5)

    def bn_test_mode(layer, a):
        mean, std, beta, gamma = (p.get_value() for p in layer.get_params())
        return (a - mean) * gamma / (std + eps) + beta

    h = relu(bn_test_mode(hidden, X.reshape(8, 4) @ first.W.get_value() + first.b.get_value()))
    out = bn_test_mode(net, h @ second.W.get_value() + second.b.get_value())
    test_loss, test_err = val_fn(X, Y)
    assert test_loss == pytest.approx(np.mean(relu(1 - Y * out) ** 2), rel=1e-5)
    assert test_err == pytest.approx(np.mean(out.argmax(axis=1) != Y.argmax(axis=1)))


class _RecordingTrainFn:
    """train_fn/val_fn stand-ins that record the training minibatches (no Theano compile)."""

    def __init__(self):
        self.batches = []

    def get_shared(self):
        return []

    def __call__(self, X, y, LR):
        self.batches.append(X[:, 0].copy())
        return np.array(0, dtype=f32)

    @staticmethod
    def val_fn(X, y):
        return [np.array(1, dtype=f32), np.array(0.5, dtype=f32)]


def test_the_loop_sees_the_minibatches_of_the_originals_copying_shuffle():
    """BinaryConnect's loop (binary_net.train with one shuffled part, what binary_connect.fit runs) sees the same
    minibatches as the original's, which shuffles a fresh range(N) and builds copies (§1.10)."""
    np.random.seed(1234)
    X = np.arange(25, dtype=f32)[:, None] * np.ones((1, 2), f32)
    fns = _RecordingTrainFn()
    held_out = np.zeros((10, 2), f32)
    best_epochs = []
    epochs = binary_net.Plain()
    epochs.epoch_done = lambda state, figures: best_epochs.append(figures["best_epoch"])
    state = binary_net.train(
        fns,
        fns.val_fn,
        None,
        10,
        0.1,
        0.5,
        3,
        X,
        np.arange(25),
        held_out,
        held_out,
        held_out,
        held_out,
        shuffle_parts=1,
        epochs=epochs,
    )

    np.random.seed(1234)
    order = np.arange(25)
    expected = []
    for epoch in range(3 + 1):
        shuffled_range = list(range(25))
        np.random.shuffle(shuffled_range)
        order = np.array([order[i] for i in shuffled_range])
        if epoch < 3:
            expected += [order[:10], order[10:20]]  # 2 batches, 5 rows left out
    np.testing.assert_array_equal(fns.batches, expected)
    assert best_epochs == [1, 2, 3] and state.best_epoch == 3
