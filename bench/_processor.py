"""What the processor benchmarks share: a model, backlogs put on the streams, and a drain of them by
`run_job` whose batches are timed."""

from __future__ import annotations

import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any

from producer.dead_letter import DeadLetterFile
from producer.delivery import DeliveryConfig, StreamKind, deliveries
from producer.kinesis_writer import KinesisWriter

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pandas as pd

    from fraudstream.config import ResourceSettings

__all__ = ["Drain", "drain", "model", "put_history", "replay_files"]


def model(history: pd.DataFrame, folder: Path) -> Path:
    """A model trained on the benchmark's own features (scoring cost is what matters here)."""
    import xgboost as xgb

    from ml_model.artifact import ModelCard, write_artifact
    from ml_model.features import FEATURE_SPEC, compute_features

    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 6, "seed": 1, "tree_method": "hist"},
        xgb.DMatrix(compute_features(history, label_delay_days=1.0).to_numpy(), label=history["is_fraud"]),
        num_boost_round=100,
    )
    spec = FEATURE_SPEC.with_label_delay(1.0)  # the benchmarks' streams carry chargebacks a day late
    card = ModelCard(model_version="bench", feature_spec_hash=spec.hash, threshold=0.5)
    return write_artifact(booster, spec, card, folder)


def put_history(frames: Iterable[pd.DataFrame], resources: ResourceSettings, kinesis: Any) -> int:
    """Puts the days' transactions and their chargebacks (label delay 1 day) on the streams; returns
    how many transactions."""
    streams = {StreamKind.TRANSACTIONS: resources.transactions_stream, StreamKind.LABELS: resources.labels_stream}
    dead_letters = Path(tempfile.mkdtemp(prefix="bench-dead-letters-"))
    writers = {
        kind: KinesisWriter(name, dead_letter=DeadLetterFile(dead_letters / f"{kind}.jsonl"), client=kinesis)
        for kind, name in streams.items()
    }
    n = 0
    for d in deliveries(frames, DeliveryConfig(label_delay_days=1.0)):
        writers[d.stream].put(d.partition_key, d.data)
        n += d.stream is StreamKind.TRANSACTIONS
    for writer in writers.values():
        writer.flush()
        writer.close()
    return n


def replay_files(
    frames: Iterable[pd.DataFrame], resources: ResourceSettings, folder: Path, records_per_file: int
) -> int:
    """Writes the days' transactions and chargebacks as the Kinesis source's rows (KINESIS_SCHEMA:
    payload, stream, two shards by partition key, sequence numbers and arrival times in order) to
    Parquet files of `records_per_file` records, for a file source to replay; returns how many
    transactions."""
    from datetime import UTC, datetime, timedelta

    import pyarrow as pa
    import pyarrow.parquet as pq

    streams = {StreamKind.TRANSACTIONS: resources.transactions_stream, StreamKind.LABELS: resources.labels_stream}
    # Arrival after every event, as a put of the backlog now gives: parsing refuses events from the far
    # future of their arrival, and a replay that quarantined them would measure much less work.
    start = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    n = files = 0

    def flush() -> None:
        nonlocal files
        pq.write_table(pa.Table.from_pylist(rows), folder / f"records-{files:05d}.parquet")
        files += 1
        rows.clear()

    folder.mkdir(parents=True, exist_ok=True)
    for i, d in enumerate(deliveries(frames, DeliveryConfig(label_delay_days=1.0))):
        rows.append(
            {
                "data": d.data,
                "partition_key": d.partition_key,
                "stream_name": streams[d.stream],
                "shard_id": f"shardId-{zlib.crc32(d.partition_key.encode()) % 2:012d}",
                "sequence_number": str(10**20 + i),
                "approximate_arrival_timestamp": start + timedelta(microseconds=i),
            }
        )
        n += d.stream is StreamKind.TRANSACTIONS
        if len(rows) == records_per_file:
            flush()
    if rows:
        flush()
    return n


@dataclass
class Drain:
    """A drain's figures: how long from the query's start, and each batch's end and rows."""

    elapsed_s: float = 0.0
    rows: int = 0
    quarantined: int = 0
    ends: list[float] = field(default_factory=list)  # seconds after the query's start
    batch_rows: list[int] = field(default_factory=list)

    @property
    def first_batch_s(self) -> float:
        """The query's start and its first batch (Python workers, state stores, the first plan)."""
        return self.ends[0] if self.ends else self.elapsed_s

    @property
    def steady_per_s(self) -> float:
        """Rows per second over the batches after the first (back to back while a backlog lasts)."""
        if len(self.ends) < 2:
            return self.rows / max(self.elapsed_s, 1e-9)
        return sum(self.batch_rows[1:]) / max(self.ends[-1] - self.ends[0], 1e-9)

    @property
    def batch_s(self) -> float:
        """The median time of a batch after the first."""
        gaps = [b - a for a, b in zip(self.ends, self.ends[1:], strict=False)]
        return median(gaps) if gaps else self.first_batch_s

    def figures(self, prefix: str) -> dict[str, Any]:
        return {
            f"{prefix}_rows": self.rows,
            f"{prefix}_quarantined": self.quarantined,
            f"{prefix}_batches": len(self.ends),
            f"{prefix}_elapsed_s": round(self.elapsed_s, 1),
            f"{prefix}_first_batch_s": round(self.first_batch_s, 1),
            f"{prefix}_per_s": round(self.steady_per_s),
            f"{prefix}_with_start_per_s": round(self.rows / max(self.elapsed_s, 1e-9)),
            f"{prefix}_batch_s": round(self.batch_s, 2),
        }


def drain(settings: Any, resources: ResourceSettings, spark: Any, source: Any = None) -> Drain:
    """`run_job(until_idle=True)`, with the end time and rows of every batch that read records
    (`source`: records to read instead of the streams')."""
    from processor.job import run_job

    figures = Drain()
    started = time.monotonic()

    def on_batch(metrics: Any) -> None:
        figures.quarantined += metrics.quarantined
        if metrics.rows_in:
            figures.ends.append(time.monotonic() - started)
            figures.batch_rows.append(metrics.rows_in)

    summary = run_job(settings, resources, until_idle=True, spark=spark, on_batch=on_batch, source=source)
    figures.elapsed_s = summary.elapsed_s
    figures.rows = summary.rows_in
    return figures
