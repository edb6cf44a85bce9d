"""The prequential search: fold geometry, and what each fold's model is really trained on."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from hypothesis import given
from hypothesis import strategies as st

from ml_model.evaluation import choose_threshold
from ml_model.features import FEATURE_SPEC
from ml_model.training import (
    DEFAULT_CANDIDATE,
    SEARCH_SPACE,
    CandidateScore,
    Fold,
    PreparedData,
    SearchResult,
    TrainingConfig,
    TrainingResult,
    evaluate,
    fit_final,
    fit_validation_model,
    prepare,
    prequential_search,
    training_params,
)
from ml_model.types import ValidationPlacement

DAY_S = 86_400.0
ORIGIN = date(2026, 1, 1)


@given(
    train_days=st.integers(20, 80),
    folds=st.integers(1, 4),
    fold_days=st.integers(1, 10),
    delay_days=st.integers(0, 10),
    offset=st.integers(0, 30),
)
def test_folds_are_consecutive_expanding_and_leave_the_label_delay(
    train_days: int, folds: int, fold_days: int, delay_days: int, offset: int
) -> None:
    config = TrainingConfig(
        train_start=ORIGIN + timedelta(days=offset),
        train_days=train_days,
        validation_days=min(14, train_days - 1),
        delay_days=delay_days,
        folds=folds,
        fold_days=fold_days,
    )
    try:
        result = config.prequential_folds()
    except ValueError as e:
        # refused only when the first fold would have fewer than min_fit_days to learn from
        assert config.min_fit_days + delay_days + folds * fold_days > train_days
        assert "training days cannot hold" in str(e)
        return
    p = config.periods()
    assert len(result) == folds
    assert result[-1].validation_end == p["train_end"]
    for previous, fold in zip(result, result[1:], strict=False):
        assert fold.validation_start == previous.validation_end  # consecutive
        assert fold.fit_end > previous.fit_end  # expanding
    for fold in result:
        assert fold.fit_start == p["train_start"]
        assert fold.fit_end == fold.validation_start - timedelta(days=delay_days)
        assert (fold.fit_end - fold.fit_start).days >= config.min_fit_days
        assert (fold.validation_end - fold.validation_start).days == fold_days


def _hourly_history(days: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spec-width rows, one per hour: column 0 is the event time in seconds since ORIGIN."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * 24, dtype=np.float64) * 3_600.0 + rng.uniform(0, 3_600.0, days * 24)
    X = rng.normal(size=(len(t), len(FEATURE_SPEC)))
    X[:, 0] = t
    y = (X[:, 1] + rng.normal(scale=0.7, size=len(t)) > 1.2).astype(np.float64)
    day = (np.datetime64(ORIGIN, "D") + (t // DAY_S).astype("timedelta64[D]")).astype("datetime64[D]")
    return X, y, day


def test_no_fold_trains_on_data_at_or_after_its_fold_start_minus_the_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a history with a row every hour, so every day of every gap holds data a leak would pick up
    X, y, day = _hourly_history(60, seed=3)
    config = TrainingConfig(
        train_start=ORIGIN + timedelta(days=5),
        train_days=45,
        validation_days=10,
        delay_days=7,
        folds=3,
        fold_days=6,
        max_rounds=3,
        search=({"max_depth": 2, "eta": 0.3}, {"max_depth": 3, "eta": 0.3}),
    )
    # ... and xgboost spied on: the raw rows of every training matrix, the rows of every evaluation set
    built: dict[int, np.ndarray] = {}
    calls: list[tuple[np.ndarray, np.ndarray]] = []
    real_quantile, real_train = xgb.QuantileDMatrix, xgb.train

    class RecordingQuantileDMatrix(real_quantile):  # type: ignore[misc,valid-type]
        def __init__(self, data: np.ndarray, *args: Any, **kwargs: Any) -> None:
            super().__init__(data, *args, **kwargs)
            built[id(self)] = np.array(data, copy=True)

    def recording_train(params: dict[str, Any], dtrain: xgb.DMatrix, *args: Any, **kwargs: Any) -> xgb.Booster:
        evaluation = kwargs["evals"][0][0].get_data().toarray()
        calls.append((built[id(dtrain)][:, 0], evaluation[:, 0].astype(np.float64)))
        return real_train(params, dtrain, *args, **kwargs)

    monkeypatch.setattr(xgb, "QuantileDMatrix", RecordingQuantileDMatrix)
    monkeypatch.setattr(xgb, "train", recording_train)
    # WHEN the search runs
    result = prequential_search(X, y, day, config)
    # THEN every fold's model, for every candidate, learned only from rows before its fold's start minus
    # the delay, and from the training period's start on
    folds = config.prequential_folds()
    assert len(calls) == len(folds) * len(config.candidates())
    delay_s = config.delay_days * DAY_S
    train_start_s = (config.train_start - ORIGIN).days * DAY_S
    for fold_index, fold in enumerate(folds):
        fold_start_s = (fold.validation_start - ORIGIN).days * DAY_S
        for trained, evaluated in calls[
            fold_index * len(config.candidates()) : (fold_index + 1) * len(config.candidates())
        ]:
            assert trained.max() < fold_start_s - delay_s
            assert trained.min() >= train_start_s
            # its evaluation set is exactly its fold
            assert evaluated.min() >= fold_start_s and evaluated.max() < fold_start_s + config.fold_days * DAY_S
            # and the rule is not vacuous: the gap before the fold held rows the model did not see
            assert ((X[:, 0] >= fold_start_s - delay_s) & (X[:, 0] < fold_start_s)).sum() > 0
    # ... each fold's training rows are recorded, and grow fold by fold
    fit_rows = [rows for rows, _ in result.fold_rows]
    assert fit_rows == sorted(fit_rows) and len(set(fit_rows)) == len(fit_rows)
    assert [len(c.fold_average_precision) for c in result.candidates] == [3, 3]


def test_the_best_mean_average_precision_wins_ties_to_the_first() -> None:
    fold = Fold(0, ORIGIN, ORIGIN, ORIGIN, ORIGIN)
    result = SearchResult(
        folds=(fold, fold),
        candidates=(
            CandidateScore({"a": 1}, (0.9, 0.5), (10, 10)),
            CandidateScore({"a": 2}, (0.7, 0.8), (10, 10)),  # mean 0.75: the best
            CandidateScore({"a": 3}, (0.8, 0.7), (10, 10)),  # mean 0.75 too, later in the grid
        ),
        fold_rows=((10, 5), (15, 5)),
    )
    assert result.best.params == {"a": 2}
    recorded = result.to_dict()
    assert recorded["chosen"]["params"] == {"a": 2}
    assert recorded["candidates"][0]["fold_average_precision"] == [0.9, 0.5]
    assert recorded["folds"][1]["fit_rows"] == 15


def test_a_training_period_too_short_for_the_folds_is_refused_clearly() -> None:
    config = TrainingConfig(train_start=ORIGIN, train_days=20, validation_days=7, folds=3, fold_days=7)
    with pytest.raises(ValueError, match="20 training days cannot hold 3 folds of 7 days"):
        config.prequential_folds()


def _prepared(seed: int) -> PreparedData:
    """A prepared history of spec-width rows: 10 validation days, then 10 test days."""
    X, y, day = _hourly_history(20, seed)
    periods = {"validation_start": ORIGIN, "train_end": ORIGIN + timedelta(days=10)}
    validation = day < np.datetime64(periods["train_end"], "D")
    transactions = pd.DataFrame(
        {
            "event_time": pd.to_datetime(ORIGIN) + pd.to_timedelta(X[:, 0], unit="s"),
            "card_id": [f"c{i % 40}" for i in range(len(y))],
            "is_fraud": y.astype(int),
        }
    )
    return PreparedData(
        transactions=transactions,
        X=X,
        y=y,
        day=day,
        fit=np.zeros(len(y), dtype=bool),
        validation=validation,
        test=~validation,
        periods=periods,
    )


def _early_stopped_booster(seed: int) -> xgb.Booster:
    X, y, _ = _hourly_history(20, seed)
    X[:, 0] = np.nan  # the event time is no feature
    half = len(y) // 2
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2, "eta": 0.3, "seed": 0, "tree_method": "hist"},
        xgb.DMatrix(X[:half], y[:half]),
        200,
        evals=[(xgb.DMatrix(X[half:], y[half:]), "validation")],
        early_stopping_rounds=5,
        verbose_eval=False,
    )
    assert booster.best_iteration + 1 < booster.num_boosted_rounds()
    return booster


def test_the_threshold_is_chosen_on_validation_never_on_test() -> None:
    # GIVEN a model stopped early, and a history whose test labels are then turned upside down
    booster = _early_stopped_booster(seed=9)
    data = _prepared(seed=5)
    flipped = replace(data, y=np.where(data.test, 1.0 - data.y, data.y))
    # WHEN both are evaluated
    threshold, metrics, test_scores = evaluate(booster, data)
    flipped_threshold, flipped_metrics, _ = evaluate(booster, flipped)
    # THEN the threshold is the best-F1 one on the validation rows, at the best iteration, whatever the test labels
    best = (0, booster.best_iteration + 1)
    validation_scores = booster.predict(xgb.DMatrix(data.X[data.validation]), iteration_range=best)
    assert threshold == choose_threshold(data.y[data.validation], validation_scores)
    assert flipped_threshold == threshold
    # ... and the test labels only move the test metrics, computed at that threshold
    assert metrics["threshold"] == flipped_metrics["threshold"] == threshold
    assert metrics["precision"] != flipped_metrics["precision"]
    np.testing.assert_array_equal(test_scores, booster.predict(xgb.DMatrix(data.X[data.test]), iteration_range=best))
    assert threshold != choose_threshold(data.y[data.test], test_scores)


def test_every_choice_that_moves_results_is_explicit_and_recorded_on_the_card() -> None:
    # GIVEN a candidate of the search and the fit period's labels (2% fraud)
    config = TrainingConfig(train_start=ORIGIN, seed=123)
    y_fit = np.array([1.0] + [0.0] * 49)
    # WHEN the fit's parameters are built and a result carries them to its model card
    params = training_params({"max_depth": 4, "eta": 0.1, "scale_pos_weight": 3.0}, y_fit, config)
    card = TrainingResult(
        booster=xgb.Booster(),
        threshold=0.5,
        metrics={},
        params=params,
        periods=config.periods(),
        test_scores=np.empty(0),
        test_labels=np.empty(0),
    ).card("v1")
    # THEN tree method, base score (the training prior), seed, thread count and the class weight are set
    assert params["tree_method"] == "hist"
    assert params["base_score"] == pytest.approx(0.02)
    assert params["seed"] == 123
    assert params["nthread"] == 2
    assert params["scale_pos_weight"] == 3.0 and params["objective"] == "binary:logistic"
    # ... and recorded, with the periods, on the card
    assert card.params == params
    assert card.data_ranges["test_start"] == config.periods()["test_start"].isoformat()


def test_the_final_model_stops_early_on_the_validation_period_before_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN 30 days of rows: fit the first 10, validate the next 10, test the last 10
    X, y, day = _hourly_history(30, seed=2)
    edges = [np.datetime64(ORIGIN + timedelta(days=d), "D") for d in (10, 20)]
    data = PreparedData(
        transactions=pd.DataFrame(),
        X=X,
        y=y,
        day=day,
        fit=day < edges[0],
        validation=(day >= edges[0]) & (day < edges[1]),
        test=day >= edges[1],
        periods={},
    )
    config = TrainingConfig(train_start=ORIGIN, max_rounds=50, early_stopping_rounds=3)
    # ... and xgboost.train spied on
    seen: list[tuple[np.ndarray, int | None]] = []
    real_train = xgb.train

    def recording_train(params: dict[str, Any], dtrain: xgb.DMatrix, *args: Any, **kwargs: Any) -> xgb.Booster:
        seen.append((kwargs["evals"][0][0].get_data().toarray()[:, 0], kwargs["early_stopping_rounds"]))
        return real_train(params, dtrain, *args, **kwargs)

    monkeypatch.setattr(xgb, "train", recording_train)
    # WHEN the final model is fitted
    booster = fit_final(data, training_params({"max_depth": 2, "eta": 0.3}, y[data.fit], config), config)
    # THEN it stopped early on exactly the validation rows, which all precede the test period
    [(evaluated, patience)] = seen
    validation_times = X[data.validation, 0].astype(np.float32)  # a DMatrix holds float32
    np.testing.assert_array_equal(np.sort(evaluated), np.sort(validation_times))
    assert patience == 3 and evaluated.max() < X[data.test, 0].min()
    assert booster.best_iteration is not None


# -- validation before the training window (short windows) -------------------------------------------


def test_a_seven_day_window_validates_on_the_days_before_it() -> None:
    # GIVEN the literature's short window: 7 training days, 7 validation days before them, a 7-day delay
    config = TrainingConfig(
        train_start=date(2026, 3, 1),
        train_days=7,
        validation_days=7,
        validation=ValidationPlacement.BEFORE,
        delay_days=7,
        test_days=7,
        folds=2,
        fold_days=7,
    )
    # WHEN its periods and folds are laid out
    p = config.periods()
    spans = config.spans()
    folds = config.prequential_folds()
    # THEN the whole window is fitted, the test follows it after the delay
    assert spans["fit"] == (date(2026, 3, 1), date(2026, 3, 8))
    assert (p["test_start"], p["test_end"]) == (date(2026, 3, 15), date(2026, 3, 22))
    # ... the validation days are the 7 days before it, scored by a 7-day fit ending a delay before them
    assert spans["validation"] == (date(2026, 2, 22), date(2026, 3, 1))
    assert spans["validation_fit"] == (date(2026, 2, 8), date(2026, 2, 15))
    # ... the folds are consecutive, end where the window starts, each with a 7-day fit a delay before it
    assert [(f.validation_start, f.validation_end) for f in folds] == [
        (date(2026, 2, 15), date(2026, 2, 22)),
        (date(2026, 2, 22), date(2026, 3, 1)),
    ]
    assert [(f.fit_start, f.fit_end) for f in folds] == [
        (date(2026, 2, 1), date(2026, 2, 8)),
        (date(2026, 2, 8), date(2026, 2, 15)),
    ]
    # ... and the data must reach back to the first fold's fit: 14 fold days + 7 delay + 7 fit
    assert config.lead_days() == 28 == (config.train_start - folds[0].fit_start).days
    # ... whereas the same window with the validation inside it is refused, naming the way out
    with pytest.raises(ValueError, match="--validation-days must be between 1 and 6") as refused:
        replace(config, validation=ValidationPlacement.INSIDE).prequential_folds()
    assert "--validation before" in str(refused.value)


@given(
    train_days=st.integers(1, 30),
    validation_days=st.integers(1, 20),
    folds=st.integers(1, 4),
    fold_days=st.integers(1, 10),
    delay_days=st.integers(0, 10),
)
def test_before_the_window_every_fit_ends_a_label_delay_before_what_it_is_scored_on(
    train_days: int, validation_days: int, folds: int, fold_days: int, delay_days: int
) -> None:
    config = TrainingConfig(
        train_start=ORIGIN + timedelta(days=100),
        train_days=train_days,
        validation_days=validation_days,
        validation=ValidationPlacement.BEFORE,
        delay_days=delay_days,
        folds=folds,
        fold_days=fold_days,
    )
    spans = config.spans()
    p = config.periods()
    earliest = config.train_start - timedelta(days=config.lead_days())
    # the validation model: a window as long as the training window, a delay before the validation days
    fit_start, fit_end = spans["validation_fit"]
    assert (fit_end - fit_start).days == train_days
    assert fit_end + timedelta(days=delay_days) == spans["validation"][0]
    assert spans["validation"][1] == config.train_start and fit_start >= earliest
    # the final model: fitted on the whole window, tested a delay after it
    assert spans["fit"] == (config.train_start, p["train_end"])
    assert p["test_start"] == p["train_end"] + timedelta(days=delay_days)
    result = config.prequential_folds()
    assert len(result) == folds and result[-1].validation_end == config.train_start
    for previous, fold in zip(result, result[1:], strict=False):
        assert fold.validation_start == previous.validation_end
    for fold in result:
        assert (fold.fit_end - fold.fit_start).days == train_days
        assert fold.fit_end == fold.validation_start - timedelta(days=delay_days)
        assert fold.fit_start >= earliest


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"train_days": 0}, "--train-days must be at least 1, not 0"),
        ({"validation_days": 0}, "--validation-days must be at least 1, not 0"),
        ({"test_days": 0}, "--test-days must be at least 1, not 0"),
        ({"delay_days": -1}, "--delay-days must be at least 0, not -1"),
        ({"folds": 0}, "the search needs at least one fold of at least one day"),
        ({"validation": ValidationPlacement.INSIDE, "train_days": 14}, "--validation-days must be between 1 and 13"),
        ({"validation": ValidationPlacement.INSIDE}, "7 training days cannot hold|between 1 and 6"),
    ],
)
def test_impossible_periods_are_refused_in_one_line(changes: dict[str, Any], message: str) -> None:
    config = TrainingConfig(train_start=ORIGIN, train_days=7, validation_days=14, validation=ValidationPlacement.BEFORE)
    config = replace(config, **changes)
    with pytest.raises(ValueError, match=message) as refused:
        config.prequential_folds()
    assert "\n" not in str(refused.value)


def test_data_that_does_not_reach_back_to_the_validation_is_refused_before_any_feature() -> None:
    # GIVEN 20 days of transactions, and a 7-day window whose validation needs 28 days before it
    frame = pd.DataFrame(
        {
            "event_time": pd.date_range("2026-01-01", periods=20 * 24, freq="h", tz="UTC"),
            "is_fraud": [0, 1] * (20 * 12),
        }
    )
    config = TrainingConfig(
        train_start=ORIGIN + timedelta(days=10),
        train_days=7,
        validation_days=7,
        validation=ValidationPlacement.BEFORE,
        folds=2,
        fold_days=7,
    )
    # WHEN it is prepared THEN it is refused with the days needed and the options that change them
    with pytest.raises(ValueError, match=r"needs 28 days of data before the first training day 2026-01-11") as e:
        prepare(frame, config)
    assert "the data starts on 2026-01-01" in str(e.value) and "--train-start" in str(e.value)


def test_before_the_window_no_model_learns_from_what_it_is_scored_on(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN an hourly history, a 7-day window with its validation and two folds before it
    X, y, day = _hourly_history(60, seed=4)
    config = TrainingConfig(
        train_start=ORIGIN + timedelta(days=40),
        train_days=7,
        validation_days=7,
        validation=ValidationPlacement.BEFORE,
        delay_days=3,
        test_days=5,
        folds=2,
        fold_days=5,
        max_rounds=5,
        early_stopping_rounds=2,
        search=({"max_depth": 2, "eta": 0.3},),
    )
    spans = config.spans()
    masks = {name: _mask_of(day, *span) for name, span in spans.items()}
    data = PreparedData(
        transactions=pd.DataFrame(),
        X=X,
        y=y,
        day=day,
        fit=masks["fit"],
        validation=masks["validation"],
        test=_mask_of(day, config.periods()["test_start"], config.periods()["test_end"]),
        periods=config.periods(),
        validation_fit=masks["validation_fit"],
    )
    # ... and xgboost.train spied on: the event times of what each model learned from and stopped on
    built: dict[int, np.ndarray] = {}
    calls: list[tuple[np.ndarray, np.ndarray | None]] = []
    real_quantile, real_train = xgb.QuantileDMatrix, xgb.train

    class RecordingQuantileDMatrix(real_quantile):  # type: ignore[misc,valid-type]
        def __init__(self, data: np.ndarray, *args: Any, **kwargs: Any) -> None:
            super().__init__(data, *args, **kwargs)
            built[id(self)] = np.array(data, copy=True)

    def recording_train(params: dict[str, Any], dtrain: xgb.DMatrix, *args: Any, **kwargs: Any) -> xgb.Booster:
        evals = kwargs.get("evals")
        evaluated = evals[0][0].get_data().toarray()[:, 0].astype(np.float64) if evals else None
        calls.append((built[id(dtrain)][:, 0], evaluated))
        return real_train(params, dtrain, *args, **kwargs)

    monkeypatch.setattr(xgb, "QuantileDMatrix", RecordingQuantileDMatrix)
    monkeypatch.setattr(xgb, "train", recording_train)
    # WHEN the search, the validation model and the final model are fitted
    prequential_search(X, y, day, config)
    params = training_params(config.candidates()[0], y, config)
    validator = fit_validation_model(data, params, config)
    booster = fit_final(data, params, config, rounds=validator.best_iteration + 1)
    # THEN every model that was scored learned only from days ending a delay before its scored days
    delay_s = config.delay_days * DAY_S
    for trained, evaluated in calls[:-1]:
        assert evaluated is not None
        assert trained.max() < evaluated.min() - delay_s
        assert trained.min() >= (config.train_start - ORIGIN).days * DAY_S - config.lead_days() * DAY_S
    # ... the validation model stopped on exactly the validation days, which end where the window starts
    validation_times = np.sort(X[masks["validation"], 0].astype(np.float32))
    np.testing.assert_array_equal(np.sort(np.asarray(calls[-2][1], dtype=np.float32)), validation_times)
    # ... and the final model learned from the training window only, for the validation model's rounds
    final_trained, final_evaluated = calls[-1]
    assert final_evaluated is None
    window = (np.array([(d - ORIGIN).days for d in spans["fit"]]) * DAY_S).astype(np.float32)
    assert final_trained.min() >= window[0] and final_trained.max() < window[1]
    assert booster.num_boosted_rounds() == validator.best_iteration + 1 == booster.best_iteration + 1


def _mask_of(day: np.ndarray, start: date, end: date) -> np.ndarray:
    return np.asarray((day >= np.datetime64(start, "D")) & (day < np.datetime64(end, "D")))


# -- the search space ----------------------------------------------------------------------------------


def test_the_random_search_tries_every_parameter_family_a_fraud_team_would() -> None:
    # GIVEN a budget of 8 candidates
    config = TrainingConfig(train_start=ORIGIN, search_budget=8, seed=7)
    # WHEN they are drawn, twice
    candidates = config.candidates()
    # THEN the first is the default, all are distinct and the same for the same seed, another seed draws others
    assert candidates[0] == DEFAULT_CANDIDATE and len(candidates) == 8
    assert len({tuple(sorted(c.items())) for c in candidates}) == 8
    assert candidates == config.candidates() != replace(config, seed=8).candidates()
    # ... every family (depth, learning rate, class weight, row and column subsampling, minimum child
    # weight) takes several values of its range
    assert set(SEARCH_SPACE) == {
        "max_depth",
        "eta",
        "scale_pos_weight",
        "subsample",
        "colsample_bytree",
        "min_child_weight",
    }
    for name, values in SEARCH_SPACE.items():
        tried = {c[name] for c in candidates}
        assert tried <= set(values) and len(tried) >= 2, name
    # ... a budget of one is the default alone, and none is refused in one line
    assert replace(config, search_budget=1).candidates() == (DEFAULT_CANDIDATE,)
    with pytest.raises(ValueError, match="--search-budget must be at least 1, not 0"):
        replace(config, search_budget=0).candidates()


def test_each_candidates_parameters_reach_xgboost_and_the_rounds_stop_early(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a small history and a search of 6 drawn candidates on two folds
    X, y, day = _hourly_history(40, seed=6)
    config = TrainingConfig(
        train_start=ORIGIN,
        train_days=40,
        validation_days=5,
        delay_days=2,
        folds=2,
        fold_days=5,
        max_rounds=30,
        fold_early_stopping_rounds=3,
        search_budget=6,
    )
    seen: list[tuple[dict[str, Any], int]] = []
    real_train = xgb.train

    def recording_train(params: dict[str, Any], dtrain: xgb.DMatrix, *args: Any, **kwargs: Any) -> xgb.Booster:
        seen.append((params, kwargs["early_stopping_rounds"]))
        return real_train(params, dtrain, *args, **kwargs)

    monkeypatch.setattr(xgb, "train", recording_train)
    # WHEN the search runs
    result = prequential_search(X, y, day, config)
    # THEN every candidate was trained on every fold with its own values of every family, stopping early
    assert len(seen) == 2 * 6
    for params, patience in seen:
        assert patience == 3
        assert any(all(params[k] == v for k, v in c.items()) for c in config.candidates())
    # ... each candidate's per-fold scores and rounds are recorded, with the space it was drawn from
    recorded = result.to_dict()
    assert [c["params"] for c in recorded["candidates"]] == list(config.candidates())
    assert all(len(c["fold_best_iteration"]) == 2 for c in recorded["candidates"])
    assert recorded["space"] == {name: list(values) for name, values in SEARCH_SPACE.items()}
    assert recorded["chosen"]["params"] == result.best.params
