"""A sweep on this machine: the seeds one after another, each an ordinary run of the script (its console passes
through); or, with devices named (``--devices cuda0 cuda1``), as many seeds at once as devices, each run on its own
device (``device=`` in its ``THEANO_FLAGS``) with its own Theano compile directory (``<sweep>/.theano/seed-<n>``), its
console in its run folder's ``console.log`` only. A finished seed says so and the next one starts; a seed that
fails ends the sweep once the running ones are done, naming it; rerun the sweep to resume. SIGUSR1 to the sweep
stops the running seeds after their epoch in progress (harness.stop) and ends the sweep there.
"""

import os
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

from harness.errors import STOPPED, Stopped, UserError
from sweep.plan import Sweep


def _start(sweep: Sweep, seed: int, python: str, device: Optional[str]) -> subprocess.Popen:
    if device is None:
        print("seed %d: %s" % (seed, " ".join(sweep.command(python, seed))), file=sys.stderr, flush=True)
        return subprocess.Popen(sweep.command(python, seed))
    flags = [
        os.environ.get("THEANO_FLAGS", ""),
        "device=%s" % device,
        "base_compiledir=%s" % (sweep.folder.resolve() / ".theano" / ("seed-%d" % seed)),
    ]
    print(
        "seed %d: on %s, its console in %s" % (seed, device, sweep.run_folder(seed) / "console.log"),
        file=sys.stderr,
        flush=True,
    )
    return subprocess.Popen(
        sweep.command(python, seed),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, THEANO_FLAGS=",".join(filter(None, flags))),
    )


def run(sweep: Sweep, seeds: Sequence[int], python: str, devices: Sequence[str] = ()) -> None:
    """Run each seed's command, one at a time or one per device (see the module's description)."""
    waiting = list(seeds)
    running: Dict[int, Tuple[subprocess.Popen, Optional[str]]] = {}
    free: List[Optional[str]] = list(devices) or [None]
    failed: List[str] = []
    stopped = False

    def forward(signum: int, frame: object) -> None:
        for child, _ in running.values():
            child.send_signal(signum)

    previous = signal.signal(signal.SIGUSR1, forward)
    try:
        while waiting or running:
            while waiting and free and not (failed or stopped):
                seed, device = waiting.pop(0), free.pop(0)
                running[seed] = (_start(sweep, seed, python, device), device)
            if not running:
                break
            ended = [seed for seed, (child, _) in running.items() if child.poll() is not None]
            if not ended:
                time.sleep(0.2)
            for seed in ended:
                child, device = running.pop(seed)
                free.append(device)
                if child.returncode == STOPPED:
                    stopped = True
                elif child.returncode != 0:
                    failed.append(
                        "seed %d ended with exit status %d (its console: %s)"
                        % (seed, child.returncode, sweep.run_folder(seed) / "console.log")
                    )
    finally:
        signal.signal(signal.SIGUSR1, previous)
    if failed:
        raise UserError("%s: fix the cause, then rerun the sweep to resume it" % "; ".join(failed))
    if stopped:
        raise Stopped()
