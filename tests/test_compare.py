"""``python -m results.compare``: the table's numbers from run folders (experiment and settings from run.json), the
skipped folders and why, the CSV, the matplotlib plot, the error cases."""

import csv
import json
import math
import random
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from harness import epoch_log, manifest
from results import compare

ROOT = Path(__file__).resolve().parents[1]


def write_run(
    folder: Path,
    experiment: str,
    num_epochs: int,
    done: int,
    seed: int,
    paper_settings: bool = True,
    run_seed: int = 1234,
):
    """A run folder as a training run leaves it: run.json (the run's own seed ``run_seed``), and a log of ``done``
    of ``num_epochs`` epochs with the loop's best-validation bookkeeping (random figures from ``seed``)."""
    rng = random.Random(seed)
    history, best = [], None
    for epoch in range(1, done + 1):
        valid, test = (0.5 + 40 * rng.random() / math.sqrt(epoch) for _ in range(2))
        if best is None or valid <= best[1]:
            best = (epoch, valid, test)
        history.append(
            epoch_log.record(
                {
                    "epoch": epoch,
                    "num_epochs": num_epochs,
                    "seconds": rng.uniform(1, 30),
                    "LR": 0.003 / epoch,
                    "training_loss": rng.random(),
                    "validation_loss": rng.random(),
                    "validation_error_rate": valid,
                    "best_epoch": best[0],
                    "best_validation_error_rate": best[1],
                    "test_loss": rng.random(),
                    "test_error_rate": best[2],
                }
            )
        )
    folder.mkdir(parents=True)
    manifest.write(
        folder,
        {
            "experiment": experiment,
            "paper_settings": paper_settings,
            "settings": {"num_epochs": num_epochs, "seed": run_seed, "output_dir": str(folder)},
            "sessions": [],
        },
    )
    if done:
        epoch_log.write_jsonl(folder / "log.jsonl", history)


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """A finished paper run of BinaryNet MNIST and, named anyhow, an unfinished smaller run of it."""
    write_run(tmp_path / "runs" / "binarynet-mnist", "binarynet-mnist", 1000, 1000, seed=1)
    write_run(tmp_path / "runs" / "my-try", "binarynet-mnist", 10, 4, seed=3, paper_settings=False)
    return tmp_path / "runs"


def table_rows(markdown: str) -> Dict[str, Dict[str, str]]:
    """The printed Markdown table as {run: {column: cell}}."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert set(lines[1].replace("|", "").split()) == {"---"}
    rows = [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")))) for line in lines[2:]]
    return {row["run"]: row for row in rows}


def run_main(argv: List[str], capsys) -> tuple:
    status = compare.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def test_table_numbers_equal_those_computed_from_the_logs(runs: Path, capsys) -> None:
    status, out, _ = run_main(["--runs", str(runs)], capsys)
    assert status == 0
    rows = table_rows(out)
    assert sorted(rows) == ["binarynet-mnist", "my-try"]
    for name, planned in (("binarynet-mnist", 1000), ("my-try", 10)):
        records = [json.loads(line) for line in (runs / name / "log.jsonl").read_text().splitlines()]
        valid = [r["validation_error_rate"] for r in records]
        best = max(i for i, v in enumerate(valid) if v == min(valid))  # the later epoch on ties
        test = records[-1]["test_error_rate"]
        assert test == records[best]["test_error_rate"]  # the fixture's bookkeeping, as in the training loop
        row = rows[name]
        assert row["experiment"] == "binarynet-mnist"  # from run.json, whatever the folder is called
        assert row["epochs"] == "%d / %d" % (len(records), planned)
        assert row["best epoch"] == str(best + 1)
        assert row["best valid. error %"] == "%.2f" % min(valid)
        assert row["test error %"] == "%.2f" % test
        assert row["paper %"] == "0.96" and row["paper time"] == "~6 h TB"
        assert row["hours"] == "%.2f" % (sum(r["seconds"] for r in records) / 3600)
    assert rows["binarynet-mnist"]["difference (points)"] == "%+.2f" % (
        json.loads((runs / "binarynet-mnist" / "log.jsonl").read_text().splitlines()[-1])["test_error_rate"] - 0.96
    )
    assert rows["binarynet-mnist"]["notes"] == ""


def test_runs_that_are_not_the_papers_get_no_difference(runs: Path, capsys) -> None:
    write_run(runs / "bc", "binaryconnect-mnist", 250, 30, seed=8)  # paper settings, unfinished
    write_run(runs / "other", "loop-test", 5, 5, seed=5)
    rows = table_rows(run_main(["--runs", str(runs)], capsys)[1])
    assert rows["my-try"]["difference (points)"] == "-"
    assert rows["my-try"]["notes"] == (
        "unfinished: provisional; not the paper's settings: no difference from the paper"
    )
    assert rows["bc"]["notes"] == "unfinished: provisional" and rows["bc"]["paper %"] == "1.15"
    assert rows["bc"]["difference (points)"] != "-"
    other = rows["other"]
    assert other["notes"] == "not one of the six experiments" and other["experiment"] == "loop-test"
    assert [other[c] for c in ("paper %", "difference (points)", "paper time")] == ["-"] * 3


def test_folders_that_cannot_be_compared_are_listed_with_the_reason(runs: Path, capsys) -> None:
    write_run(runs / "started", "binarynet-mnist", 1000, 0, seed=2)  # no epoch finished yet
    (runs / "stray").mkdir()
    write_run(runs / "broken", "binarynet-mnist", 10, 3, seed=4)
    log = runs / "broken" / "log.jsonl"
    log.write_text(log.read_text().replace('"epoch": 2,', '"epoch": 7,'))
    status, out, err = run_main(["--runs", str(runs)], capsys)
    assert status == 0 and sorted(table_rows(out)) == ["binarynet-mnist", "my-try"]
    assert "skipped %s: %s line 2: epoch 7 where epoch 2 was expected" % (runs / "broken", log) in err
    assert (
        "skipped %s: %s is missing (the run has not finished an epoch yet)"
        % (runs / "started", runs / "started" / "log.jsonl")
        in err
    )
    assert (
        "skipped %s: %s has no run.json: it is not a run folder of this project" % (runs / "stray", runs / "stray")
        in err
    )


def test_csv_has_one_row_per_run_at_full_precision(runs: Path, tmp_path: Path, capsys) -> None:
    assert run_main(["--runs", str(runs), "--csv", str(tmp_path / "t.csv")], capsys)[0] == 0
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert [row["run"] for row in rows] == ["binarynet-mnist", "my-try"]
    last = json.loads((runs / "my-try" / "log.jsonl").read_text().splitlines()[-1])
    assert float(rows[1]["test error %"]) == last["test_error_rate"] and rows[1]["difference (points)"] == ""
    assert tuple(rows[0]) == compare.COLUMNS


def test_plot_is_written_as_png_and_svg_with_every_series(runs: Path, tmp_path: Path, capsys) -> None:
    write_run(runs / "one-epoch", "binaryconnect-cifar10", 500, 1, seed=6)
    status, _, err = run_main(["--runs", str(runs), "--plot", str(tmp_path / "out" / "plot")], capsys)
    assert status == 0 and not (runs / "comparison.png").exists()
    png, svg = tmp_path / "out" / "plot.png", tmp_path / "out" / "plot.svg"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "plot written to %s" % png in err
    text = svg.read_text()
    for label in (
        "binarynet-mnist: validation",
        "my-try: test (best epoch)",
        "one-epoch: test (best epoch)",
        "one-epoch: training",
        "paper: binarynet-mnist 0.96 %",
        "paper: binaryconnect-cifar10 8.27 %",
        "epoch",
        "squared hinge loss",
    ):
        assert label.replace(" ", "") in "".join(text.split()) or label in text, label


def test_run_dirs_select_runs(runs: Path, capsys) -> None:
    _, out, _ = run_main(["--runs", str(runs), str(runs / "my-try")], capsys)
    assert list(table_rows(out)) == ["my-try"]


@pytest.mark.parametrize("make", [lambda tmp: tmp / "absent", lambda tmp: tmp])
def test_no_runs_is_a_one_line_error_naming_the_command(tmp_path: Path, make, capsys) -> None:
    status, out, err = run_main(["--runs", str(make(tmp_path))], capsys)
    assert status == 1 and out == ""
    assert err.splitlines()[-1].startswith("error: ") and "`make mnist`" in err.splitlines()[-1]
    assert not list(tmp_path.rglob("*.png"))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda lines: lines[:2] + ["{not json"] + lines[3:], "line 3 is not valid JSON"),
        (lambda lines: lines[:2] + ["[1, 2]"] + lines[3:], "line 3 is not a JSON object"),
        (
            lambda lines: lines[:2] + [lines[2].replace('"test_error_rate"', '"x"')] + lines[3:],
            "line 3: test_error_rate missing or not a number",
        ),
        (lambda lines: lines[:2] + lines[3:], "line 3: epoch 4 where epoch 3 was expected"),
        (lambda lines: [], "has no epochs"),
    ],
)
def test_malformed_log_names_file_and_line(runs: Path, edit, message: str, capsys) -> None:
    log = runs / "my-try" / "log.jsonl"
    log.write_text("".join(line + "\n" for line in edit(log.read_text().splitlines())))
    status, out, err = run_main(["--runs", str(runs)], capsys)
    assert status == 0 and "my-try" not in table_rows(out)
    assert "skipped %s: %s %s" % (runs / "my-try", log, message) in err


def test_module_runs_as_a_command(runs: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "results.compare", "--runs", str(runs)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("| run | experiment |") and "my-try" in result.stdout
    assert result.stderr.splitlines() == [
        "plot written to %s" % (runs / "comparison.png"),
        "plot written to %s" % (runs / "comparison.svg"),
    ]


def test_runs_that_differ_only_in_their_seed_are_summarised_as_a_group(runs: Path, tmp_path: Path, capsys) -> None:
    sweep = runs / "binarynet-mnist-sweep"
    for k, run_seed in enumerate((1, 2, 3)):
        write_run(
            sweep / ("seed-%d" % run_seed), "binarynet-mnist", 1000, 1000 if k else 600, seed=10 + k, run_seed=run_seed
        )
    (sweep / "sweep.json").write_text("{}")
    write_run(runs / "again-seed-2", "binarynet-mnist", 1000, 1000, seed=11, run_seed=2)  # the same run again
    status, out, _ = run_main(["--runs", str(runs), "--plot", str(tmp_path / "plot")], capsys)
    assert status == 0
    rows = table_rows(out.split("\n\n")[0])
    assert sorted(rows) == [
        "again-seed-2",
        "binarynet-mnist",
        "binarynet-mnist-sweep/seed-1",
        "binarynet-mnist-sweep/seed-2",
        "binarynet-mnist-sweep/seed-3",
        "my-try",
    ]
    header, rule, *groups = [line for line in out.split("\n\n")[-1].splitlines() if line.startswith("|")]
    assert header == "| %s |" % " | ".join(compare.GROUP_COLUMNS)
    # the paper run (seed 1234) and the sweep's seeds share every other setting; seed 2 counts once (the first
    # run of it in the table's order); the smaller run my-try is a group of one, so no group
    members = ["again-seed-2", "binarynet-mnist", "binarynet-mnist-sweep/seed-1", "binarynet-mnist-sweep/seed-3"]
    errors = [
        json.loads((runs / name / "log.jsonl").read_text().splitlines()[-1])["test_error_rate"] for name in members
    ]
    mean = sum(errors) / 4
    std = math.sqrt(sum((e - mean) ** 2 for e in errors) / 3)
    assert len(groups) == 1
    cells = [cell.strip() for cell in groups[0].strip("|").split("|")]
    assert cells == [
        "binarynet-mnist",
        ", ".join(members),
        "4",
        "600-1000 / 1000",
        "%.2f ± %.2f" % (mean, std),
        "%.2f" % min(errors),
        "%.2f" % max(errors),
        "0.96",
        "-",
        "%+.2f" % (mean - 0.96),
        "1 unfinished: provisional",
    ]
    svg = "".join((tmp_path / "plot.svg").read_text().split())
    assert "(n=4):test,mean±std" in svg
