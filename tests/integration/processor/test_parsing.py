"""Parsing on Spark: valid records get the contract's columns, invalid ones their reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fraudstream.contracts import format_event_time
from processor.kinesis_source import KINESIS_SCHEMA
from processor.parsing import PARSED_SCHEMA, parse_records
from producer.delivery import MALFORMED_KINDS, malform

pytestmark = pytest.mark.integration

ARRIVAL = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GOOD = {
    "schema_version": 1,
    "transaction_id": "tx-1",
    "event_time": format_event_time(ARRIVAL - timedelta(seconds=3)),
    "card_id": "card-1",
    "terminal_id": "term-1",
    "amount": 12.5,
}


def test_valid_and_invalid_records_come_out_with_their_source(spark: Any) -> None:
    # GIVEN one valid record, one of each malformed kind, one stamped an hour after it arrived, and a
    # zero-amount authorisation (card verification: valid)
    payloads = [json.dumps(GOOD).encode()]
    payloads += [malform(GOOD, kind, f"bad-{i}") for i, kind in enumerate(MALFORMED_KINDS)]
    payloads.append(
        json.dumps(
            {**GOOD, "transaction_id": "tx-f", "event_time": format_event_time(ARRIVAL + timedelta(hours=1))}
        ).encode()
    )
    payloads.append(json.dumps({**GOOD, "transaction_id": "tx-zero", "amount": 0}).encode())
    rows = [(p, "card-1", "transactions", "shardId-0", str(i + 1), ARRIVAL) for i, p in enumerate(payloads)]
    source = spark.createDataFrame(rows, KINESIS_SCHEMA)
    # WHEN parsed
    out = source.mapInPandas(parse_records, PARSED_SCHEMA).orderBy("sequence_number").collect()
    # THEN the valid one has the contract's columns and the rest their reasons, raw payload kept
    by_seq = {int(r["sequence_number"]): r for r in out}
    assert len(out) == len(payloads)
    valid = by_seq[1]
    assert valid["reason"] is None and valid["transaction_id"] == "tx-1" and valid["amount"] == 12.5
    assert valid["currency"] == "USD" and valid["event_time"].replace(tzinfo=UTC) == ARRIVAL - timedelta(seconds=3)
    expected = list(MALFORMED_KINDS.values()) + ["future_timestamp"]
    assert [by_seq[i + 2]["reason"] for i in range(len(expected))] == expected
    for i in range(2, len(payloads)):
        assert by_seq[i]["raw_data"] == payloads[i - 1].decode("utf-8", errors="replace")
        assert by_seq[i]["shard_id"] == "shardId-0" and by_seq[i]["detail"]
    zero = by_seq[len(payloads)]
    assert zero["reason"] is None and zero["transaction_id"] == "tx-zero" and zero["amount"] == 0.0


def test_labels_are_parsed_and_bad_ones_kept_with_a_reason(spark: Any) -> None:
    from processor.parsing import LABELS_SCHEMA, parse_label_records

    label = {
        "schema_version": 1,
        "transaction_id": "tx-1",
        "card_id": "c",
        "terminal_id": "t",
        "tx_event_time": "2026-11-20T10:00:00Z",
        "label_time": "2026-11-21T10:00:00Z",
        "is_fraud": 1,
    }
    payloads = [json.dumps(label).encode(), json.dumps({**label, "is_fraud": 7}).encode()]
    rows = [(p, "c", "labels", "shardId-0", str(i + 1), ARRIVAL) for i, p in enumerate(payloads)]
    out = (
        spark.createDataFrame(rows, KINESIS_SCHEMA)
        .mapInPandas(parse_label_records, LABELS_SCHEMA)
        .orderBy("sequence_number")
        .collect()
    )
    assert (
        out[0]["reason"] is None
        and out[0]["is_fraud"] == 1
        and out[0]["label_time"].replace(tzinfo=UTC) == datetime(2026, 11, 21, 10, tzinfo=UTC)
    )
    assert out[1]["reason"] == "bad_value" and out[1]["raw_data"] == payloads[1].decode()
