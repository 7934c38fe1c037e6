"""Small BinaryNet networks for the deploy tests: built from binary_net's layers in the scripts' order
(docs/REPRODUCTION.md §2.1-§2.3), compiled once each (Theano's deterministic pass, with every sign layer's output and
every binary layer's Wb as extra outputs of the same graph), and given parameters that hit the export's edge cases.

Edge cases (``set_parameters``): W exactly 0 and tiny negative W (traps 32, 35); dyadic biases; per unit, by
category: ordinary units of either gamma sign, gamma = 0, inv_std = 0, and units whose threshold is planted on
an exact pre-activation of the test inputs (kinds TIE, TRAP32, EXACT, FMA below). Inputs are multiples of 1/4,
so the first layer's float32 sums are exact in any order and its ties land exactly too.
"""

import compat  # noqa: F401

import functools
import tempfile
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import lasagne
import numpy as np
import theano
import theano.tensor as T
from numpy.lib.stride_tricks import sliding_window_view

from binarynet import binary_net
from deploy.export import export

F32 = np.float32
# Deterministic binarization (§1.1): the first three give +1 (float32(1 + W) rounds to 1), -6e-8 gives -1.
SPECIAL_W = F32([0.0, -1e-8, -2.9e-8, -6e-8, 1e-8])
# Categories of hidden units, cycled over units (offset by layer so that few-channel convolutions see them all).
PLAIN, ZERO_GAMMA, ZERO_INV_STD, TIE, TRAP32, EXACT, FMA = range(7)
CATEGORIES = (PLAIN, ZERO_GAMMA, PLAIN, ZERO_INV_STD, TIE, PLAIN, TRAP32, EXACT, FMA)
CONSTANT_BETAS = F32([0.0, -1e-8, -0.5, 0.5, -6e-8])  # of the constant units: sign(beta), trap 32 included


def theano_fuses() -> bool:
    """Whether g++ may fuse Theano's float32 a*b + c into an FMA: a CPU with FMA (``-mfma`` in Theano's
    ``-march=native`` flags) and no ``-ffp-contract=off`` (which the test suite sets: tests/conftest.py)."""
    from theano.gof.cmodule import GCC_compiler

    return "-mfma" in GCC_compiler.compile_args() and "-ffp-contract=off" not in theano.config.gcc.cxxflags


def fma_witness() -> Tuple[int, np.float32, np.float32]:
    """(a, c, beta) with P = a * c in (1, 2) where the fused float32(1 + P) exceeds float32(1 + float32(P)).

    Theano's sign after batch norm computes round(0.5 * ((1 + t * gamma * inv_std) + beta)) with the first
    addition fused into the product by g++ (docs/EXPORT.md): with t * gamma = a, inv_std = c and this beta the
    fused sum lands exactly on 1 (+1), the unfused one an ulp below (-1), and the textbook float32(P) + beta < 0.
    """
    for a in range(3, 201, 2):
        c0 = F32(1.5 / a)
        for k in range(-30, 31):
            c = F32(c0 + k * np.spacing(c0))
            P = a * float(c)  # exact in float64, and so is P + 1
            fused, unfused = F32(P + 1), F32(1) + F32(P)
            if 1 < P < 2 and fused > unfused:
                return a, c, F32(1) - fused
    raise AssertionError("no witness")


class Stage(NamedTuple):
    binary: lasagne.layers.Layer
    pool: Optional[lasagne.layers.Layer]
    norm: binary_net.BatchNormLayer
    sign: Optional[lasagne.layers.Layer]


class Case:
    """A network, its stages and one compiled deterministic function."""

    def __init__(self, input: T.TensorVariable, stages: List[Stage]) -> None:
        self.input, self.stages, self.network = input, stages, stages[-1].norm
        signs = [stage.sign for stage in stages[:-1]]
        outputs = lasagne.layers.get_output(signs + [self.network], deterministic=True)
        # get_output set each binary layer's Wb to its deterministic binarization, in this same graph
        self.function = theano.function([input], outputs + [stage.binary.Wb for stage in stages])

    def run(self, X: np.ndarray) -> Tuple[List[np.ndarray], np.ndarray, List[np.ndarray]]:
        """Theano's (hidden sign outputs, scores, Wb per binary layer) for inputs X."""
        values = self.function(X)
        hidden = len(self.stages) - 1
        return values[:hidden], values[hidden], values[hidden + 1 :]


def _binary_layer(kind, incoming, size):
    options = dict(binary=True, stochastic=False, H=1.0, nonlinearity=lasagne.nonlinearities.identity)
    if kind == "conv":
        return binary_net.Conv2DLayer(incoming, size, (3, 3), pad=1, **options)
    return binary_net.DenseLayer(incoming, size, **options)


def _stage(kind: str, incoming, size: int, pool: bool = False, sign: bool = True) -> Stage:
    binary = _binary_layer(kind, incoming, size)
    pooled = lasagne.layers.MaxPool2DLayer(binary, pool_size=(2, 2)) if pool else None
    norm = binary_net.BatchNormLayer(pooled or binary, epsilon=1e-4, alpha=0.1)
    activation = lasagne.layers.NonlinearityLayer(norm, nonlinearity=binary_net.binary_tanh_unit) if sign else None
    return Stage(binary, pooled, norm, activation)


def build_mlp(units: Sequence[int]) -> Tuple[T.TensorVariable, List[Stage]]:
    """Input 1x28x28 -> Dropout(.2) -> n x [Dense -> BN -> sign -> Dropout(.5)] -> Dense(10) -> BN (§2.1)."""
    input = T.tensor4("inputs")
    layer = lasagne.layers.DropoutLayer(lasagne.layers.InputLayer((None, 1, 28, 28), input_var=input), p=0.2)
    stages = []
    for size in units:
        stages.append(_stage("dense", layer, size))
        layer = lasagne.layers.DropoutLayer(stages[-1].sign, p=0.5)
    return input, stages + [_stage("dense", layer, 10, sign=False)]


def build_convnet(filters: Sequence[int], units: int) -> Tuple[T.TensorVariable, List[Stage]]:
    """Input 3x32x32 -> 3 x [Conv -> BN -> sign -> Conv -> MaxPool -> BN -> sign] -> 2 x [Dense -> BN -> sign]
    -> Dense(10) -> BN (§2.2, §2.3; traps 8, 24)."""
    input = T.tensor4("inputs")
    layer = lasagne.layers.InputLayer((None, 3, 32, 32), input_var=input)
    stages = []
    for k, size in enumerate(filters):
        stages.append(_stage("conv", layer, size, pool=bool(k % 2)))
        layer = stages[-1].sign
    for _ in range(2):
        stages.append(_stage("dense", layer, units))
        layer = stages[-1].sign
    return input, stages + [_stage("dense", layer, 10, sign=False)]


@functools.lru_cache(maxsize=None)
def mlp_case() -> Case:
    """Fan-ins 784, 67 and 130: none fills its last 64-bit word."""
    return Case(*build_mlp((67, 130)))


@functools.lru_cache(maxsize=None)
def convnet_case(filters: Tuple[int, ...]) -> Case:
    return Case(*build_convnet(filters, 9))


def dyadic_inputs(rng: np.random.RandomState, n: int, shape: Tuple[int, ...]) -> np.ndarray:
    """Inputs in [-1, 1], multiples of 1/4: float32 sums of them are exact whatever the order."""
    return (rng.randint(-4, 5, (n,) + shape) / 4).astype(F32)


def true_convolution(a: np.ndarray, Wb: np.ndarray, pad: int) -> np.ndarray:
    """Theano's conv2d (filters flipped, trap 23) with zero padding, in float64: exact for these values."""
    padded = np.pad(a.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(padded, Wb.shape[2:], axis=(2, 3))
    return np.einsum("nchwij,ocij->nohw", windows, Wb[:, :, ::-1, ::-1].astype(np.float64))


def preactivations(stage: Stage, inputs: np.ndarray, Wb: np.ndarray) -> np.ndarray:
    """The exact dot products (or convolutions, max-pooled) of a stage, before + b: (N, units) or (N, C, H, W).
    float64, exact for ±1 or dyadic inputs."""
    if isinstance(stage.binary, binary_net.Conv2DLayer):
        s = true_convolution(inputs, Wb, 1)
        if stage.pool is not None:
            n, c, h, w = s.shape
            s = s.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))
        return s
    return inputs.reshape(len(inputs), -1).astype(np.float64) @ Wb.astype(np.float64)


def naive_signs(x: np.ndarray, params: Dict[str, np.ndarray]) -> np.ndarray:
    """The textbook float32 batch norm and sign, x >= 0 ? +1 : -1 (what the export must NOT assume)."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    beta, gamma, mean, inv_std = (params[name].reshape(shape) for name in ("beta", "gamma", "mean", "inv_std"))
    return np.where((x.astype(F32) - mean) * (gamma * inv_std) + beta >= 0, 1, -1)


def theano_signs(x: np.ndarray, params: Dict[str, np.ndarray], fused: bool) -> np.ndarray:
    """A model of the Composite Theano compiles for batch norm + sign (docs/EXPORT.md):
    round(0.5 * ((1 + ((x - mean) * gamma) * inv_std) + beta)) in float32, left to right, with the first addition
    fused into the product (one rounding; float64 holds the product exactly) or not."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    beta, gamma, mean, inv_std = (params[name].reshape(shape) for name in ("beta", "gamma", "mean", "inv_std"))
    t = (x.astype(F32) - mean) * gamma
    r = (t.astype(np.float64) * inv_std + 1).astype(F32) if fused else t * inv_std + F32(1)
    return np.where((r + beta) * F32(0.5) >= 0.5, 1, -1)


class Plant(NamedTuple):
    """A unit whose threshold was planted: its pre-activation at ``where`` (image, unit[, row, column]) is v."""

    stage: int
    unit: int
    kind: int
    where: Tuple[int, ...]
    v: float


def _set_weights(stage: Stage, rng: np.random.RandomState) -> None:
    W = rng.uniform(-1, 1, stage.binary.W.get_value().shape).astype(F32)
    flat = W.reshape(-1)
    positions = rng.choice(flat.size, size=min(flat.size // 8, 200), replace=False)
    flat[positions] = np.resize(SPECIAL_W, len(positions))
    stage.binary.W.set_value(W)
    stage.binary.b.set_value((rng.randint(-16, 17, stage.binary.b.get_value().shape) / 8).astype(F32))


def _plant_unit(
    u: int, kind: int, x: float, scale: float, rng: np.random.RandomState, params: Dict[str, np.ndarray]
) -> None:
    """BN parameters of unit u for category ``kind``; x = v + b, the exact float32 input of its batch norm."""
    sign = rng.choice([-1.0, 1.0])
    if kind == PLAIN:
        params["gamma"][u], params["inv_std"][u] = sign * rng.uniform(0.3, 2), rng.uniform(0.5, 2) / scale
        params["mean"][u], params["beta"][u] = rng.normal(0, scale), rng.normal(0, 0.5)
    elif kind in (ZERO_GAMMA, ZERO_INV_STD):
        params["gamma"][u] = 0.0 if kind == ZERO_GAMMA else sign * rng.uniform(0.3, 2)
        params["inv_std"][u] = 0.0 if kind == ZERO_INV_STD else rng.uniform(0.1, 2)
        params["mean"][u], params["beta"][u] = rng.normal(0, scale), CONSTANT_BETAS[u % len(CONSTANT_BETAS)]
    elif kind in (TIE, TRAP32):  # x - mean = 0 at v: Theano's (1 + 0) + beta is 1 for beta = 0 and for -1e-8
        params["gamma"][u], params["inv_std"][u] = sign * rng.uniform(0.3, 2), rng.uniform(0.1, 2)
        params["mean"][u], params["beta"][u] = x, (0.0 if kind == TIE else -1e-8)
    elif kind == EXACT:  # at v, 8 * (±0.5) * 0.25 = ±1 and beta = -+1: a zero with every parameter nonzero
        params["gamma"][u], params["inv_std"][u], params["mean"][u], params["beta"][u] = 0.5 * sign, 0.25, x - 8, -sign
    else:  # FMA: the sign at v depends on 1 + (x - mean) * gamma * inv_std being fused (fma_witness)
        a, c, beta = fma_witness()
        params["gamma"][u], params["inv_std"][u], params["mean"][u], params["beta"][u] = 1.0, c, x - a, beta


def set_parameters(case: Case, X: np.ndarray, seed: int) -> List[Plant]:
    """Random weights and edge-case batch norms, layer by layer; thresholds planted on X's exact pre-activations
    (read from Theano's own outputs of the previous layer). Returns the planted units."""
    rng = np.random.RandomState(seed)
    plants = []
    for index, stage in enumerate(case.stages):
        _set_weights(stage, rng)
        hidden, _, Wbs = case.run(X)
        s = preactivations(stage, X if index == 0 else hidden[index - 1], Wbs[index])
        units = s.shape[1]
        params = {p.name: p.get_value() for p in stage.norm.get_params()}
        b = stage.binary.b.get_value()
        scale = float(np.sqrt(s.var() + 1))
        for u in range(units):
            kind = CATEGORIES[(u + index) % len(CATEGORIES)] if stage.sign is not None else PLAIN
            where = (u % len(X), u) + tuple(rng.randint(0, size) for size in s.shape[2:])
            _plant_unit(u, kind, float(F32(s[where]) + b[u]), scale, rng, params)
            if kind in (TIE, TRAP32, EXACT, FMA):
                plants.append(Plant(index, u, kind, where, float(s[where])))
        if stage.sign is None:  # output: unit 3 repeats unit 7, so their scores tie and argmax takes the first
            W = stage.binary.W.get_value()
            W[:, 3], b[3] = W[:, 7], b[7]
            stage.binary.W.set_value(W)
            stage.binary.b.set_value(b)
            for values in params.values():
                values[3] = values[7]
        for param in stage.norm.get_params():
            param.set_value(params[param.name].astype(F32))
    _, scores, _ = case.run(X)  # shift units 3 and 7 to the top for about half of the images
    others = np.delete(scores, [3, 7], axis=1).max(axis=1)
    beta = case.network.beta.get_value()
    beta[[3, 7]] += F32(np.median(others - scores[:, 3]) + 1e-3)  # clear of last-bit ties with the others
    case.network.beta.set_value(beta)
    return plants


# The two ConvNet topologies differ only in filter counts (§2.2, §2.3): tiny odd counts here, one of them with a
# 67-channel layer, whose channel axis does not fill two 64-bit words.
CONVNETS = {"cifar10-like": (3, 3, 5, 5, 7, 7), "svhn-like": (5, 67, 3, 5, 3, 5)}
_FOLDER = tempfile.TemporaryDirectory(prefix="deploy-tests-")


class Exported(NamedTuple):
    """A case with planted parameters, its file and Theano's outputs on X, as they were at export."""

    case: Case
    X: np.ndarray
    plants: List[Plant]
    path: Path
    hidden: List[np.ndarray]
    scores: np.ndarray
    Wbs: List[np.ndarray]
    params: List[Dict[str, np.ndarray]]  # each stage's batch norm parameters


@functools.lru_cache(maxsize=None)
def exported(name: str) -> Exported:
    """ "mlp" or a CONVNETS name: parameters set (seed 1) on 16 dyadic images, exported once per session."""
    case = mlp_case() if name == "mlp" else convnet_case(CONVNETS[name])
    X = dyadic_inputs(np.random.RandomState(0), 16, case.stages[0].binary.input_shape[1:])
    plants = set_parameters(case, X, seed=1)
    path = Path(_FOLDER.name) / (name + ".npz")
    export(case.network, path)
    params = [{p.name: p.get_value() for p in stage.norm.get_params()} for stage in case.stages]
    return Exported(case, X, plants, path, *case.run(X), params)


def bn_inputs(exported: Exported, index: int) -> np.ndarray:
    """Stage ``index``'s exact pre-activations on exported.X plus its bias: the float32 its batch norm reads."""
    stage = exported.case.stages[index]
    s = preactivations(stage, exported.X if index == 0 else exported.hidden[index - 1], exported.Wbs[index])
    return (s + stage.binary.b.get_value().reshape((1, -1) + (1,) * (s.ndim - 2))).astype(F32)
