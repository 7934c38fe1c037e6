"""A finished run folder as a network: its experiment and settings from ``run.json``, the network rebuilt by its
script (as the run built it), and the best epoch's parameters loaded from the file the checkpoint goes with.

Used by ``python -m deploy.evaluate``, ``deploy.summary`` and ``deploy.export`` (``make evaluate|summary|export
RUN=...``). A folder that is not a run of one of the six experiments, an unfinished run, or parameters that are not
the checkpoint's are refused with a UserError saying what to do.
"""
import compat  # noqa: F401  (must precede theano and lasagne)

import dataclasses
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, NamedTuple, Optional, Tuple

import lasagne
import numpy as np

from harness import manifest, run_folder
from harness.checkpoint import Checkpoint, Saved, is_saved_file
from harness.errors import UserError
from harness.settings import Settings

# experiment (run.json) -> (its script, the script's settings class, the function that builds its network)
SCRIPTS: Dict[str, Tuple[str, str, str]] = {
    "binarynet-mnist": ("binarynet.mnist", "MNISTSettings", "build_mlp"),
    "binarynet-cifar10": ("binarynet.cifar10", "CIFAR10Settings", "build_cnn"),
    "binarynet-svhn": ("binarynet.svhn", "SVHNSettings", "build_cnn"),
    "binaryconnect-mnist": ("binaryconnect.mnist", "MNISTSettings", "build_mlp"),
    "binaryconnect-cifar10": ("binaryconnect.cifar10", "CIFAR10Settings", "build_cnn"),
    "binaryconnect-svhn": ("binaryconnect.svhn", "SVHNSettings", "build_cnn"),
}


class Run(NamedTuple):
    """A run folder's script, settings (``data_path`` the one given now) and checked checkpoint."""

    folder: Path
    script: ModuleType
    settings: Settings
    saved: Saved


def open_run(folder: Path, data_path: Optional[str] = None, finished: bool = True) -> Run:
    """The run in ``folder``; with ``finished``, refused unless every planned epoch is done."""
    folder = Path(folder)
    recorded = manifest.read(folder)
    if recorded["experiment"] not in SCRIPTS:
        raise UserError("%s is a run of %r, not of one of the six experiments (%s)"
                        % (folder, recorded["experiment"], ", ".join(SCRIPTS)))
    module, settings_class, _ = SCRIPTS[recorded["experiment"]]
    script = importlib.import_module(module)
    values = dict(recorded["settings"], data_path=data_path, output_dir=str(folder))
    try:
        settings = getattr(script, settings_class).from_dict(values)
    except UserError as error:
        raise UserError("%s/run.json: %s" % (folder, error)) from None
    saved = Checkpoint(folder / run_folder.CHECKPOINT, settings.config()).read()
    if saved is None:
        raise UserError("%s has no checkpoint: the run has not finished an epoch yet" % folder)
    if finished and saved.epoch < settings.num_epochs:
        raise UserError("%s is unfinished (epoch %d of %d): rerun its training command to finish it, or pass "
                        "--unfinished to use its best epoch so far (epoch %d)"
                        % (folder, saved.epoch, settings.num_epochs, saved.best_epoch))
    return Run(folder, script, settings, saved)


def network(run: Run) -> lasagne.layers.Layer:
    """The run's network as its script builds it (np.random seeded as the run was: the same initial values)."""
    np.random.seed(run.settings.seed)
    return getattr(run.script, SCRIPTS[run.settings.EXPERIMENT][2])(run.settings)


def load_best_parameters(run: Run, net: lasagne.layers.Layer) -> None:
    """Put the best epoch's parameters (the file the checkpoint records, keys arr_0...) into ``net``."""
    path = run.folder / run.settings.save_path
    if not path.is_file():
        raise UserError("%s is missing: the run saved no parameters there (rerun its training command)" % path)
    if not is_saved_file(path, run.saved.saved_params):
        raise UserError("%s is not the parameters file of the checkpoint in %s (the run was stopped between the "
                        "two writes): rerun its training command, which rewrites it" % (path, run.folder))
    params = lasagne.layers.get_all_params(net)
    with np.load(path, allow_pickle=False) as saved:
        values = [saved["arr_%d" % i] for i in range(len(saved.files))]
    shapes = [param.get_value(borrow=True).shape for param in params]
    if [value.shape for value in values] != shapes:
        raise UserError("%s holds %d arrays that do not fit the network of its run.json (%d parameters)"
                        % (path, len(values), len(params)))
    lasagne.layers.set_all_param_values(net, values)


def trained_network(run: Run) -> lasagne.layers.Layer:
    """The run's network with its best epoch's parameters."""
    net = network(run)
    load_best_parameters(run, net)
    return net


def test_set(run: Run) -> Any:
    """The run's test set as its script loads it (the training and validation sets, unused here, cut to one
    batch so that they cost nothing)."""
    one_batch = {name: run.settings.batch_size for name in ("train_size", "train_set_size", "valid_size")
                 if hasattr(run.settings, name)}
    return run.script.load(dataclasses.replace(run.settings, **one_batch))[2]
