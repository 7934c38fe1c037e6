"""The ONNX and QONNX exports (deploy.onnx_graph, deploy.onnx_export, deploy.onnx_check; docs/EXPORT.md): the
models compute what the packed engine computes, image for image, on the planted edge cases (exactly) and on small
trained runs (the real MNIST test set and synthetic CIFAR-10/SVHN); BinaryConnect exports a float model labelled so;
a damaged or foreign file gives one error line. Needs the optional extra (make setup INSTALL_FLAGS=--onnx): skipped
without it, except under CI=true, where CI installs it."""

import compat  # noqa: F401

import dataclasses
import importlib.util
import json
import os

import numpy as np
import pytest

MISSING = [name for name in ("onnx", "onnxruntime", "qonnx") if importlib.util.find_spec(name) is None]
if MISSING:
    message = "the ONNX extra is not installed (%s): make setup INSTALL_FLAGS=--onnx" % ", ".join(MISSING)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: .ci/run installs it)", pytrace=False)
    pytest.skip(message, allow_module_level=True)

import deploy_cases as cases  # noqa: E402
import lasagne  # noqa: E402
import onnx  # noqa: E402
import onnxruntime  # noqa: E402
import theano  # noqa: E402
from qonnx.core.onnx_exec import execute_onnx  # noqa: E402

from deploy import export, onnx_check, onnx_export, onnx_graph, trained  # noqa: E402
from deploy.engine import PackedNetwork  # noqa: E402
from harness import manifest  # noqa: E402
from harness.files import file_digest  # noqa: E402

BINARYNET = ["binarynet-mnist", "binarynet-cifar10", "binarynet-svhn"]
BINARYCONNECT = ["binaryconnect-mnist", "binaryconnect-cifar10", "binaryconnect-svhn"]


def onnx_stages(model, X):
    """onnxruntime's (every stage's ±1 output, scores, labels): the Where outputs made graph outputs."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    signs = [node.output[0] for node in probe.graph.node if node.op_type == "Where"]
    probe.graph.output.extend(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in signs)
    session = onnxruntime.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    scores, labels, *hidden = session.run(None, {onnx_graph.INPUT: X})
    return hidden, scores, labels


def qonnx_stages(model, X):
    """qonnx's execution: (every MultiThreshold output, scores, labels)."""
    wrapped = onnx_check.qonnx_model(model, len(X))
    context = execute_onnx(wrapped, {onnx_graph.INPUT: X}, return_full_exec_context=True)
    hidden = [context[node.output[0]] for node in wrapped.graph.node if node.op_type == "MultiThreshold"]
    return hidden, context[onnx_graph.SCORES], context[onnx_graph.LABELS]


RUNNERS = {"onnx": onnx_stages, "qonnx": qonnx_stages}


@pytest.mark.parametrize("flavour", onnx_graph.FLAVOURS)
@pytest.mark.parametrize("name", ["mlp"] + sorted(cases.CONVNETS))
def test_every_stage_equals_the_engine_and_theano_on_the_planted_edge_cases(name, flavour):
    """Ties at the threshold, trap 32 and FMA units, flipped units under max-pooling, constant units: every hidden
    ±1 output and the scores, exactly (the inputs are exact in float32 sums, tests/deploy_cases.py)."""
    exported = cases.exported(name)
    packed = PackedNetwork.load(exported.path)
    model = onnx_graph.binarynet_model(packed, flavour, {"case": name})
    onnx.checker.check_model(model, full_check=True)
    ops = {node.op_type for node in model.graph.node}
    assert "Sign" not in ops and ("MultiThreshold" in ops) == (flavour == "qonnx")
    hidden, scores, labels = RUNNERS[flavour](model, exported.X)
    engine = packed.layer_outputs(exported.X)
    assert len(hidden) == len(engine) - 1
    for ours, theirs, theano_signs in zip(hidden, engine, exported.hidden):
        assert np.array_equal(ours, theirs) and np.array_equal(ours, theano_signs)
    assert scores.dtype == np.float32 and np.array_equal(scores, engine[-1]) and np.array_equal(scores, exported.scores)
    assert np.array_equal(labels, np.argmax(exported.scores, axis=1))


def test_the_qonnx_flavour_passes_qonnxs_checks_and_annotates_the_bipolar_tensors():
    packed = PackedNetwork.load(cases.exported("svhn-like").path)
    model = onnx_graph.binarynet_model(packed, "qonnx", {})
    from qonnx.core.datatype import DataType

    wrapped = onnx_check.qonnx_model(model, 1)
    for node in wrapped.graph.node:
        if node.op_type == "MultiThreshold":
            assert wrapped.get_tensor_datatype(node.output[0]) == DataType["BIPOLAR"]
        if node.op_type in ("MatMul", "Conv"):
            assert wrapped.get_tensor_datatype(node.input[1]) == DataType["BIPOLAR"]
    assert onnx_graph.metadata(model)["tie_rule"].startswith("sign(x) = +1 for x >= 0")


def write_foreign(path):
    """A valid ONNX model that is not one of this export's."""
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
    )
    onnx.save(onnx.helper.make_model(graph), str(path))


@pytest.mark.parametrize(
    "damage, expected",
    [
        ("truncated", "is not a valid ONNX model"),
        ("text", "is not a valid ONNX model"),
        ("foreign", "is an ONNX model but not one of this project's exports"),
        ("version", "has export version 99"),
        ("missing", "is missing"),
    ],
)
def test_a_damaged_or_foreign_file_gives_one_error_line(damage, expected, tmp_path, capsys):
    path = tmp_path / "model.onnx"
    model = onnx_graph.binarynet_model(PackedNetwork.load(cases.exported("mlp").path), "onnx", {})
    onnx_graph.save(model, path)
    assert onnx_check.main([str(path)]) == 0
    assert "runs: scores of shape (1, 10)" in capsys.readouterr().out
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    elif damage == "text":
        path.write_text("not a model\n")
    elif damage == "foreign":
        write_foreign(path)
    elif damage == "version":
        onnx.helper.set_model_props(model, dict(onnx_graph.metadata(model), version="99"))
        onnx_graph.save(model, path)
    else:
        path.unlink()
    assert onnx_check.main([str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and err.count("\n") == 1


def test_export_onnx_refuses_an_output_folder_that_is_not_there_and_a_folder_that_is_no_run(tmp_path, capsys):
    assert onnx_export.main([str(tmp_path), "--output-dir", str(tmp_path / "absent")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "absent is not a folder" in err and err.count("\n") == 1
    assert onnx_export.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def data_path(folder):
    return manifest.read(folder)["settings"]["data_path"]


@pytest.mark.parametrize("name", BINARYNET)
def test_export_onnx_of_a_trained_binarynet_predicts_what_the_engine_predicts(
    name, trained_runs, tmp_path, monkeypatch, capsys
):
    """Every test image (for MNIST the whole real test set, 10,000 images): onnxruntime's and qonnx's labels are
    the engine's, and so are the scores, bit for bit (the hidden and output stages are integer-valued; the first
    layer's float32 sums may round otherwise than the engine's sgemm, docs/EXPORT.md, which would show here)."""
    folder, _ = trained_runs[name]
    monkeypatch.setenv("SVHN_LOCAL_PATH", data_path(folder))
    assert onnx_export.main([str(folder), "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "model.onnx" in out and "model-qonnx.onnx" in out
    run = trained.open_run(folder, data_path(folder))
    if name == "binarynet-mnist":
        run = run._replace(settings=dataclasses.replace(run.settings, test_size=10000))
    X = trained.test_set(run).X
    assert len(X) == 10000 or name != "binarynet-mnist"
    export.export(trained.trained_network(run), tmp_path / "packed.npz")
    packed = PackedNetwork.load(tmp_path / "packed.npz")
    scores = packed.forward(X)
    for flavour, file in (("onnx", "model.onnx"), ("qonnx", "model-qonnx.onnx")):
        model = onnx_graph.read_model(tmp_path / file)
        props = onnx_graph.metadata(model)
        assert props["flavour"] == flavour and props["experiment"] == name
        assert props["run_json_sha256"] == file_digest(folder / "run.json", "sha256")
        assert props["parameters_sha256"] == file_digest(folder / run.settings.save_path, "sha256")
        assert json.loads(props["settings"]) == manifest.read(folder)["settings"]
        _, ours, labels = RUNNERS[flavour](model, X)
        assert np.array_equal(labels, np.argmax(scores, axis=1)), flavour
        assert np.array_equal(ours, scores), flavour


@pytest.mark.parametrize("name", BINARYCONNECT)
def test_binaryconnect_exports_a_float_model_labelled_so(name, trained_runs, tmp_path, monkeypatch, capsys):
    """Stochastic BinaryConnect evaluates with the real-valued W (trap 1): a float model, equal to Theano's
    deterministic pass to float32 rounding, with the same labels on every test image."""
    folder, _ = trained_runs[name]
    monkeypatch.setenv("SVHN_LOCAL_PATH", data_path(folder))
    assert onnx_export.main([str(folder), "--output-dir", str(tmp_path)]) == 0
    assert not (tmp_path / "model-qonnx.onnx").exists()
    model = onnx_graph.read_model(tmp_path / "model.onnx")
    props = onnx_graph.metadata(model)
    assert props["flavour"] == onnx_graph.FLOAT_FLAVOUR and "real-valued weights" in props["network"]
    run = trained.open_run(folder, data_path(folder))
    net = trained.trained_network(run)
    X = trained.test_set(run).X
    input = lasagne.layers.get_all_layers(net)[0].input_var
    expected = theano.function([input], lasagne.layers.get_output(net, deterministic=True))(X)
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    scores, labels = session.run(None, {onnx_graph.INPUT: X})
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-5)
    assert np.array_equal(labels, np.argmax(expected, axis=1))
