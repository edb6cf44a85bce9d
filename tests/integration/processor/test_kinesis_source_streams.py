"""One Kinesis source reading several streams, on real local Spark against the embedded emulator."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from processor.kinesis_source import KinesisStreamReader
from tests.kinesis_turns import SECOND_SHARD, CountingProxy, drain_source, put_in_turns, source_query

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import boto3

    from fraudstream.local.emulator import EmbeddedAws

pytestmark = pytest.mark.integration


def _query(spark: Any, streams: list[str], checkpoint: Path, max_records: int) -> tuple[Any, list[dict[str, Any]]]:
    return source_query(spark, {"streamNames": ",".join(streams)}, checkpoint, max_records)


def _run(
    spark: Any,
    streams: list[str],
    checkpoint: Path,
    max_records: int,
    endpoint: str | None = None,
    crash_in_batch: int | None = None,
) -> list[dict[str, Any]]:
    return drain_source(spark, {"streamNames": ",".join(streams)}, checkpoint, max_records, endpoint, crash_in_batch)


def _records(rows: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    return sorted((r["stream_name"], bytes(r["data"])) for r in rows)


def _position(r: dict[str, Any]) -> tuple[str, str, int]:
    return r["stream_name"], r["shard_id"], int(r["sequence_number"])


def _in_shard_order(rows: list[dict[str, Any]]) -> bool:
    """Whether each shard's records came in sequence order (shard ids repeat across streams)."""
    per_shard: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        per_shard.setdefault((r["stream_name"], r["shard_id"]), []).append(int(r["sequence_number"]))
    return all(seqs == sorted(seqs) for seqs in per_shard.values())


def _batches(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    per_batch: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        per_batch.setdefault(r["batch_id"], []).append(r)
    return [per_batch[b] for b in sorted(per_batch)]


def test_one_source_reads_two_streams_once_in_order_in_batches_aligned_in_arrival_time(
    spark: Any,
    embedded_aws: EmbeddedAws,
    boto_session: boto3.Session,
    stream_factory: Callable[..., str],
    tmp_path: Path,
) -> None:
    # GIVEN backlogs on two streams whose arrival times interleave: 30 records on A's first shard,
    # then 30 on B, then 30 on A's second shard, then 30 more on B
    a, b = stream_factory(shards=2), stream_factory(shards=1)
    sent = [(a, d) for d in put_in_turns(boto_session, a, [("0", 30)])]
    sent += [(b, d) for d in put_in_turns(boto_session, b, [("0", 30)], first=30)]
    sent += [(a, d) for d in put_in_turns(boto_session, a, [(SECOND_SHARD, 30)], first=60)]
    sent += [(b, d) for d in put_in_turns(boto_session, b, [("0", 30)], first=90)]
    # WHEN one source drains both with at most 60 records per batch (20 per shard), through a proxy
    # that counts the records GetRecords returns
    proxy = CountingProxy(embedded_aws.endpoint_url)
    with proxy:
        rows = _run(spark, [a, b], tmp_path / "checkpoint", max_records=60, endpoint=proxy.url)
    # THEN every record of both streams came out once, each with its stream's name, per shard in order
    assert _records(rows) == sorted(sent)
    assert _in_shard_order(rows)
    # read from Kinesis once
    assert proxy.fetched == Counter(d for _, d in sent)
    # in bounded batches
    batches = _batches(rows)
    assert len(batches) >= 4 and max(len(batch) for batch in batches) <= 60
    # that end at one arrival time across the two streams: no batch holds a record (of either
    # stream) that arrived after one of the next batch's
    arrivals = [[r["approximate_arrival_timestamp"] for r in batch] for batch in batches]
    assert all(max(x) <= min(y) for x, y in itertools.pairwise(arrivals))
    # so the first batch has A's oldest records and none of B's, which arrived after its horizon,
    # although the look-ahead read B's too; and the streams meet in a batch once B's turn comes
    assert {r["stream_name"] for r in batches[0]} == {a}
    assert any({r["stream_name"] for r in batch} == {a, b} for batch in batches)


def test_restarts_with_two_streams_re_run_a_crashed_batch_exactly_and_continue_without_loss_or_duplicates(
    spark: Any,
    embedded_aws: EmbeddedAws,
    boto_session: boto3.Session,
    stream_factory: Callable[..., str],
    tmp_path: Path,
) -> None:
    # GIVEN a query over two streams that crashed in its second batch (planned and in the offset
    # log, not committed), a batch with records of both streams
    a, b = stream_factory(shards=1), stream_factory(shards=1)
    checkpoint = tmp_path / "checkpoint"
    sent = [(a, d) for d in put_in_turns(boto_session, a, [("0", 30)])]
    sent += [(b, d) for d in put_in_turns(boto_session, b, [("0", 30)], first=30)]
    sent += [(a, d) for d in put_in_turns(boto_session, a, [("0", 30)], first=60)]
    rows1 = _run(spark, [a, b], checkpoint, max_records=40, crash_in_batch=1)
    crashed = [r for r in rows1 if r["batch_id"] == 1]
    assert {r["stream_name"] for r in crashed} == {a, b}
    # and more records that arrived since on both streams
    sent += [(a, d) for d in put_in_turns(boto_session, a, [("0", 20)], first=90)]
    sent += [(b, d) for d in put_in_turns(boto_session, b, [("0", 20)], first=110)]
    # WHEN the query restarts from the checkpoint (the streams named in the other order): a new
    # reader, nothing read ahead in memory
    proxy = CountingProxy(embedded_aws.endpoint_url)
    with proxy:
        rows2 = _run(spark, [b, a], checkpoint, max_records=40, endpoint=proxy.url)
    # THEN the re-run batch has exactly the crashed batch's records, no more (although more arrived)
    rerun = [r for r in rows2 if r["batch_id"] == 1]
    assert sorted(rerun, key=_position) == sorted(crashed, key=_position)
    # each record of the second run read from Kinesis once
    assert proxy.fetched == Counter(bytes(r["data"]) for r in rows2)
    # and, with the first run's committed batch, every record of both streams came out once, in order
    delivered = [r for r in rows1 if r["batch_id"] == 0] + rows2
    assert _records(delivered) == sorted(sent)
    assert _in_shard_order(delivered)
    # WHEN more records arrive on both and the query, stopped after a committed batch, starts again:
    # its source plans on from its offset in the checkpoint's log
    more = [(a, d) for d in put_in_turns(boto_session, a, [("0", 15)], first=130)]
    more += [(b, d) for d in put_in_turns(boto_session, b, [("0", 15)], first=145)]
    rows3 = _run(spark, [a, b], checkpoint, max_records=40)
    # THEN it reads exactly the new records, in later batches
    assert _records(rows3) == sorted(more)
    assert _in_shard_order(delivered + rows3)
    assert min(r["batch_id"] for r in rows3) > max(r["batch_id"] for r in rows2)


def test_a_stream_without_records_leaves_batches_of_the_other_streams_rows(
    spark: Any, boto_session: boto3.Session, stream_factory: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN a running query over two streams, one of them empty
    empty, busy = stream_factory(shards=1), stream_factory(shards=2)
    query, rows = _query(spark, [empty, busy], tmp_path / "checkpoint", max_records=30)
    try:
        # WHEN records arrive on the other stream only
        sent = [(busy, d) for d in put_in_turns(boto_session, busy, [("0", 40), (SECOND_SHARD, 40)])]
        query.processAllAvailable()
        # THEN its records come out once, in bounded batches of its rows only
        assert _records(rows) == sorted(sent)
        batches = _batches(rows)
        assert len(batches) >= 3 and max(len(batch) for batch in batches) <= 30
        assert all({r["stream_name"] for r in batch} == {busy} for batch in batches)
        # and WHEN the empty stream gets records later, they are read from its start
        later = [(empty, d) for d in put_in_turns(boto_session, empty, [("0", 10)], first=80)]
        query.processAllAvailable()
    finally:
        query.stop()
    assert _records(rows) == sorted(sent + later)
    assert _in_shard_order(rows)


def test_offsets_of_several_streams_have_one_entry_per_stream_in_sorted_order(
    boto_session: boto3.Session, stream_factory: Callable[..., str]
) -> None:
    # GIVEN two streams, records on one of them (a sorts before b, whatever their random names)
    small, large = stream_factory(shards=1), stream_factory(shards=2)
    a, b = sorted([small, large])
    shard_counts = {small: 1, large: 2}
    put_in_turns(boto_session, large, [("0", 3)])
    options = {"maxrecordsperbatch": "100", "mingetrecordsintervalms": "0"}
    # WHEN a reader of both (named in reverse order) plans a batch
    reader = KinesisStreamReader(options | {"streamnames": f" {b} , {a} "})
    initial = reader.initialOffset()
    offset = reader.latestOffset()
    # THEN the offset has one entry per stream, in sorted order, each with the initial position and
    # the shards' positions; the records counted on the shard that moved
    assert list(offset) == ["streams"] and list(offset["streams"]) == [a, b]
    assert list(initial["streams"]) == [a, b]
    for name in (a, b):
        entry = offset["streams"][name]
        assert list(entry) == ["initial", "created", "shards"] and entry["initial"] == "TRIM_HORIZON"
        assert len(entry["shards"]) == shard_counts[name]
    moved = offset["streams"][large]["shards"]
    assert sorted(s.get("records", 0) for s in moved.values()) == [0, 3]
    assert json.loads(json.dumps(offset)) == offset
    # and a reader of one stream, by either option, writes the single-stream offset it always has
    one = KinesisStreamReader(options | {"streamnames": a}).latestOffset()
    assert one == KinesisStreamReader(options | {"streamname": a}).latestOffset()
    assert list(one) == ["stream", "initial", "created", "shards"] and one["stream"] == a
    # and naming both options, or no stream, is an error
    with pytest.raises(ValueError, match="not both"):
        KinesisStreamReader(options | {"streamname": a, "streamnames": f"{a},{b}"})
    with pytest.raises(ValueError, match="streamNames"):
        KinesisStreamReader(options | {"streamnames": " , "})


def test_a_source_finds_its_offset_in_the_checkpoint_by_its_set_of_streams(tmp_path: Path) -> None:
    # GIVEN a query's offset log whose newest entry holds a single-stream offset as written before
    # several streams (stream x) and a two-stream offset (streams a and b)
    single = {"stream": "x", "initial": "TRIM_HORIZON", "shards": {"s0": {"pos": "AFTER:5", "drained": False}}}
    double = {
        "streams": {
            "a": {"initial": "TRIM_HORIZON", "shards": {"s0": {"pos": "AFTER:7", "drained": False, "records": 2}}},
            "b": {"initial": "TRIM_HORIZON", "shards": {}},
        }
    }
    (tmp_path / "offsets").mkdir()
    (tmp_path / "offsets" / "0").write_text("v1\n{}\n" + json.dumps({"stream": "x", "initial": "x", "shards": {}}))
    (tmp_path / "offsets" / "3").write_text("v1\n{}\n" + json.dumps(single) + "\n" + json.dumps(double) + "\n")

    def found(**names: str) -> dict[str, Any] | None:
        reader = KinesisStreamReader({"checkpointlocation": str(tmp_path)} | names)
        offset: dict[str, Any] | None = reader._checkpointed_offset()
        return offset

    # THEN each source finds its own, whichever option and order names its streams
    assert found(streamname="x") == single
    assert found(streamnames="x") == single
    assert found(streamnames="b,a") == double
    # and a source of other streams finds none
    assert found(streamnames="a") is None
    assert found(streamnames="a,b,c") is None
    # and a source handed an offset of other streams (its streams changed over the checkpoint) says so
    with pytest.raises(ValueError, match="cannot change"):
        KinesisStreamReader({"streamnames": "a,b,c"}).partitions(double, double)
