"""Every benchmark in the order `fraudstream bench` runs them, and the runner that writes the results.

The runner starts each benchmark in a process of its own (`python -m bench.suite NAME`), which
sends its rows back as JSON. This module is light (a benchmark's module is imported only in its own
process), so that the CLI can list the benchmarks in its help without loading boto3, XGBoost or Spark.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

from rich.markup import escape

from bench.results import BenchResult, json_default, machine_info, write_results

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

__all__ = ["BENCHMARKS", "Benchmark", "BenchmarkFailedError", "main", "run_suite", "select"]


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: its `--only` name, its module (exposing `TARGETS` and `measure(quick)`), a
    short title for progress and a sentence on what it measures for `--help`."""

    name: str
    module: str
    title: str
    measures: str

    def measure(self, *, quick: bool) -> list[BenchResult]:
        results: list[BenchResult] = importlib.import_module(self.module).measure(quick=quick)
        return results


BENCHMARKS: Final = (
    Benchmark(
        "producer",
        "bench.bench_producer",
        "producer vs raw PutRecords",
        "records/s of the whole producer (generation, delivery scheduling, JSON encoding, batching with "
        "per-key order) vs back-to-back raw PutRecords of the same records, on the embedded emulator in its "
        "own process.",
    ),
    Benchmark(
        "endpoint",
        "bench.bench_endpoint",
        "local endpoint vs in-process predict",
        "rows/s of the local SageMaker endpoint on 10,000-row `invoke_endpoint` calls vs in-process "
        "`predict` of the same rows (300-tree model), and the p50/p99 latency of 500-row calls.",
    ),
    Benchmark(
        "features",
        "bench.bench_features",
        "offline feature throughput",
        "rows/s of `compute_features` (every feature) over 1.75 million synthetic transactions.",
    ),
    Benchmark(
        "model",
        "bench.bench_model",
        "model quality on the test weeks",
        "precision and recall at the alert threshold on 3 held-out test weeks of 98 synthetic days, "
        "XGBoost trained as `fraudstream train` does (search skipped), on the default world and on a "
        "second world the hyperparameters were not chosen on; about 3 minutes.",
    ),
    Benchmark(
        "source",
        "bench.bench_source",
        "Kinesis source on Spark vs raw GetRecords",
        "records/s of the Spark Kinesis source draining a 4-shard backlog vs raw GetRecords (no target "
        "of its own; starts Spark).",
    ),
    Benchmark(
        "pipeline",
        "bench.bench_pipeline",
        "whole processor vs raw GetRecords",
        "transactions/s of the whole processor (`run_job`: parse, state, scoring, lake, alerts, "
        "aggregates) draining a backlog of 40 days of transactions (5,000 cards) in batches of the job's "
        "default 100,000 records vs raw GetRecords: with empty state, with 30 days of history in state, and "
        "fed from Parquet files instead of Kinesis (starts Spark; minutes).",
    ),
    Benchmark(
        "latency",
        "bench.bench_latency",
        "event-to-alert latency at 1,000/s offered",
        "p50/p99 seconds from a transaction's arrival in Kinesis to its micro-batch's lake and alert "
        "writes, while the producer offers 1,000 transactions/s for a minute (starts Spark).",
    ),
    Benchmark(
        "floor",
        "bench.bench_floor",
        "Spark's own micro-batch floor at 1,000/s",
        "p50/p99 seconds from a `rate` source row to the end of its `foreachBatch`, without and with one "
        "`transformWithStateInPandas` stage, at 1,000 rows/s: what the latency target has to beat (starts Spark).",
    ),
)


def select(only: Sequence[str] | None) -> list[Benchmark]:
    """The benchmarks named in `only` (all when empty), in the suite's order.

    Raises:
        ValueError: an unknown name.
    """
    if not only:
        return list(BENCHMARKS)
    known = {b.name for b in BENCHMARKS}
    unknown = [name for name in only if name not in known]
    if unknown:
        raise ValueError(f"unknown benchmark {', '.join(unknown)}: choose from {', '.join(sorted(known))}")
    return [b for b in BENCHMARKS if b.name in only]


class BenchmarkFailedError(RuntimeError):
    """A benchmark's process ended with an error; `output` is the end of what it wrote to stderr."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


def _measure_in_own_process(b: Benchmark, *, quick: bool) -> list[BenchResult]:
    """Run one benchmark in a fresh Python process (`python -m bench.suite NAME`), as `make bench`
    always has: no JVM, Spark workers, threads or os.environ left by one benchmark weigh on the next
    (Spark's Python workers keep the environment of the first session, and with it the first
    benchmark's emulator address)."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{b.name}-") as tmp:
        rows_file = Path(tmp) / "rows.json"
        command = [
            sys.executable,
            "-m",
            "bench.suite",
            b.name,
            "--rows",
            str(rows_file),
            *(["--quick"] if quick else []),
        ]
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
        if done.returncode != 0 or not rows_file.exists():
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            last = lines[-1] if lines else f"exit status {done.returncode}"
            raise BenchmarkFailedError(last, "\n".join(lines[-20:]))
        return [BenchResult.from_dict(row) for row in json.loads(rows_file.read_text())]


def _rich(markdown: str) -> str:
    """The table's markdown for the terminal: escaped, with **bold** as rich's bold."""
    return re.sub(r"\*\*(.+?)\*\*", r"[bold]\1[/bold]", escape(markdown))


def _line(r: BenchResult) -> str:
    if r.error is not None:
        return f"[red]x[/] {r.name}: [red]failed[/] ({escape(r.error)})"
    verdict = {True: "[green]met[/]", False: "[red]missed[/]", None: "[dim]no target[/]"}[r.met]
    return f"[green]v[/] {r.name}: {_rich(r.measured)}  target {escape(r.target_text)}: {verdict}"


def run_suite(benchmarks: Sequence[Benchmark], out: Path, *, quick: bool, console: Console) -> list[BenchResult]:
    """Run `benchmarks` one after the other, each in its own process, with progress on `console`;
    after each, rewrite `out/results.json` and `out/results.md` with every row so far. A benchmark
    that fails becomes a failed row and the others still run.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    machine = machine_info()
    results: list[BenchResult] = []
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("benchmarks", total=len(benchmarks))
        for b in benchmarks:
            progress.update(task, description=f"{b.name}: {b.title}{' (quick)' if quick else ''}")
            t0 = time.perf_counter()
            try:
                rows = _measure_in_own_process(b, quick=quick)
            except Exception as e:  # one failed benchmark must not lose the others' figures
                if isinstance(e, BenchmarkFailedError):
                    progress.console.print(escape(e.output), style="dim", highlight=False)
                rows = [
                    BenchResult(
                        benchmark=b.name, name=b.name, description=b.title, measured="", figures={}, error=str(e)
                    )
                ]
            seconds = round(time.perf_counter() - t0, 1)
            rows = [replace(r, seconds=seconds) for r in rows]
            for r in rows:
                progress.console.print(_line(r) + f"  [dim]({seconds:g} s)[/]", highlight=False)
            results.extend(rows)
            write_results(results, out, machine, quick=quick)
            progress.advance(task)
    return results


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m bench.suite NAME --rows FILE [--quick]`: one benchmark, its rows as JSON (the runner's child)."""
    parser = argparse.ArgumentParser(prog="python -m bench.suite", description=main.__doc__)
    parser.add_argument("name", choices=[b.name for b in BENCHMARKS])
    parser.add_argument("--rows", type=Path, required=True, help="JSON file for the benchmark's rows")
    parser.add_argument("--quick", action="store_true", help="the smaller sizes of `fraudstream bench --quick`")
    args = parser.parse_args(argv)
    (benchmark,) = select([args.name])
    rows = benchmark.measure(quick=args.quick)
    args.rows.write_text(json.dumps([r.to_wire() for r in rows], default=json_default))


if __name__ == "__main__":
    main()
