"""Resumable training: the whole state of a run after an epoch, in one ``.npz`` written atomically.

A checkpoint holds every Theano shared variable the training function reads or updates (weights, biases,
BN averages, both Adams' moments and time steps, the MRG random streams of dropout and stochastic
binarization), the global ``np.random`` state, the current order of the training rows, the loop's
counters (LR, best-so-far, test numbers) and the per-epoch history. Loading it continues the run
exactly where it stopped. It holds no pickles: it loads with ``allow_pickle=False``.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from datasets.files import atomic_output

FORMAT = 1
SCALARS = ("epoch", "LR", "best_val_err", "best_epoch", "test_err", "test_loss")


@dataclass
class LoopState:
    """The train() loop's own variables after ``epoch`` completed epochs (REPRODUCTION.md §1.10)."""

    LR: Any
    order: np.ndarray
    epoch: int = 0
    best_val_err: Any = 100
    best_epoch: int = 1
    test_err: Any = None
    test_loss: Any = None
    history: List[Dict[str, float]] = field(default_factory=list)


class CheckpointMismatch(Exception):
    """The checkpoint belongs to a different run (other settings or another network)."""


class Checkpoint:
    """A run's checkpoint file. ``config`` (JSON-able settings) must match for a resume to be allowed."""

    def __init__(self, path: Path, config: Dict[str, Any]) -> None:
        self.path = Path(path)
        self.config = json.loads(json.dumps(config, sort_keys=True))

    def save(self, state: LoopState, shared: Sequence[Any]) -> None:
        """Write the state atomically: a kill during the write leaves the previous checkpoint intact."""
        random_state = np.random.get_state()
        arrays = {
            "format": np.asarray(FORMAT),
            "config": np.asarray(json.dumps(self.config, sort_keys=True)),
            "history": np.asarray(json.dumps(state.history)),
            "order": state.order,
            "shared_names": np.asarray([str(var) for var in shared]),
            "random_keys": random_state[1],
            "random_rest": np.asarray(random_state[2:], dtype=np.float64),
        }
        for name in SCALARS:
            value = getattr(state, name)
            arrays["scalar_" + name] = np.asarray(np.nan if value is None else value)
        for i, var in enumerate(shared):
            arrays["shared_%d" % i] = var.get_value(borrow=True)
        with atomic_output(self.path) as f:
            np.savez(f, **arrays)

    def load(self, shared: Sequence[Any]) -> Optional[LoopState]:
        """Restore shared variables and ``np.random`` from the file and return the loop state (None if absent)."""
        if not self.path.is_file():
            return None
        with np.load(self.path, allow_pickle=False) as data:
            if int(data["format"]) != FORMAT:
                raise CheckpointMismatch("%s has format %d, expected %d" % (self.path, data["format"], FORMAT))
            saved = json.loads(str(data["config"]))
            if saved != self.config:
                changed = sorted(k for k in set(saved) | set(self.config) if saved.get(k) != self.config.get(k))
                raise CheckpointMismatch(
                    "%s was written with other settings (%s): use the same flags to resume, "
                    "or another --output-dir to start afresh" % (self.path, ", ".join(changed)))
            names = [str(var) for var in shared]
            if list(data["shared_names"]) != names:
                raise CheckpointMismatch("%s holds another network's variables" % self.path)
            for i, var in enumerate(shared):
                value = data["shared_%d" % i]
                if value.shape != var.get_value(borrow=True).shape:
                    raise CheckpointMismatch("%s: %s has shape %s, expected %s"
                                             % (self.path, names[i], value.shape, var.get_value().shape))
                var.set_value(value)
            pos, has_gauss, cached = data["random_rest"]
            np.random.set_state(("MT19937", data["random_keys"], int(pos), int(has_gauss), float(cached)))
            # Python numbers, as the loop had them: Theano downcasts a Python float LR silently, not np.float64.
            scalars = {name: data["scalar_" + name].item() for name in SCALARS}
            for name in ("test_err", "test_loss"):
                if np.isnan(scalars[name]):
                    scalars[name] = None
            return LoopState(order=data["order"].copy(), history=json.loads(str(data["history"])), **scalars)
