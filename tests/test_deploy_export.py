"""deploy.export: the file format of docs/EXPORT.md, the bit layout decoded by hand, thresholds against the planted
edge cases and against Theano's compiled graph, and what it refuses (docs/REPRODUCTION.md §1.1, §1.8; traps 8, 23,
32)."""

import compat  # noqa: F401

import deploy_cases as cases
import lasagne
import numpy as np
import pytest
import theano
from theano.scalar.basic import Composite
from theano.tensor.elemwise import Elemwise

from binaryconnect import batch_norm as bc_batch_norm
from binarynet import binary_net
from deploy import layout
from deploy.engine import PackedNetwork
from deploy.errors import DeployError
from deploy.export import NotRunnableWarning, export
from deploy.stages import read_stages
from deploy.thresholds import compile_tail
from harness.errors import UserError

NETWORKS = ["mlp"] + sorted(cases.CONVNETS)
COMMON = {
    "kind": "str",
    "role": "str",
    "fan_in": "int64",
    "input_shape": "int64",
    "output_shape": "int64",
    "b": "float32",
    "beta": "float32",
    "gamma": "float32",
    "mean": "float32",
    "inv_std": "float32",
    "weights": "uint64",
}
BY_ROLE = {
    "first": {"flipped": "bool", "threshold": "float32"},
    "hidden": {"flipped": "bool", "threshold": "int32"},
    "output": {"table": "float32"},
}
CONV = {"filter_size": "int64", "pad": "int64", "pool_size": "int64"}


def _dtype(value: np.ndarray) -> str:
    return "str" if value.dtype.kind == "U" else str(value.dtype)


def _bit(packed: np.ndarray, k: int) -> int:
    """Bit k of a packed row, decoded by hand: word k // 64, bit k % 64 counted from the least significant."""
    return int(packed[k // 64]) >> (k % 64) & 1


@pytest.mark.parametrize("name", NETWORKS)
def test_file_loads_without_pickle_and_holds_exactly_the_documented_arrays(name):
    case = cases.exported(name)
    with np.load(case.path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    assert str(arrays.pop("format")) == "binarynet-packed" and int(arrays.pop("version")) == 1
    assert bool(arrays.pop("runnable")) and str(arrays.pop("note")) == ""
    assert int(arrays.pop("num_layers")) == len(case.case.stages)
    assert tuple(arrays.pop("input_shape")) == case.X.shape[1:]
    for index, stage in enumerate(case.case.stages):
        role = str(arrays["layer%d/role" % index])
        assert role == ("first" if index == 0 else "output" if stage.sign is None else "hidden")
        expected = dict(COMMON, **BY_ROLE[role], **(CONV if str(arrays["layer%d/kind" % index]) == "conv" else {}))
        layer = {key.split("/", 1)[1]: arrays.pop(key) for key in list(arrays) if key.startswith("layer%d/" % index)}
        assert {key: _dtype(value) for key, value in layer.items()} == expected
        units = stage.norm.beta.get_value().shape[0]
        rows = layer["weights"]
        if role == "output":
            assert layer["table"].shape == (units, int(layer["fan_in"]) + 1)
        assert rows.shape[0] == units and len(layer["threshold" if role != "output" else "table"]) == units
        assert tuple(layer["output_shape"]) == (stage.pool or stage.binary).output_shape[1:]
    assert arrays == {}


@pytest.mark.parametrize("name", NETWORKS)
def test_weight_rows_decode_by_hand_to_theanos_binarized_weights(name):
    """1 = +1, LSB first in uint64 words along the fan-in, padding bits 0, a flipped row negated; convolution taps
    flipped (trap 23); dense rows after convolutions in channel-major order (trap 24)."""
    case = cases.exported(name)
    data = np.load(case.path, allow_pickle=False)
    for index, stage in enumerate(case.case.stages):
        Wb, rows = case.Wbs[index], data["layer%d/weights" % index]
        flipped = data["layer%d/flipped" % index] if index < len(case.Wbs) - 1 else np.zeros(len(rows), bool)
        for unit in (0, len(rows) - 1):
            if Wb.ndim == 4:  # rows[f, i, j] packs the C_in channels of Wb[f, :, kh - 1 - i, kw - 1 - j]
                c_in = Wb.shape[1]
                for i, j in ((0, 0), (1, 2), (2, 1)):
                    word = rows[unit, i, j]
                    bits = [_bit(word, c) for c in range(c_in)]
                    assert bits == [int((Wb[unit, c, 2 - i, 2 - j] > 0) != flipped[unit]) for c in range(c_in)]
                    assert all(_bit(word, k) == 0 for k in range(c_in, 64 * len(word)))  # padding
            else:  # Wb (n_in, units)
                n = Wb.shape[0]
                bits = [_bit(rows[unit], k) for k in range(n)]
                assert bits == [int((Wb[k, unit] > 0) != flipped[unit]) for k in range(n)]
                assert all(_bit(rows[unit], k) == 0 for k in range(n, 64 * rows.shape[1]))
    # Trap 32: W = 0, -1e-8 and -2.9e-8 binarize to +1, -6e-8 to -1, in Theano's pass and in the file alike.
    W, Wb = case.case.stages[1].binary.W.get_value(), case.Wbs[1]
    for value, sign in zip(cases.SPECIAL_W, (1, 1, 1, -1, 1)):
        assert (W == value).any() and (Wb[W == value] == sign).all()


def test_pack_is_lsb_first_with_zero_padding():
    bits = np.zeros((1, 67), bool)
    bits[0, [0, 1, 63, 64, 66]] = True
    packed = layout.pack(bits)
    assert packed.dtype == np.dtype("<u8") and packed.tolist() == [[1 | 2 | 1 << 63, 1 | 4]]
    assert np.array_equal(layout.unpack(packed, 67), bits)


@pytest.mark.parametrize("name", NETWORKS)
def test_planted_ties_sit_exactly_on_the_integer_thresholds(name):
    """TIE, TRAP32, EXACT and FMA units were given parameters putting their sign's step exactly at the pre-activation
    v of one test image: the unit is +1 at v and -1 one step beyond, so the oriented threshold is v itself. (The FMA
    plant is +1 at v only where g++ fuses 1 + p; without fusion its threshold is the next reachable value.)"""
    case = cases.exported(name)
    data = np.load(case.path, allow_pickle=False)
    hidden_plants = [plant for plant in case.plants if plant.stage > 0]
    assert {plant.kind for plant in hidden_plants} == {cases.TIE, cases.TRAP32, cases.EXACT, cases.FMA}
    for plant in hidden_plants:
        flipped = bool(data["layer%d/flipped" % plant.stage][plant.unit])
        assert flipped == (case.params[plant.stage]["gamma"][plant.unit] < 0)
        threshold = data["layer%d/threshold" % plant.stage][plant.unit]
        if plant.kind == cases.FMA and not cases.theano_fuses():
            assert threshold > (-plant.v if flipped else plant.v) and case.hidden[plant.stage][plant.where] == -1
            continue
        assert threshold == (-plant.v if flipped else plant.v)
        assert case.hidden[plant.stage][plant.where] == 1


@pytest.mark.parametrize("name", NETWORKS)
def test_thresholds_follow_theanos_float32_not_the_textbook_formula(name):
    """Theano computes round(0.5 * ((1 + (x - mean) * gamma * inv_std) + beta)) with the first addition fused
    (docs/EXPORT.md): that model explains every hidden output; the textbook sign((x - mean) * gamma * inv_std +
    beta) misses the TRAP32 and FMA plants, the unfused model the FMA plants."""
    if not cases.theano_fuses():
        pytest.skip("g++ builds Theano's C code without FMA here (no FMA on this CPU, or -ffp-contract=off)")
    case = cases.exported(name)
    for index in range(1, len(case.hidden)):
        x = cases.bn_inputs(case, index)
        assert np.array_equal(cases.theano_signs(x, case.params[index], fused=True), case.hidden[index])
        for plant in (plant for plant in case.plants if plant.stage == index):
            naive = cases.naive_signs(x, case.params[index])[plant.where]
            unfused = cases.theano_signs(x, case.params[index], fused=False)[plant.where]
            assert naive == (-1 if plant.kind in (cases.TRAP32, cases.FMA) else 1)
            assert unfused == (-1 if plant.kind == cases.FMA else 1)


@pytest.mark.parametrize("name", NETWORKS)
def test_constant_and_flipped_units(name):
    """gamma = 0 or inv_std = 0: the unit is sign(beta) (trap 32: beta = -1e-8 gives +1), a threshold no or every
    pre-activation reaches (n + 1 or -n), unflipped. A unit that steps is flipped iff gamma * inv_std < 0."""
    case = cases.exported(name)
    data = np.load(case.path, allow_pickle=False)
    seen, counts = set(), np.zeros(2, int)
    for index in range(1, len(case.hidden)):
        params, n = case.params[index], int(data["layer%d/fan_in" % index])
        threshold, flipped = data["layer%d/threshold" % index], data["layer%d/flipped" % index]
        constant = (params["gamma"] == 0) | (params["inv_std"] == 0)
        expected = np.where(np.float32(1) + params["beta"] >= 1, 1, -1)  # Theano's sign of a constant beta
        outputs = np.moveaxis(case.hidden[index], 1, -1).reshape(-1, len(threshold))
        for unit in np.flatnonzero(constant):
            seen.add(expected[unit])
            assert not flipped[unit] and threshold[unit] == (-n if expected[unit] == 1 else n + 1)
            assert (outputs[:, unit] == expected[unit]).all()
        # A unit whose step lies outside the reachable sums is constant too; every other one is flipped iff its
        # scale is negative.
        stepping = (threshold > -n) & (threshold <= n)
        assert not (stepping & constant).any()
        counts += [stepping.sum(), len(stepping)]
        assert np.array_equal(flipped[stepping], (params["gamma"] * params["inv_std"] < 0)[stepping])
        assert not flipped[~stepping].any()
    assert seen == {-1, 1} and counts[0] > counts[1] / 2


def _composites(function: theano.compile.Function) -> set:
    return {
        str(node.op.scalar_op)
        for node in function.maker.fgraph.toposort()
        if isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, Composite)
    }


@pytest.mark.parametrize("name", NETWORKS)
def test_thresholds_are_read_off_the_networks_own_compiled_composites(name):
    """The bias add is in the fused elementwise node after Dot22/CorrMM (no Gemm takes it), and every stage's tail
    compiles to a Composite of the network's deterministic graph: the same C code evaluates the thresholds."""
    case = cases.exported(name).case
    nodes = [str(node.op) for node in case.function.maker.fgraph.toposort()]
    assert not any("Gemm" in op or "Gemv" in op for op in nodes)
    assert nodes.count("Dot22") == sum(not isinstance(s.binary, binary_net.Conv2DLayer) for s in case.stages)
    network = _composites(case.function)
    for stage in read_stages(case.network):
        tail = _composites(compile_tail(stage))
        assert tail and tail <= network
        if stage.pool is None and stage.sign is not None:  # + b inside: ((pre + b) - mean) * gamma * inv_std ...
            assert any("(((i4 + i5) - i6) * i7 * i8)" in composite for composite in tail)


def _bc_mlp(stochastic: bool) -> lasagne.layers.Layer:
    """BinaryConnect's MLP (§2.4): binary Dense -> BC batch norm + ReLU, identity at the output."""
    layer = lasagne.layers.InputLayer((None, 1, 28, 28))
    for units, nonlinearity in ((67, lasagne.nonlinearities.rectify), (10, lasagne.nonlinearities.identity)):
        layer = binary_net.DenseLayer(
            layer, units, binary=True, stochastic=stochastic, H=1.0, nonlinearity=lasagne.nonlinearities.identity
        )
        layer = bc_batch_norm.BatchNormLayer(layer, epsilon=1e-4, alpha=0.15, nonlinearity=nonlinearity)
    return layer


@pytest.mark.parametrize("stochastic, reason", [(True, "real-valued weights"), (False, "ReLU")])
def test_binaryconnect_exports_only_its_binary_parts_and_the_engine_refuses_it(tmp_path, stochastic, reason):
    network = _bc_mlp(stochastic)
    path = tmp_path / "bc.npz"
    with pytest.warns(NotRunnableWarning, match=reason):
        result = export(network, path)
    assert not result.runnable and reason in result.note and "not the evaluated network" in result.note
    with np.load(path, allow_pickle=False) as data:
        assert not bool(data["runnable"]) and str(data["note"]) == result.note
        assert not any(key.endswith(("/weights", "/threshold", "/table")) for key in data.files)
        first = lasagne.layers.get_all_layers(network)[1]
        bits = layout.unpack(data["layer0/sign_W"], 784)
        assert np.array_equal(bits, (np.float32(1) + first.W.get_value() >= 1).T)
        assert {"mean", "std", "beta", "gamma", "epsilon", "b"} <= {
            key.split("/")[1] for key in data.files if key.startswith("layer1/")
        }
    with pytest.raises(DeployError, match="cannot be run: not runnable"):
        PackedNetwork.load(path)


def _input():
    return lasagne.layers.InputLayer((None, 3, 8, 8))


def _dense(layer, **options):
    return binary_net.DenseLayer(
        layer,
        5,
        **dict(dict(binary=True, stochastic=False, H=1.0, nonlinearity=lasagne.nonlinearities.identity), **options),
    )


def _sign(layer):
    return lasagne.layers.NonlinearityLayer(binary_net.BatchNormLayer(layer), nonlinearity=binary_net.binary_tanh_unit)


def _head(layer):
    return binary_net.BatchNormLayer(_dense(layer))


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: _head(_sign(_dense(_input(), binary=False))), "binary=False"),
        (lambda: _head(_sign(_dense(_input(), H=0.5))), "H = 0.5"),
        (
            lambda: _head(
                _sign(
                    binary_net.Conv2DLayer(
                        _input(),
                        4,
                        (3, 3),
                        stride=2,
                        pad=1,
                        binary=True,
                        stochastic=False,
                        nonlinearity=lasagne.nonlinearities.identity,
                    )
                )
            ),
            "stride",
        ),
        (lambda: _head(binary_net.BatchNormLayer(_dense(_input()))), "no sign activation"),
        (lambda: _head(_sign(binary_net.BatchNormLayer(_dense(_input())))), "does not fit"),
        (lambda: _sign(_dense(_input())), "must end"),
        (
            lambda: _head(
                lasagne.layers.NonlinearityLayer(
                    binary_net.BatchNormLayer(_dense(_input())), nonlinearity=lasagne.nonlinearities.rectify
                )
            ),
            "does not fit",
        ),
    ],
)
def test_networks_the_export_cannot_pack_raise_export_error(tmp_path, build, message):
    with pytest.raises(UserError, match=message):
        export(build(), tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


def test_non_finite_parameters_raise_export_error(tmp_path):
    network = _head(_sign(_dense(_input())))
    norm = lasagne.layers.get_all_layers(network)[-1]
    norm.mean.set_value(np.array([0, np.nan, 0, 0, 0], np.float32))
    with pytest.raises(UserError, match="NaN"):
        export(network, tmp_path / "x.npz")
