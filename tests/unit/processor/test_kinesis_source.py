"""The Kinesis source's row schema and its shard cursor's retries, against a fake Kinesis client."""

from __future__ import annotations

import threading
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError
from pyspark.sql.pandas.types import to_arrow_schema

from processor.kinesis_source import _ARROW_SCHEMA, KINESIS_SCHEMA, _ShardCursor, _Stopped


def _error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected"}}, "GetRecords")


class _FakeKinesis:
    """Answers GetRecords from a script: an error to raise, or a list of sequence numbers to return."""

    def __init__(self, script: list[ClientError | list[str]], on_error: Any = None) -> None:
        self.script = script
        self.on_error = on_error
        self.iterators: list[dict[str, Any]] = []
        self.calls = 0

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
        self.iterators.append(kwargs)
        return {"ShardIterator": f"it-{len(self.iterators)}"}

    def get_records(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        step = self.script.pop(0)
        if isinstance(step, ClientError):
            if self.on_error is not None:
                self.on_error()
            raise step
        records = [
            {"Data": b"x", "PartitionKey": "k", "SequenceNumber": s, "ApproximateArrivalTimestamp": 1.0} for s in step
        ]
        return {"Records": records, "NextShardIterator": "next", "MillisBehindLatest": 0}


def _cursor(client: _FakeKinesis) -> _ShardCursor:
    return _ShardCursor(cast("Any", client), "s", "shardId-000000000000", "AFTER:5", min_interval_s=0.0)


def test_the_spark_schema_is_the_arrow_schema_as_spark_sees_it() -> None:
    assert to_arrow_schema(KINESIS_SCHEMA) == _ARROW_SCHEMA
    assert all(not f.nullable for f in KINESIS_SCHEMA.fields)


def test_a_throttled_call_is_retried_after_a_backoff() -> None:
    # GIVEN a shard whose reads are throttled twice (both codes Kinesis throttles with)
    client = _FakeKinesis(
        [_error("ProvisionedThroughputExceededException"), _error("LimitExceededException"), ["6", "7"]]
    )
    cursor = _cursor(client)
    # WHEN the cursor fetches
    batch = cursor.fetch(100, threading.Event())
    # THEN the third call's records come back, from the one iterator, and the cursor moved past them
    assert batch.column("sequence_number").to_pylist() == ["6", "7"]
    assert (client.calls, len(client.iterators), cursor.position) == (3, 1, "AFTER:7")


def test_an_expired_iterator_is_renewed_from_the_last_position() -> None:
    # GIVEN a shard whose iterator has expired
    client = _FakeKinesis([_error("ExpiredIteratorException"), ["6"]])
    cursor = _cursor(client)
    # WHEN the cursor fetches
    batch = cursor.fetch(100)
    # THEN a new iterator was asked for from the position after the last record seen, and used
    assert batch.num_rows == 1
    assert [i["StartingSequenceNumber"] for i in client.iterators] == ["5", "5"]


def test_a_stop_during_the_backoff_ends_the_fetch_where_the_last_call_left_it() -> None:
    # GIVEN a shard that throttles, and a stop requested meanwhile
    stop = threading.Event()
    client = _FakeKinesis([_error("ProvisionedThroughputExceededException"), ["6"]], on_error=stop.set)
    cursor = _cursor(client)
    # WHEN / THEN the wait ends with _Stopped, no further call made, the position unchanged
    with pytest.raises(_Stopped):
        cursor.fetch(100, stop)
    assert (client.calls, cursor.position) == (1, "AFTER:5")


def test_any_other_error_is_raised_at_once() -> None:
    # GIVEN a shard read that fails with an error backing off cannot fix
    client = _FakeKinesis([_error("ResourceNotFoundException"), ["6"]])
    # WHEN / THEN it is raised after one call
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        _cursor(client).fetch(100)
    assert client.calls == 1
