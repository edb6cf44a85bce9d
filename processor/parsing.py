"""Parse and validate raw Kinesis records against the event contract, on the executors.

Every record comes out: a valid one with the contract's columns, an invalid one with its raw
payload and the reason (`fraudstream.contracts.parse_transaction`'s), so the stream never stops on
bad input and nothing is silently lost.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.sql.types import DoubleType, StructType, TimestampType

from fraudstream.contracts import DEFAULT_MAX_FUTURE, InvalidRecord, parse_label, parse_transaction
from fraudstream.stream_rows import PARSED_LABEL_ROW, PARSED_ROW
from processor.spark import prepare_worker_task

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

__all__ = ["LABELS_SCHEMA", "PARSED_SCHEMA", "parse_label_records", "parse_records"]

# The rows' schemas are the core's (`fraudstream.stream_rows`), as Spark sees them.
PARSED_SCHEMA: Final = from_arrow_schema(PARSED_ROW)
LABELS_SCHEMA: Final = from_arrow_schema(PARSED_LABEL_ROW)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def parse_records(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """`mapInPandas` function: Kinesis source rows in, PARSED_SCHEMA rows out.

    "Far future" is judged against the record's own arrival time, so that re-running a batch
    gives the same verdicts.
    """
    return _parsed(
        batches,
        PARSED_SCHEMA,
        lambda data, arrival: parse_transaction(data, now=arrival, max_future=DEFAULT_MAX_FUTURE),
    )


def _parsed(
    batches: Iterable[pd.DataFrame],
    schema: StructType,
    parse_one: Callable[[bytes, datetime], Mapping[str, Any] | InvalidRecord],
) -> Iterator[pd.DataFrame]:
    prepare_worker_task()
    columns = schema.fieldNames()
    for pdf in batches:
        n = len(pdf)
        arrivals = pd.to_datetime(pdf["approximate_arrival_timestamp"], utc=True)
        arrival_us = arrivals.to_numpy(dtype="datetime64[us]").astype(np.int64).tolist()
        values: dict[str, list[Any]] = {name: [None] * n for name in columns}
        for i, (data, us) in enumerate(zip(pdf["data"], arrival_us, strict=True)):
            result = parse_one(bytes(data), _EPOCH + timedelta(microseconds=us))
            if isinstance(result, InvalidRecord):
                values["raw_data"][i] = bytes(data).decode("utf-8", errors="replace")
                values["reason"][i] = result.reason
                values["detail"][i] = result.detail
            else:
                for name, value in result.items():
                    if name in values:
                        values[name][i] = value
        frame = pd.DataFrame(values, columns=columns)
        frame["stream_name"] = pdf["stream_name"].to_numpy()
        frame["shard_id"] = pdf["shard_id"].to_numpy()
        frame["sequence_number"] = pdf["sequence_number"].to_numpy()
        frame["arrival_time"] = arrivals.to_numpy()
        yield _typed(frame, schema)


def _typed(frame: pd.DataFrame, schema: StructType) -> pd.DataFrame:
    # An all-missing column would come out as float NaN; Arrow needs each column in its schema type.
    for field in schema.fields:
        column = frame[field.name]
        if isinstance(field.dataType, TimestampType):
            frame[field.name] = pd.to_datetime(column, utc=True)
        elif isinstance(field.dataType, DoubleType):
            frame[field.name] = column.astype("float64")
        else:
            frame[field.name] = column.astype(object).where(column.notna(), None)
    return frame


def parse_label_records(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """`mapInPandas` function for the labels stream: Kinesis rows in, LABELS_SCHEMA rows out."""
    return _parsed(batches, LABELS_SCHEMA, lambda data, _: parse_label(data))
