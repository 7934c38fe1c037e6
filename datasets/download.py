"""``python -m datasets.download NAME...``: fetch datasets into ``$PYLEARN2_DATA_PATH`` in pylearn2's layout.

Every file is checksum-verified and written atomically; rerunning skips what is already in place. The data folder
is locked while downloading: a second download into it (which would share the partial ``.part`` files) is refused,
naming the first. A read-only data folder (a volume mounted read-only) is only verified: nothing is written there.
"""

import os
from pathlib import Path
from typing import Callable, Dict, List, Optional

from datasets import cifar10, mnist, svhn
from datasets.paths import data_root
from harness import lock
from harness.errors import ArgumentParser, UserError, command

DATASETS: Dict[str, Callable[[Path], None]] = {
    "cifar10": cifar10.download,
    "mnist": mnist.download,
    "svhn": svhn.download,
}


@command
def main(argv: Optional[List[str]] = None) -> None:
    parser = ArgumentParser(prog="python -m datasets.download", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", choices=sorted(DATASETS) + ["all"], help="datasets to fetch")
    parser.add_argument("--data-path", help="data folder (default: $PYLEARN2_DATA_PATH)")
    args = parser.parse_args(argv)
    names = sorted(DATASETS) if "all" in args.names else args.names

    root = data_root(args.data_path)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(
            "cannot make the data folder %s (%s): choose another --data-path or PYLEARN2_DATA_PATH"
            % (root, error.strerror)
        ) from None
    if not os.access(root, os.W_OK):
        # A read-only data folder (a volume mounted so): nothing can be written into it, so there is nothing to lock;
        # what is present is verified, and a missing file is one error line when its download is written.
        fetch_into(root, names)
        return
    busy = "%s is in use by another download (%%s): wait for it to end, then rerun" % root
    with lock.locked(root / lock.NAME, busy):
        fetch_into(root, names)


def fetch_into(root: Path, names: List[str]) -> None:
    """Each named dataset into ``root``, checksum-verified; what is already in place is kept."""
    for name in names:
        print("%s -> %s" % (name, root))
        DATASETS[name](root)


if __name__ == "__main__":
    raise SystemExit(main())
