"""`fraudstream query "SQL"`: DuckDB over the Parquet lake, with the Glue/Athena table names.

The lake is read through pyarrow's S3 filesystem configured like boto3, so the same command works
against the embedded emulator, LocalStack or AWS. Tables: `transactions`, `aggregates`,
`quarantine` with their `dt` and `hour` partition columns, and `labels` with `dt`, as in Athena.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fraudstream.exceptions import AwsUnreachableError, FraudstreamError, ResourceNotFoundError
from fraudstream.lake import LAKE_TABLES

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

__all__ = ["QueryError", "lake_connection", "run_query"]


class QueryError(FraudstreamError):
    """Raised when DuckDB rejects the SQL."""

    hint = (
        "tables: transactions, quarantine (partition columns dt, hour), aggregates, labels, monitoring (dt); "
        "SQL is DuckDB's dialect"
    )


def _partitioning(keys: tuple[str, ...]) -> Any:
    import pyarrow as pa
    import pyarrow.dataset as ds

    return ds.partitioning(pa.schema([(key, pa.string()) for key in keys]), flavor="hive")


def _file_info(filesystem: Any, path: str) -> Any:
    """`filesystem.get_file_info(path)`, a failure to connect being `AwsUnreachableError`."""
    try:
        return filesystem.get_file_info(path)
    except OSError as e:
        # pyarrow's S3 errors are OSError with the AWS SDK's error name in the text.
        if "NETWORK_CONNECTION" in str(e) or "curlCode" in str(e):
            raise AwsUnreachableError(f"cannot reach the lake's S3 endpoint ({str(e).splitlines()[0]})") from e
        raise


def lake_connection(bucket: str, filesystem: Any) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per lake table (an empty table is still queryable).

    Args:
        bucket: the lake bucket.
        filesystem: a pyarrow filesystem holding `<bucket>/<table prefix>`.

    Raises:
        ResourceNotFoundError: the bucket does not exist.
        AwsUnreachableError: the S3 endpoint does not answer.
    """
    import duckdb
    import pyarrow as pa
    import pyarrow.dataset as ds
    from pyarrow import fs

    # A missing bucket is an error, not an empty lake: the empty tables below are for a lake with
    # nothing yet written under a table's prefix.
    if _file_info(filesystem, bucket).type == fs.FileType.NotFound:
        raise ResourceNotFoundError(f"lake bucket {bucket!r} does not exist")
    con = duckdb.connect()
    for table in LAKE_TABLES:
        root = f"{bucket}/{table.prefix}".rstrip("/")
        schema = pa.schema(list(table.schema) + [pa.field(key, pa.string()) for key in table.partition_keys])
        info = _file_info(filesystem, root)
        if info.type == fs.FileType.NotFound:
            dataset: Any = schema.empty_table()
        else:
            dataset = ds.dataset(
                root,
                schema=schema,
                filesystem=filesystem,
                format="parquet",
                partitioning=_partitioning(table.partition_keys),
            )
        con.register(table.name, dataset)
    return con


def run_query(sql: str, bucket: str, filesystem: Any) -> pa.Table:
    """Run one SQL statement over the lake and return its result.

    Raises:
        QueryError: DuckDB could not parse or run the statement.
        ResourceNotFoundError: the bucket does not exist.
        AwsUnreachableError: the S3 endpoint does not answer.
    """
    import duckdb

    con = lake_connection(bucket, filesystem)
    try:
        return con.sql(sql).to_arrow_table()
    except duckdb.Error as e:
        raise QueryError(str(e).splitlines()[0]) from e
    finally:
        con.close()
