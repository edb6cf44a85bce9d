"""The streaming plan, from Kinesis records to de-duplicated, late-marked rows keyed by card.

Kept apart from the job's sinks so that tests run exactly the plan the job runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from processor.kinesis_source import KinesisDataSource
from processor.parsing import PARSED_SCHEMA, parse_records
from processor.state import INVALID_ROUTE, STAGED_SCHEMA, CardStage

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["staged_transactions"]


def staged_transactions(
    spark: SparkSession,
    stream: str,
    *,
    allowed_lateness: str = "10 minutes",
    source_options: dict[str, str] | None = None,
) -> DataFrame:
    """Parsed transactions after the card stage: each row has a `status` (ok, duplicate, late, invalid).

    Args:
        spark: the session.
        stream: the transactions stream.
        allowed_lateness: how far event time may trail the newest event seen (the watermark delay).
        source_options: further options of the Kinesis source (checkpointLocation, startingPosition, ...).
    """
    spark.dataSource.register(KinesisDataSource)
    reader = spark.readStream.format("fraudstream-kinesis").option("streamName", stream)
    for key, value in (source_options or {}).items():
        reader = reader.option(key, value)
    return (
        reader.load()
        .mapInPandas(parse_records, PARSED_SCHEMA)
        .withColumn("route", F.coalesce(F.when(F.col("reason").isNull(), F.col("card_id")), F.lit(INVALID_ROUTE)))
        # The watermark follows valid events only, and its column is dropped before the stage:
        # Spark would otherwise drop late rows silently, where the stage sends them to quarantine.
        .withColumn("_watermark_time", F.when(F.col("reason").isNull(), F.col("event_time")))
        .withWatermark("_watermark_time", allowed_lateness)
        .drop("_watermark_time")
        .groupBy("route")
        .transformWithStateInPandas(CardStage(), STAGED_SCHEMA, "Append", "EventTime", eventTimeColumnName="emit_time")
    )
