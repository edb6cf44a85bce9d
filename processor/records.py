"""What flows between the processor's stages: each row's status and route, and the Spark schemas of
the stages' inputs and outputs.

    parsed transactions + parsed labels ──> card stage ──> terminal stage ──> staged rows (the sinks')

Every record of the transactions stream leaves the stages once, with a status. Labels and the
fraud marks that the card stage derives from them are internal: they never reach the sinks.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

import numpy as np
import pandas as pd
from pyspark.sql.types import (
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ml_model.features import CARD_FEATURES, TERMINAL_FEATURES
from processor.parsing import PARSED_SCHEMA

__all__ = [
    "CARD_STAGE_INPUT_SCHEMA",
    "CARD_STAGE_SCHEMA",
    "DEFAULT_STATE_BUCKETS",
    "INVALID_ROUTE",
    "THROUGH_ROUTE_PREFIX",
    "STAGED_SCHEMA",
    "RecordStatus",
    "conform",
    "emit_floor",
    "emit_times",
]

# Invalid records have no trustworthy card id: they travel under one key of their own.
INVALID_ROUTE: Final = "\x00invalid"
# Rows the terminal stage only passes on (not accepted transactions) travel under keys of this prefix.
THROUGH_ROUTE_PREFIX: Final = "\x00through"
# Keys of each stage: each is one call per micro-batch that serves all of its cards (terminals).
# Fixed by the checkpoint (the state lives under them); at least the shuffle partitions.
DEFAULT_STATE_BUCKETS: Final = 16


class RecordStatus(StrEnum):
    """What the stages decided about a row."""

    OK = "ok"
    DUPLICATE = "duplicate"
    LATE = "late"
    INVALID = "invalid"
    AGGREGATE = "aggregate"  # a closed window of a card (the window columns), not a transaction
    LABEL = "label"  # a chargeback on its way to the card stage; never leaves it
    # A change of a card's transaction's verdict, +1 or -1 in `is_fraud`, on its way to the terminal
    # stage's fraud counts; never leaves it.
    FRAUD_MARK = "fraud_mark"


# A closed window's figures, on rows of status `aggregate` (the lake's aggregates/ columns).
_WINDOW_FIELDS: Final = [
    StructField("window_start", TimestampType()),
    StructField("window_end", TimestampType()),
    StructField("tx_count", LongType()),
    StructField("amount_sum", DoubleType()),
    StructField("amount_mean", DoubleType()),
    StructField("amount_max", DoubleType()),
]
# The card stage reads parsed transactions and labels in one shape: a label is a row with `is_fraud`.
CARD_STAGE_INPUT_SCHEMA: Final = StructType(
    [*PARSED_SCHEMA.fields, StructField("route", StringType(), False), StructField("is_fraud", IntegerType())]
)
CARD_STAGE_SCHEMA: Final = StructType(
    [
        *CARD_STAGE_INPUT_SCHEMA.fields,
        StructField("status", StringType(), False),
        # The stage's output event time for Spark: the event time, or just after the watermark for a
        # late or invalid record (Spark refuses to see a stage emit a row at or before the watermark).
        StructField("emit_time", TimestampType(), False),
        *[StructField(n, DoubleType()) for n in CARD_FEATURES if n not in PARSED_SCHEMA.names],
        *_WINDOW_FIELDS,
    ]
)
# What leaves the stages for the sinks: every record with its status, accepted ones with all features.
STAGED_SCHEMA: Final = StructType(
    [*CARD_STAGE_SCHEMA.fields, *[StructField(n, DoubleType()) for n in TERMINAL_FEATURES]]
)
_TYPES: Final = {f.name: f.dataType for f in STAGED_SCHEMA.fields}


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


def emit_times(times: pd.Series, floor: pd.Timestamp) -> pd.Series:
    """Each row's event time, raised to `floor` where it is behind it (naive UTC, as Spark passes them)."""
    naive = pd.to_datetime(times, utc=True).dt.tz_convert(None)
    return naive.where(naive >= floor, floor)
