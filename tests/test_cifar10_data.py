"""datasets.cifar10, datasets.zca, datasets.cifar10_whitened: pylearn2's CIFAR-10 semantics (docs/REPRODUCTION.md §3.2)
on small synthetic batches written in the real format (Python-2 protocol-2 pickles of {'data', 'labels'})."""

import functools
import http.server
import io
import os
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import batch_bytes, md5_of, py2_pickle

from datasets import cifar10, cifar10_whitened, download
from datasets.zca import ZCA
from harness.errors import UserError
from harness.files import Checksum

BATCH_ROWS = {name: 20 for name in cifar10.FILES["train"]}
BATCH_ROWS["test_batch"] = 10


@pytest.fixture
def synthetic(tmp_path):
    """A data root with five 20-row training batches and a 10-row test batch, and their checksums."""
    rng = np.random.RandomState(0)
    folder = tmp_path / "cifar10" / cifar10.FOLDER
    folder.mkdir(parents=True)
    data, labels, checksums = {}, {}, {}
    for name, rows in BATCH_ROWS.items():
        data[name] = rng.randint(0, 256, (rows, 3072)).astype(np.uint8)
        labels[name] = rng.randint(0, 10, rows).tolist()
        (folder / name).write_bytes(batch_bytes(data[name], labels[name], name))
        checksums[name] = md5_of(folder / name)
    return tmp_path, data, labels, checksums


def replace_batch(root: Path, checksums, name: str, content: bytes):
    """Overwrite batch ``name`` and return checksums that accept the new content."""
    path = root / "cifar10" / cifar10.FOLDER / name
    path.write_bytes(content)
    return dict(checksums, **{name: md5_of(path)})


def test_train_is_the_five_batches_in_order_as_raw_float32(synthetic):
    root, data, labels, checksums = synthetic
    train = cifar10.CIFAR10("train", path=str(root), checksums=checksums)
    expected = np.concatenate([data[name] for name in cifar10.FILES["train"]])
    assert train.X.dtype == np.float32 and train.X.shape == (100, 3072)
    np.testing.assert_array_equal(train.X, expected.astype(np.float32))
    assert train.y.dtype == np.uint8 and train.y.shape == (100, 1)
    assert train.y.ravel().tolist() == sum((labels[name] for name in cifar10.FILES["train"]), [])
    test = cifar10.CIFAR10("test", path=str(root), checksums=checksums)
    np.testing.assert_array_equal(test.X, data["test_batch"])
    assert test.y.ravel().tolist() == labels["test_batch"]


def test_rows_are_channel_major(synthetic):
    """Byte ch*1024 + r*32 + c of a row is channel ch, row r, column c (the CIFAR page's layout; trap 16)."""
    root, data, labels, checksums = synthetic
    row = np.zeros(3072, dtype=np.uint8)
    pixels = {(0, 1, 2): 200, (1, 30, 5): 100, (2, 7, 31): 50}
    for (channel, r, c), value in pixels.items():
        row[channel * 1024 + r * 32 + c] = value
    checksums = replace_batch(root, checksums, "test_batch", batch_bytes(row[None], [3]))
    image = cifar10.CIFAR10("test", path=str(root), checksums=checksums).X.reshape(-1, 3, 32, 32)[0]
    assert {index: image[index] for index in zip(*np.nonzero(image))} == pixels


def test_start_stop_slices_across_batches(synthetic):
    root, data, labels, checksums = synthetic
    part = cifar10.CIFAR10("train", start=30, stop=55, path=str(root), checksums=checksums)
    whole = np.concatenate([data[name] for name in cifar10.FILES["train"]])
    np.testing.assert_array_equal(part.X, whole[30:55])
    assert part.X.flags.owndata  # a copy: the 100-row array can be freed
    assert part.y.ravel().tolist() == (labels["data_batch_2"][10:] + labels["data_batch_3"][:15])
    with pytest.raises(UserError, match=r"CIFAR-10 'train' in .* has 100 rows, rows 9\.\.9 were asked for"):
        cifar10.CIFAR10("train", start=9, stop=9, path=str(root), checksums=checksums)
    with pytest.raises(UserError, match=r"has 10 rows, rows 0\.\.11 .*run `make download-cifar10`"):
        cifar10.CIFAR10("test", stop=11, path=str(root), checksums=checksums)
    with pytest.raises(ValueError, match="which_set"):
        cifar10.CIFAR10("valid", path=str(root), checksums=checksums)


def independent_gcn(raw: np.ndarray, scale: float) -> np.ndarray:
    """GCN in float64 from the definition (§3.2, trap 20): per row, subtract its mean, divide by L2 norm / scale."""
    x = raw.astype(np.float64)
    x -= x.mean(axis=1, keepdims=True)
    return x * scale / np.sqrt((x**2).sum(axis=1, keepdims=True))


def test_gcn_is_applied_to_the_whole_set_before_slicing(synthetic, monkeypatch):
    root, data, _, checksums = synthetic
    seen = []
    real_gcn = cifar10.global_contrast_normalize
    monkeypatch.setattr(
        cifar10, "global_contrast_normalize", lambda X, **kwargs: seen.append(X.shape) or real_gcn(X, **kwargs)
    )
    part = cifar10.CIFAR10("train", start=10, stop=30, gcn=55.0, path=str(root), checksums=checksums)
    assert seen == [(100, 3072)]  # GCN is per row, so only the call shows that it saw the whole set
    whole = np.concatenate([data[name] for name in cifar10.FILES["train"]])
    assert part.X.dtype == np.float32
    np.testing.assert_allclose(part.X, independent_gcn(whole, 55.0)[10:30], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(part.X.astype(np.float64), axis=1), 55.0, rtol=1e-5)
    np.testing.assert_allclose(part.X.mean(axis=1), 0.0, atol=1e-5)


def test_missing_batch_names_the_download_command(synthetic):
    root, _, _, checksums = synthetic
    (root / "cifar10" / cifar10.FOLDER / "data_batch_4").unlink()
    with pytest.raises(UserError, match="data_batch_4 is missing: run `make download-cifar10`"):
        cifar10.CIFAR10("train", path=str(root), checksums=checksums)


def test_a_wrong_checksum_fails_before_anything_is_unpickled(synthetic, monkeypatch):
    root, _, _, checksums = synthetic
    path = root / "cifar10" / cifar10.FOLDER / "test_batch"
    path.write_bytes(path.read_bytes()[:-1] + b"!")

    def never(self):
        raise AssertionError("unpickled a file that failed its checksum")

    monkeypatch.setattr(cifar10._ArrayOnlyUnpickler, "load", never)
    with pytest.raises(UserError, match="test_batch is corrupt .*run `make download-cifar10`"):
        cifar10.CIFAR10("test", path=str(root), checksums=checksums)


def test_shipped_checksums_are_the_published_md5s():
    assert cifar10.TARBALL_CHECKSUM == Checksum("md5", "c58f30108f718f92721af3b95e74349a")
    assert {name: c.hexdigest for name, c in cifar10.CHECKSUMS.items()} == {
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
    }


class _RunsCommand:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, ("touch %s" % self.marker,)


@pytest.mark.parametrize(
    "payload",
    [lambda marker: {b"data": _RunsCommand(marker)}, lambda marker: {b"data": functools.partial(print, marker)}],
)
def test_a_pickle_naming_any_other_global_is_refused_even_with_a_valid_checksum(synthetic, payload):
    root, _, _, checksums = synthetic
    marker = root / "pwned"
    checksums = replace_batch(root, checksums, "test_batch", py2_pickle(payload(marker)))
    with pytest.raises(UserError, match="refusing to unpickle (posix.system|functools.partial)"):
        cifar10.CIFAR10("test", path=str(root), checksums=checksums)
    assert not marker.exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (lambda: batch_bytes(np.zeros((4, 3072), np.uint8), range(4))[:-30], "not a readable pickle"),
        (lambda: b"", "not a readable pickle"),
        (lambda: py2_pickle([1, 2]), "no dict with 'data' and 'labels'"),
        (lambda: batch_bytes(np.zeros((4, 3000), np.uint8), range(4)), r"expected uint8 \(n, 3072\)"),
        (lambda: batch_bytes(np.zeros((4, 3072), np.float64), range(4)), r"'data' is float64"),
        (lambda: batch_bytes(np.zeros(3072, np.uint8), [1]), r"'data' is uint8 \(3072,\)"),
        (lambda: batch_bytes(np.zeros((4, 3072), np.uint8), range(3)), "expected 4 integers"),
        (lambda: batch_bytes(np.zeros((2, 3072), np.uint8), [3, 10]), "labels outside 0..9"),
        (lambda: batch_bytes(np.zeros((2, 3072), np.uint8), [0, -1]), "labels outside 0..9"),
    ],
)
def test_malformed_batches_are_rejected_with_the_fix(synthetic, content, message):
    root, _, _, checksums = synthetic
    checksums = replace_batch(root, checksums, "test_batch", content())
    with pytest.raises(UserError, match=message + ".*make download-cifar10"):
        cifar10.CIFAR10("test", path=str(root), checksums=checksums)


def correlated_data(rng, rows=4000, features=12):
    """Rows with eigenvalues of the covariance from about 0.01 to 100: the 0.1 filter bias matters for some."""
    basis, _ = np.linalg.qr(rng.randn(features, features))
    spread = np.logspace(-1, 1, features)
    return (rng.randn(rows, features) * spread @ basis.T + rng.randn(features) * 3).astype(np.float32)


def test_zca_matches_the_float64_definition():
    X = correlated_data(np.random.RandomState(1))
    zca = ZCA().fit(X)
    X64 = X.astype(np.float64)
    mean = X64.mean(axis=0)
    covariance = (X64 - mean).T @ (X64 - mean) / len(X)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance + 0.1 * np.eye(12))
    P = eigenvectors @ np.diag(eigenvalues**-0.5) @ eigenvectors.T
    assert zca.mean_.dtype == zca.P_.dtype == zca.inv_P_.dtype == np.float32
    np.testing.assert_allclose(zca.mean_, mean, atol=1e-5)
    np.testing.assert_allclose(zca.P_, P, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        zca.inv_P_, eigenvectors @ np.diag(eigenvalues**0.5) @ eigenvectors.T, rtol=1e-4, atol=1e-5
    )
    white = zca.apply(X)
    assert white.dtype == np.float32
    np.testing.assert_allclose(white, (X64 - mean) @ P, rtol=1e-4, atol=1e-4)


def test_zca_whitened_covariance_is_identity_shrunk_by_the_filter_bias():
    X = correlated_data(np.random.RandomState(2))
    white = ZCA().fit(X).apply(X).astype(np.float64)
    X64 = X.astype(np.float64)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(X64, rowvar=False, bias=True))
    expected = eigenvectors @ np.diag(eigenvalues / (eigenvalues + 0.1)) @ eigenvectors.T
    covariance = np.cov(white, rowvar=False, bias=True)
    np.testing.assert_allclose(covariance, expected, atol=1e-4)
    assert np.abs(covariance - np.eye(12)).max() > 0.3  # the bias visibly shrinks the small components
    unbiased = np.cov(ZCA(filter_bias=0.0).fit(X).apply(X).astype(np.float64), rowvar=False, bias=True)
    np.testing.assert_allclose(unbiased, np.eye(12), atol=1e-3)


def test_zca_inverse_undoes_apply():
    X = correlated_data(np.random.RandomState(3))
    zca = ZCA().fit(X)
    np.testing.assert_allclose(zca.inv_P_.astype(np.float64) @ zca.P_, np.eye(12), atol=1e-4)
    np.testing.assert_allclose(zca.inverse(zca.apply(X)), X, rtol=1e-4, atol=1e-3)
    assert ZCA(store_inverse=False).fit(X).inv_P_ is None


def test_zca_apply_in_place_and_in_blocks(monkeypatch):
    X = correlated_data(np.random.RandomState(4), rows=50)
    zca = ZCA().fit(X)
    expected = (X - zca.mean_) @ zca.P_
    monkeypatch.setattr("datasets.zca.APPLY_ROWS", 7)  # 50 rows: seven full blocks and a partial one
    result = zca.apply(X, out=X)
    assert result is X
    np.testing.assert_allclose(X, expected, rtol=1e-5, atol=1e-5)  # BLAS blocking moves the last bit


def test_zca_component_selection_keeps_the_largest_eigenvalues():
    X = correlated_data(np.random.RandomState(5))
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(X.astype(np.float64), rowvar=False, bias=True))
    kept = ZCA(n_components=4).fit(X).P_
    assert np.linalg.matrix_rank(kept, tol=1e-3) == 4
    np.testing.assert_allclose(kept @ eigenvectors[:, :8], 0.0, atol=1e-4)  # the eight smallest are gone
    dropped = ZCA(n_drop_components=3).fit(X).P_
    assert np.linalg.matrix_rank(dropped, tol=1e-3) == 9
    np.testing.assert_allclose(dropped @ eigenvectors[:, :3], 0.0, atol=1e-4)
    with pytest.raises(ValueError, match="not both"):
        ZCA(n_components=4, n_drop_components=3)


def test_whitened_build_end_to_end(synthetic, monkeypatch, capsys):
    """The command's main() on the synthetic set; the files load back without pickle (§2.5, §3.2)."""
    root, data, labels, checksums = synthetic
    monkeypatch.setattr(cifar10, "CHECKSUMS", checksums)
    assert cifar10_whitened.main(["--data-path", str(root)]) == 0
    assert "fitting ZCA" in capsys.readouterr().out
    folder = root / "cifar10" / cifar10_whitened.FOLDER
    assert sorted(p.name for p in folder.iterdir()) == ["preprocessor.npz", "test.npz", "train.npz"]

    train_raw = np.concatenate([data[name] for name in cifar10.FILES["train"]])
    gcn_train = independent_gcn(train_raw, 55.0)
    zca = cifar10_whitened.load_preprocessor(str(root))
    np.testing.assert_allclose(zca.mean_, gcn_train.mean(axis=0), atol=1e-5)  # fitted on all 100 rows
    assert np.abs(gcn_train[:80].mean(axis=0) - gcn_train.mean(axis=0)).max() > 1e-2
    centered = gcn_train - gcn_train.mean(axis=0)
    regularized = centered.T @ centered / len(centered) + 0.1 * np.eye(3072)
    P = zca.P_.astype(np.float64)
    np.testing.assert_allclose(P @ regularized @ P, np.eye(3072), atol=2e-3)  # P = (C + 0.1 I)^(-1/2)
    np.testing.assert_allclose(zca.inv_P_.astype(np.float64) @ P, np.eye(3072), atol=2e-3)

    train = cifar10_whitened.GCNWhitenedCIFAR10("train", 0, 80, path=str(root))
    valid = cifar10_whitened.GCNWhitenedCIFAR10("train", 80, 100, path=str(root))
    test = cifar10_whitened.GCNWhitenedCIFAR10("test", path=str(root))
    assert train.X.dtype == np.float32 and train.X.shape == (80, 3072) and valid.X.shape == (20, 3072)
    assert train.y.dtype == np.uint8 and train.y.shape == (80, 1)
    np.testing.assert_allclose(np.concatenate([train.X, valid.X]), centered @ P, atol=2e-3)
    assert np.concatenate([train.y, valid.y]).ravel().tolist() == sum((labels[n] for n in cifar10.FILES["train"]), [])
    gcn_test = independent_gcn(data["test_batch"], 55.0)
    np.testing.assert_allclose(test.X, (gcn_test - gcn_train.mean(axis=0)) @ P, atol=2e-3)
    assert test.y.ravel().tolist() == labels["test_batch"]

    # A second build keeps the finished set (a rebuild could change a resumed run's inputs in the last bits).
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert cifar10_whitened.main(["--data-path", str(root)]) == 0
    assert "present" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda path: path.unlink(), "train.npz is missing: run `make cifar10-whitened`"),
        (
            lambda path: path.write_bytes(path.read_bytes()[:200]),
            "train.npz is damaged .*: delete it and run `make cifar10-whitened`",
        ),
        (
            lambda path: np.savez(path, X=np.zeros((3, 3072), np.float64), y=np.zeros((3, 1), np.uint8)),
            "X is float64, expected float32: run `make cifar10-whitened`",
        ),
        (lambda path: np.savez(path, X=np.zeros((3, 3072), np.float32)), "damaged .*make cifar10-whitened"),
        (
            lambda path: np.savez(path, X=np.zeros((3, 3072), np.float32), y=np.zeros((2, 1), np.uint8)),
            r"holds X \(3, 3072\) and y \(2, 1\).*make cifar10-whitened",
        ),
        (
            lambda path: np.savez(path, X=np.array([None, 1], dtype=object), y=np.zeros((2, 1), np.uint8)),
            "damaged .*make cifar10-whitened",
        ),
    ],
)
def test_missing_or_damaged_whitened_files_name_the_build_command(tmp_path, damage, message):
    path = tmp_path / "cifar10" / cifar10_whitened.FOLDER / "train.npz"
    cifar10_whitened.save_arrays(path, X=np.ones((3, 3072), np.float32), y=np.zeros((3, 1), np.uint8))
    assert cifar10_whitened.GCNWhitenedCIFAR10("train", path=str(tmp_path)).X.shape == (3, 3072)
    damage(path)
    with pytest.raises(UserError, match=message):
        cifar10_whitened.GCNWhitenedCIFAR10("train", path=str(tmp_path))


@pytest.fixture
def server(tmp_path):
    """A loopback HTTP server for the files put in the folder it yields with its URL."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield served, "http://127.0.0.1:%d/" % httpd.server_address[1]
    httpd.shutdown()


def make_tarball(path: Path, members) -> Checksum:
    """A .tar.gz of (name, bytes or None for a symbolic link) in order; returns its md5."""
    with tarfile.open(path, "w:gz") as archive:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            else:
                info.size = len(content)
            archive.addfile(info, io.BytesIO(content) if content is not None else None)
    return md5_of(path)


def use_server(monkeypatch, url, tarball_checksum, checksums):
    monkeypatch.setattr(cifar10, "URLS", (url + "missing.tar.gz", url + cifar10.TARBALL))
    monkeypatch.setattr(cifar10, "TARBALL_CHECKSUM", tarball_checksum)
    monkeypatch.setattr(cifar10, "CHECKSUMS", checksums)


def test_download_unpacks_the_verified_batches(synthetic, server, monkeypatch, tmp_path):
    source, data, labels, checksums = synthetic
    served, url = server
    batches = {name: (source / "cifar10" / cifar10.FOLDER / name).read_bytes() for name in checksums}
    members = [("cifar-10-batches-py/readme.html", b"<html/>"), ("cifar-10-batches-py/batches.meta", b"meta")]
    members += [("cifar-10-batches-py/" + name, content) for name, content in batches.items()]
    use_server(monkeypatch, url, make_tarball(served / cifar10.TARBALL, members), checksums)
    root = tmp_path / "data"
    assert download.main(["cifar10", "--data-path", str(root)]) == 0
    folder = root / "cifar10" / cifar10.FOLDER
    assert sorted(p.name for p in folder.iterdir()) == sorted(checksums)
    assert all((folder / name).read_bytes() == content for name, content in batches.items())
    assert not (root / "cifar10" / cifar10.TARBALL).exists()
    assert cifar10.CIFAR10("test", path=str(root), checksums=checksums).y.ravel().tolist() == labels["test_batch"]
    (served / cifar10.TARBALL).unlink()  # everything present: a second run needs no download
    assert download.main(["cifar10", "--data-path", str(root)]) == 0


@pytest.mark.parametrize(
    "bad_member, message",
    [
        (("cifar-10-batches-py/../../escaped", b"x"), "unsafe member"),
        (("/tmp/escaped", b"x"), "unsafe member"),
        (("cifar-10-batches-py/test_batch", None), "test_batch is not a regular file"),
        (("cifar-10-batches-py/test_batch", b"other bytes"), "test_batch in cifar-10-python.tar.gz has md5"),
    ],
)
def test_download_refuses_unsafe_or_wrong_members(
    synthetic, server, monkeypatch, tmp_path, capsys, bad_member, message
):
    source, _, _, checksums = synthetic
    served, url = server
    members = [
        ("cifar-10-batches-py/" + name, (source / "cifar10" / cifar10.FOLDER / name).read_bytes())
        for name in sorted(checksums)
        if name != "test_batch"
    ]
    use_server(monkeypatch, url, make_tarball(served / cifar10.TARBALL, members + [bad_member]), checksums)
    root = tmp_path / "data"
    assert download.main(["cifar10", "--data-path", str(root)]) == 1
    assert message in capsys.readouterr().err
    assert not (root / "cifar10" / cifar10.FOLDER / "test_batch").exists()
    assert not (tmp_path / "escaped").exists() and not Path("/tmp/escaped").exists()


def test_download_reports_a_tarball_without_the_batches(synthetic, server, monkeypatch, tmp_path, capsys):
    _, _, _, checksums = synthetic
    served, url = server
    use_server(monkeypatch, url, make_tarball(served / cifar10.TARBALL, [("cifar-10-batches-py/x", b"")]), checksums)
    assert download.main(["cifar10", "--data-path", str(tmp_path / "data")]) == 1
    assert "lacks data_batch_1, data_batch_2" in capsys.readouterr().err
