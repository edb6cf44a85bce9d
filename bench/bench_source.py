"""Kinesis source (Spark, Python Data Source API) drain rate vs raw GetRecords on the same emulator.

Raw: a single client reads every shard to its end with GetRecords (Limit 10,000). Source: a
streaming query drains the same backlog and only counts rows. The source reads each record from
Kinesis once: the driver's look-ahead, which plans the bounded batches, hands the records it read to
the executors. The emulator serving the records is the floor of both, so raw is the source's ceiling
on one machine (its look-ahead overlaps the calls of its shards, which raw does not).

The query runs twice in one Spark session, each from an empty checkpoint over the same backlog: the
first pays the session's start-up (JVM warm-up, Python worker daemon), about as much time again as
the drain on this size, and is reported beside; the second is the measured drain rate.

No target of its own: the source is part of the pipeline benchmark's. Size: `days` of the
generator's default world (about 11,000 records a day). Run: `fraudstream bench --only source`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import boto3

from bench._emulator import emulator_process
from bench.results import BenchResult, Target, format_ratio
from producer.dead_letter import DeadLetterFile
from producer.delivery import DeliveryConfig, StreamKind, deliveries
from producer.kinesis_writer import KinesisWriter
from synthetic.generator import GeneratorConfig, TransactionGenerator

TARGETS: tuple[Target, ...] = ()
SIZE: dict[str, Any] = {"days": 8}
QUICK_SIZE: dict[str, Any] = {"days": 1}


def _fill(kinesis: Any, stream: str, days: int) -> int:
    gen = TransactionGenerator(GeneratorConfig(seed=3), date(2026, 1, 1))
    writer = KinesisWriter(stream, dead_letter=DeadLetterFile(Path(tempfile.mkdtemp()) / "dl.jsonl"), client=kinesis)
    n = 0
    for d in deliveries((gen.next_day() for _ in range(days)), DeliveryConfig(emit_labels=False)):
        if d.stream is StreamKind.TRANSACTIONS:
            writer.put(d.partition_key, d.data)
            n += 1
    writer.flush()
    writer.close()
    return n


def _raw_drain(kinesis: Any, stream: str) -> int:
    total = 0
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        while True:
            response = kinesis.get_records(ShardIterator=it, Limit=10_000)
            total += len(response["Records"])
            if not response["Records"]:
                break
            it = response["NextShardIterator"]
    return total


def run(days: int = 8) -> dict[str, Any]:
    """Fill a 4-shard stream with `days` of synthetic transactions and drain it both ways."""
    from processor.kinesis_source import KinesisDataSource
    from processor.spark import build_session

    with emulator_process() as env:
        os.environ.update(env)
        kinesis = boto3.client("kinesis")
        stream = f"bench-{uuid.uuid4().hex[:8]}"
        kinesis.create_stream(StreamName=stream, ShardCount=4)
        kinesis.get_waiter("stream_exists").wait(StreamName=stream)
        n = _fill(kinesis, stream, days)

        t0 = time.perf_counter()
        assert _raw_drain(kinesis, stream) == n
        raw = n / (time.perf_counter() - t0)

        spark = build_session("bench-source", "local[2]", shuffle_partitions=2, extra={"spark.ui.enabled": "false"})
        spark.sparkContext.setLogLevel("ERROR")
        spark.dataSource.register(KinesisDataSource)
        try:
            first = n / _source_drain(spark, stream, n)  # the session's first query: start-up included
            source = n / _source_drain(spark, stream, n)
        finally:
            spark.stop()
        return {
            "records": n,
            "raw_get_records_per_s": round(raw),
            "source_per_s": round(source),
            "ratio": round(source / raw, 3),
            "first_query_source_per_s": round(first),
            "first_query_ratio": round(first / raw, 3),
        }


def _source_drain(spark: Any, stream: str, n: int) -> float:
    """Seconds a new streaming query takes to drain the stream from its start, counting rows."""
    counted = [0]

    def count(df: Any, _: int) -> None:
        counted[0] += df.count()

    query = (
        spark.readStream.format("fraudstream-kinesis")
        .option("streamName", stream)
        .option("maxRecordsPerBatch", "100000")
        .option("minGetRecordsIntervalMs", "0")
        .load()
        .writeStream.foreachBatch(count)
        .option("checkpointLocation", tempfile.mkdtemp())
        .start()
    )
    t0 = time.perf_counter()
    try:
        query.processAllAvailable()
        elapsed = time.perf_counter() - t0
    finally:
        query.stop()
    assert counted[0] == n, (counted[0], n)
    return elapsed


def measure(quick: bool = False) -> list[BenchResult]:
    """The benchmark's row: `run` at the default or the `--quick` size."""
    size = QUICK_SIZE if quick else SIZE
    f = run(**size)
    return [
        BenchResult(
            benchmark="source",
            name="source",
            description=(
                "Kinesis source on Spark (`processor/kinesis_source.py`) draining a 4-shard backlog of "
                f"{f['records']:,} records vs raw GetRecords, same emulator, in a warmed-up Spark session"
            ),
            measured=(
                f"{f['source_per_s']:,} vs {f['raw_get_records_per_s']:,} records/s = **{format_ratio(f['ratio'])}x** "
                f"(each record read once; the session's first query, start-up included: "
                f"{format_ratio(f['first_query_ratio'])}x)"
            ),
            figures=f,
            targets=TARGETS,
            target_note="(part of the pipeline's)",
            size=size,
        )
    ]


if __name__ == "__main__":
    from bench.results import print_results

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    print_results(measure())
