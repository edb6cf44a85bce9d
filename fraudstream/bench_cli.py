"""`fraudstream bench`: every benchmark side by side in one run; `results.json` and the markdown table.

The benchmarks live in the repository's `bench/` package (not in the wheel, nor in the EMR job's
archive): the CLI imports it when the command runs, and lists it in the help when it is there.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fraudstream.exceptions import FraudstreamError

if TYPE_CHECKING:
    from bench.suite import Benchmark

__all__ = ["bench"]


class BenchmarksMissingError(FraudstreamError):
    """Raised when the `bench` package is not importable (an installed wheel, not a checkout)."""

    hint = (
        "run it from a checkout of the repository: `make install`, then `make bench` or `.venv/bin/fraudstream bench`"
    )


def _benchmarks() -> tuple[Benchmark, ...]:
    try:
        from bench.suite import BENCHMARKS
    except ImportError:
        return ()
    return BENCHMARKS


def bench(
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            metavar="NAME",
            help="Run only this benchmark; repeat for several (default: all). Names: "
            + (", ".join(b.name for b in _benchmarks()) or "see the repository's bench/ folder")
            + ".",
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(help="Folder for results.json and results.md (created if missing; both are replaced)."),
    ] = Path("bench"),
    quick: Annotated[
        bool,
        typer.Option(
            help="Smaller sizes (fewer days, rounds and calls; a small world for the pipeline) so that the run is "
            "fast: shows that every benchmark works, but its figures are not the ones to hold against the targets."
        ),
    ] = False,
) -> None:
    # The docstring is set below, from the list of benchmarks.
    from rich.console import Console
    from rich.table import Table

    from fraudstream.output import print_error

    try:
        from bench.suite import run_suite, select
    except ImportError as e:
        raise BenchmarksMissingError(f"the benchmarks are not installed here ({e})") from None
    try:
        chosen = select(only)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--only") from None

    console = Console()
    results = run_suite(chosen, out, quick=quick, console=console)

    table = Table(title=f"fraudstream bench{' --quick' if quick else ''}", show_lines=False)
    for column in ("benchmark", "measured", "target", "met", "s"):
        table.add_column(column, justify="right" if column == "s" else "left")
    style = {True: "green", False: "red", None: "dim"}
    for r in results:
        measured = f"failed: {r.error}" if r.error is not None else r.measured.replace("**", "")
        table.add_row(
            r.name,
            measured,
            r.target_text,
            f"[{style[r.met]}]{r.met_text.strip('*')}[/]",
            f"{r.seconds:g}" if r.seconds is not None else "",
        )
    console.print(table)
    console.print(f"wrote {out / 'results.json'} and {out / 'results.md'} (the README's table)", highlight=False)
    failed = [r.name for r in results if r.error is not None]
    if failed:
        print_error(
            f"failed to run: {', '.join(failed)}", f"each one's error is in the table and in {out / 'results.json'}"
        )
        raise typer.Exit(1)


def _help() -> str:
    listed = "\n".join(f"- **{b.name}**: {b.measures}" for b in _benchmarks())
    return (
        "Run the benchmarks side by side in one run and write `results.json` and `results.md`.\n\n"
        "Each row of the table shows the measured figure, the target and whether it is met; results.json adds "
        "every figure, the value compared with each target, the sizes and the machine (CPUs, Python, platform, "
        "date, commit). Both files are rewritten after each benchmark. A missed target is a result, not an "
        "error: the exit status is 1 only when a benchmark fails to run. Figures are comparisons made on the "
        "same machine in the same run (e.g. the producer against raw PutRecords to the same emulator).\n\n"
        "The benchmarks, in the order they run:\n\n"
        + (listed or "- (the repository's bench/ package is not importable here)")
        + "\n\nExample: `fraudstream bench --quick --only features --only endpoint --out /tmp/bench`"
    )


bench.__doc__ = _help()
