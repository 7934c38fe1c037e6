"""The per-epoch report: the originals' nine console lines (docs/REPRODUCTION.md §1.12) and ``log.jsonl``.

The console lines print numbers as the originals' Python 2 did (:func:`harness.number_format.py2_str`); the
JSON Lines log keeps full precision, one object per epoch, each with its wall-clock time. The log is always
rewritten whole from the checkpoint's history, so it can never lose or repeat an epoch.
"""
import json
import time
from numbers import Integral
from pathlib import Path
from typing import Any, Dict, List

from harness.files import atomic_output
from harness.number_format import py2_str

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
# The keys of every log.jsonl record; "time" is when the epoch ended (UTC, ISO 8601).
KEYS = ("epoch", "num_epochs", "seconds") + tuple(key for key, _, _ in FIELDS)
TIME_KEY = "time"
WHOLE = ("epoch", "num_epochs", "best_epoch")


def _shown(value: Any) -> str:
    return str(value) if isinstance(value, Integral) else py2_str(value)


def console_lines(values: Dict[str, Any]) -> List[str]:
    """The nine lines printed after each epoch, from a record (or the loop's own numbers)."""
    lines = ["Epoch %d of %d took %ss" % (values["epoch"], values["num_epochs"], py2_str(values["seconds"]))]
    for key, label, unit in FIELDS:
        lines.append("  %-31s%s%s" % (label + ":", _shown(values[key]), unit))
    return lines


def record(values: Dict[str, Any]) -> Dict[str, Any]:
    """The same figures as plain numbers (full precision), and the wall-clock time, for the log."""
    figures = {key: (int(values[key]) if key in WHOLE else float(values[key])) for key in KEYS}
    figures[TIME_KEY] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return figures


def write_jsonl(path: Path, history: List[Dict]) -> None:
    """Rewrite the whole log atomically, one JSON object per epoch (so it always matches the checkpoint)."""
    with atomic_output(path) as f:
        for entry in history:
            f.write((json.dumps(entry, sort_keys=True) + "\n").encode())
