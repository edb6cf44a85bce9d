"""Parse and validate raw Kinesis records against the event contract, on the executors.

Every record comes out: a valid one with the contract's columns, an invalid one with its raw
payload and the reason (`fraudstream.contracts.parse_transaction`'s), so the stream never stops on
bad input and nothing is silently lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import pandas as pd
from pyspark.sql.types import (
    DoubleType,
    IntegerType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from fraudstream.contracts import DEFAULT_MAX_FUTURE, InvalidRecord, parse_label, parse_transaction

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

__all__ = ["LABELS_SCHEMA", "PARSED_SCHEMA", "parse_label_records", "parse_records"]

PARSED_SCHEMA: Final = StructType(
    [
        StructField("schema_version", IntegerType()),
        StructField("transaction_id", StringType()),
        StructField("event_time", TimestampType()),
        StructField("card_id", StringType()),
        StructField("terminal_id", StringType()),
        StructField("amount", DoubleType()),
        StructField("currency", StringType()),
        StructField("merchant_category", StringType()),
        StructField("channel", StringType()),
        StructField("country", StringType()),
        StructField("lat", DoubleType()),
        StructField("lon", DoubleType()),
        # Where the record came from, for quarantine and for lag figures.
        StructField("stream_name", StringType(), nullable=False),
        StructField("shard_id", StringType(), nullable=False),
        StructField("sequence_number", StringType(), nullable=False),
        StructField("arrival_time", TimestampType(), nullable=False),
        # Set on invalid records only.
        StructField("raw_data", StringType()),
        StructField("reason", StringType()),
        StructField("detail", StringType()),
    ]
)
_FIELDS: Final = [f.name for f in PARSED_SCHEMA.fields]


def parse_records(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """`mapInPandas` function: Kinesis source rows in, PARSED_SCHEMA rows out.

    "Far future" is judged against the record's own arrival time, so that re-running a batch
    gives the same verdicts.
    """
    return _parsed(
        batches,
        PARSED_SCHEMA,
        lambda data, arrival: parse_transaction(data, now=arrival.to_pydatetime(), max_future=DEFAULT_MAX_FUTURE),
    )


def _parsed(
    batches: Iterable[pd.DataFrame],
    schema: StructType,
    parse_one: Callable[[bytes, pd.Timestamp], Mapping[str, Any] | InvalidRecord],
) -> Iterator[pd.DataFrame]:
    columns = schema.fieldNames()
    for pdf in batches:
        out = []
        for data, stream, shard, seq, arrival in zip(
            pdf["data"],
            pdf["stream_name"],
            pdf["shard_id"],
            pdf["sequence_number"],
            pdf["approximate_arrival_timestamp"],
            strict=True,
        ):
            arrival_ts = pd.Timestamp(arrival)
            arrival_ts = arrival_ts.tz_localize("UTC") if arrival_ts.tzinfo is None else arrival_ts.tz_convert("UTC")
            source = {"stream_name": stream, "shard_id": shard, "sequence_number": seq, "arrival_time": arrival_ts}
            result = parse_one(bytes(data), arrival_ts)
            if isinstance(result, InvalidRecord):
                raw = bytes(data).decode("utf-8", errors="replace")
                out.append({**source, "raw_data": raw, "reason": result.reason, "detail": result.detail})
            else:
                out.append({**{k: v for k, v in result.items() if k in columns}, **source})
        yield _typed(pd.DataFrame(out, columns=columns), schema)


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


LABELS_SCHEMA: Final = StructType(
    [
        StructField("transaction_id", StringType()),
        StructField("card_id", StringType()),
        StructField("terminal_id", StringType()),
        StructField("tx_event_time", TimestampType()),
        StructField("label_time", TimestampType()),
        StructField("is_fraud", IntegerType()),
        StructField("stream_name", StringType(), nullable=False),
        StructField("shard_id", StringType(), nullable=False),
        StructField("sequence_number", StringType(), nullable=False),
        StructField("arrival_time", TimestampType(), nullable=False),
        StructField("raw_data", StringType()),
        StructField("reason", StringType()),
        StructField("detail", StringType()),
    ]
)


def parse_label_records(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """`mapInPandas` function for the labels stream: Kinesis rows in, LABELS_SCHEMA rows out."""
    return _parsed(batches, LABELS_SCHEMA, lambda data, _: parse_label(data))
