"""A finished run folder as a network: its experiment and settings from ``run.json``, the network rebuilt by its
script (as the run built it), and the best epoch's parameters loaded from the file the checkpoint goes with.

Used by ``python -m deploy.evaluate``, ``deploy.summary`` and ``deploy.export`` (``make evaluate|summary|export
RUN=...``); without a folder they take the newest finished run under ``--runs`` and say so. A folder that is not a
run of one of the six experiments, an unfinished run, or parameters that are not the checkpoint's are refused with a
UserError saying what to do.
"""

import compat  # noqa: F401  (must precede theano and lasagne)

import argparse
import dataclasses
import importlib
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple, Optional

import lasagne
import numpy as np

import experiments
from harness import manifest, run_folder
from harness.checkpoint import Checkpoint, Saved, is_saved_file
from harness.errors import UserError
from harness.settings import Settings


def add_run_arguments(parser: argparse.ArgumentParser, what: str = "a finished run folder") -> None:
    """The folder argument of the deploy commands: ``RUN_DIR`` (optional) and ``--runs``."""
    parser.add_argument(
        "run_dir",
        type=Path,
        nargs="?",
        metavar="RUN_DIR",
        help="%s (default: the newest finished run under --runs)" % what,
    )
    parser.add_argument(
        "--runs",
        type=Path,
        default=Path(os.environ.get("RUNS") or "runs"),
        help="where to look for that run (default: $RUNS, or runs)",
    )


def chosen_folder(args: argparse.Namespace) -> Path:
    """``args.run_dir``, or the newest finished run under ``args.runs`` (saying which on stderr)."""
    if args.run_dir is not None:
        return args.run_dir
    folder = newest_finished(args.runs)
    print("no run folder named: using the newest finished run under %s, %s" % (args.runs, folder), file=sys.stderr)
    return folder


def newest_finished(runs: Path) -> Path:
    """The run folder under ``runs`` of one of the six experiments whose log has every epoch, last written last."""
    found = []
    for folder in sorted(runs.iterdir()) if runs.is_dir() else []:
        log = folder / run_folder.LOG
        try:
            last = json.loads(log.read_text().splitlines()[-1])
            finished = last["epoch"] == last["num_epochs"]
            named = experiments.by_name(manifest.read(folder)["experiment"]) is not None
        except (OSError, ValueError, IndexError, KeyError, TypeError, UserError):
            continue  # not a finished run of this project: not a candidate
        if finished and named:
            found.append((log.stat().st_mtime, folder))
    if not found:
        raise UserError(
            "no finished run under %s: name a run folder (make ... RUN=folder), or make one first "
            "(e.g. `make mnist-smoke`)" % runs
        )
    return max(found)[1]


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
    experiment = experiments.by_name(recorded["experiment"])
    if experiment is None:
        raise UserError(
            "%s is a run of %r, not of one of the six experiments (%s)"
            % (folder, recorded["experiment"], ", ".join(e.name for e in experiments.EXPERIMENTS))
        )
    script = importlib.import_module(experiment.module)
    values = dict(recorded["settings"], data_path=data_path, output_dir=str(folder))
    try:
        settings = getattr(script, experiment.settings).from_dict(values)
    except UserError as error:
        raise UserError("%s/run.json: %s" % (folder, error)) from None
    saved = Checkpoint(folder / run_folder.CHECKPOINT, settings.config()).read()
    if saved is None:
        raise UserError("%s has no checkpoint: the run has not finished an epoch yet" % folder)
    if finished and saved.epoch < settings.num_epochs:
        raise UserError(
            "%s is unfinished (epoch %d of %d): rerun its training command to finish it, or pass "
            "--unfinished to use its best epoch so far (epoch %d)"
            % (folder, saved.epoch, settings.num_epochs, saved.best_epoch)
        )
    return Run(folder, script, settings, saved)


def network(run: Run) -> lasagne.layers.Layer:
    """The run's network as its script builds it (np.random seeded as the run was: the same initial values)."""
    np.random.seed(run.settings.seed)
    return getattr(run.script, experiments.by_name(run.settings.EXPERIMENT).network)(run.settings)


def load_best_parameters(run: Run, net: lasagne.layers.Layer) -> None:
    """Put the best epoch's parameters (the file the checkpoint records, keys arr_0...) into ``net``."""
    path = run.folder / run.settings.save_path
    repair = run.settings.command_line()
    if not path.is_file():
        raise UserError(
            "%s is missing: rerun its training command, which rebuilds it from the checkpoint: `%s`" % (path, repair)
        )
    if not is_saved_file(path, run.saved.saved_params):
        raise UserError(
            "%s is not the parameters file of the checkpoint in %s (damaged, or the run was stopped "
            "between the two writes): rerun its training command, which rebuilds it from the "
            "checkpoint: `%s`" % (path, run.folder, repair)
        )
    params = lasagne.layers.get_all_params(net)
    with np.load(path, allow_pickle=False) as saved:
        values = [saved["arr_%d" % i] for i in range(len(saved.files))]
    shapes = [param.get_value(borrow=True).shape for param in params]
    if [value.shape for value in values] != shapes:
        raise UserError(
            "%s holds %d arrays that do not fit the network of its run.json (%d parameters)"
            % (path, len(values), len(params))
        )
    lasagne.layers.set_all_param_values(net, values)


def trained_network(run: Run) -> lasagne.layers.Layer:
    """The run's network with its best epoch's parameters."""
    net = network(run)
    load_best_parameters(run, net)
    return net


def test_set(run: Run) -> Any:
    """The run's test set as its script loads it (the training and validation sets, unused here, cut to one
    batch so that they cost nothing)."""
    one_batch = {
        name: run.settings.batch_size
        for name in ("train_size", "train_set_size", "valid_size")
        if hasattr(run.settings, name)
    }
    return run.script.load(dataclasses.replace(run.settings, **one_batch))[2]
