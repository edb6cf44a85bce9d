"""Per-card windowed aggregates: 10-minute windows sliding every 5 minutes (count, sum, mean, max
amount), emitted once the watermark has closed each window (append mode): a window's row is final."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
from pyspark.sql import functions as F

from fraudstream.lake import AGGREGATES
from processor.state import RecordStatus

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from processor.sinks.base import BatchSink

__all__ = ["AggregatesWriter", "card_window_aggregates"]


def card_window_aggregates(staged: DataFrame, *, window: str = "10 minutes", slide: str = "5 minutes") -> DataFrame:
    """Aggregates of the accepted transactions of the card stage's output.

    Args:
        staged: the card stage's output (watermarked on `emit_time`, which equals the event time
            for accepted rows).
        window: window length.
        slide: how often a window starts.
    """
    return (
        staged.where(F.col("status") == RecordStatus.OK.value)
        .groupBy(F.window("emit_time", window, slide), F.col("card_id"))
        .agg(
            F.count("*").alias("tx_count"),
            F.sum("amount").alias("amount_sum"),
            F.avg("amount").alias("amount_mean"),
            F.max("amount").alias("amount_max"),
        )
        .select(
            "card_id",
            F.col("window.start").alias("window_start"),
            F.col("window.end").alias("window_end"),
            "tx_count",
            "amount_sum",
            "amount_mean",
            "amount_max",
        )
    )


class AggregatesWriter:
    """The aggregates query's foreachBatch: closed windows to `aggregates/`, idempotently per batch id."""

    def __init__(self, sink: BatchSink) -> None:
        self.sink = sink

    def __call__(self, df: DataFrame, batch_id: int) -> None:
        frame: pd.DataFrame = df.toPandas()
        rows = frame.assign(  # the session's time zone is UTC
            window_start=pd.to_datetime(frame["window_start"], utc=True),
            window_end=pd.to_datetime(frame["window_end"], utc=True),
            batch_id=batch_id,
        )
        self.sink.write(batch_id, pa.Table.from_pandas(rows, schema=AGGREGATES.schema, preserve_index=False))
