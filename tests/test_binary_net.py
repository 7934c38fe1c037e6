"""The rules of docs/REPRODUCTION.md §1, each against hand-computed or NumPy reference values."""

import compat  # noqa: F401

import lasagne
import numpy as np
import pytest
import theano
import theano.tensor as T
from conftest import adam_first_step
from theano.sandbox.rng_mrg import MRG_RandomStreams

from binarynet import binary_net

f32 = np.float32
ONE_UP = np.nextafter(f32(1), f32(2))  # 1.0000001, the float32 after 1
ONE_DOWN = np.nextafter(f32(-1), f32(-2))  # -1.0000001


def test_sign_activation_forward_and_straight_through_gradient():
    x = T.vector("x")
    y = binary_net.binary_tanh_unit(x)
    f = theano.function([x], [y, theano.grad(y.sum(), x)])
    xs = np.array([-2, ONE_DOWN, -1, -0.5, -1e-8, 0, 0.5, 1, ONE_UP, 2], dtype=f32)
    out, grad = f(xs)
    # sign(0) = +1; -1e-8 gives +1 too because 1 + x rounds to 1 in float32 (§4 trap 32).
    assert out.tolist() == [-1, -1, -1, -1, 1, 1, 1, 1, 1, 1]
    # STE mask 1[-1 <= x <= 1], inclusive, on the float32 value of (x+1)/2: 1.0000001 still passes (trap 36).
    assert grad.tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 1, 0]


@pytest.mark.parametrize("linker", ["c", "py"])
def test_round3_rounds_half_away_from_zero(linker):
    x = T.vector("x")
    # On the CPU: the py linker cannot run GPU ops (with device=cuda the c linker runs the GPU kernel).
    mode = theano.compile.Mode(linker=linker, optimizer="fast_run")
    f = theano.function([x], binary_net.round3(x), mode=mode if linker == "c" else mode.excluding("gpuarray"))
    xs = np.array([-2.5, -1.5, -0.5, 0, 0.49999997, 0.5, 1.5, 2.5, 2.6], dtype=f32)
    assert f(xs).tolist() == [-3, -2, -1, 0, 0, 1, 2, 3, 3]


def test_deterministic_binarization_maps_zero_band_to_plus_H():
    W = theano.shared(np.array([-1, -0.3, -2.9e-8, -1e-8, 0, 1e-8, 5e-8, 0.7, 1], dtype=f32))
    f = theano.function([], binary_net.binarization(W, 1.0, binary=True, deterministic=True, stochastic=False))
    # W = 0 and its float32 neighbourhood give +H with half-away-from-zero rounding (§4 traps 4 and 35).
    assert f().tolist() == [-1, -1, 1, 1, 1, 1, 1, 1, 1]


def test_binarization_returns_real_weights_when_not_binary_or_stochastic_at_test_time():
    W = theano.shared(np.zeros(3, dtype=f32))
    assert binary_net.binarization(W, 1.0, binary=False) is W
    assert binary_net.binarization(W, 1.0, binary=True, deterministic=True, stochastic=True) is W


def test_stochastic_binarization_probability_is_hard_sigmoid():
    levels = np.array([-1, -0.5, 0, 0.5, 0.9, 1], dtype=f32)
    W = theano.shared(np.repeat(levels, 20000).reshape(len(levels), -1))
    Wb = theano.function(
        [],
        binary_net.binarization(W, 1.0, binary=True, deterministic=False, stochastic=True, srng=MRG_RandomStreams(1)),
    )()
    assert set(np.unique(Wb)) <= {-1.0, 1.0}
    np.testing.assert_allclose((Wb == 1).mean(axis=1), np.clip((levels + 1) / 2, 0, 1), atol=0.012)


@pytest.mark.parametrize(
    "n_in, n_out, expected",
    [(784, 4096, 57.038), (4096, 4096, 73.90083), (4096, 10, 52.31953), (8192, 1024, 78.383675), (2048, 10, 37.04052)],
)
def test_dense_W_LR_scale_is_glorot(n_in, n_out, expected):
    layer = binary_net.DenseLayer(lasagne.layers.InputLayer((None, n_in)), n_out, stochastic=False)
    assert layer.W_LR_scale.dtype == f32 and layer.H == 1.0
    assert layer.W_LR_scale == np.float32(expected)  # exact: one float32 rounding, as the original


@pytest.mark.parametrize(
    "c_in, c_out, expected", [(3, 128, 28.035692), (128, 128, 39.191837), (512, 512, 78.383675), (3, 64, 20.049938)]
)
def test_conv_W_LR_scale_counts_filter_area(c_in, c_out, expected):
    layer = binary_net.Conv2DLayer(lasagne.layers.InputLayer((None, c_in, 8, 8)), c_out, (3, 3), pad=1)
    assert layer.W_LR_scale == np.float32(expected)  # exact: one float32 rounding, as the original
    assert layer.get_W_shape() == (c_out, c_in, 3, 3)


def test_binary_W_is_tagged_binary_only_and_left_out_of_the_plain_adam():
    net = binary_net.DenseLayer(lasagne.layers.InputLayer((None, 4)), 3, stochastic=False)
    net = binary_net.BatchNormLayer(net)
    dense = net.input_layer
    assert dense.params[dense.W] == {"binary"}
    assert lasagne.layers.get_all_params(net, binary=True) == [dense.W]
    assert lasagne.layers.get_all_params(net, trainable=True, binary=False) == [dense.b, net.beta, net.gamma]
    assert net.get_params() == [net.beta, net.gamma, net.mean, net.inv_std]


def test_layers_consume_global_random_in_the_original_order():
    """Dropout: 1 randint; binary Dense: randint then uniform(-1, 1) for W (§1.10, traps 14 and 30)."""
    np.random.seed(1234)
    net = lasagne.layers.DropoutLayer(lasagne.layers.InputLayer((None, 1, 2, 2)), p=0.2)
    hidden = binary_net.DenseLayer(net, 5, stochastic=False)
    net = lasagne.layers.DropoutLayer(binary_net.BatchNormLayer(hidden), p=0.5)
    out = binary_net.DenseLayer(net, 3, stochastic=False)
    after = np.random.randint(1 << 30)

    np.random.seed(1234)
    seeds = [np.random.randint(1, 2147462579)]
    seeds.append(np.random.randint(1, 2147462579))
    W_hidden = np.random.uniform(-1, 1, (4, 5))
    seeds.append(np.random.randint(1, 2147462579))
    seeds.append(np.random.randint(1, 2147462579))
    W_out = np.random.uniform(-1, 1, (5, 3))
    assert after == np.random.randint(1 << 30)
    np.testing.assert_array_equal(hidden.W.get_value(), W_hidden.astype(f32))
    np.testing.assert_array_equal(out.W.get_value(), W_out.astype(f32))
    assert np.array_equal(hidden._srng.rstate, MRG_RandomStreams(seeds[1]).rstate)
    assert np.array_equal(net._srng.rstate, MRG_RandomStreams(seeds[2]).rstate)


def test_batch_norm_train_and_test_modes_and_running_averages():
    x = T.tensor4("x")
    layer = binary_net.BatchNormLayer(lasagne.layers.InputLayer((None, 2, 3, 3), x), epsilon=1e-4, alpha=0.1)
    assert layer.axes == (0, 2, 3)
    beta, gamma, mean, inv_std = (np.array(v, dtype=f32) for v in ([0.5, -1], [2, 0.25], [0.3, -0.2], [1.5, 0.8]))
    for param, value in zip(layer.get_params(), (beta, gamma, mean, inv_std)):
        param.set_value(value)
    f = theano.function(
        [x],
        [lasagne.layers.get_output(layer, deterministic=False), lasagne.layers.get_output(layer, deterministic=True)],
    )
    X = np.random.RandomState(0).normal(1, 3, (4, 2, 3, 3)).astype(f32)
    train_out, test_out = f(X)

    c = (None, slice(None), None, None)
    mu = X.astype(np.float64).mean(axis=(0, 2, 3))
    inv = 1 / np.sqrt(X.astype(np.float64).var(axis=(0, 2, 3)) + 1e-4)  # biased variance
    np.testing.assert_allclose(train_out, (X - mu[c]) * (gamma * inv)[c] + beta[c], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(test_out, (X - mean[c]) * (gamma * inv_std)[c] + beta[c], rtol=1e-5, atol=1e-5)
    # The running averages move 10 % of the way to the batch's mean and inv_std (not its variance).
    np.testing.assert_allclose(layer.mean.get_value(), 0.9 * mean + 0.1 * mu, rtol=1e-5)
    np.testing.assert_allclose(layer.inv_std.get_value(), 0.9 * inv_std + 0.1 * inv, rtol=1e-5)


def test_training_step_is_adam_then_scaling_and_clipping():
    """One train_fn step against NumPy: binary W get the scaled, clipped Adam step of dL/dWb; b, beta and
    gamma a plain Adam step (§1.4, §1.5, trap 3). Elements whose gradient is float noise are ignored (trap 34).
    """
    np.random.seed(42)
    x, t = T.tensor4("x"), T.matrix("t")
    net = lasagne.layers.InputLayer((None, 1, 2, 2), x)
    first = binary_net.DenseLayer(net, 6, stochastic=False, nonlinearity=lasagne.nonlinearities.identity)
    net = lasagne.layers.NonlinearityLayer(binary_net.BatchNormLayer(first), binary_net.binary_tanh_unit)
    second = binary_net.DenseLayer(net, 3, stochastic=False, nonlinearity=lasagne.nonlinearities.identity)
    net = binary_net.BatchNormLayer(second)
    first.W.set_value(np.random.uniform(-1, 1, (4, 6)).astype(f32) * f32(0.999))
    train_fn, val_fn = binary_net.compile_functions(net, binary=True)

    loss = binary_net.squared_hinge_loss(lasagne.layers.get_output(net, deterministic=False), t)
    plain = lasagne.layers.get_all_params(net, trainable=True, binary=False)
    grad_fn = theano.function([x, t], theano.grad(loss, [first.Wb, second.Wb] + plain), no_default_updates=True)

    X = np.random.uniform(-1, 1, (8, 1, 2, 2)).astype(f32)
    Y = (2 * np.eye(3)[np.random.randint(0, 3, 8)] - 1).astype(f32)
    LR = 0.1
    before = [p.get_value() for p in [first.W, second.W] + plain]
    grads = [np.asarray(g) for g in grad_fn(X, Y)]  # GPU outputs may come back as GpuArrays
    train_fn(X, Y, LR)

    clipped = 0
    for layer, W0, g in ((first, before[0], grads[0]), (second, before[1], grads[1])):
        unclipped = W0 - layer.W_LR_scale * adam_first_step(g, LR)
        clipped += np.sum(np.abs(unclipped) > 1)
        real = np.abs(g) > 1e-7
        np.testing.assert_allclose(layer.W.get_value()[real], np.clip(unclipped, -1, 1)[real], atol=1e-5)
        assert np.abs(layer.W.get_value()).max() <= 1
    assert clipped > 0, "the test should exercise clipping"
    for param, p0, g in zip(plain, before[2:], grads[2:]):
        real = np.abs(g) > 1e-7
        np.testing.assert_allclose(param.get_value()[real], (p0 - adam_first_step(g, LR))[real], atol=1e-5)
    assert sum(np.abs(g).max() > 1e-7 for g in grads[2:]) >= 2, "beta and gamma should get real gradients"

    test_loss, test_err = val_fn(X, Y)
    assert 0 <= test_err <= 1 and test_loss >= 0


def test_binary_conv_is_a_true_convolution_with_the_binarized_filters():
    """Conv2DLayer(pad=1): 'same' 3x3 convolution (filters flipped, trap 23) with Wb = sign(W), plus b (§1.3)."""
    x = T.tensor4("x")
    layer = binary_net.Conv2DLayer(
        lasagne.layers.InputLayer((None, 2, 5, 4), x),
        3,
        (3, 3),
        pad=1,
        stochastic=False,
        nonlinearity=lasagne.nonlinearities.identity,
    )
    assert layer.convolution is binary_net.conv2d_without_shape_hints
    layer.b.set_value(np.array([0.5, -1, 2], dtype=f32))
    rng = np.random.RandomState(3)
    X = rng.normal(size=(2, 2, 5, 4)).astype(f32)
    out = theano.function([x], lasagne.layers.get_output(layer, deterministic=True))(X)

    Wb = np.where(layer.W.get_value() >= 0, 1.0, -1.0)
    padded = np.pad(X.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    flipped = Wb[:, :, ::-1, ::-1]
    expected = np.zeros((2, 3, 5, 4))
    for i in range(5):
        for j in range(4):
            expected[:, :, i, j] = np.einsum("nchw,fchw->nf", padded[:, :, i : i + 3, j : j + 3], flipped)
    np.testing.assert_allclose(out, expected + layer.b.get_value()[None, :, None, None], rtol=1e-5, atol=1e-5)
