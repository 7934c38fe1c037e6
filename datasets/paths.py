"""Where pylearn2 keeps its data: the folder named by ``$PYLEARN2_DATA_PATH`` (REPRODUCTION.md §3)."""
import os
from pathlib import Path
from typing import Optional

from datasets.files import DatasetError


def data_root(explicit: Optional[str] = None) -> Path:
    """The data folder: ``explicit`` if given, else ``$PYLEARN2_DATA_PATH``."""
    root = explicit or os.environ.get("PYLEARN2_DATA_PATH")
    if not root:
        raise DatasetError("PYLEARN2_DATA_PATH is not set: export PYLEARN2_DATA_PATH=/path/to/data "
                           "(make sets it to ./data), or pass --data-path")
    return Path(root)
