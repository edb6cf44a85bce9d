"""The Kinesis source on real local Spark against the embedded emulator."""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from processor.kinesis_source import (
    KINESIS_SCHEMA,
    RECORDS_PER_TASK,
    KinesisDataSource,
    KinesisStreamReader,
    ShardRange,
    ShardRanges,
    _grouped,
)
from producer.dead_letter import DeadLetterFile
from producer.kinesis_writer import KinesisWriter
from tests.kinesis_turns import SECOND_SHARD, CountingProxy, drain_source, put_in_turns

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import boto3

    from fraudstream.local.emulator import EmbeddedAws
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


def _run(
    spark: Any,
    stream: str,
    checkpoint: Path,
    max_records: int,
    endpoint: str | None = None,
    crash_in_batch: int | None = None,
) -> list[dict[str, Any]]:
    """Drain what is in the stream now into a list of rows, one micro-batch at a time (see `drain_source`)."""
    return drain_source(spark, {"streamName": stream}, checkpoint, max_records, endpoint, crash_in_batch)


def _in_shard_order(rows: list[dict[str, Any]]) -> bool:
    """Whether each shard's records came in sequence order."""
    per_shard: dict[str, list[int]] = {}
    for r in rows:
        per_shard.setdefault(r["shard_id"], []).append(int(r["sequence_number"]))
    return all(seqs == sorted(seqs) for seqs in per_shard.values())


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


def _rows(reader: KinesisStreamReader, partition: ShardRange) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pa.Table.from_batches(list(reader.read_range(partition))).to_pylist()
    return rows


def _ranges(partitions: list[ShardRanges]) -> list[ShardRange]:
    return [r for p in partitions for r in p.ranges]


def test_partitions_carry_the_planned_records_and_a_range_not_planned_last_is_read_from_kinesis(
    boto_session: boto3.Session, stream_factory: Callable[..., str]
) -> None:
    # GIVEN a backlog on 2 shards whose arrival times interleave
    stream = stream_factory(shards=2)
    sent = put_in_turns(boto_session, stream, [("0", 30), (SECOND_SHARD, 30), ("0", 30)])
    reader = KinesisStreamReader({"streamname": stream, "maxrecordsperbatch": "20", "mingetrecordsintervalms": "0"})
    # WHEN the reader plans batches until the backlog is drained
    offsets = [reader.initialOffset()]
    batches: list[list[dict[str, Any]]] = []
    while (end := reader.latestOffset()) != offsets[-1]:
        batches.append([])
        for partition in _ranges(reader.partitions(offsets[-1], end)):
            # THEN each partition carries its records: the same rows as its range read from Kinesis
            assert partition.records is not None
            rows = _rows(reader, partition)
            assert rows == _rows(reader, dataclasses.replace(partition, records=None))
            batches[-1] += rows
        offsets.append(end)
    # and all records once, in bounded batches
    assert sorted(r["data"] for batch in batches for r in batch) == sorted(sent)
    assert len(batches) >= 5 and max(len(batch) for batch in batches) <= 20
    # WHEN Spark asks again for the second batch (a re-run), which is not what the reader planned last
    again = _ranges(reader.partitions(offsets[1], offsets[2]))
    # THEN its partitions come without records, to be read on the executor, which asks Kinesis for
    # as many records as were planned
    assert again and all(p.records is None for p in again)
    assert [p.count for p in again] == [len(_rows(reader, p)) for p in again]
    # and planning goes on from its end exactly as the first time: what was read ahead was dropped
    assert reader.latestOffset() == offsets[3]
    assert all(p.records is not None for p in _ranges(reader.partitions(offsets[2], offsets[3])))


def test_each_record_is_fetched_from_kinesis_once(
    spark: Any,
    embedded_aws: EmbeddedAws,
    boto_session: boto3.Session,
    stream_factory: Callable[..., str],
    tmp_path: Path,
) -> None:
    # GIVEN a backlog on 2 shards: 50 records on the first, 50 later on the second, 50 more on the first
    stream = stream_factory(shards=2)
    sent = put_in_turns(boto_session, stream, [("0", 50), (SECOND_SHARD, 50), ("0", 50)])
    # WHEN the source drains it with at most 40 records per batch, through a proxy that counts the
    # records GetRecords returns
    proxy = CountingProxy(embedded_aws.endpoint_url)
    with proxy:
        rows = _run(spark, stream, tmp_path / "checkpoint", max_records=40, endpoint=proxy.url)
    # THEN each record came out of Kinesis once: the executors got the records the driver read while
    # planning, and each batch's look-ahead started from what the previous one had read past its end
    assert proxy.fetched == Counter(sent)
    # and the output has every record once, in per-shard order, in bounded batches
    assert sorted(bytes(r["data"]) for r in rows) == sorted(sent)
    assert _in_shard_order(rows)
    per_batch = Counter(r["batch_id"] for r in rows)
    assert len(per_batch) >= 4 and max(per_batch.values()) <= 40


def test_a_batch_re_run_after_a_crash_reads_exactly_its_planned_records_from_kinesis(
    spark: Any,
    embedded_aws: EmbeddedAws,
    boto_session: boto3.Session,
    stream_factory: Callable[..., str],
    tmp_path: Path,
) -> None:
    # GIVEN a query that crashed in its second batch: planned and in the offset log, not committed
    stream = stream_factory(shards=2)
    checkpoint = tmp_path / "checkpoint"
    sent = put_in_turns(boto_session, stream, [("0", 30), (SECOND_SHARD, 30), ("0", 30)])
    rows1 = _run(spark, stream, checkpoint, max_records=40, crash_in_batch=1)
    crashed = [r for r in rows1 if r["batch_id"] == 1]
    assert crashed
    # and more records that arrived since on both shards
    sent += put_in_turns(boto_session, stream, [("0", 20), (SECOND_SHARD, 20)], first=len(sent))
    # WHEN the query restarts from the checkpoint: a new reader, nothing read ahead in memory
    proxy = CountingProxy(embedded_aws.endpoint_url)
    with proxy:
        rows2 = _run(spark, stream, checkpoint, max_records=40, endpoint=proxy.url)
    # THEN the re-run batch has exactly the crashed batch's records, no more (although more arrived)
    rerun = [r for r in rows2 if r["batch_id"] == 1]

    def by_position(r: dict[str, Any]) -> tuple[str, int]:
        return r["shard_id"], int(r["sequence_number"])

    assert sorted(rerun, key=by_position) == sorted(crashed, key=by_position)
    # read from Kinesis again, like every other record of the second run, once
    assert proxy.fetched == Counter(bytes(r["data"]) for r in rows2)
    # and, with the first run's committed batch, every record came out once, in per-shard order
    delivered = [r for r in rows1 if r["batch_id"] == 0] + rows2
    assert sorted(bytes(r["data"]) for r in delivered) == sorted(sent)
    assert _in_shard_order(delivered)


def test_ranges_the_driver_holds_are_grouped_into_tasks_of_about_records_per_task() -> None:
    # GIVEN three shard ranges whose records the driver holds (two large, one small) and one it does not
    def held(shard: str, count: int) -> ShardRange:
        return ShardRange("s", shard, "TRIM_HORIZON", "1", records=b"held", count=count)

    ranges = [
        held("a", RECORDS_PER_TASK * 3 // 4),
        held("b", RECORDS_PER_TASK * 3 // 4),
        held("c", 10),
        ShardRange("s", "d", "TRIM_HORIZON", "1"),
    ]
    # WHEN they are grouped into tasks
    tasks = [[r.shard_id for r in task.ranges] for task in _grouped(ranges)]
    # THEN the held ones fill as many tasks as their records need, the large ones apart, and the
    # range to read from Kinesis is a task of its own
    assert sorted(map(sorted, tasks)) == [["a", "c"], ["b"], ["d"]]
    # and a small live batch is one task
    assert [[r.shard_id for r in t.ranges] for t in _grouped([held("a", 300), held("b", 200)])] == [["a", "b"]]
