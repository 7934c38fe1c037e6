"""``python -m results.compare`` (``make compare``): each run's test error beside the paper's, as a table and a plot.

Reads every run folder under ``--runs`` (or the folders given), and the seeds' run folders of every sweep folder
there (sweep/plan.py): its experiment and settings from ``run.json``, its epochs from ``log.jsonl``. Prints one
Markdown table row per run and writes the plot (``comparison.png`` and ``comparison.svg`` in ``--runs``, see
results/plot.py); ``--csv FILE`` also writes the table's numbers, one row per run. The reproduced number is the last
logged epoch's test error (that of the best-validation epoch so far, as the originals report it); it is provisional
while the run is unfinished. Only a run with every setting at the paper's value gets a difference from the paper.
Folders that cannot be compared are listed with the reason.

Runs of one experiment that differ only in their seed (every other setting equal) form a group: a second table
gives per group of two or more the number of runs n, the mean and sample standard deviation of their reproduced
test errors, min and max, beside the paper's number and the spread the paper reports, if any (experiments.py); the
plot draws the group's mean with a band of ± one standard deviation.
"""

import csv
import io
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import experiments
from harness import epoch_log, manifest
from harness.errors import ArgumentParser, UserError, command
from harness.files import atomic_output
from results.plot import Band, Reference, Series, draw

MAKE_A_RUN = "run `make mnist` (or `make mnist-smoke`) to make one"
COLUMNS = (
    "run",
    "experiment",
    "epochs",
    "best epoch",
    "best valid. error %",
    "test error %",
    "paper %",
    "difference (points)",
    "hours",
    "paper time",
    "notes",
)
GROUP_COLUMNS = (
    "experiment",
    "runs",
    "n",
    "epochs",
    "test error % (mean ± std)",
    "min",
    "max",
    "paper %",
    "paper ± (std)",
    "difference (points)",
    "notes",
)
NOT_THE_RUN = ("seed", "output_dir", "data_path")  # settings in which the runs of one group may differ
SWEEP = "sweep.json"  # a sweep folder's (sweep/plan.py): its seeds' run folders are inside


class Run(NamedTuple):
    """A run folder (and its name in the table), its manifest's experiment (None when not one of the six), whether
    every setting is the paper's, its settings, and its per-epoch records."""

    folder: Path
    name: str
    experiment_name: str
    experiment: Optional[experiments.Experiment]
    paper_settings: bool
    settings: Dict[str, Any]
    epochs: List[Dict[str, Any]]

    @property
    def group(self) -> str:
        """What the runs of one group share: the experiment and every setting but the seed and folders."""
        return json.dumps(
            [self.experiment_name, {name: value for name, value in self.settings.items() if name not in NOT_THE_RUN}],
            sort_keys=True,
        )

    @property
    def finished(self) -> bool:
        return self.epochs[-1]["epoch"] >= self.epochs[-1]["num_epochs"]


class Group(NamedTuple):
    """Runs that differ only in their seed, two or more."""

    name: str
    runs: List[Run]

    @property
    def errors(self) -> List[float]:
        return [run.epochs[-1]["test_error_rate"] for run in self.runs]


def read_run(folder: Path, name: str) -> Run:
    """One run folder; a UserError says why it cannot be compared."""
    recorded = manifest.read(folder)
    return Run(
        folder,
        name,
        recorded["experiment"],
        experiments.by_name(recorded["experiment"]),
        bool(recorded.get("paper_settings")),
        recorded["settings"],
        epoch_log.read_log(folder / "log.jsonl"),
    )


def _subfolders(folder: Path) -> List[Path]:
    return sorted(path for path in folder.iterdir() if path.is_dir() and not path.name.startswith("."))


def find_runs(runs_dir: Path, folders: List[Path]) -> Tuple[List[Run], List[Tuple[Path, str]]]:
    """The runs that can be compared, and (folder, reason) for every other folder looked at; a sweep folder
    stands for the run folders of its seeds. A run is named by its path under ``runs_dir``."""
    if not folders:
        if not runs_dir.is_dir():
            raise UserError("%s is not a folder of runs: %s" % (runs_dir, MAKE_A_RUN))
        folders = _subfolders(runs_dir)
    folders = [run for folder in folders for run in (_subfolders(folder) if (folder / SWEEP).is_file() else [folder])]
    runs, skipped = [], []
    for folder in folders:
        try:
            name = str(folder.relative_to(runs_dir))
        except ValueError:
            name = folder.name
        try:
            runs.append(read_run(folder, name))
        except UserError as error:
            skipped.append((folder, str(error)))
    return runs, skipped


def groups(runs: List[Run]) -> List[Group]:
    """The groups of two or more runs that differ only in their seed, in the order of their first run; a run with
    a seed already in its group (the same run again: same seed, same figures) is left out of it. A group is named
    by its runs' common parent folder (a sweep) or else by its runs' names."""
    found: Dict[str, Dict[Any, Run]] = {}
    for run in runs:
        found.setdefault(run.group, {}).setdefault(run.settings.get("seed"), run)
    named = []
    for by_seed in found.values():
        members = list(by_seed.values())
        if len(members) < 2:
            continue
        parents = {str(Path(run.name).parent) for run in members}
        parent = parents.pop() if len(parents) == 1 else "."
        named.append(Group(parent if parent != "." else ", ".join(run.name for run in members), members))
    return named


def cells(run: Run) -> Dict[str, Any]:
    """The run's figures (numbers as they are, for the CSV) and notes, by column."""
    last, experiment = run.epochs[-1], run.experiment
    notes = [] if last["epoch"] >= last["num_epochs"] else ["unfinished: provisional"]
    if any(math.isnan(last[key]) for key in ("best_validation_error_rate", "test_error_rate")):
        notes.append("error rate NaN: the training diverged (or the log was edited)")
    compared = experiment is not None and run.paper_settings
    if experiment is None:
        notes.append("not one of the six experiments")
    elif not run.paper_settings:
        notes.append("not the paper's settings: no difference from the paper")
    return {
        "run": run.name,
        "experiment": run.experiment_name,
        "epochs": "%d / %d" % (last["epoch"], last["num_epochs"]),
        "best epoch": last["best_epoch"],
        "best valid. error %": last["best_validation_error_rate"],
        "test error %": last["test_error_rate"],
        "paper %": experiment.test_error if experiment else None,
        "difference (points)": last["test_error_rate"] - experiment.test_error if compared else None,
        "hours": sum(record["seconds"] for record in run.epochs) / 3600,
        "paper time": experiment.time if experiment else None,
        "notes": "; ".join(notes),
    }


def shown(column: str, value: Any) -> str:
    """A table cell: two decimals for the figures, a sign on the difference, '-' for none."""
    if value is None:
        return "-"
    if column == "difference (points)":
        return "%+.2f" % value
    return "%.2f" % value if isinstance(value, float) else str(value)


def group_cells(group: Group) -> Dict[str, Any]:
    """A group's figures (numbers as they are) and notes, by column: the sample standard deviation (n - 1)."""
    errors, first = group.errors, group.runs[0]
    experiment = first.experiment
    unfinished = sum(not run.finished for run in group.runs)
    notes = ["%d unfinished: provisional" % unfinished] if unfinished else []
    if experiment is None:
        notes.append("not one of the six experiments")
    elif not first.paper_settings:
        notes.append("not the paper's settings: no difference from the paper")
    mean, std = statistics.mean(errors), statistics.stdev(errors)
    done = [run.epochs[-1]["epoch"] for run in group.runs]
    epochs = "%d" % done[0] if min(done) == max(done) else "%d-%d" % (min(done), max(done))
    return {
        "experiment": first.experiment_name,
        "runs": group.name,
        "n": len(errors),
        "epochs": "%s / %d" % (epochs, first.epochs[-1]["num_epochs"]),
        "test error % (mean ± std)": "%.2f ± %.2f" % (mean, std),
        "min": min(errors),
        "max": max(errors),
        "paper %": experiment.test_error if experiment else None,
        "paper ± (std)": experiment.paper_spread if experiment else None,
        "difference (points)": mean - experiment.test_error if experiment and first.paper_settings else None,
        "notes": "; ".join(notes),
    }


def markdown(columns: Tuple[str, ...], rows: List[Dict[str, Any]]) -> str:
    lines = ["| %s |" % " | ".join(columns), "|%s" % (" --- |" * len(columns))]
    lines += ["| %s |" % " | ".join(shown(column, row[column]) for column in columns) for row in rows]
    return "\n".join(lines)


def table(runs: List[Run]) -> str:
    """The Markdown table, one row per run; then, if runs differ only in their seed, one row per such group."""
    text = markdown(COLUMNS, [cells(run) for run in runs])
    found = groups(runs)
    if found:
        text += "\n\nRuns that differ only in their seed (sample standard deviation):\n\n" + markdown(
            GROUP_COLUMNS, [group_cells(group) for group in found]
        )
    return text


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
    """Draw every run's curves (a group's runs in one colour, with its band), and the published numbers of their
    experiments, each in the colour of the experiment's first run or group."""
    found = groups(runs)
    group_of = {id(run): group.name for group in found for run in group.runs}
    series = [
        Series(
            run.name,
            [r["epoch"] for r in run.epochs],
            [r["validation_error_rate"] for r in run.epochs],
            [r["test_error_rate"] for r in run.epochs],
            [r["training_loss"] for r in run.epochs],
            [r["validation_loss"] for r in run.epochs],
            group_of.get(id(run), run.name),
        )
        for run in runs
    ]
    bands = []
    for group in found:
        epochs = min(len(run.epochs) for run in group.runs)  # the epochs every run of the group has done
        curves = [[r["test_error_rate"] for r in run.epochs[:epochs]] for run in group.runs]
        bands.append(
            Band(
                "%s (n = %d)" % (group.name, len(group.runs)),
                list(range(1, epochs + 1)),
                [statistics.mean(values) for values in zip(*curves)],
                [statistics.stdev(values) for values in zip(*curves)],
                group.name,
            )
        )
    first: Dict[str, Tuple[experiments.Experiment, str]] = {}
    for run, drawn in zip(runs, series):
        if run.experiment is not None:
            first.setdefault(run.experiment.name, (run.experiment, drawn.color_key))
    references = [
        Reference(
            "paper: %s %.2f %%%s" % (e.name, e.test_error, " ± %.2f" % e.paper_spread if e.paper_spread else ""),
            e.test_error,
            e.paper_spread,
            key,
        )
        for e, key in first.values()
    ]
    return draw(series, bands, references, prefix)


def compare(runs_dir: Path, folders: List[Path], plot_prefix: Optional[Path], csv_path: Optional[Path]) -> None:
    """Print the table, list what was skipped, write the plot (and the CSV)."""
    runs, skipped = find_runs(runs_dir, folders)
    for folder, reason in skipped:
        print("skipped %s: %s" % (folder, reason), file=sys.stderr)
    if not runs:
        raise UserError(
            "no run to compare in %s (%d folder(s) skipped, see above): %s" % (runs_dir, len(skipped), MAKE_A_RUN)
        )
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
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="PREFIX",
        help="write the plot to PREFIX.png and PREFIX.svg (default: RUNS/comparison)",
    )
    parser.add_argument("--csv", type=Path, metavar="FILE", help="also write the table's numbers as CSV")
    parser.add_argument("run_dirs", nargs="*", type=Path, metavar="RUN_DIR", help="run folders (default: all)")
    args = parser.parse_args(argv)
    compare(args.runs, args.run_dirs, args.plot, args.csv)


if __name__ == "__main__":
    raise SystemExit(main())
