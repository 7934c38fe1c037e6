"""``python -m results.compare`` (``make compare``): each run's test error beside the paper's, as a table and a plot.

Reads every run folder under ``--runs`` (or the folders given): its experiment and settings from ``run.json``, its
epochs from ``log.jsonl``. Prints one Markdown table row per run and writes the plot (``comparison.png`` and
``comparison.svg`` in ``--runs``, see results/plot.py); ``--csv FILE`` also writes the table's numbers, one row per
run. The reproduced number is the last logged epoch's test error (that of the best-validation epoch so far, as the
originals report it); it is provisional while the run is unfinished. Only a run with every setting at the paper's
value gets a difference from the paper. Folders that cannot be compared are listed with the reason.
"""
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from harness import epoch_log, manifest
from harness.errors import ArgumentParser, UserError, command
from harness.files import atomic_output
import experiments
from results.plot import Reference, Series, draw

MAKE_A_RUN = "run `make mnist` (or `make mnist-smoke`) to make one"
COLUMNS = ("run", "experiment", "epochs", "best epoch", "best valid. error %", "test error %", "paper %",
           "difference (points)", "hours", "paper time", "notes")


class Run(NamedTuple):
    """A run folder, its manifest's experiment (None when not one of the six), whether every setting is the
    paper's, and its per-epoch records."""

    folder: Path
    experiment_name: str
    experiment: Optional[experiments.Experiment]
    paper_settings: bool
    epochs: List[Dict[str, Any]]


def read_log(path: Path) -> List[Dict[str, Any]]:
    """The records of a ``log.jsonl``, one per epoch from epoch 1; a UserError names the file and line at fault."""
    if not path.is_file():
        raise UserError("%s is missing (the run has not finished an epoch yet)" % path)
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        where = "%s line %d" % (path, number)
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise UserError("%s is not valid JSON (%s)" % (where, error)) from None
        if not isinstance(record, dict):
            raise UserError("%s is not a JSON object" % where)
        bad = [key for key in epoch_log.KEYS if not isinstance(record.get(key), (int, float))]
        if bad:
            raise UserError("%s: %s missing or not a number" % (where, ", ".join(bad)))
        if record["epoch"] != number:
            raise UserError("%s: epoch %s where epoch %d was expected" % (where, record["epoch"], number))
        records.append(record)
    if not records:
        raise UserError("%s has no epochs" % path)
    return records


def read_run(folder: Path) -> Run:
    """One run folder; a UserError says why it cannot be compared."""
    recorded = manifest.read(folder)
    return Run(folder, recorded["experiment"], experiments.by_name(recorded["experiment"]),
               bool(recorded.get("paper_settings")), read_log(folder / "log.jsonl"))


def find_runs(runs_dir: Path, folders: List[Path]) -> Tuple[List[Run], List[Tuple[Path, str]]]:
    """The runs that can be compared, and (folder, reason) for every other folder looked at."""
    if not folders:
        if not runs_dir.is_dir():
            raise UserError("%s is not a folder of runs: %s" % (runs_dir, MAKE_A_RUN))
        folders = sorted(path for path in runs_dir.iterdir() if path.is_dir() and not path.name.startswith("."))
    runs, skipped = [], []
    for folder in folders:
        try:
            runs.append(read_run(folder))
        except UserError as error:
            skipped.append((folder, str(error)))
    return runs, skipped


def cells(run: Run) -> Dict[str, Any]:
    """The run's figures (numbers as they are, for the CSV) and notes, by column."""
    last, experiment = run.epochs[-1], run.experiment
    notes = [] if last["epoch"] >= last["num_epochs"] else ["unfinished: provisional"]
    compared = experiment is not None and run.paper_settings
    if experiment is None:
        notes.append("not one of the six experiments")
    elif not run.paper_settings:
        notes.append("not the paper's settings: no difference from the paper")
    return {"run": run.folder.name, "experiment": run.experiment_name,
            "epochs": "%d / %d" % (last["epoch"], last["num_epochs"]), "best epoch": last["best_epoch"],
            "best valid. error %": last["best_validation_error_rate"], "test error %": last["test_error_rate"],
            "paper %": experiment.test_error if experiment else None,
            "difference (points)": last["test_error_rate"] - experiment.test_error if compared else None,
            "hours": sum(record["seconds"] for record in run.epochs) / 3600,
            "paper time": experiment.time if experiment else None, "notes": "; ".join(notes)}


def shown(column: str, value: Any) -> str:
    """A table cell: two decimals for the figures, a sign on the difference, '-' for none."""
    if value is None:
        return "-"
    if column == "difference (points)":
        return "%+.2f" % value
    return "%.2f" % value if isinstance(value, float) else str(value)


def table(runs: List[Run]) -> str:
    """The Markdown table, one row per run."""
    lines = ["| %s |" % " | ".join(COLUMNS), "|%s" % (" --- |" * len(COLUMNS))]
    for run in runs:
        row = cells(run)
        lines.append("| %s |" % " | ".join(shown(column, row[column]) for column in COLUMNS))
    return "\n".join(lines)


def csv_text(runs: List[Run]) -> str:
    """The table's numbers at full precision, one row per run (empty cells for none)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for run in runs:
        row = cells(run)
        writer.writerow(["" if row[column] is None else row[column] for column in COLUMNS])
    return buffer.getvalue()


def plot(runs: List[Run], prefix: Path) -> List[Path]:
    """Draw every run's curves and the published numbers of their experiments."""
    series = [Series(run.folder.name, [r["epoch"] for r in run.epochs],
                     [r["validation_error_rate"] for r in run.epochs], [r["test_error_rate"] for r in run.epochs],
                     [r["training_loss"] for r in run.epochs], [r["validation_loss"] for r in run.epochs])
              for run in runs]
    shown = {run.experiment.name: run.experiment for run in runs if run.experiment is not None}
    references = [Reference("paper: %s %.2f %%" % (e.name, e.test_error), e.test_error) for e in shown.values()]
    return draw(series, references, prefix)


def compare(runs_dir: Path, folders: List[Path], plot_prefix: Optional[Path], csv_path: Optional[Path]) -> None:
    """Print the table, list what was skipped, write the plot (and the CSV)."""
    runs, skipped = find_runs(runs_dir, folders)
    for folder, reason in skipped:
        print("skipped %s: %s" % (folder, reason), file=sys.stderr)
    if not runs:
        raise UserError("no run to compare in %s (%d folder(s) skipped, see above): %s"
                        % (runs_dir, len(skipped), MAKE_A_RUN))
    print(table(runs))
    for path in plot(runs, plot_prefix or runs_dir / "comparison"):
        print("plot written to %s" % path, file=sys.stderr)
    if csv_path is not None:
        with atomic_output(csv_path) as f:
            f.write(csv_text(runs).encode())
        print("table written to %s" % csv_path, file=sys.stderr)


@command
def main(argv: Optional[List[str]] = None) -> None:
    parser = ArgumentParser(prog="python -m results.compare", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="folder of run folders (default: runs)")
    parser.add_argument("--plot", type=Path, metavar="PREFIX",
                        help="write the plot to PREFIX.png and PREFIX.svg (default: RUNS/comparison)")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="also write the table's numbers as CSV")
    parser.add_argument("run_dirs", nargs="*", type=Path, metavar="RUN_DIR", help="run folders (default: all)")
    args = parser.parse_args(argv)
    compare(args.runs, args.run_dirs, args.plot, args.csv)


if __name__ == "__main__":
    raise SystemExit(main())
