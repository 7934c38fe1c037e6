"""datasets.svhn / svhn_h5 / mat5 / py27_set: pylearn2's SVHN h5 files (docs/REPRODUCTION.md §3.3, §4 traps 17-18).

Synthetic .mat files in the real format (scipy.io.savemat, MATLAB 5, labels 1..10 with 10 = digit 0) stand in for
the real ones; the valid split takes 4/2 examples per class instead of 400/200 so that the files stay small.
"""

import glob
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import tables

from datasets import download, mat5, pytables_file, svhn, svhn_h5
from datasets.py27_set import Py27IntSet
from harness.errors import UserError
from harness.files import Checksum, file_digest

PER_CLASS = {"train": 4, "extra": 2}
# Examples per class in each synthetic file (labels 1..10): unequal, so that only 'valid' is balanced.
CLASS_COUNTS = {
    "train": [9, 7, 12, 6, 8, 10, 5, 7, 11, 9],
    "extra": [4, 6, 3, 5, 7, 2, 4, 6, 5, 8],
    "test": [3, 2, 4, 1, 3, 2, 2, 3, 1, 4],
}
ALL_SETS = ("train", "test", "extra", "train_all", "splitted_train", "valid")


# --- CPython 2.7 set order ------------------------------------------------------------------------------------


def test_py27_set_orders_derived_by_hand():
    # Table of 8 slots, mask 7. set([8, 0, 16]): 8 -> slot 0. 0 -> slot 0 is taken; perturb = 0,
    # i = 5*0 + 0 + 1 = 1 -> slot 1. 16 -> slot 0 taken; perturb = 16, i = 5*0 + 16 + 1 = 17, slot 17 & 7 = 1
    # taken; perturb = 16 >> 5 = 0, i = 5*17 + 0 + 1 = 86, slot 86 & 7 = 6. Slots 0, 1, 6 -> [8, 0, 16].
    assert list(Py27IntSet([8, 0, 16])) == [8, 0, 16]
    # set([9, 1, 7]): 9 -> slot 1. 1 -> slot 1 taken; i = 5*1 + 1 + 1 = 7 -> slot 7. 7 -> slot 7 taken;
    # i = 5*7 + 7 + 1 = 43, 43 & 7 = 3 -> slot 3. Slots 1, 3, 7 -> [9, 7, 1]: neither insertion nor sorted order.
    assert list(Py27IntSet([9, 1, 7])) == [9, 7, 1]
    # Then 3 -> slot 3 taken (7); i = 5*3 + 3 + 1 = 19, slot 3 again; perturb = 0, i = 5*19 + 1 = 96 -> slot 0.
    # 5 -> slot 5. Five keys: 5*3 < 2*8, no resize: slots 0, 1, 3, 5, 7 -> [3, 9, 7, 5, 1].
    keys = Py27IntSet([9, 1, 7, 3, 5])
    assert list(keys) == [3, 9, 7, 5, 1] and len(keys) == 5
    # A sixth key (2 -> slot 2) makes 6*3 >= 2*8: the table grows to the first power of two above 4*6 = 24,
    # i.e. 32 slots, where every key sits in its own home slot: ascending order.
    keys.add(2)
    assert list(keys) == [1, 2, 3, 5, 7, 9]
    keys.add(9)  # already present: nothing changes
    assert len(keys) == 6 and 9 in keys and 4 not in keys and -1 not in keys


def test_py27_set_of_a_range_is_ascending_and_difference_keeps_the_left_order():
    assert list(Py27IntSet(range(5000))) == list(range(5000))
    left = Py27IntSet([9, 1, 7, 3, 5])  # iterates [3, 9, 7, 5, 1] (derived above)
    # The result is fed with the left set's keys in its order (3, 7, 1 survive); 3 -> slot 3, 7 -> slot 7,
    # 1 -> slot 1: iteration gives [1, 3, 7].
    assert list(left - Py27IntSet([9, 5])) == [1, 3, 7]
    with pytest.raises(ValueError, match="non-negative"):
        Py27IntSet([-3])


def test_py27_set_matches_recorded_cpython_27_outputs():
    """Expected values printed by CPython 2.7.18 itself (``list(set(a))``, ``list(set(range(n)) - set(v))``)."""
    a = [(i * 37 + 5) % 211 for i in range(30)]
    assert list(Py27IntSet(a)) == [
        1,
        5,
        138,
        12,
        16,
        149,
        23,
        153,
        27,
        160,
        164,
        38,
        42,
        175,
        49,
        53,
        186,
        190,
        64,
        197,
        201,
        75,
        79,
        86,
        90,
        101,
        112,
        116,
        123,
        127,
    ]
    assert list(Py27IntSet(range(40)) - Py27IntSet(a)) == [
        0,
        2,
        3,
        4,
        6,
        7,
        8,
        9,
        10,
        11,
        13,
        14,
        15,
        17,
        18,
        19,
        20,
        21,
        22,
        24,
        25,
        26,
        28,
        29,
        30,
        31,
        32,
        33,
        34,
        35,
        36,
        37,
        39,
    ]
    # Full SVHN sizes (4,000 of 73,257 and 2,000 of 531,131, the latter past the 50,000-key growth rule):
    # sha256 of ",".join(rest) + "|" + ",".join(valid) as printed by Python 2.7.18.
    recorded = {
        (73257, 4000): "010d6771f635ffdc6a260c6b8f633438a344708812e75d6134dcc7ae0c845304",
        (531131, 2000): "fdb2be15bc2e9ddefd67018e59868a627168d2204ecf14a088b4fcab11f2aa28",
    }
    for (n, k), expected in recorded.items():
        valid = Py27IntSet((i * 48271 + 13) % n for i in range(k))
        rest = Py27IntSet(range(n)) - valid
        text = ",".join(map(str, rest)) + "|" + ",".join(map(str, valid))
        assert hashlib.sha256(text.encode("ascii")).hexdigest() == expected
        assert list(rest) == sorted(rest)  # §3.3: the train remainders come out ascending
    # 200,000 scattered keys below 10**6: the table last grows at 174,763 keys, past 50,000, so to the first
    # power of two above 2*used (524,288 slots; 4*used would give 1,048,576 and another order).
    scattered = [str(key) for key in Py27IntSet((i * 48271 + 13) % 1000003 for i in range(200000))]
    assert scattered[:6] == ["2", "7", "174581", "12", "13", "18"]
    assert (
        hashlib.sha256(",".join(scattered).encode("ascii")).hexdigest()
        == "4467c30baf8d81857b6ee23f54d098129dd07f6f6b9d6b050e50c8d867ae2f1a"
    )


def _python27():
    candidates = [shutil.which("python2.7")]
    candidates += sorted(glob.glob(str(Path.home() / ".pyenv/versions/2.7*/bin/python2.7")))
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
        )
        if probe.returncode == 0 and probe.stdout.strip() == "(2, 7)":
            return candidate
    return None


def test_py27_set_matches_a_live_cpython_27():
    """Random cases against a real Python 2.7 interpreter, where one is installed."""
    python27 = _python27()
    if python27 is None:
        pytest.skip("no Python 2.7 interpreter")
    rng = np.random.RandomState(7)
    cases = [
        (rng.randint(0, high, n).tolist(), rng.randint(0, high, n // 3).tolist())
        for n in (1, 5, 6, 40, 700, 6000)
        for high in (8, 300, 73257)
    ]
    script = (
        "import json, sys\nprint(json.dumps([[list(set(a)), list(set(a) - set(b))] for a, b in json.load(sys.stdin)]))"
    )
    answer = subprocess.run(
        [python27, "-c", script], input=json.dumps(cases), capture_output=True, text=True, check=True
    )
    for (a, b), (expected_set, expected_difference) in zip(cases, json.loads(answer.stdout)):
        assert list(Py27IntSet(a)) == expected_set
        assert list(Py27IntSet(a) - Py27IntSet(b)) == expected_difference


# --- synthetic .mat files ---------------------------------------------------------------------------------------


def _labels(counts, rng):
    labels = np.repeat(np.arange(1, 11), counts).astype(np.uint8)
    rng.shuffle(labels)
    return labels


def _write_mat(path, images, labels, compress):
    scipy.io.savemat(str(path), {"X": images, "y": labels.reshape(-1, 1)}, format="5", do_compression=compress)
    return Checksum("md5", file_digest(path, "md5"))


@pytest.fixture
def synthetic(tmp_path):
    """An SVHN folder with the three .mat files (extra compressed like MATLAB 7 writes, the others not)."""
    rng = np.random.RandomState(0)
    folder = tmp_path / "SVHN" / "format2"
    folder.mkdir(parents=True)
    data, checksums = {}, {}
    for name, counts in CLASS_COUNTS.items():
        labels = _labels(counts, rng)
        images = rng.randint(0, 256, (32, 32, 3, len(labels))).astype(np.uint8)
        checksums[name] = _write_mat(svhn.mat_path(folder, name), images, labels, compress=name == "extra")
        data[name] = (images, labels)
    return folder, data, checksums


def _build(folder, checksums, sets=ALL_SETS):
    return svhn_h5.build(folder, sets, checksums, PER_CLASS)


def _pylearn2_make_data(folder, which_set, per_class, py27_list, py27_difference):
    """A literal transcription of pylearn2's ``SVHN.make_data`` (§3.3): whole arrays via scipy.io.loadmat,
    Python-list shuffles, (N, 1) label columns, then the old one-hot y."""
    rng = np.random.RandomState(322)

    def load(name):
        data = scipy.io.loadmat(str(folder / ("%s_32x32.mat" % name)))
        return data["X"], data["y"]

    def design_matrix_view(x):
        x = np.transpose(x.astype(np.float32), axes=[3, 2, 0, 1])
        return x.reshape((x.shape[0], 32 * 32 * 3))

    if which_set in ("splitted_train", "valid"):
        picked = {"splitted_train": ([], []), "valid": ([], [])}
        for name in ("train", "extra"):
            X, y = load(name)
            valid_index = []
            for i in range(1, 11):
                index = np.nonzero(y == i)[0]
                rng.shuffle(index)
                valid_index.append(index[: per_class[name]])
            valid_list = py27_list(np.concatenate(valid_index).tolist())
            train_list = py27_difference(list(range(X.shape[3])), valid_list)
            for key, index in (("splitted_train", train_list), ("valid", valid_list)):
                picked[key][0].append(X[:, :, :, index])
                picked[key][1].append(y[index, :])
        data_x = design_matrix_view(np.concatenate(picked[which_set][0], axis=3))
        data_y = np.concatenate(picked[which_set][1])
    else:
        names = {"train": ["train"], "test": ["test"], "extra": ["extra"], "train_all": ["extra", "train"]}
        loaded = [load(name) for name in names[which_set]]
        data_x = np.concatenate([design_matrix_view(X) for X, _ in loaded])
        data_y = np.concatenate([y for _, y in loaded])
    index = list(range(data_x.shape[0]))
    rng.shuffle(index)
    data_x, data_y = data_x[index, :], data_y[index, :]
    one_hot = np.zeros((data_y.shape[0], 10), dtype=np.float32)
    for i in range(data_y.shape[0]):
        one_hot[i, data_y[i, 0] - 1] = 1.0
    return data_x, one_hot


@pytest.fixture
def py27_sets():
    """(list(set(a)), list(set(a) - set(b))) from a real Python 2.7 where installed, else from the emulation."""
    python27 = _python27()
    if python27 is None:
        return (lambda keys: list(Py27IntSet(keys)), lambda a, b: list(Py27IntSet(a) - Py27IntSet(b)))

    def run(expression, *args):
        script = "import json, sys\nargs = json.load(sys.stdin)\nprint(json.dumps(%s))" % expression
        answer = subprocess.run(
            [python27, "-c", script], input=json.dumps(args), capture_output=True, text=True, check=True
        )
        return json.loads(answer.stdout)

    return (lambda keys: run("list(set(args[0]))", keys), lambda a, b: run("list(set(args[0]) - set(args[1]))", a, b))


def test_built_files_equal_a_literal_rederivation_of_pylearn2(synthetic, py27_sets):
    folder, _, checksums = synthetic
    _build(folder, checksums)
    for which_set in ALL_SETS:
        expected_X, expected_y = _pylearn2_make_data(folder, which_set, PER_CLASS, *py27_sets)
        loaded = svhn.SVHN(which_set, path=str(folder))
        assert loaded.X.dtype == np.float32 and loaded.y.dtype == np.float32
        np.testing.assert_array_equal(loaded.X, expected_X, err_msg=which_set)
        np.testing.assert_array_equal(loaded.y, expected_y, err_msg=which_set)


def test_rows_are_channel_major_pixels_and_y_is_one_hot_with_digit_0_last(tmp_path):
    folder = tmp_path / "SVHN" / "format2"
    folder.mkdir(parents=True)
    r, c, ch = np.meshgrid(np.arange(32), np.arange(32), np.arange(3), indexing="ij")
    image = (r + 2 * c + 70 * ch).astype(np.uint8)  # pixel value encodes its (row, col, channel)
    images = np.stack([image, 255 - image], axis=3)
    checksum = _write_mat(svhn.mat_path(folder, "test"), images, np.array([10, 1], np.uint8), compress=False)
    svhn_h5.build(folder, ["test"], {"test": checksum})
    loaded = svhn.SVHN("test", path=str(folder))
    # RandomState(322).shuffle of [0, 1] decides which example is row 0; identify rows by their first pixel.
    first = int(np.nonzero(loaded.X[:, 0] == 0)[0][0])
    row = loaded.X[first]
    for channel, y_, x_ in ((0, 0, 1), (0, 1, 0), (1, 5, 7), (2, 31, 30)):
        assert row[channel * 1024 + y_ * 32 + x_] == (y_ + 2 * x_ + 70 * channel) % 256
    assert loaded.y[first].tolist() == [0.0] * 9 + [1.0]  # label 10 = digit 0 -> index 9
    assert loaded.y[1 - first].tolist() == [1.0] + [0.0] * 9  # label 1 -> index 0
    np.testing.assert_array_equal(loaded.X[1 - first], 255 - row)


# --- the split ------------------------------------------------------------------------------------------------


def test_split_sizes_balance_and_disjointness(synthetic):
    _, data, _ = synthetic
    labels = {name: data[name][1] for name in data}
    train = svhn.row_order("splitted_train", labels, PER_CLASS)
    valid = svhn.row_order("valid", labels, PER_CLASS)
    n_valid = 10 * sum(PER_CLASS.values())
    assert len(valid.index) == n_valid
    assert len(train.index) == len(labels["train"]) + len(labels["extra"]) - n_valid
    assert train.sources == valid.sources == ("train", "extra")
    for k, name in enumerate(valid.sources):
        counts = np.bincount(labels[name][valid.index[valid.source == k]], minlength=11)[1:]
        assert counts.tolist() == [PER_CLASS[name]] * 10
    rows = lambda order: {(order.sources[s], int(i)) for s, i in zip(order.source, order.index)}  # noqa: E731
    everything = {(name, i) for name in ("train", "extra") for i in range(len(labels[name]))}
    assert not rows(train) & rows(valid)
    assert rows(train) | rows(valid) == everything
    assert len(rows(train)) == len(train.index)  # no example twice
    assert np.bincount(labels["train"], minlength=11)[1:].tolist() == CLASS_COUNTS["train"]  # unbalanced source
    again = svhn.row_order("splitted_train", labels, PER_CLASS)
    np.testing.assert_array_equal(again.index, train.index)
    np.testing.assert_array_equal(again.source, train.source)


def test_the_real_constants():
    assert svhn.VALID_PER_CLASS == {"train": 400, "extra": 200} and svhn.SEED == 322
    sizes = svhn.SIZES
    assert (sizes["train"], sizes["test"], sizes["extra"]) == (73257, 26032, 531131)
    assert sizes["valid"] == 10 * (400 + 200) == 6000
    assert sizes["splitted_train"] == 73257 + 531131 - 6000 == 598388
    assert sizes["train_all"] == 73257 + 531131 == 604388
    assert pytables_file.SLAB == 5000
    assert svhn.CHECKSUMS["train"] == Checksum("md5", "e26dedcc434d2e4c54c9b2d4a06d8373")
    assert svhn.CHECKSUMS["test"] == Checksum("md5", "eb5a983be6a315427106f1b164d9cef3")
    assert svhn.CHECKSUMS["extra"] == Checksum("md5", "a93ce644f1a588dc4d68dda5feec44a7")


def test_a_class_too_small_for_the_split_is_reported(synthetic):
    _, data, _ = synthetic
    labels = {name: data[name][1] for name in data}
    with pytest.raises(UserError, match="class 7 has 5 examples, fewer than the 6"):
        svhn.row_order("valid", labels, {"train": 6, "extra": 2})


# --- the build ------------------------------------------------------------------------------------------------


def test_build_is_repeatable_and_keeps_complete_files(synthetic, tmp_path, capsys):
    folder, _, checksums = synthetic
    _build(folder, checksums, ["valid", "test"])
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("h5"))
    _build(copy, checksums, ["valid", "test"])
    for which_set in ("valid", "test"):
        first, second = svhn.SVHN(which_set, path=str(folder)), svhn.SVHN(which_set, path=str(copy))
        np.testing.assert_array_equal(first.X, second.X)
        np.testing.assert_array_equal(first.y, second.y)
    stamp = svhn.h5_path(folder, "valid").stat().st_mtime_ns
    capsys.readouterr()
    _build(folder, checksums, ["valid"])
    assert "present" in capsys.readouterr().out
    assert svhn.h5_path(folder, "valid").stat().st_mtime_ns == stamp
    assert sorted(p.name for p in (folder / "h5").iterdir()) == ["test_32x32.h5", "valid_32x32.h5"]


def test_h5_layout_is_pylearn2s(synthetic):
    folder, _, checksums = synthetic
    _build(folder, checksums, ["valid"])
    with tables.open_file(str(svhn.h5_path(folder, "valid"))) as h5:
        assert h5.title == "SVHN Dataset" and h5.root.Data._v_title == "Data"
        assert h5.root.Data.X.shape == (60, 3072) and h5.root.Data.X.title == "Data values"
        assert h5.root.Data.y.shape == (60, 10) and h5.root.Data.y.title == "Data targets"
        assert h5.root.Data.X.filters.complib == "blosc" and h5.root.Data.X.filters.complevel == 5


def test_an_interrupted_build_leaves_no_finished_looking_file(synthetic, monkeypatch):
    folder, data, checksums = synthetic
    _build(folder, checksums, ["valid"])
    monkeypatch.setattr(pytables_file, "SLAB", 16)  # several slabs per file
    seen = []
    real_one_hot = svhn_h5.one_hot

    def crash_on_third_slab(labels):
        seen.append(sorted(p.name for p in (folder / "h5").iterdir()))
        if len(seen) == 3:
            raise KeyboardInterrupt("killed")
        return real_one_hot(labels)

    monkeypatch.setattr(svhn_h5, "one_hot", crash_on_third_slab)
    with pytest.raises(KeyboardInterrupt):
        _build(folder, checksums, ["splitted_train"])
    # While it ran, the file existed only under a hidden temporary name (what a kill would leave behind) ...
    assert seen[-1][0].startswith(".splitted_train_32x32.h5.") and seen[-1][0].endswith(".tmp")
    assert "splitted_train_32x32.h5" not in seen[-1]
    # ... and the failure removed it; the earlier complete file is untouched.
    assert sorted(p.name for p in (folder / "h5").iterdir()) == ["valid_32x32.h5"]
    with pytest.raises(UserError, match="is missing: run `make svhn-h5`"):
        svhn.SVHN("splitted_train", path=str(folder))
    monkeypatch.setattr(svhn_h5, "one_hot", real_one_hot)
    _build(folder, checksums, ["splitted_train"])
    expected_rows = len(data["train"][1]) + len(data["extra"][1]) - 10 * sum(PER_CLASS.values())
    assert svhn.SVHN("splitted_train", path=str(folder)).X.shape == (expected_rows, 3072)


def test_compressed_and_uncompressed_mat_files_read_the_same(tmp_path):
    rng = np.random.RandomState(3)
    images, labels = rng.randint(0, 256, (32, 32, 3, 7)).astype(np.uint8), np.arange(1, 8, dtype=np.uint8)
    for compress in (False, True):
        path = tmp_path / ("c.mat" if compress else "u.mat")
        _write_mat(path, images, labels, compress)
        arrays = mat5.locate(path, "fix")
        assert arrays["X"].compressed == compress and arrays["X"].dims == (32, 32, 3, 7)
        np.testing.assert_array_equal(mat5.read_array(path, arrays["X"], "fix"), images)
        np.testing.assert_array_equal(mat5.read_array(path, arrays["y"], "fix"), labels.reshape(-1, 1))
        reader = svhn_h5.MatImages(path, arrays["X"], tmp_path)
        np.testing.assert_array_equal(
            reader.read(np.array([5, 0, 5])), images[:, :, :, [5, 0, 5]].transpose(3, 2, 1, 0).reshape(3, 3072)
        )
        reader.close()


# --- bad inputs -----------------------------------------------------------------------------------------------


def test_wrong_checksum_and_missing_mat_name_the_download_command(synthetic):
    folder, _, checksums = synthetic
    with pytest.raises(UserError, match="test_32x32.mat is corrupt .*run `make download-svhn`"):
        svhn_h5.build(folder, ["test"], {"test": Checksum("md5", "0" * 32)})
    svhn.mat_path(folder, "extra").unlink()
    with pytest.raises(UserError, match="extra_32x32.mat is missing: run `make download-svhn`"):
        _build(folder, checksums, ["valid"])
    assert list((folder / "h5").iterdir()) == []


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_mat_is_rejected(tmp_path, compress):
    path = tmp_path / "test_32x32.mat"
    _write_mat(path, np.zeros((32, 32, 3, 5), np.uint8), np.arange(1, 6, dtype=np.uint8), compress)
    path.write_bytes(path.read_bytes()[:-20])
    truncated = Checksum("md5", file_digest(path, "md5"))  # get past the checksum to reach the parser
    with pytest.raises(UserError, match="truncated.*run `make download-svhn`"):
        svhn_h5.build(tmp_path, ["test"], {"test": truncated})


@pytest.mark.parametrize(
    "images, labels, message",
    [
        (np.zeros((32, 32, 1, 4), np.uint8), np.arange(1, 5), r"expected \(32, 32, 3, N\) uint8"),
        (np.zeros((32, 32, 3, 4)), np.arange(1, 5), r"expected \(32, 32, 3, N\) uint8"),
        (np.zeros((32, 32, 3, 4), np.uint8), np.arange(1, 4), r"y \(3, 1\)"),
        (np.zeros((32, 32, 3, 4), np.uint8), np.arange(0, 4), "labels outside 1..10"),
        (np.zeros((32, 32, 3, 4), np.uint8), np.arange(8, 12), "labels outside 1..10"),
    ],
)
def test_mat_with_wrong_shapes_or_labels_is_rejected(tmp_path, images, labels, message):
    checksum = _write_mat(tmp_path / "test_32x32.mat", images, np.asarray(labels, np.uint8), compress=False)
    with pytest.raises(UserError, match=message):
        svhn_h5.build(tmp_path, ["test"], {"test": checksum})


def test_not_a_mat_file_and_missing_variables(tmp_path):
    path = tmp_path / "test_32x32.mat"
    path.write_bytes(b"\x89HDF\r\n" + bytes(300))  # e.g. a MATLAB 7.3 (HDF5) file
    with pytest.raises(UserError, match="is not a MATLAB v5 .mat file"):
        svhn_h5.build(tmp_path, ["test"], {"test": Checksum("md5", file_digest(path, "md5"))})
    scipy.io.savemat(str(path), {"X": np.zeros((32, 32, 3, 2), np.uint8)})
    with pytest.raises(UserError, match="lacks variable X or y"):
        svhn_h5.build(tmp_path, ["test"], {"test": Checksum("md5", file_digest(path, "md5"))})
    scipy.io.savemat(str(path), {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": {"a": 1}})
    with pytest.raises(UserError, match="not a real numeric array"):
        svhn_h5.build(tmp_path, ["test"], {"test": Checksum("md5", file_digest(path, "md5"))})


# --- the loader -----------------------------------------------------------------------------------------------


def test_loader_default_path_and_missing_files(tmp_path, monkeypatch):
    monkeypatch.setenv("PYLEARN2_DATA_PATH", str(tmp_path))
    folder = tmp_path / "SVHN" / "format2"
    with pytest.raises(UserError, match=r"SVHN/format2/h5/test_32x32.h5 is missing: run `make svhn-h5`"):
        svhn.SVHN("test")
    (folder / "h5").mkdir(parents=True)
    with pytest.raises(UserError, match=r"h5/test_32x32.h5 is missing: run `make svhn-h5`"):
        svhn.SVHN("test")
    with pytest.raises(ValueError, match="which_set"):
        svhn.SVHN("validation")
    h5 = pytables_file.create(svhn.h5_path(folder, "test"), 3)
    pytables_file.data_nodes(h5)[1][:] = np.eye(3, 10, dtype=np.float32)
    h5.close()
    loaded = svhn.SVHN("test")  # found through $PYLEARN2_DATA_PATH
    assert loaded.X.shape == (3, 3072) and loaded.y.tolist() == np.eye(3, 10).tolist()
    monkeypatch.setenv("SVHN_ELSEWHERE", str(folder))
    assert svhn.SVHN("test", path="${SVHN_ELSEWHERE}").X.shape == (3, 3072)


def test_loader_rejects_wrong_layouts(tmp_path):
    folder = tmp_path
    (folder / "h5").mkdir()
    path = svhn.h5_path(folder, "test")
    pytables_file.create(path, 4, n_classes=1).close()  # modern pylearn2's (N, 1) int labels: not usable here
    with pytest.raises(UserError, match=r"y \(4, 1\).*expected \(N, 3072\) and \(N, 10\).*make svhn-h5"):
        svhn.SVHN("test", path=str(folder))
    with tables.open_file(str(path), mode="w") as h5:
        h5.create_group(h5.root, "Other")
    with pytest.raises(UserError, match="lacks /Data/X or /Data/y"):
        svhn.SVHN("test", path=str(folder))
    path.write_bytes(b"not an h5 file at all")
    with pytest.raises(UserError, match="not a readable h5 file.*make svhn-h5"):
        svhn.SVHN("test", path=str(folder))


# --- commands -------------------------------------------------------------------------------------------------


def test_download_fetches_the_three_files_with_their_md5(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(
        svhn,
        "fetch_all",
        lambda wanted, fix: calls.extend((list(item.urls), item.dest, item.checksum) for item in wanted),
    )
    assert download.main(["svhn", "--data-path", str(tmp_path)]) == 0
    folder = tmp_path / "SVHN" / "format2"
    assert calls == [
        (
            ["http://ufldl.stanford.edu/housenumbers/%s_32x32.mat" % name],
            folder / ("%s_32x32.mat" % name),
            svhn.CHECKSUMS[name],
        )
        for name in ("train", "test", "extra")
    ]


def test_command_line_builds_and_reports(synthetic, monkeypatch, capsys):
    folder, data, checksums = synthetic
    for name, checksum in checksums.items():
        monkeypatch.setitem(svhn.CHECKSUMS, name, checksum)
    root = str(folder.parent.parent)
    svhn_h5.main(["--data-path", root, "--sets", "test"])
    out = capsys.readouterr().out
    assert "test: %d rows" % len(data["test"][1]) in out and "  test: done" in out
    assert svhn.SVHN("test", path=str(folder)).X.shape == (len(data["test"][1]), 3072)
    svhn.mat_path(folder, "train").unlink()
    assert svhn_h5.main(["--data-path", root, "--sets", "valid"]) == 1
    assert "train_32x32.mat is missing: run `make download-svhn`" in capsys.readouterr().err
