"""What flows between the processor's stages: each row's status and route, the schemas of the
stages' rows, and how rows travel between stages.

    parsed transactions + parsed labels ──> card stage ──> terminal stage ──> staged rows (the sinks')

Every record of the transactions stream leaves the stages once, with a status; so does every
record of the labels stream (a valid chargeback as a row of status `label`, for the lake's labels/).
The fraud marks that the card stage derives from chargebacks are internal: they never reach the sinks.

Rows travel packed: one Spark row per stage key and upstream partition (`PACKED_SCHEMA`: the key,
an event time for Spark's watermark, and the rows themselves as one Arrow IPC blob). PySpark's
transformWithStateInPandas otherwise rebuilds every input row as a Python tuple to group it by key
(tens of microseconds per row and stage); packed, a stage decodes each key's rows in one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema
from pyspark.sql.types import (
    BinaryType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from fraudstream.stream_rows import CARD_STAGE_INPUT_ROW, CARD_STAGE_ROW, STAGED_ROW

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from pyspark.sql import SparkSession

__all__ = [
    "StageKeys",
    "CARD_STAGE_INPUT_SCHEMA",
    "CARD_STAGE_SCHEMA",
    "INVALID_ROUTE",
    "PACKED_SCHEMA",
    "PACK_ROWS",
    "STAGED_SCHEMA",
    "THROUGH_ROUTE",
    "RecordStatus",
    "arrow_schema",
    "bucket_routes",
    "column",
    "conform",
    "emit_floor",
    "epoch_us",
    "frame_of",
    "frame_table",
    "ipc",
    "packed",
    "read_packed",
    "stage_keys",
    "table_of",
    "unpack",
]

# Invalid records have no trustworthy card id: they travel under one key of their own.
INVALID_ROUTE: Final = "\x00invalid"
# Rows per packed row at most (a blob of rows is one JVM row: bounded, whatever a key holds).
PACK_ROWS: Final = 8_192
# Rows the terminal stage only passes on (not accepted transactions) travel under keys of their own,
# one per partition (`StageKeys.through`), named with this prefix.
THROUGH_ROUTE: Final = "\x00through"


@dataclass(frozen=True)
class StageKeys:
    """The keys of the two stateful stages, one card key and one terminal key per partition of the
    stages, each named so that Spark's hash partitioning sends it to a partition of its own: a
    partition's cards (terminals) are served by one call of the stage per micro-batch, whose fixed
    cost (state handles, timers, Arrow round trips) is paid once per partition, not once per key.

    Fixed by the checkpoint: the state lives under these names, and Spark keeps the number of
    partitions a checkpoint started with (`stage_keys`).
    """

    cards: tuple[str, ...]
    terminals: tuple[str, ...]
    # The rows the terminal stage only passes on (chargebacks, closed windows, rejected records) stay
    # in the partition whose card stage emitted them: the sinks' work for them (a backlog's closed
    # windows span as many hourly files as its transactions) is spread as the cards are.
    through: tuple[str, ...]


def stage_keys(spark: SparkSession, partitions: int) -> StageKeys:
    """The stage keys for `partitions` partitions: for each partition, the first of the names `b0`,
    `b1`, ... (`t0`, `t1`, ... for terminals; THROUGH_ROUTE and a number for pass-through rows) that
    Spark's hash partitioning (pmod of the Murmur3 `hash` of the key, as the shuffle before a stage
    computes it) sends there. The same for the same number of partitions in every run, so a
    restarted query finds its state.

    Raises:
        ValueError: a partition no candidate name reaches (not for any practical number of partitions).
    """
    prefixes = ("b", "t", THROUGH_ROUTE)
    candidates = [f"{prefix}{i}" for prefix in prefixes for i in range(64 * partitions)]
    rows = (
        spark.createDataFrame([(name,) for name in candidates], "name string")
        .selectExpr("name", f"pmod(hash(name), {partitions}) AS part")
        .collect()
    )
    part = {row["name"]: row["part"] for row in rows}
    keys = {}
    for prefix in prefixes:
        chosen: dict[int, str] = {}
        for name in (c for c in candidates if c.startswith(prefix)):
            chosen.setdefault(part[name], name)
        if len(chosen) < partitions:
            raise ValueError(f"no stage key name reaches every one of {partitions} partitions")
        keys[prefix] = tuple(chosen[i] for i in range(partitions))
    return StageKeys(cards=keys["b"], terminals=keys["t"], through=keys[THROUGH_ROUTE])


class RecordStatus(StrEnum):
    """What the stages decided about a row."""

    OK = "ok"
    DUPLICATE = "duplicate"
    LATE = "late"
    INVALID = "invalid"
    AGGREGATE = "aggregate"  # a closed window of a card (the window columns), not a transaction
    # A valid chargeback: read by the card stage (its verdict), then passed through to the sinks (labels/).
    LABEL = "label"
    # A change of a card's transaction's verdict, +1 or -1 in `is_fraud`, on its way to the terminal
    # stage's fraud counts; never leaves it.
    FRAUD_MARK = "fraud_mark"


# The stages' rows are the core's (`fraudstream.stream_rows`), as Spark sees them.
CARD_STAGE_INPUT_SCHEMA: Final = from_arrow_schema(CARD_STAGE_INPUT_ROW)
CARD_STAGE_SCHEMA: Final = from_arrow_schema(CARD_STAGE_ROW)
STAGED_SCHEMA: Final = from_arrow_schema(STAGED_ROW)
_TYPES: Final = {f.name: f.dataType for f in STAGED_SCHEMA.fields}
# One Spark row per stage key and upstream partition: the key, an event time (the newest valid
# transaction's for the watermark, on the way in; just after the watermark on the way out: Spark
# refuses rows a stage emits at or before it) and the rows, Arrow IPC.
PACKED_SCHEMA: Final = StructType(
    [
        StructField("route", StringType(), False),
        StructField("event_time", TimestampType()),
        StructField("rows", BinaryType(), False),
    ]
)


def _missing(dtype: Any, n: int) -> pd.Series:
    """An all-null column of Spark type `dtype` that Arrow converts as such."""
    if isinstance(dtype, TimestampType):
        return pd.Series(pd.NaT, index=range(n), dtype="datetime64[us]")
    if isinstance(dtype, IntegerType | LongType):
        return pd.Series(pd.NA, index=range(n), dtype="Int64")
    if isinstance(dtype, DoubleType):
        return pd.Series(np.nan, index=range(n), dtype="float64")
    return pd.Series(None, index=range(n), dtype=object)


def conform(frame: pd.DataFrame, schema: StructType) -> pd.DataFrame:
    """`frame` with exactly the columns of `schema`, in order; a column it lacks is all null, of its type."""
    frame = frame.reset_index(drop=True)
    return pd.DataFrame(
        {
            name: frame[name] if name in frame.columns else _missing(_TYPES[name], len(frame))
            for name in schema.fieldNames()
        }
    )


def emit_floor(watermark_ms: int) -> pd.Timestamp:
    """The earliest event time a stage may emit a row at: just after the watermark."""
    return pd.Timestamp(max(watermark_ms, 0) + 1, unit="ms")


@cache
def arrow_schema(schema: StructType) -> pa.Schema:
    """The Arrow schema of a Spark schema (timestamps in microseconds, UTC), as Spark exchanges it."""
    return to_arrow_schema(schema)


def table_of(
    schema: StructType, table: pa.Table | None = None, columns: Mapping[str, Any] | None = None, rows: int = 0
) -> pa.Table:
    """A table of `schema`: each column from `columns` (arrays, NaN and None as null), else from
    `table`, else all null (`rows` rows when there is no table)."""
    columns = columns or {}
    n = table.num_rows if table is not None else rows
    arrays = []
    for field in arrow_schema(schema):
        if field.name in columns:
            array = pa.array(columns[field.name], type=field.type, from_pandas=True)
        elif table is not None and field.name in table.column_names:
            array = table.column(field.name)
            array = array if array.type == field.type else array.cast(field.type)
        else:
            array = pa.nulls(n, field.type)
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=arrow_schema(schema))


def frame_table(frame: pd.DataFrame, schema: StructType) -> pa.Table:
    """`frame` (missing columns null) as a table of `schema`."""
    return pa.Table.from_pandas(conform(frame, schema), schema=arrow_schema(schema), preserve_index=False)


def ipc(table: pa.Table) -> bytes:
    """A table as one Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def read_packed(blobs: Iterable[bytes], schema: StructType) -> pa.Table:
    """The rows of packed blobs, in order, as one table of `schema` (a blob of another schema, such as
    a card stage's rows that the terminal stage passed on untouched, is conformed: missing columns null)."""
    target = arrow_schema(schema)
    tables = []
    for blob in blobs:
        table = pa.ipc.open_stream(blob).read_all()
        tables.append(table if table.schema == target else table_of(schema, table))
    return pa.concat_tables(tables) if tables else target.empty_table()


def frame_of(table: pa.Table) -> pd.DataFrame:
    """A table of a stage's rows as a pandas frame (timestamps tz-aware UTC, nullable integers)."""
    frame: pd.DataFrame = table.to_pandas(types_mapper={pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype()}.get)
    return frame


def unpack(blobs: Iterable[bytes], schema: StructType) -> pd.DataFrame:
    """The rows of packed blobs as a pandas frame (`frame_of`)."""
    return frame_of(read_packed(blobs, schema))


def packed(table: pa.Table, routes: np.ndarray, event_time: Any) -> pd.DataFrame:
    """`table`'s rows as PACKED_SCHEMA rows, one per route, all at `event_time` (a timestamp, or an
    array aligned with the rows whose newest value per route is taken)."""
    routes = np.asarray(routes, dtype=object)
    if len(routes) == 0:
        return pd.DataFrame(columns=PACKED_SCHEMA.fieldNames())
    order = np.argsort(routes, kind="stable")
    ordered = routes[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    table = table.take(pa.array(order))
    times = pd.Series(event_time[order]) if isinstance(event_time, np.ndarray) else None
    out = []
    for first, end in zip(starts, [*starts[1:], len(routes)], strict=True):
        for start in range(first, end, PACK_ROWS):
            stop = min(start + PACK_ROWS, end)
            time = times.iloc[start:stop].max() if times is not None else event_time
            out.append({"route": ordered[start], "event_time": time, "rows": ipc(table.slice(start, stop - start))})
    return pd.DataFrame(out, columns=PACKED_SCHEMA.fieldNames())


def column(table: pa.Table, name: str) -> np.ndarray:
    """A column as numpy (objects for strings, NaN for null numbers)."""
    values: np.ndarray = table.column(name).to_numpy(zero_copy_only=False)
    return values


def epoch_us(table: pa.Table, name: str) -> np.ndarray:
    """A timestamp column as integer microseconds since the epoch (null as the smallest int64)."""
    values: np.ndarray = table.column(name).cast(pa.int64()).fill_null(np.iinfo(np.int64).min).to_numpy()
    return values


def bucket_routes(ids: Iterable[Any], keys: tuple[str, ...]) -> np.ndarray:
    """The stage key of each id (a card or a terminal), one of `keys` by a hash of the id, so that one
    call of a stage serves all of a key's ids. The same in every process (pandas' stable hash)."""
    codes = pd.util.hash_array(
        np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=object), categorize=False
    ) % np.uint64(len(keys))
    routes: np.ndarray = np.asarray(keys, dtype=object)[codes.astype(np.int64)]
    return routes
