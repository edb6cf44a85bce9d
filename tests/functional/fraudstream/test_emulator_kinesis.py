"""The embedded emulator's Kinesis behaves as Kinesis does where the project depends on it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    import boto3
    from mypy_boto3_kinesis import KinesisClient


def _drain(kinesis: KinesisClient, stream: str, shard_id: str) -> tuple[list[bytes], bool]:
    it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    out: list[bytes] = []
    for _ in range(20):
        response = kinesis.get_records(ShardIterator=it, Limit=1000)
        out += [r["Data"] for r in response["Records"]]
        it = response.get("NextShardIterator")
        if it is None:
            return out, True  # a closed shard read to its end
        if not response["Records"]:
            return out, False
    raise AssertionError("shard did not end")


def test_split_keeps_the_parents_records_and_closes_it(
    boto_session: boto3.Session, stream_factory: Callable[..., str]
) -> None:
    kinesis = boto_session.client("kinesis")
    stream = stream_factory(shards=1)
    before = [f"a{i}".encode() for i in range(50)]
    for i, data in enumerate(before):
        kinesis.put_record(StreamName=stream, PartitionKey=f"k{i % 5}", Data=data)
    parent = kinesis.list_shards(StreamName=stream)["Shards"][0]
    middle = str((int(parent["HashKeyRange"]["StartingHashKey"]) + int(parent["HashKeyRange"]["EndingHashKey"])) // 2)
    # WHEN the shard is split and more records arrive
    kinesis.split_shard(StreamName=stream, ShardToSplit=parent["ShardId"], NewStartingHashKey=middle)
    after = [f"b{i}".encode() for i in range(50)]
    for i, data in enumerate(after):
        kinesis.put_record(StreamName=stream, PartitionKey=f"k{i % 5}", Data=data)
    shards = {s["ShardId"]: s for s in kinesis.list_shards(StreamName=stream)["Shards"]}
    children = [sid for sid, s in shards.items() if s.get("ParentShardId") == parent["ShardId"]]
    # THEN the parent still holds exactly its records and ends; the children hold only the new ones
    parent_records, ended = _drain(kinesis, stream, parent["ShardId"])
    assert parent_records == before and ended
    assert "EndingSequenceNumber" in shards[parent["ShardId"]]["SequenceNumberRange"]
    child_records = [r for sid in children for r in _drain(kinesis, stream, sid)[0]]
    assert sorted(child_records) == sorted(after) and len(children) == 2


def test_merge_keeps_both_parents_records(boto_session: boto3.Session, stream_factory: Callable[..., str]) -> None:
    kinesis = boto_session.client("kinesis")
    stream = stream_factory(shards=2)
    for i in range(40):
        kinesis.put_record(StreamName=stream, PartitionKey=f"k{i}", Data=f"a{i}".encode())
    first, second = sorted(s["ShardId"] for s in kinesis.list_shards(StreamName=stream)["Shards"])
    held = {sid: _drain(kinesis, stream, sid)[0] for sid in (first, second)}
    kinesis.merge_shards(StreamName=stream, ShardToMerge=first, AdjacentShardToMerge=second)
    for i in range(20):
        kinesis.put_record(StreamName=stream, PartitionKey=f"k{i}", Data=f"b{i}".encode())
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    (child,) = [s["ShardId"] for s in shards if s.get("ParentShardId")]
    assert {sid: _drain(kinesis, stream, sid)[0] for sid in (first, second)} == held
    assert sorted(_drain(kinesis, stream, child)[0]) == sorted(f"b{i}".encode() for i in range(20))
