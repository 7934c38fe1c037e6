"""deploy as a runtime of its own (docs/EXPORT.md, "Engine"): it imports without the project's harness, Theano or
Lasagne; its C library builds with GCC and Clang; the exact integer first layer against integer arithmetic; and
``deploy.predict`` on PNG and IDX files, against Theano's scores."""

import compat  # noqa: F401

import ctypes
import re
import shutil
import subprocess
import sys

import deploy_cases as cases
import numpy as np
import pytest
from conftest import REPO, write_idx
from test_deploy_engine import every_backend

from deploy import kernels, layout, pixels
from deploy.engine import PackedNetwork
from deploy.errors import DeployError
from deploy.predict import main as predict


def pixel_images(n: int, seed: int) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, (n, 1, 28, 28)).astype(np.uint8)


def test_the_runtime_imports_without_harness_theano_or_lasagne():
    code = (
        "import sys\n"
        "for name in ('harness', 'theano', 'lasagne', 'compat'):\n"
        "    sys.modules[name] = None  # any import of them fails\n"
        "from deploy import engine, kernels, layout, pixels, errors\n"
        "print(kernels.select('auto').name)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in ("c", "numpy")


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_the_c_library_builds_with_gcc_and_clang_and_gives_the_same_sums(compiler, monkeypatch, tmp_path):
    if shutil.which(compiler) is None:
        pytest.skip("%s is not installed" % compiler)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    library = ctypes.CDLL(str(kernels.build(shutil.which(compiler))))
    rng = np.random.RandomState(1)
    act, W = rng.rand(6, 200) < 0.5, rng.rand(9, 200) < 0.5
    expected = layout.signs(act, np.int64) @ layout.signs(W, np.int64).T
    for kernel in kernels.available_kernels(library):
        backend = kernels.CKernels(library, kernel, 2)
        assert np.array_equal(backend.dense_dot(layout.pack(act), layout.pack(W), 200), expected), kernel


def test_pixels_are_recovered_exactly_and_other_inputs_refused():
    k = pixel_images(3, 0)
    assert np.array_equal(pixels.levels(pixels.scaled(k)), k)
    assert pixels.scaled(k).dtype == np.float32
    with pytest.raises(DeployError, match="8-bit pixels"):
        pixels.levels(pixels.scaled(k) + np.float32(1e-3))


def test_integer_first_layer_equals_exact_integer_arithmetic_with_every_backend():
    """255 z' = sum_j w'_j (2 k_j - 255), in int64 by a plain product, against each threshold times 255."""
    case = cases.exported("mlp")
    k = pixel_images(40, 2)
    network = PackedNetwork.load(case.path, first_layer="pixels")
    first = network.layers[0]
    exact = (2 * k.reshape(len(k), -1).astype(np.int64) - 255) @ first.weights.astype(np.int64)
    expected = np.where(exact >= 255 * first.threshold.astype(np.float64), 1, -1)
    for backend in every_backend():
        network.backend = backend
        assert np.array_equal(network.layer_outputs(pixels.scaled(k))[0], expected), backend.kernel


def test_first_layer_option_is_checked():
    path = cases.exported("svhn-like").path
    with pytest.raises(DeployError, match="dense first layer"):
        PackedNetwork.load(path, first_layer="pixels")
    with pytest.raises(DeployError, match="first_layer must be"):
        PackedNetwork.load(cases.exported("mlp").path, first_layer="int")


def test_predict_classifies_png_and_idx_files_as_theano_does(tmp_path, capsys):
    from PIL import Image

    case = cases.exported("mlp")
    k = pixel_images(5, 3)
    _, scores, _ = case.case.run(pixels.scaled(k))
    labels = np.argmax(scores, axis=1)
    idx = write_idx(tmp_path / "images-idx3-ubyte", k[:, 0])
    png = tmp_path / "one.png"
    Image.fromarray(k[2, 0]).save(png)
    assert predict(["--model", str(case.path), "--images", str(idx), str(png)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:5] == ["%s[%d]: %d (score %.4f)" % (idx, i, labels[i], scores[i, labels[i]]) for i in range(5)]
    assert lines[5] == "%s: %d (score %.4f)" % (png, labels[2], scores[2, labels[2]])


def test_predict_refuses_what_it_cannot_read_in_one_line(tmp_path, capsys):
    from PIL import Image

    model = str(cases.exported("mlp").path)
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "big.png")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "short-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03\x00\x00")
    for arguments, message in [
        (["--images", str(tmp_path / "big.png")], "1x32x32.*1x28x28: resize"),
        (["--images", str(tmp_path / "notes.txt")], "neither an IDX image file nor"),
        (["--images", str(tmp_path / "short-idx3-ubyte")], "not a complete IDX image file"),
        (["--images", str(tmp_path / "absent.png")], "is not a file"),
    ]:
        assert predict(["--model", model] + arguments) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and re.search(message, err), err
    assert predict([str(tmp_path), "--images", str(tmp_path / "big.png")]) == 1
    assert "make export" in capsys.readouterr().err
