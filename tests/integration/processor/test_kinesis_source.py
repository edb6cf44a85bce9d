"""The Kinesis source on real local Spark against the embedded emulator."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from processor.kinesis_source import KINESIS_SCHEMA, KinesisDataSource
from producer.dead_letter import DeadLetterFile
from producer.kinesis_writer import KinesisWriter

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import boto3

    from tests.fault_figures import FaultFigures

pytestmark = pytest.mark.integration


def _put(
    session: boto3.Session, stream: str, tmp_path: Path, start: int, n: int, cards: int = 7
) -> list[dict[str, Any]]:
    writer = KinesisWriter(stream, dead_letter=DeadLetterFile(tmp_path / "dl.jsonl"), client=session.client("kinesis"))
    sent = [{"n": i, "card": f"card-{i % cards}"} for i in range(start, start + n)]
    for record in sent:
        writer.put(str(record["card"]), json.dumps(record).encode())
    writer.flush()
    return sent


def _run(spark: Any, stream: str, checkpoint: Path, max_records: int) -> list[dict[str, Any]]:
    """Drain what is in the stream now into a list of rows, one micro-batch at a time."""
    spark.dataSource.register(KinesisDataSource)
    batches: list[tuple[int, list[dict[str, Any]]]] = []

    def collect(df: Any, batch_id: int) -> None:
        batches.append((batch_id, [r.asDict() for r in df.collect()]))

    query = (
        spark.readStream.format("fraudstream-kinesis")
        .option("streamName", stream)
        .option("maxRecordsPerBatch", str(max_records))
        .option("minGetRecordsIntervalMs", "0")
        .option("checkpointLocation", str(checkpoint))
        .load()
        .writeStream.foreachBatch(collect)
        .option("checkpointLocation", str(checkpoint))
        .trigger(processingTime="0 seconds")
        .start()
    )
    try:
        query.processAllAvailable()
    finally:
        query.stop()
    return [row | {"batch_id": batch_id} for batch_id, rows in batches for row in rows]


def test_reads_every_record_once_per_shard_in_order_in_bounded_batches(
    spark: Any, boto_session: boto3.Session, stream_factory: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN 1,000 records on 3 shards
    stream = stream_factory(shards=3)
    sent = _put(boto_session, stream, tmp_path, 0, 1_000)
    # WHEN the source drains them with at most 300 records per micro-batch
    rows = _run(spark, stream, tmp_path / "checkpoint", max_records=300)
    # THEN every record is read exactly once, with the columns of the contract
    assert sorted(json.loads(r["data"])["n"] for r in rows) == [r["n"] for r in sent]
    assert set(rows[0]) - {"batch_id"} == set(KINESIS_SCHEMA.fieldNames())
    assert {r["stream_name"] for r in rows} == {stream}
    # in bounded batches
    per_batch: dict[int, int] = {}
    for r in rows:
        per_batch[r["batch_id"]] = per_batch.get(r["batch_id"], 0) + 1
    assert len(per_batch) >= 4 and max(per_batch.values()) <= 300
    # and, within a shard, in sequence order across batches
    for shard in {r["shard_id"] for r in rows}:
        seqs = [int(r["sequence_number"]) for r in rows if r["shard_id"] == shard]
        assert seqs == sorted(seqs)


def test_bounded_batches_end_at_one_arrival_time_on_every_shard(
    spark: Any, boto_session: boto3.Session, stream_factory: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN a backlog on 2 shards: 60 records on the first, then 60 that arrived later on the second
    stream = stream_factory(shards=2)
    kinesis = boto_session.client("kinesis")
    for n0, hash_key in ((0, "0"), (60, str(2**127 + 1))):
        kinesis.put_records(
            StreamName=stream,
            Records=[
                {"Data": json.dumps({"n": n0 + i}).encode(), "PartitionKey": "k", "ExplicitHashKey": hash_key}
                for i in range(60)
            ],
        )
    # WHEN the source drains it with at most 40 records per batch (20 per shard)
    rows = _run(spark, stream, tmp_path / "checkpoint", max_records=40)
    # THEN every record is read once, and no batch holds a record that arrived after one of the next
    # batch's: a batch never runs ahead on one shard while another shard's older records wait
    assert sorted(json.loads(r["data"])["n"] for r in rows) == list(range(120))
    arrivals: dict[int, list[Any]] = {}
    for r in rows:
        arrivals.setdefault(r["batch_id"], []).append(r["approximate_arrival_timestamp"])
    ordered = [arrivals[b] for b in sorted(arrivals)]
    assert len(ordered) >= 4
    assert all(max(a) <= min(b) for a, b in itertools.pairwise(ordered))


def test_a_restart_from_the_checkpoint_continues_without_loss_or_duplicates(
    spark: Any, boto_session: boto3.Session, stream_factory: Callable[..., str], tmp_path: Path
) -> None:
    stream = stream_factory(shards=2)
    checkpoint = tmp_path / f"checkpoint-{uuid.uuid4().hex[:6]}"
    first = _put(boto_session, stream, tmp_path, 0, 400)
    rows1 = _run(spark, stream, checkpoint, max_records=150)
    # WHEN more records arrive and the query restarts from the same checkpoint
    second = _put(boto_session, stream, tmp_path, 400, 350)
    rows2 = _run(spark, stream, checkpoint, max_records=150)
    # THEN the second run reads exactly the new records
    assert sorted(json.loads(r["data"])["n"] for r in rows1) == [r["n"] for r in first]
    assert sorted(json.loads(r["data"])["n"] for r in rows2) == [r["n"] for r in second]
    assert min(r["batch_id"] for r in rows2) > max(r["batch_id"] for r in rows1)


def test_a_shard_split_and_merge_during_a_run_lose_and_duplicate_nothing_and_keep_per_key_order(
    spark: Any,
    boto_session: boto3.Session,
    stream_factory: Callable[..., str],
    tmp_path: Path,
    fault_figures: FaultFigures,
) -> None:
    # GIVEN a running query on a 1-shard stream
    spark.dataSource.register(KinesisDataSource)
    kinesis = boto_session.client("kinesis")
    stream = stream_factory(shards=1)
    rows: list[dict[str, Any]] = []
    seen: dict[str, float] = {}  # when each shard's first record was handed to the sink

    def collect(df: Any, _: int) -> None:
        batch = [r.asDict() for r in df.collect()]
        rows.extend(batch)
        for shard in {r["shard_id"] for r in batch}:
            seen.setdefault(shard, time.monotonic())

    query = (
        spark.readStream.format("fraudstream-kinesis")
        .option("streamName", stream)
        .option("maxRecordsPerBatch", "120")
        .option("minGetRecordsIntervalMs", "0")
        .load()
        .writeStream.foreachBatch(collect)
        .option("checkpointLocation", str(tmp_path / "cp"))
        .trigger(processingTime="0 seconds")
        .start()
    )
    try:
        sent = _put(boto_session, stream, tmp_path, 0, 300)
        query.processAllAvailable()
        # WHEN the shard is split, more records arrive, the children are merged back, and more arrive
        (parent,) = kinesis.list_shards(StreamName=stream)["Shards"]
        middle = (int(parent["HashKeyRange"]["StartingHashKey"]) + int(parent["HashKeyRange"]["EndingHashKey"])) // 2
        kinesis.split_shard(StreamName=stream, ShardToSplit=parent["ShardId"], NewStartingHashKey=str(middle))
        split_at = time.monotonic()
        sent += _put(boto_session, stream, tmp_path, 300, 300)
        children = sorted(
            s["ShardId"] for s in kinesis.list_shards(StreamName=stream)["Shards"] if s.get("ParentShardId")
        )
        kinesis.merge_shards(StreamName=stream, ShardToMerge=children[0], AdjacentShardToMerge=children[1])
        merged_at = time.monotonic()
        sent += _put(boto_session, stream, tmp_path, 600, 300)
        query.processAllAvailable()
    finally:
        query.stop()
    # THEN every record was read exactly once
    read = [json.loads(r["data"]) for r in rows]
    ns = [r["n"] for r in read]
    child_read = [t for shard, t in seen.items() if shard in children]
    merged_read = [t for shard, t in seen.items() if shard not in {parent["ShardId"], *children}]
    recover_s = max(min(child_read) - split_at, min(merged_read) - merged_at) if child_read and merged_read else None
    fault_figures.record(
        "shard split + merge",
        sent=[r["n"] for r in sent],
        received=ns,
        recover_s=recover_s,
        recovery="max of split -> first child-shard record read, merge -> first merged-shard record read",
    )
    assert sorted(r["n"] for r in read) == [r["n"] for r in sent]
    assert len({r["shard_id"] for r in rows}) == 4  # parent, two children, merged grandchild
    # and each card's records came out in the order they were sent
    per_card: dict[str, list[int]] = {}
    for r in read:
        per_card.setdefault(r["card"], []).append(r["n"])
    assert all(ns == sorted(ns) for ns in per_card.values())
