"""The comparison plot of ``make compare`` (matplotlib): error rates and losses per epoch, the papers' numbers.

Top panel: per run, the validation error and the test error of the best-validation epoch so far (log scale), with a
marker at every epoch so that a run of one epoch shows; per group of seeds, the mean test error with a band of ± one
standard deviation; a dashed line at each experiment's published test error (a hatched band for the spread the paper
reports, if any), each in the colour of that experiment's first run or group. Bottom panel: training and validation
loss. The runs of one group share a colour. The legends sit right of the panels, clear of the curves. Written as PNG
and SVG.
"""

from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # no screen: files only
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import LogLocator, MaxNLocator, ScalarFormatter  # noqa: E402

from harness.files import atomic_output  # noqa: E402

FLOOR = 0.01  # error rates are drawn at least this high, so that 0 % fits on the log scale
FORMATS = ("png", "svg")


class Series(NamedTuple):
    """One run's per-epoch numbers; runs with the same ``color_key`` (a group of seeds) share a colour."""

    label: str
    epochs: Sequence[int]
    validation_error: Sequence[float]
    test_error: Sequence[float]
    training_loss: Sequence[float]
    validation_loss: Sequence[float]
    color_key: str


class Band(NamedTuple):
    """A group's mean test error per epoch and its standard deviation across the runs."""

    label: str
    epochs: Sequence[int]
    mean: Sequence[float]
    std: Sequence[float]
    color_key: str


class Reference(NamedTuple):
    """A published test error, drawn as a dashed line (its reported spread, if any, as a hatched band)."""

    label: str
    error: float
    spread: Optional[float]
    color_key: str


def draw(series: List[Series], bands: List[Band], references: List[Reference], prefix: Path) -> List[Path]:
    """Write ``prefix``.png and ``prefix``.svg; returns their paths."""
    figure, (errors, losses) = plt.subplots(2, 1, figsize=(12, 9), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colors: Dict[str, str] = {}
    for key in [run.color_key for run in series] + [band.color_key for band in bands]:
        colors.setdefault(key, palette[len(colors) % len(palette)])
    banded = {band.color_key for band in bands}
    for run in series:
        color = colors[run.color_key]
        grouped = run.color_key in banded  # a group's runs: thin, its band and mean carry the legend
        errors.plot(
            run.epochs,
            [max(v, FLOOR) for v in run.validation_error],
            color=color,
            alpha=0.5,
            lw=1,
            marker=".",
            label="%s: validation" % run.label,
        )
        errors.plot(
            run.epochs,
            [max(v, FLOOR) for v in run.test_error],
            color=color,
            lw=1 if grouped else 2,
            alpha=0.6 if grouped else 1,
            marker="o",
            ms=2 if grouped else 3,
            label="%s: test (best epoch)" % run.label,
        )
        losses.plot(
            run.epochs, run.training_loss, color=color, lw=1, ls=":", marker=".", label="%s: training" % run.label
        )
        losses.plot(
            run.epochs, run.validation_loss, color=color, lw=1.5, marker=".", label="%s: validation" % run.label
        )
    for band in bands:
        color = colors[band.color_key]
        low = [max(m - s, FLOOR) for m, s in zip(band.mean, band.std)]
        high = [max(m + s, FLOOR) for m, s in zip(band.mean, band.std)]
        errors.fill_between(band.epochs, low, high, color=color, alpha=0.2, lw=0)
        errors.plot(
            band.epochs,
            [max(m, FLOOR) for m in band.mean],
            color=color,
            lw=2.5,
            label="%s: test, mean ± std" % band.label,
        )
    for reference in references:
        color = colors.get(reference.color_key, "black")
        errors.axhline(reference.error, color=color, ls="--", lw=1.5, label=reference.label)
        if reference.spread:
            errors.axhspan(
                reference.error - reference.spread,
                reference.error + reference.spread,
                color=color,
                alpha=0.15,
                hatch="//",
                fill=False,
                lw=0,
            )
    errors.set_yscale("log")
    errors.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    errors.yaxis.set_major_formatter(ScalarFormatter())
    losses.xaxis.set_major_locator(MaxNLocator(integer=True))
    errors.set_ylabel("error rate (%, log scale)")
    errors.set_title("Error rate per epoch (test: of the best-validation epoch so far; dashed: the papers)")
    errors.grid(True, which="both", alpha=0.3)
    errors.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    losses.set_ylabel("squared hinge loss")
    losses.set_xlabel("epoch")
    losses.grid(True, alpha=0.3)
    losses.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    written = []
    for extension in FORMATS:
        path = prefix.with_name(prefix.name + "." + extension)
        with atomic_output(path) as f:
            figure.savefig(f, format=extension, dpi=120, bbox_inches="tight")  # the figure grows to hold the legends
        written.append(path)
    plt.close(figure)
    return written
