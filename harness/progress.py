"""Progress of a long step (an epoch's minibatches, a dataset build, a download), with rate and time left.

On a terminal: a live tqdm bar on stderr (not copied into console.log, which gets the plain lines instead).
Elsewhere (a pipe, a file, CI): a plain line on stderr every ``$PROGRESS_INTERVAL`` seconds (default 30), so a log
stays readable.
Progress is never written to stdout, which carries the originals' console lines only.
"""

import math
import os
import sys
import time
from typing import Iterable, Iterator, Optional, TypeVar

from tqdm import tqdm

from harness import console
from harness.errors import USAGE, UserError

INTERVAL = 30.0  # seconds between plain progress lines, unless $PROGRESS_INTERVAL says otherwise
T = TypeVar("T")


def environment_interval() -> float:
    """Seconds between plain progress lines: ``$PROGRESS_INTERVAL`` (checked: a UserError for a value that is not
    a finite number > 0, named with the flags, before any work), else 30."""
    text = os.environ.get("PROGRESS_INTERVAL")
    if text is None:
        return INTERVAL
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise UserError(
            "PROGRESS_INTERVAL=%s: must be a number of seconds > 0 (between progress lines; default %g)"
            % (text, INTERVAL),
            USAGE,
        )
    return value


def duration(seconds: float) -> str:
    """'6.4 days', '2 h 05 min', '4 min 10 s' or '12 s'."""
    seconds = int(round(seconds))
    if seconds >= 2 * 86400:
        return "%.1f days" % (seconds / 86400)
    if seconds >= 3600:
        return "%d h %02d min" % (seconds // 3600, seconds % 3600 // 60)
    if seconds >= 60:
        return "%d min %02d s" % (seconds // 60, seconds % 60)
    return "%d s" % seconds


class Progress:
    """Counts ``done`` of ``total`` units of one step: ``update(n)`` after each piece of work, ``close()`` at the
    end."""

    def __init__(self, description: str, total: float, unit: str, interval: Optional[float] = None) -> None:
        if interval is None:
            interval = environment_interval()
        self.description, self.total, self.unit, self.interval = description, total, unit, interval
        self.done, self.start = 0, time.monotonic()
        self.shown = self.start
        stream = console.terminal()
        self.bar = (
            None
            if stream is None
            else tqdm(total=total, desc=description, unit=" " + unit, file=stream, leave=False, dynamic_ncols=True)
        )

    def line(self) -> str:
        """The plain progress line: done/total, percent, rate, time left."""
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        return "  %s: %.0f/%.0f %s (%.0f %%), %.3g %s/s, %s left" % (
            self.description,
            self.done,
            self.total,
            self.unit,
            100.0 * self.done / max(self.total, 1),
            rate,
            self.unit,
            duration(left) if left != float("inf") else "?",
        )

    def update(self, n: float = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        now = time.monotonic()
        if now - self.shown >= self.interval and self.done < self.total:
            self.shown = now
            if self.bar is not None:
                console.to_log_only(self.line())
            else:
                print(self.line(), file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def progress(
    iterable: Iterable[T], description: str, total: int, unit: str = "batches", interval: Optional[float] = None
) -> Iterator[T]:
    """Iterate over ``iterable`` reporting progress after each item (see :class:`Progress`)."""
    bar = Progress(description, total, unit, interval)
    try:
        for item in iterable:
            yield item
            bar.update()
    finally:
        bar.close()
