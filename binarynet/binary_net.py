"""BinaryNet's building blocks (Courbariaux, Hubara et al. 2016, Train-time/binary_net.py).

docs/REPRODUCTION.md §1 is the specification: binarization (§1.1), the straight-through sign activation (§1.2),
binary Dense/Conv2D layers (§1.3), ``compute_grads`` and ``clipping_scaling`` (§1.4), Lasagne's batch
normalization (§1.8), the loss and its targets (§1.7) and the ``train`` loop (§1.10, §1.12). ``fit`` is what every
script does after building its network: compile the training and test functions as the originals do, then train.
"""
import compat  # noqa: F401  (must precede theano and lasagne)
from compat.number_format import py2_str

import sys
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Protocol, Tuple, Union

import lasagne
import numpy as np
import theano
import theano.tensor as T
from theano.sandbox.rng_mrg import MRG_RandomStreams
from theano.scalar.basic import UnaryScalarOp, same_out_nocomplex
from theano.tensor.elemwise import Elemwise

if TYPE_CHECKING:
    from harness.run_folder import RunFolder

# The range lasagne.random draws layer seeds from (DropoutLayer uses the same): docs/REPRODUCTION.md §1.3.
SEED_HIGH = 2147462579


def hard_sigmoid(x: T.TensorVariable) -> T.TensorVariable:
    """hard_sigmoid(x) = clip((x+1)/2, 0, 1) (paper eq. 3)."""
    return T.clip((x + 1.) / 2., 0, 1)


class Round3(UnaryScalarOp):
    """Round half away from zero, with the identity as gradient (the straight-through estimator).

    The original op had only C code (C ``round``). The Python ``impl`` below agrees with it exactly:
    NumPy's ``round`` is half-to-even, so ties are resolved by hand (docs/REPRODUCTION.md §4 trap 4).
    """

    def impl(self, x):
        whole = np.trunc(x)
        tie = np.abs(x - whole) == 0.5
        return np.where(tie, whole + np.sign(x), np.round(x)).astype(np.asarray(x).dtype)

    def c_code(self, node, name, inputs, outputs, sub):
        (x,), (z,) = inputs, outputs
        return "%s = round(%s);" % (z, x)

    def c_code_cache_version(self):
        return (1,)

    def grad(self, inputs, output_gradients):
        return [output_gradients[0]]


round3 = Elemwise(Round3(same_out_nocomplex, name="round3"))


def binary_tanh_unit(x: T.TensorVariable) -> T.TensorVariable:
    """Sign activation (paper eq. 5): +1 for x >= 0, -1 otherwise; gradient 1[|x| <= 1] (§1.2)."""
    return 2. * round3(hard_sigmoid(x)) - 1.


def binary_sigmoid_unit(x: T.TensorVariable) -> T.TensorVariable:
    """0/1 step with the hard-sigmoid straight-through gradient (defined by the original, used by no script)."""
    return round3(hard_sigmoid(x))


def binarization(W: T.TensorVariable, H: float, binary: bool = True, deterministic: bool = False,
                 stochastic: bool = False, srng: Optional[MRG_RandomStreams] = None) -> T.TensorVariable:
    """Binarize W to {-H, +H} (paper eq. 1 deterministic, eq. 2 stochastic; docs/REPRODUCTION.md §1.1).

    Real-valued W is returned when ``binary`` is False, and at test time (``deterministic``) of a
    stochastic network: stochastic BinaryConnect evaluates with the real weights (§4 trap 1).
    """
    if not binary or (deterministic and stochastic):
        return W
    p = hard_sigmoid(W / H)
    if stochastic:
        b = T.cast(srng.binomial(n=1, p=p, size=T.shape(p)), theano.config.floatX)
    else:
        # Theano 1.0.5 rounds half-to-even by default; the original ran when the default was half away
        # from zero, which maps W = 0 to +H (§4 traps 4 and 35).
        b = T.round(p, mode="half_away_from_zero")
    return T.cast(T.switch(b, H, -H), theano.config.floatX)


def _glorot(fan_in: int, fan_out: int) -> float:
    """sqrt(1.5 / (fan_in + fan_out)) in float64, the "Glorot" value of H and of 1/W_LR_scale (§1.3).

    Each use casts to float32 once, as the original does: float32(1 / float32(g)) would round twice and
    give 39.191833 instead of the original's 39.191837 for a 128 -> 128 conv.
    """
    return np.sqrt(1.5 / (fan_in + fan_out))


class _BinaryWeights:
    """What binary Dense and Conv2D layers share: H, W_LR_scale, the MRG stream and the 'binary' tag (§1.3)."""

    def _setup_binary(self, binary: bool, stochastic: bool, H: Union[float, str],
                      W_LR_scale: Union[float, str], fan_in: int, fan_out: int) -> Dict[str, Any]:
        self.binary = binary
        self.stochastic = stochastic
        self.H = np.float32(_glorot(fan_in, fan_out)) if H == "Glorot" else H
        self.W_LR_scale = np.float32(1. / _glorot(fan_in, fan_out)) if W_LR_scale == "Glorot" else W_LR_scale
        # Drawn before W's initial values, and even when deterministic: it shifts the global np.random stream.
        self._srng = MRG_RandomStreams(lasagne.random.get_rng().randint(1, SEED_HIGH))
        return {"W": lasagne.init.Uniform((-self.H, self.H))} if binary else {}

    def _tag_binary(self) -> None:
        if self.binary:
            # Replace W's tags: binary weights get their own Adam and are left out of the plain one (trap 6).
            self.params[self.W] = {"binary"}

    def _binarized_output(self, parent_get_output_for: Callable, input: T.TensorVariable,
                          deterministic: bool, **kwargs) -> T.TensorVariable:
        """Run the parent layer's computation with Wb in place of W; Wb stays on the layer for compute_grads."""
        self.Wb = binarization(self.W, self.H, self.binary, deterministic, self.stochastic, self._srng)
        W = self.W
        self.W = self.Wb
        try:
            return parent_get_output_for(input, **kwargs)
        finally:
            self.W = W


class DenseLayer(_BinaryWeights, lasagne.layers.DenseLayer):
    """Lasagne DenseLayer whose forward pass uses binarized weights Wb (§1.3). W has shape (n_in, n_out)."""

    def __init__(self, incoming: lasagne.layers.Layer, num_units: int, binary: bool = True,
                 stochastic: bool = True, H: Union[float, str] = 1., W_LR_scale: Union[float, str] = "Glorot",
                 **kwargs: Any) -> None:
        num_inputs = int(np.prod(incoming.output_shape[1:]))
        kwargs.update(self._setup_binary(binary, stochastic, H, W_LR_scale, num_inputs, num_units))
        super().__init__(incoming, num_units, **kwargs)
        self._tag_binary()

    def get_output_for(self, input: T.TensorVariable, deterministic: bool = False, **kwargs: Any):
        return self._binarized_output(super().get_output_for, input, deterministic, **kwargs)


def conv2d_without_shape_hints(input: T.TensorVariable, filters: T.TensorVariable, image_shape: Any = None,
                               filter_shape: Any = None, **kwargs: Any) -> T.TensorVariable:
    """``T.nnet.conv2d`` minus the shape hints Lasagne 0.1 passes (the same convolution, a speed fix only).

    With the hints, Theano 1.0.5's GPU optimizer (``local_abstractconv_gemm``) reads the 4-D filter shape as
    if it were the 2-D filter size and computes every forward convolution with ``GpuCorrMM_gradWeights``,
    which took 74-96 % of the time of the BinaryNet ConvNets on an H100.
    """
    return T.nnet.conv2d(input, filters, **kwargs)


class Conv2DLayer(_BinaryWeights, lasagne.layers.Conv2DLayer):
    """Lasagne Conv2DLayer with binarized filters (§1.3); fan-in/out count k = filter area (pooling ignored).

    Lasagne 0.1 has no ``convolve`` method, so the swap happens around ``get_output_for`` (docs/REPRODUCTION.md §0).
    The convolution is Theano's ``conv2d`` (true convolution, filters flipped; trap 23) without shape hints.
    """

    def __init__(self, incoming: lasagne.layers.Layer, num_filters: int, filter_size: Tuple[int, int],
                 binary: bool = True, stochastic: bool = True, H: Union[float, str] = 1.,
                 W_LR_scale: Union[float, str] = "Glorot", **kwargs: Any) -> None:
        area = int(np.prod(filter_size))
        fan_in, fan_out = area * incoming.output_shape[1], area * num_filters
        kwargs.update(self._setup_binary(binary, stochastic, H, W_LR_scale, fan_in, fan_out))
        kwargs.setdefault("convolution", conv2d_without_shape_hints)
        super().__init__(incoming, num_filters, filter_size, **kwargs)
        self._tag_binary()

    def get_output_for(self, input: T.TensorVariable, deterministic: bool = False, **kwargs: Any):
        return self._binarized_output(super().get_output_for, input, deterministic, **kwargs)


def moving_average(batch_stat: T.TensorVariable, running: theano.compile.SharedVariable,
                   alpha: float) -> T.TensorVariable:
    """``batch_stat`` (same value) carrying the update running <- (1 - alpha) * running + alpha * batch_stat.

    The update is a Theano default update on a view of ``running`` that shares its storage, so every function
    compiled from the returned graph applies it on each call, together with its other updates (§1.8). Both
    BinaryNet's (Lasagne's) and BinaryConnect's batch normalization track their statistics this way.
    """
    view = theano.clone(running, share_inputs=False)
    view.default_update = (1 - alpha) * view + alpha * batch_stat
    return batch_stat + 0 * view  # puts the view, hence its update, in the graph


class BatchNormLayer(lasagne.layers.Layer):
    """Batch normalization with the semantics of Lasagne's BatchNormLayer (Ioffe & Szegedy 2015; §1.8).

    Normalizes over every axis but 1 (units or channels). Training: batch mean and biased variance, and
    the running averages move by ``alpha`` towards the batch's mean and inv_std = 1/sqrt(var + epsilon)
    (an average of inv_std, not of the variance), applied as Theano default updates. Test
    (``deterministic``): the running averages. Parameters in order: beta, gamma, mean, inv_std.
    """

    def __init__(self, incoming: lasagne.layers.Layer, epsilon: float = 1e-4, alpha: float = 0.1,
                 **kwargs: Any) -> None:
        super().__init__(incoming, **kwargs)
        self.axes = (0,) + tuple(range(2, len(self.input_shape)))
        self.epsilon = epsilon
        self.alpha = alpha
        shape = (self.input_shape[1],)
        self.beta = self.add_param(lasagne.init.Constant(0), shape, "beta", trainable=True, regularizable=False)
        self.gamma = self.add_param(lasagne.init.Constant(1), shape, "gamma", trainable=True, regularizable=True)
        self.mean = self.add_param(lasagne.init.Constant(0), shape, "mean", trainable=False, regularizable=False)
        self.inv_std = self.add_param(lasagne.init.Constant(1), shape, "inv_std",
                                      trainable=False, regularizable=False)

    def get_output_for(self, input: T.TensorVariable, deterministic: bool = False, **kwargs: Any):
        if deterministic:
            mean, inv_std = self.mean, self.inv_std
        else:
            mean = moving_average(input.mean(self.axes), self.mean, self.alpha)
            inv_std = moving_average(T.inv(T.sqrt(input.var(self.axes) + self.epsilon)), self.inv_std, self.alpha)
        pattern = ["x"] * input.ndim
        pattern[1] = 0
        return ((input - mean.dimshuffle(pattern)) * (self.gamma * inv_std).dimshuffle(pattern)
                + self.beta.dimshuffle(pattern))


def compute_grads(loss: T.TensorVariable, network: lasagne.layers.Layer) -> List[T.TensorVariable]:
    """dL/dWb for every binary layer, input to output: the gradient applied to the real W (§1.4, trap 2).

    Must be called after the training output was built and before the test output (layer.Wb is the
    training graph's then).
    """
    return [theano.grad(loss, wrt=layer.Wb) for layer in lasagne.layers.get_all_layers(network)
            if layer.get_params(binary=True)]


def clipping_scaling(updates: "OrderedDict[Any, Any]", network: lasagne.layers.Layer) -> "OrderedDict[Any, Any]":
    """W <- clip(W + W_LR_scale * (W_adam - W), -H, H) for every binary W (Algorithm 1; §1.4, trap 3)."""
    updates = OrderedDict(updates)
    for layer in lasagne.layers.get_all_layers(network):
        for param in layer.get_params(binary=True):
            print("W_LR_scale = " + str(layer.W_LR_scale))
            print("H = " + str(layer.H))
            updates[param] = T.clip(param + layer.W_LR_scale * (updates[param] - param), -layer.H, layer.H)
    return updates


def squared_hinge_loss(output: T.TensorVariable, target: T.TensorVariable) -> T.TensorVariable:
    """mean over batch and the 10 outputs of max(0, 1 - t*o)^2, targets in {-1, +1} (§1.7)."""
    return T.mean(T.sqr(T.maximum(0., 1. - target * output)))


def hinge_targets(labels: np.ndarray) -> np.ndarray:
    """Integer labels ((N,) or pylearn2's (N, 1)) -> (N, 10) float32 targets in {-1, +1}, as the scripts do:
    flatten, one-hot (``np.float32(np.eye(10)[y])``), then 2y - 1 for the hinge loss (§1.7)."""
    return 2 * np.float32(np.eye(10)[np.hstack(labels)]) - 1.


COMPILING = ("Compiling the training and test functions (the first time this takes 1 to 3 minutes on 2 CPU "
             "cores; Theano caches the compiled code in its base_compiledir, ~/.theano unless THEANO_FLAGS says "
             "otherwise, so later runs start in seconds)...")


def compile_functions(network: lasagne.layers.Layer,
                      binary: bool) -> Tuple[theano.compile.Function, theano.compile.Function]:
    """``train_fn(X, y, LR) -> loss`` and ``val_fn(X, y) -> [loss, err]``, built as the scripts build them.

    Order matters (§1.10): training output, loss, binary-W gradients, Adam + clipping_scaling on the binary
    weights (which prints W_LR_scale and H per layer), a second plain Adam on the other trainable parameters,
    then the deterministic test output. The input is the network's InputLayer variable.
    """
    input = lasagne.layers.get_all_layers(network)[0].input_var
    target = T.matrix("targets")
    LR = T.scalar("LR", dtype=theano.config.floatX)
    train_output = lasagne.layers.get_output(network, deterministic=False)
    loss = squared_hinge_loss(train_output, target)
    if binary:
        W = lasagne.layers.get_all_params(network, binary=True)
        updates = lasagne.updates.adam(loss_or_grads=compute_grads(loss, network), params=W, learning_rate=LR)
        updates = clipping_scaling(updates, network)
        params = lasagne.layers.get_all_params(network, trainable=True, binary=False)
        updates.update(lasagne.updates.adam(loss_or_grads=loss, params=params, learning_rate=LR))
    else:
        params = lasagne.layers.get_all_params(network, trainable=True)
        updates = lasagne.updates.adam(loss_or_grads=loss, params=params, learning_rate=LR)
    print(COMPILING, file=sys.stderr, flush=True)
    train_fn = theano.function([input, target, LR], loss, updates=updates)
    return train_fn, compile_test_function(network)


def compile_test_function(network: lasagne.layers.Layer) -> theano.compile.Function:
    """``val_fn(X, y) -> [loss, err]`` of the deterministic graph (§1.7): dropout off, BN's running averages,
    deterministic binarization (or, for stochastic BinaryConnect, the real W); it updates nothing."""
    input = lasagne.layers.get_all_layers(network)[0].input_var
    target = T.matrix("targets")
    test_output = lasagne.layers.get_output(network, deterministic=True)
    test_loss = squared_hinge_loss(test_output, target)
    test_err = T.mean(T.neq(T.argmax(test_output, axis=1), T.argmax(target, axis=1)), dtype=theano.config.floatX)
    return theano.function([input, target], [test_loss, test_err])


def val_epoch(val_fn: Callable, X: np.ndarray, y: np.ndarray, batch_size: int,
              batches: Callable[[int], Iterable[int]] = range) -> Tuple[Any, Any]:
    """The original's validation pass (§1.10 d): floor(N/B) sequential minibatches, remainder dropped; the error
    rate in % (mean of the minibatch error fractions, times 100) and the mean loss. ``batches(n)`` yields the
    minibatch indices 0..n-1 (a run folder's shows progress)."""
    err = 0
    loss = 0
    n = len(X) // batch_size
    for i in batches(n):
        new_loss, new_err = val_fn(X[i * batch_size:(i + 1) * batch_size], y[i * batch_size:(i + 1) * batch_size])
        err += new_err
        loss += new_loss
    return err / n * 100, loss / n


def shuffle(X: np.ndarray, y: np.ndarray, order: np.ndarray, shuffle_parts: int = 1) -> None:
    """Permute the rows of X, y (and ``order``, their original indices) in place with the global np.random.

    Each of ``shuffle_parts`` contiguous chunks is permuted by successive reshuffles of one index list;
    rows past shuffle_parts * (N // shuffle_parts) never move (§1.10, trap 28). The permutation applies to
    the current order, so orders compound from epoch to epoch.
    """
    chunk_size = len(X) // shuffle_parts
    shuffled_range = np.arange(chunk_size)
    for k in range(shuffle_parts):
        np.random.shuffle(shuffled_range)
        rows = slice(k * chunk_size, (k + 1) * chunk_size)
        for array in (X, y, order):
            array[rows] = array[rows][shuffled_range]


@dataclass
class LoopState:
    """The loop's own variables after ``epoch`` completed epochs (§1.10): the original's ``LR``, ``best_val_err``,
    ``best_epoch``, ``test_err`` and ``test_loss``, and the current ``order`` of the training rows (their indices
    in the loaded set). A resumed loop continues from them exactly."""

    LR: Any
    order: np.ndarray
    epoch: int = 0
    best_val_err: Any = 100
    best_epoch: int = 1
    test_err: Any = None
    test_loss: Any = None


class Epochs(Protocol):
    """What ``train`` calls around the original loop; a run folder (harness.run_folder.RunFolder) is one."""

    def resume(self, shared: List[Any]) -> Optional[Dict[str, Any]]:
        """The LoopState fields of a run to continue (its shared variables restored), or None to start."""

    def batches(self, n: int, description: str) -> Iterable[int]:
        """The minibatch indices 0..n-1 of one pass."""

    def save_parameters(self, values: List[np.ndarray]) -> None:
        """Keep the parameters of a new best epoch."""

    def epoch_done(self, state: LoopState, figures: Dict[str, Any]) -> None:
        """After each epoch: its printed figures, and the state the next epoch starts from."""


class Plain:
    """The original's behaviour: nothing to resume, no progress shown, the best epoch's parameters
    ``np.savez``'d to ``save_path`` (when given), nothing recorded."""

    def __init__(self, save_path: Optional[Path] = None) -> None:
        self.save_path = save_path

    def resume(self, shared: List[Any]) -> None:
        return None

    def batches(self, n: int, description: str) -> Iterable[int]:
        return range(n)

    def save_parameters(self, values: List[np.ndarray]) -> None:
        if self.save_path is not None:
            np.savez(self.save_path, *values)

    def epoch_done(self, state: LoopState, figures: Dict[str, Any]) -> None:
        pass


def train(train_fn: Callable, val_fn: Callable, model: lasagne.layers.Layer, batch_size: int,
          LR_start: float, LR_decay: float, num_epochs: int,
          X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
          X_test: np.ndarray, y_test: np.ndarray, save_path: Optional[Path] = None, shuffle_parts: int = 1,
          epochs: Optional[Epochs] = None) -> LoopState:
    """The original training loop (§1.10): epochs of sequential minibatches over a reshuffled training set,
    validation after each, the test set evaluated whenever validation error ties or beats the best, and then the
    parameters saved (``np.savez(save_path, *params)``), the nine lines printed (§1.12), the LR decayed.

    ``epochs`` (default: ``Plain(save_path)``, the original's behaviour) is called around it: a run folder resumes
    the loop from its checkpoint (X_train/y_train must then be given in their loaded order), shows progress within
    each pass, keeps the best parameters and records every epoch. None of it changes a figure.
    """
    epochs = epochs or Plain(save_path)

    def train_epoch(X: np.ndarray, y: np.ndarray, LR: float, description: str) -> Any:
        loss = 0
        batches = len(X) // batch_size
        for i in epochs.batches(batches, description):
            loss += train_fn(X[i * batch_size:(i + 1) * batch_size], y[i * batch_size:(i + 1) * batch_size], LR)
        return loss / batches

    def passes(description: str) -> Callable[[int], Iterable[int]]:
        return lambda n: epochs.batches(n, description)

    resumed = epochs.resume(train_fn.get_shared())
    if resumed is None:
        # shuffle the train set
        state = LoopState(LR=LR_start, order=np.arange(len(X_train)))
        shuffle(X_train, y_train, state.order, shuffle_parts)
    else:
        state = LoopState(**resumed)
        X_train[:] = X_train[state.order]
        y_train[:] = y_train[state.order]

    # We iterate over epochs:
    for epoch in range(state.epoch, num_epochs):
        start_time = time.time()
        described = "epoch %d of %d, %%s" % (epoch + 1, num_epochs)
        train_loss = train_epoch(X_train, y_train, state.LR, described % "training")
        shuffle(X_train, y_train, state.order, shuffle_parts)
        val_err, val_loss = val_epoch(val_fn, X_val, y_val, batch_size, passes(described % "validation"))

        # test if validation error went down
        if val_err <= state.best_val_err:
            state.best_val_err = val_err
            state.best_epoch = epoch + 1
            state.test_err, state.test_loss = val_epoch(val_fn, X_test, y_test, batch_size,
                                                        passes(described % "test"))
            epochs.save_parameters(lasagne.layers.get_all_param_values(model))

        epoch_duration = time.time() - start_time

        # Then we print the results for this epoch (numbers as Python 2's str wrote them):
        print("Epoch " + str(epoch + 1) + " of " + str(num_epochs) + " took " + py2_str(epoch_duration) + "s")
        print("  LR:                            " + py2_str(state.LR))
        print("  training loss:                 " + py2_str(train_loss))
        print("  validation loss:               " + py2_str(val_loss))
        print("  validation error rate:         " + py2_str(val_err) + "%")
        print("  best epoch:                    " + str(state.best_epoch))
        print("  best validation error rate:    " + py2_str(state.best_val_err) + "%")
        print("  test loss:                     " + py2_str(state.test_loss))
        print("  test error rate:               " + py2_str(state.test_err) + "%", flush=True)
        figures = {"epoch": epoch + 1, "num_epochs": num_epochs, "seconds": epoch_duration, "LR": state.LR,
                   "training_loss": train_loss, "validation_loss": val_loss, "validation_error_rate": val_err,
                   "best_epoch": state.best_epoch, "best_validation_error_rate": state.best_val_err,
                   "test_loss": state.test_loss, "test_error_rate": state.test_err}

        # decay the LR
        state.LR *= LR_decay
        state.epoch = epoch + 1
        epochs.epoch_done(state, figures)
    return state


def fit(run: "RunFolder", network: lasagne.layers.Layer, train_set: Any, valid_set: Any, test_set: Any,
        shuffle_parts: int = 1) -> LoopState:
    """What every script does once its network is built (§1.10): compile ``train_fn`` and ``val_fn``, print
    ``Training...``, and call ``train`` with the run's settings, the run folder around the loop.
    The sets are pylearn2-style datasets: ``.X`` the inputs, ``.y`` the {-1, +1} targets.
    """
    s = run.settings
    run.compiling(lasagne.layers.get_all_params(network))
    started = time.monotonic()
    train_fn, val_fn = compile_functions(network, binary=s.binary)
    run.compiled(time.monotonic() - started)
    print("Training...")
    return train(train_fn, val_fn, network, s.batch_size, s.LR_start, s.LR_decay, s.num_epochs,
                 train_set.X, train_set.y, valid_set.X, valid_set.y, test_set.X, test_set.y,
                 shuffle_parts=shuffle_parts, epochs=run)
