"""A Kinesis source for Spark Structured Streaming, written with Spark 4's Python Data Source API
(no JVM packages): one source reads one stream or several, each micro-batch a range of every shard
that has new records, the ranges grouped into tasks.

Offsets are per-shard sequence numbers kept in Spark's checkpoint, with how many records each
shard's last advance covered. Kinesis has no call that tells the sequence number at the tip of a
shard, so the driver plans each micro-batch by looking ahead with GetRecords (at most
`maxRecordsPerBatch` records in all, over all the streams): the end of a batch is then the sequence
number of a record that exists, and a batch re-run after a crash reads exactly the same records
(asking Kinesis for just that many). A bounded batch ends at one arrival time on every shard of
every stream, so that a backlog of several streams stays aligned in arrival time.

An offset of one stream is `{"stream": <name>, "initial": <position>, "created": <epoch seconds>,
"shards": {<shard id>: {"pos", "drained", "records"}}}`; of several, `{"streams": {<name>:
{"initial", "created", "shards"}, ...}}` with the names in sorted order. A source finds its offset in
the checkpoint by its set of streams. `created` is the stream's creation time, its identity: a
checkpoint of a stream since deleted and created again under the same name (an emulator restarted,
another endpoint) is refused (`check_checkpoint`), never read from positions that mean nothing in
the new stream. Offsets written before it have no `created`.

Each record is read from Kinesis once. The driver keeps what its look-ahead read, per shard, as
Arrow data: the records of the planned batch travel to the executors inside the input partitions
(Arrow IPC bytes), and the records read past the batch's end wait in a read-ahead buffer where the
next batch's look-ahead starts. A range that comes without records (a batch re-run after a
restart, a range the driver did not plan, or one too large to ship in a task) is read from Kinesis
on the executor, start exclusive, end inclusive.

Spark asks for the next batch's end only once the previous batch has run: so that its look-ahead
does not wait on Kinesis then, the driver goes on reading ahead while a batch runs (the prefetch,
option `prefetch`, on by default): one thread per shard fills the shard's read-ahead buffer up to
its part of `maxRecordsPerBatch`, and at the tip polls on for the records that arrive meanwhile.
`latestOffset()` stops it, then plans from what it read; a shard it read to the tip is not polled
again then (the records that arrived since make the next batch), a shard with nothing read ahead
is. The driver holds at most about two batches' worth of records: the batch planned last, and each
shard's part of a batch read ahead.

Resharding (per stream): a closed parent shard is drained before its children are read, and shards
that appear are picked up at the next batch. Expired iterators are renewed from the last sequence
number, throttling backs off, and each reader keeps to Kinesis' 5 GetRecords calls/s per shard. The
driver looks ahead on every shard of every stream at once.

Usage::

    spark.dataSource.register(KinesisDataSource)
    spark.readStream.format("fraudstream-kinesis").option("streamName", "transactions").load()
    spark.readStream.format("fraudstream-kinesis").option("streamNames", "transactions,labels").load()
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.pandas.types import from_arrow_schema

from fraudstream.retry import Backoff, call_with_retries

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_kinesis.type_defs import GetRecordsOutputTypeDef, ShardTypeDef
    from pyspark.sql.types import StructType

__all__ = [
    "KINESIS_SCHEMA",
    "KinesisDataSource",
    "KinesisStreamReader",
    "ShardRange",
    "ShardRanges",
    "check_checkpoint",
    "checkpointed_entries",
]

logger = logging.getLogger(__name__)

# Columns close to the AWS `aws-kinesis` connector's (data, streamName, partitionKey,
# sequenceNumber, approximateArrivalTimestamp), in snake_case: defined once in Arrow (what the
# reader yields), and as Spark sees them.
_ARRIVAL: Final = pa.timestamp("us", tz="UTC")
_ARROW_SCHEMA: Final = pa.schema(
    [
        pa.field("data", pa.binary(), nullable=False),
        pa.field("partition_key", pa.string(), nullable=False),
        pa.field("stream_name", pa.string(), nullable=False),
        pa.field("shard_id", pa.string(), nullable=False),
        pa.field("sequence_number", pa.string(), nullable=False),
        pa.field("approximate_arrival_timestamp", _ARRIVAL, nullable=False),
    ]
)
KINESIS_SCHEMA: Final = from_arrow_schema(_ARROW_SCHEMA)
# The columns that differ from record to record: what the driver keeps and ships. The stream and
# shard are the same for a whole partition and are added on the executor.
_RECORD_SCHEMA: Final = pa.schema(
    [_ARROW_SCHEMA.field(name) for name in _ARROW_SCHEMA.names if name not in {"stream_name", "shard_id"}]
)

GET_RECORDS_MAX: Final = 10_000  # the largest Limit GetRecords accepts
MIN_CALL_INTERVAL_S: Final = 0.2  # Kinesis allows 5 GetRecords calls per second per shard
# A task larger than spark.rpc.message.maxSize (128 MiB by default) fails to launch on a cluster:
# a shard's range with more data than this is read from Kinesis on the executor instead.
MAX_ATTACHED_BYTES: Final = 64 * 1024 * 1024
# Shard ranges whose records the driver holds are grouped into tasks of about this many records: a
# task has a fixed cost (its Python workers' turn, the stages after it), so a small live batch is one
# task, and a backlog spreads over as many tasks as it has shards.
RECORDS_PER_TASK: Final = 20_000
# How long a listing of the stream's shards is used when no shard was drained meanwhile.
SHARD_LIST_TTL_S: Final = 10.0
# How long the prefetch leaves a shard alone after a call found nothing new at its tip.
PREFETCH_IDLE_S: Final = 1.0
# How much earlier than predicted a latestOffset() call may come and still find its shards free to poll.
DUE_MARGIN_S: Final = 0.05
_THROTTLED: Final = frozenset({"ProvisionedThroughputExceededException", "LimitExceededException"})
# A throttled GetRecords waits up to 0.1 s, then up to twice as long each time again, at most 5 s.
_THROTTLING_BACKOFF: Final = Backoff(base_s=0.1, cap_s=5.0)


def _epoch_seconds(value: Any) -> float:
    """botocore's timestamp parser for this source's clients: arrival times stay epoch seconds,
    which Arrow converts a whole response at a time, instead of one tz-aware datetime per record."""
    if isinstance(value, int | float):
        return float(value)
    from botocore.utils import parse_timestamp

    return parse_timestamp(value).timestamp()


def _client(options: dict[str, str]) -> KinesisClient:
    import os

    import boto3
    import botocore.session
    from botocore.config import Config

    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_epoch_seconds)
    region = options.get("region") or core.get_config_variable("region") or os.environ.get("AWS_REGION") or "us-east-1"
    return boto3.Session(botocore_session=core, region_name=region).client(
        "kinesis",
        endpoint_url=options.get("endpointurl") or None,
        config=Config(retries={"mode": "standard", "max_attempts": 10}, connect_timeout=10, read_timeout=30),
    )


def _record_batch(records: Sequence[Mapping[str, Any]]) -> pa.RecordBatch:
    """One GetRecords response as Arrow (`_RECORD_SCHEMA`): a few C-level conversions per column."""
    arrivals = pa.array([r["ApproximateArrivalTimestamp"] for r in records], pa.float64())
    return pa.RecordBatch.from_arrays(
        [
            pa.array([r["Data"] for r in records], pa.binary()),
            pa.array([r["PartitionKey"] for r in records], pa.string()),
            pa.array([r["SequenceNumber"] for r in records], pa.string()),
            pc.round(pc.multiply(arrivals, 1_000_000)).cast(pa.int64()).cast(_ARRIVAL),
        ],
        schema=_RECORD_SCHEMA,
    )


def _with_source(batch: pa.RecordBatch, stream: str, shard_id: str) -> pa.RecordBatch:
    """A `_RECORD_SCHEMA` batch with the stream and shard columns: a row of `KINESIS_SCHEMA` each."""
    n = batch.num_rows
    return pa.RecordBatch.from_arrays(
        [
            batch.column("data"),
            batch.column("partition_key"),
            pa.repeat(pa.scalar(stream, pa.string()), n),
            pa.repeat(pa.scalar(shard_id, pa.string()), n),
            batch.column("sequence_number"),
            batch.column("approximate_arrival_timestamp"),
        ],
        schema=_ARROW_SCHEMA,
    )


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, _RECORD_SCHEMA) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


@dataclass(frozen=True)
class ShardRange(InputPartition):
    """One shard's part of a micro-batch: records after `start` up to and including `end_seq`.

    `start` is `AFTER:<seq>`, `TRIM_HORIZON` or `AT_TIMESTAMP:<epoch seconds>`. `records`, when the
    driver read the range while planning it, is that range's records as an Arrow IPC stream (the
    columns of `_RECORD_SCHEMA`); without it the executor reads the range from Kinesis, asking for
    `count` records (how many were planned, when known) so as not to fetch past the range's end.
    """

    stream: str
    shard_id: str
    start: str
    end_seq: str
    records: bytes | None = field(default=None, repr=False)
    count: int | None = None


@dataclass(frozen=True)
class ShardRanges(InputPartition):
    """What one task reads: shard ranges, each in order."""

    ranges: tuple[ShardRange, ...]


def _grouped(ranges: list[ShardRange]) -> list[ShardRanges]:
    """The tasks of a batch: the ranges the driver holds in groups of about RECORDS_PER_TASK records
    (the largest first into the lightest group), every other range in a task of its own."""
    held = sorted((r for r in ranges if r.records is not None), key=lambda r: -(r.count or 0))
    total = sum(r.count or 0 for r in held)
    groups: list[list[ShardRange]] = [[] for _ in range(min(len(held), max(1, -(-total // RECORDS_PER_TASK))))]
    for shard_range in held:
        min(groups, key=lambda g: sum(r.count or 0 for r in g)).append(shard_range)
    return [ShardRanges(tuple(g)) for g in groups] + [ShardRanges((r,)) for r in ranges if r.records is None]


def _iterator_args(shard_id: str, position: str) -> dict[str, Any]:
    if position.startswith("AFTER:"):
        return {
            "ShardId": shard_id,
            "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
            "StartingSequenceNumber": position[6:],
        }
    if position.startswith("AT_TIMESTAMP:"):
        ts = datetime.fromtimestamp(float(position[13:]), UTC)
        return {"ShardId": shard_id, "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": ts}
    return {"ShardId": shard_id, "ShardIteratorType": "TRIM_HORIZON"}


class _Stopped(Exception):  # noqa: N818 - a signal, not an error
    """Raised inside `_ShardCursor.fetch` when its `stop` event is set while it waits."""


class _ShardCursor:
    """Reads one shard from a position with GetRecords, politely: call pacing, throttling backoff,
    renewal of expired iterators from the last sequence number seen."""

    def __init__(self, client: KinesisClient, stream: str, shard_id: str, position: str, min_interval_s: float) -> None:
        self.client = client
        self.stream = stream
        self.shard_id = shard_id
        self.position = position  # after the last record fetched
        self.min_interval_s = min_interval_s
        self.closed_and_drained = False
        self.at_tip = False  # the last call returned the shard's newest record (MillisBehindLatest 0)
        self.last_call = 0.0  # time.monotonic() of the last GetRecords call
        self.last_rows = 0  # how many records it returned
        self._iterator: str | None = None

    def fetch(self, limit: int, stop: threading.Event | None = None) -> pa.RecordBatch:
        """Up to `limit` records from the current position (`_RECORD_SCHEMA`); none at the tip.

        With `stop`, its waits (pacing, backoff) end when `stop` is set, raising `_Stopped`: only
        ever between calls, with the cursor where the last completed call left it.
        """
        from botocore.exceptions import ClientError

        def pause(seconds: float) -> None:
            if stop is None:
                time.sleep(seconds)
            elif stop.wait(seconds):
                raise _Stopped

        def call(_attempt: int) -> GetRecordsOutputTypeDef:
            # An expired iterator is renewed and the call made again at once: nothing to back off from.
            while True:
                if stop is not None and stop.is_set():
                    raise _Stopped
                if self._iterator is None:
                    self._iterator = self.client.get_shard_iterator(
                        StreamName=self.stream, **_iterator_args(self.shard_id, self.position)
                    )["ShardIterator"]
                wait = self.last_call + self.min_interval_s - time.monotonic()
                if wait > 0:
                    pause(wait)
                self.last_call = time.monotonic()
                try:
                    return self.client.get_records(ShardIterator=self._iterator, Limit=min(limit, GET_RECORDS_MAX))
                except ClientError as e:
                    if e.response.get("Error", {}).get("Code", "") != "ExpiredIteratorException":
                        raise
                    self._iterator = None  # renewed from self.position, the last sequence number seen

        def throttled(e: Exception) -> bool:
            return isinstance(e, ClientError) and e.response.get("Error", {}).get("Code", "") in _THROTTLED

        response = call_with_retries(call, retryable=throttled, backoff=_THROTTLING_BACKOFF, sleep=pause)
        records = response["Records"]
        self._iterator = response.get("NextShardIterator")
        self.at_tip = response.get("MillisBehindLatest", 1) == 0
        self.last_rows = len(records)
        if records:
            self.position = f"AFTER:{records[-1]['SequenceNumber']}"
        if self._iterator is None:
            self.closed_and_drained = True  # a closed shard, read to its end
        return _record_batch(records)


class _Prefetch:
    """The driver's read-ahead between two `latestOffset()` calls, while Spark runs the batch
    planned last: one daemon thread per shard fetches through the shard's cursor into its
    read-ahead buffer, up to its bound (the shard's share of a batch), so that the next
    look-ahead finds them read. At the tip it polls on for records that arrive meanwhile, at the
    cursor's pace while they come, every PREFETCH_IDLE_S while none do; but not in the pacing
    interval before `due` (when the next `latestOffset()` is expected), so that the call there may
    poll the shard once more without waiting, and the batch takes the records that arrived until it
    was planned instead of leaving them for the next one.

    Each thread owns its shard's cursor and buffer until `stop()` has returned. An error ends its
    thread and is kept for `latestOffset()` to raise.
    """

    def __init__(
        self, jobs: Mapping[_Key, tuple[_ShardCursor, list[pa.RecordBatch], int]], due: float | None = None
    ) -> None:
        self.errors: list[Exception] = []
        self.due = due  # time.monotonic() of the next expected latestOffset(); None: unknown
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=job, name=f"kinesis-prefetch-{key[0]}-{key[1]}", daemon=True)
            for key, job in jobs.items()
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, cursor: _ShardCursor, buffer: list[pa.RecordBatch], bound: int) -> None:
        n = sum(b.num_rows for b in buffer)
        try:
            while n < bound and not cursor.closed_and_drained:
                if cursor.at_tip and not cursor.last_rows:
                    # A quiet shard: polled seldom, so that the poll `latestOffset()` makes when it
                    # finds nothing read ahead seldom has to wait for the pacing.
                    if self._stop.wait(cursor.last_call + PREFETCH_IDLE_S - time.monotonic()):
                        return
                if cursor.at_tip and self.due is not None:
                    # The next call would keep latestOffset() from polling when it comes: leave
                    # the shard to it until a pacing interval after it was due.
                    call_at = max(time.monotonic(), cursor.last_call + cursor.min_interval_s)
                    if self.due - cursor.min_interval_s - DUE_MARGIN_S < call_at < self.due + cursor.min_interval_s:
                        if self._stop.wait(self.due + cursor.min_interval_s - time.monotonic()):
                            return
                batch = cursor.fetch(bound - n, self._stop)
                if batch.num_rows:
                    buffer.append(batch)
                    n += batch.num_rows
        except _Stopped:
            pass
        except Exception as e:  # noqa: BLE001 - kept for latestOffset() to raise
            self.errors.append(e)

    def done(self) -> bool:
        """Whether every thread has ended (its shard's buffer full, drained, or an error)."""
        return not any(t.is_alive() for t in self._threads)

    def stop(self, timeout_s: float | None = None) -> Exception | None:
        """Ends the threads (an ongoing GetRecords call completes; waits are cut short) and returns
        the first error one met. Without a timeout, on return no thread touches a cursor or buffer."""
        self._stop.set()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return self.errors[0] if self.errors else None


@dataclass
class _PlannedRange:
    """The records the driver read for one shard's range of the batch it planned last."""

    start: str
    end: str
    records: pa.Table | None
    _ipc: bytes | None = None

    def ipc(self) -> bytes:
        # Spark may plan a batch's partitions more than once: serialise once, then keep only that.
        if self._ipc is None:
            self._ipc = _ipc(self.records)
            self.records = None
        return self._ipc


_Key = tuple[str, str]  # (stream, shard id)


def _stream_names(options: Mapping[str, str]) -> tuple[str, ...]:
    """The streams a source reads, sorted (the order of an offset's entries): `streamNames`
    (comma-separated) or `streamName`."""
    if "streamname" in options and "streamnames" in options:
        raise ValueError("give the fraudstream-kinesis source streamName or streamNames, not both")
    if "streamnames" in options:
        names = {name.strip() for name in options["streamnames"].split(",")} - {""}
    else:
        names = {options.get("streamname", "").strip()} - {""}
    if not names:
        raise ValueError(
            "the fraudstream-kinesis source needs .option('streamName', ...) or .option('streamNames', ...)"
        )
    return tuple(sorted(names))


def _entries(offset: Any) -> dict[str, dict[str, Any]] | None:
    """An offset of this source as `{stream: {"initial", "shards"}}`, whichever of its two forms it
    has; None for anything else (another source's offset in the same log)."""
    if not isinstance(offset, dict):
        return None
    if isinstance(offset.get("streams"), dict):
        return dict(offset["streams"])
    if all(isinstance(offset.get(k), t) for k, t in (("stream", str), ("initial", str), ("shards", dict))):
        entry = {"initial": offset["initial"], "shards": offset["shards"]}
        return {offset["stream"]: entry | ({"created": offset["created"]} if "created" in offset else {})}
    return None


def _entry(initial: str, created: Any, shards: dict[str, Any]) -> dict[str, Any]:
    """One stream's entry of an offset (`created` None: not known, an offset written before it)."""
    return {"initial": initial} | ({} if created is None else {"created": created}) | {"shards": shards}


def _epoch(value: Any) -> float:
    """A timestamp from boto3 (a datetime) or from this source's clients (epoch seconds)."""
    return value.timestamp() if isinstance(value, datetime) else float(value)


def checkpointed_entries(location: str) -> list[dict[str, dict[str, Any]]]:
    """The offsets of this source's kind in the newest entry of a query's offset log, each as
    `{stream: {"initial", "created"?, "shards"}}`; none for a new checkpoint.

    The log (`<checkpoint>/offsets/<batch id>`) is Spark's: a version line, a metadata line, then
    one JSON offset per source, in the order of the query's sources.
    """
    from pyarrow import fs

    filesystem, root = fs.FileSystem.from_uri(location) if "://" in location else (fs.LocalFileSystem(), location)
    infos = filesystem.get_file_info(fs.FileSelector(f"{root.rstrip('/')}/offsets", allow_not_found=True))
    batches = sorted((int(i.base_name), i.path) for i in infos if i.base_name.isdigit())
    if not batches:
        return []
    with filesystem.open_input_stream(batches[-1][1]) as f:
        lines = f.read().decode().splitlines()
    found = []
    for line in lines[2:]:
        try:
            entries = _entries(json.loads(line))
        except ValueError:
            continue
        if entries is not None:
            found.append(entries)
    return found


def check_checkpoint(location: str, streams: Sequence[str], client: KinesisClient) -> None:
    """Refuse a checkpoint whose streams are not the live ones: a stream it reads is gone, was
    created again since (its creation time differs), or has no such shard (a shard id past every
    shard the stream has: Kinesis numbers a stream's shards in order of creation, its newest shard
    is open, so a shard that expired after a reshard always has a smaller id than a live one).

    Resharding is not a mismatch: closed shards, children and expired parents are the same stream.

    Raises:
        StaleCheckpointError: the message names the stream and what differs.
    """
    from botocore.exceptions import ClientError

    from processor.exceptions import StaleCheckpointError

    found = checkpointed_entries(location)
    mine = [entries for entries in found if set(entries) == set(streams)]
    if not mine:
        if found:
            raise StaleCheckpointError(
                f"checkpoint {location} reads the streams {sorted(found[0])}, not {sorted(streams)}"
            )
        return
    for name, entry in mine[0].items():
        try:
            summary = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise StaleCheckpointError(
                    f"checkpoint {location} reads stream {name!r}, which does not exist here"
                ) from e
            raise
        created = _epoch(summary["StreamCreationTimestamp"])
        # Kinesis gives the time in milliseconds; a datetime's float and the raw number may differ below.
        if "created" in entry and round(float(entry["created"]), 3) != round(created, 3):
            was, now = (datetime.fromtimestamp(t, UTC).isoformat() for t in (float(entry["created"]), created))
            raise StaleCheckpointError(
                f"checkpoint {location} reads stream {name!r} created at {was}; the stream here was created at {now}"
            )
        first: dict[str, int] = {}  # each live shard's first sequence number
        kwargs: dict[str, Any] = {"StreamName": name}
        while True:
            page = client.list_shards(**kwargs)
            first |= {s["ShardId"]: int(s["SequenceNumberRange"]["StartingSequenceNumber"]) for s in page["Shards"]}
            if not page.get("NextToken"):
                break
            kwargs = {"NextToken": page["NextToken"]}
        newest = max((_shard_number(s) for s in first), default=-1)
        unknown = sorted(sid for sid in entry["shards"] if _shard_number(sid) > newest)
        if unknown:
            raise StaleCheckpointError(
                f"checkpoint {location} reads shards of stream {name!r} that it never had: {', '.join(unknown)}"
            )
        # A position is a record's sequence number in its shard, never below the shard's first: one
        # below it is of an earlier stream of the name (on AWS, where sequence numbers grow with time;
        # what an offset without `created` can still tell).
        before = sorted(
            sid
            for sid, state in entry["shards"].items()
            if sid in first and str(state.get("pos", "")).startswith("AFTER:") and int(state["pos"][6:]) < first[sid]
        )
        if before:
            raise StaleCheckpointError(
                f"checkpoint {location} reads stream {name!r} at positions before its shards' first records "
                f"({', '.join(before)}): the stream was created again since"
            )


def _shard_number(shard_id: str) -> int:
    """`shardId-000000000012` -> 12 (-1 for an id of another form, never taken for unknown)."""
    digits = shard_id.rsplit("-", 1)[-1]
    return int(digits) if digits.isdigit() else -1


class KinesisStreamReader(DataSourceStreamReader):
    """Plans micro-batches on the driver and reads shard ranges on the executors."""

    def __init__(self, options: dict[str, str]) -> None:
        self.options = options
        self.streams = _stream_names(options)
        self.max_records = int(options.get("maxrecordsperbatch", "100000"))
        self.min_interval_s = float(options.get("mingetrecordsintervalms", str(MIN_CALL_INTERVAL_S * 1000))) / 1000
        self.starting_position = options.get("startingposition", "trim_horizon").lower()
        self.prefetch = options.get("prefetch", "true").strip().lower() != "false"
        self._client: KinesisClient | None = None
        self._initial: str | None = None
        self._created: dict[str, float] | None = None
        self._planned: dict[str, Any] | None = None
        # Driver-side, per (stream, shard), all following `_planned`: where each shard's look-ahead
        # goes on (the cursor sits after the read-ahead buffer's last record), the records read past
        # the planned end, and the records of the batch planned last (for `partitions`).
        self._cursors: dict[_Key, _ShardCursor] = {}
        self._ahead: dict[_Key, list[pa.RecordBatch]] = {}
        self._batch: dict[_Key, _PlannedRange] = {}
        # Between `latestOffset()` calls, what fills `_ahead` through `_cursors`. Made there, not
        # here: a reader that has planned nothing is pickled to the executors, and threads do not pickle.
        self._prefetch: _Prefetch | None = None
        # When latestOffset() was last called (time.monotonic()), and the smoothed time between calls.
        self._called: float | None = None
        self._cycle_s: float | None = None
        # Per stream, the last listing of its shards: when, which shards were drained then, the shards.
        self._listings: dict[str, tuple[float, frozenset[str], list[ShardTypeDef]]] = {}

    @property
    def client(self) -> KinesisClient:
        if self._client is None:
            self._client = _client(self.options)
        return self._client

    def _initial_position(self) -> str:
        if self.starting_position == "trim_horizon":
            return "TRIM_HORIZON"
        if self.starting_position == "latest":
            # "Latest" is pinned to the query's start time, so that it means the same after a restart.
            return f"AT_TIMESTAMP:{time.time()}"
        if self.starting_position.startswith("at_timestamp:"):
            value = self.starting_position.split(":", 1)[1]
            ts = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
            return f"AT_TIMESTAMP:{ts.timestamp()}"
        raise ValueError(
            f"startingPosition {self.starting_position!r}: use trim_horizon, latest or at_timestamp:<ISO-8601 time>"
        )

    def _offset(self, entries: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """The offset Spark keeps: a single stream's in the form it has always had (checkpoints
        written before several streams stay this source's), several streams' in sorted order."""
        own = {name: _entry(e["initial"], e.get("created"), e["shards"]) for name, e in entries.items()}
        if len(self.streams) == 1:
            (name,) = self.streams
            return {"stream": name} | own[name]
        return {"streams": {name: own[name] for name in self.streams}}

    def _own(self, offset: Any) -> dict[str, dict[str, Any]]:
        """The per-stream entries of an offset Spark passes back, which must be of these streams."""
        entries = _entries(offset)
        if entries is None or set(entries) != set(self.streams):
            found = sorted(entries) if entries is not None else offset
            raise ValueError(
                f"offset of streams {found} for a source of streams {list(self.streams)}: the streams a query "
                "reads cannot change over its checkpoint"
            )
        return entries

    def _shards(self, stream: str, positions: dict[str, dict[str, Any]]) -> list[ShardTypeDef]:
        """The stream's shards, listed again when a shard was drained since the last listing (a
        reshard closes shards: their children are new) or when the listing is SHARD_LIST_TTL_S old,
        and otherwise as listed: a ListShards call per micro-batch is latency on every batch."""
        drained = frozenset(sid for sid, state in positions.items() if state.get("drained"))
        listed = self._listings.get(stream)
        if listed is not None and listed[1] == drained and time.monotonic() - listed[0] < SHARD_LIST_TTL_S:
            return listed[2]
        shards: list[ShardTypeDef] = []
        kwargs: dict[str, Any] = {"StreamName": stream}
        while True:
            page = self.client.list_shards(**kwargs)
            shards.extend(page["Shards"])
            if not page.get("NextToken"):
                self._listings[stream] = (time.monotonic(), drained, shards)
                return shards
            kwargs = {"NextToken": page["NextToken"]}

    def _stop_prefetch(self) -> Exception | None:
        """Stops the prefetch, if one runs: on return the cursors and buffers are the caller's."""
        prefetch, self._prefetch = self._prefetch, None
        return None if prefetch is None else prefetch.stop()

    def _forget(self) -> None:
        """Drop what was read ahead: it no longer follows the offset planning goes on from."""
        error = self._stop_prefetch()
        if error is not None:  # about records no longer wanted: a look-ahead from the new offset retries
            logger.info("read-ahead dropped with its error", exc_info=error)
        self._cursors.clear()
        self._ahead.clear()
        self._batch.clear()

    def initialOffset(self) -> dict[str, Any]:
        # The same every time in this reader: Spark's first batch starts where the look-ahead did.
        if self._initial is None:
            self._initial = self._initial_position()
        if self._created is None:
            self._created = {name: self._creation_time(name) for name in self.streams}
        return self._offset({name: _entry(self._initial, self._created[name], {}) for name in self.streams})

    def _creation_time(self, stream: str) -> float:
        summary = self.client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
        return _epoch(summary["StreamCreationTimestamp"])

    def latestOffset(self) -> dict[str, Any]:
        called = time.monotonic()
        if self._called is not None:  # the cycle of micro-batches, smoothed: when the next call is due
            cycle = called - self._called
            self._cycle_s = cycle if self._cycle_s is None else 0.7 * self._cycle_s + 0.3 * cycle
        self._called = called
        # The prefetch stops first: what it read is in the buffers, an error it met is this call's.
        error = self._stop_prefetch()
        if error is not None:
            raise error
        # NOTE: Spark 4 does not pass the batch's start here, so the reader looks ahead from the
        # last offset it planned; after a restart, from the last offset in Spark's checkpoint.
        if self._planned is None:
            location = self.options.get("checkpointlocation")
            if location:  # a checkpoint of other streams is refused before anything is read
                check_checkpoint(location, self.streams, self.client)
            self._planned = self._checkpointed_offset() or self.initialOffset()
        # Spark has planned the previous batch's partitions by now: its records are no longer needed.
        self._batch = {}
        current = self._own(self._planned)
        initial = {name: str(current[name]["initial"]) for name in self.streams}
        positions: dict[str, dict[str, dict[str, Any]]] = {
            name: {sid: dict(state) for sid, state in current[name]["shards"].items()} for name in self.streams
        }
        # Shards and streams are independent: list and look ahead on all of them at once (the calls
        # wait on the network), so that a source of several streams waits once per batch, not once
        # per stream.
        client = self.client  # made once here, not by the first threads that need it
        with ThreadPoolExecutor(max_workers=16) as pool:
            listed = dict(
                zip(self.streams, pool.map(lambda s: self._shards(s, positions[s]), self.streams), strict=True)
            )
            readable: list[_Key] = []
            for name, shards in listed.items():
                known = {s["ShardId"] for s in shards}
                for shard in shards:
                    sid = shard["ShardId"]
                    state = positions[name].setdefault(sid, {"pos": initial[name], "drained": False})
                    if state["drained"]:
                        continue
                    parents = [p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p]
                    # A child is read only once its parents are drained (or gone past retention).
                    if any(p in known and not positions[name].get(p, {}).get("drained", False) for p in parents):
                        continue
                    readable.append((name, sid))
            for key in set(self._cursors) - set(readable):  # drained, or gone past retention
                del self._cursors[key]
                self._ahead.pop(key, None)
            cursors = {
                key: self._cursors.get(key)
                or _ShardCursor(client, key[0], key[1], positions[key[0]][key[1]]["pos"], self.min_interval_s)
                for key in readable
            }

            def look_ahead(
                key: _Key, share: int, batches: list[pa.RecordBatch], *, poll: bool = False
            ) -> list[pa.RecordBatch]:
                """The shard's records after its planned position (`batches`: those read so far),
                read on up to `share` (with `poll`, at least one call even if it was at the tip)."""
                cursor = cursors[key]
                batches = list(batches)
                n = sum(b.num_rows for b in batches)
                # Records the prefetch read up to the tip make this batch, and so do those that came
                # since when the pacing lets the shard be polled now; otherwise those make the next
                # one (there is one: this one has records). A shard with nothing read ahead is
                # polled, so that a batch without new data means none had arrived when it was
                # planned (Spark's processAllAvailable relies on it).
                if (
                    self.prefetch
                    and n
                    and cursor.at_tip
                    and not poll
                    and time.monotonic() < cursor.last_call + cursor.min_interval_s
                ):
                    return batches
                while n < share and not cursor.closed_and_drained:
                    batch = cursor.fetch(share - n)
                    batches.append(batch)
                    n += batch.num_rows
                    # At the tip the batch ends: chasing records that arrive meanwhile would keep a
                    # stream fed in real time from ever starting its batch.
                    if not batch.num_rows or cursor.at_tip:
                        break
                return batches

            # The batch's records are shared out like water: each shard first reads up to an equal
            # share, then the shards that had more split what the others left (a labels stream
            # seldom fills its share, and a backlog's batch would otherwise be half its bound).
            per_shard = max(1, self.max_records // max(1, len(readable)))
            shares = dict.fromkeys(readable, per_shard)
            read = dict(
                zip(
                    readable,
                    pool.map(lambda k: look_ahead(k, per_shard, list(self._ahead.get(k, ()))), readable),
                    strict=True,
                )
            )
            counts = {key: sum(b.num_rows for b in batches) for key, batches in read.items()}
            full = [key for key in readable if counts[key] >= per_shard]
            if full:
                spare = self.max_records - sum(counts[key] for key in readable if key not in full)
                share = max(per_shard, spare // len(full))
                if share > per_shard:
                    shares |= dict.fromkeys(full, share)
                    # Read on afresh: a shard that falls short of the larger share now is at its tip
                    # now, and so cannot hold records older than the batch's horizon unread.
                    more = pool.map(lambda k: look_ahead(k, share, read[k], poll=True), full)
                    read |= dict(zip(full, more, strict=True))
            tables = {key: pa.Table.from_batches(batches, schema=_RECORD_SCHEMA) for key, batches in read.items()}
        # A bounded batch ends at one arrival time on every shard of every stream: were each shard
        # cut at its own count, a backlog would leave some shards (or a whole stream) hours of event
        # time behind the others, and the watermark (which follows the newest event) would turn
        # their records late.
        arrivals = {key: t.column("approximate_arrival_timestamp").slice(0, shares[key]) for key, t in tables.items()}
        ends = [a[shares[key] - 1].value for key, a in arrivals.items() if len(a) >= shares[key]]
        horizon = min(ends) if ends else None
        for key, table in tables.items():
            cursor = cursors[key]
            state = positions[key[0]][key[1]]
            n = table.num_rows
            kept = n
            if horizon is not None and n:
                kept = pc.sum(pc.less_equal(arrivals[key].cast(pa.int64()), horizon)).as_py() or 0
            if kept:
                end = f"AFTER:{table.column('sequence_number')[kept - 1].as_py()}"
                self._batch[key] = _PlannedRange(state["pos"], end, table.slice(0, kept))
            if kept < n:
                self._ahead[key] = table.slice(kept).to_batches()
            else:
                self._ahead.pop(key, None)
            self._cursors[key] = cursor
            if kept == n:
                state |= {"pos": cursor.position, "drained": cursor.closed_and_drained}
            elif kept:
                state |= {"pos": end, "drained": False}
            if kept:
                # How many records this advance covers: a re-run reads that many, not a whole response.
                # Set only when the shard moves, so that an offset without new data stays the same.
                state["records"] = kept
        planned = self._offset(
            {name: _entry(initial[name], current[name].get("created"), positions[name]) for name in self.streams}
        )
        self._planned = planned
        if self.prefetch:
            # While Spark runs this batch, read the next one's records (each shard up to its share).
            jobs = {
                key: (cursors[key], self._ahead.setdefault(key, []), shares[key])
                for key in readable
                if not cursors[key].closed_and_drained
            }
            self._prefetch = _Prefetch(jobs, None if self._cycle_s is None else called + self._cycle_s)
        return planned

    def _checkpointed_offset(self) -> dict[str, Any] | None:
        """This source's offset in the newest entry of the query's offset log, if there is one: the
        one of the same set of streams (see `checkpointed_entries`)."""
        location = self.options.get("checkpointlocation")
        if not location:
            return None
        for entries in checkpointed_entries(location):
            if set(entries) == set(self.streams):
                return self._offset(entries)
        return None

    def partitions(self, start: dict[str, Any], end: dict[str, Any]) -> list[ShardRanges]:
        # Spark passes the previous batch's end (from the checkpoint on restart): plan from it. Any
        # other end than the one planned last (a restart, Spark re-planning) voids the read-ahead.
        if end != self._planned:
            self._forget()
            self._planned = end
        starts, ends = self._own(start), self._own(end)
        ranges = []
        for name in self.streams:
            first, last = starts[name], ends[name]
            for sid, state in last["shards"].items():
                before = first["shards"].get(sid, {"pos": first.get("initial", last["initial"])})
                if not state["pos"].startswith("AFTER:") or state["pos"] == before["pos"]:
                    continue
                held = self._batch.get((name, sid))
                records = None
                # Only the exact range planned: its records, no more, no fewer.
                if held is not None and (held.start, held.end) == (before["pos"], state["pos"]):
                    records = held.ipc()
                    if len(records) > MAX_ATTACHED_BYTES:
                        logger.info(
                            "shard range too large to ship, read on the executor", extra={"stream": name, "shard": sid}
                        )
                        records = None
                ranges.append(ShardRange(name, sid, before["pos"], state["pos"][6:], records, state.get("records")))
        return _grouped(ranges)

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        if not isinstance(partition, ShardRanges):
            raise TypeError(f"unexpected partition {partition!r}")
        for shard_range in partition.ranges:
            yield from self.read_range(shard_range)

    def read_range(self, partition: ShardRange) -> Iterator[pa.RecordBatch]:
        """One shard range's records: whole Arrow record batches, no per-row conversion in Python."""
        if partition.records is not None:
            with pa.ipc.open_stream(partition.records) as planned:
                for batch in planned:
                    yield _with_source(batch, partition.stream, partition.shard_id)
            return
        min_interval_s = float(self.options.get("mingetrecordsintervalms", str(MIN_CALL_INTERVAL_S * 1000))) / 1000
        cursor = _ShardCursor(
            _client(self.options), partition.stream, partition.shard_id, partition.start, min_interval_s
        )
        end = int(partition.end_seq)
        left = partition.count or 0  # a hint: the loop goes on to `end` whatever it says
        while True:
            batch = cursor.fetch(left if left > 0 else GET_RECORDS_MAX)
            left -= batch.num_rows
            if not batch.num_rows:
                raise RuntimeError(
                    f"shard {partition.shard_id} ended before sequence number {partition.end_seq}: "
                    "records planned for this batch are no longer in the stream (retention expired?)"
                )
            seqs = batch.column("sequence_number").to_pylist()
            taken = len(seqs) if int(seqs[-1]) <= end else next(i for i, s in enumerate(seqs) if int(s) > end)
            if taken:
                yield _with_source(batch.slice(0, taken), partition.stream, partition.shard_id)
            if taken < len(seqs) or int(seqs[-1]) == end:
                return

    def commit(self, end: dict[str, Any]) -> None:
        logger.debug(
            "kinesis batch committed", extra={"streams": ",".join(self.streams), "offset": describe_offset(end)}
        )

    def stop(self) -> None:
        # A query's stop does not wait on a GetRecords call: the daemon threads end after theirs.
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None:
            prefetch.stop(timeout_s=1.0)


class KinesisDataSource(DataSource):
    """`spark.readStream.format("fraudstream-kinesis")`.

    Options: `streamName` (one stream) or `streamNames` (comma-separated: one source reads them all,
    its batches aligned in arrival time across them; each row's `stream_name` tells them apart), one
    of the two required; `checkpointLocation` (the query's own, so that the source resumes planning
    where the checkpoint is after a restart; it finds its offset there by its set of streams, which
    cannot change over a checkpoint), `startingPosition` (`trim_horizon` (default), `latest`,
    `at_timestamp:<ISO-8601>`; for every stream), `maxRecordsPerBatch` (default 100000, over all
    the streams), `endpointUrl` and `region` (default: boto3's configuration),
    `minGetRecordsIntervalMs` (default 200: 5 calls/s per shard), `prefetch` (default true: the
    driver reads the next batch's records while a batch runs; false: only when Spark asks for it).
    """

    @classmethod
    def name(cls) -> str:
        return "fraudstream-kinesis"

    def schema(self) -> StructType:
        return KINESIS_SCHEMA

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        # Spark's options are case-insensitive: the reader sees them lower-cased.
        options = {k.lower(): v for k, v in self.options.items()}
        return KinesisStreamReader(options)


def describe_offset(offset: dict[str, Any]) -> str:
    """A short human summary of an offset, for logs: each stream's shard positions."""
    entries = _entries(offset) or {}
    return json.dumps({name: {sid: s["pos"] for sid, s in e["shards"].items()} for name, e in entries.items()})
