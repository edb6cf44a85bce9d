"""A Kinesis source for Spark Structured Streaming, written with Spark 4's Python Data Source API
(no JVM packages): one input partition per shard, read on the executors.

Offsets are per-shard sequence numbers kept in Spark's checkpoint. Kinesis has no call that tells
the sequence number at the tip of a shard, so the driver plans each micro-batch by looking ahead
with GetRecords (at most `maxRecordsPerBatch` records in all): the end of a batch is then the
sequence number of a record that exists, and a batch re-run after a crash reads exactly the same
records. Executors read each shard's range (start exclusive, end inclusive) again.

Resharding: a closed parent shard is drained before its children are read, and shards that appear
are picked up at the next batch. Expired iterators are renewed from the last sequence number,
throttling backs off, and each reader keeps to Kinesis' 5 GetRecords calls/s per shard.

Usage::

    spark.dataSource.register(KinesisDataSource)
    spark.readStream.format("fraudstream-kinesis").option("streamName", "transactions").load()
"""

from __future__ import annotations

import json
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.types import BinaryType, StringType, StructField, StructType, TimestampType

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_kinesis.type_defs import ShardTypeDef

__all__ = ["KINESIS_SCHEMA", "KinesisDataSource", "KinesisStreamReader", "ShardRange"]

logger = logging.getLogger(__name__)

# Columns close to the AWS `aws-kinesis` connector's (data, streamName, partitionKey,
# sequenceNumber, approximateArrivalTimestamp), in snake_case.
KINESIS_SCHEMA: Final = StructType(
    [
        StructField("data", BinaryType(), nullable=False),
        StructField("partition_key", StringType(), nullable=False),
        StructField("stream_name", StringType(), nullable=False),
        StructField("shard_id", StringType(), nullable=False),
        StructField("sequence_number", StringType(), nullable=False),
        StructField("approximate_arrival_timestamp", TimestampType(), nullable=False),
    ]
)

_ARROW_SCHEMA: Final = pa.schema(
    [
        pa.field("data", pa.binary(), nullable=False),
        pa.field("partition_key", pa.string(), nullable=False),
        pa.field("stream_name", pa.string(), nullable=False),
        pa.field("shard_id", pa.string(), nullable=False),
        pa.field("sequence_number", pa.string(), nullable=False),
        pa.field("approximate_arrival_timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

GET_RECORDS_MAX: Final = 10_000  # the largest Limit GetRecords accepts
MIN_CALL_INTERVAL_S: Final = 0.2  # Kinesis allows 5 GetRecords calls per second per shard
_THROTTLED: Final = frozenset({"ProvisionedThroughputExceededException", "LimitExceededException"})


def _client(options: dict[str, str]) -> KinesisClient:
    import boto3
    from botocore.config import Config

    session = boto3.Session(region_name=options.get("region") or None)
    if session.region_name is None:
        import os

        session = boto3.Session(region_name=os.environ.get("AWS_REGION") or "us-east-1")
    return session.client(
        "kinesis",
        endpoint_url=options.get("endpointurl") or None,
        config=Config(retries={"mode": "standard", "max_attempts": 10}, connect_timeout=10, read_timeout=30),
    )


@dataclass(frozen=True)
class ShardRange(InputPartition):
    """One shard's part of a micro-batch: records after `start` up to and including `end_seq`.

    `start` is `AFTER:<seq>`, `TRIM_HORIZON` or `AT_TIMESTAMP:<epoch seconds>`.
    """

    stream: str
    shard_id: str
    start: str
    end_seq: str


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


class _ShardCursor:
    """Reads one shard from a position with GetRecords, politely: call pacing, throttling backoff,
    renewal of expired iterators from the last sequence number seen."""

    def __init__(self, client: KinesisClient, stream: str, shard_id: str, position: str, min_interval_s: float) -> None:
        self.client = client
        self.stream = stream
        self.shard_id = shard_id
        self.position = position
        self.min_interval_s = min_interval_s
        self.closed_and_drained = False
        self.at_tip = False  # the last call returned the shard's newest record (MillisBehindLatest 0)
        self._iterator: str | None = None
        self._last_call = 0.0

    def fetch(self, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` records from the current position; [] at the tip."""
        from botocore.exceptions import ClientError

        backoff = 0.1
        while True:
            if self._iterator is None:
                self._iterator = self.client.get_shard_iterator(
                    StreamName=self.stream, **_iterator_args(self.shard_id, self.position)
                )["ShardIterator"]
            wait = self._last_call + self.min_interval_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_call = time.monotonic()
            try:
                response = self.client.get_records(ShardIterator=self._iterator, Limit=min(limit, GET_RECORDS_MAX))
            except ClientError as e:
                code = e.response.get("Error", {}).get("Code", "")
                if code == "ExpiredIteratorException":
                    self._iterator = None  # renewed from self.position, the last sequence number seen
                    continue
                if code in _THROTTLED:
                    time.sleep(random.uniform(0, backoff))  # noqa: S311 - jitter
                    backoff = min(backoff * 2, 5.0)
                    continue
                raise
            records: list[dict[str, Any]] = [dict(r) for r in response["Records"]]
            self._iterator = response.get("NextShardIterator")
            self.at_tip = response.get("MillisBehindLatest", 1) == 0
            if records:
                self.position = f"AFTER:{records[-1]['SequenceNumber']}"
            if self._iterator is None:
                self.closed_and_drained = True  # a closed shard, read to its end
            return records


class KinesisStreamReader(DataSourceStreamReader):
    """Plans micro-batches on the driver and reads shard ranges on the executors."""

    def __init__(self, options: dict[str, str]) -> None:
        self.options = options
        self.stream = options["streamname"]
        self.max_records = int(options.get("maxrecordsperbatch", "100000"))
        self.min_interval_s = float(options.get("mingetrecordsintervalms", str(MIN_CALL_INTERVAL_S * 1000))) / 1000
        self.starting_position = options.get("startingposition", "trim_horizon").lower()
        self._client: KinesisClient | None = None
        self._planned: dict[str, Any] | None = None

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

    def _shards(self) -> list[ShardTypeDef]:
        shards: list[ShardTypeDef] = []
        kwargs: dict[str, Any] = {"StreamName": self.stream}
        while True:
            page = self.client.list_shards(**kwargs)
            shards.extend(page["Shards"])
            if not page.get("NextToken"):
                return shards
            kwargs = {"NextToken": page["NextToken"]}

    def initialOffset(self) -> dict[str, Any]:
        return {"stream": self.stream, "initial": self._initial_position(), "shards": {}}

    def latestOffset(self) -> dict[str, Any]:
        # NOTE: Spark 4.0 does not pass the batch's start here, so the reader looks ahead from the
        # last offset it planned; after a restart, from the last offset in Spark's checkpoint.
        if self._planned is None:
            self._planned = self._checkpointed_offset() or self.initialOffset()
        current = self._planned
        initial: str = current["initial"]
        positions: dict[str, dict[str, Any]] = {k: dict(v) for k, v in current["shards"].items()}
        shards = self._shards()
        known = {s["ShardId"] for s in shards}
        budget = self.max_records
        readable = []
        for shard in shards:
            sid = shard["ShardId"]
            state = positions.setdefault(sid, {"pos": initial, "drained": False})
            if state["drained"]:
                continue
            parents = [p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p]
            # A child is read only once its parents are drained (or gone past retention).
            if any(p in known and not positions.get(p, {}).get("drained", False) for p in parents):
                continue
            readable.append(sid)
        per_shard = max(1, budget // max(1, len(readable)))

        def look_ahead(sid: str) -> tuple[_ShardCursor, list[tuple[Any, str]]]:
            """The shard's cursor after reading up to its share, and (arrival time, sequence number) of each record."""
            cursor = _ShardCursor(self.client, self.stream, sid, positions[sid]["pos"], self.min_interval_s)
            marks: list[tuple[Any, str]] = []
            while len(marks) < per_shard:
                records = cursor.fetch(per_shard - len(marks))
                marks.extend((r["ApproximateArrivalTimestamp"], r["SequenceNumber"]) for r in records)
                # At the tip the batch ends: chasing records that arrive meanwhile would keep a
                # stream fed in real time from ever starting its batch.
                if not records or cursor.at_tip:
                    break
            return cursor, marks

        # Shards are independent: look ahead on all of them at once (the calls wait on the network).
        with ThreadPoolExecutor(max_workers=min(16, max(1, len(readable)))) as pool:
            read = dict(zip(readable, pool.map(look_ahead, readable), strict=True))
        # A bounded batch ends at one arrival time on every shard: were each shard cut at its own
        # count, a backlog would leave some shards hours of event time behind the others, and the
        # watermark (which follows the newest event) would turn their records late.
        full = [marks[-1][0] for _, marks in read.values() if len(marks) >= per_shard]
        horizon = min(full) if full else None
        for sid, (cursor, marks) in read.items():
            kept = len(marks) if horizon is None else sum(1 for arrival, _ in marks if arrival <= horizon)
            if kept == len(marks):
                positions[sid] = {"pos": cursor.position, "drained": cursor.closed_and_drained}
            elif kept:
                positions[sid] = {"pos": f"AFTER:{marks[kept - 1][1]}", "drained": False}
        planned = {"stream": self.stream, "initial": initial, "shards": positions}
        self._planned = planned
        return planned

    def _checkpointed_offset(self) -> dict[str, Any] | None:
        """This stream's offset in the newest entry of the query's offset log, if there is one.

        The log (`<checkpoint>/offsets/<batch id>`) is Spark's: a version line, a metadata line,
        then one JSON offset per source, in the order of the query's sources.
        """
        location = self.options.get("checkpointlocation")
        if not location:
            return None
        from pyarrow import fs

        filesystem, root = fs.FileSystem.from_uri(location) if "://" in location else (fs.LocalFileSystem(), location)
        infos = filesystem.get_file_info(fs.FileSelector(f"{root.rstrip('/')}/offsets", allow_not_found=True))
        batches = sorted((int(i.base_name), i.path) for i in infos if i.base_name.isdigit())
        if not batches:
            return None
        with filesystem.open_input_stream(batches[-1][1]) as f:
            lines = f.read().decode().splitlines()
        for line in lines[2:]:
            try:
                offset = json.loads(line)
            except ValueError:
                continue
            if isinstance(offset, dict) and offset.get("stream") == self.stream:
                return offset
        return None

    def partitions(self, start: dict[str, Any], end: dict[str, Any]) -> list[ShardRange]:
        # Spark passes the previous batch's end (from the checkpoint on restart): plan from it.
        self._planned = end
        ranges = []
        for sid, state in end["shards"].items():
            before = start.get("shards", {}).get(sid, {"pos": start.get("initial", end["initial"])})
            if state["pos"].startswith("AFTER:") and state["pos"] != before["pos"]:
                ranges.append(ShardRange(self.stream, sid, before["pos"], state["pos"][6:]))
        return ranges

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        # Whole Arrow record batches, one per GetRecords call: no per-row conversion in Python.
        if not isinstance(partition, ShardRange):
            raise TypeError(f"unexpected partition {partition!r}")
        min_interval_s = float(self.options.get("mingetrecordsintervalms", str(MIN_CALL_INTERVAL_S * 1000))) / 1000
        cursor = _ShardCursor(
            _client(self.options), partition.stream, partition.shard_id, partition.start, min_interval_s
        )
        end = int(partition.end_seq)
        while True:
            records = cursor.fetch(GET_RECORDS_MAX)
            if not records:
                raise RuntimeError(
                    f"shard {partition.shard_id} ended before sequence number {partition.end_seq}: "
                    "records planned for this batch are no longer in the stream (retention expired?)"
                )
            taken = [r for r in records if int(r["SequenceNumber"]) <= end]
            if taken:
                yield pa.RecordBatch.from_arrays(
                    [
                        pa.array([r["Data"] for r in taken], pa.binary()),
                        pa.array([r["PartitionKey"] for r in taken], pa.string()),
                        pa.array([partition.stream] * len(taken), pa.string()),
                        pa.array([partition.shard_id] * len(taken), pa.string()),
                        pa.array([r["SequenceNumber"] for r in taken], pa.string()),
                        pa.array([r["ApproximateArrivalTimestamp"] for r in taken], pa.timestamp("us", tz="UTC")),
                    ],
                    schema=_ARROW_SCHEMA,
                )
            if len(taken) < len(records) or int(taken[-1]["SequenceNumber"]) == end:
                return

    def commit(self, end: dict[str, Any]) -> None:
        logger.debug("kinesis batch committed", extra={"stream": self.stream, "offset": describe_offset(end)})


class KinesisDataSource(DataSource):
    """`spark.readStream.format("fraudstream-kinesis")`.

    Options: `streamName` (required), `checkpointLocation` (the query's own, so that the source
    resumes planning where the checkpoint is after a restart), `startingPosition` (`trim_horizon`
    (default), `latest`, `at_timestamp:<ISO-8601>`), `maxRecordsPerBatch` (default 100000),
    `endpointUrl` and `region` (default: boto3's configuration), `minGetRecordsIntervalMs`
    (default 200: 5 calls/s per shard).
    """

    @classmethod
    def name(cls) -> str:
        return "fraudstream-kinesis"

    def schema(self) -> StructType:
        return KINESIS_SCHEMA

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        # Spark's options are case-insensitive: the reader sees them lower-cased.
        options = {k.lower(): v for k, v in self.options.items()}
        if "streamname" not in options:
            raise ValueError("the fraudstream-kinesis source needs .option('streamName', ...)")
        return KinesisStreamReader(options)


def describe_offset(offset: dict[str, Any]) -> str:
    """A short human summary of an offset, for logs."""
    return json.dumps({sid: s["pos"] for sid, s in offset.get("shards", {}).items()})
