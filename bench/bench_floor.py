"""The floor under the latency target: how fast Spark itself turns a micro-batch around on this machine.

Two minimal queries on the processor's own session settings (`build_session`: RocksDB state store,
changelog checkpointing, local shuffle partitions), fed by Spark's built-in `rate` source at the
latency benchmark's offered rate, each ending in a `foreachBatch` that collects its rows to pandas
as the job's sink does:

plain      rate -> foreachBatch: no state, no Python stage; Spark's micro-batch machinery alone.
one stage  rate -> watermark -> transformWithStateInPandas (pass-through, one ValueState update
           per key, the job's keys: one per partition) -> foreachBatch: the smallest query of the
           processor's kind. The job chains two such stages and adds a Python source, parsing,
           features and scoring.

A row's latency is from its `rate` timestamp (when the source made it available) to the end of the
`foreachBatch` call that received it; the first batches (workers starting) are left out. No
Kinesis, emulator, model or sink takes part: whatever these rows show, the whole job cannot beat.

Run: `fraudstream bench --only floor`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from bench.results import BenchResult

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql import DataFrame, SparkSession

SIZE: dict[str, Any] = {"tps": 1_000, "warmup_s": 10, "measured_s": 40}
QUICK_SIZE: dict[str, Any] = {"tps": 200, "warmup_s": 5, "measured_s": 10}
MODES = ("plain", "one stage")


def _one_stage(stream: DataFrame) -> DataFrame:
    from pyspark.sql.streaming.stateful_processor import StatefulProcessor, StatefulProcessorHandle
    from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

    count_schema = StructType([StructField("n", LongType())])

    class PassThrough(StatefulProcessor):
        def init(self, handle: StatefulProcessorHandle) -> None:
            self.count = handle.getValueState("count", count_schema)

        def handleInputRows(self, key: Any, rows: Iterator[pd.DataFrame], timerValues: Any) -> Iterator[pd.DataFrame]:
            frame = pd.concat(list(rows), ignore_index=True)
            stored = self.count.get() if self.count.exists() else None
            seen = stored[0] if stored else 0
            self.count.update((seen + len(frame),))
            yield frame[["key", "value", "timestamp"]]

        def close(self) -> None:
            pass

    out = StructType(
        [StructField("key", StringType()), StructField("value", LongType()), StructField("timestamp", TimestampType())]
    )
    return (
        stream.withWatermark("timestamp", "10 seconds")
        .groupBy("key")
        .transformWithStateInPandas(PassThrough(), out, "append", "EventTime")
    )


def run(spark: SparkSession, mode: str, *, tps: int, warmup_s: float, measured_s: float) -> dict[str, Any]:
    """One query for `warmup_s + measured_s` seconds; its batch durations and row latencies."""
    from pyspark.sql import functions as F

    from processor.pipeline import session_stage_keys

    # The job's card keys: one per shuffle partition, each hashed to a partition of its own.
    keys = session_stage_keys(spark).cards
    stream = spark.readStream.format("rate").option("rowsPerSecond", tps).load()
    stream = stream.withColumn(
        "key", F.element_at(F.array(*map(F.lit, keys)), (F.col("value") % len(keys) + 1).cast("int"))
    )
    if mode == "one stage":
        stream = _one_stage(stream)
    started = time.time()
    batches: list[tuple[float, float]] = []  # (start, end) of each foreachBatch call, epoch s
    latencies: list[np.ndarray] = []

    def sink(df: DataFrame, batch_id: int) -> None:
        begun = time.time()
        rows = cast("pd.DataFrame", df.toPandas())
        done = time.time()
        batches.append((begun, done))
        made = (pd.to_datetime(rows["timestamp"], utc=True) - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
        latencies.append((done - made)[made >= started + warmup_s])

    with tempfile.TemporaryDirectory(prefix="bench-floor-") as checkpoint:
        writer = stream.writeStream.foreachBatch(sink).option("checkpointLocation", checkpoint)
        query = writer.trigger(processingTime="0 seconds").start()
        threading.Event().wait(warmup_s + measured_s)
        query.stop()
    latency = np.concatenate(latencies) if latencies else np.array([])
    measured = [end - begin for begin, end in batches if begin >= started + warmup_s]
    intervals = np.diff([end for _, end in batches if end >= started + warmup_s])
    return {
        "offered_per_s": tps,
        "measured_rows": len(latency),
        "batches": len(measured),
        "batch_interval_median_s": round(float(np.median(intervals)), 2) if len(intervals) else None,
        "p50_s": round(float(np.percentile(latency, 50)), 2) if len(latency) else None,
        "p99_s": round(float(np.percentile(latency, 99)), 2) if len(latency) else None,
    }


def measure(quick: bool = False) -> list[BenchResult]:
    from processor.spark import build_session

    size = QUICK_SIZE if quick else SIZE
    spark = build_session("fraudstream-bench-floor")
    try:
        figures = {mode: run(spark, mode, **size) for mode in MODES}
    finally:
        spark.stop()
    what = {
        "plain": "Spark's micro-batch floor: `rate` source -> `foreachBatch` (no state, no Python stage)",
        "one stage": "the same with one `transformWithStateInPandas` pass-through stage (the job has two, "
        "plus a Python source, parsing, features and scoring)",
    }
    return [
        BenchResult(
            benchmark="floor",
            name=f"floor-{mode.replace(' ', '-')}",
            description=f"{what[mode]}, {size['tps']:,} rows/s offered, processor's session settings",
            measured=(
                f"p50 **{f['p50_s']:g} s**, p99 **{f['p99_s']:g} s**; a batch every {f['batch_interval_median_s']:g} s"
                if f["p50_s"] is not None
                else "no rows measured"
            ),
            figures=f,
            target_note="(reference: what the latency target has to beat)",
            size=size,
        )
        for mode, f in figures.items()
    ]


if __name__ == "__main__":
    from bench.results import print_results

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    print_results(measure(quick="--quick" in sys.argv))
