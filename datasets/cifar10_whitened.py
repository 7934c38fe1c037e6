"""``python -m datasets.cifar10_whitened``: BinaryConnect's ``pylearn2_gcn_whitened`` CIFAR-10 (§2.5, §3.2).

What pylearn2's ``make_cifar10_gcn_whitened.py`` computes: GCN with scale 55 on the 50,000 training and the 10,000
test images, a ZCA (filter_bias 0.1) fitted on all 50,000 GCN'd training rows (validation rows included, §4 trap 16)
and applied to both sets. Written to ``$PYLEARN2_DATA_PATH/cifar10/pylearn2_gcn_whitened/`` as ``train.npz``,
``test.npz`` (X float32 (N, 3072), y uint8 (N, 1)) and ``preprocessor.npz`` (mean, P, inverse) in place of
pylearn2's pickles, so loading them never runs pickle. The values are platform dependent in their last bits
(docs/REPRODUCTION.md §5).
"""

import zipfile
import zlib
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from datasets import cifar10
from datasets.paths import data_root
from datasets.rows import take_rows
from datasets.zca import ZCA
from harness.errors import ArgumentParser, UserError, command
from harness.files import PathLike, readable_file, write_npz

BUILD_COMMAND = "make cifar10-whitened"
FOLDER = "pylearn2_gcn_whitened"
GCN_SCALE = 55.0
SETS = ("train", "test")


def output_folder(root: Path) -> Path:
    """Where the whitened set lives under the data root."""
    return root / "cifar10" / FOLDER


def save_arrays(path: Path, **arrays: np.ndarray) -> None:
    """Write ``arrays`` as an uncompressed .npz under ``path`` in one atomic rename."""
    write_npz(path, arrays)


def load_arrays(path: PathLike, expected: Dict[str, str]) -> Dict[str, np.ndarray]:
    """Read the arrays named in ``expected`` (name -> dtype) from a .npz, without pickle; UserError if unusable."""
    path = readable_file(path, BUILD_COMMAND)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in expected}  # reads (and CRC-checks) every array
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        raise UserError("%s is damaged (%s): delete it and run `%s`" % (path, error, BUILD_COMMAND)) from error
    for name, dtype in expected.items():
        if arrays[name].dtype != dtype:
            raise UserError(
                "%s: %s is %s, expected %s: run `%s`" % (path, name, arrays[name].dtype, dtype, BUILD_COMMAND)
            )
    return arrays


class GCNWhitenedCIFAR10:
    """The role of BinaryConnect's ``ZCA_Dataset`` over ``train.pkl``/``test.pkl`` (§2.5).

    ``GCNWhitenedCIFAR10('train', 0, 45000)`` is the training set, ``('train', 45000, 50000)`` the validation
    set, ``('test')`` the test set; ``X`` (N, 3072) float32, channel-major rows; ``y`` (N, 1) uint8.
    """

    def __init__(
        self, which_set: str, start: Optional[int] = None, stop: Optional[int] = None, path: Optional[str] = None
    ) -> None:
        if which_set not in SETS:
            raise ValueError("which_set must be 'train' or 'test', not %r" % (which_set,))
        file = output_folder(data_root(path)) / (which_set + ".npz")
        arrays = load_arrays(file, {"X": "float32", "y": "uint8"})
        X, y = arrays["X"], arrays["y"]
        if X.ndim != 2 or X.shape[1] != cifar10.N_FEATURES or y.shape != (len(X), 1):
            raise UserError(
                "%s holds X %s and y %s, expected (N, %d) and (N, 1): run `%s`"
                % (file, X.shape, y.shape, cifar10.N_FEATURES, BUILD_COMMAND)
            )
        self.X = take_rows(X, start, stop, str(file), BUILD_COMMAND)
        self.y = take_rows(y, start, stop, str(file), BUILD_COMMAND)


def load_preprocessor(path: Optional[str] = None) -> ZCA:
    """The fitted ZCA (pylearn2's ``preprocessor.pkl``: loaded by the script, never applied again)."""
    arrays = load_arrays(
        output_folder(data_root(path)) / "preprocessor.npz", {"mean": "float32", "P": "float32", "inverse": "float32"}
    )
    zca = ZCA()
    zca.mean_, zca.P_, zca.inv_P_ = arrays["mean"], arrays["P"], arrays["inverse"]
    return zca


def is_complete(root: Path) -> bool:
    """Whether the three files are there and read whole by their loaders (each is written atomically,
    preprocessor.npz last); a damaged one is reported and the set rebuilt."""
    folder = output_folder(root)
    if not any((folder / name).exists() for name in ("train.npz", "test.npz", "preprocessor.npz")):
        return False
    try:
        load_preprocessor(str(root))
        for which_set in SETS:
            GCNWhitenedCIFAR10(which_set, path=str(root))
    except UserError as error:
        print("%s: unusable, rebuilding it (%s)" % (folder, error), flush=True)
        return False
    return True


def build(root: Path) -> None:
    """GCN(55) both sets, fit ZCA on all training rows, whiten both, write the three .npz files.

    Skipped when the three files are complete and readable: a rebuild on another BLAS would change a resumed
    run's inputs in the last bits. Delete the folder to rebuild.
    """
    folder = output_folder(root)
    if is_complete(root):
        print("%s: present and readable (delete it to rebuild)" % folder, flush=True)
        return
    print("loading CIFAR-10 'train' with GCN(scale=%g)" % GCN_SCALE, flush=True)
    # cifar10.CHECKSUMS is looked up now (not bound as a default) so that tests can substitute their own.
    train = cifar10.CIFAR10("train", gcn=GCN_SCALE, path=str(root), checksums=cifar10.CHECKSUMS)
    print("fitting ZCA (filter_bias 0.1) on %d x %d rows" % train.X.shape, flush=True)
    zca = ZCA().fit(train.X)
    print("whitening 'train' and writing %s" % (folder / "train.npz"), flush=True)
    save_arrays(folder / "train.npz", X=zca.apply(train.X, out=train.X), y=train.y)
    del train
    print("loading CIFAR-10 'test' with GCN(scale=%g), whitening it" % GCN_SCALE, flush=True)
    test = cifar10.CIFAR10("test", gcn=GCN_SCALE, path=str(root), checksums=cifar10.CHECKSUMS)
    save_arrays(folder / "test.npz", X=zca.apply(test.X, out=test.X), y=test.y)
    save_arrays(folder / "preprocessor.npz", mean=zca.mean_, P=zca.P_, inverse=zca.inv_P_)
    print("wrote train.npz, test.npz and preprocessor.npz in %s" % folder, flush=True)


@command
def main(argv: Optional[List[str]] = None) -> None:
    parser = ArgumentParser(prog="python -m datasets.cifar10_whitened", description=__doc__.splitlines()[0])
    parser.add_argument("--data-path", help="data folder (default: $PYLEARN2_DATA_PATH)")
    build(data_root(parser.parse_args(argv).data_path))


if __name__ == "__main__":
    raise SystemExit(main())
