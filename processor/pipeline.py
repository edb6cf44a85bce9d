"""The streaming plan, from Kinesis records to staged rows: every record once, with its status and,
for accepted transactions, every feature of the spec.

    transactions ─┬─ parse ─ watermark ─ card stage (key: card) ─ terminal stage (key: terminal) ─> staged
    labels ───────┘

One Kinesis source reads both streams (one look-ahead for both on every micro-batch, and a batch
ends at one arrival time on all their shards). Rows travel packed between the steps
(`processor.records`): the parse step routes each record to its card's key and packs the rows of
each key, the stages unpack, work and pack again. Kept apart from the job's sinks so that tests run
exactly the plan the job runs; `unpacked` turns a step's packed output back into rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from processor.card_stage import CardStage
from processor.history import seed_frames
from processor.kinesis_source import KinesisDataSource
from processor.parsing import parse_label_records, parse_records
from processor.records import (
    CARD_STAGE_INPUT_SCHEMA,
    INVALID_ROUTE,
    PACKED_SCHEMA,
    StageKeys,
    bucket_routes,
    frame_table,
    packed,
    stage_keys,
    unpack,
)
from processor.terminal_stage import TerminalStage
from processor.windows import AGGREGATE_WINDOW_MS

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = ["RecordRouter", "card_staged", "session_stage_keys", "staged_transactions", "unpacked"]


def _kinesis(spark: SparkSession, streams: list[str], options: dict[str, str] | None) -> DataFrame:
    spark.dataSource.register(KinesisDataSource)
    reader = spark.readStream.format("fraudstream-kinesis").option("streamNames", ",".join(streams))
    for key, value in (options or {}).items():
        reader = reader.option(key, value)
    return reader.load()


class RecordRouter:
    """`mapInPandas` function: Kinesis records of the transactions and labels streams in, parsed
    (CARD_STAGE_INPUT_SCHEMA) and packed per card-stage key out. A valid record goes to its card's
    key, an invalid one to the invalid key; a chargeback travels as a row of its card at its
    transaction's event time, with `is_fraud` and `label_time` (the card stage passes it on to the
    sinks as a row of status `label`).

    Each packed row's event time is the newest valid transaction's in it (Spark's watermark follows
    transactions only).

    Args:
        labels_stream: the name of the chargebacks stream (every other record is a transaction).
        card_keys: keys of the card stage.
    """

    def __init__(self, labels_stream: str | None, card_keys: tuple[str, ...]) -> None:
        self.labels_stream = labels_stream
        self.card_keys = card_keys

    def __call__(self, batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            is_label = (batch["stream_name"] == self.labels_stream).to_numpy()
            if (~is_label).any():
                yield from self._routed("transactions", batch[~is_label])
            if is_label.any():
                yield from self._routed("labels", batch[is_label])

    def _routed(self, kind: Literal["transactions", "labels"], rows: pd.DataFrame) -> Iterator[pd.DataFrame]:
        parse = parse_records if kind == "transactions" else parse_label_records
        for records in parse([rows]):
            valid = records["reason"].isna().to_numpy()
            routes = np.full(len(records), INVALID_ROUTE, dtype=object)
            routes[valid] = bucket_routes(records.loc[valid, "card_id"], self.card_keys)
            if kind == "labels":
                records = records.rename(columns={"tx_event_time": "event_time"})
                watermark = np.full(len(records), np.datetime64("NaT"), dtype="datetime64[us]")
            else:
                watermark = records["event_time"].where(valid).dt.tz_convert(None).to_numpy(dtype="datetime64[us]")
            yield packed(frame_table(records.assign(route=routes), CARD_STAGE_INPUT_SCHEMA), routes, watermark)


def session_stage_keys(spark: SparkSession) -> StageKeys:
    """The stage keys for the session's shuffle partitions (a new checkpoint's; a restarted query
    keeps its checkpoint's: the job passes the keys for those, `processor.job`)."""
    return stage_keys(spark, int(spark.conf.get("spark.sql.shuffle.partitions") or 1))


def unpacked(frame: DataFrame, schema: StructType) -> DataFrame:
    """The rows of a step's packed output, in `schema` (for tests and tools that read staged rows)."""

    def rows(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield unpack(batch["rows"], schema)

    return frame.mapInPandas(rows, schema)


def card_staged(
    spark: SparkSession,
    stream: str,
    labels_stream: str | None = None,
    *,
    allowed_lateness: str = "10 minutes",
    state_ttl_ms: int | None = None,
    keys: StageKeys | None = None,
    aggregates: bool = False,
    source_options: dict[str, str] | None = None,
    source: DataFrame | None = None,
    initial_state: DataFrame | None = None,
) -> DataFrame:
    """Parsed transactions (and chargebacks) after the card stage: packed CARD_STAGE_SCHEMA rows
    keyed for the terminal stage, watermarked on `event_time`.

    Args:
        spark: the session.
        stream: the transactions stream.
        labels_stream: the chargebacks stream; None: no labels (fraud rates stay 0).
        allowed_lateness: how far event time may trail the newest event seen (the watermark delay).
        state_ttl_ms: forget a card not seen for this long (None: never).
        keys: the stages' keys (`processor.records.stage_keys`; default: for the session's shuffle
            partitions, which a new checkpoint keeps).
        aggregates: also emit each card's closed 10-minute windows (sliding every 5) as rows of
            status `aggregate`.
        source_options: further options of the Kinesis source (checkpointLocation, startingPosition, ...).
        source: the records to read instead of the Kinesis streams' (a streaming DataFrame in the
            Kinesis source's schema, KINESIS_SCHEMA; the processor-only benchmark replays files).
        initial_state: a new checkpoint's card state (`processor.history.seed_frames`).
    """
    keys = keys or session_stage_keys(spark)
    if source is None:
        source = _kinesis(spark, [stream, *([labels_stream] if labels_stream else [])], source_options)
    records = source.mapInPandas(RecordRouter(labels_stream, keys.cards), PACKED_SCHEMA)
    return (
        # The watermark column is dropped before the stage: Spark would otherwise drop late rows
        # silently, where the stage sends them to quarantine.
        records.withColumnRenamed("event_time", "_watermark_time")
        .withWatermark("_watermark_time", allowed_lateness)
        .drop("_watermark_time")
        .groupBy("route")
        .transformWithStateInPandas(
            CardStage(
                state_ttl_ms=state_ttl_ms,
                window_ms=AGGREGATE_WINDOW_MS if aggregates else None,
                terminal_keys=keys.terminals,
                through_keys=keys.through,
            ),
            PACKED_SCHEMA,
            "Append",
            "EventTime",
            initialState=initial_state.groupBy("route") if initial_state is not None else None,
            eventTimeColumnName="event_time",
        )
    )


def staged_transactions(
    spark: SparkSession,
    stream: str,
    labels_stream: str | None = None,
    *,
    allowed_lateness: str = "10 minutes",
    label_delay_days: float = 7.0,
    state_ttl_ms: int | None = None,
    keys: StageKeys | None = None,
    aggregates: bool = False,
    source_options: dict[str, str] | None = None,
    source: DataFrame | None = None,
    history: pd.DataFrame | None = None,
) -> DataFrame:
    """Every record of the transactions and labels streams once, packed STAGED_SCHEMA rows
    (`unpacked` reads them): a `status` (ok, duplicate, late, invalid, label for a valid chargeback,
    or aggregate for a closed window) and, for accepted transactions, the features of FEATURE_SPEC.

    Args:
        spark: the session.
        stream: the transactions stream.
        labels_stream: the chargebacks stream (terminal fraud rates); None: no labels (rates stay 0).
        allowed_lateness: the watermark delay.
        label_delay_days: how long after a transaction its chargeback is known (whole hours).
        state_ttl_ms: forget a card not seen for this long (None: never).
        keys: the stages' keys (see `card_staged`).
        aggregates: also emit each card's closed windows (rows of status `aggregate`).
        source_options: further options of the Kinesis source.
        source: the records to read instead of the streams' (see `card_staged`).
        history: transactions to start a new checkpoint's card and terminal state from
            (`processor.history`; ignored when the query restarts from its checkpoint).
    """
    keys = keys or session_stage_keys(spark)
    seeds = seed_frames(spark, history, keys) if history is not None else (None, None)
    cards = card_staged(
        spark,
        stream,
        labels_stream,
        allowed_lateness=allowed_lateness,
        state_ttl_ms=state_ttl_ms,
        keys=keys,
        aggregates=aggregates,
        source_options=source_options,
        source=source,
        initial_state=seeds[0],
    )
    return cards.groupBy("route").transformWithStateInPandas(
        TerminalStage(label_delay_days=label_delay_days),
        PACKED_SCHEMA,
        "Append",
        "None",
        initialState=seeds[1].groupBy("route") if seeds[1] is not None else None,
    )
