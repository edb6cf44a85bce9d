"""The card stage on real Spark: duplicates within the watermark dropped, late events marked."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from fraudstream.contracts import format_event_time
from processor.pipeline import staged_transactions, unpacked
from processor.records import STAGED_SCHEMA
from producer.dead_letter import DeadLetterFile
from producer.kinesis_writer import KinesisWriter

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import boto3

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _event(tx: str, card: str, at: datetime) -> bytes:
    return json.dumps(
        {
            "schema_version": 1,
            "transaction_id": tx,
            "event_time": format_event_time(at),
            "card_id": card,
            "terminal_id": "t1",
            "amount": 5.0,
        }
    ).encode()


def test_duplicates_are_dropped_and_late_events_marked_across_batches(
    spark: Any, boto_session: boto3.Session, stream_factory: Callable[..., str], tmp_path: Path
) -> None:
    stream = stream_factory(shards=1)
    writer = KinesisWriter(
        stream, dead_letter=DeadLetterFile(tmp_path / "dl.jsonl"), client=boto_session.client("kinesis")
    )
    statuses: dict[str, list[str]] = {}

    def collect(df: Any, _: int) -> None:
        for r in df.collect():
            statuses.setdefault(r["transaction_id"] or r["raw_data"], []).append(r["status"])

    query = (
        unpacked(staged_transactions(spark, stream, source_options={"minGetRecordsIntervalMs": "0"}), STAGED_SCHEMA)
        .writeStream.foreachBatch(collect)
        .option("checkpointLocation", str(tmp_path / "cp"))
        .trigger(processingTime="0 seconds")
        .start()
    )
    try:
        # GIVEN a first batch: two transactions, one delivered twice in the same batch, one bad record
        for data in (
            _event("a", "c1", T0),
            _event("b", "c1", T0 + timedelta(minutes=1)),
            _event("a", "c1", T0),
            b"{oops",
        ):
            writer.put("c1", data)
        writer.flush()
        query.processAllAvailable()
        # WHEN the watermark moves to T0+50min (an event at T0+1h) and then come: a redelivery of b
        # (its event is behind the watermark now: late), and an on-time redelivery of the T0+1h one
        writer.put("c2", _event("z", "c2", T0 + timedelta(hours=1)))
        writer.flush()
        query.processAllAvailable()
        for data in (_event("b", "c1", T0 + timedelta(minutes=1)), _event("z", "c2", T0 + timedelta(hours=1))):
            writer.put("c1", data)
        writer.flush()
        query.processAllAvailable()
    finally:
        query.stop()
    # THEN
    # (both deliveries of a can land in one batch, whose rows come in no particular order)
    assert sorted(statuses["a"]) == ["duplicate", "ok"]
    assert statuses["b"] == ["ok", "late"]
    assert statuses["z"] == ["ok", "duplicate"]
    assert statuses["{oops"] == ["invalid"]


def test_a_batch_spanning_more_than_a_card_window_applies_its_chargebacks(
    spark: Any, boto_session: boto3.Session, stream_factory: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN one batch (a backlog) holding: card c1's fraud x at terminal t1 and, 35 days later, its
    # transaction w elsewhere (c1's 30-day window then no longer holds x); x's chargeback; and card c2's
    # transaction z at t1 20 days after x, whose 30-day terminal window (a label delay back) holds x
    transactions, labels = stream_factory(shards=1), stream_factory(shards=1)
    writers = {
        name: KinesisWriter(
            name, dead_letter=DeadLetterFile(tmp_path / f"{name}.jsonl"), client=boto_session.client("kinesis")
        )
        for name in (transactions, labels)
    }
    start = T0 - timedelta(days=40)  # event times in the future are invalid
    events = {
        "x": ("c1", "t1", start),
        "w": ("c1", "t2", start + timedelta(days=35)),
        "z": ("c2", "t1", start + timedelta(days=20)),
    }
    for tx, (card, terminal, at) in events.items():
        payload = json.loads(_event(tx, card, at)) | {"terminal_id": terminal}
        writers[transactions].put(card, json.dumps(payload).encode())
    chargeback = {
        "schema_version": 1,
        "transaction_id": "x",
        "card_id": "c1",
        "terminal_id": "t1",
        "tx_event_time": format_event_time(start),
        "label_time": format_event_time(start + timedelta(days=1)),
        "is_fraud": 1,
    }
    writers[labels].put("c1", json.dumps(chargeback).encode())
    for writer in writers.values():
        writer.flush()
    rows: dict[str, Any] = {}

    def collect(df: Any, _: int) -> None:
        rows.update({r["transaction_id"]: r for r in df.collect() if r["status"] == "ok"})

    # WHEN the job's plan reads it all in one batch
    staged = staged_transactions(spark, transactions, labels, source_options={"minGetRecordsIntervalMs": "0"})
    query = (
        unpacked(staged, STAGED_SCHEMA)
        .writeStream.foreachBatch(collect)
        .option("checkpointLocation", str(tmp_path / "cp"))
        .trigger(processingTime="0 seconds")
        .start()
    )
    try:
        query.processAllAvailable()
    finally:
        query.stop()
    # THEN z's terminal features count x as the fraud it is, as offline (the chargeback was not lost
    # with x from c1's window)
    assert set(rows) == set(events)
    assert (rows["z"]["terminal_tx_count_30d"], rows["z"]["terminal_fraud_rate_30d"]) == (1.0, 1.0)
