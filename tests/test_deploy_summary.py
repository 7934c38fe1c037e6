"""deploy.summary against the parameter and multiply-accumulate counts of the papers' architectures
(docs/REPRODUCTION.md §1.3, §1.8, §2.1, §2.2, §2.4; trap 1)."""

import compat  # noqa: F401

import deploy_cases as cases
import lasagne
import pytest

from binaryconnect import batch_norm as bc_batch_norm
from binarynet import binary_net
from deploy.summary import layer_stats, summary, totals


@pytest.fixture(scope="module")
def paper_mlp():
    """784 - 3 x 4096 - 10 (§2.1)."""
    return cases.build_mlp((4096, 4096, 4096))[1][-1].norm


def test_paper_mlp_counts(paper_mlp):
    rows = layer_stats(paper_mlp)
    total = totals(rows)
    weights = 784 * 4096 + 2 * 4096 * 4096 + 4096 * 10
    units = 3 * 4096 + 10
    assert total.binary_params == weights
    assert total.float_params == units + 4 * units  # biases; beta, gamma, mean, inv_std
    assert total.binary_macs == 2 * 4096 * 4096 + 4096 * 10 and total.float_macs == 784 * 4096
    assert total.stored_bytes == 4 * (weights + 5 * units) and total.Wb_bytes == 4 * weights
    assert total.packed_bytes == weights / 8 + 4 * 5 * units
    assert total.compression_ratio == pytest.approx(4 * (weights + 5 * units) / (weights / 8 + 20 * units))
    assert [row.input_bits for row in rows if row.kind == "binary dense"] == [32, 1, 1, 1]
    assert [row.kind for row in rows[:5]] == ["input", "dropout (p=0.2)", "binary dense", "batch norm", "sign"]
    assert rows[2].output_shape == (4096,) and rows[0].output_shape == (1, 28, 28)


def test_summary_table_lists_every_layer_and_the_totals(paper_mlp):
    text = summary(paper_mlp)
    assert len([line for line in text.splitlines() if " binary dense " in line]) == 4
    assert "Compression ratio of memory       %.2f x" % totals(layer_stats(paper_mlp)).compression_ratio in text
    assert "float 3.21 M" in text and "trap 1" not in text  # 784 * 4096 float MACs; no stochastic layer


def test_convnet_macs_count_every_output_pixel():
    """Conv MACs = out_h * out_w * C_out * C_in * 3 * 3; pooling before batch norm halves the next input (trap 8)."""
    network = cases.build_convnet((3, 3, 5, 5, 7, 7), 9)[1][-1].norm
    rows = [row for row in layer_stats(network) if row.kind.startswith("binary conv")]
    sizes, channels = [32, 32, 16, 16, 8, 8], [3, 3, 3, 5, 5, 7, 7]
    assert [row.binary_macs + row.float_macs for row in rows] == [
        size * size * c_out * c_in * 9 for size, c_in, c_out in zip(sizes, channels, channels[1:])
    ]
    assert rows[0].float_macs and not rows[0].binary_macs and all(row.binary_macs for row in rows[1:])
    dense = [row for row in layer_stats(network) if row.kind == "binary dense"]
    assert dense[0].binary_params == 7 * 4 * 4 * 9  # the (7, 4, 4) maps flattened (trap 24)


def test_stochastic_binaryconnect_is_counted_with_float_weights_at_test_time():
    layer = lasagne.layers.InputLayer((None, 1, 28, 28))
    for units, nonlinearity in ((67, lasagne.nonlinearities.rectify), (10, lasagne.nonlinearities.identity)):
        layer = binary_net.DenseLayer(
            layer, units, binary=True, stochastic=True, H=1.0, nonlinearity=lasagne.nonlinearities.identity
        )
        layer = bc_batch_norm.BatchNormLayer(layer, epsilon=1e-4, alpha=0.15, nonlinearity=nonlinearity)
    rows = layer_stats(layer)
    total = totals(rows)
    assert total.binary_macs == 0 and total.float_macs == 784 * 67 + 67 * 10 and total.Wb_bytes == 0
    assert total.binary_params == 784 * 67 + 67 * 10 and total.float_params == 77 + 4 * 77
    assert [row.kind for row in rows if row.float_weights_at_test] == ["binary dense"] * 2
    assert "BC batch norm + rectify" in summary(layer) and "float32 latent W (trap 1)" in summary(layer)
