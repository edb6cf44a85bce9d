"""The streaming plan, from Kinesis records to staged rows: every record once, with its status and,
for accepted transactions, every feature of the spec.

    transactions ─ parse ─ watermark ─ card stage (key: card) ─┐
    labels ─────── parse ──────────────────────────────────────┴─ terminal stage (key: terminal) ─> staged

Kept apart from the job's sinks so that tests run exactly the plan the job runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from processor.kinesis_source import KinesisDataSource
from processor.parsing import LABELS_SCHEMA, PARSED_SCHEMA, parse_label_records, parse_records
from processor.state import (
    AGGREGATE_WINDOW_MS,
    CARD_STAGE_SCHEMA,
    DEFAULT_STATE_BUCKETS,
    INVALID_ROUTE,
    STAGED_SCHEMA,
    TERMINAL_STAGE_INPUT_SCHEMA,
    CardStage,
    RecordStatus,
    TerminalStage,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["card_staged", "staged_transactions"]


def _bucket(entity: str, buckets: int) -> Column:
    """The stage key of a card (terminal): a hash bucket, so that one call serves many cards."""
    return F.concat(F.lit("b"), F.pmod(F.xxhash64(F.col(entity)), F.lit(buckets)).cast("string"))


def _kinesis(spark: SparkSession, stream: str, options: dict[str, str] | None) -> DataFrame:
    spark.dataSource.register(KinesisDataSource)
    reader = spark.readStream.format("fraudstream-kinesis").option("streamName", stream)
    for key, value in (options or {}).items():
        reader = reader.option(key, value)
    return reader.load()


def card_staged(
    spark: SparkSession,
    stream: str,
    *,
    allowed_lateness: str = "10 minutes",
    state_ttl_ms: int | None = None,
    state_buckets: int = DEFAULT_STATE_BUCKETS,
    aggregates: bool = False,
    source_options: dict[str, str] | None = None,
) -> DataFrame:
    """Parsed transactions after the card stage (CARD_STAGE_SCHEMA), watermarked on `emit_time`.

    Args:
        spark: the session.
        stream: the transactions stream.
        allowed_lateness: how far event time may trail the newest event seen (the watermark delay).
        state_ttl_ms: forget a card not seen for this long (None: never).
        state_buckets: keys of the stage (fixed by the checkpoint).
        aggregates: also emit each card's closed 10-minute windows (sliding every 5) as rows of
            status `aggregate`.
        source_options: further options of the Kinesis source (checkpointLocation, startingPosition, ...).
    """
    valid = F.col("reason").isNull()
    return (
        _kinesis(spark, stream, source_options)
        .mapInPandas(parse_records, PARSED_SCHEMA)
        .withColumn("route", F.coalesce(F.when(valid, _bucket("card_id", state_buckets)), F.lit(INVALID_ROUTE)))
        # The watermark follows valid events only, and its column is dropped before the stage:
        # Spark would otherwise drop late rows silently, where the stage sends them to quarantine.
        .withColumn("_watermark_time", F.when(valid, F.col("event_time")))
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


def _label_rows(labels: DataFrame, buckets: int) -> DataFrame:
    """Parsed labels in the terminal stage's input: status `label` (or `invalid`), event time the transaction's."""
    valid = F.col("reason").isNull()
    columns: dict[str, Column] = {
        "event_time": F.col("tx_event_time"),
        "route": F.coalesce(F.when(valid, _bucket("terminal_id", buckets)), F.lit(INVALID_ROUTE)),
        "status": F.when(valid, F.lit(RecordStatus.LABEL.value)).otherwise(F.lit(RecordStatus.INVALID.value)),
        # Any time will do: labels are not judged late, and none leaves the terminal stage.
        "emit_time": F.col("arrival_time"),
    }
    return labels.select(
        *[
            (columns[f.name] if f.name in columns else F.col(f.name) if f.name in LABELS_SCHEMA.names else F.lit(None))
            .cast(f.dataType)
            .alias(f.name)
            for f in TERMINAL_STAGE_INPUT_SCHEMA.fields
        ]
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
    late, invalid) and, for accepted transactions, the features of FEATURE_SPEC.

    Args:
        spark: the session.
        stream: the transactions stream.
        labels_stream: the chargebacks stream (terminal fraud rates); None: no labels (rates stay 0).
        allowed_lateness: the watermark delay.
        label_delay_days: how long after a transaction its chargeback is known.
        state_ttl_ms: forget a card not seen for this long (None: never).
        state_buckets: keys of each stage (fixed by the checkpoint).
        aggregates: also emit each card's closed windows (rows of status `aggregate`).
        source_options: further options of both Kinesis sources.
    """
    cards = card_staged(
        spark,
        stream,
        allowed_lateness=allowed_lateness,
        state_ttl_ms=state_ttl_ms,
        state_buckets=state_buckets,
        aggregates=aggregates,
        source_options=source_options,
    )
    accepted = F.col("status") == RecordStatus.OK.value
    to_terminals = cards.select(
        *[
            F.coalesce(F.when(accepted, _bucket("terminal_id", state_buckets)), F.lit(INVALID_ROUTE)).alias("route")
            if f.name == "route"
            else F.lit(None).cast(f.dataType).alias(f.name)
            if f.name == "is_fraud"
            else F.col(f.name)
            for f in TERMINAL_STAGE_INPUT_SCHEMA.fields
        ]
    )
    if labels_stream is not None:
        labels = _kinesis(spark, labels_stream, source_options).mapInPandas(parse_label_records, LABELS_SCHEMA)
        to_terminals = to_terminals.unionByName(_label_rows(labels, state_buckets))
    return to_terminals.groupBy("route").transformWithStateInPandas(
        TerminalStage(label_delay_days=label_delay_days),
        STAGED_SCHEMA,
        "Append",
        "None",
    )
