"""What the job does with each micro-batch (`foreachBatch`): score the accepted transactions, then
write the lake, the alerts and the quarantine, each idempotently per batch id, and report figures.

Sinks are written in a fixed order and every one of them overwrites its own output on a re-run, so
a batch that fails half-way is simply run again by Spark from its checkpoint: exactly once.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from fraudstream.lake import TRANSACTIONS
from ml_model.features import FEATURE_SPEC
from processor.aggregates import aggregate_table
from processor.metrics import BatchMetrics, MetricsEmitter
from processor.quarantine import quarantine_rows
from processor.records import RecordStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyspark.sql import DataFrame

    from processor.sinks.base import BatchSink

__all__ = ["BatchHandler", "BatchScorer"]

logger = logging.getLogger(__name__)


class BatchScorer(Protocol):
    """Scores feature rows: one output row per input row, in order, with the columns `score`,
    `scored_by`, `model_version` and `reasons` (a list of feature names)."""

    def score_frame(self, features: pd.DataFrame) -> pd.DataFrame: ...


def _percentile_ms(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else 0.0


class BatchHandler:
    """The foreachBatch function.

    Args:
        lake: the `transactions/` sink.
        alerts: the DynamoDB alerts sink.
        quarantine: the `quarantine/` sink.
        scorer: endpoint client with local fallback (or the local model alone).
        aggregates: the `aggregates/` sink for the closed windows among the staged rows (None: dropped).
        threshold: a row alerts when its score is at or above it.
        metrics: where each batch's figures go.
        clock: seconds since the epoch (injectable for tests).
    """

    def __init__(
        self,
        *,
        lake: BatchSink,
        alerts: BatchSink,
        quarantine: BatchSink,
        scorer: BatchScorer,
        aggregates: BatchSink | None = None,
        threshold: float,
        metrics: MetricsEmitter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lake = lake
        self.alerts = alerts
        self.quarantine = quarantine
        self.aggregates = aggregates
        self.scorer = scorer
        self.threshold = threshold
        self.metrics = metrics or MetricsEmitter()
        self.clock = clock

    def __call__(self, df: DataFrame, batch_id: int) -> None:
        self.handle(df.toPandas(), batch_id)

    def handle(self, staged: pd.DataFrame, batch_id: int) -> BatchMetrics:
        """Process one batch of staged rows (the card and terminal stages' output)."""
        started = self.clock()
        processed_at = datetime.fromtimestamp(started, UTC)
        windows = staged["status"] == RecordStatus.AGGREGATE.value
        if self.aggregates is not None:
            self.aggregates.write(batch_id, aggregate_table(staged, batch_id))
        staged = staged[~windows]  # the rest are records of the stream
        status = staged["status"]
        accepted = staged[status == RecordStatus.OK.value].reset_index(drop=True)

        lake_table = self._scored_table(accepted, batch_id, processed_at)
        self.lake.write(batch_id, lake_table)
        alerts = self.alerts.write(batch_id, lake_table)
        bad = quarantine_rows(staged, batch_id, now=processed_at)
        self.quarantine.write(batch_id, bad)

        finished = self.clock()
        # Latency from the moment Kinesis received the record to the moment its batch is written.
        arrival_s = pd.to_datetime(accepted["arrival_time"], utc=True).astype("int64").to_numpy() / 1e9
        latency_ms = (finished - arrival_s) * 1000
        newest_arrival = float(arrival_s.max()) if len(arrival_s) else finished
        figures = BatchMetrics(
            batch_id=batch_id,
            rows_in=len(staged),
            quarantined=bad.num_rows,
            duplicates_dropped=int((status == RecordStatus.DUPLICATE.value).sum()),
            late=int((status == RecordStatus.LATE.value).sum()),
            alerts=alerts,
            fallback_scored=int(lake_table["scored_by"].to_numpy(zero_copy_only=False).tolist().count("fallback")),
            rows_per_s=len(staged) / max(finished - started, 1e-6),
            event_to_sink_p50_ms=_percentile_ms(latency_ms, 50),
            event_to_sink_p99_ms=_percentile_ms(latency_ms, 99),
            # How old the newest record of the batch was when the batch was written.
            source_lag_ms=max(0.0, (finished - newest_arrival) * 1000),
        )
        self.metrics.emit(figures)
        return figures

    def _scored_table(self, accepted: pd.DataFrame, batch_id: int, processed_at: datetime) -> pa.Table:
        if accepted.empty:
            return TRANSACTIONS.schema.empty_table()
        features = accepted[list(FEATURE_SPEC.names)].astype("float64")
        scored = self.scorer.score_frame(features)
        if len(scored) != len(accepted):
            raise RuntimeError(f"the scorer returned {len(scored)} rows for {len(accepted)}")
        rows = accepted.assign(
            event_time=pd.to_datetime(accepted["event_time"], utc=True),
            arrival_time=pd.to_datetime(accepted["arrival_time"], utc=True),
            score=scored["score"].to_numpy(dtype="float64"),
            scored_by=scored["scored_by"].to_numpy(),
            model_version=scored["model_version"].to_numpy(),
            reasons=list(scored["reasons"]),
            is_alert=scored["score"].to_numpy(dtype="float64") >= self.threshold,
            batch_id=batch_id,
            processed_at=pd.Timestamp(processed_at),
        )
        return pa.Table.from_pandas(rows[TRANSACTIONS.schema.names], schema=TRANSACTIONS.schema, preserve_index=False)
