"""The comparison plot of ``make compare`` (matplotlib): error rates and losses per epoch, the papers' numbers.

Top panel: per run, the validation error and the test error of the best-validation epoch so far (log scale), with a
marker at every epoch so that a run of one epoch shows, and a dashed line at each experiment's published test
error. Bottom panel: training and validation loss. Written as PNG and SVG.
"""
from pathlib import Path
from typing import List, NamedTuple, Sequence

import matplotlib

matplotlib.use("Agg")  # no screen: files only
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import LogLocator, MaxNLocator, ScalarFormatter  # noqa: E402

from harness.files import atomic_output  # noqa: E402

FLOOR = 0.01  # error rates are drawn at least this high, so that 0 % fits on the log scale
FORMATS = ("png", "svg")


class Series(NamedTuple):
    """One run's per-epoch numbers."""

    label: str
    epochs: Sequence[int]
    validation_error: Sequence[float]
    test_error: Sequence[float]
    training_loss: Sequence[float]
    validation_loss: Sequence[float]


class Reference(NamedTuple):
    """A published test error, drawn as a dashed line."""

    label: str
    error: float


def draw(series: List[Series], references: List[Reference], prefix: Path) -> List[Path]:
    """Write ``prefix``.png and ``prefix``.svg; returns their paths."""
    figure, (errors, losses) = plt.subplots(2, 1, figsize=(10, 9), sharex=True,
                                            gridspec_kw={"height_ratios": [3, 2]})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, run in enumerate(series):
        color = colors[k % len(colors)]
        errors.plot(run.epochs, [max(v, FLOOR) for v in run.validation_error], color=color, alpha=.5, lw=1,
                    marker=".", label="%s: validation" % run.label)
        errors.plot(run.epochs, [max(v, FLOOR) for v in run.test_error], color=color, lw=2, marker="o", ms=3,
                    label="%s: test (best epoch)" % run.label)
        losses.plot(run.epochs, run.training_loss, color=color, lw=1, ls=":", marker=".",
                    label="%s: training" % run.label)
        losses.plot(run.epochs, run.validation_loss, color=color, lw=1.5, marker=".",
                    label="%s: validation" % run.label)
    for k, reference in enumerate(references):
        errors.axhline(reference.error, color="black", ls="--", lw=1, alpha=.4 + .6 * (k + 1) / len(references),
                       label=reference.label)
    errors.set_yscale("log")
    errors.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    errors.yaxis.set_major_formatter(ScalarFormatter())
    losses.xaxis.set_major_locator(MaxNLocator(integer=True))
    errors.set_ylabel("error rate (%, log scale)")
    errors.set_title("Error rate per epoch (test: of the best-validation epoch so far; dashed: the papers)")
    errors.grid(True, which="both", alpha=.3)
    errors.legend(fontsize="small", loc="upper right")
    losses.set_ylabel("squared hinge loss")
    losses.set_xlabel("epoch")
    losses.grid(True, alpha=.3)
    losses.legend(fontsize="small", loc="upper right")
    figure.tight_layout()
    written = []
    for extension in FORMATS:
        path = prefix.with_name(prefix.name + "." + extension)
        with atomic_output(path) as f:
            figure.savefig(f, format=extension, dpi=120)
        written.append(path)
    plt.close(figure)
    return written
