"""Where pylearn2 keeps its data: the folder named by ``$PYLEARN2_DATA_PATH`` (docs/REPRODUCTION.md §3)."""

import os
from pathlib import Path
from typing import Optional

from harness.errors import UserError


def folder_from_env(explicit: Optional[str], variable: str, how_to_set: str) -> Path:
    """``explicit`` if given, else the folder named by the environment ``variable``; else a UserError."""
    root = explicit or os.environ.get(variable)
    if not root:
        raise UserError("%s is not set: %s" % (variable, how_to_set))
    return Path(root)


def data_root(explicit: Optional[str] = None) -> Path:
    """The data folder: ``explicit`` if given, else ``$PYLEARN2_DATA_PATH``."""
    return folder_from_env(
        explicit,
        "PYLEARN2_DATA_PATH",
        "export PYLEARN2_DATA_PATH=/path/to/data (make sets it to ./data), or pass --data-path",
    )
