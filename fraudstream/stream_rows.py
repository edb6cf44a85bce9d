"""The Arrow schemas of the rows that flow between the stream processor's stages, built from the
event contracts (`fraudstream.contracts`) and the lake's tables (`fraudstream.lake`):

    parsed records + parsed labels ──> card stage ──> terminal stage ──> staged rows (the sinks')

The processor's Spark schemas are derived from these (`pyspark.sql.pandas.types.from_arrow_schema`
in `processor.parsing` and `processor.records`), never written again: a column added to an event,
a feature or a lake table reaches every stage from here. Timestamps are microseconds in UTC, which is
how Spark exchanges its `TimestampType` with Arrow, so a schema goes to Spark and back unchanged.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

from fraudstream.contracts import LABEL_ARROW_SCHEMA, TRANSACTION_ARROW_SCHEMA
from fraudstream.feature_names import CARD_FEATURES, TERMINAL_FEATURES
from fraudstream.lake import AGGREGATES, QUARANTINE, RECORD_SOURCE_FIELDS

__all__ = [
    "CARD_STAGE_INPUT_ROW",
    "CARD_STAGE_ROW",
    "PARSED_LABEL_ROW",
    "PARSED_ROW",
    "STAGED_ROW",
]


def _nullable(schema: pa.Schema, names: tuple[str, ...] | None = None) -> list[pa.Field]:
    """`schema`'s fields (those of `names`, in the schema's order), each nullable."""
    return [f.with_nullable(True) for f in schema if names is None or f.name in names]


# Why a record broke the contract (the quarantine's columns): set on invalid records only.
_INVALID_FIELDS: Final = _nullable(QUARANTINE.schema, ("raw_data", "reason", "detail"))

# A record of the transactions stream after the parse step: a valid one has the event's fields, an
# invalid one its raw payload and the reason; both have where the record came from.
PARSED_ROW: Final = pa.schema([*_nullable(TRANSACTION_ARROW_SCHEMA), *RECORD_SOURCE_FIELDS, *_INVALID_FIELDS])
# The same for a record of the labels stream (its schema version is checked, not carried).
PARSED_LABEL_ROW: Final = pa.schema(
    [
        *(f for f in _nullable(LABEL_ARROW_SCHEMA) if f.name != "schema_version"),
        *RECORD_SOURCE_FIELDS,
        *_INVALID_FIELDS,
    ]
)
# The card stage reads parsed transactions and labels in one shape: a label is a row with `is_fraud`
# and `label_time` (its `tx_event_time` travels as `event_time`); `route` is the stage key the row
# travels under.
CARD_STAGE_INPUT_ROW: Final = pa.schema(
    [
        *PARSED_ROW,
        pa.field("route", pa.string(), nullable=False),
        pa.field("is_fraud", pa.int32()),
        LABEL_ARROW_SCHEMA.field("label_time").with_nullable(True),
    ]
)
# What the card stage emits: each row's status, the card features of accepted transactions, and the
# figures of a closed window on rows of status `aggregate` (the lake's aggregates/ columns).
CARD_STAGE_ROW: Final = pa.schema(
    [
        *CARD_STAGE_INPUT_ROW,
        pa.field("status", pa.string(), nullable=False),
        *(pa.field(n, pa.float64()) for n in CARD_FEATURES if n not in PARSED_ROW.names),
        *_nullable(
            AGGREGATES.schema, ("window_start", "window_end", "tx_count", "amount_sum", "amount_mean", "amount_max")
        ),
    ]
)
# What leaves the stages for the sinks: every record with its status, accepted ones with all features,
# valid chargebacks as rows of status `label` (the lake's labels/).
STAGED_ROW: Final = pa.schema([*CARD_STAGE_ROW, *(pa.field(n, pa.float64()) for n in TERMINAL_FEATURES)])
