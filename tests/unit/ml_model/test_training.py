"""The prequential search: fold geometry, and what each fold's model is really trained on."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from hypothesis import given
from hypothesis import strategies as st

from ml_model.features import FEATURE_SPEC
from ml_model.training import CandidateScore, Fold, SearchResult, TrainingConfig, prequential_search

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
    assert len(calls) == len(folds) * len(config.search)
    delay_s = config.delay_days * DAY_S
    train_start_s = (config.train_start - ORIGIN).days * DAY_S
    for fold_index, fold in enumerate(folds):
        fold_start_s = (fold.validation_start - ORIGIN).days * DAY_S
        for trained, evaluated in calls[fold_index * len(config.search) : (fold_index + 1) * len(config.search)]:
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
