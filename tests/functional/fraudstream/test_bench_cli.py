"""`fraudstream bench`: the two cheapest benchmarks at `--quick` size, run as a user runs them, write
results.json and the README's table. Only the structure and that the figures are real are checked:
the figures themselves are machine-dependent, so nothing here is timed."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from bench.suite import BENCHMARKS, Benchmark, run_suite
from fraudstream.cli import app

README = Path(__file__).resolve().parents[3] / "README.md"
CHEAPEST = ("features", "producer")  # no Spark, no model to train
TABLE_HEADER = "| benchmark | measured | target | met |"


def _numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text)]


def test_quick_run_writes_results_json_and_the_readme_table(tmp_path: Path) -> None:
    # GIVEN an output folder that does not exist yet
    out = tmp_path / "bench-out"
    # WHEN the two cheapest benchmarks run at --quick size
    only = [arg for name in CHEAPEST for arg in ("--only", name)]
    done = subprocess.run(
        [sys.executable, "-m", "fraudstream", "bench", "--quick", *only, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    # THEN results.json has the machine, and one record per row in the suite's order
    document = json.loads((out / "results.json").read_text())
    assert {"cpu_count", "python", "platform", "date"} <= set(document["machine"])
    assert document["machine"]["cpu_count"] >= 1
    assert document["quick"] is True
    rows = document["benchmarks"]
    assert [r["benchmark"] for r in rows] == [b.name for b in BENCHMARKS if b.name in CHEAPEST]
    for row in rows:
        assert {"name", "description", "measured", "figures", "compared", "target", "met", "size"} <= set(row)
        assert row["error"] is None
        assert row["description"] and row["target"] and row["size"]
        assert isinstance(row["met"], bool)
        # each target compares a real measured value with its bound, and `met` agrees with them
        assert row["compared"], row
        for compared in row["compared"]:
            assert compared["value"] == row["figures"][compared["figure"]] > 0
            assert compared["op"] in (">=", "<=") and compared["target"] > 0
        assert row["met"] == all(c["met"] for c in row["compared"])
        assert row["seconds"] > 0

    # AND results.md is the README's table: its columns, one row per benchmark, non-zero figures
    markdown = (out / "results.md").read_text()
    assert TABLE_HEADER in README.read_text()
    lines = markdown.splitlines()
    header = lines.index(TABLE_HEADER)
    table = [line for line in lines[header + 2 :] if line.startswith("|")]
    assert len(table) == len(rows) == len(CHEAPEST)
    for line, row in zip(table, rows, strict=True):
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        assert cells == [row["description"], row["measured"], row["target"], "yes" if row["met"] else "**no**"]
        figures = _numbers(cells[1])
        assert figures and all(n > 0 for n in figures), cells[1]
    assert "--quick" in markdown and document["machine"]["python"] in markdown


def test_help_lists_every_benchmark_and_what_it_measures() -> None:
    result = CliRunner().invoke(app, ["bench", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for b in BENCHMARKS:
        assert f"{b.name}:" in result.output
    for option in ("--only", "--out", "--quick"):
        assert option in result.output


def test_an_unknown_benchmark_is_a_usage_error_before_anything_runs(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "--only", "nope", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "unknown benchmark nope" in result.output
    assert not (tmp_path / "out").exists()


def test_a_benchmark_that_cannot_run_is_a_failed_row_in_both_files(tmp_path: Path) -> None:
    # GIVEN a benchmark whose process fails (its name is unknown to `python -m bench.suite`)
    broken = Benchmark("broken", "bench.no_such_module", "a benchmark that cannot run", "nothing")
    # WHEN the runner runs it
    output = io.StringIO()
    results = run_suite([broken], tmp_path, quick=True, console=Console(file=output, width=200))
    # THEN it is a failed row with the process's last error line, in results.json and results.md
    assert len(results) == 1 and "invalid choice" in (results[0].error or "")
    document = json.loads((tmp_path / "results.json").read_text())
    assert document["all_met"] is False
    assert document["benchmarks"][0]["met"] is False and document["benchmarks"][0]["error"]
    assert "| a benchmark that cannot run | failed: " in (tmp_path / "results.md").read_text()
    assert "broken: failed" in output.getvalue()
