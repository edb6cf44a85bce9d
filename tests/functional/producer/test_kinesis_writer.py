"""KinesisWriter against the embedded emulator over real HTTP, with real partial failures."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.stub import Stubber

from producer.dead_letter import DeadLetterFile
from producer.exceptions import KinesisStreamNotFoundError
from producer.kinesis_writer import MAX_BATCH_BYTES, MAX_BATCH_RECORDS, KinesisWriter
from tests.functional.producer.kinesis_faults import PutRecordsFaults
from tests.kinesis_reader import read_stream

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def _records(n: int, cards: int) -> list[tuple[str, bytes]]:
    return [(f"card-{i % cards:04d}", json.dumps({"n": i, "card": i % cards}).encode()) for i in range(n)]


def _writer(session: boto3.Session, stream: str, tmp_path: Path, **kwargs: object) -> tuple[KinesisWriter, list[float]]:
    sleeps: list[float] = []
    writer = KinesisWriter(
        stream,
        dead_letter=DeadLetterFile(tmp_path / "dead.jsonl"),
        client=session.client("kinesis"),
        sleep=sleeps.append,
        **kwargs,  # type: ignore[arg-type]
    )
    writer.setup()
    return writer, sleeps


def _assert_per_key_order(read: list[dict[str, object]], sent: list[tuple[str, bytes]]) -> None:
    by_key_sent: dict[str, list[bytes]] = defaultdict(list)
    for key, data in sent:
        by_key_sent[key].append(data)
    by_key_read: dict[str, list[bytes]] = defaultdict(list)
    # Records of one key live on one shard; sort by sequence number within it.
    for r in sorted(read, key=lambda r: (r["ShardId"], int(str(r["SequenceNumber"])))):
        by_key_read[str(r["PartitionKey"])].append(r["Data"])  # type: ignore[arg-type]
    assert by_key_read == by_key_sent


def test_every_record_is_readable_once_in_per_key_order(
    boto_session: boto3.Session, stream_factory: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN a stream with 4 shards and 2,300 records over 50 cards
    stream = stream_factory(shards=4)
    sent = _records(2_300, cards=50)
    writer, _ = _writer(boto_session, stream, tmp_path)
    # WHEN they are written and flushed
    for key, data in sent:
        writer.put(key, data)
    writer.flush()
    # THEN GetRecords returns exactly those records, each key's in the order sent
    read = read_stream(boto_session.client("kinesis"), stream)
    assert len(read) == len(sent) == writer.stats.sent
    assert sorted(r["Data"] for r in read) == sorted(d for _, d in sent)
    _assert_per_key_order(read, sent)
    assert writer.stats.dead_lettered == 0
    assert not (tmp_path / "dead.jsonl").exists()


def test_partial_failures_are_retried_without_loss_or_reordering(
    boto_session: boto3.Session, stream_factory: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN a client on which 30% of the entries of every call fail with throttling
    stream = stream_factory(shards=2)
    sent = _records(3_000, cards=40)
    writer, sleeps = _writer(boto_session, stream, tmp_path, max_attempts=20)
    faults = PutRecordsFaults(writer.client, share=0.3)
    # WHEN the records are written
    for key, data in sent:
        writer.put(key, data)
    writer.flush()
    # THEN every record is in the stream exactly once, per-key order holds, none dead-lettered
    read = read_stream(boto_session.client("kinesis"), stream)
    assert faults.failed_entries > 500
    assert writer.stats.retried == faults.failed_entries
    assert writer.stats.throttled == faults.failed_entries
    assert len(read) == len(sent)
    _assert_per_key_order(read, sent)
    assert writer.stats.dead_lettered == 0
    # and the writer backed off (full jitter: within the doubling ceiling) after failing calls
    assert sleeps and all(0 <= s <= writer.backoff_cap_s for s in sleeps)


def test_records_that_keep_failing_go_to_the_dead_letter_file(
    boto_session: boto3.Session, stream_factory: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN entries for card-0003 that fail on every attempt
    stream = stream_factory(shards=1)
    sent = _records(200, cards=10)
    writer, sleeps = _writer(boto_session, stream, tmp_path, max_attempts=4)
    PutRecordsFaults(
        writer.client, always_fail=lambda data: json.loads(data)["card"] == 3, error_code="InternalFailure"
    )
    # WHEN all are written
    for key, data in sent:
        writer.put(key, data)
    writer.flush()
    writer.dead_letter.close()
    # THEN the others are in the stream and card-0003's are in the dead-letter file with their error
    doomed = [d for k, d in sent if k == "card-0003"]
    read = read_stream(boto_session.client("kinesis"), stream)
    assert sorted(r["Data"] for r in read) == sorted(d for k, d in sent if k != "card-0003")
    lines = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    import base64

    assert sorted(base64.b64decode(e["data_base64"]) for e in lines) == sorted(doomed)
    assert {(e["error_code"], e["attempts"], e["stream"]) for e in lines} == {("InternalFailure", 4, stream)}
    assert writer.stats.dead_lettered == len(doomed)
    # backoff ceilings doubled with each consecutive failing call, up to the cap
    assert max(sleeps) <= writer.backoff_cap_s


def test_batches_respect_the_500_records_and_5_mib_limits(tmp_path: Path) -> None:
    # GIVEN a stubbed client that checks each request's shape
    client = boto3.client("kinesis", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    writer = KinesisWriter("s", dead_letter=DeadLetterFile(tmp_path / "d.jsonl"), client=client, sleep=lambda _: None)
    big = b"x" * (900 * 1024)
    records = [(f"k{i}", big) for i in range(12)] + [(f"small{i}", b"y") for i in range(1_200)]
    calls: list[tuple[int, int]] = []

    def check(params: dict[str, object], **_: object) -> None:
        recs = params["Records"]
        assert isinstance(recs, list)
        calls.append((len(recs), sum(len(r["Data"]) + len(r["PartitionKey"]) for r in recs)))

    client.meta.events.register("provide-client-params.kinesis.PutRecords", check)
    with Stubber(client) as stub:
        # WHEN the writer sends them (each call answered with success for its size)
        original = writer._take_batch

        def take() -> list:  # type: ignore[type-arg]
            batch = original()
            stub.add_response("put_records", {"Records": [{"SequenceNumber": "1", "ShardId": "s"}] * len(batch)})
            return batch

        writer._take_batch = take  # type: ignore[method-assign]
        for key, data in records:
            writer.put(key, data)
        writer.flush()
        stub.assert_no_pending_responses()
    # THEN no call exceeded 500 records or 5 MiB, and all records were sent
    assert all(n <= MAX_BATCH_RECORDS and size <= MAX_BATCH_BYTES for n, size in calls)
    assert sum(n for n, _ in calls) == len(records) == writer.stats.sent


def test_a_missing_stream_is_reported_at_setup(
    boto_session: boto3.Session, aws_env: dict[str, str], tmp_path: Path
) -> None:
    writer = KinesisWriter(
        "no-such-stream", dead_letter=DeadLetterFile(tmp_path / "d.jsonl"), client=boto_session.client("kinesis")
    )
    with pytest.raises(KinesisStreamNotFoundError, match="no-such-stream"):
        writer.setup()
