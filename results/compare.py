"""``python -m results.compare``: each run's test error beside the paper's, as a Markdown table and an SVG plot.

Reads every ``RUNS/*/log.jsonl`` (or the run folders given) and prints one table row per run. The reproduced
number is the last logged epoch's test error (the test error of the best-validation epoch so far); it is
provisional while the run is unfinished. A run belongs to the experiment its folder is named after
(``binarynet-mnist-smoke`` to binarynet-mnist); it is flagged as not the paper's settings when it plans another
number of epochs (the log records no other setting). The plot shows validation and test error per epoch.
"""
import json
import sys
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

from harness.epoch_log import KEYS
from harness.errors import ArgumentParser, UserError, command
from harness.files import atomic_output
from results import paper
from results.svg_plot import COLORS, Curve, Level, chart

MAKE_A_RUN = "run `make mnist` (or `make mnist-smoke`) to make one"
COLUMNS = ("run", "experiment", "epochs", "best epoch", "best valid. error %", "test error %", "paper %",
           "difference (points)", "hours", "paper time", "notes")


class Run(NamedTuple):
    """A run folder's name, the experiment it belongs to (None when unknown) and its per-epoch records."""

    name: str
    experiment: Optional[paper.Experiment]
    epochs: List[Dict[str, float]]


def read_log(path: Path) -> List[Dict[str, float]]:
    """The records of a ``log.jsonl``, one per epoch from epoch 1; a UserError names the file and line at fault."""
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
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


def find_runs(runs_dir: Path, folders: List[Path]) -> List[Run]:
    """The runs in ``folders``, or else every folder of ``runs_dir`` that holds a log."""
    logs = [folder / "log.jsonl" for folder in folders] or sorted(runs_dir.glob("*/log.jsonl"))
    if not logs:
        raise UserError("no run logs (%s): %s" % (runs_dir / "*" / "log.jsonl", MAKE_A_RUN))
    for log in logs:
        if not log.is_file():
            raise UserError("%s is missing: %s" % (log, MAKE_A_RUN))
    names = [log.parent.resolve().name for log in logs]
    return [Run(name, paper.match(name), read_log(log)) for name, log in zip(names, logs)]


def row(run: Run) -> List[str]:
    """The run's table cells (see COLUMNS)."""
    last, experiment = run.epochs[-1], run.experiment
    notes = [] if last["epoch"] >= last["num_epochs"] else ["unfinished: provisional"]
    if experiment is None:
        notes.append("unknown experiment")
        name = published = difference = time = "-"
    else:
        if last["num_epochs"] != experiment.epochs:
            notes.append("not the paper's settings (%d epochs, paper %d)" % (last["num_epochs"], experiment.epochs))
        name, published, time = experiment.name, "%.2f" % experiment.test_error, experiment.time
        difference = "%+.2f" % (last["test_error_rate"] - experiment.test_error)
    hours = sum(record["seconds"] for record in run.epochs) / 3600
    return [run.name, name, "%d / %d" % (last["epoch"], last["num_epochs"]), "%d" % last["best_epoch"],
            "%.2f" % last["best_validation_error_rate"], "%.2f" % last["test_error_rate"], published, difference,
            "%.2f" % hours, time, "; ".join(notes)]


def table(runs: List[Run]) -> str:
    """The Markdown table, one row per run."""
    lines = ["| %s |" % " | ".join(COLUMNS), "|%s" % (" --- |" * len(COLUMNS))]
    return "\n".join(lines + ["| %s |" % " | ".join(row(run)) for run in runs])


def plot(runs: List[Run]) -> str:
    """The SVG: per run, validation error and test error (of the best epoch) vs epoch; dashed, the paper's numbers."""
    curves, levels = [], {}
    for run, color in zip(runs, COLORS * len(runs)):
        for key, label, faint in (("validation_error_rate", "validation", True), ("test_error_rate", "test", False)):
            points = [(record["epoch"], record[key]) for record in run.epochs]
            curves.append(Curve("%s %s" % (run.name, label), color, points, faint))
        if run.experiment is not None and run.experiment.name not in levels:
            levels[run.experiment.name] = Level("paper %s %.2f %%" % (run.experiment.name, run.experiment.test_error),
                                                color, run.experiment.test_error)
    return chart(curves, list(levels.values()), "epoch", "error rate (%, log scale)",
                 "Error rate vs epoch (test: of the best-validation epoch; dashed: the paper)")


def compare(runs_dir: Path, folders: List[Path], plot_path: Optional[Path]) -> None:
    """Print the table and write the plot (default ``runs_dir/comparison.svg``)."""
    runs = find_runs(runs_dir, folders)
    print(table(runs))
    plot_path = plot_path or runs_dir / "comparison.svg"
    with atomic_output(plot_path) as f:
        f.write(plot(runs).encode())
    print("plot written to %s" % plot_path, file=sys.stderr)


@command
def main(argv: Optional[List[str]] = None) -> None:
    parser = ArgumentParser(prog="python -m results.compare", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="folder of run folders (default: runs)")
    parser.add_argument("--plot", type=Path, help="SVG file to write (default: RUNS/comparison.svg)")
    parser.add_argument("run_dirs", nargs="*", type=Path, metavar="RUN_DIR", help="run folders (default: all)")
    args = parser.parse_args(argv)
    compare(args.runs, args.run_dirs, args.plot)


if __name__ == "__main__":
    raise SystemExit(main())
