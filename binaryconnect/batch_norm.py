"""BinaryConnect's own batch normalization (the original's ``batch_norm.py``, a preliminary Lasagne layer
by Jan Schlüter): docs/REPRODUCTION.md §1.8, second part, and §4 trap 7.

It differs from BinaryNet's (Lasagne's) layer in binarynet.binary_net: the running average is of the batch
standard deviation, epsilon is added to the standard deviation (not to the variance), the parameters keep
singleton axes and come in the order mean, std, beta, gamma, and a nonlinearity can be applied at the end
(the scripts put the ReLU there).
"""
import compat  # noqa: F401  (must precede theano and lasagne)

from typing import Any, Callable, Optional

import lasagne
import theano.tensor as T

from binarynet.binary_net import moving_average


class BatchNormLayer(lasagne.layers.Layer):
    """nonlinearity((x - mean) * gamma / (std + epsilon) + beta), statistics over every axis but 1 (§1.8).

    Training: mean and std are the batch's (std = sqrt of the biased variance), and the running averages move
    by ``alpha`` towards them as Theano default updates: mean <- (1 - alpha) mean + alpha mean_B,
    std <- (1 - alpha) std + alpha std_B (no epsilon in the average). Test (``deterministic``): the running
    averages. The scripts pass epsilon=1e-4 and alpha=.15 (MNIST) or .1 (CIFAR-10, SVHN).
    """

    def __init__(self, incoming: lasagne.layers.Layer, epsilon: float = 0.01, alpha: float = 0.5,
                 nonlinearity: Optional[Callable[[T.TensorVariable], T.TensorVariable]] = None,
                 **kwargs: Any) -> None:
        super().__init__(incoming, **kwargs)
        self.axes = (0,) + tuple(range(2, len(self.input_shape)))
        self.epsilon = epsilon
        self.alpha = alpha
        self.nonlinearity = lasagne.nonlinearities.identity if nonlinearity is None else nonlinearity
        # (1, C) after a dense layer, (1, C, 1, 1) after a convolution: broadcast against the input.
        shape = tuple(1 if axis in self.axes else size for axis, size in enumerate(self.input_shape))
        self.mean = self.add_param(lasagne.init.Constant(0), shape, "mean", trainable=False, regularizable=False)
        self.std = self.add_param(lasagne.init.Constant(1), shape, "std", trainable=False, regularizable=False)
        self.beta = self.add_param(lasagne.init.Constant(0), shape, "beta", trainable=True, regularizable=True)
        self.gamma = self.add_param(lasagne.init.Constant(1), shape, "gamma", trainable=True, regularizable=False)

    def get_output_for(self, input: T.TensorVariable, deterministic: bool = False,
                       **kwargs: Any) -> T.TensorVariable:
        if deterministic:
            mean, std = self.mean, self.std
        else:
            mean = moving_average(input.mean(self.axes, keepdims=True), self.mean, self.alpha)
            std = moving_average(input.std(self.axes, keepdims=True), self.std, self.alpha)
        mean, std, beta, gamma = (T.addbroadcast(v, *self.axes)
                                  for v in (mean, std + self.epsilon, self.beta, self.gamma))
        return self.nonlinearity((input - mean) * (gamma / std) + beta)
