"""The Kinesis source's prefetch: the driver reads ahead while a batch runs, against the embedded
emulator, by calling the reader's methods as Spark does.

`test_measure_the_prefetch` measures its effect, against the emulator in its own process:
`latestOffset()` on a live stream, and the time to drain a backlog, each with and without the
prefetch. It takes minutes, so it runs only when asked:
`MEASURE_PREFETCH=1 pytest tests/integration/processor/test_kinesis_source_prefetch.py -k measure -s`.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest
from botocore.exceptions import ClientError

from processor.kinesis_source import KinesisStreamReader, ShardRange, ShardRanges
from tests.integration.processor.test_kinesis_source import _SECOND_SHARD, _CountingProxy, _put_in_turns

if TYPE_CHECKING:
    from collections.abc import Callable

    import boto3
    from mypy_boto3_kinesis.type_defs import PutRecordsRequestEntryTypeDef

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
    proxy = _CountingProxy(embedded_aws.endpoint_url)
    with proxy:
        options = {"endpointurl": proxy.url, "maxrecordsperbatch": "1000", "mingetrecordsintervalms": "0"}
        reader = KinesisStreamReader(options | {"streamname": stream})
        calls = _Calls(reader)
        start = reader.initialOffset()
        first = reader.latestOffset()
        assert not _batch_rows(reader.partitions(start, first))
        # WHEN records arrive on both shards while that batch "runs"
        sent = _put_in_turns(boto_session, stream, [("0", 30), (_SECOND_SHARD, 30)])
        # THEN the driver fetches them meanwhile, in the background
        _await(lambda: sum(proxy.fetched.values()) == len(sent))
        assert calls.background() >= 2
        # and the next latestOffset() plans them without a GetRecords call of its own
        before = calls.foreground()
        second = reader.latestOffset()
        assert calls.foreground() == before
        assert sorted(r["data"] for r in _batch_rows(reader.partitions(first, second))) == sorted(sent)
        # WHEN more records arrive just before the next latestOffset(), with nothing read ahead
        more = _put_in_turns(boto_session, stream, [("0", 5)], first=len(sent))
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


def test_a_range_not_planned_last_stops_the_prefetch_and_drops_what_it_read(
    boto_session: boto3.Session, stream_factory: Callable[..., str]
) -> None:
    # GIVEN a backlog on 2 shards whose arrival times interleave, and a reader that planned two
    # batches of at most 20 records and prefetched the next one's (10 records a shard)
    stream = stream_factory(shards=2)
    _put_in_turns(boto_session, stream, [("0", 30), (_SECOND_SHARD, 30), ("0", 30), (_SECOND_SHARD, 30)])
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
    sent = _put_in_turns(boto_session, stream, [("0", 100), (_SECOND_SHARD, 100)] * 2)
    proxy = _CountingProxy(embedded_aws.endpoint_url)
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
            assert reader._prefetch is not None and reader._prefetch.bound == 20
            assert sorted(_buffered(reader).values()) == [20, 20]
            # and nothing else was fetched: every record read is in a batch planned or in a buffer
            assert sum(proxy.fetched.values()) == len(planned) + 40
        reader.stop()
    # and the batches were bounded, each record once
    assert 0 < len(planned) <= 6 * 40 and len(set(planned)) == len(planned)
    assert set(planned) <= set(sent)


def test_an_error_the_prefetch_meets_is_raised_by_the_next_latest_offset(
    boto_session: boto3.Session, stream_factory: Callable[..., str]
) -> None:
    # GIVEN a reader that has planned a batch and prefetches at the tip of its stream
    stream = stream_factory(shards=1)
    _put_in_turns(boto_session, stream, [("0", 5)])
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


# --- Measurement: MEASURE_PREFETCH=1 pytest ... -k measure -s ---


def _live_latest_offset_ms(stream: str, prefetch: bool, batches: int, batch_s: float, rate: int) -> list[float]:
    """`latestOffset()` times on `stream` while a producer puts `rate` records/s, with `batch_s`
    between calls (the batch "running"); default call pacing, as in production."""
    import boto3

    kinesis = boto3.client("kinesis")
    stop = threading.Event()

    def produce() -> None:
        n = 0
        while not stop.is_set():
            t0 = time.monotonic()
            records: list[PutRecordsRequestEntryTypeDef] = [
                {"Data": json.dumps({"n": n + i, "pad": "x" * 250}).encode(), "PartitionKey": str(n + i)}
                for i in range(rate // 10)
            ]
            kinesis.put_records(StreamName=stream, Records=records)
            n += len(records)
            stop.wait(max(0.0, 0.1 - (time.monotonic() - t0)))

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    reader = KinesisStreamReader(
        {"streamname": stream, "startingposition": "latest", "prefetch": str(prefetch).lower()}
    )
    times: list[float] = []
    try:
        end = reader.initialOffset()
        for i in range(batches + 2):
            t0 = time.perf_counter()
            offset = reader.latestOffset()
            reader.partitions(end, offset)
            if i >= 2:  # the first calls list the shards and start from "latest"
                times.append((time.perf_counter() - t0) * 1000)
            end = offset
            time.sleep(batch_s)
    finally:
        reader.stop()
        stop.set()
        producer.join()
    return times


def _drain_s(stream: str, prefetch: bool, n: int, batch_records: int, processing_s: float) -> dict[str, Any]:
    """Seconds to drain `stream` (n records) from its start in batches of `batch_records`, with
    `processing_s` between calls, and of those the seconds spent in `latestOffset()` and in
    `partitions()` (which serialises the batch's records)."""
    reader = KinesisStreamReader(
        {"streamname": stream, "maxrecordsperbatch": str(batch_records), "prefetch": str(prefetch).lower()}
    )
    t0 = time.perf_counter()
    latest: list[float] = []
    planning = 0.0
    read = batches = 0
    end = reader.initialOffset()
    try:
        while read < n:
            t1 = time.perf_counter()
            offset = reader.latestOffset()
            t2 = time.perf_counter()
            partitions = reader.partitions(end, offset)
            latest.append(t2 - t1)
            planning += time.perf_counter() - t2
            read += sum(r.count or 0 for p in partitions for r in p.ranges)
            batches += 1
            end = offset
            if read < n:
                time.sleep(processing_s)
    finally:
        reader.stop()
    assert read == n, (read, n)
    total = time.perf_counter() - t0
    return {
        "total": round(total, 2),
        "batches": batches,
        "latest_offset": round(sum(latest), 2),
        "latest_offset_per_batch_ms": [round(t * 1000) for t in latest],
        "partitions": round(planning, 2),
    }


def measure(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Both figures, with the emulator in its own process (as bench/ runs it)."""
    import boto3

    from bench._emulator import emulator_process

    figures: dict[str, Any] = {}
    with emulator_process() as env:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        kinesis = boto3.client("kinesis")

        def create(shards: int) -> str:
            name = f"prefetch-{uuid.uuid4().hex[:8]}"
            kinesis.create_stream(StreamName=name, ShardCount=shards)
            kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1})
            return name

        # (1) a live stream: 1,000 records/s on 2 shards, a batch of 1 s between calls
        live = create(2)
        for prefetch in (False, True):
            ms = _live_latest_offset_ms(live, prefetch, batches=20, batch_s=1.0, rate=1000)
            figures[f"live_latest_offset_ms_prefetch_{prefetch}"] = {
                "median": round(statistics.median(ms), 1),
                "p90": round(statistics.quantiles(ms, n=10)[-1], 1),
                "max": round(max(ms), 1),
            }
        # (2) a backlog of 100,000 records on 4 shards, batches of 20,000, 2 s of processing each
        backlog = create(4)
        n = 100_000
        for first in range(0, n, 500):
            kinesis.put_records(
                StreamName=backlog,
                Records=[
                    {"Data": json.dumps({"n": i, "pad": "x" * 250}).encode(), "PartitionKey": str(i)}
                    for i in range(first, first + 500)
                ],
            )
        for prefetch in (False, True, False, True):
            drain = _drain_s(backlog, prefetch, n, batch_records=20_000, processing_s=2.0)
            figures.setdefault(f"drain_s_prefetch_{prefetch}", []).append(drain)
    return figures


@pytest.mark.timeout(1800)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the emulator's stdout pipe
@pytest.mark.skipif(not os.environ.get("MEASURE_PREFETCH"), reason="a measurement of minutes: MEASURE_PREFETCH=1")
def test_measure_the_prefetch(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    figures = measure(monkeypatch)
    speed = subprocess.run(  # the machine's speed, as the repository's benchmarks report it
        [sys.executable, "-c", "import time; t=time.time(); sum(range(10**8)); print(time.time()-t)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(json.dumps(figures | {"sum_range_1e8_s": float(speed)}, indent=2))
    # With the prefetch, a live batch's latestOffset() waits on no GetRecords call.
    live_on = figures["live_latest_offset_ms_prefetch_True"]["median"]
    assert live_on < figures["live_latest_offset_ms_prefetch_False"]["median"]
