"""The synthetic generator: determinism, and each fraud scenario produces what it claims."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from synthetic.generator import (
    DEFAULT_SCENARIO_MIX,
    TRANSACTION_COLUMNS,
    FraudScenario,
    GeneratorConfig,
    RegimeChange,
    TransactionGenerator,
    _hex_ids,
    generate_history,
    haversine_km,
)

START = date(2026, 1, 5)  # a Monday


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    # Six weeks of a mid-sized world with a higher fraud rate, so every scenario shows up often.
    return generate_history(GeneratorConfig(seed=3, n_cards=1_500, n_terminals=3_000, fraud_rate=0.02), START, 42)


@pytest.fixture(scope="module")
def card_means() -> pd.Series:
    gen = TransactionGenerator(GeneratorConfig(seed=3, n_cards=1_500, n_terminals=3_000, fraud_rate=0.02), START)
    return pd.Series(gen.world.card_mean_amount, index=[f"card-{i:06d}" for i in range(1_500)])


def test_same_seed_same_history_and_other_seed_differs() -> None:
    config = GeneratorConfig(seed=11, n_cards=200, n_terminals=400)
    a = generate_history(config, START, 3)
    b = generate_history(config, START, 3)
    c = generate_history(GeneratorConfig(seed=12, n_cards=200, n_terminals=400), START, 3)
    pd.testing.assert_frame_equal(a, b)
    assert not a["transaction_id"].isin(c["transaction_id"]).any()


def test_frame_layout_ids_and_event_order(history: pd.DataFrame) -> None:
    assert tuple(history.columns) == TRANSACTION_COLUMNS
    assert history["event_time"].is_monotonic_increasing
    assert history["transaction_id"].is_unique
    assert (history["amount"] > 0).all() and (history["amount"] <= 1_000_000).all()
    assert set(history["channel"]) == {"pos", "online", "atm"}
    online = history["channel"] == "online"
    assert history.loc[online, ["lat", "lon"]].isna().all().all()
    assert history.loc[~online, ["lat", "lon"]].notna().all().all()
    assert (history["is_fraud"] == (history["scenario"] != 0)).all()


def test_fraud_rate_is_near_the_configured_rate() -> None:
    frame = generate_history(GeneratorConfig(seed=5, n_cards=2_000, n_terminals=4_000), START, 60)
    rate = frame["is_fraud"].mean()
    assert rate < 0.01  # "default under 1%, as in real data"
    # After the compromised terminals' warm-up, close to the default 0.6%.
    late = frame[frame["event_time"] >= pd.Timestamp(START, tz="UTC") + pd.Timedelta(days=30)]
    assert 0.003 <= late["is_fraud"].mean() <= 0.009
    assert set(frame.loc[frame["is_fraud"] == 1, "scenario"]) == {1, 2, 3, 4, 5}


def test_large_amounts_are_far_above_the_cards_usual(history: pd.DataFrame, card_means: pd.Series) -> None:
    large = history[history["scenario"] == FraudScenario.LARGE_AMOUNT]
    assert len(large) > 20
    ratio = large["amount"].to_numpy() / card_means[large["card_id"]].to_numpy()
    assert (ratio >= 8).all()


def test_compromised_terminal_makes_every_transaction_on_it_fraud_for_weeks(history: pd.DataFrame) -> None:
    skimmed = history[history["scenario"] == FraudScenario.COMPROMISED_TERMINAL]
    assert skimmed["terminal_id"].nunique() >= 5
    for terminal, rows in skimmed.groupby("terminal_id"):
        first, last = rows["event_time"].min(), rows["event_time"].max()
        on_terminal = history[(history["terminal_id"] == terminal) & history["event_time"].between(first, last)]
        # every transaction on it between its first and last fraud is fraud
        assert on_terminal["is_fraud"].all(), terminal
    spans = skimmed.groupby("terminal_id")["event_time"].agg(lambda s: s.max() - s.min())
    assert spans.max() >= pd.Timedelta(days=10)  # a period of weeks, not a single day


def test_compromised_card_spends_several_times_its_usual_over_two_weeks(
    history: pd.DataFrame, card_means: pd.Series
) -> None:
    rows = history[history["scenario"] == FraudScenario.COMPROMISED_CARD]
    assert rows["card_id"].nunique() >= 5
    ratio = rows["amount"].to_numpy() / card_means[rows["card_id"]].to_numpy()
    assert (ratio >= 3.99).all()
    spans = rows.groupby("card_id")["event_time"].agg(lambda s: s.max() - s.min())
    # a card may be compromised again later; one episode lasts at most two weeks
    assert (spans <= pd.Timedelta(days=14)).mean() > 0.9
    # the card's genuine spending goes on alongside the fraud
    assert history[(history["card_id"].isin(rows["card_id"])) & (history["is_fraud"] == 0)].shape[0] > 0


def test_impossible_travel_is_too_far_too_fast(history: pd.DataFrame) -> None:
    located = history.dropna(subset=["lat"]).sort_values(["card_id", "event_time"], kind="stable")
    prev = located.groupby("card_id").shift(1)
    travel = located["scenario"] == FraudScenario.IMPOSSIBLE_TRAVEL
    first_of_trip = travel & (prev["scenario"] != FraudScenario.IMPOSSIBLE_TRAVEL)
    assert first_of_trip.sum() > 10
    dist = haversine_km(
        prev.loc[first_of_trip, "lat"].to_numpy(),
        prev.loc[first_of_trip, "lon"].to_numpy(),
        located.loc[first_of_trip, "lat"].to_numpy(),
        located.loc[first_of_trip, "lon"].to_numpy(),
    )
    hours = (located.loc[first_of_trip, "event_time"] - prev.loc[first_of_trip, "event_time"]).dt.total_seconds() / 3600
    speed = dist / hours.to_numpy()
    # mostly right after a purchase at home; a genuine purchase may slip in between occasionally
    assert np.median(speed) > 1_000  # km/h: no airliner does that
    assert (dist > 1_000).mean() > 0.9


def test_card_testing_is_a_burst_of_small_online_amounts_across_terminals(history: pd.DataFrame) -> None:
    rows = history[history["scenario"] == FraudScenario.CARD_TESTING]
    assert len(rows) > 30
    assert (rows["amount"] <= 3.0).all()
    assert (rows["channel"] == "online").all()
    # bursts: consecutive testing transactions of a card come minutes apart, on distinct terminals
    gaps = rows.groupby("card_id")["event_time"].diff().dropna()
    assert (gaps <= pd.Timedelta(minutes=1)).mean() > 0.8
    per_card_day = rows.groupby(["card_id", rows["event_time"].dt.date])
    assert (per_card_day["terminal_id"].nunique() == per_card_day.size()).all()
    assert per_card_day.size().min() >= 6


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), fraud_rate=st.floats(0.005, 0.05))
def test_labels_match_scenarios_for_any_seed(seed: int, fraud_rate: float) -> None:
    frame = generate_history(GeneratorConfig(seed=seed, n_cards=300, n_terminals=600, fraud_rate=fraud_rate), START, 5)
    assert (frame["is_fraud"] == (frame["scenario"] > 0)).all()
    assert frame["scenario"].between(0, 5).all()
    assert frame["transaction_id"].is_unique
    assert frame["event_time"].is_monotonic_increasing


def test_rejects_nonsense_configuration() -> None:
    with pytest.raises(ValueError, match="fraud_rate"):
        GeneratorConfig(fraud_rate=0.7)
    with pytest.raises(ValueError, match="days"):
        generate_history(GeneratorConfig(n_cards=10, n_terminals=20), START, 0)


def test_a_world_is_built_once_per_configuration_and_is_read_only() -> None:
    config = GeneratorConfig(seed=11, n_cards=200, n_terminals=400)
    first, second = (TransactionGenerator(config, START).world for _ in range(2))
    assert first is second
    assert TransactionGenerator(GeneratorConfig(seed=12, n_cards=200, n_terminals=400), START).world is not first
    with pytest.raises(ValueError, match="read-only"):
        first.card_lat[0] = 0.0


def test_cards_shop_at_the_twelve_terminals_nearest_their_home_nearest_first() -> None:
    world = TransactionGenerator(GeneratorConfig(seed=5, n_cards=300, n_terminals=3_000), START).world
    checked = 0
    for card in range(300):
        terminals = world.city_terminals[world.card_city[card]]
        if len(terminals) < 12:
            continue
        squared = (world.card_lat[card] - world.term_lat[terminals]) ** 2 + (
            world.card_lon[card] - world.term_lon[terminals]
        ) ** 2
        assert list(world.card_usual_physical[card]) == list(terminals[np.argsort(squared)[:12]])
        checked += 1
    assert checked > 100


@given(st.lists(st.tuples(st.integers(0, 2**63 - 1), st.integers(0, 2**63 - 1)), min_size=1, max_size=50))
@example([(0, 2**63 - 1), (2**63 - 1, 0)])
def test_transaction_ids_are_both_numbers_in_sixteen_lowercase_hex_digits(pairs: list[tuple[int, int]]) -> None:
    # WHEN ids are formatted all at once
    ids = _hex_ids(np.array(pairs, dtype=np.int64))

    # THEN each is what Python's own formatting gives, edge values (0, 2**63 - 1) included
    assert ids.tolist() == [f"{a:016x}{b:016x}" for a, b in pairs]


def test_a_regime_change_changes_fraud_from_its_day_and_leaves_the_days_before_alone() -> None:
    # GIVEN a world, the same world whose compromised cards go "low and slow" from its 15th day on, and
    # one where card testing, absent before, appears that day
    world = GeneratorConfig(seed=5, n_cards=800, n_terminals=1_600, fraud_rate=0.03)
    change = START + timedelta(days=15)
    low_and_slow = replace(world, regime_change=RegimeChange(day=change))
    without_testing = {**DEFAULT_SCENARIO_MIX, FraudScenario.CARD_TESTING: 0.0}
    appears = replace(
        world,
        scenario_mix=without_testing,
        regime_change=RegimeChange(
            day=change,
            card_fraud_amount=(4.0, 8.0),
            card_fraud_online_share=0.6,
            scenario_mix=dict(DEFAULT_SCENARIO_MIX),
        ),
    )
    # WHEN 30 days of each are generated
    base = generate_history(world, START, 30)
    changed = generate_history(low_and_slow, START, 30)
    appeared = generate_history(appears, START, 30)
    before = pd.Timestamp(change, tz="UTC")
    # THEN before the change the world is the one without it, row for row
    pd.testing.assert_frame_equal(
        changed[changed["event_time"] < before].reset_index(drop=True),
        base[base["event_time"] < before].reset_index(drop=True),
    )
    # ... and after it compromised cards spend near their usual amounts, almost all online
    means = pd.Series(
        TransactionGenerator(world, START).world.card_mean_amount, index=[f"card-{i:06d}" for i in range(800)]
    )

    def card_fraud(frame: pd.DataFrame, after: bool) -> pd.DataFrame:
        rows = frame[(frame["scenario"] == FraudScenario.COMPROMISED_CARD) & ((frame["event_time"] >= before) == after)]
        return rows.assign(ratio=rows["amount"].to_numpy() / means[rows["card_id"]].to_numpy())

    old, new = card_fraud(changed, after=False), card_fraud(changed, after=True)
    assert len(old) > 20 and len(new) > 20
    assert old["ratio"].between(3.9, 8.1).all() and new["ratio"].between(0.75, 1.65).all()
    assert (old["channel"] == "online").mean() < 0.8 < (new["channel"] == "online").mean()
    assert card_fraud(base, after=True)["ratio"].between(3.9, 8.1).all()  # the unchanged world keeps its pattern
    # ... and a scenario with no share before appears from the change's day only
    testing = appeared[appeared["scenario"] == FraudScenario.CARD_TESTING]
    assert len(testing) > 0 and (testing["event_time"] >= before).all()
    pd.testing.assert_frame_equal(
        appeared[appeared["event_time"] < before].reset_index(drop=True),
        generate_history(replace(world, scenario_mix=without_testing), START, 15),
    )


def test_a_regime_change_is_off_by_default_and_checked() -> None:
    assert GeneratorConfig().regime_change is None
    with pytest.raises(ValueError, match="card_fraud_amount"):
        RegimeChange(day=START, card_fraud_amount=(2.0, 1.0))
    with pytest.raises(ValueError, match="card_fraud_online_share"):
        RegimeChange(day=START, card_fraud_online_share=1.5)
