"""``python -m benchmarks.packed``: the paper-size BinaryNets (MNIST MLP 784-4096x3-10, §2.1; CIFAR-10 and SVHN
ConvNets, §2.2, §2.3) exported by deploy.export, timed at batch 1 and 100 against the right baseline.

Rows, in ms per image (the best of repeated calls after a warm-up; the machine may be shared, so the load average
is printed with each network): float32 inference with the ±1 weights binarized once (NumPy's BLAS, the same
threads as the packed engine may use): the fair baseline; the packed engine, C and NumPy backends; and Theano's
deterministic pass, which binarizes every weight again on each call (what the training scripts evaluate with, not an
inference engine). Before timing, every engine's scores are checked to equal Theano's bit for bit. Parameters are
random (speed does not depend on them): latent W as initialized, random biases and batch norms.
"""

import compat  # noqa: F401  (must precede theano and lasagne)

import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import lasagne
import numpy as np
import theano
from numpy.lib.stride_tricks import sliding_window_view

from benchmarks.mnist_mlp import positive_int
from binarynet import binary_net, cifar10, mnist, svhn
from deploy import engine, kernels, layout
from deploy.engine import PackedNetwork
from deploy.export import export
from harness.errors import ArgumentParser, command

NETWORKS = {
    "mnist": lambda: mnist.build_mlp(mnist.MNISTSettings()),
    "cifar10": lambda: cifar10.build_cnn(cifar10.CIFAR10Settings()),
    "svhn": lambda: svhn.build_cnn(svhn.SVHNSettings()),
}
BATCHES = (1, 100)
SETTLE_S = 2.0


def randomize(network: lasagne.layers.Layer, rng: np.random.RandomState) -> None:
    """Biases and batch norm statistics of a trained-looking network (the W keep their initial values)."""
    for layer in lasagne.layers.get_all_layers(network):
        if isinstance(layer, (binary_net.DenseLayer, binary_net.Conv2DLayer)):
            layer.b.set_value(rng.normal(0, 1, layer.b.get_value().shape).astype(np.float32))
            fan_in = int(
                np.prod(
                    layer.W.get_value().shape[1:]
                    if isinstance(layer, binary_net.Conv2DLayer)
                    else layer.W.get_value().shape[:1]
                )
            )
        if isinstance(layer, binary_net.BatchNormLayer):
            units = layer.beta.get_value().shape[0]
            layer.gamma.set_value(rng.uniform(-2, 2, units).astype(np.float32))
            layer.beta.set_value(rng.normal(0, 1, units).astype(np.float32))
            layer.mean.set_value(rng.normal(0, np.sqrt(fan_in), units).astype(np.float32))
            layer.inv_std.set_value((rng.uniform(0.5, 2, units) / np.sqrt(fan_in)).astype(np.float32))


class FloatNetwork:
    """The packed file run in float32 with its ±1 weights unpacked once: each dense layer one sgemm, each convolution
    one im2col product per image (as Theano's CorrMM), then the file's thresholds and score tables. The fair baseline:
    what a float inference engine does with binarized weights, without the packing."""

    def __init__(self, packed: PackedNetwork) -> None:
        self.layers = packed.layers
        self.weights = []
        for layer in self.layers:
            if layer.role == "first":
                self.weights.append(layer.weights)
                continue
            channels = layer.input_shape[0] if layer.kind == "conv" else layer.fan_in
            signs = layout.signs(layout.unpack(layer.weights, channels))
            self.weights.append(np.ascontiguousarray(signs.reshape(len(signs), -1).T))

    @property
    def nbytes(self) -> int:
        return sum(weights.nbytes for weights in self.weights)

    def forward(self, X: np.ndarray) -> np.ndarray:
        h = None
        for layer, W in zip(self.layers, self.weights):
            if layer.role == "first":
                pre = engine.first_preactivation(layer, X)
            elif layer.kind == "conv":  # one image at a time, as Theano's CorrMM: its patches stay in the cache
                (kh, kw), (ph, pw) = layer.filter_size, layer.pad
                padded = np.pad(h, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
                patches = sliding_window_view(padded, (kh, kw), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3)
                pre = np.stack(
                    [engine.sgemm(np.ascontiguousarray(image).reshape(-1, W.shape[0]), W) for image in patches]
                ).reshape(patches.shape[:3] + (W.shape[1],))
            else:
                flat = (h.transpose(0, 3, 1, 2) if h.ndim == 4 else h).reshape(len(h), -1)
                pre = engine.sgemm(flat, W)
                if layer.role == "output":
                    s = pre.astype(np.int64)
                    return layer.table[np.arange(len(layer.table)), (s + layer.fan_in) // 2]
            pooled = kernels.max_pool(pre, layer.flipped, layer.pool_size)
            h = np.where(pooled >= layer.threshold, np.float32(1), np.float32(-1))
        raise AssertionError("no output layer")


def best_ms(fn: Callable, args: Sequence, repeats: int, budget_s: float) -> float:
    """The fastest of up to ``repeats`` calls (after a warm-up call), stopping once ``budget_s`` is spent: ms."""
    fn(*args)
    times: List[float] = []
    started = time.perf_counter()
    while len(times) < repeats and (not times or time.perf_counter() - started < budget_s):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def best_in_rounds(
    fns: Sequence[Callable], args: Sequence, repeats: int, budget_s: float, rounds: int = 2
) -> List[float]:
    """The fastest call of each function (ms) over ``rounds`` rounds of ``best_ms`` each, one function after the
    other, each after SETTLE_S seconds of rest: a machine that slows down for a while slows one round of each, not
    one function's only figure, and the threads OpenBLAS leaves polling after a call (for a second or so) have
    stopped before the next function starts (they made the packed engine's second thread wait for a core: twice its
    time at batch 1 on 2 cores)."""
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for index, fn in enumerate(fns):
            time.sleep(SETTLE_S)
            best[index] = min(best[index], best_ms(fn, args, repeats, budget_s / rounds))
    return best


def compared(seconds: float, baseline: float) -> str:
    """'3.2 x faster' or '1.4 x slower' than the baseline."""
    return "%.1f x faster" % (baseline / seconds) if seconds <= baseline else "%.1f x slower" % (seconds / baseline)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg() if hasattr(os, "getloadavg") else "load unknown"


def bench(name: str, repeats: int, budget_s: float, backends: Sequence[str]) -> None:
    rng = np.random.RandomState(0)
    np.random.seed(0)  # Lasagne's initial W
    network = NETWORKS[name]()
    randomize(network, rng)
    input_var = lasagne.layers.get_all_layers(network)[0].input_var
    theano_fn = theano.function([input_var], lasagne.layers.get_output(network, deterministic=True))
    binary_layers = [
        layer
        for layer in lasagne.layers.get_all_layers(network)
        if isinstance(layer, (binary_net.DenseLayer, binary_net.Conv2DLayer))
    ]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "packed.npz"
        start = time.perf_counter()
        export(network, path)
        export_s = time.perf_counter() - start
        packed = {backend: PackedNetwork.load(path, backend=backend) for backend in backends}
        if "c" in packed:
            blas_first = PackedNetwork.load(path, backend="c", first_layer="sgemm")
    floats = FloatNetwork(next(iter(packed.values())))

    input_shape = lasagne.layers.get_all_layers(network)[0].shape[1:]
    X = rng.uniform(-1, 1, (max(BATCHES),) + input_shape).astype(np.float32)
    baseline = ("float32, weights binarized once", floats.forward)
    in_rounds = []  # timed in rounds: the C engine, then the baseline
    alone = []  # slow: timed one after the other
    for backend, net in packed.items():
        label = "packed %s, %d thread%s" % (backend, net.threads, "s" * (net.threads != 1))
        (in_rounds if backend == "c" else alone).append((label, net.forward))
        if backend == "c":
            in_rounds.append(("packed c, first layer by the sgemm", blas_first.forward))
    in_rounds.append(baseline)
    engines = in_rounds + alone
    for batch in BATCHES:
        reference = theano_fn(X[:batch])
        for label, forward in engines:
            assert np.array_equal(forward(X[:batch]), reference), (name, label, batch)
    float_mb = 4 * sum(layer.W.get_value(borrow=True).size for layer in binary_layers) / 1e6
    packed_mb = sum(layer.weights.nbytes for layer in next(iter(packed.values())).layers[1:]) / 1e6
    first_mb = binary_layers[0].W.get_value(borrow=True).size / 8e6
    first_float_mb = next(iter(packed.values())).layers[0].weights.nbytes / 1e6

    print(
        "\n%s: %s binary layers, %.1f M weights, random parameters; export %.0f s; %s"
        % (name, len(binary_layers), float_mb / 4, export_s, load())
    )
    print("  scores: float32 and packed == Theano's deterministic output, bit for bit (batch 1 and 100)")
    print(
        "  weights: float32 %.2f MB; packed %.2f MB (%.1f x less); the engine also holds the first layer as float32"
        " for the sgemm path, %.2f MB"
        % (float_mb, packed_mb + first_mb, float_mb / (packed_mb + first_mb), first_float_mb)
    )
    for batch in BATCHES:
        spent = best_in_rounds([forward for _, forward in in_rounds], (X[:batch],), repeats, budget_s)
        spent += [best_ms(forward, (X[:batch],), repeats, budget_s) for _, forward in alone]
        figures = dict((label, ms / batch) for (label, _), ms in zip(engines, spent))
        theano_ms = best_ms(theano_fn, (X[:batch],), repeats, budget_s) / batch
        print("  batch %3d  %-40s %9.3f ms/image  (the baseline)" % (batch, baseline[0], figures[baseline[0]]))
        for label, _ in engines:
            if label != baseline[0]:
                versus = compared(figures[label], figures[baseline[0]]) + " than float32"
                print("  batch %3d  %-40s %9.3f ms/image  %s" % (batch, label, figures[label], versus))
        print(
            "  batch %3d  %-40s %9.3f ms/image  (rebinarizes all weights on every call)"
            % (batch, "Theano's deterministic pass", theano_ms)
        )
    if "c" in packed:
        print("  packed c's first layer: %s" % packed["c"].first_layer_path)
    print("  %s" % load())


@command
def main(argv: Optional[List[str]] = None) -> None:
    parser = ArgumentParser(prog="python -m benchmarks.packed", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--networks", nargs="+", choices=sorted(NETWORKS), default=list(NETWORKS), help="(default: all three)"
    )
    parser.add_argument(
        "--repeats", type=positive_int, default=10, help="timed calls per figure, at most (default: 10)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=5.0,
        help="seconds of timed calls per figure, at most, after the first (default: 5)",
    )
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=("c", "numpy"),
        default=["c", "numpy"],
        help="packed backends to time (default: c numpy)",
    )
    args = parser.parse_args(argv)
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        "CPU: %s, %s logical CPUs (%s usable); Theano device %s; OpenBLAS threads: %s"
        % (cpu_model(), os.cpu_count(), affinity, theano.config.device, os.environ.get("OPENBLAS_NUM_THREADS", "all"))
    )
    for name in args.networks:
        bench(name, args.repeats, args.budget, args.backends)


if __name__ == "__main__":
    raise SystemExit(main())
