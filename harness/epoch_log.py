"""``log.jsonl``: the figures of the nine lines the loop prints after each epoch (docs/REPRODUCTION.md §1.12).

The JSON Lines log keeps full precision (the console prints Python 2's 12 digits), one object per epoch, each
with its wall-clock time. The log is always rewritten whole from the checkpoint's history, so it can never lose or
repeat an epoch. :func:`read_log` reads it back, checked record by record (make compare, make sweep-status).
"""

import json
import time
from pathlib import Path
from typing import Any, Dict, List

from harness.errors import UserError
from harness.files import atomic_output

# The keys of every log.jsonl record, in the order of the printed lines (error rates in %); "time" is when the
# epoch ended (UTC, ISO 8601).
KEYS = (
    "epoch",
    "num_epochs",
    "seconds",
    "LR",
    "training_loss",
    "validation_loss",
    "validation_error_rate",
    "best_epoch",
    "best_validation_error_rate",
    "test_loss",
    "test_error_rate",
)
TIME_KEY = "time"
WHOLE = ("epoch", "num_epochs", "best_epoch")


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


def read_log(path: Path) -> List[Dict[str, Any]]:
    """The records of a ``log.jsonl``, one per epoch from epoch 1; a UserError names the file and line at fault."""
    if not path.is_file():
        raise UserError("%s is missing (the run has not finished an epoch yet)" % path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(
            "%s is not text (byte %d is not UTF-8): it is damaged; rerun the run's training command, "
            "which rewrites it from the checkpoint" % (path, error.start)
        ) from None
    except OSError as error:
        raise UserError("%s cannot be read (%s)" % (path, error.strerror)) from None
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        where = "%s line %d" % (path, number)
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise UserError("%s is not valid JSON (%s)" % (where, error)) from None
        if not isinstance(record, dict):
            raise UserError("%s is not a JSON object" % where)
        bad = [key for key in KEYS if not isinstance(record.get(key), (int, float))]
        if bad:
            raise UserError("%s: %s missing or not a number" % (where, ", ".join(bad)))
        if record["epoch"] != number:
            raise UserError("%s: epoch %s where epoch %d was expected" % (where, record["epoch"], number))
        records.append(record)
    if not records:
        raise UserError("%s has no epochs" % path)
    return records
