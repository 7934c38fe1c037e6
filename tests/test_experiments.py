"""experiments.py, the one table of the six experiments, agrees with the scripts it names and with make."""

import compat  # noqa: F401

import dataclasses
import importlib
import os
import subprocess

import pytest
from conftest import REPO

import experiments


@pytest.mark.parametrize("experiment", experiments.EXPERIMENTS, ids=lambda e: e.name)
def test_each_row_names_its_script_settings_and_network(experiment):
    script = importlib.import_module(experiment.module)
    settings_class = getattr(script, experiment.settings)
    assert settings_class.EXPERIMENT == experiment.name
    defaults = {f.name: f.default for f in dataclasses.fields(settings_class)}
    assert defaults["num_epochs"] == experiment.epochs  # the paper's epochs are the script's default
    assert callable(getattr(script, experiment.network))
    settings_class.parse(experiment.smoke_flags.split())  # the small run's flags are accepted
    assert "\n### %s " % experiment.section.lstrip("§") in (REPO / "docs" / "REPRODUCTION.md").read_text()


@pytest.mark.parametrize("experiment", experiments.EXPERIMENTS, ids=lambda e: e.name)
def test_make_prepares_the_data_then_runs_the_script_into_its_folder(experiment):
    env = dict(os.environ, MAKEFLAGS="")
    for target, folder, flags in (
        (experiment.target, experiment.name, ""),
        (experiment.smoke_target, experiment.name + "-smoke", experiment.smoke_flags),
    ):
        dry_run = subprocess.run(
            ["make", "-n", "--no-print-directory", target, "ARGS=--seed 7"],
            cwd=REPO,
            capture_output=True,
            text=True,
            env=env,
        )
        assert dry_run.returncode == 0, dry_run.stderr
        last = dry_run.stdout.strip().splitlines()[-1]
        expected = "-m %s --output-dir runs/%s %s --seed 7" % (experiment.module, folder, flags)
        assert last.split()[-len(expected.split()) :] == expected.split(), last
        for data in experiment.data.split():  # each preparing step runs first, without the script's ARGS
            data_steps = (
                subprocess.run(
                    ["make", "-n", "--no-print-directory", data], cwd=REPO, capture_output=True, text=True, env=env
                )
                .stdout.strip()
                .splitlines()
            )
            assert data_steps[-1] in dry_run.stdout and "--seed 7" not in data_steps[-1]


def test_names_are_unique_and_lookups_work():
    names = [e.name for e in experiments.EXPERIMENTS]
    assert len(set(names)) == len(names) == 6
    assert experiments.by_name("binaryconnect-svhn").smoke_command == "make bc-svhn-smoke"
    assert experiments.by_name("imagenet") is None
