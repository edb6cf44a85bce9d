"""The Kinesis source's prefetch: the driver reads ahead while a batch runs, against the embedded
emulator, by calling the reader's methods as Spark does (its effect is in the source and pipeline
benchmarks)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest
from botocore.exceptions import ClientError

from processor.kinesis_source import KinesisStreamReader, ShardRange, ShardRanges
from tests.kinesis_turns import SECOND_SHARD, CountingProxy, put_in_turns

if TYPE_CHECKING:
    from collections.abc import Callable

    import boto3

    from fraudstream.local.emulator import EmbeddedAws

pytestmark = pytest.mark.integration

_PREFETCH_THREAD = "kinesis-prefetch-"


def _await(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


class _Calls:
    """The GetRecords calls a reader's client makes, by the thread making them: the prefetch's own
    threads, or `latestOffset()` (the caller's thread and its look-ahead pool)."""

    def __init__(self, reader: KinesisStreamReader) -> None:
        self.threads: list[str] = []
        reader.client.meta.events.register("before-call.kinesis.GetRecords", self._on_call)

    def _on_call(self, **_: Any) -> None:
        self.threads.append(threading.current_thread().name)

    def background(self) -> int:
        return sum(name.startswith(_PREFETCH_THREAD) for name in self.threads)

    def foreground(self) -> int:
        return len(self.threads) - self.background()


def _prefetching(stream: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"{_PREFETCH_THREAD}{stream}-")]


def _batch_rows(partitions: list[ShardRanges]) -> list[dict[str, Any]]:
    """The rows of a batch's partitions, which must carry their records (no Kinesis call)."""
    ranges: list[ShardRange] = [r for p in partitions for r in p.ranges]
    assert all(r.records is not None for r in ranges)
    reader = KinesisStreamReader({"streamname": "unused"})
    rows: list[dict[str, Any]] = []
    for r in ranges:
        rows += pa.Table.from_batches(list(reader.read_range(r))).to_pylist()
    return rows


def _buffered(reader: KinesisStreamReader) -> dict[tuple[str, str], int]:
    return {key: sum(b.num_rows for b in batches) for key, batches in reader._ahead.items()}


def _position(row: dict[str, Any]) -> tuple[str, int]:
    return row["shard_id"], int(row["sequence_number"])


def _prefetch_done(reader: KinesisStreamReader) -> bool:
    return reader._prefetch is not None and reader._prefetch.done()


def test_records_put_while_a_batch_runs_are_fetched_before_the_next_latest_offset(
    embedded_aws: EmbeddedAws, boto_session: boto3.Session, stream_factory: Callable[..., str]
) -> None:
    # GIVEN a reader of a 2-shard stream that has planned a batch (nothing in the stream yet), reading
    # through a proxy that counts the records GetRecords returns
    stream = stream_factory(shards=2)
    proxy = CountingProxy(embedded_aws.endpoint_url)
    with proxy:
        options = {"endpointurl": proxy.url, "maxrecordsperbatch": "1000", "mingetrecordsintervalms": "0"}
        reader = KinesisStreamReader(options | {"streamname": stream})
        calls = _Calls(reader)
        start = reader.initialOffset()
        first = reader.latestOffset()
        assert not _batch_rows(reader.partitions(start, first))
        # WHEN records arrive on both shards while that batch "runs"
        sent = put_in_turns(boto_session, stream, [("0", 30), (SECOND_SHARD, 30)])
        # THEN the driver fetches them meanwhile, in the background
        _await(lambda: sum(proxy.fetched.values()) == len(sent))
        assert calls.background() >= 2
        # and the next latestOffset() plans them, polling each shard once more at most (for what
        # arrived since the prefetch's last call, when the pacing allows a call: here always)
        before = calls.foreground()
        second = reader.latestOffset()
        assert calls.foreground() - before <= 2
        assert sorted(r["data"] for r in _batch_rows(reader.partitions(first, second))) == sorted(sent)
        # WHEN more records arrive just before the next latestOffset(), with nothing read ahead
        more = put_in_turns(boto_session, stream, [("0", 5)], first=len(sent))
        third = reader.latestOffset()
        # THEN they are in its batch all the same (that shard is polled there, if the prefetch has
        # not read them yet): a batch without new data means none had arrived
        assert sorted(r["data"] for r in _batch_rows(reader.partitions(second, third))) == sorted(more)
        # and each record came out of Kinesis once
        assert proxy.fetched == Counter(sent + more)
        # WHEN the reader stops (the query does), its prefetch, polling the tips, ends
        assert _prefetching(stream)
        reader.stop()
        _await(lambda: not _prefetching(stream), timeout_s=5.0)


def test_a_batch_planned_on_a_live_stream_holds_every_record_that_had_arrived_by_then(
    embedded_aws: EmbeddedAws, boto_session: boto3.Session, stream_factory: Callable[..., str]
) -> None:
    # GIVEN a stream fed in real time (a few records every 50 ms), and a reader keeping Kinesis' pace
    # (5 GetRecords calls/s per shard) whose batches are planned every 0.6 s
    stream = stream_factory(shards=1)
    kinesis = boto_session.client("kinesis")
    arrived: list[tuple[float, bytes]] = []  # when each put had returned, the record
    stop = threading.Event()

    def feed() -> None:
        n = 0
        while not stop.wait(0.05):
            data = [json.dumps({"n": n + i}).encode() for i in range(3)]
            kinesis.put_records(StreamName=stream, Records=[{"Data": d, "PartitionKey": "k"} for d in data])
            arrived.extend((time.monotonic(), d) for d in data)
            n += len(data)

    reader = KinesisStreamReader(
        {"streamname": stream, "endpointurl": embedded_aws.endpoint_url, "maxrecordsperbatch": "1000"}
    )
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        offset = reader.initialOffset()
        planned_at = time.monotonic()
        batches: list[tuple[float, set[bytes]]] = []
        for _ in range(6):
            time.sleep(max(0.0, planned_at + 0.6 - time.monotonic()))
            planned_at = time.monotonic()
            following = reader.latestOffset()
            batches.append((planned_at, {r["data"] for r in _batch_rows(reader.partitions(offset, following))}))
            offset = following
    finally:
        stop.set()
        feeder.join()
        reader.stop()
    # THEN once the cycle is known (after the first two batches), each batch holds every record that
    # had arrived before it was planned and not gone in an earlier batch: the prefetch leaves each
    # shard's last call before a batch to latestOffset(), which polls it once more
    taken: set[bytes] = set().union(*(rows for _, rows in batches[:2]))
    for planned, rows in batches[2:]:
        due = {d for at, d in arrived if at < planned} - taken
        assert due and due <= rows, f"{len(due - rows)} of {len(due)} arrived records left for a later batch"
        taken |= rows


def test_a_range_not_planned_last_stops_the_prefetch_and_drops_what_it_read(
    boto_session: boto3.Session, stream_factory: Callable[..., str]
) -> None:
    # GIVEN a backlog on 2 shards whose arrival times interleave, and a reader that planned two
    # batches of at most 20 records and prefetched the next one's (10 records a shard)
    stream = stream_factory(shards=2)
    put_in_turns(boto_session, stream, [("0", 30), (SECOND_SHARD, 30), ("0", 30), (SECOND_SHARD, 30)])
    reader = KinesisStreamReader({"streamname": stream, "maxrecordsperbatch": "20", "mingetrecordsintervalms": "0"})
    calls = _Calls(reader)
    offsets = [reader.initialOffset()]
    batches = []
    for _ in range(2):
        offsets.append(reader.latestOffset())
        batches.append(_batch_rows(reader.partitions(offsets[-2], offsets[-1])))
    _await(lambda: _prefetch_done(reader))
    assert sorted(_buffered(reader).values()) == [10, 10]
    # WHEN Spark asks for the first batch again (a re-run), which is not what the reader planned last
    again = [r for p in reader.partitions(offsets[0], offsets[1]) for r in p.ranges]
    # THEN the prefetch has stopped, its threads ended, and what was read ahead is dropped
    assert reader._prefetch is None and not _prefetching(stream)
    assert not reader._ahead and not reader._cursors
    in_background = calls.background()
    # and the re-run's ranges come without records: read from Kinesis, exactly the first batch's
    assert again and all(r.records is None for r in again)
    rerun = [row for r in again for row in pa.Table.from_batches(list(reader.read_range(r))).to_pylist()]
    assert sorted(rerun, key=_position) == sorted(batches[0], key=_position)
    assert calls.background() == in_background
    # and planning goes on from its end exactly as the first time
    assert reader.latestOffset() == offsets[2]
    assert sorted(_batch_rows(reader.partitions(offsets[1], offsets[2])), key=_position) == sorted(
        batches[1], key=_position
    )
    reader.stop()


def test_the_prefetch_reads_each_shard_up_to_its_share_of_a_batch_and_no_further(
    embedded_aws: EmbeddedAws, boto_session: boto3.Session, stream_factory: Callable[..., str]
) -> None:
    # GIVEN a backlog of 200 records on each of 2 shards, arrival times interleaved
    stream = stream_factory(shards=2)
    sent = put_in_turns(boto_session, stream, [("0", 100), (SECOND_SHARD, 100)] * 2)
    proxy = CountingProxy(embedded_aws.endpoint_url)
    with proxy:
        # WHEN a reader of batches of at most 40 records (20 a shard) plans batch after batch, each
        # time letting the prefetch go as far as it would
        reader = KinesisStreamReader(
            {"streamname": stream, "endpointurl": proxy.url, "maxrecordsperbatch": "40", "mingetrecordsintervalms": "0"}
        )
        offsets = [reader.initialOffset()]
        planned: list[bytes] = []
        for _ in range(6):
            offsets.append(reader.latestOffset())
            planned += [r["data"] for r in _batch_rows(reader.partitions(offsets[-2], offsets[-1]))]
            _await(lambda: _prefetch_done(reader))
            # THEN each shard's read-ahead buffer holds its share of a batch, no more
            assert reader._prefetch is not None
            assert sorted(_buffered(reader).values()) == [20, 20]
            # and nothing else was fetched: every record read is in a batch planned or in a buffer
            assert sum(proxy.fetched.values()) == len(planned) + 40
        reader.stop()
    # and the batches were bounded, each record once
    assert 0 < len(planned) <= 6 * 40 and len(set(planned)) == len(planned)
    assert set(planned) <= set(sent)


def test_a_batch_takes_up_to_its_bound_when_some_shards_have_less_than_their_share(
    boto_session: boto3.Session, stream_factory: Callable[..., str]
) -> None:
    # GIVEN a backlog of 200 records on one stream's shard and 5 on another stream's (the labels
    # of a backlog of transactions), the labels arriving first
    labels, transactions = stream_factory(shards=1), stream_factory(shards=1)
    few = put_in_turns(boto_session, labels, [("0", 5)])
    many = put_in_turns(boto_session, transactions, [("0", 200)], first=5)
    # WHEN a reader of both, with batches of at most 40 records (20 a shard), plans batch after batch
    reader = KinesisStreamReader(
        {"streamnames": f"{labels},{transactions}", "maxrecordsperbatch": "40", "mingetrecordsintervalms": "0"}
    )
    offsets = [reader.initialOffset()]
    batches: list[list[bytes]] = []
    try:
        while sum(map(len, batches)) < len(few) + len(many):
            offsets.append(reader.latestOffset())
            batches.append([r["data"] for r in _batch_rows(reader.partitions(offsets[-2], offsets[-1]))])
    finally:
        reader.stop()
    # THEN the transactions take what the labels leave of each batch's bound: the batches are full
    assert [len(b) for b in batches] == [40] * 5 + [5]
    assert sorted(sum(batches, [])) == sorted(few + many)


def test_an_error_the_prefetch_meets_is_raised_by_the_next_latest_offset(
    boto_session: boto3.Session, stream_factory: Callable[..., str]
) -> None:
    # GIVEN a reader that has planned a batch and prefetches at the tip of its stream
    stream = stream_factory(shards=1)
    put_in_turns(boto_session, stream, [("0", 5)])
    reader = KinesisStreamReader({"streamname": stream, "maxrecordsperbatch": "100", "mingetrecordsintervalms": "0"})
    start = reader.initialOffset()
    assert len(_batch_rows(reader.partitions(start, reader.latestOffset()))) == 5
    # WHEN the stream is deleted while the batch runs
    boto_session.client("kinesis").delete_stream(StreamName=stream)
    # THEN the prefetch meets the error
    _await(lambda: reader._prefetch is not None and bool(reader._prefetch.errors))
    # and the next latestOffset() raises it, as its own look-ahead would have
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        reader.latestOffset()
    assert not _prefetching(stream)
