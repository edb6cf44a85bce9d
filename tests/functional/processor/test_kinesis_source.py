"""`check_checkpoint`: a checkpoint of streams that are no longer the live ones is refused; a reshard is not."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from processor.exceptions import StaleCheckpointError
from processor.kinesis_source import KinesisStreamReader, check_checkpoint

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import boto3


def _checkpoint(tmp_path: Path, *offsets: dict[str, Any]) -> str:
    """A query's offset log whose newest entry holds these source offsets."""
    (tmp_path / "offsets").mkdir(parents=True, exist_ok=True)
    (tmp_path / "offsets" / "4").write_text("v1\n{}\n" + "\n".join(json.dumps(o) for o in offsets) + "\n")
    return str(tmp_path)


def _planned(stream: str) -> dict[str, Any]:
    """The offset a reader plans for the stream (with its records put before)."""
    reader = KinesisStreamReader({"streamname": stream, "mingetrecordsintervalms": "0"})
    offset: dict[str, Any] = reader.latestOffset()
    reader.stop()
    return offset


def test_a_recreated_stream_is_refused_and_a_reshard_is_not(
    boto_session: boto3.Session, stream_factory: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN a checkpoint of a stream with records read on both shards
    kinesis = boto_session.client("kinesis")
    stream = stream_factory(shards=2)
    for i in range(8):
        kinesis.put_record(StreamName=stream, PartitionKey=f"card-{i}", Data=b"{}")
    offset = _planned(stream)
    assert offset["created"] > 0 and any(s["pos"].startswith("AFTER:") for s in offset["shards"].values())
    checkpoint = _checkpoint(tmp_path, offset)
    # WHEN the stream is resharded (a shard split: the parent closes, two children open)
    check_checkpoint(checkpoint, [stream], kinesis)
    kinesis.update_shard_count(StreamName=stream, TargetShardCount=4, ScalingType="UNIFORM_SCALING")
    # THEN it is the same stream: the checkpoint stands
    check_checkpoint(checkpoint, [stream], kinesis)

    # WHEN the stream is deleted and created again under its name (an emulator restarted)
    kinesis.delete_stream(StreamName=stream)
    with pytest.raises(StaleCheckpointError, match=f"reads stream '{stream}', which does not exist here"):
        check_checkpoint(checkpoint, [stream], kinesis)
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    # THEN the checkpoint is refused, with what differs and what to do
    with pytest.raises(StaleCheckpointError, match=f"reads stream '{stream}' created at .*; the stream here") as e:
        check_checkpoint(checkpoint, [stream], kinesis)
    assert "--reset-checkpoint" in e.value.hint and "--checkpoint" in e.value.hint


def test_shards_a_stream_never_had_or_other_streams_are_refused(
    boto_session: boto3.Session, stream_factory: Callable[..., str], tmp_path: Path
) -> None:
    kinesis = boto_session.client("kinesis")
    stream = stream_factory(shards=1)
    # GIVEN offsets written before streams' creation times were recorded: one of shards the stream
    # has, one of a shard past every shard it has, and one of two other streams
    shard: dict[str, Any] = {"pos": "AFTER:3", "drained": False}
    legacy = {"stream": stream, "initial": "TRIM_HORIZON", "shards": {"shardId-000000000000": shard}}
    wider = legacy | {"shards": {"shardId-000000000000": shard, "shardId-000000000003": shard}}
    others = {"streams": {name: {"initial": "TRIM_HORIZON", "shards": {}} for name in ("a", "b")}}
    # (and, once the shard has records, one at a position before its first)
    kinesis.put_record(StreamName=stream, PartitionKey="card-1", Data=b"{}")
    shard_start = kinesis.list_shards(StreamName=stream)["Shards"][0]["SequenceNumberRange"]["StartingSequenceNumber"]
    earlier = legacy | {"shards": {"shardId-000000000000": {"pos": f"AFTER:{int(shard_start) - 1}", "drained": False}}}
    # THEN the first stands, the others are refused
    check_checkpoint(_checkpoint(tmp_path / "legacy", legacy), [stream], kinesis)
    with pytest.raises(StaleCheckpointError, match=r"at positions before its shards' first records"):
        check_checkpoint(_checkpoint(tmp_path / "earlier", earlier), [stream], kinesis)
    with pytest.raises(StaleCheckpointError, match="that it never had: shardId-000000000003"):
        check_checkpoint(_checkpoint(tmp_path / "wider", wider), [stream], kinesis)
    with pytest.raises(StaleCheckpointError, match=r"reads the streams \['a', 'b'\], not"):
        check_checkpoint(_checkpoint(tmp_path / "others", others), [stream], kinesis)
    # and a new checkpoint (no offsets yet) has nothing to check
    check_checkpoint(str(tmp_path / "new"), [stream], kinesis)
