"""The lake's training set is labelled as the lake knew it at the label cut-off (the newest
chargeback's label_time): a chargeback's newest verdict labels its transaction; without one, a
transaction is genuine once the label delay has passed by the cut-off, and left out before."""

from __future__ import annotations

import pandas as pd
import pytest

from ml_model.lake_training import CUTOFF_SOURCE, LakeTrainingError, label_transactions


def _tx(transaction_id: str, event_time: str) -> dict[str, object]:
    return {
        "schema_version": 1,
        "transaction_id": transaction_id,
        "event_time": pd.Timestamp(event_time, tz="UTC"),
        "card_id": "c1",
        "terminal_id": "t1",
        "amount": 10.0,
        "currency": "USD",
    }


def _label(transaction_id: str, label_time: str, is_fraud: int, processed_at: str = "2026-03-01") -> dict[str, object]:
    return {
        "transaction_id": transaction_id,
        "label_time": pd.Timestamp(label_time, tz="UTC"),
        "is_fraud": is_fraud,
        "processed_at": pd.Timestamp(processed_at, tz="UTC"),
    }


# Cut-off: the newest label_time, 2026-01-20T00:00Z; with a 7-day delay, transactions up to
# 2026-01-13T00:00Z inclusive are settled.
_TRANSACTIONS = pd.DataFrame(
    [
        _tx("fraud-known", "2026-01-02T10:00:00Z"),
        _tx("genuine-settled", "2026-01-05T10:00:00Z"),
        _tx("genuine-at-the-delay", "2026-01-13T00:00:00Z"),
        _tx("pending", "2026-01-13T00:00:01Z"),
        _tx("recent-fraud-known", "2026-01-19T10:00:00Z"),
        _tx("verdict-reversed", "2026-01-03T10:00:00Z"),
        _tx("verdict-confirmed", "2026-01-04T10:00:00Z"),
    ]
)
_LABELS = pd.DataFrame(
    [
        _label("fraud-known", "2026-01-06T00:00:00Z", 1),
        _label("recent-fraud-known", "2026-01-20T00:00:00Z", 1),
        # The newest verdict by label_time wins, whatever order the rows come in.
        _label("verdict-reversed", "2026-01-09T00:00:00Z", 0),
        _label("verdict-reversed", "2026-01-07T00:00:00Z", 1),
        _label("verdict-confirmed", "2026-01-05T00:00:00Z", 0),
        _label("verdict-confirmed", "2026-01-08T00:00:00Z", 1),
        # A chargeback for a transaction the range does not hold labels nothing.
        _label("elsewhere", "2026-01-10T00:00:00Z", 1),
    ]
)


def test_each_transaction_is_labelled_as_known_at_the_cutoff() -> None:
    # WHEN the lake's rows are labelled with a 7-day delay
    found = label_transactions(_TRANSACTIONS, _LABELS, label_delay_days=7.0)
    # THEN the cut-off is the newest label_time
    assert found.label_cutoff == pd.Timestamp("2026-01-20T00:00:00Z")
    assert found.data_ranges()["label_cutoff"] == "2026-01-20T00:00:00+00:00"
    assert found.data_ranges()["label_cutoff_source"] == CUTOFF_SOURCE
    # AND a settled transaction takes its chargeback's newest verdict, or is genuine without one; a
    # newer one is left out, even the recent fraud whose chargeback came early (among those only the
    # frauds are known: keeping them would overstate the last days' fraud)
    labels = dict(zip(found.transactions["transaction_id"], found.transactions["is_fraud"], strict=True))
    assert labels == {
        "fraud-known": 1,
        "genuine-settled": 0,
        "genuine-at-the-delay": 0,
        "verdict-reversed": 0,
        "verdict-confirmed": 1,
    }
    assert found.summary() == {
        "rows": 5,
        "fraud_by_chargeback": 2,
        "genuine_by_chargeback": 1,
        "genuine_by_delay": 2,
        "left_out_label_pending": 2,
        "label_delay_days": 7.0,
        "history_days": 0,
    }
    # AND every row kept precedes every row left out: no kept row's features miss a transaction
    kept = set(found.transactions["transaction_id"])
    left_out = _TRANSACTIONS[~_TRANSACTIONS["transaction_id"].isin(kept)]
    assert pd.to_datetime(found.transactions["event_time"]).max() < pd.to_datetime(left_out["event_time"]).min()
    # AND the rows are in event-time order, in the batch-input schema with is_fraud
    assert found.transactions["event_time"].is_monotonic_increasing
    assert str(found.transactions["event_time"].dt.tz) == "UTC"
    assert "processed_at" not in found.transactions


def test_a_longer_label_delay_leaves_more_out() -> None:
    # WHEN the delay is 15 days: only transactions up to 2026-01-05T00:00Z are settled
    found = label_transactions(_TRANSACTIONS, _LABELS, label_delay_days=15.0)
    # THEN only those are kept, chargeback or not after that
    assert set(found.transactions["transaction_id"]) == {"fraud-known", "verdict-reversed", "verdict-confirmed"}
    assert found.left_out_pending == 4


def test_equal_label_times_are_settled_by_the_newest_processing() -> None:
    labels = pd.DataFrame(
        [
            _label("fraud-known", "2026-01-20T00:00:00Z", 0, processed_at="2026-03-02"),
            _label("fraud-known", "2026-01-20T00:00:00Z", 1, processed_at="2026-03-01"),
        ]
    )
    found = label_transactions(_TRANSACTIONS, labels, label_delay_days=7.0)
    assert found.transactions.set_index("transaction_id").loc["fraud-known", "is_fraud"] == 0


def test_no_labels_or_no_known_label_is_refused() -> None:
    with pytest.raises(LakeTrainingError, match=r"labels/ holds no chargebacks"):
        label_transactions(_TRANSACTIONS, _LABELS.iloc[0:0], label_delay_days=7.0)
    only_pending = _TRANSACTIONS[_TRANSACTIONS["transaction_id"] == "pending"]
    with pytest.raises(LakeTrainingError, match=r"no transaction's label is known by the label cut-off"):
        label_transactions(only_pending, _LABELS, label_delay_days=7.0)
