"""Windowed aggregates per card on real Spark: window edges, and emission once the watermark passes,
by the card stage (rows of status `aggregate`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from fraudstream.contracts import format_event_time
from processor.pipeline import card_staged, unpacked
from processor.records import CARD_STAGE_SCHEMA, RecordStatus
from producer.dead_letter import DeadLetterFile
from producer.kinesis_writer import KinesisWriter

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import boto3

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_sliding_windows_are_emitted_once_the_watermark_closes_them(
    spark: Any, boto_session: boto3.Session, stream_factory: Callable[..., str], tmp_path: Path
) -> None:
    stream = stream_factory(shards=1)
    writer = KinesisWriter(
        stream, dead_letter=DeadLetterFile(tmp_path / "dl.jsonl"), client=boto_session.client("kinesis")
    )

    def put(tx: str, card: str, at: datetime, amount: float) -> None:
        event = {
            "schema_version": 1,
            "transaction_id": tx,
            "event_time": format_event_time(at),
            "card_id": card,
            "terminal_id": "t",
            "amount": amount,
        }
        writer.put(card, json.dumps(event).encode())

    windows: list[dict[str, Any]] = []
    staged = unpacked(
        card_staged(
            spark, stream, allowed_lateness="1 minute", aggregates=True, source_options={"minGetRecordsIntervalMs": "0"}
        ),
        CARD_STAGE_SCHEMA,
    )
    query = (
        staged.where(staged["status"] == RecordStatus.AGGREGATE.value)
        .writeStream.outputMode("append")
        .foreachBatch(lambda df, _: windows.extend(r.asDict() for r in df.collect()))
        .option("checkpointLocation", str(tmp_path / "cp"))
        .trigger(processingTime="0 seconds")
        .start()
    )
    try:
        # GIVEN amounts at 12:02, 12:04:59.999 and 12:05 (a window edge) for card c1, and a duplicate
        put("a", "c1", T0 + timedelta(minutes=2), 10.0)
        put("b", "c1", T0 + timedelta(minutes=5) - timedelta(milliseconds=1), 20.0)
        put("c", "c1", T0 + timedelta(minutes=5), 40.0)
        put("a", "c1", T0 + timedelta(minutes=2), 10.0)
        writer.flush()
        query.processAllAvailable()
        assert windows == []  # nothing is final yet
        # WHEN an event at 12:30 moves the watermark to 12:29, closing every window above
        put("z", "c2", T0 + timedelta(minutes=30), 1.0)
        writer.flush()
        query.processAllAvailable()
        put("y", "c2", T0 + timedelta(minutes=31), 1.0)  # one more batch lets Spark emit what closed
        writer.flush()
        query.processAllAvailable()
    finally:
        query.stop()
    # THEN each window holds the events in [start, end), the duplicate counted once
    c1 = {(w["window_start"].replace(tzinfo=UTC) - T0): w for w in windows if w["card_id"] == "c1"}
    assert set(c1) == {timedelta(minutes=-5), timedelta(minutes=0), timedelta(minutes=5)}
    assert (c1[timedelta(minutes=-5)]["tx_count"], c1[timedelta(minutes=-5)]["amount_sum"]) == (2, 30.0)
    assert (c1[timedelta(0)]["tx_count"], c1[timedelta(0)]["amount_max"], c1[timedelta(0)]["amount_mean"]) == (
        3,
        40.0,
        70.0 / 3,
    )
    assert (c1[timedelta(minutes=5)]["tx_count"], c1[timedelta(minutes=5)]["amount_sum"]) == (1, 40.0)
    assert all(w["window_end"] - w["window_start"] == timedelta(minutes=10) for w in windows)
