"""``python -m results.compare``: the table's numbers, experiment matching and flags, the SVG, the error cases."""
import json
import math
import random
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List

import pytest

from binarynet import epoch_log
from results import compare, paper
from results.svg_plot import Curve, chart

SVG = "{http://www.w3.org/2000/svg}"
ROOT = Path(__file__).resolve().parents[1]


def write_run(folder: Path, num_epochs: int, done: int, seed: int) -> Path:
    """A log as the training loop writes it: ``done`` epochs of ``num_epochs``, best-validation bookkeeping included."""
    rng = random.Random(seed)
    history, best = [], None
    for epoch in range(1, done + 1):
        valid, test = (0.5 + 40 * rng.random() / math.sqrt(epoch) for _ in range(2))
        if best is None or valid <= best[1]:
            best = (epoch, valid, test)
        history.append(epoch_log.record({
            "epoch": epoch, "num_epochs": num_epochs, "seconds": rng.uniform(1, 30), "LR": 0.003 / epoch,
            "training_loss": rng.random(), "validation_loss": rng.random(), "validation_error_rate": valid,
            "best_epoch": best[0], "best_validation_error_rate": best[1], "test_loss": rng.random(),
            "test_error_rate": best[2]}))
    epoch_log.write_jsonl(folder / "log.jsonl", history)
    return folder / "log.jsonl"


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """A finished paper-length BinaryNet MNIST run and an unfinished smoke run of the same experiment."""
    write_run(tmp_path / "runs" / "binarynet-mnist", 1000, 1000, seed=1)
    write_run(tmp_path / "runs" / "binarynet-mnist-smoke", 10, 4, seed=3)
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
    assert sorted(rows) == ["binarynet-mnist", "binarynet-mnist-smoke"]
    for name, planned in (("binarynet-mnist", 1000), ("binarynet-mnist-smoke", 10)):
        records = [json.loads(line) for line in (runs / name / "log.jsonl").read_text().splitlines()]
        valid = [r["validation_error_rate"] for r in records]
        best = max(i for i, v in enumerate(valid) if v == min(valid))  # the later epoch on ties
        test = records[-1]["test_error_rate"]
        assert test == records[best]["test_error_rate"]  # the fixture's bookkeeping, as in the training loop
        assert "%.2f" % valid[-1] != "%.2f" % min(valid)  # the last epoch is not the best
        row = rows[name]
        assert row["experiment"] == "binarynet-mnist"
        assert row["epochs"] == "%d / %d" % (len(records), planned)
        assert row["best epoch"] == str(best + 1)
        assert row["best valid. error %"] == "%.2f" % min(valid)
        assert row["test error %"] == "%.2f" % test
        assert row["paper %"] == "0.96"
        assert row["difference (points)"] == "%+.2f" % (test - 0.96)
        assert row["hours"] == "%.2f" % (sum(r["seconds"] for r in records) / 3600)
        assert row["paper time"] == "~6 h TB"


def test_flags_unfinished_and_not_the_papers_settings(runs: Path, capsys) -> None:
    write_run(runs / "binaryconnect-mnist", 250, 30, seed=8)  # paper length, unfinished
    write_run(runs / "binaryconnect-svhn-short", 5, 5, seed=4)  # finished, not the paper's length
    write_run(runs / "resnet-imagenet", 90, 90, seed=5)
    rows = table_rows(run_main(["--runs", str(runs)], capsys)[1])
    assert rows["binarynet-mnist"]["notes"] == ""
    assert rows["binarynet-mnist-smoke"]["notes"] == (
        "unfinished: provisional; not the paper's settings (10 epochs, paper 1000)")
    assert rows["binaryconnect-mnist"]["notes"] == "unfinished: provisional"
    assert rows["binaryconnect-mnist"]["paper %"] == "1.15"
    assert rows["binaryconnect-svhn-short"]["notes"] == "not the paper's settings (5 epochs, paper 200)"
    assert rows["binaryconnect-svhn-short"]["experiment"] == "binaryconnect-svhn"
    unknown = rows["resnet-imagenet"]
    assert unknown["notes"] == "unknown experiment"
    assert [unknown[c] for c in ("experiment", "paper %", "difference (points)", "paper time")] == ["-"] * 4


@pytest.mark.parametrize("folder, experiment", [
    ("binarynet-mnist", "binarynet-mnist"), ("binarynet-mnist-smoke", "binarynet-mnist"),
    ("binaryconnect-mnist", "binaryconnect-mnist"), ("binaryconnect-cifar10-seed2", "binaryconnect-cifar10"),
    ("binarynet-svhn", "binarynet-svhn"), ("binarynet-mnistx", None), ("mnist", None), ("binarynet", None)])
def test_match_by_folder_name(folder: str, experiment: str) -> None:
    found = paper.match(folder)
    assert (found.name if found else None) == experiment


def test_paper_table_is_the_original_readmes() -> None:
    assert {e.name: (e.test_error, e.epochs) for e in paper.EXPERIMENTS} == {
        "binarynet-mnist": (0.96, 1000), "binarynet-cifar10": (11.40, 500), "binarynet-svhn": (2.80, 200),
        "binaryconnect-mnist": (1.15, 250), "binaryconnect-cifar10": (8.27, 500), "binaryconnect-svhn": (2.15, 200)}


def test_svg_has_a_polyline_per_series_and_the_paper_line_on_a_log_scale(runs: Path, capsys) -> None:
    assert run_main(["--runs", str(runs)], capsys)[0] == 0
    root = ET.parse(runs / "comparison.svg").getroot()
    assert root.tag == SVG + "svg"
    series = root.findall(SVG + "polyline[@class='series']")
    assert [len(s.get("points").split()) for s in series] == [1000, 1000, 4, 4]
    papers = root.findall(SVG + "line[@class='paper']")
    assert len(papers) == 1 and papers[0].get("stroke-dasharray")
    texts = [t.text for t in root.iter(SVG + "text")]
    for label in ("binarynet-mnist validation", "binarynet-mnist test", "binarynet-mnist-smoke validation",
                  "binarynet-mnist-smoke test", "paper binarynet-mnist 0.96 %", "epoch"):
        assert label in texts
    ticks = [(float(t.text), float(t.get("y"))) for t in root.iter(SVG + "text") if t.get("text-anchor") == "end"]
    assert len(ticks) >= 4
    (v0, y0), (v1, y1) = ticks[0], ticks[-1]
    for value, y in ticks + [(0.96, float(papers[0].get("y1")) + 4)]:  # tick labels sit 4 px below their line
        assert y == pytest.approx(y0 + (y1 - y0) * math.log(value / v0) / math.log(v1 / v0), abs=0.2)
    assert 0.96 > v0 and 0.96 < v1


def test_a_second_experiment_gets_its_own_paper_line_and_plot_option(runs: Path, tmp_path: Path, capsys) -> None:
    write_run(runs / "binaryconnect-cifar10-seed1", 500, 20, seed=6)
    write_run(runs / "binaryconnect-cifar10-seed2", 500, 30, seed=7)
    plot = tmp_path / "elsewhere" / "plot.svg"
    assert run_main(["--runs", str(runs), "--plot", str(plot)], capsys)[0] == 0
    assert not (runs / "comparison.svg").exists()
    root = ET.parse(plot).getroot()
    assert len(root.findall(SVG + "polyline[@class='series']")) == 8
    assert len(root.findall(SVG + "line[@class='paper']")) == 2


def test_run_dirs_select_runs(runs: Path, capsys) -> None:
    _, out, _ = run_main(["--runs", str(runs), str(runs / "binarynet-mnist-smoke")], capsys)
    assert list(table_rows(out)) == ["binarynet-mnist-smoke"]


def test_zero_error_is_clipped_into_the_plot() -> None:
    root = ET.fromstring(chart([Curve("a", "#000000", [(1, 0.0), (2, 30.0)])], [], "x", "y", "t"))
    frame = [r for r in root.iter(SVG + "rect") if r.get("y")][0]
    top, bottom = float(frame.get("y")), float(frame.get("y")) + float(frame.get("height"))
    ys = [float(p.split(",")[1]) for p in root.find(SVG + "polyline").get("points").split()]
    assert ys[0] == pytest.approx(bottom) and top <= ys[1] < bottom


@pytest.mark.parametrize("make", [lambda tmp: tmp / "absent", lambda tmp: tmp])
def test_no_logs_is_a_one_line_error_naming_the_command(tmp_path: Path, make, capsys) -> None:
    status, out, err = run_main(["--runs", str(make(tmp_path))], capsys)
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: no run logs") and "`make mnist`" in err
    assert not list(tmp_path.rglob("*.svg"))


def test_missing_run_dir_log_is_an_error(runs: Path, capsys) -> None:
    status, _, err = run_main(["--runs", str(runs), str(runs / "nothing-here")], capsys)
    assert status == 1 and "nothing-here/log.jsonl is missing" in err and "`make mnist`" in err


@pytest.mark.parametrize("edit, message", [
    (lambda lines: lines[:2] + ["{not json"] + lines[3:], "line 3 is not valid JSON"),
    (lambda lines: lines[:2] + ["[1, 2]"] + lines[3:], "line 3 is not a JSON object"),
    (lambda lines: lines[:2] + [lines[2].replace('"test_error_rate"', '"x"')] + lines[3:],
     "line 3: test_error_rate missing or not a number"),
    (lambda lines: lines[:2] + [lines[2].replace('"seconds": ', '"seconds": "1" , "s": ')] + lines[3:],
     "line 3: seconds missing or not a number"),
    (lambda lines: lines[:2] + lines[3:], "line 3: epoch 4 where epoch 3 was expected"),
    (lambda lines: lines[:2] + [""] + lines[3:], "line 3 is not valid JSON"),
    (lambda lines: [], "has no epochs")])
def test_malformed_log_names_file_and_line(runs: Path, edit, message: str, capsys) -> None:
    log = runs / "binarynet-mnist-smoke" / "log.jsonl"
    log.write_text("".join(line + "\n" for line in edit(log.read_text().splitlines())))
    status, out, err = run_main(["--runs", str(runs)], capsys)
    assert status == 1 and out == ""
    assert err.startswith("error: %s %s" % (log, message)) and err.count("\n") == 1


def test_module_runs_as_a_command(runs: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "results.compare", "--runs", str(runs)], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("| run | experiment |") and "binarynet-mnist-smoke" in result.stdout
    assert result.stderr == "plot written to %s\n" % (runs / "comparison.svg")
