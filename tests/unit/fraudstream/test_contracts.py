"""The transaction event contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraudstream.contracts import InvalidRecord, Transaction, format_event_time, parse_transaction

VALID: dict[str, Any] = {
    "schema_version": 1,
    "transaction_id": "tx-1",
    "event_time": "2026-11-23T19:50:04.123+01:00",
    "card_id": "card-1",
    "terminal_id": "term-1",
    "amount": 12.5,
    "merchant_category": "5411",
    "channel": "pos",
    "country": "US",
    "lat": 40.7,
    "lon": -74.0,
}


def test_a_valid_event_is_normalised() -> None:
    result = parse_transaction(json.dumps(VALID).encode())
    assert not isinstance(result, InvalidRecord)
    assert result["event_time"] == datetime(2026, 11, 23, 18, 50, 4, 123000, tzinfo=UTC)
    assert result["currency"] == "USD"  # the contract's default
    assert result["amount"] == 12.5


def test_optional_fields_may_be_absent() -> None:
    minimal = {
        k: VALID[k] for k in ("schema_version", "transaction_id", "event_time", "card_id", "terminal_id", "amount")
    }
    result = parse_transaction(minimal)
    assert not isinstance(result, InvalidRecord)
    assert result["lat"] is None and result["channel"] is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"schema_version": 2}, "unknown_schema_version"),
        ({"schema_version": True}, "unknown_schema_version"),
        ({"transaction_id": ""}, "out_of_range"),
        ({"transaction_id": "x" * 65}, "out_of_range"),
        ({"card_id": None}, "missing_field"),
        ({"card_id": 17}, "wrong_type"),
        ({"amount": "12.5"}, "wrong_type"),
        ({"amount": 0}, "out_of_range"),
        ({"amount": -3}, "out_of_range"),
        ({"amount": 1_000_000.01}, "out_of_range"),
        ({"amount": True}, "wrong_type"),
        ({"event_time": "yesterday"}, "bad_timestamp"),
        ({"event_time": "2026-11-23T19:50:04"}, "bad_timestamp"),
        ({"event_time": 1700000000}, "wrong_type"),
        ({"currency": "usd"}, "bad_value"),
        ({"merchant_category": "54"}, "bad_value"),
        ({"channel": "phone"}, "bad_value"),
        ({"country": "USA"}, "bad_value"),
        ({"lat": 91}, "out_of_range"),
        ({"lon": "east"}, "wrong_type"),
        ({"extra": 1}, "unknown_field"),
    ],
)
def test_contract_violations_have_a_reason(change: dict[str, Any], reason: str) -> None:
    event = {**VALID, **change}
    event = {k: v for k, v in event.items() if v is not None}
    result = parse_transaction(json.dumps(event))
    assert isinstance(result, InvalidRecord)
    assert result.reason == reason
    assert result.detail


def test_malformed_json_and_non_objects() -> None:
    assert parse_transaction(b'{"schema_version": 1,').reason == "bad_json"  # type: ignore[union-attr]
    assert parse_transaction(b"\xff\xfe").reason == "bad_json"  # type: ignore[union-attr]
    assert parse_transaction(b"[1, 2]").reason == "not_an_object"  # type: ignore[union-attr]


def test_far_future_events_are_rejected_against_the_clock() -> None:
    now = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    future = {**VALID, "event_time": format_event_time(now + timedelta(hours=2))}
    result = parse_transaction(future, now=now)
    assert isinstance(result, InvalidRecord) and result.reason == "future_timestamp"
    assert not isinstance(parse_transaction(future, now=now + timedelta(hours=2)), InvalidRecord)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_parser(raw: bytes) -> None:
    result = parse_transaction(raw)
    assert isinstance(result, InvalidRecord) or isinstance(result, dict)


@given(
    amount=st.floats(0.01, 1_000_000, allow_nan=False),
    lat=st.floats(-90, 90) | st.none(),
    when=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
)
def test_any_event_within_the_rules_is_valid_and_round_trips(amount: float, lat: float | None, when: datetime) -> None:
    event = {**VALID, "amount": amount, "lat": lat, "event_time": format_event_time(when)}
    result = parse_transaction(json.dumps(event))
    assert not isinstance(result, InvalidRecord)
    parsed: Transaction = result
    assert parsed["amount"] == amount and parsed["lat"] == lat
    assert abs((parsed["event_time"] - when).total_seconds()) < 0.001
