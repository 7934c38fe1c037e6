"""The per-epoch report: the originals' nine console lines (REPRODUCTION.md §1.12) and a JSON Lines log."""
import json
from pathlib import Path
from typing import Any, Dict, List

from datasets.files import atomic_output

# (JSON key, console label, unit) in the originals' order; every label is padded to a 33-character prefix.
FIELDS = (
    ("LR", "LR", ""),
    ("training_loss", "training loss", ""),
    ("validation_loss", "validation loss", ""),
    ("validation_error_rate", "validation error rate", "%"),
    ("best_epoch", "best epoch", ""),
    ("best_validation_error_rate", "best validation error rate", "%"),
    ("test_loss", "test loss", ""),
    ("test_error_rate", "test error rate", "%"),
)


def console_lines(values: Dict[str, Any]) -> List[str]:
    """The nine lines printed after each epoch; ``values`` holds the loop's own objects, printed with str()."""
    lines = ["Epoch %d of %d took %ss" % (values["epoch"], values["num_epochs"], values["seconds"])]
    for key, label, unit in FIELDS:
        lines.append("  %-31s%s%s" % (label + ":", values[key], unit))
    return lines


# The keys of every log.jsonl record.
KEYS = ("epoch", "num_epochs", "seconds") + tuple(key for key, _, _ in FIELDS)


def record(values: Dict[str, Any]) -> Dict[str, float]:
    """The same figures as plain numbers, for the machine-readable log."""
    return {key: (int(values[key]) if key in ("epoch", "num_epochs", "best_epoch") else float(values[key]))
            for key in KEYS}


def write_jsonl(path: Path, history: List[Dict]) -> None:
    """Rewrite the whole log atomically, one JSON object per epoch (so it always matches the checkpoint)."""
    with atomic_output(path) as f:
        for record in history:
            f.write((json.dumps(record, sort_keys=True) + "\n").encode())
