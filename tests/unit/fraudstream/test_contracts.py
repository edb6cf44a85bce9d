"""The transaction event contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraudstream.contracts import InvalidRecord, ScoredBy, Transaction, format_event_time, parse_transaction

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
        ({"amount": -0.01}, "out_of_range"),
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
        ({"channel": ["pos"]}, "bad_value"),
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


@pytest.mark.parametrize("amount", [0, 0.0, 1_000_000])
def test_zero_and_the_largest_amount_are_valid(amount: float) -> None:
    # Zero-amount authorisations are real events: card verification, and card testing.
    result = parse_transaction(json.dumps({**VALID, "amount": amount}))
    assert not isinstance(result, InvalidRecord)
    assert result["amount"] == float(amount)


def test_scored_by_values_parse_as_members_of_the_contract() -> None:
    assert ScoredBy.for_endpoint("fraud-detector") == "endpoint:fraud-detector"
    assert ScoredBy.parse("endpoint:fraud-detector") is ScoredBy.ENDPOINT
    assert [ScoredBy.parse(v) for v in ("fallback", "local", "batch")] == [
        ScoredBy.FALLBACK,
        ScoredBy.LOCAL,
        ScoredBy.BATCH,
    ]
    for value in ("endpoint", "endpoint:", "fallback:x", "Fallback", "sagemaker", ""):
        with pytest.raises(ValueError, match="is not one of endpoint:<name>, fallback, local, batch"):
            ScoredBy.parse(value)
    with pytest.raises(ValueError, match="needs the endpoint's name"):
        ScoredBy.for_endpoint("")


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
    amount=st.floats(0, 1_000_000, allow_nan=False),
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


LABEL: dict[str, Any] = {
    "schema_version": 1,
    "transaction_id": "tx-1",
    "card_id": "card-1",
    "terminal_id": "term-1",
    "tx_event_time": "2026-11-20T10:00:00.000Z",
    "label_time": "2026-11-25T09:00:00.000Z",
    "is_fraud": 1,
}


def test_a_valid_label_is_normalised() -> None:
    from fraudstream.contracts import parse_label

    label = parse_label(json.dumps(LABEL))
    assert not isinstance(label, InvalidRecord)
    assert label["label_time"] == datetime(2026, 11, 25, 9, tzinfo=UTC) and label["is_fraud"] == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"is_fraud": 2}, "bad_value"),
        ({"is_fraud": True}, "bad_value"),
        ({"label_time": "2026-11-19T00:00:00Z"}, "bad_timestamp"),
        ({"tx_event_time": "soon"}, "bad_timestamp"),
        ({"card_id": None}, "missing_field"),
        ({"schema_version": 3}, "unknown_schema_version"),
        ({"score": 0.3}, "unknown_field"),
    ],
)
def test_label_violations_have_a_reason(change: dict[str, Any], reason: str) -> None:
    from fraudstream.contracts import parse_label

    label = {k: v for k, v in {**LABEL, **change}.items() if v is not None}
    result = parse_label(json.dumps(label))
    assert isinstance(result, InvalidRecord) and result.reason == reason


def test_the_producers_labels_are_valid() -> None:
    from datetime import date

    from fraudstream.contracts import parse_label
    from producer.delivery import DeliveryConfig, StreamKind, deliveries
    from synthetic.generator import GeneratorConfig, TransactionGenerator

    gen = TransactionGenerator(GeneratorConfig(seed=2, n_cards=200, n_terminals=400, fraud_rate=0.05), date(2026, 1, 1))
    labels = [
        d
        for d in deliveries((gen.next_day() for _ in range(2)), DeliveryConfig(label_delay_days=1))
        if d.stream is StreamKind.LABELS
    ]
    assert labels
    assert all(not isinstance(parse_label(d.data), InvalidRecord) for d in labels)


def test_a_decoded_event_may_carry_its_time_as_a_datetime_with_a_zone() -> None:
    # GIVEN a decoded event whose time is a datetime (a typed source), with and without a zone
    aware = parse_transaction({**VALID, "event_time": datetime(2026, 11, 23, 20, 50, tzinfo=UTC)})
    naive = parse_transaction({**VALID, "event_time": datetime(2026, 11, 23, 20, 50)})
    # THEN the rule is the text's: the zone is required, and the time is normalised to UTC
    assert not isinstance(aware, InvalidRecord) and aware["event_time"] == datetime(2026, 11, 23, 20, 50, tzinfo=UTC)
    assert isinstance(naive, InvalidRecord) and naive.reason == "bad_timestamp"


def test_an_absent_currency_is_usd_and_a_null_one_is_refused() -> None:
    absent = parse_transaction({k: v for k, v in VALID.items() if k != "currency"})
    null = parse_transaction({**VALID, "currency": None})
    assert not isinstance(absent, InvalidRecord) and absent["currency"] == "USD"
    assert isinstance(null, InvalidRecord) and null.reason == "bad_value"
