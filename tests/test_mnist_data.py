"""datasets.mnist: pylearn2's MNIST semantics (docs/REPRODUCTION.md §3.1) on synthetic and real IDX files."""

import gzip
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import write_idx

from datasets import download, mnist
from datasets.fetch import fetch
from datasets.paths import data_root
from harness.errors import UserError
from harness.files import Checksum, file_digest


@pytest.fixture
def synthetic(tmp_path):
    """A data root with a 6-image 'train' file and a 4-image 'test' file, and their checksums."""
    rng = np.random.RandomState(0)
    images = {"train": rng.randint(0, 256, (6, 28, 28)), "test": rng.randint(0, 256, (4, 28, 28))}
    labels = {"train": np.array([5, 0, 4, 1, 9, 2]), "test": np.array([7, 2, 1, 0])}
    checksums = {}
    for which, (image_name, label_name) in mnist.FILES.items():
        for name, array in ((image_name, images[which]), (label_name, labels[which])):
            path = write_idx(tmp_path / "mnist" / name, array)
            checksums[name] = Checksum("sha256", file_digest(path, "sha256"))
    return tmp_path, images, labels, checksums


def test_values_layout_and_start_stop(synthetic):
    root, images, labels, checksums = synthetic
    train = mnist.MNIST("train", start=2, stop=5, path=str(root), checksums=checksums)
    assert train.X.dtype == np.float32 and train.X.shape == (3, 784)
    np.testing.assert_array_equal(train.X, (images["train"][2:5].reshape(3, 784) / 255.0).astype(np.float32))
    assert train.y.dtype == np.uint8 and train.y.tolist() == [[4], [1], [9]]
    test = mnist.MNIST("test", path=str(root), checksums=checksums)
    assert test.X.shape == (4, 784) and test.y.ravel().tolist() == [7, 2, 1, 0]


def test_center_subtracts_the_whole_file_mean_before_slicing(synthetic):
    root, images, _, checksums = synthetic
    centered = mnist.MNIST("train", start=4, stop=6, center=True, path=str(root), checksums=checksums)
    scaled = images["train"].reshape(6, 784).astype(np.float32) / np.float32(255)
    np.testing.assert_allclose(centered.X, scaled[4:6] - scaled.mean(axis=0), atol=1e-6)
    assert abs(centered.X.mean()) > 1e-3  # a slice of a file-centered set is not itself centered


def test_bad_arguments(synthetic):
    root, _, _, checksums = synthetic
    with pytest.raises(UserError, match=r"MNIST 'train' in .* has 6 rows, rows 5\.\.5 were asked for: use fewer"):
        mnist.MNIST("train", start=5, stop=5, path=str(root), checksums=checksums)
    with pytest.raises(UserError, match=r"has 6 rows, rows 0\.\.7 were asked for: .*run `make download-mnist`"):
        mnist.MNIST("train", stop=7, path=str(root), checksums=checksums)
    with pytest.raises(ValueError, match="which_set"):
        mnist.MNIST("valid", path=str(root), checksums=checksums)


def test_missing_file_names_the_download_command(synthetic):
    root, _, _, checksums = synthetic
    (root / "mnist" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(UserError, match="t10k-labels-idx1-ubyte is missing: run `make download-mnist`"):
        mnist.MNIST("test", path=str(root), checksums=checksums)


def test_corrupt_file_fails_its_checksum_before_parsing(synthetic):
    root, _, _, checksums = synthetic
    path = root / "mnist" / "train-images-idx3-ubyte"
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(UserError, match="is corrupt .*delete it and run `make download-mnist`"):
        mnist.MNIST("train", path=str(root), checksums=checksums)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda raw: raw[:-10], "header says"),
        (lambda raw: raw[:6], "truncated"),
        (lambda raw: b"\0\0\x08\x01" + raw[4:], "magic 2049"),
    ],
)
def test_malformed_idx_files_are_rejected(tmp_path, damage, message):
    path = write_idx(tmp_path / "images", np.zeros((2, 28, 28)))
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(UserError, match=message):
        mnist.read_idx(path, mnist.IMAGE_MAGIC)


def test_data_root_needs_PYLEARN2_DATA_PATH(monkeypatch):
    monkeypatch.delenv("PYLEARN2_DATA_PATH", raising=False)
    with pytest.raises(UserError, match="PYLEARN2_DATA_PATH is not set"):
        data_root()
    monkeypatch.setenv("PYLEARN2_DATA_PATH", "/somewhere")
    assert data_root() == Path("/somewhere")


def test_real_mnist_files(real_mnist_root):
    """The official files pass the built-in checksums and match the published label counts."""
    train = mnist.MNIST("train", path=str(real_mnist_root))
    assert train.X.shape == (60000, 784) and 0 <= train.X.min() and train.X.max() == 1
    assert np.bincount(train.y.ravel()).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert train.X.mean() * 255 == pytest.approx(33.318, abs=1e-3)
    valid = mnist.MNIST("train", 50000, 60000, path=str(real_mnist_root))
    np.testing.assert_array_equal(valid.X, train.X[50000:])
    test = mnist.MNIST("test", center=True, path=str(real_mnist_root))
    assert test.X.shape == (10000, 784) and np.abs(test.X.mean(axis=0)).max() < 1e-4  # float32 rounding


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """A loopback file server that honours 'Range: bytes=N-' (SimpleHTTPRequestHandler does not)."""

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = int(self.headers["Range"][6:-1]) if self.headers.get("Range") else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = lambda *a, **k: _RangeHandler(*a, directory=str(served), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served, "http://127.0.0.1:%d/" % httpd.server_address[1]
    httpd.shutdown()


def test_fetch_resumes_a_partial_download_and_verifies(tmp_path, server):
    served, url = server
    payload = np.random.RandomState(1).bytes(300000)
    (served / "blob").write_bytes(payload)
    dest = tmp_path / "out" / "blob"
    dest.parent.mkdir()
    (tmp_path / "out" / "blob.part").write_bytes(payload[:123456])  # an interrupted earlier attempt
    checksum = Checksum("sha256", file_digest(served / "blob", "sha256"))
    fetch([url + "missing", url + "blob"], dest, checksum, "make download-mnist")  # mirror 1 fails, 2 resumes
    assert dest.read_bytes() == payload and not (tmp_path / "out" / "blob.part").exists()


def test_fetch_rejects_a_wrong_checksum_and_leaves_no_file(tmp_path, server):
    served, url = server
    (served / "blob").write_bytes(b"not what was published")
    dest = tmp_path / "out" / "blob"
    with pytest.raises(UserError, match="checksum mismatch"):
        fetch([url + "blob"], dest, Checksum("sha256", "0" * 64), "make download-mnist")
    assert list(dest.parent.iterdir()) == []


def test_mnist_download_writes_verified_uncompressed_files(tmp_path, server, monkeypatch):
    served, url = server
    checksums, gz_checksums = {}, {}
    for name in mnist.CHECKSUMS:
        raw = write_idx(
            tmp_path / "raw" / name,
            np.arange(28 * 28 * 2).reshape(2, 28, 28) % 256 if "images" in name else np.array([3, 4]),
        )
        (served / (name + ".gz")).write_bytes(gzip.compress(raw.read_bytes()))
        checksums[name] = Checksum("sha256", file_digest(raw, "sha256"))
        gz_checksums[name] = Checksum("sha256", file_digest(served / (name + ".gz"), "sha256"))
    monkeypatch.setattr(mnist, "CHECKSUMS", checksums)
    monkeypatch.setattr(mnist, "GZ_CHECKSUMS", gz_checksums)
    monkeypatch.setattr(mnist, "MIRRORS", (url,))
    assert download.main(["mnist", "--data-path", str(tmp_path / "data")]) == 0
    assert sorted(p.name for p in (tmp_path / "data" / "mnist").iterdir()) == sorted(checksums)
    assert mnist.MNIST("test", path=str(tmp_path / "data"), checksums=checksums).y.ravel().tolist() == [3, 4]
