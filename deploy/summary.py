"""``summary(network)``: a larq-style table of a BinaryNet or BinaryConnect network's bits and multiply-accumulates
per layer (docs/REPRODUCTION.md §1.1, §1.3, §1.8); ``layer_stats`` and ``totals`` are the same figures as data.

1-bit parameters are the binary weights W (tagged 'binary', §1.3), 32-bit parameters everything else (biases,
batch norm). Memory: "stored" counts every parameter as the float32 it is trained and saved as; "Wb" the float32
±1 copy of the weights Theano's test pass builds from W on every call; "packed" 1 bit per binary weight plus
the 32-bit parameters. A multiply-accumulate is binary when both its input and its weight are ±1 at test time.
"""

import compat  # noqa: F401  (must precede theano and lasagne)

from typing import List, NamedTuple, Optional, Tuple

import lasagne
import numpy as np

from binaryconnect import batch_norm as bc_batch_norm
from binarynet import binary_net
from deploy import trained
from deploy.stages import BINARY_LAYERS, is_sign
from harness.errors import ArgumentParser, command

FLOAT_BYTES = 4


class LayerStats(NamedTuple):
    name: str
    kind: str
    output_shape: Tuple[int, ...]  # per image
    input_bits: Optional[int]  # binary layers: 1 for ±1 inputs at test time, 32 for real inputs
    binary_params: int
    float_params: int
    stored_bytes: int
    Wb_bytes: int
    packed_bytes: float
    binary_macs: int
    float_macs: int
    float_weights_at_test: bool  # stochastic binarization: test time multiplies by the real W (trap 1)


class Totals(NamedTuple):
    binary_params: int
    float_params: int
    stored_bytes: int
    Wb_bytes: int
    packed_bytes: float
    binary_macs: int
    float_macs: int

    @property
    def compression_ratio(self) -> float:
        """Stored float32 bytes per packed byte."""
        return self.stored_bytes / self.packed_bytes

    @property
    def binary_mac_fraction(self) -> float:
        return self.binary_macs / max(1, self.binary_macs + self.float_macs)


def _kind(layer: lasagne.layers.Layer) -> str:
    if isinstance(layer, binary_net.Conv2DLayer):
        return "binary conv %dx%d" % tuple(layer.filter_size)
    if isinstance(layer, binary_net.DenseLayer):
        return "binary dense"
    if isinstance(layer, bc_batch_norm.BatchNormLayer):
        return "BC batch norm + %s" % layer.nonlinearity.__name__
    if isinstance(layer, binary_net.BatchNormLayer):
        return "batch norm"
    if isinstance(layer, lasagne.layers.Pool2DLayer):
        return "%s-pool %dx%d" % ((layer.mode,) + tuple(layer.pool_size))
    if is_sign(layer):
        return "sign"
    if isinstance(layer, lasagne.layers.DropoutLayer):
        return "dropout (p=%g)" % layer.p
    if isinstance(layer, lasagne.layers.InputLayer):
        return "input"
    return type(layer).__name__


def _has_sign_inputs(layer: lasagne.layers.Layer) -> bool:
    """Whether the layer's input is ±1 at test time: a sign layer, looking through dropout and pooling."""
    incoming = layer.input_layer
    while isinstance(incoming, (lasagne.layers.DropoutLayer, lasagne.layers.Pool2DLayer)):
        incoming = incoming.input_layer
    return is_sign(incoming)


def _macs(layer: lasagne.layers.Layer) -> int:
    """Multiply-accumulates per image of a dense or convolution layer."""
    W_shape = layer.W.get_value(borrow=True).shape
    if isinstance(layer, binary_net.Conv2DLayer):
        return int(np.prod(layer.output_shape[2:]) * np.prod(W_shape))
    return int(np.prod(W_shape))


def layer_stats(network: lasagne.layers.Layer) -> List[LayerStats]:
    """One row per layer of ``network`` (its output layer), input to output."""
    rows = []
    for index, layer in enumerate(lasagne.layers.get_all_layers(network)):
        binary = sum(p.get_value(borrow=True).size for p in layer.get_params(binary=True))
        other = sum(p.get_value(borrow=True).size for p in layer.get_params()) - binary
        is_binary = isinstance(layer, BINARY_LAYERS) and layer.binary
        stochastic = is_binary and layer.stochastic
        macs = _macs(layer) if isinstance(layer, BINARY_LAYERS) else 0
        binary_mac = is_binary and not stochastic and _has_sign_inputs(layer)
        rows.append(
            LayerStats(
                name=layer.name or "%d" % index,
                kind=_kind(layer),
                output_shape=tuple(layer.output_shape[1:]),
                input_bits=(1 if _has_sign_inputs(layer) else 32) if isinstance(layer, BINARY_LAYERS) else None,
                binary_params=binary,
                float_params=other,
                stored_bytes=FLOAT_BYTES * (binary + other),
                Wb_bytes=0 if stochastic else FLOAT_BYTES * binary,
                packed_bytes=binary / 8 + FLOAT_BYTES * other,
                binary_macs=macs if binary_mac else 0,
                float_macs=0 if binary_mac else macs,
                float_weights_at_test=stochastic,
            )
        )
    return rows


def totals(rows: List[LayerStats]) -> Totals:
    return Totals(*(sum(getattr(row, field) for row in rows) for field in Totals._fields))


def _count(n: float) -> str:
    for scale, unit in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if n >= scale:
            return "%.2f%s" % (n / scale, unit)
    return "%d" % n


def summary(network: lasagne.layers.Layer) -> str:
    """The table: per layer kind, output shape, input precision, 1-bit and 32-bit parameters, memory (kB) stored
    as float32 / as Theano's float32 Wb / packed, binary and float MACs per image; then the totals."""
    rows = layer_stats(network)
    total = totals(rows)
    header = "%-4s %-22s %-12s %5s %10s %8s %10s %10s %10s %12s %12s" % (
        "",
        "Layer",
        "Outputs",
        "In",
        "1-bit",
        "32-bit",
        "Memory kB",
        "",
        "",
        "Binary",
        "Float",
    )
    header2 = "%-4s %-22s %-12s %5s %10s %8s %10s %10s %10s %12s %12s" % (
        "",
        "",
        "",
        "bits",
        "params",
        "params",
        "stored",
        "Wb",
        "packed",
        "MACs",
        "MACs",
    )
    line = "-" * len(header)
    body = []
    for row in rows:
        mark = "*" if row.float_weights_at_test else ""
        body.append(
            "%-4s %-22s %-12s %5s %10d %8d %10.2f %10s %10.2f %12d %12d"
            % (
                row.name,
                row.kind + mark,
                "x".join(map(str, row.output_shape)),
                "-" if row.input_bits is None else row.input_bits,
                row.binary_params,
                row.float_params,
                row.stored_bytes / 1e3,
                "%.2f" % (row.Wb_bytes / 1e3) if not row.float_weights_at_test else "-",
                row.packed_bytes / 1e3,
                row.binary_macs,
                row.float_macs,
            )
        )
    body.append(
        "%-4s %-22s %-12s %5s %10d %8d %10.2f %10.2f %10.2f %12d %12d"
        % (
            "",
            "Total",
            "",
            "",
            total.binary_params,
            total.float_params,
            total.stored_bytes / 1e3,
            total.Wb_bytes / 1e3,
            total.packed_bytes / 1e3,
            total.binary_macs,
            total.float_macs,
        )
    )
    lines = (
        [line, header, header2, line]
        + body[:-1]
        + [
            line,
            body[-1],
            line,
            "Total params                      %s (1-bit %s, 32-bit %s)"
            % (
                _count(total.binary_params + total.float_params),
                _count(total.binary_params),
                _count(total.float_params),
            ),
            "Memory, float32 as stored         %.2f kB" % (total.stored_bytes / 1e3),
            "Memory, packed (1-bit weights)    %.2f kB" % (total.packed_bytes / 1e3),
            "Compression ratio of memory       %.2f x" % total.compression_ratio,
            "MACs per image                    %s (binary %s, float %s)"
            % (_count(total.binary_macs + total.float_macs), _count(total.binary_macs), _count(total.float_macs)),
            "Ratio of MACs that are binary     %.4f" % total.binary_mac_fraction,
        ]
    )
    if any(row.float_weights_at_test for row in rows):
        lines.append(
            "* stochastic binarization: test time multiplies by the float32 latent W (trap 1), so its "
            "MACs are float and 'packed' is sign(W), not the evaluated network"
        )
    return "\n".join(lines)


@command
def main(argv: Optional[List[str]] = None) -> None:
    """``python -m deploy.summary RUN_DIR`` (``make summary RUN=...``): the table of a run's network."""
    parser = ArgumentParser(
        prog="python -m deploy.summary",
        description="Per-layer bits, memory and multiply-accumulates of a run's network.",
    )
    trained.add_run_arguments(parser)
    run = trained.open_run(trained.chosen_folder(parser.parse_args(argv)), finished=False)
    print("%s: %s" % (run.folder, run.settings.EXPERIMENT))
    print(summary(trained.network(run)))


if __name__ == "__main__":
    raise SystemExit(main())
