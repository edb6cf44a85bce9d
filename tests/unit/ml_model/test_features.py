"""The feature functions: hand-computed values at window edges, defined values when data is
missing, invariants, and offline == streaming on the same events."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_model.features import (
    CARD_FEATURES,
    FEATURE_SPEC,
    MISSING,
    card_features,
    card_features_streaming,
    compute_features,
    terminal_features,
)
from synthetic.generator import GeneratorConfig, generate_history

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a Thursday


def _card(times: list[float], amounts: list[float], **columns: list[object]) -> pd.DataFrame:
    n = len(times)
    return pd.DataFrame(
        {
            "event_s": [T0 + t for t in times],
            "amount": amounts,
            "terminal_id": columns.get("terminal_id", ["t1"] * n),
            "channel": columns.get("channel", ["pos"] * n),
            "lat": columns.get("lat", [40.0] * n),
            "lon": columns.get("lon", [-74.0] * n),
        }
    )


def test_windows_end_at_the_current_transaction_and_exclude_their_left_edge() -> None:
    # GIVEN transactions at 0 s, exactly 10 minutes later, and one second after that
    f = card_features(_card([0, 600, 601], [10.0, 20.0, 40.0]))
    # THEN the 10-minute window of the second one, (t-10min, t], excludes the first
    assert f["card_tx_count_10m"].tolist() == [1, 1, 2]
    assert f["card_tx_sum_10m"].tolist() == [10.0, 20.0, 60.0]
    # and the 1-hour window holds all of them, including the current one
    assert f["card_tx_count_1h"].tolist() == [1, 2, 3]
    assert f["card_mean_amount_1d"].tolist() == [10.0, 15.0, 70.0 / 3]
    assert f["card_amount_ratio_30d"].tolist() == pytest.approx([1.0, 20.0 / 15.0, 40.0 / (70.0 / 3)])
    assert f["card_seconds_since_prev"].tolist() == [MISSING, 600.0, 1.0]


def test_zero_amounts_give_defined_features() -> None:
    # GIVEN a card that spent a lot, then a card whose first two transactions are zero-amount
    # verifications (the running sums over both cards carry float error), then a purchase
    big = _card([0, 60, 120], [999_999.99, 123_456.78, 0.07])
    zero = _card([0, 60, 120], [0.0, 0.0, 5.0])
    events = pd.concat([big, zero], ignore_index=True)
    # WHEN the card features are computed (a division by zero would warn: warnings are errors here)
    f = card_features(events, np.array([0, 0, 0, 1, 1, 1]))
    # THEN a card whose 30-day amounts are all zero is at its usual amount, and the rest are as usual
    zero_card = f.iloc[3:]
    assert zero_card["card_amount_ratio_30d"].tolist() == pytest.approx([1.0, 1.0, 3.0])
    assert zero_card["card_mean_amount_30d"].tolist() == pytest.approx([0.0, 0.0, 5.0 / 3], abs=1e-6)
    assert zero_card["card_tx_sum_1h"].tolist() == pytest.approx([0.0, 0.0, 5.0], abs=1e-6)
    assert np.isfinite(f.to_numpy()).all()


def test_same_time_events_count_only_those_before_in_event_order() -> None:
    f = card_features(_card([5, 5], [1.0, 2.0]))
    assert f["card_tx_count_10m"].tolist() == [1, 2]


def test_distinct_terminals_per_day_and_calendar_flags() -> None:
    f = card_features(_card([0, 60, 120, 86_400 + 120], [1.0] * 4, terminal_id=["a", "b", "a", "c"]))
    assert f["card_distinct_terminals_1d"].tolist() == [1, 2, 2, 1]
    assert f["is_weekend"].tolist() == [0, 0, 0, 0]  # Thursday and Friday
    assert f["is_night"].tolist() == [1, 1, 1, 1]  # 00:00-00:02 UTC
    sat = card_features(_card([2 * 86_400 + 12 * 3600], [1.0]))
    assert sat["is_weekend"].tolist() == [1] and sat["is_night"].tolist() == [0]


def test_travel_features_and_missing_locations() -> None:
    # New York, then online (no location), then Los Angeles 30 minutes after New York
    f = card_features(
        _card(
            [0, 600, 1800],
            [1.0] * 3,
            lat=[40.71, np.nan, 34.05],
            lon=[-74.0, np.nan, -118.24],
            channel=["pos", "online", "pos"],
        )
    )
    assert f["card_distance_prev_km"].tolist()[:2] == [MISSING, MISSING]
    assert f["card_distance_prev_km"].iloc[2] == pytest.approx(3936, rel=0.01)
    assert f["card_speed_prev_kmh"].iloc[2] == pytest.approx(3936 * 2, rel=0.01)  # 30 minutes
    assert f["card_distance_home_km"].tolist()[:2] == [MISSING, MISSING]
    assert f["card_distance_home_km"].iloc[2] == pytest.approx(3936, rel=0.01)
    assert f["channel_online"].tolist() == [0, 1, 0]


def test_terminal_risk_counts_whole_hours_a_label_delay_old() -> None:
    hour = 3_600.0
    # GIVEN a fraud at T0 (hour h0), then transactions 3 days, 7 days, and 7 days and an hour later
    events = pd.DataFrame(
        {
            "terminal_id": ["t"] * 4,
            "event_s": [T0, T0 + 72 * hour, T0 + 168 * hour, T0 + 169 * hour + 1],
            "known_fraud": [1, 0, 0, 0],
        }
    )
    f = terminal_features(events, label_delay_days=7)
    # THEN at T0+7d the 1-day window [h0-24, h0) ends just before the fraud's hour; an hour later
    # [h0-23, h0+1) holds it
    assert f["terminal_tx_count_1d"].tolist() == [0, 0, 0, 1]
    assert f["terminal_fraud_rate_1d"].tolist() == [0, 0, 0, 1.0]
    assert f["terminal_tx_count_7d"].tolist() == [0, 0, 0, 1]
    assert f["terminal_fraud_rate_30d"].tolist() == [0, 0, 0, 1.0]


def test_a_label_delay_that_is_not_whole_hours_is_refused() -> None:
    with pytest.raises(ValueError, match="whole number of hours"):
        terminal_features(
            pd.DataFrame({"terminal_id": ["t"], "event_s": [T0], "known_fraud": [0]}), label_delay_days=0.1
        )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 800), st.booleans()), max_size=60),
    st.sampled_from([1, 24, 168]),
)
def test_terminal_windows_count_the_terminals_hours_as_a_direct_count(
    events: list[tuple[int, int, bool]], delay_hours: int
) -> None:
    # GIVEN transactions of a few terminals at whole hours, some of them fraud, in any order
    frame = pd.DataFrame(
        {
            "terminal_id": [f"t{t}" for t, _, _ in events],
            "event_s": [T0 + h * 3_600.0 + 59.0 for _, h, _ in events],
            "known_fraud": [int(f) for _, _, f in events],
        }
    )
    # WHEN their terminal features are computed
    f = terminal_features(frame, label_delay_days=delay_hours / 24)
    # THEN each counts its terminal's transactions in the hours [H - delay - w, H - delay), as a scan does
    for i, (terminal, h, _) in enumerate(events):
        for label, width in (("1d", 24), ("7d", 168), ("30d", 720)):
            inside = [
                j
                for j, (t, hj, _) in enumerate(events)
                if t == terminal and h - delay_hours - width <= hj < h - delay_hours
            ]
            frauds = sum(events[j][2] for j in inside)
            assert f[f"terminal_tx_count_{label}"].iloc[i] == len(inside)
            assert f[f"terminal_fraud_rate_{label}"].iloc[i] == pytest.approx(frauds / len(inside) if inside else 0.0)


@settings(max_examples=30, deadline=None)
@given(
    gaps=st.lists(st.floats(0, 3 * 86_400), min_size=1, max_size=40),
    amounts=st.lists(st.floats(0.01, 10_000), min_size=40, max_size=40),
)
def test_invariants(gaps: list[float], amounts: list[float]) -> None:
    times = list(np.cumsum(gaps))
    f = card_features(_card(times, amounts[: len(times)]))
    counts = f[["card_tx_count_10m", "card_tx_count_1h", "card_tx_count_1d", "card_tx_count_7d", "card_tx_count_30d"]]
    assert (counts.to_numpy() >= 1).all()
    assert (np.diff(counts.to_numpy(), axis=1) >= 0).all()  # longer windows hold at least as many
    seen = np.maximum.accumulate(np.array(amounts[: len(times)]))
    assert (f["card_mean_amount_30d"].to_numpy() <= seen * (1 + 1e-9)).all()
    assert (f["card_distinct_terminals_1d"] == 1).all()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 72), st.sampled_from(["t1", "t2", "t3"])), max_size=60))
def test_many_cards_at_once_count_windows_and_distinct_terminals_as_a_direct_count(
    events: list[tuple[int, int, str]],
) -> None:
    # GIVEN events of several cards on whole hours (ties included), sorted by card, then time
    events = sorted(events, key=lambda e: (e[0], e[1]))
    card = np.array([c for c, _, _ in events], dtype=np.int64)
    hour = np.array([h for _, h, _ in events], dtype=np.float64)
    terminal: list[object] = [t for _, _, t in events]
    frame = _card(list(hour * 3_600), [1.0] * len(events), terminal_id=terminal)

    # WHEN every card's features are computed in one call
    f = card_features(frame, card)

    # THEN each row counts the rows of its card up to it in the window (t - w, t], as a direct scan does
    for i in range(len(events)):
        day = [j for j in range(i + 1) if card[j] == card[i] and hour[j] > hour[i] - 24]
        hour_window = [j for j in day if hour[j] > hour[i] - 1]
        assert f["card_tx_count_1h"].iloc[i] == len(hour_window)
        assert f["card_tx_count_1d"].iloc[i] == len(day)
        assert f["card_distinct_terminals_1d"].iloc[i] == len({terminal[j] for j in day})


def _stream_frame(history: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_s": history["event_time"].astype("datetime64[us, UTC]").astype("int64") / 1e6,
            "amount": history["amount"],
            "terminal_id": history["terminal_id"],
            "channel": history["channel"],
            "lat": history["lat"],
            "lon": history["lon"],
            "card_id": history["card_id"],
        }
    ).sort_values("event_s", kind="stable")


def test_offline_features_equal_the_streaming_computation_on_the_same_events() -> None:
    # GIVEN two weeks of a small synthetic world
    history = generate_history(
        GeneratorConfig(seed=4, n_cards=60, n_terminals=150, fraud_rate=0.03), date(2026, 2, 1), 14
    )
    offline = compute_features(history)
    # WHEN the events arrive in event order, in micro-batches of 40 that mix many cards
    frame = _stream_frame(history)
    streamed = []
    retained = frame.iloc[:0]
    for start in range(0, len(frame), 40):
        features, retained = card_features_streaming(retained, frame.iloc[start : start + 40])
        streamed.append(features)
    assert retained["card_id"].nunique() == frame["card_id"].nunique()
    online = pd.concat(streamed).loc[history.index, list(CARD_FEATURES)]
    # THEN the card features are the offline ones (to float rounding of window sums)
    np.testing.assert_allclose(online.to_numpy(), offline[list(CARD_FEATURES)].to_numpy(), rtol=1e-9, atol=1e-6)
    assert list(offline.columns) == list(FEATURE_SPEC.names)


def test_card_features_one_event_at_a_time_equal_the_offline_ones() -> None:
    # GIVEN the events of the three busiest cards of two weeks, in event order
    history = generate_history(
        GeneratorConfig(seed=4, n_cards=60, n_terminals=150, fraud_rate=0.03), date(2026, 2, 1), 14
    )
    offline = compute_features(history)
    busiest = history["card_id"].value_counts().index[:3]
    frame = _stream_frame(history[history["card_id"].isin(busiest)])
    assert len(frame) > 60
    # WHEN they arrive one event per step, each step seeing only the retained history
    streamed = []
    retained = frame.iloc[:0]
    for i in range(len(frame)):
        features, retained = card_features_streaming(retained, frame.iloc[i : i + 1])
        streamed.append(features)
    online = pd.concat(streamed).loc[frame.index, list(CARD_FEATURES)]
    # THEN each event's card features are its offline ones
    np.testing.assert_allclose(
        online.to_numpy(), offline.loc[frame.index, list(CARD_FEATURES)].to_numpy(), rtol=1e-9, atol=1e-6
    )


def test_every_feature_of_an_event_depends_only_on_the_events_up_to_it() -> None:
    # GIVEN three weeks of a small synthetic world, with labels, and its offline features
    history = generate_history(
        GeneratorConfig(seed=6, n_cards=80, n_terminals=40, fraud_rate=0.05), date(2026, 2, 1), 21
    )
    offline = compute_features(history, label_delay_days=7)
    assert offline["terminal_fraud_rate_7d"].gt(0).any()  # the terminal features are not all empty
    # WHEN the features are computed on what a stream would have seen by each of several moments
    ordered = history.sort_values("event_time", kind="stable")
    for cut in (len(ordered) // 7, len(ordered) // 3, len(ordered) // 2, len(ordered) - 1):
        seen = ordered.iloc[: cut + 1]
        then = compute_features(seen, label_delay_days=7)
        # THEN every event seen so far has its offline features, card and terminal ones alike
        np.testing.assert_allclose(then.to_numpy(), offline.loc[seen.index].to_numpy(), rtol=1e-9, atol=1e-6)


def test_a_history_without_any_optional_column_gets_defined_values() -> None:
    # GIVEN transactions with only the required fields: no channel, no location, no labels
    transactions = pd.DataFrame(
        {
            "transaction_id": ["a", "b", "c"],
            "event_time": pd.to_datetime(["2026-01-01T10:00Z", "2026-01-01T10:05Z", "2026-01-03T10:00Z"]),
            "card_id": ["c1", "c1", "c1"],
            "terminal_id": ["t1", "t2", "t1"],
            "amount": [10.0, 30.0, 20.0],
        }
    )
    # WHEN their features are computed
    f = compute_features(transactions)
    # THEN every value is defined: the documented missing value for location, zero for channels and risk
    assert list(f.columns) == list(FEATURE_SPEC.names)
    assert np.isfinite(f.to_numpy()).all()
    assert (f[["card_distance_prev_km", "card_speed_prev_kmh", "card_distance_home_km"]] == MISSING).all().all()
    assert (f[["channel_online", "channel_atm", "terminal_fraud_rate_30d"]] == 0).all().all()
    assert f["card_seconds_since_prev"].tolist() == [MISSING, 300.0, 2 * 86_400 - 300.0]
