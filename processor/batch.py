"""What the job does with each micro-batch (`foreachBatch`): in executor tasks, one per partition of the
staged rows, score the accepted transactions and write the lake, the alerts, the quarantine, the
aggregates and the chargebacks; on the driver, only start that job and add up the partitions' figures.

Every file a partition writes is named after the batch, the partition and the streaming query, and
every alert is keyed by its transaction: a batch that fails half-way is run again by Spark from its
checkpoint, with the same rows in the same partitions, and overwrites exactly what it wrote before.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.types import BinaryType, DoubleType, LongType, StructField, StructType

from fraudstream.contracts import SCHEMA_VERSION, ScoredBy
from fraudstream.lake import AGGREGATES, LABELS, QUARANTINE, TRANSACTIONS
from ml_model.features import FEATURE_SPEC, epoch_seconds
from processor.aggregates import aggregate_table
from processor.metrics import BatchMetrics, MetricsEmitter
from processor.quarantine import quarantine_rows
from processor.records import STAGED_SCHEMA, RecordStatus, frame_of, read_packed
from processor.spark import prepare_worker_task

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from concurrent.futures import Future

    from pyspark.sql import DataFrame

    from processor.sinks.base import BatchSink

__all__ = [
    "BatchHandler",
    "BatchScorer",
    "PartitionFigures",
    "PartitionSinks",
    "SinkConfig",
    "batch_metrics",
    "label_table",
    "write_partition",
]

logger = logging.getLogger(__name__)

# Event-to-sink latencies travel to the driver as a histogram: 1.2% wide bins from 1 ms to 11 days.
LATENCY_EDGES_MS: Final = np.concatenate([[0.0], np.geomspace(1.0, 1e9, 1801)])
SUMMARY_SCHEMA: Final = StructType(
    [
        StructField("rows_in", LongType()),
        StructField("quarantined", LongType()),
        StructField("duplicates_dropped", LongType()),
        StructField("late", LongType()),
        StructField("alerts", LongType()),
        StructField("fallback_scored", LongType()),
        StructField("newest_arrival_s", DoubleType()),
        StructField("finished_s", DoubleType()),
        StructField("latency_counts", BinaryType()),
    ]
)


class BatchScorer(Protocol):
    """Scores feature rows: one output row per input row, in order, with the columns `score`,
    `scored_by`, `model_version`, `reasons` (a list of feature names) and, optionally, `model_variant`
    and `threshold` (the scoring model's alert threshold)."""

    def score_frame(self, features: pd.DataFrame) -> pd.DataFrame: ...


@dataclass(frozen=True)
class SinkConfig:
    """What an executor needs to write a batch's partition (small and picklable: it travels with the task).

    Attributes:
        lake_bucket: the lake's bucket.
        alerts_table: the DynamoDB alerts table.
        alert_ttl_days: alert items expire this long after their event time.
        aggregates: write closed windows to `aggregates/`.
        model_location: the model (folder, model.tar.gz or s3:// URI).
        endpoint_name: score through this endpoint, the model as fallback (None: the model in process).
        threshold: a row alerts at this score or above; with `own_thresholds`, only a row whose
            model's threshold is unknown.
        own_thresholds: each row alerts at the threshold of the model that scored it (its card's:
            a champion and its challenger each their own); False: `threshold` for every row (set
            explicitly).
        query: the streaming query's identity, in file names.
        endpoints: the AWS endpoint URL of each service the sinks call (`s3`, `dynamodb`,
            `sagemaker-runtime`), as the driver resolves them: executors need not share its environment.
        endpoint_card: the model card (JSON) of the endpoint's model, read and checked by the driver.
    """

    lake_bucket: str
    alerts_table: str
    alert_ttl_days: float
    aggregates: bool
    model_location: str
    endpoint_name: str | None
    threshold: float
    query: str
    own_thresholds: bool = True
    endpoints: tuple[tuple[str, str], ...] = ()
    endpoint_card: str | None = None


@dataclass
class PartitionSinks:
    """The sinks and the scorer a partition writes with."""

    lake: BatchSink
    quarantine: BatchSink
    alerts: BatchSink
    scorer: BatchScorer
    aggregates: BatchSink | None = None
    labels: BatchSink | None = None  # None: chargebacks are not written (unit tests of the other sinks)

    @classmethod
    def build(cls, config: SinkConfig) -> PartitionSinks:
        from fraudstream.aws import dynamodb_client, s3_client, s3_filesystem
        from ml_model.artifact import ModelCard
        from processor.scoring import build_job_scorer, load_model
        from processor.sinks import DynamoDBAlertSink, S3ParquetSink

        endpoints = dict(config.endpoints)
        filesystem = s3_filesystem(endpoint_url=endpoints.get("s3"))
        s3 = s3_client(endpoint_url=endpoints.get("s3"))

        def lake_table(table: Any) -> S3ParquetSink:
            return S3ParquetSink(config.lake_bucket, table, filesystem, query=config.query, s3=s3)

        alerts_client = dynamodb_client(endpoint_url=endpoints.get("dynamodb"))
        return cls(
            lake=lake_table(TRANSACTIONS),
            quarantine=lake_table(QUARANTINE),
            aggregates=lake_table(AGGREGATES) if config.aggregates else None,
            labels=lake_table(LABELS),
            alerts=DynamoDBAlertSink(config.alerts_table, client=alerts_client, ttl_days=config.alert_ttl_days),
            scorer=build_job_scorer(
                load_model(config.model_location),
                config.endpoint_name,
                endpoint_url=endpoints.get("sagemaker-runtime"),
                endpoint_card=ModelCard.from_dict(json.loads(config.endpoint_card)) if config.endpoint_card else None,
            ),
        )

    def close(self) -> None:
        close = getattr(self.scorer, "close", None)
        if close is not None:
            close()


@dataclass(frozen=True)
class PartitionFigures:
    """What one partition of a batch did."""

    rows_in: int
    quarantined: int
    duplicates_dropped: int
    late: int
    alerts: int
    fallback_scored: int
    newest_arrival_s: float | None  # None without accepted rows
    finished_s: float
    latency_counts: np.ndarray  # per bin of LATENCY_EDGES_MS

    def to_row(self) -> dict[str, Any]:
        return {
            **{f.name: getattr(self, f.name) for f in SUMMARY_SCHEMA.fields if f.name != "latency_counts"},
            "latency_counts": self.latency_counts.astype(np.int64).tobytes(),
        }

    @classmethod
    def from_row(cls, row: Any) -> PartitionFigures:
        values = {f.name: row[f.name] for f in SUMMARY_SCHEMA.fields}
        values["latency_counts"] = np.frombuffer(values["latency_counts"], np.int64)
        return cls(**values)


def write_partition(
    staged: pa.Table,
    *,
    batch_id: int,
    part: int,
    sinks: PartitionSinks,
    threshold: float,
    own_thresholds: bool = False,
    clock: Callable[[], float] = time.time,
) -> PartitionFigures:
    """Score one partition's accepted transactions and write every sink for them.

    Args:
        staged: the partition's rows of the stages' output (STAGED_SCHEMA, Arrow).
        batch_id: the micro-batch.
        part: the partition, in file names.
        sinks: where to write, and the scorer.
        threshold: a row alerts when its score is at or above it.
        own_thresholds: a row alerts at the threshold of the model that scored it (the scorer's
            `threshold` column), `threshold` when that is unknown.
        clock: seconds since the epoch (injectable for tests).
    """
    processed_at = datetime.fromtimestamp(clock(), UTC)
    kind = staged.column("status")
    windows = pc.equal(kind, RecordStatus.AGGREGATE.value)
    labels = pc.equal(kind, RecordStatus.LABEL.value)
    writes = []
    # Closed windows (as many as two per transaction in a backlog) go straight from Arrow to their table.
    if sinks.aggregates is not None and pc.any(windows).as_py():
        writes.append((sinks.aggregates, aggregate_table(staged.filter(windows), batch_id)))
    if sinks.labels is not None and pc.any(labels).as_py():
        writes.append((sinks.labels, label_table(frame_of(staged.filter(labels)), batch_id, processed_at)))
    # The rest are records of the stream (invalid chargebacks among them).
    staged = frame_of(staged.filter(pc.invert(pc.or_(windows, labels))))
    status = staged["status"]
    accepted = staged[status == RecordStatus.OK.value].reset_index(drop=True)
    lake_table = _scored_table(accepted, sinks.scorer, threshold, own_thresholds, batch_id, processed_at)
    bad = quarantine_rows(staged, batch_id, now=processed_at)
    writes += [(sinks.lake, lake_table), (sinks.alerts, lake_table), (sinks.quarantine, bad)]
    # The sinks wait on the network: they write side by side (a failure fails the partition).
    written = {sink: _WRITERS.submit(sink.write, batch_id, table, part=part) for sink, table in writes}
    alerts = {sink: future.result() for sink, future in written.items()}[sinks.alerts]

    finished = clock()
    # Latency from the moment Kinesis received the record to the moment its partition is written.
    arrival_s = epoch_seconds(accepted["arrival_time"])
    latency_ms = (finished - arrival_s) * 1000
    return PartitionFigures(
        rows_in=len(staged),
        quarantined=bad.num_rows,
        duplicates_dropped=int((status == RecordStatus.DUPLICATE.value).sum()),
        late=int((status == RecordStatus.LATE.value).sum()),
        alerts=alerts,
        fallback_scored=lake_table["scored_by"].to_numpy(zero_copy_only=False).tolist().count(ScoredBy.FALLBACK.value),
        newest_arrival_s=float(arrival_s.max()) if len(arrival_s) else None,
        finished_s=finished,
        latency_counts=np.histogram(np.clip(latency_ms, 0, None), LATENCY_EDGES_MS)[0],
    )


def label_table(labels: pd.DataFrame, batch_id: int, processed_at: datetime) -> pa.Table:
    """The lake's labels/ rows for a partition's valid chargebacks (staged rows of status `label`,
    whose `event_time` is their transaction's)."""
    rows = labels.assign(
        schema_version=SCHEMA_VERSION,
        tx_event_time=pd.to_datetime(labels["event_time"], utc=True),
        label_time=pd.to_datetime(labels["label_time"], utc=True),
        arrival_time=pd.to_datetime(labels["arrival_time"], utc=True),
        is_fraud=labels["is_fraud"].astype("int32"),
        batch_id=batch_id,
        processed_at=pd.Timestamp(processed_at),
    )
    return pa.Table.from_pandas(rows[LABELS.schema.names], schema=LABELS.schema, preserve_index=False)


def _scored_table(
    accepted: pd.DataFrame,
    scorer: BatchScorer,
    threshold: float,
    own_thresholds: bool,
    batch_id: int,
    processed_at: datetime,
) -> pa.Table:
    if accepted.empty:
        return TRANSACTIONS.schema.empty_table()
    features = accepted[list(FEATURE_SPEC.names)].astype("float64")
    scored = scorer.score_frame(features)
    if len(scored) != len(accepted):
        raise RuntimeError(f"the scorer returned {len(scored)} rows for {len(accepted)}")
    score = scored["score"].to_numpy(dtype="float64")
    thresholds = np.full(len(score), threshold)
    if own_thresholds and "threshold" in scored:
        own = scored["threshold"].to_numpy(dtype="float64")
        thresholds = np.where(np.isnan(own), thresholds, own)
    rows = accepted.assign(
        event_time=pd.to_datetime(accepted["event_time"], utc=True),
        arrival_time=pd.to_datetime(accepted["arrival_time"], utc=True),
        score=score,
        scored_by=scored["scored_by"].to_numpy(),
        model_version=scored["model_version"].to_numpy(),
        # A scorer that names no variant (the model in process) leaves it null.
        model_variant=scored["model_variant"].to_numpy() if "model_variant" in scored else None,
        reasons=list(scored["reasons"]),
        is_alert=score >= thresholds,
        batch_id=batch_id,
        processed_at=pd.Timestamp(processed_at),
    )
    return pa.Table.from_pandas(rows[TRANSACTIONS.schema.names], schema=TRANSACTIONS.schema, preserve_index=False)


def _percentile_ms(counts: np.ndarray, q: float) -> float:
    total = int(counts.sum())
    if total == 0:
        return 0.0
    i = int(np.searchsorted(np.cumsum(counts), q / 100 * total, side="left"))
    low, high = LATENCY_EDGES_MS[i], LATENCY_EDGES_MS[i + 1]
    return float(np.sqrt(low * high)) if low > 0 else float(high)


def batch_metrics(batch_id: int, parts: Iterable[PartitionFigures], *, started_s: float) -> BatchMetrics:
    """The batch's figures from its partitions' (the driver's only per-batch arithmetic)."""
    parts = list(parts)
    finished = max((p.finished_s for p in parts), default=started_s)
    rows_in = sum(p.rows_in for p in parts)
    counts = np.sum([p.latency_counts for p in parts], axis=0) if parts else np.zeros(0, np.int64)
    arrivals = [p.newest_arrival_s for p in parts if p.newest_arrival_s is not None]
    return BatchMetrics(
        batch_id=batch_id,
        rows_in=rows_in,
        quarantined=sum(p.quarantined for p in parts),
        duplicates_dropped=sum(p.duplicates_dropped for p in parts),
        late=sum(p.late for p in parts),
        alerts=sum(p.alerts for p in parts),
        fallback_scored=sum(p.fallback_scored for p in parts),
        rows_per_s=rows_in / max(finished - started_s, 1e-6),
        event_to_sink_p50_ms=_percentile_ms(counts, 50),
        event_to_sink_p99_ms=_percentile_ms(counts, 99),
        # How old the newest record of the batch was when the batch was written.
        source_lag_ms=max(0.0, (finished - max(arrivals)) * 1000) if arrivals else 0.0,
    )


_WRITERS: Final = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sink")
# Per executor Python process: the sinks and scorer of the configurations it has written with (a
# scorer loads the model and, with an endpoint, checks its feature spec once).
_SINKS: OrderedDict[SinkConfig, PartitionSinks] = OrderedDict()
_SINKS_LOCK = threading.Lock()
_SINKS_KEPT = 2


def _sinks_for(config: SinkConfig) -> PartitionSinks:
    with _SINKS_LOCK:
        sinks = _SINKS.get(config)
        if sinks is None:
            sinks = _SINKS[config] = PartitionSinks.build(config)
            while len(_SINKS) > _SINKS_KEPT:
                _SINKS.popitem(last=False)[1].close()
        _SINKS.move_to_end(config)
        return sinks


class PartitionWriter:
    """The `mapInPandas` function that writes one partition of a batch (packed staged rows) and
    returns its figures (one row)."""

    def __init__(self, config: SinkConfig, batch_id: int) -> None:
        self.config = config
        self.batch_id = batch_id

    def __call__(self, frames: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from pyspark import TaskContext

        prepare_worker_task()
        staged = read_packed([blob for frame in frames for blob in frame["rows"]], STAGED_SCHEMA)
        context = TaskContext.get()
        part = context.partitionId() if context is not None else 0
        if staged.num_rows == 0:
            empty = np.zeros(len(LATENCY_EDGES_MS) - 1, np.int64)
            figures = PartitionFigures(0, 0, 0, 0, 0, 0, None, time.time(), empty)
        else:
            figures = write_partition(
                staged,
                batch_id=self.batch_id,
                part=part,
                sinks=_sinks_for(self.config),
                threshold=self.config.threshold,
                own_thresholds=self.config.own_thresholds,
            )
        yield pd.DataFrame([figures.to_row()])


class BatchHandler:
    """The foreachBatch function: writes a batch in executor tasks and emits its figures.

    Args:
        config: the sink configuration, resolved once, at the first batch (after `model_ready`).
        metrics: where each batch's figures go.
        model_ready: the model is still being trained (the demo): the first batch computes its
            stateful stages, then waits for this future before it scores; its error fails the batch.
        clock: seconds since the epoch.
    """

    def __init__(
        self,
        config: Callable[[], SinkConfig],
        *,
        metrics: MetricsEmitter | None = None,
        model_ready: Future[Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._resolve = config
        self.config: SinkConfig | None = None
        self.metrics = metrics or MetricsEmitter()
        self.model_ready = model_ready
        self.clock = clock

    def __call__(self, df: DataFrame, batch_id: int) -> None:
        started = self.clock()
        cached = None
        if self.config is None:
            if self.model_ready is not None:
                if not self.model_ready.done():
                    # The stateful stages run while the model trains; their rows wait in memory.
                    cached = df.persist()
                    cached.count()
                self.model_ready.result()
            self.config = self._resolve()
        try:
            rows = (cached or df).mapInPandas(PartitionWriter(self.config, batch_id), SUMMARY_SCHEMA).collect()
        finally:
            if cached is not None:
                cached.unpersist()
        self.metrics.emit(batch_metrics(batch_id, map(PartitionFigures.from_row, rows), started_s=started))
