"""The one record every benchmark returns, and what is made of the records: `results.json`, the
markdown table (the README's) and the plain lines `python -m bench.<module>` prints.

A record is one table row: what was measured (description), the figures, the targets and whether
they are met. A benchmark module exposes its `TARGETS` and `measure(quick=False)`, which returns
its rows (the endpoint benchmark has two: throughput and latency).
"""

from __future__ import annotations

import json
import operator
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "BenchResult",
    "Target",
    "machine_info",
    "markdown_table",
    "print_results",
    "format_ratio",
    "json_default",
    "results_document",
    "write_results",
]

_OPS = {">=": operator.ge, "<=": operator.le}


@dataclass(frozen=True)
class Target:
    """A figure of a row compared with a bound, e.g. `ratio >= 0.8`.

    Args:
        figure: the key of the compared value in the row's `figures`.
        op: ">=" or "<=".
        bound: the target value.
        text: how the table shows the target, e.g. ">= 0.8x".
    """

    figure: str
    op: Literal[">=", "<="]
    bound: float
    text: str

    def met(self, value: float) -> bool:
        return bool(_OPS[self.op](value, self.bound))


@dataclass(frozen=True)
class BenchResult:
    """One row of the benchmark table.

    Args:
        benchmark: the benchmark's name, as `fraudstream bench --only` takes it.
        name: the row's name (the benchmark's, or `benchmark-aspect` when it has several rows).
        description: what was measured, in words (the table's first column).
        measured: the figures as the table shows them (markdown).
        figures: every figure measured, for tools.
        targets: the row's targets; none when the row only informs (`met` is then None).
        target_note: the target column of a row without targets.
        size: the parameters the benchmark ran with (`--quick` makes them smaller).
        seconds: wall time of the whole benchmark, set by the runner.
        error: why the benchmark failed, if it did (no figures then).
    """

    benchmark: str
    name: str
    description: str
    measured: str
    figures: dict[str, Any]
    targets: tuple[Target, ...] = ()
    target_note: str = "-"
    size: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    error: str | None = None

    @property
    def met(self) -> bool | None:
        """Every target met; None for a row without targets; False for a failed benchmark."""
        if self.error is not None:
            return False
        if not self.targets:
            return None
        return all(t.met(float(self.figures[t.figure])) for t in self.targets)

    @property
    def target_text(self) -> str:
        return " and ".join(t.text for t in self.targets) if self.targets else self.target_note

    @property
    def met_text(self) -> str:
        return {True: "yes", False: "**no**", None: "-"}[self.met]

    def comparisons(self) -> list[dict[str, Any]]:
        """Each target with the measured value it is compared with."""
        if self.error is not None:
            return []
        return [
            {
                "figure": t.figure,
                "value": self.figures[t.figure],
                "op": t.op,
                "target": t.bound,
                "met": t.met(float(self.figures[t.figure])),
            }
            for t in self.targets
        ]

    def to_wire(self) -> dict[str, Any]:
        """Every field, for `from_dict` in another process."""
        return asdict(self)

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> BenchResult:
        """The record `to_wire` wrote."""
        return cls(**{**fields, "targets": tuple(Target(**t) for t in fields["targets"])})

    def to_dict(self) -> dict[str, Any]:
        """The record in results.json: the targets as the measured value compared with each."""
        return {
            "benchmark": self.benchmark,
            "name": self.name,
            "description": self.description,
            "measured": self.measured,
            "figures": self.figures,
            "compared": self.comparisons(),
            "target": self.target_text,
            "met": self.met,
            "size": self.size,
            "seconds": self.seconds,
            "error": self.error,
        }


def format_ratio(value: float) -> str:
    """A ratio as the table shows it: two decimals, three below 0.1 (so that 0.003x is not 0.00x)."""
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"


def json_default(value: Any) -> Any:
    """numpy scalars as Python numbers; anything else JSON does not know as text."""
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


def _git_commit() -> str | None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 (git from PATH, as a developer runs it)
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}+changes" if dirty else head


def machine_info() -> dict[str, Any]:
    """Where and when the figures were measured."""
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git_commit(),
    }


def results_document(results: list[BenchResult], machine: dict[str, Any], *, quick: bool) -> dict[str, Any]:
    """What `results.json` holds."""
    return {
        "machine": machine,
        "quick": quick,
        "all_met": all(r.met is not False for r in results),
        "benchmarks": [r.to_dict() for r in results],
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(results: list[BenchResult]) -> str:
    """The README's benchmark table: benchmark | measured | target | met."""
    lines = ["| benchmark | measured | target | met |", "|---|---|---|---|"]
    for r in results:
        measured = f"failed: {r.error}" if r.error is not None else r.measured
        lines.append(f"| {_cell(r.description)} | {_cell(measured)} | {_cell(r.target_text)} | {r.met_text} |")
    return "\n".join(lines) + "\n"


def _markdown(results: list[BenchResult], machine: dict[str, Any], *, quick: bool) -> str:
    where = (
        f"Measured by `fraudstream bench{' --quick' if quick else ''}` on {machine['date']}: "
        f"{machine['cpus_usable']} of {machine['cpu_count']} CPUs, Python {machine['python']}, {machine['platform']}"
        + (f", commit {machine['commit']}" if machine.get("commit") else "")
        + "."
    )
    if quick:
        where += " `--quick` runs smaller sizes: the figures show that the benchmarks run, not whether targets hold."
    return f"{where}\n\n{markdown_table(results)}"


def write_results(results: list[BenchResult], out: Path, machine: dict[str, Any], *, quick: bool) -> tuple[Path, Path]:
    """Write `results.json` and `results.md` into `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "results.json", out / "results.md"
    document = results_document(results, machine, quick=quick)
    json_path.write_text(json.dumps(document, indent=2, default=json_default) + "\n")
    md_path.write_text(_markdown(results, machine, quick=quick))
    return json_path, md_path


def print_results(results: list[BenchResult]) -> None:
    """Plain lines, for `python -m bench.<module>`: each row, its target, then every figure."""
    for r in results:
        print(f"{r.name}: {r.description}")
        print(f"  measured  {r.measured}")
        print(f"  target    {r.target_text}   met: {r.met_text.strip('*')}")
        for key, value in r.figures.items():
            print(f"  {key:32} {value}")
