"""`fraudstream query "SQL"`: DuckDB over the Parquet lake, with the Glue/Athena table names.

The lake is read through pyarrow's S3 filesystem configured like boto3, so the same command works
against the embedded emulator, LocalStack or AWS. Tables: `transactions`, `aggregates`,
`quarantine`, with their `dt` and `hour` partition columns, as in Athena.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fraudstream.exceptions import FraudstreamError
from fraudstream.lake import LAKE_TABLES, PARTITION_KEYS

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

__all__ = ["QueryError", "lake_connection", "run_query"]


class QueryError(FraudstreamError):
    """Raised when DuckDB rejects the SQL."""

    hint = "tables: transactions, aggregates, quarantine (partition columns dt, hour); SQL is DuckDB's dialect"


def _partitioning() -> Any:
    import pyarrow as pa
    import pyarrow.dataset as ds

    return ds.partitioning(pa.schema([(key, pa.string()) for key in PARTITION_KEYS]), flavor="hive")


def lake_connection(bucket: str, filesystem: Any) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per lake table (an empty table is still queryable).

    Args:
        bucket: the lake bucket.
        filesystem: a pyarrow filesystem holding `<bucket>/<table prefix>`.
    """
    import duckdb
    import pyarrow as pa
    import pyarrow.dataset as ds
    from pyarrow import fs

    con = duckdb.connect()
    for table in LAKE_TABLES:
        root = f"{bucket}/{table.prefix}".rstrip("/")
        schema = pa.schema(list(table.schema) + [pa.field(key, pa.string()) for key in PARTITION_KEYS])
        info = filesystem.get_file_info(root)
        if info.type == fs.FileType.NotFound:
            dataset: Any = schema.empty_table()
        else:
            dataset = ds.dataset(
                root, schema=schema, filesystem=filesystem, format="parquet", partitioning=_partitioning()
            )
        con.register(table.name, dataset)
    return con


def run_query(sql: str, bucket: str, filesystem: Any) -> pa.Table:
    """Run one SQL statement over the lake and return its result.

    Raises:
        QueryError: DuckDB could not parse or run the statement.
    """
    import duckdb

    con = lake_connection(bucket, filesystem)
    try:
        return con.sql(sql).to_arrow_table()
    except duckdb.Error as e:
        raise QueryError(str(e).splitlines()[0]) from e
    finally:
        con.close()
