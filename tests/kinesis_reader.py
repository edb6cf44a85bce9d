"""Reads a whole stream back with GetRecords, independently of the code under test."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient


def read_stream(kinesis: KinesisClient, stream: str) -> list[dict[str, Any]]:
    """Every record of every shard, each with its `ShardId`; per shard in sequence order."""
    out: list[dict[str, Any]] = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while True:
            response = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            out.extend({**r, "ShardId": shard["ShardId"]} for r in response["Records"])
            if not response["Records"]:
                break
            iterator = response["NextShardIterator"]
    return out
