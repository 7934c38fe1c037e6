"""``python -m benchmarks.packed_mnist``: the paper-size BinaryNet MNIST MLP (784-4096-4096-4096-10, §2.1) packed
by deploy.export and run by deploy.engine, against Theano's float deterministic pass on the same CPU.

Prints the weight memory as float32 and packed, and the seconds per image of both at batch 1 and batch 100 (median
of repeated calls after a warm-up), after checking that the packed scores equal Theano's bit for bit. Parameters
are random (speed does not depend on them): latent W as initialized, random biases and batch norms.
"""
import compat  # noqa: F401  (must precede theano and lasagne)

import tempfile
import time
from pathlib import Path
from typing import List, Optional

import lasagne
import numpy as np
import theano

from benchmarks.mnist_mlp import positive_int, timed
from binarynet import binary_net
from binarynet.mnist import MNISTSettings, build_mlp
from deploy.engine import PackedNetwork, sgemm
from deploy.export import export
from harness.errors import ArgumentParser, command


def _randomize(network: lasagne.layers.Layer, rng: np.random.RandomState) -> None:
    """Biases and batch norm statistics of a trained-looking network (the W keep their U(-1, 1) values)."""
    for layer in lasagne.layers.get_all_layers(network):
        if isinstance(layer, binary_net.DenseLayer):
            layer.b.set_value(rng.normal(0, 1, layer.num_units).astype(np.float32))
        if isinstance(layer, binary_net.BatchNormLayer):
            fan_in = np.prod(layer.input_layer.input_shape[1:])
            units = layer.beta.get_value().shape[0]
            layer.gamma.set_value(rng.uniform(-2, 2, units).astype(np.float32))
            layer.beta.set_value(rng.normal(0, 1, units).astype(np.float32))
            layer.mean.set_value(rng.normal(0, np.sqrt(fan_in), units).astype(np.float32))
            layer.inv_std.set_value((rng.uniform(.5, 2, units) / np.sqrt(fan_in)).astype(np.float32))


def float_matmuls(Wbs: List[np.ndarray]):
    """The float32 products of the network with its Wb computed once (a lower bound on any float32 pass that, unlike
    Theano's, does not rebinarize W on every call): each layer's sgemm, then a sign."""
    def run(X: np.ndarray) -> np.ndarray:
        h = X.reshape(len(X), -1)
        for Wb in Wbs:
            h = np.sign(sgemm(h, Wb))
        return h
    return run


@command
def main(argv: Optional[List[str]] = None) -> None:
    parser = ArgumentParser(prog="python -m benchmarks.packed_mnist", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=positive_int, default=20, help="timed calls per figure (default: 20)")
    parser.add_argument("--num-units", type=positive_int, default=4096, help="hidden units (default: 4096)")
    bench = parser.parse_args(argv)
    args = MNISTSettings(num_units=bench.num_units)
    np.random.seed(args.seed)
    rng = np.random.RandomState(0)

    mlp = build_mlp(args)
    input = lasagne.layers.get_all_layers(mlp)[0].input_var
    _randomize(mlp, rng)
    theano_fn = theano.function([input], lasagne.layers.get_output(mlp, deterministic=True))
    binary_layers = [layer for layer in lasagne.layers.get_all_layers(mlp) if isinstance(layer, binary_net.DenseLayer)]
    binarize_fn = theano.function([], [layer.Wb for layer in binary_layers])  # Wb of the deterministic graph above

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mnist.npz"
        start = time.perf_counter()
        export(mlp, path)
        export_s = time.perf_counter() - start
        file_bytes = path.stat().st_size
        with np.load(path, allow_pickle=False) as data:
            weight_bytes = [data[key].nbytes for key in data.files if key.endswith("/weights")]
        networks = {backend: PackedNetwork.load(path, backend=backend) for backend in ("c", "numpy")}

    X = rng.uniform(-1, 1, (100, 1, 28, 28)).astype(np.float32)
    reference = theano_fn(X)
    for backend, network in networks.items():
        assert np.array_equal(network.forward(X), reference), backend
        assert np.array_equal(network.forward(X[:1]), theano_fn(X[:1])), backend
    float_bytes = 4 * sum(layer.W.get_value(borrow=True).size for layer in binary_layers)
    packed_bytes = sum(weight_bytes)
    resident = networks["c"].layers[0].weights.nbytes + sum(weight_bytes[1:])

    print("network:                 784-%s-10, random parameters, %s"
          % ("-".join([str(args.num_units)] * args.n_hidden_layers), theano.config.device))
    print("export:                  %.1f s (thresholds from Theano's compiled batch norm + sign)" % export_s)
    print("scores:                  packed == Theano's deterministic output, bit for bit (batch 100 and 1)")
    print("weights, float32:        %.2f MB" % (float_bytes / 1e6))
    print("weights, packed:         %.2f MB (%.1f x less); file %.2f MB with thresholds and score tables"
          % (packed_bytes / 1e6, float_bytes / packed_bytes, file_bytes / 1e6))
    print("weights, engine memory:  %.2f MB (%.1f x less): the first layer is unpacked to float32 for sgemm"
          % (resident / 1e6, float_bytes / resident))
    matmuls = float_matmuls(binarize_fn())
    for batch in (1, 100):
        theano_s = timed(theano_fn, (X[:batch],), bench.repeats) / batch
        matmuls_s = timed(matmuls, (X[:batch],), bench.repeats) / batch
        print("batch %3d, Theano's deterministic pass:  %8.3f ms/image" % (batch, 1e3 * theano_s))
        print("batch %3d, float32 matmuls, Wb ready:    %8.3f ms/image" % (batch, 1e3 * matmuls_s))
        for backend, network in networks.items():
            seconds = timed(network.forward, (X[:batch],), bench.repeats) / batch
            print("batch %3d, packed %-5s:               %8.3f ms/image (%.1f x faster than Theano, %.1f x than "
                  "the matmuls)" % (batch, backend, 1e3 * seconds, theano_s / seconds, matmuls_s / seconds))
    first_s = timed(sgemm, (X[:1].reshape(1, -1), networks["c"].layers[0].weights), bench.repeats)
    print("of the packed time at batch 1, the first layer's float32 sgemm: %8.3f ms" % (1e3 * first_s))
    binarize_s = timed(binarize_fn, (), bench.repeats)
    print("of each Theano call, binarizing W:        %8.3f ms (all %d M weights, on every call)"
          % (1e3 * binarize_s, float_bytes // 4 // 10 ** 6))
    print("threads: Theano's sgemm uses OpenBLAS's threads; the popcount kernel runs on one core")


if __name__ == "__main__":
    raise SystemExit(main())
