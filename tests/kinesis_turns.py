"""Records put on a 2-shard stream in turns, shard by shard, a proxy counting what GetRecords hands
out, and a query draining the Kinesis source into a list: for the tests of the source's read-ahead
and of each record fetched once."""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from processor.kinesis_source import KinesisDataSource
from tests.fault_proxy import FaultProxy, Faults

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler
    from pathlib import Path

    import boto3

__all__ = ["SECOND_SHARD", "CountingProxy", "drain_source", "put_in_turns", "source_query"]

SECOND_SHARD = str(2**127 + 1)  # an explicit hash key on the second shard of a 2-shard stream


class CountingProxy(FaultProxy):
    """The test proxy without faults, counting every record GetRecords hands out (by its data)."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream, Faults())
        self.fetched: Counter[bytes] = Counter()
        self._count_lock = threading.Lock()

    def _forward(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        status, payload, headers = super()._forward(request, body)
        if status == 200 and request.headers.get("X-Amz-Target", "").endswith(".GetRecords"):
            records = json.loads(payload)["Records"]
            with self._count_lock:
                self.fetched.update(base64.b64decode(r["Data"]) for r in records)
        return status, payload, headers


def put_in_turns(session: boto3.Session, stream: str, turns: list[tuple[str, int]], first: int = 0) -> list[bytes]:
    """Records `{"n": first...}` put turn by turn, each turn's on the shard holding `hash_key`: shards
    whose arrival times interleave, so that batches end at a horizon and leave records read ahead."""
    kinesis = session.client("kinesis")
    sent: list[bytes] = []
    for hash_key, count in turns:
        data = [json.dumps({"n": first + len(sent) + i}).encode() for i in range(count)]
        kinesis.put_records(
            StreamName=stream,
            Records=[{"Data": d, "PartitionKey": "k", "ExplicitHashKey": hash_key} for d in data],
        )
        sent += data
    return sent


def source_query(
    spark: Any,
    streams: dict[str, str],
    checkpoint: Path,
    max_records: int,
    endpoint: str | None = None,
    crash_in_batch: int | None = None,
) -> tuple[Any, list[dict[str, Any]]]:
    """A started query of the Kinesis source over `streams` (its `streamName` or `streamNames`
    option), and the list its batches' rows go to (each with its `batch_id`). With
    `crash_in_batch`, the sink fails in that batch after taking its rows: the batch is in the
    offset log but not committed, as after a crash."""
    spark.dataSource.register(KinesisDataSource)
    rows: list[dict[str, Any]] = []

    def collect(df: Any, batch_id: int) -> None:
        rows.extend(r.asDict() | {"batch_id": batch_id} for r in df.collect())
        if batch_id == crash_in_batch:
            raise RuntimeError("crash (injected by the test)")

    reader = (
        spark.readStream.format("fraudstream-kinesis")
        .options(**streams)
        .option("maxRecordsPerBatch", str(max_records))
        .option("minGetRecordsIntervalMs", "0")
        .option("checkpointLocation", str(checkpoint))
    )
    if endpoint is not None:
        reader = reader.option("endpointUrl", endpoint)
    query = (
        reader.load()
        .writeStream.foreachBatch(collect)
        .option("checkpointLocation", str(checkpoint))
        .trigger(processingTime="0 seconds")
        .start()
    )
    return query, rows


def drain_source(
    spark: Any,
    streams: dict[str, str],
    checkpoint: Path,
    max_records: int,
    endpoint: str | None = None,
    crash_in_batch: int | None = None,
) -> list[dict[str, Any]]:
    """The rows of a query (`source_query`) that drained what is in the streams now, or crashed."""
    query, rows = source_query(spark, streams, checkpoint, max_records, endpoint, crash_in_batch)
    try:
        if crash_in_batch is None:
            query.processAllAvailable()
        else:
            with pytest.raises(Exception, match="injected by the test"):
                query.processAllAvailable()
    finally:
        query.stop()
    return rows
