"""The streaming plan, from Kinesis records to staged rows: every record once, with its status and,
for accepted transactions, every feature of the spec.

    transactions ─ parse ─┐
    labels ─────── parse ─┴─ watermark ─ card stage (key: card) ─ terminal stage (key: terminal) ─> staged

Kept apart from the job's sinks so that tests run exactly the plan the job runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from processor.card_stage import CardStage
from processor.kinesis_source import KinesisDataSource
from processor.parsing import LABELS_SCHEMA, PARSED_SCHEMA, parse_label_records, parse_records
from processor.records import (
    CARD_STAGE_INPUT_SCHEMA,
    CARD_STAGE_SCHEMA,
    DEFAULT_STATE_BUCKETS,
    INVALID_ROUTE,
    STAGED_SCHEMA,
    THROUGH_ROUTE_PREFIX,
    RecordStatus,
)
from processor.terminal_stage import TerminalStage
from processor.windows import AGGREGATE_WINDOW_MS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["card_staged", "staged_transactions"]


def _bucket(entity: str, buckets: int, prefix: str = "b") -> Column:
    """The stage key of a card (terminal): a hash bucket, so that one call serves many cards."""
    return F.concat(F.lit(prefix), F.pmod(F.xxhash64(F.col(entity)), F.lit(buckets)).cast("string"))


def _kinesis(spark: SparkSession, stream: str, options: dict[str, str] | None) -> DataFrame:
    spark.dataSource.register(KinesisDataSource)
    reader = spark.readStream.format("fraudstream-kinesis").option("streamName", stream)
    for key, value in (options or {}).items():
        reader = reader.option(key, value)
    return reader.load()


def _card_stage_input(frame: DataFrame, columns: dict[str, Column], buckets: int) -> DataFrame:
    """`frame` in CARD_STAGE_INPUT_SCHEMA: routed by card bucket when valid, else to the invalid key."""
    valid = F.col("reason").isNull()
    columns = {"route": F.coalesce(F.when(valid, _bucket("card_id", buckets)), F.lit(INVALID_ROUTE)), **columns}
    return frame.select(
        *[
            (columns[f.name] if f.name in columns else F.col(f.name) if f.name in frame.columns else F.lit(None))
            .cast(f.dataType)
            .alias(f.name)
            for f in CARD_STAGE_INPUT_SCHEMA.fields
        ]
    )


def card_staged(
    spark: SparkSession,
    stream: str,
    labels_stream: str | None = None,
    *,
    allowed_lateness: str = "10 minutes",
    state_ttl_ms: int | None = None,
    state_buckets: int = DEFAULT_STATE_BUCKETS,
    aggregates: bool = False,
    source_options: dict[str, str] | None = None,
) -> DataFrame:
    """Parsed transactions (and chargebacks) after the card stage (CARD_STAGE_SCHEMA), watermarked on `emit_time`.

    Args:
        spark: the session.
        stream: the transactions stream.
        labels_stream: the chargebacks stream; None: no labels (fraud rates stay 0).
        allowed_lateness: how far event time may trail the newest event seen (the watermark delay).
        state_ttl_ms: forget a card not seen for this long (None: never).
        state_buckets: keys of the stage (fixed by the checkpoint).
        aggregates: also emit each card's closed 10-minute windows (sliding every 5) as rows of
            status `aggregate`.
        source_options: further options of the Kinesis sources (checkpointLocation, startingPosition, ...).
    """
    records = _card_stage_input(
        _kinesis(spark, stream, source_options).mapInPandas(parse_records, PARSED_SCHEMA), {}, state_buckets
    )
    if labels_stream is not None:
        labels = _kinesis(spark, labels_stream, source_options).mapInPandas(parse_label_records, LABELS_SCHEMA)
        # A chargeback travels as a row of its card, at its transaction's event time, with `is_fraud`.
        records = records.unionByName(_card_stage_input(labels, {"event_time": F.col("tx_event_time")}, state_buckets))
    valid_transaction = F.col("reason").isNull() & F.col("is_fraud").isNull()
    return (
        # The watermark follows valid transactions only, and its column is dropped before the stage:
        # Spark would otherwise drop late rows silently, where the stage sends them to quarantine.
        records.withColumn("_watermark_time", F.when(valid_transaction, F.col("event_time")))
        .withWatermark("_watermark_time", allowed_lateness)
        .drop("_watermark_time")
        .groupBy("route")
        .transformWithStateInPandas(
            CardStage(state_ttl_ms=state_ttl_ms, window_ms=AGGREGATE_WINDOW_MS if aggregates else None),
            CARD_STAGE_SCHEMA,
            "Append",
            "EventTime",
            eventTimeColumnName="emit_time",
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
    state_buckets: int = DEFAULT_STATE_BUCKETS,
    aggregates: bool = False,
    source_options: dict[str, str] | None = None,
) -> DataFrame:
    """Every record of the transactions stream once, in STAGED_SCHEMA: a `status` (ok, duplicate,
    late, invalid, or aggregate for a closed window) and, for accepted transactions, the features of
    FEATURE_SPEC.

    Args:
        spark: the session.
        stream: the transactions stream.
        labels_stream: the chargebacks stream (terminal fraud rates); None: no labels (rates stay 0).
        allowed_lateness: the watermark delay.
        label_delay_days: how long after a transaction its chargeback is known (whole hours).
        state_ttl_ms: forget a card not seen for this long (None: never).
        state_buckets: keys of each stage (fixed by the checkpoint).
        aggregates: also emit each card's closed windows (rows of status `aggregate`).
        source_options: further options of both Kinesis sources.
    """
    cards = card_staged(
        spark,
        stream,
        labels_stream,
        allowed_lateness=allowed_lateness,
        state_ttl_ms=state_ttl_ms,
        state_buckets=state_buckets,
        aggregates=aggregates,
        source_options=source_options,
    )
    to_terminal = F.col("status").isin(RecordStatus.OK.value, RecordStatus.FRAUD_MARK.value)
    # Rows the terminal stage only passes on are spread over keys of their own.
    passed_on = F.concat(
        F.lit(THROUGH_ROUTE_PREFIX),
        F.pmod(F.xxhash64("card_id", "sequence_number", "window_end"), F.lit(state_buckets)).cast("string"),
    )
    routed = cards.withColumn(
        "route", F.when(to_terminal, _bucket("terminal_id", state_buckets, prefix="t")).otherwise(passed_on)
    )
    return routed.groupBy("route").transformWithStateInPandas(
        TerminalStage(label_delay_days=label_delay_days), STAGED_SCHEMA, "Append", "None"
    )
