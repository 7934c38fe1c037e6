"""The six published experiments: test error, epochs and time from the original READMEs (docs/REPRODUCTION.md §2.7)."""
from typing import NamedTuple, Optional


class Experiment(NamedTuple):
    """One experiment; ``name`` is what its runs' manifests record (and its default run folder under ``runs/``)."""

    name: str
    test_error: float  # percent
    epochs: int
    time: str  # on the authors' GPU (TB = GeForce GTX Titan Black)


EXPERIMENTS = (
    Experiment("binarynet-mnist", 0.96, 1000, "~6 h TB"),
    Experiment("binarynet-cifar10", 11.40, 500, "~23 h TB"),
    Experiment("binarynet-svhn", 2.80, 200, "~2 days TB"),
    Experiment("binaryconnect-mnist", 1.15, 250, "~30 min GTX 680"),
    Experiment("binaryconnect-cifar10", 8.27, 500, "~20 h TB"),
    Experiment("binaryconnect-svhn", 2.15, 200, "~2 days TB"),
)


def by_name(name: str) -> Optional[Experiment]:
    """The experiment a run's manifest names (``run.json``'s ``experiment``), or None for another one."""
    return next((experiment for experiment in EXPERIMENTS if experiment.name == name), None)
