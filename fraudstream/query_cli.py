"""The `fraudstream query` command."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["query"]


def query(
    sql: Annotated[str, typer.Argument(help="SQL over the lake tables: transactions, aggregates, quarantine, labels.")],
    output: Annotated[str, typer.Option(help="table (for people), csv or json (for tools).")] = "table",
    limit: Annotated[int, typer.Option(help="At most this many rows are shown in a table.")] = 50,
) -> None:
    """Query the Parquet lake with DuckDB, using the same table names as Athena.

    Reads S3 through boto3's configuration: the embedded emulator, LocalStack or AWS.
    Example: fraudstream query "SELECT dt, hour, count(*) FROM transactions GROUP BY 1, 2 ORDER BY 1, 2"
    """
    import sys

    import pyarrow.csv as pa_csv
    from rich.console import Console
    from rich.table import Table

    from fraudstream.aws import s3_filesystem
    from fraudstream.config import ResourceSettings
    from fraudstream.query import run_query

    if output not in ("table", "csv", "json"):
        raise typer.BadParameter("--output must be table, csv or json")
    result = run_query(sql, ResourceSettings().lake_bucket, s3_filesystem())
    if output == "csv":
        pa_csv.write_csv(result, sys.stdout.buffer)
        return
    if output == "json":
        import json

        for row in result.to_pylist():
            sys.stdout.write(json.dumps(row, default=str) + "\n")
        return
    table = Table(show_edge=False)
    for name in result.column_names:
        table.add_column(name)
    for row in result.slice(0, limit).to_pylist():
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console = Console()
    console.print(table)
    if result.num_rows > limit:
        console.print(f"[dim]{result.num_rows:,} rows; the first {limit} shown (--limit, or --output csv for all)[/]")
