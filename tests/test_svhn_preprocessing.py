"""SVHN GCN + LeCun LCN (docs/REPRODUCTION.md §2.6, §3.4, traps 19-22) on small synthetic h5 files.

Expected values come from float64 references written here from the spec: an explicit 7x7 Gaussian, zero-padded
convolution by summing the 49 shifted copies of a padded image, GCN as "subtract the row mean, divide by the L2 norm".
"""

import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import pytest
import tables
from conftest import write_h5

from binaryconnect import svhn_preprocessing
from datasets import pytables_file
from datasets.lcn import ALL_CHANNELS, gaussian_kernel, lcn_rows, lecun_lcn
from harness.errors import UserError

REPO = Path(__file__).resolve().parents[1]
SIZES = {"splitted_train": 1234, "valid": 300, "test": 200}
SLAB = 500  # splitted_train: two full slabs and a partial one


def reference_kernel() -> np.ndarray:
    """exp(-(di² + dj²) / (2·2²)) around the centre (3, 3) of a 7x7 grid, normalized to sum 1, in float64."""
    kernel = np.array([[math.exp(-((i - 3) ** 2 + (j - 3) ** 2) / 8.0) for j in range(7)] for i in range(7)])
    return kernel / kernel.sum()


def reference_blur(images: np.ndarray) -> np.ndarray:
    """sum over the 49 offsets (di, dj) of G[di, dj] · image[r + 3 - di, c + 3 - dj], zeros outside the image."""
    kernel = reference_kernel()
    n, height, width = images.shape
    padded = np.zeros((n, height + 6, width + 6))
    padded[:, 3:-3, 3:-3] = images
    out = np.zeros((n, height, width))
    for di in range(7):
        for dj in range(7):
            out += kernel[di, dj] * padded[:, 6 - di : 6 - di + height, 6 - dj : 6 - dj + width]
    return out


def reference_lcn(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images, dtype=np.float64)
    denominator = np.sqrt(reference_blur(images**2))
    mean = denominator.mean(axis=(1, 2), keepdims=True)
    return (images - reference_blur(images)) / np.maximum(np.maximum(denominator, mean), 1e-4)


def reference_preprocessing(X: np.ndarray, channels=(0,)) -> np.ndarray:
    """GCN (scale 1) then LCN of the listed channel planes of channel-major rows, on the whole array at once."""
    X = X.astype(np.float64)
    X = X - X.mean(axis=1, keepdims=True)
    norms = np.sqrt((X**2).sum(axis=1, keepdims=True))
    X = X / np.where(norms < 1e-8, 1.0, norms)
    for channel in channels:
        X[:, channel * 1024 : (channel + 1) * 1024] = reference_lcn(
            X[:, channel * 1024 : (channel + 1) * 1024].reshape(-1, 32, 32)
        ).reshape(-1, 1024)
    return X


def read_h5(path: Path) -> Tuple[np.ndarray, np.ndarray]:
    with tables.open_file(str(path), "r") as h5:
        return tuple(node[:] for node in pytables_file.data_nodes(h5))


def raw_set(n: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Raw pixel rows 0..255 (row 0 blank, row 1 constant) and one-hot float32 labels."""
    rng = np.random.RandomState(seed)
    X = rng.randint(0, 256, (n, 3072)).astype(np.float32)
    X[0] = 0.0
    X[1] = 7.0
    y = np.eye(10, dtype=np.float32)[rng.randint(0, 10, n)]
    return X, y


@pytest.fixture
def svhn(tmp_path) -> Tuple[Path, Path, Dict[str, Tuple[np.ndarray, np.ndarray]]]:
    """A PYLEARN2_DATA_PATH with the three source h5 files, an empty local folder, and the raw arrays."""
    data, local = tmp_path / "data", tmp_path / "local"
    sets = {which: raw_set(n, seed) for seed, (which, n) in enumerate(SIZES.items())}
    for which, (X, y) in sets.items():
        write_h5(data / "SVHN" / "format2" / "h5" / ("%s_32x32.h5" % which), X, y)
    return data, local, sets


def output(local: Path, which: str) -> Path:
    return local / "h5" / ("%s_32x32.h5" % which)


def run(data: Path, local: Path, **kwargs) -> None:
    svhn_preprocessing.preprocess(data_path=str(data), local_path=str(local), slab=SLAB, **kwargs)


# --- LCN ---------------------------------------------------------------------------------------------------------


def test_kernel_is_a_normalized_symmetric_gaussian_of_sigma_2():
    kernel = gaussian_kernel()
    assert kernel.dtype == np.float32 and kernel.shape == (7, 7)
    assert abs(float(kernel.sum(dtype=np.float64)) - 1.0) < 1e-6
    for flipped in (kernel.T, kernel[::-1], kernel[:, ::-1]):
        np.testing.assert_array_equal(kernel, flipped)
    assert np.unravel_index(kernel.argmax(), kernel.shape) == (3, 3)
    np.testing.assert_allclose(kernel[3, 4] / kernel[3, 3], math.exp(-1.0 / 8.0), rtol=1e-6)  # σ = 2
    np.testing.assert_allclose(kernel[0, 0] / kernel[3, 3], math.exp(-18.0 / 8.0), rtol=1e-6)
    np.testing.assert_allclose(kernel, reference_kernel(), rtol=1e-6)


def test_lcn_matches_an_explicit_zero_padded_convolution():
    rng = np.random.RandomState(1)
    images = rng.randn(3, 11, 13).astype(np.float32)
    images[0, :5, :6] = 0.0  # a dark corner: there the per-image mean, not the local RMS, is the divisor
    images[1, 6:, 7:] *= 20.0
    expected = reference_lcn(images)
    denominator = np.sqrt(reference_blur(images.astype(np.float64) ** 2))
    below = denominator < denominator.mean(axis=(1, 2), keepdims=True)
    assert below.any() and (~below).any()  # both branches of the max are exercised
    actual = lecun_lcn(images)
    assert actual.dtype == np.float32 and actual.shape == images.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def test_lcn_floors_for_blank_and_constant_images():
    assert not lecun_lcn(np.zeros((1, 32, 32), np.float32)).any()  # 0 / 1e-4, no NaN
    corner_weight = reference_kernel()[3:, 3:].sum()  # the part of the kernel inside the image at pixel (0, 0)
    # A faint constant image: every local RMS is below 1e-4, so the threshold divides.
    faint = lecun_lcn(np.full((1, 32, 32), 1e-6, np.float32))
    np.testing.assert_allclose(faint[0, 0, 0], 1e-6 * (1.0 - corner_weight) / 1e-4, rtol=1e-4)
    # Where the whole kernel fits, x - blur(x) = 0 up to the float32 rounding of the kernel's sum.
    np.testing.assert_allclose(faint[0, 3:-3, 3:-3], 0.0, atol=1e-6)
    # A bright constant image: at the corner the local RMS c·sqrt(w) is below the image's mean RMS, which divides.
    c = 3.0
    bright = lecun_lcn(np.full((1, 32, 32), c, np.float32))
    window = reference_blur(np.ones((1, 32, 32)))
    mean_rms = (c * np.sqrt(window)).mean()
    assert c * math.sqrt(corner_weight) < mean_rms
    np.testing.assert_allclose(bright[0, 0, 0], c * (1.0 - corner_weight) / mean_rms, rtol=1e-5)
    np.testing.assert_allclose(bright[0, 3:-3, 3:-3], 0.0, atol=1e-6)


def test_lcn_rows_normalizes_only_channel_0_unless_asked():
    rng = np.random.RandomState(2)
    X = rng.randn(4, 3072).astype(np.float32)
    before = X.copy()
    faithful = lcn_rows(X)
    np.testing.assert_array_equal(X, before)  # the input is not modified
    np.testing.assert_array_equal(faithful[:, 1024:], X[:, 1024:])  # G and B keep their values exactly
    np.testing.assert_allclose(
        faithful[:, :1024], reference_lcn(X[:, :1024].reshape(4, 32, 32)).reshape(4, 1024), rtol=1e-5, atol=1e-6
    )
    every = lcn_rows(X, ALL_CHANNELS)
    for channel in range(3):
        plane = X[:, channel * 1024 : (channel + 1) * 1024].reshape(4, 32, 32)
        np.testing.assert_allclose(
            every[:, channel * 1024 : (channel + 1) * 1024], reference_lcn(plane).reshape(4, 1024), rtol=1e-5, atol=1e-6
        )


# --- the preprocessing program --------------------------------------------------------------------------------------


def test_gcn_then_lcn_slab_by_slab_equals_the_whole_array_computation(svhn):
    data, local, sets = svhn
    run(data, local)
    for which, (X, y) in sets.items():
        source = data / "SVHN" / "format2" / "h5" / ("%s_32x32.h5" % which)
        X_out, y_out = read_h5(output(local, which))
        assert X_out.dtype == np.float32 and X_out.shape == X.shape
        np.testing.assert_allclose(X_out, reference_preprocessing(X), rtol=1e-4, atol=1e-5)
        assert not X_out[:2].any()  # blank and constant rows: GCN gives zeros, LCN keeps them (no NaN)
        np.testing.assert_array_equal(y_out, y)
        np.testing.assert_array_equal(read_h5(source)[0], X)  # the source is untouched
        with tables.open_file(str(source), "r") as src, tables.open_file(str(output(local, which)), "r") as out:
            assert out.title == src.title == "SVHN Dataset" and out.root.Data._v_title == "Data"
            for a, b in zip(pytables_file.data_nodes(src), pytables_file.data_nodes(out)):
                assert (b.title, b.shape, b.atom, b.filters) == (a.title, a.shape, a.atom, a.filters)
            assert out.root._v_attrs.complete
    assert not list((local / "h5").glob("*.partial"))


def test_all_channels_is_labelled_a_deviation_and_normalizes_every_channel(svhn, capsys):
    data, local, sets = svhn
    assert (
        svhn_preprocessing.main(
            ["--sets", "valid", "--all-channels", "--data-path", str(data), "--local-path", str(local)]
        )
        == 0
    )
    assert "DEVIATION" in capsys.readouterr().out
    X_out, _ = read_h5(output(local, "valid"))
    np.testing.assert_allclose(X_out, reference_preprocessing(sets["valid"][0], ALL_CHANNELS), rtol=1e-4, atol=1e-5)
    assert not output(local, "test").exists()
    assert svhn_preprocessing.main(["--help"]) == 0
    assert "DEVIATION" in capsys.readouterr().out


def test_svhn_local_path_is_required_and_read_from_the_environment(svhn, monkeypatch, capsys):
    data, local, _ = svhn
    monkeypatch.delenv("SVHN_LOCAL_PATH", raising=False)
    assert svhn_preprocessing.main(["--data-path", str(data)]) == 1
    assert "SVHN_LOCAL_PATH is not set" in capsys.readouterr().err
    monkeypatch.setenv("SVHN_LOCAL_PATH", str(local))
    monkeypatch.setenv("PYLEARN2_DATA_PATH", str(data))
    assert svhn_preprocessing.main(["--sets", "test"]) == 0
    assert output(local, "test").is_file()


def test_missing_or_malformed_sources_name_make_svhn_h5(svhn, tmp_path):
    data, local, sets = svhn
    (data / "SVHN" / "format2" / "h5" / "valid_32x32.h5").unlink()
    with pytest.raises(UserError, match="valid_32x32.h5.*make svhn-h5"):
        run(data, local)
    assert not (local / "h5").exists() or not list((local / "h5").iterdir())  # checked before any work
    X, y = sets["test"]
    with tables.open_file(str(data / "SVHN" / "format2" / "h5" / "test_32x32.h5"), "w") as h5:
        h5.create_array("/Data", "X", X, createparents=True)
        h5.create_array("/Data", "y", y.argmax(axis=1)[:, np.newaxis].astype(np.int32))  # modern pylearn2's labels
    with pytest.raises(UserError, match="make svhn-h5"):
        run(data, local, sets=["test"])
    with pytest.raises(UserError, match="source file itself"):
        run(data, data / "SVHN" / "format2", sets=["splitted_train"])


def test_interrupted_run_leaves_no_finished_file_and_resumes_to_the_same_result(svhn, tmp_path, monkeypatch, capsys):
    data, local, _ = svhn
    run(data, tmp_path / "uninterrupted", sets=["splitted_train"])
    calls = []
    transform = svhn_preprocessing.preprocess_rows

    def failing_on_the_third_slab(X, channels):
        calls.append(len(X))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return transform(X, channels)

    monkeypatch.setattr(svhn_preprocessing, "preprocess_rows", failing_on_the_third_slab)
    with pytest.raises(KeyboardInterrupt):
        run(data, local, sets=["splitted_train"])
    assert not output(local, "splitted_train").exists()
    assert (local / "h5" / "splitted_train_32x32.h5.partial").exists()
    monkeypatch.setattr(svhn_preprocessing, "preprocess_rows", transform)
    run(data, local, sets=["splitted_train"])
    assert "resuming splitted_train_32x32.h5.partial at row 1000" in capsys.readouterr().out
    for a, b in zip(
        read_h5(output(local, "splitted_train")), read_h5(output(tmp_path / "uninterrupted", "splitted_train"))
    ):
        np.testing.assert_array_equal(a, b)


def test_a_corrupt_partial_file_is_discarded_and_rebuilt(svhn, tmp_path, capsys):
    data, local, _ = svhn
    partial = local / "h5" / "test_32x32.h5.partial"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    run(data, local, sets=["test"])
    assert "discarding test_32x32.h5.partial" in capsys.readouterr().out
    run(data, tmp_path / "fresh", sets=["test"])
    np.testing.assert_array_equal(read_h5(output(local, "test"))[0], read_h5(output(tmp_path / "fresh", "test"))[0])


def test_sigkilled_process_then_rerun_equals_an_uninterrupted_run(tmp_path):
    X, y = raw_set(12000, seed=5)  # three 5000-row slabs, the last one partial
    data = tmp_path / "data"
    write_h5(data / "SVHN" / "format2" / "h5" / "test_32x32.h5", X, y)
    command = [
        sys.executable,
        "-u",
        "-m",
        "binaryconnect.svhn_preprocessing",
        "--sets",
        "test",
        "--data-path",
        str(data),
        "--local-path",
        str(tmp_path / "killed"),
    ]
    process = subprocess.Popen(
        command, cwd=REPO, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PROGRESS_INTERVAL="0")
    )
    for line in process.stderr:
        if "5000/12000 rows" in line:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
    assert not output(tmp_path / "killed", "test").exists()
    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    svhn_preprocessing.preprocess(["test"], str(data), str(tmp_path / "whole"))
    for a, b in zip(read_h5(output(tmp_path / "killed", "test")), read_h5(output(tmp_path / "whole", "test"))):
        np.testing.assert_array_equal(a, b)


def test_a_second_run_skips_instead_of_normalizing_twice(svhn, capsys):
    data, local, _ = svhn
    run(data, local, sets=["valid"])
    first = read_h5(output(local, "valid"))[0]
    stamp = os.stat(output(local, "valid")).st_mtime_ns
    capsys.readouterr()
    run(data, local, sets=["valid"])
    assert "already preprocessed, skipping" in capsys.readouterr().out
    assert os.stat(output(local, "valid")).st_mtime_ns == stamp
    np.testing.assert_array_equal(read_h5(output(local, "valid"))[0], first)
    with pytest.raises(UserError, match="made differently.*delete it"):
        run(data, local, sets=["valid"], channels=ALL_CHANNELS)


def test_unmarked_outputs_are_refused_and_left_alone(svhn):
    data, local, sets = svhn
    X, y = sets["test"]
    # What the original script leaves: a copy of the source normalized in place, with no marker.
    write_h5(output(local, "test"), svhn_preprocessing.preprocess_rows(X), y)
    with pytest.raises(UserError, match="preprocessed-looking.*trap 22"):
        run(data, local, sets=["test"])
    np.testing.assert_allclose(read_h5(output(local, "test"))[0], reference_preprocessing(X), rtol=1e-4, atol=1e-5)
    write_h5(output(local, "test"), X, y)  # a plain copy of the source
    with pytest.raises(UserError, match="raw pixels"):
        run(data, local, sets=["test"])
    np.testing.assert_array_equal(read_h5(output(local, "test"))[0], X)
