"""The lake's tables: one schema definition that the processor writes, the Glue catalog declares
and `fraudstream query` reads. Layout: `<table>/dt=YYYY-MM-DD/hour=HH/<file>.parquet` (UTC), or
`<table>/dt=YYYY-MM-DD/<file>.parquet` for a table partitioned by day only (`labels`)."""

from __future__ import annotations

from typing import Final

import pyarrow as pa

from fraudstream.contracts import LABEL_ARROW_SCHEMA, TRANSACTION_ARROW_SCHEMA
from fraudstream.feature_names import FEATURE_NAMES
from fraudstream.lake_table import PARTITION_KEYS, LakeTable
from fraudstream.monitoring_table import MONITORING

__all__ = [
    "AGGREGATES",
    "LABELS",
    "LAKE_TABLES",
    "MONITORING",
    "PARTITION_KEYS",
    "QUARANTINE",
    "RECORD_SOURCE_FIELDS",
    "TRANSACTIONS",
    "LakeTable",
    "partition_path",
]

# Where a record came from: its stream, shard and sequence number, and when Kinesis received it (its
# approximate arrival timestamp). Carried by quarantined rows, and by the processor's rows up to them.
RECORD_SOURCE_FIELDS: Final = (
    pa.field("stream_name", pa.string(), nullable=False),
    pa.field("shard_id", pa.string(), nullable=False),
    pa.field("sequence_number", pa.string(), nullable=False),
    pa.field("arrival_time", pa.timestamp("us", tz="UTC"), nullable=False),
)

_SCORED_COLUMNS = [
    pa.field("score", pa.float64(), nullable=False),
    pa.field("is_alert", pa.bool_(), nullable=False),
    pa.field("model_version", pa.string(), nullable=False),
    pa.field("scored_by", pa.string(), nullable=False),
    # The endpoint's production variant that scored the row (champion, challenger, AllTraffic); null
    # when the model in process did (scored_by says which: fallback, local, batch).
    pa.field("model_variant", pa.string()),
    pa.field("reasons", pa.list_(pa.string())),
    pa.field("batch_id", pa.int64(), nullable=False),
    pa.field("processed_at", pa.timestamp("us", tz="UTC"), nullable=False),
    # When Kinesis received the record (its approximate arrival timestamp): with the batch's end,
    # the pipeline's latency; the same on a replay, as every other column.
    pa.field("arrival_time", pa.timestamp("us", tz="UTC"), nullable=False),
]

TRANSACTIONS: Final = LakeTable(
    name="transactions",
    prefix="transactions/",
    schema=pa.schema(
        list(TRANSACTION_ARROW_SCHEMA)
        # Features that are event fields themselves (amount) are stored once, as the event field.
        + [pa.field(n, pa.float64()) for n in FEATURE_NAMES if n not in TRANSACTION_ARROW_SCHEMA.names]
        + _SCORED_COLUMNS
    ),
    partition_time_column="event_time",
    description="Every valid transaction with its features and score, exactly once.",
)

AGGREGATES: Final = LakeTable(
    name="aggregates",
    prefix="aggregates/",
    schema=pa.schema(
        [
            pa.field("card_id", pa.string(), nullable=False),
            pa.field("window_start", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("window_end", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("tx_count", pa.int64(), nullable=False),
            pa.field("amount_sum", pa.float64(), nullable=False),
            pa.field("amount_mean", pa.float64(), nullable=False),
            pa.field("amount_max", pa.float64(), nullable=False),
            pa.field("batch_id", pa.int64(), nullable=False),
        ]
    ),
    partition_time_column="window_start",
    description="Per-card 10-minute windows sliding every 5 minutes, written once the watermark closes them.",
    # By day: a card's windows are few and narrow, and a batch that catches up on a backlog closes
    # windows over as many hours as its transactions span: hourly folders would hold a file per hour
    # and partition, each tiny (per file, the fixed cost of a Parquet file and a PutObject dominates).
    partition_keys=("dt",),
)

QUARANTINE: Final = LakeTable(
    name="quarantine",
    prefix="quarantine/",
    schema=pa.schema(
        [
            pa.field("raw_data", pa.string(), nullable=False),
            pa.field("reason", pa.string(), nullable=False),
            pa.field("detail", pa.string()),
            pa.field("transaction_id", pa.string()),
            *RECORD_SOURCE_FIELDS,
            pa.field("batch_id", pa.int64(), nullable=False),
            pa.field("quarantined_at", pa.timestamp("us", tz="UTC"), nullable=False),
        ]
    ),
    partition_time_column="arrival_time",
    description="Records that broke the contract or arrived after the watermark, raw payload and reason.",
)

# A chargeback as the labels stream delivered it: the label contract's fields, where the record came
# from, and the batch that wrote it. Partitioned by the day of `label_time` alone: labels are few (a
# fraction of a percent of transactions), so hourly folders would only hold tiny files.
LABELS: Final = LakeTable(
    name="labels",
    prefix="labels/",
    schema=pa.schema(
        [
            *LABEL_ARROW_SCHEMA,
            *RECORD_SOURCE_FIELDS,
            pa.field("batch_id", pa.int64(), nullable=False),
            pa.field("processed_at", pa.timestamp("us", tz="UTC"), nullable=False),
        ]
    ),
    partition_time_column="label_time",
    description="Every valid chargeback of the labels stream, exactly once, by the UTC day of its label_time.",
    partition_keys=("dt",),
)

LAKE_TABLES: Final = (TRANSACTIONS, AGGREGATES, QUARANTINE, LABELS, MONITORING)


def partition_path(dt: str, hour: int | None = None) -> str:
    """The partition directory for a UTC date (YYYY-MM-DD) and hour: `dt=2026-11-23/hour=19`; without
    an hour (a table partitioned by day), `dt=2026-11-23`."""
    return f"dt={dt}" if hour is None else f"dt={dt}/hour={hour:02d}"
