"""The comparison's arithmetic: the bootstrap's average precision is sklearn's (ties, weights), the paired
bootstrap over cards is reproducible and points the verdict at the better model, the features' history
reaches back far enough, and the period's rows are told apart from their history."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from ml_model.comparison import PairedBootstrap, history_days, paired_bootstrap, weighted_average_precision
from ml_model.features import compute_features
from ml_model.lake_training import label_transactions
from ml_model.promotion import Verdict


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9, 1.0]), st.integers(0, 3)),
        min_size=1,
        max_size=60,
    ).filter(lambda rows: any(fraud and weight for fraud, _, weight in rows))
)
def test_the_weighted_average_precision_is_sklearns(rows: list[tuple[bool, float, int]]) -> None:
    # GIVEN rows with tied scores and bootstrap weights (zero for a card not drawn), at least one fraud drawn
    y = np.array([r[0] for r in rows])
    scores = np.array([r[1] for r in rows])
    weights = np.array([r[2] for r in rows], dtype=np.float64)
    # THEN the sorted-once computation gives sklearn's value
    expected = average_precision_score(y, scores, sample_weight=weights)
    assert weighted_average_precision(y, scores, weights) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def _rows(n_cards: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ten transactions per card, a fifth of the cards with frauds; a model that sees them and one that does not."""
    rng = np.random.default_rng(seed)
    cards = np.repeat(np.arange(n_cards), 10).astype(str)
    compromised = rng.random(n_cards) < 0.2
    y = np.repeat(compromised, 10) & (rng.random(n_cards * 10) < 0.5)
    good = np.clip(y * 0.6 + rng.random(len(y)) * 0.5, 0, 1)
    noise = rng.random(len(y))
    return y, good, noise, cards


def test_the_bootstrap_points_the_verdict_at_the_better_model_and_is_reproducible() -> None:
    # GIVEN a model that ranks the frauds and one that scores noise
    y, good, noise, cards = _rows(300, seed=1)
    # WHEN the noise is the champion
    test = paired_bootstrap(y, noise, good, cards, resamples=300, seed=7)
    # THEN the interval lies above 0, around the difference of sklearn's average precisions
    assert test.verdict is Verdict.CHALLENGER_BETTER
    assert test.difference == pytest.approx(average_precision_score(y, good) - average_precision_score(y, noise))
    assert 0 < test.low < test.difference < test.high
    # AND the same seed gives the same interval, swapping the models mirrors it
    assert paired_bootstrap(y, noise, good, cards, resamples=300, seed=7) == test
    swapped = paired_bootstrap(y, good, noise, cards, resamples=300, seed=7)
    assert swapped.verdict is Verdict.CHAMPION_BETTER
    assert (swapped.low, swapped.high) == pytest.approx((-test.high, -test.low))


def test_a_model_against_itself_or_one_as_good_is_a_tie() -> None:
    y, good, noise, cards = _rows(300, seed=2)
    # WHEN a model meets itself
    same = paired_bootstrap(y, good, good, cards, resamples=200)
    # THEN there is no difference at all
    assert (same.difference, same.low, same.high) == (0.0, 0.0, 0.0)
    assert same.verdict is Verdict.TIE
    # WHEN two noise models meet, the interval holds 0
    other = np.random.default_rng(3).random(len(y))
    assert paired_bootstrap(y, noise, other, cards, resamples=200).verdict is Verdict.TIE


def test_every_resample_holds_the_frauds_even_of_a_single_card() -> None:
    # GIVEN one card with frauds among a hundred
    cards = np.repeat(np.arange(100), 5).astype(str)
    y = np.zeros(500, dtype=bool)
    y[:3] = True
    scores = np.linspace(1, 0, 500)
    # WHEN resampled (stratified by fraud: that card is drawn every time)
    test = paired_bootstrap(y, scores, scores[::-1].copy(), cards, resamples=100)
    # THEN every resample has an average precision: the interval is a number
    assert np.isfinite([test.low, test.high]).all()
    assert test.verdict is Verdict.CHAMPION_BETTER


@pytest.mark.parametrize(
    ("low", "high", "verdict"),
    [
        (0.01, 0.2, Verdict.CHALLENGER_BETTER),
        (-0.2, -0.01, Verdict.CHAMPION_BETTER),
        (-0.01, 0.2, Verdict.TIE),
        # An interval that reaches 0 does not exclude it.
        (0.0, 0.2, Verdict.TIE),
        (-0.2, 0.0, Verdict.TIE),
    ],
)
def test_the_verdict_is_where_the_interval_lies(low: float, high: float, verdict: Verdict) -> None:
    assert PairedBootstrap((low + high) / 2, low, high, 0.95, 1000, 0).verdict is verdict


def _history(days: int) -> pd.DataFrame:
    """One transaction an hour on two cards and two terminals; every 7th a fraud."""
    times = pd.date_range("2026-01-01", periods=days * 24, freq="h", tz="UTC")
    n = len(times)
    return pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "event_time": times,
            "card_id": [f"c{i % 2}" for i in range(n)],
            "terminal_id": [f"p{i % 2}" for i in range(n)],
            "amount": np.arange(n, dtype=np.float64) % 50,
            "is_fraud": (np.arange(n) % 7 == 0).astype(int),
        }
    )


@pytest.mark.parametrize("label_delay_days", [1.0, 7.0, 7.5])
def test_the_history_read_before_the_period_gives_the_features_of_the_whole_history(label_delay_days: float) -> None:
    # GIVEN 60 days, and a period from day 50
    history = _history(60)
    since = date(2026, 2, 20)
    needed = history_days(label_delay_days)
    assert needed == int(np.ceil(30 + label_delay_days)) + 1
    # WHEN the features are computed from only the history_days before the period
    day = history["event_time"].dt.date
    read = history[day >= date.fromordinal(since.toordinal() - needed)].reset_index(drop=True)
    in_period = (read["event_time"].dt.date >= since).to_numpy()
    from_read = compute_features(read, label_delay_days=label_delay_days)[in_period]
    # THEN the period's features are those computed over the whole history
    full = compute_features(history, label_delay_days=label_delay_days)[(day >= since).to_numpy()]
    np.testing.assert_array_equal(from_read.to_numpy(), full.to_numpy())


def test_the_rows_in_range_are_told_apart_from_their_history() -> None:
    # GIVEN ten days labelled with the history of the days before the 5th
    history = _history(10)
    labels = pd.DataFrame(
        {"transaction_id": ["t0"], "label_time": [pd.Timestamp("2026-01-20", tz="UTC")], "is_fraud": [1]}
    )
    found = label_transactions(
        history, labels, label_delay_days=7.0, since=date(2026, 1, 5), until=date(2026, 1, 8), history_days=4
    )
    # THEN in_range holds the event days 5 to 8, both included; the rest is history
    days = found.transactions["event_time"].dt.day.to_numpy()
    np.testing.assert_array_equal(found.in_range(), (days >= 5) & (days <= 8))
    assert found.history_days == 4
