"""Using a trained network (deploy.evaluate, deploy.summary, deploy.export) on small finished runs of all six
experiments (conftest.trained_runs): the evaluated test error equals the logged one in every digit, the packed
XNOR-popcount engine predicts what Theano's deterministic pass predicts, image for image, for the MLP and both
ConvNet topologies, and unfinished or foreign folders are refused in one line."""

import compat  # noqa: F401
from compat.number_format import py2_str

import json
import shutil

import lasagne
import numpy as np
import pytest
import theano

from deploy import evaluate, export, summary, trained
from deploy.engine import PackedNetwork
from harness import manifest
from harness.files import write_npz

SIX = [
    "binarynet-mnist",
    "binarynet-cifar10",
    "binarynet-svhn",
    "binaryconnect-mnist",
    "binaryconnect-cifar10",
    "binaryconnect-svhn",
]
BINARYNET = SIX[:3]


def logged_test_error(folder):
    return json.loads((folder / "log.jsonl").read_text().splitlines()[-1])["test_error_rate"]


def data_path(name, folder):
    """The data folder the run read (recorded in run.json)."""
    return manifest.read(folder)["settings"]["data_path"]


@pytest.mark.parametrize("name", SIX)
def test_evaluate_gives_the_logged_test_error(name, trained_runs, capsys, monkeypatch):
    folder, _ = trained_runs[name]
    monkeypatch.setenv("SVHN_LOCAL_PATH", data_path(name, folder))
    assert evaluate.main([str(folder), "--data-path", data_path(name, folder)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "  test error rate:               %s%%" % py2_str(logged_test_error(folder))
    assert lines[3].endswith("(the same)")


@pytest.mark.parametrize("name", BINARYNET)
def test_the_packed_engine_predicts_what_theano_predicts(name, trained_runs, tmp_path, capsys):
    """The exported file of the trained run, run by the engine (C kernel and NumPy fallback), against the compiled
    deterministic pass on the same test images; and evaluate --engine packed gives the logged error too."""
    folder, _ = trained_runs[name]
    run = trained.open_run(folder, data_path(name, folder))
    net = trained.trained_network(run)
    test = trained.test_set(run)
    input = lasagne.layers.get_all_layers(net)[0].input_var
    scores = theano.function([input], lasagne.layers.get_output(net, deterministic=True))(test.X)
    assert export.main([str(folder), "--output", str(tmp_path / "packed.npz")]) == 0
    assert "runnable with XNOR + popcount" in capsys.readouterr().out
    for backend in ("c", "numpy"):
        packed = PackedNetwork.load(tmp_path / "packed.npz", backend=backend)
        assert np.array_equal(packed.predict(test.X), np.argmax(scores, axis=1)), backend
        assert np.array_equal(packed.forward(test.X), scores), backend
    with np.load(tmp_path / "packed.npz", allow_pickle=False) as data:
        assert bool(data["runnable"]) and str(data["note"]) == ""
    assert evaluate.main([str(folder), "--data-path", data_path(name, folder), "--engine", "packed"]) == 0
    assert capsys.readouterr().out.splitlines()[3].endswith("(the same)")


@pytest.mark.parametrize("name", SIX[3:])
def test_binaryconnect_exports_only_its_binary_weights_and_says_so(name, trained_runs, tmp_path, capsys):
    folder, _ = trained_runs[name]
    assert export.main([str(folder), "--output", str(tmp_path / "bits.npz")]) == 0
    out = capsys.readouterr().out
    assert "not runnable with XNOR + popcount" in out and "real-valued weights" in out
    with np.load(tmp_path / "bits.npz", allow_pickle=False) as data:
        assert not bool(data["runnable"]) and any(key.endswith("/sign_W") for key in data.files)
    assert evaluate.main([str(folder), "--engine", "packed"]) == 1
    assert capsys.readouterr().err.startswith("error: --engine packed needs a deterministic BinaryNet")


@pytest.mark.parametrize("name", SIX)
def test_summary_of_every_experiment(name, trained_runs, capsys):
    folder, _ = trained_runs[name]
    assert summary.main([str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("%s: %s\n" % (folder, name)) and "Compression ratio of memory" in out
    assert ("* stochastic binarization" in out) == name.startswith("binaryconnect")


def test_unfinished_foreign_and_mismatched_folders_are_refused(trained_runs, tmp_path, capsys):
    folder, _ = trained_runs["binarynet-mnist"]
    assert evaluate.main([str(tmp_path)]) == 1
    assert "has no run.json: it is not a run folder of this project" in capsys.readouterr().err
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    recorded = manifest.read(copy)
    manifest.write(copy, dict(recorded, experiment="resnet-imagenet"))
    assert export.main([str(copy)]) == 1
    assert "is a run of 'resnet-imagenet', not of one of the six experiments" in capsys.readouterr().err
    manifest.write(copy, dict(recorded, settings=dict(recorded["settings"], num_epochs=5)))
    assert evaluate.main([str(copy)]) == 1  # LR_decay was derived from 2 epochs
    assert (
        "run.json: the recorded settings of binarynet-mnist are not what its code computes" in capsys.readouterr().err
    )
    manifest.write(copy, dict(recorded, settings=dict(recorded["settings"], seed=99)))
    assert evaluate.main([str(copy)]) == 1
    assert "checkpoint.npz was written with other settings (seed 1234, now 99)" in capsys.readouterr().err
    manifest.write(copy, recorded)
    shutil.copy(copy / "checkpoint.previous.npz", copy / "checkpoint.npz")  # as if killed after epoch 1 of 2
    assert evaluate.main([str(copy)]) == 1
    err = capsys.readouterr().err
    assert "is unfinished (epoch 1 of 2): rerun its training command to finish it, or pass --unfinished" in err
    shutil.copy(folder / "checkpoint.npz", copy / "checkpoint.npz")
    with np.load(copy / "mnist_parameters.npz") as saved:
        arrays = {key: saved[key] for key in saved.files}
    arrays["arr_1"] = arrays["arr_1"] + 1  # another epoch's parameters, as left by a kill between the two writes
    write_npz(copy / "mnist_parameters.npz", arrays)
    assert evaluate.main([str(copy)]) == 1
    assert "mnist_parameters.npz is not the parameters file of the checkpoint" in capsys.readouterr().err
