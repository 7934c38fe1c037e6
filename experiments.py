"""The six published experiments, in one table that the scripts, deploy, results and make read.

Each row names an experiment (its runs' ``run.json`` records the name; its default run folder is ``runs/<name>``),
the script that runs it, its make targets and the data they prepare first, the flags of its small CPU run, and the
papers' figures: the test error the original README reports, the epochs, and the time on the authors' GPU
(docs/REPRODUCTION.md §2.7). Standard library only: ``python3 experiments.py make`` prints the make rules of the six
experiments (the Makefile includes them), so make can read it before anything is installed.
"""

import sys
from typing import NamedTuple, Optional, Tuple

SMOKE_MNIST = (
    "--num-epochs 8 --num-units 512 --n-hidden-layers 2 --train-size 20000 --valid-size 5000 "
    "--test-size 10000 --LR-fin 0.00003"
)
SMOKE_CIFAR10 = (
    "--num-epochs 4 --filters 8 8 16 16 32 32 --num-units 128 --train-size 4000 --valid-size 1000 "
    "--test-size 2000 --LR-fin 0.0001"
)
SMOKE_SVHN = (
    "--num-epochs 4 --filters 8 8 16 16 32 32 --num-units 128 --train-size 20000 --valid-size 2000 "
    "--test-size 5000 --LR-fin 0.0001"
)


class Experiment(NamedTuple):
    """One experiment of the papers (docs/REPRODUCTION.md §2)."""

    name: str  # run.json's experiment, the default run folder runs/<name>
    title: str
    module: str  # python -m <module>
    settings: str  # the script's Settings class
    network: str  # the script's function that builds the network from the settings
    section: str  # of docs/REPRODUCTION.md
    target: str  # make <target> runs the paper's experiment, make <target>-smoke the small one
    data: str  # the make targets that prepare its data first
    smoke_flags: str  # the flags of the small run
    test_error: float  # percent, the original README's
    epochs: int
    time: str  # the original README's, on the authors' GPU (TB = GeForce GTX Titan Black)
    cpu_epoch_seconds: float  # one epoch of the paper's run on 2 CPU cores (measured; comment: how)
    # The standard deviation over runs that the source of test_error reports with it (percentage points), for
    # `make compare`'s groups of seeds; None where it reports none (docs/REPRODUCTION.md §2.7: none of the six do)
    paper_spread: Optional[float] = None

    @property
    def smoke_target(self) -> str:
        return self.target + "-smoke"

    @property
    def smoke_command(self) -> str:
        return "make " + self.smoke_target


EXPERIMENTS: Tuple[Experiment, ...] = (
    # name, title, module, settings, network, section, target, data, smoke_flags,
    # test_error (%), epochs, time, cpu_epoch_seconds
    Experiment(
        "binarynet-mnist",
        "BinaryNet MNIST",
        "binarynet.mnist",
        "MNISTSettings",
        "build_mlp",
        "§2.1",
        "mnist",
        "download-mnist",
        SMOKE_MNIST,
        0.96,
        1000,
        "~6 h TB",
        1100.0,
    ),  # benchmarks.mnist_mlp: 0.9 to 1.9 s per iteration
    Experiment(
        "binarynet-cifar10",
        "BinaryNet CIFAR-10",
        "binarynet.cifar10",
        "CIFAR10Settings",
        "build_cnn",
        "§2.2",
        "cifar10",
        "download-cifar10",
        SMOKE_CIFAR10,
        11.40,
        500,
        "~23 h TB",
        1800.0,
    ),  # benchmarks.convnet: 1.77 s per iteration
    Experiment(
        "binarynet-svhn",
        "BinaryNet SVHN",
        "binarynet.svhn",
        "SVHNSettings",
        "build_cnn",
        "§2.3",
        "svhn",
        "svhn-h5",
        SMOKE_SVHN,
        2.80,
        200,
        "~2 days TB",
        7500.0,
    ),  # benchmarks.convnet --dataset svhn: 0.62 s per iteration
    Experiment(
        "binaryconnect-mnist",
        "BinaryConnect MNIST",
        "binaryconnect.mnist",
        "MNISTSettings",
        "build_mlp",
        "§2.4",
        "bc-mnist",
        "download-mnist",
        SMOKE_MNIST,
        1.15,
        250,
        "~30 min GTX 680",
        290.0,
    ),  # benchmarks.mnist_mlp --num-units 2048: 0.50 s per iteration
    Experiment(
        "binaryconnect-cifar10",
        "BinaryConnect CIFAR-10",
        "binaryconnect.cifar10",
        "CIFAR10Settings",
        "build_cnn",
        "§2.5",
        "bc-cifar10",
        "cifar10-whitened",
        SMOKE_CIFAR10,
        8.27,
        500,
        "~20 h TB",
        1800.0,
    ),  # as BinaryNet's CIFAR-10 ConvNet (the same layers)
    Experiment(
        "binaryconnect-svhn",
        "BinaryConnect SVHN",
        "binaryconnect.svhn",
        "SVHNSettings",
        "build_cnn",
        "§2.6",
        "bc-svhn",
        "svhn-h5 svhn-preprocess",
        SMOKE_SVHN,
        2.15,
        200,
        "~2 days TB",
        7500.0,
    ),  # as BinaryNet's SVHN ConvNet
)


def by_name(name: str) -> Optional[Experiment]:
    """The experiment of that name (a run.json's ``experiment``), or None for another one."""
    return next((experiment for experiment in EXPERIMENTS if experiment.name == name), None)


def make_rules() -> str:
    """The make rules of the six experiments: ``<target>`` and ``<target>-smoke`` train into $(RUNS)/<name>[-smoke]
    after preparing the data; ARGS go to the training script only."""
    rules = []
    for e in EXPERIMENTS:
        paper = "prepare the data, train %s with the paper's settings (%d epochs; ARGS adds flags)" % (
            e.title,
            e.epochs,
        )
        rules += [
            "%s %s: override TRAIN_ARGS := $(ARGS)" % (e.target, e.smoke_target),
            "%s %s: override ARGS :=" % (e.target, e.smoke_target),
            "%s: %s ## %s" % (e.target, e.data, paper),
            "\t$(call train,%s,%s,$(TRAIN_ARGS))" % (e.module, e.name),
            "%s: %s ## a small %s run that learns in minutes on a CPU" % (e.smoke_target, e.data, e.title),
            "\t$(call train,%s,%s-smoke,%s $(TRAIN_ARGS))" % (e.module, e.name, e.smoke_flags),
        ]
    targets = " ".join("%s %s" % (e.target, e.smoke_target) for e in EXPERIMENTS)
    return (
        "\n".join(
            ["# Made by `python3 experiments.py make` from experiments.py: do not edit.", ".PHONY: " + targets] + rules
        )
        + "\n"
    )


if __name__ == "__main__":
    if sys.argv[1:] != ["make"]:
        sys.exit("usage: python3 experiments.py make")
    sys.stdout.write(make_rules())
