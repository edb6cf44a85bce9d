"""Quarantine rows from a staged micro-batch."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd

from fraudstream.contracts import parse_transaction
from fraudstream.lake import QUARANTINE
from processor.parsing import PARSED_SCHEMA
from processor.quarantine import quarantine_rows

ARRIVAL = pd.Timestamp("2026-11-23T12:00:00Z")


def _row(**values: object) -> dict[str, object]:
    base: dict[str, object] = dict.fromkeys(PARSED_SCHEMA.fieldNames())
    base.update(stream_name="transactions", shard_id="shardId-000000000000", arrival_time=ARRIVAL, route="c1")
    base.update(values)
    return base


def test_invalid_and_late_records_are_quarantined_with_reason_and_payload() -> None:
    # GIVEN a staged batch: one accepted, one invalid, one late, one duplicate
    valid = {
        "schema_version": 1,
        "transaction_id": "tx-late",
        "event_time": pd.Timestamp("2026-11-23T10:00:00"),
        "card_id": "c1",
        "terminal_id": "t1",
        "amount": 12.5,
        "currency": "USD",
    }
    staged = pd.DataFrame(
        [
            _row(**{**valid, "transaction_id": "tx-ok"}, sequence_number="1", status="ok"),
            _row(raw_data="{oops", reason="bad_json", detail="Expecting ...", sequence_number="2", status="invalid"),
            _row(**valid, sequence_number="3", status="late"),
            _row(**{**valid, "transaction_id": "tx-ok"}, sequence_number="4", status="duplicate"),
        ]
    )
    # WHEN turned into quarantine rows
    table = quarantine_rows(staged, 9, now=datetime(2026, 11, 23, 12, 1, tzinfo=UTC))
    # THEN exactly the invalid and late ones are there, in the lake's schema
    assert table.schema == QUARANTINE.schema
    rows = {r["sequence_number"]: r for r in table.to_pylist()}
    assert set(rows) == {"2", "3"}
    assert rows["2"]["reason"] == "bad_json" and rows["2"]["raw_data"] == "{oops"
    assert rows["3"]["reason"] == "late" and rows["3"]["transaction_id"] == "tx-late"
    # a late record's payload is its event again, valid under the contract
    late_event = parse_transaction(rows["3"]["raw_data"])
    assert isinstance(late_event, dict) and late_event["amount"] == 12.5
    assert json.loads(rows["3"]["raw_data"])["event_time"] == "2026-11-23T10:00:00.000Z"
    assert all(r["batch_id"] == 9 for r in rows.values())
