"""From transactions to delivered records: labels, late and duplicate deliveries, malformed share."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudstream.contracts import InvalidRecord, parse_transaction
from producer.delivery import MALFORMED_KINDS, Delivery, DeliveryConfig, RecordKind, StreamKind, deliveries, malform
from synthetic.generator import GeneratorConfig, TransactionGenerator

START = date(2026, 3, 2)


def _frames(days: int, seed: int = 1) -> list[pd.DataFrame]:
    gen = TransactionGenerator(GeneratorConfig(seed=seed, n_cards=300, n_terminals=600, fraud_rate=0.02), START)
    return [gen.next_day() for _ in range(days)]


def test_clean_delivery_is_every_transaction_once_in_event_order_with_labels() -> None:
    frames = _frames(3)
    out = list(deliveries(frames, DeliveryConfig(label_delay_days=0.5)))
    tx = [d for d in out if d.stream is StreamKind.TRANSACTIONS]
    all_rows = pd.concat(frames)
    assert [d.transaction_id for d in tx] == all_rows["transaction_id"].tolist()
    assert [d.at for d in out] == sorted(d.at for d in out)
    labels = [d for d in out if d.stream is StreamKind.LABELS]
    fraud = all_rows[all_rows["is_fraud"] == 1].set_index("transaction_id")
    # every fraud is charged back, and only frauds
    assert sorted(d.transaction_id or "" for d in labels) == sorted(fraud.index)
    for d in labels:
        label = json.loads(d.data)
        tx_time = datetime.fromisoformat(label["tx_event_time"])
        label_time = datetime.fromisoformat(label["label_time"])
        delay = (label_time - tx_time).total_seconds()
        # chargebacks arrive after the transaction and within the label delay
        assert 0 < delay <= 0.5 * 86_400 + 0.001
        assert label["is_fraud"] == 1 and label["card_id"] == d.partition_key
        assert set(label) == {
            "schema_version",
            "transaction_id",
            "card_id",
            "terminal_id",
            "tx_event_time",
            "label_time",
            "is_fraud",
        }


def test_late_deliveries_arrive_out_of_event_order_within_the_lateness() -> None:
    frames = _frames(2)
    out = [
        d
        for d in deliveries(frames, DeliveryConfig(late_share=0.1, max_lateness_s=300))
        if d.kind is RecordKind.TRANSACTION
    ]
    event_at = {d.transaction_id: json.loads(d.data)["event_time"] for d in out}
    lateness = [d.at - datetime.fromisoformat(event_at[d.transaction_id]).timestamp() for d in out]
    assert all(-0.001 <= x <= 300.001 for x in lateness)
    late_share = sum(x > 0.0011 for x in lateness) / len(lateness)
    assert 0.07 < late_share < 0.13
    # some transactions now arrive after later events: out of order
    times = [datetime.fromisoformat(event_at[d.transaction_id]) for d in out]
    assert any(b < a for a, b in zip(times, times[1:], strict=False))


def test_duplicates_repeat_the_same_payload() -> None:
    out = list(deliveries(_frames(2), DeliveryConfig(duplicate_share=0.05)))
    dups = [d for d in out if d.kind is RecordKind.DUPLICATE]
    originals = {d.transaction_id: d.data for d in out if d.kind is RecordKind.TRANSACTION}
    assert 0.03 < len(dups) / len(originals) < 0.07
    assert all(originals[d.transaction_id] == d.data for d in dups)


@settings(max_examples=8, deadline=None)
@given(share=st.floats(0.001, 0.3), days=st.integers(1, 3))
def test_malformed_share_is_exact(share: float, days: int) -> None:
    out = [
        d
        for d in deliveries(_frames(days), DeliveryConfig(malformed_share=share))
        if d.stream is StreamKind.TRANSACTIONS
    ]
    bad = sum(d.kind is RecordKind.MALFORMED for d in out)
    # exactly the share asked for, to the nearest whole record
    assert abs(bad - share * len(out)) <= 1


def test_every_malformed_record_fails_validation_with_its_reason() -> None:
    good = json.loads(
        next(d for d in deliveries(_frames(1), DeliveryConfig()) if d.kind is RecordKind.TRANSACTION).data
    )
    assert not isinstance(parse_transaction(json.dumps(good)), InvalidRecord)
    for kind, reason in MALFORMED_KINDS.items():
        result = parse_transaction(malform(good, kind, "bad-1"))
        assert isinstance(result, InvalidRecord), kind
        assert result.reason == reason, kind
    out = list(deliveries(_frames(1), DeliveryConfig(malformed_share=0.05)))
    reasons = Counter(
        r.reason
        for d in out
        if d.kind is RecordKind.MALFORMED
        for r in [parse_transaction(d.data)]
        if isinstance(r, InvalidRecord)
    )
    assert sum(reasons.values()) == sum(d.kind is RecordKind.MALFORMED for d in out)
    assert all(
        not isinstance(parse_transaction(d.data), InvalidRecord)
        for d in out
        if d.kind is not RecordKind.MALFORMED and d.stream is StreamKind.TRANSACTIONS
    )


def test_start_and_end_bound_the_event_time() -> None:
    start = datetime(2026, 3, 2, 12, tzinfo=UTC)
    end = datetime(2026, 3, 3, 6, tzinfo=UTC)
    out: list[Delivery] = list(deliveries(_frames(3), DeliveryConfig(start_at=start), end_at=end.timestamp()))
    times = [datetime.fromisoformat(json.loads(d.data)["event_time"]) for d in out if d.kind is RecordKind.TRANSACTION]
    assert min(times) >= start and max(times) < end
    assert not [d for d in out if d.stream is StreamKind.LABELS and d.at >= end.timestamp()]


def test_rejects_nonsense_configuration() -> None:
    with pytest.raises(ValueError, match="malformed_share"):
        DeliveryConfig(malformed_share=1.0)
    with pytest.raises(ValueError, match="late_share"):
        DeliveryConfig(late_share=-0.1)
