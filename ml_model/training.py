"""Training the way fraud teams validate: time-ordered periods, a label-delay gap before testing, a
hyperparameter search with prequential (time-ordered) validation, then early stopping and the alert
threshold on a validation period that precedes the test period.

Two layouts, chosen by `TrainingConfig.validation` (`train --validation`).

`inside` (the default): the validation days and the search folds are the last days of the
training window::

    train_start                      validation_start        train_end   test_start       test_end
    |------------- fit ---------------|------ validation ------|-- gap --|------ test ------|
                          |--- fold 1 ---|--- fold 2 ---|--- fold 3 ---|

Search: each candidate is trained once per fold, on [train_start, fold start - delay) only (what
would be labelled when the fold starts: an expanding window that respects the label delay), stops
early on its fold and is scored by average precision there; the candidate with the best mean over
the folds wins. Final model: the winner's parameters, trained on the fit part with early stopping on
the validation period, where the threshold is chosen too. The test period is used for metrics only.

`before` (the short windows of the fraud literature, e.g. 7 training days): the whole training
window is fitted, and the validation days and search folds are the days just before it, each scored
by a model trained on a window as long as the training window that ends a label delay before it::

    validation_fit_start  validation_fit_end   validation_start   train_start    train_end   test_start
    |---- fit (train_days) ----|----- gap -----|--- validation ---|---- fit ------|-- gap --|--- test ---|
                   |--- fold 1 fit ---|-- gap --|-- fold 1 --|-- fold 2 --|
                              |--- fold 2 fit ---|-- gap --|

Search as above, with those sliding windows. The validation model (the winner trained on
[validation_fit_start, validation_fit_end)) stops early on the validation days, where the threshold
is chosen; the final model is the winner trained on the training window for the validation model's
number of rounds. No model is ever evaluated on days at or before the end of what it was fitted
on, and every fit ends a label delay before the days it is evaluated on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import xgboost as xgb
from sklearn.metrics import average_precision_score

from ml_model.evaluation import card_precision_at_k, choose_threshold, classification_metrics
from ml_model.features import FEATURE_SPEC, compute_features
from ml_model.monitoring import training_reference
from ml_model.types import ValidationPlacement

if TYPE_CHECKING:
    from ml_model.artifact import ModelCard
    from ml_model.feature_spec import FeatureSpec

__all__ = [
    "DEFAULT_CANDIDATE",
    "SEARCH_SPACE",
    "CandidateScore",
    "Fold",
    "PreparedData",
    "SearchResult",
    "TrainingConfig",
    "TrainingResult",
    "ValidationPlacement",
    "evaluate",
    "fit_final",
    "fit_validation_model",
    "prepare",
    "prequential_search",
    "sample_candidates",
    "train",
    "training_params",
]

logger = logging.getLogger(__name__)

FEATURE_NAMES: Final = list(FEATURE_SPEC.names)

# What a fraud team tries, per parameter family; the rounds are every fit's own, by early stopping.
# Class imbalance: base_score is the training prior, and the positive class's weight is searched.
SEARCH_SPACE: Final[dict[str, tuple[float, ...]]] = {
    "max_depth": (3, 4, 6, 8),
    "eta": (0.05, 0.1, 0.2, 0.3),
    "scale_pos_weight": (1.0, 3.0, 10.0),
    "subsample": (0.6, 0.8, 1.0),
    "colsample_bytree": (0.6, 0.8, 1.0),
    "min_child_weight": (1, 5, 20),
}
# Always the search's first candidate: the one that ranked best by average precision on the
# synthetic worlds when the search was a grid (unweighted; heavier class weights trained up to 5x
# more rounds for no gain there), so a budget of 1 (`train --quick`) trains it.
DEFAULT_CANDIDATE: Final[dict[str, float]] = {
    "max_depth": 6,
    "eta": 0.1,
    "scale_pos_weight": 1.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 1,
}


def sample_candidates(budget: int, seed: int) -> tuple[dict[str, Any], ...]:
    """A random search's candidates: `DEFAULT_CANDIDATE`, then `budget - 1` distinct draws of one
    value per family of `SEARCH_SPACE`, the same for the same seed.

    Raises:
        ValueError: the budget is below 1.
    """
    if budget < 1:
        raise ValueError(f"--search-budget must be at least 1, not {budget}")
    size = int(np.prod([len(values) for values in SEARCH_SPACE.values()]))
    rng = np.random.default_rng([seed, 0x5EA2C4])
    candidates = [dict(DEFAULT_CANDIDATE)]
    while len(candidates) < min(budget, size):
        drawn = {name: values[int(rng.integers(len(values)))] for name, values in SEARCH_SPACE.items()}
        if drawn not in candidates:
            candidates.append(drawn)
    return tuple(candidates)


@dataclass(frozen=True)
class Fold:
    """One prequential validation fold: the model trains on [fit_start, fit_end) and is scored on
    [validation_start, validation_end); `fit_end` is `validation_start` minus the label delay."""

    index: int
    fit_start: date
    fit_end: date
    validation_start: date
    validation_end: date

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "fit_start": self.fit_start.isoformat(),
            "fit_end": self.fit_end.isoformat(),
            "validation_start": self.validation_start.isoformat(),
            "validation_end": self.validation_end.isoformat(),
        }


@dataclass(frozen=True)
class TrainingConfig:
    """Periods and choices of one training run.

    The periods, in order: [train_start, +train_days) of which the last `validation_days` validate
    (early stopping and the threshold); a gap of `delay_days` (labels of the last training days are
    not known yet when the model would be deployed); then `test_days` of test. The search's `folds`
    folds of `fold_days` each are consecutive and end with the training period. With `validation`
    BEFORE, the validation days and the folds end where the training window starts instead, and
    are scored by models fitted on `train_days` windows ending `delay_days` before them (see the
    module's docstring).
    """

    train_start: date
    train_days: int = 42
    validation_days: int = 14
    validation: ValidationPlacement = ValidationPlacement.INSIDE
    delay_days: int = 7
    test_days: int = 21
    label_delay_days: float = 7.0
    folds: int = 3
    fold_days: int = 7
    min_fit_days: int = 7
    seed: int = 0
    max_rounds: int = 600
    early_stopping_rounds: int = 40
    # Fold models only rank candidates: a shorter patience costs little there and halves the search.
    fold_early_stopping_rounds: int = 20
    # The searched candidates: None draws `search_budget` of them from SEARCH_SPACE (`candidates`).
    search: tuple[dict[str, Any], ...] | None = None
    search_budget: int = 4
    base_params: dict[str, Any] = field(
        default_factory=lambda: {
            "objective": "binary:logistic",
            "eval_metric": "aucpr",
            "tree_method": "hist",
            "max_bin": 256,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "min_child_weight": 1,
            # A fixed thread count keeps the hist method's results identical from run to run.
            "nthread": 2,
        }
    )

    def candidates(self) -> tuple[dict[str, Any], ...]:
        """The search's candidates: `search` when given, else a seeded random draw from the space.

        Raises:
            ValueError: the budget is below 1.
        """
        return self.search if self.search is not None else sample_candidates(self.search_budget, self.seed)

    @property
    def spec(self) -> FeatureSpec:
        """The feature spec of this run: this code's features with its label delay.

        Raises:
            ValueError: the label delay is not a whole number of hours.
        """
        return FEATURE_SPEC.with_label_delay(self.label_delay_days)

    def periods(self) -> dict[str, date]:
        """The periods' bounds, oldest first (each period is [start, end))."""
        train_end = self.train_start + timedelta(days=self.train_days)
        test_start = train_end + timedelta(days=self.delay_days)
        test = {"test_start": test_start, "test_end": test_start + timedelta(days=self.test_days)}
        if self.validation is ValidationPlacement.BEFORE:
            validation_start = self.train_start - timedelta(days=self.validation_days)
            validation_fit_end = validation_start - timedelta(days=self.delay_days)
            return {
                "validation_fit_start": validation_fit_end - timedelta(days=self.train_days),
                "validation_fit_end": validation_fit_end,
                "validation_start": validation_start,
                "validation_end": self.train_start,
                "train_start": self.train_start,
                "train_end": train_end,
                **test,
            }
        return {
            "train_start": self.train_start,
            "validation_start": train_end - timedelta(days=self.validation_days),
            "train_end": train_end,
            **test,
        }

    def spans(self) -> dict[str, tuple[date, date]]:
        """[start, end) of the final model's fit, of the validation days and of the validation
        model's fit (the final model's own fit when the validation lies inside the training days)."""
        p = self.periods()
        if self.validation is ValidationPlacement.BEFORE:
            return {
                "fit": (p["train_start"], p["train_end"]),
                "validation": (p["validation_start"], p["validation_end"]),
                "validation_fit": (p["validation_fit_start"], p["validation_fit_end"]),
            }
        fit = (p["train_start"], p["validation_start"])
        return {"fit": fit, "validation": (p["validation_start"], p["train_end"]), "validation_fit": fit}

    def lead_days(self) -> int:
        """Days before `train_start` that the validation and the folds reach back to (0 when inside)."""
        if self.validation is ValidationPlacement.INSIDE:
            return 0
        return max(self.validation_days, self.folds * self.fold_days) + self.delay_days + self.train_days

    def check(self) -> None:
        """Refuse impossible periods with one line naming the options.

        Raises:
            ValueError: a period is empty or negative, or the validation days do not fit.
        """
        for name, value, least in (
            ("--train-days", self.train_days, 1),
            ("--validation-days", self.validation_days, 1),
            ("--test-days", self.test_days, 1),
            ("--delay-days", self.delay_days, 0),
        ):
            if value < least:
                raise ValueError(f"{name} must be at least {least}, not {value}")
        if self.folds < 1 or self.fold_days < 1:
            raise ValueError("the search needs at least one fold of at least one day (--folds, --fold-days)")
        if self.validation is ValidationPlacement.INSIDE and not self.validation_days < self.train_days:
            raise ValueError(
                f"--validation-days must be between 1 and {self.train_days - 1} (the training days - 1) when the "
                "validation is inside the training days; --validation before takes them from the days before"
            )

    def prequential_folds(self) -> tuple[Fold, ...]:
        """The search's folds, oldest first.

        Raises:
            ValueError: impossible periods (`check`), or a training period that cannot hold the folds
                after the delay and `min_fit_days` (validation inside).
        """
        self.check()
        if self.validation is ValidationPlacement.BEFORE:
            return tuple(
                Fold(
                    index=i,
                    fit_start=start - timedelta(days=self.delay_days + self.train_days),
                    fit_end=start - timedelta(days=self.delay_days),
                    validation_start=start,
                    validation_end=start + timedelta(days=self.fold_days),
                )
                for i, start in (
                    (i, self.train_start - timedelta(days=(self.folds - i) * self.fold_days)) for i in range(self.folds)
                )
            )
        train_end = self.periods()["train_end"]
        folds = []
        for i in range(self.folds):
            start = train_end - timedelta(days=(self.folds - i) * self.fold_days)
            folds.append(
                Fold(
                    index=i,
                    fit_start=self.train_start,
                    fit_end=start - timedelta(days=self.delay_days),
                    validation_start=start,
                    validation_end=start + timedelta(days=self.fold_days),
                )
            )
        first_fit_days = (folds[0].fit_end - self.train_start).days
        if first_fit_days < self.min_fit_days:
            need = self.min_fit_days + self.delay_days + self.folds * self.fold_days
            raise ValueError(
                f"{self.train_days} training days cannot hold {self.folds} folds of {self.fold_days} days after a "
                f"{self.delay_days}-day label delay and {self.min_fit_days} days of fitting: give at least {need} "
                "training days, fewer/shorter folds, or --validation before (folds from the days before the window)"
            )
        return tuple(folds)


@dataclass(frozen=True)
class CandidateScore:
    """One searched candidate and its average precision on each fold (at its early-stopped iteration)."""

    params: dict[str, Any]
    fold_average_precision: tuple[float, ...]
    fold_best_iteration: tuple[int, ...]

    @property
    def mean_average_precision(self) -> float:
        return float(np.mean(self.fold_average_precision))

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "fold_average_precision": list(self.fold_average_precision),
            "fold_best_iteration": list(self.fold_best_iteration),
            "mean_average_precision": self.mean_average_precision,
        }


@dataclass(frozen=True)
class SearchResult:
    """The prequential search: its folds, every candidate's per-fold scores, and the winner."""

    folds: tuple[Fold, ...]
    candidates: tuple[CandidateScore, ...]
    fold_rows: tuple[tuple[int, int], ...]
    space: dict[str, tuple[float, ...]] | None = None  # what the candidates were drawn from (None: given)

    @property
    def best(self) -> CandidateScore:
        # The first of equal means wins: the grid's order is the tie-break, deterministically.
        return max(self.candidates, key=lambda c: c.mean_average_precision)

    def to_dict(self) -> dict[str, Any]:
        drawn = f"random search, {len(self.candidates)} candidates" if self.space else "given candidates"
        return {
            "method": f"{drawn}; prequential folds (label-delay gap), mean average precision over folds; "
            "rounds by early stopping",
            "space": {name: list(values) for name, values in self.space.items()} if self.space else None,
            "folds": [
                f.to_dict() | {"fit_rows": rows[0], "validation_rows": rows[1]}
                for f, rows in zip(self.folds, self.fold_rows, strict=True)
            ],
            "candidates": [c.to_dict() for c in self.candidates],
            "chosen": self.best.to_dict(),
        }


@dataclass
class PreparedData:
    """The feature matrix of a history and the masks of its periods.

    `validation_fit` is the validation model's fit when the validation days lie before the training
    window; None when they lie inside it (the final model is then the validation model)."""

    transactions: pd.DataFrame
    X: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    day: npt.NDArray[np.datetime64]
    fit: npt.NDArray[np.bool_]
    validation: npt.NDArray[np.bool_]
    test: npt.NDArray[np.bool_]
    periods: dict[str, date]
    validation_fit: npt.NDArray[np.bool_] | None = None


@dataclass
class TrainingResult:
    """The trained booster and what was measured."""

    booster: xgb.Booster
    threshold: float
    metrics: dict[str, float]
    params: dict[str, Any]
    periods: dict[str, date]
    test_scores: np.ndarray
    test_labels: np.ndarray
    search: SearchResult | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    spec: FeatureSpec = FEATURE_SPEC  # the features it was trained on, with the run's label delay
    # The training rows' distribution of every feature and of the score (`training_reference`).
    reference: dict[str, Any] = field(default_factory=dict)

    def card(self, model_version: str) -> ModelCard:
        from ml_model.artifact import ModelCard

        extra = dict(self.extra)
        if self.search is not None:
            extra["search"] = self.search.to_dict()
        return ModelCard(
            model_version=model_version,
            feature_spec_hash=self.spec.hash,
            threshold=self.threshold,
            metrics=self.metrics,
            data_ranges={k: v.isoformat() for k, v in self.periods.items()},
            params=self.params,
            extra=extra,
            reference=self.reference,
        )


def _mask(day: npt.NDArray[np.datetime64], start: date, end: date) -> npt.NDArray[np.bool_]:
    return np.asarray((day >= np.datetime64(start, "D")) & (day < np.datetime64(end, "D")))


def event_days(event_time: pd.Series) -> npt.NDArray[np.datetime64]:
    """The UTC day of each event time, as numpy `datetime64[D]`."""
    naive = pd.to_datetime(event_time, utc=True).dt.tz_convert(None)
    return np.asarray(naive.to_numpy(dtype="datetime64[us]").astype("datetime64[D]"))


def prepare(transactions: pd.DataFrame, config: TrainingConfig) -> PreparedData:
    """Features over the whole history, and the periods' masks.

    Raises:
        ValueError: impossible periods, the data does not reach back to the validation's training
            window, or a period holds no transactions or no fraud.
    """
    config.check()
    day = event_days(transactions["event_time"])
    p = config.periods()
    spans = config.spans()
    before = config.validation is ValidationPlacement.BEFORE
    if before and len(day):
        first, earliest = date.fromisoformat(str(day.min())), config.train_start - timedelta(days=config.lead_days())
        if first > earliest:
            raise ValueError(
                f"--validation before needs {config.lead_days()} days of data before the first training day "
                f"{config.train_start} (from {earliest}), and the data starts on {first}: give a later --train-start, "
                "more data, or fewer validation/fold days"
            )
    fit = _mask(day, *spans["fit"])
    validation = _mask(day, *spans["validation"])
    validation_fit = _mask(day, *spans["validation_fit"]) if before else None
    test = _mask(day, p["test_start"], p["test_end"])
    y = transactions["is_fraud"].to_numpy(dtype=np.float64)
    periods = [
        ("training", fit, *spans["fit"]),
        ("validation", validation, *spans["validation"]),
        ("test", test, p["test_start"], p["test_end"]),
    ]
    if validation_fit is not None:
        periods.insert(0, ("validation model's training", validation_fit, *spans["validation_fit"]))
    for name, mask, start, end in periods:  # checked before the features: a mistake fails at once
        if not mask.any():
            raise ValueError(
                f"the {name} period ({_span(start, end)}) has no transactions: {_days_needed(day, config)}"
            )
        if not y[mask].any():
            raise ValueError(
                f"the {name} period ({_span(start, end)}) has {int(mask.sum()):,} transactions but no fraud: "
                "give more data, or longer periods (--train-days, --validation-days, --test-days)"
            )
    features = compute_features(transactions, label_delay_days=config.label_delay_days)
    return PreparedData(
        transactions=transactions,
        X=features.to_numpy(dtype=np.float64),
        y=y,
        day=day,
        fit=fit,
        validation=validation,
        test=test,
        periods=p,
        validation_fit=validation_fit,
    )


def _span(start: date, end: date) -> str:
    return f"{start.isoformat()} to {(end - timedelta(days=1)).isoformat()}"


def _days_needed(day: npt.NDArray[np.datetime64], config: TrainingConfig) -> str:
    """How many days of data the periods need, and which options set each part of them."""
    first = date.fromisoformat(str(day.min())) if len(day) else config.train_start
    last = date.fromisoformat(str(day.max())) if len(day) else config.train_start
    lead = max((config.train_start - first).days, config.lead_days(), 0)
    need = lead + config.train_days + config.delay_days + config.test_days
    return (
        f"the data has {(last - first).days + 1 if len(day) else 0} days ({_span(first, last + timedelta(days=1))}) "
        f"and these periods need {need}: {lead} before the first training day {config.train_start} (--train-start"
        f"{', and the validation before it' if config.lead_days() else ''}) "
        f"+ {config.train_days} --train-days + {config.delay_days} --delay-days + {config.test_days} --test-days; "
        "give more days of data (--generate, --data) or shorter periods"
    )


def training_params(
    candidate: dict[str, Any], y_fit: npt.NDArray[np.float64], config: TrainingConfig
) -> dict[str, Any]:
    """Every XGBoost parameter of a fit: the base, the candidate, the training prior as base score, the seed."""
    return {**config.base_params, **candidate, "base_score": float(np.mean(y_fit)), "seed": config.seed}


def _fit(
    params: dict[str, Any],
    X: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    fit: npt.NDArray[np.bool_],
    validation: npt.NDArray[np.bool_],
    *,
    rounds: int,
    patience: int,
) -> xgb.Booster:
    # QuantileDMatrix builds the hist method's bins directly: a quarter faster per round than DMatrix.
    d_fit = xgb.QuantileDMatrix(X[fit], y[fit], feature_names=FEATURE_NAMES, max_bin=params.get("max_bin", 256))
    d_val = xgb.DMatrix(X[validation], y[validation], feature_names=FEATURE_NAMES)
    return xgb.train(
        params, d_fit, rounds, evals=[(d_val, "validation")], early_stopping_rounds=patience, verbose_eval=False
    )


def _predict(booster: xgb.Booster, X: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """Scores at the best iteration, on raw values (as the artifact will predict)."""
    return booster.predict(xgb.DMatrix(X, feature_names=FEATURE_NAMES), iteration_range=(0, booster.best_iteration + 1))


def prequential_search(
    X: npt.NDArray[np.float64], y: npt.NDArray[np.float64], day: npt.NDArray[np.datetime64], config: TrainingConfig
) -> SearchResult:
    """Score every candidate of `config.candidates()` on the prequential folds.

    Args:
        X: the feature matrix, FEATURE_SPEC order.
        y: the labels.
        day: the UTC day of each row.
        config: the folds, the grid, the rounds.

    Raises:
        ValueError: the folds do not fit the training period, or a fold has no fraud to learn or rank.
    """
    folds = config.prequential_folds()
    masks = [(_mask(day, f.fit_start, f.fit_end), _mask(day, f.validation_start, f.validation_end)) for f in folds]
    for f, (fit, validation) in zip(folds, masks, strict=True):
        if not y[fit].any() or not y[validation].any():
            raise ValueError(
                f"search fold {f.index + 1} (validation {f.validation_start}..{f.validation_end}) has no fraud in its "
                "training or validation days: check the dates against the data"
            )
    search = config.candidates()
    scores: dict[int, tuple[list[float], list[int]]] = {i: ([], []) for i in range(len(search))}
    for f, (fit, validation) in zip(folds, masks, strict=True):
        for i, candidate in enumerate(search):
            booster = _fit(
                training_params(candidate, y[fit], config),
                X,
                y,
                fit,
                validation,
                rounds=config.max_rounds,
                patience=config.fold_early_stopping_rounds,
            )
            ap = float(average_precision_score(y[validation], _predict(booster, X[validation])))
            scores[i][0].append(ap)
            scores[i][1].append(int(booster.best_iteration))
            logger.info(
                "search fold trained",
                extra={"fold": f.index, "params": candidate, "average_precision": ap, "rounds": booster.best_iteration},
            )
    candidates = tuple(CandidateScore(dict(c), tuple(scores[i][0]), tuple(scores[i][1])) for i, c in enumerate(search))
    if not candidates:
        raise ValueError("TrainingConfig.search is empty")
    fold_rows = tuple((int(fit.sum()), int(validation.sum())) for fit, validation in masks)
    space = dict(SEARCH_SPACE) if config.search is None else None
    return SearchResult(folds=folds, candidates=candidates, fold_rows=fold_rows, space=space)


def fit_final(
    data: PreparedData, params: dict[str, Any], config: TrainingConfig, *, rounds: int | None = None
) -> xgb.Booster:
    """The deployed model, trained on the fit part.

    Args:
        data: the prepared history.
        params: the fit's parameters (`training_params`).
        config: the rounds and patience.
        rounds: None: early stopping on the validation period (validation inside the training
            days). A number: exactly that many rounds, no early stopping (the validation days lie
            before the training window, where the validation model chose the rounds).
    """
    if rounds is None:
        return _fit(
            params,
            data.X,
            data.y,
            data.fit,
            data.validation,
            rounds=config.max_rounds,
            patience=config.early_stopping_rounds,
        )
    d_fit = xgb.QuantileDMatrix(
        data.X[data.fit], data.y[data.fit], feature_names=FEATURE_NAMES, max_bin=params.get("max_bin", 256)
    )
    booster = xgb.train(params, d_fit, rounds, verbose_eval=False)
    booster.set_attr(best_iteration=str(rounds - 1))  # every tree counts: the artifact keeps them all
    return booster


def fit_validation_model(data: PreparedData, params: dict[str, Any], config: TrainingConfig) -> xgb.Booster:
    """With the validation days before the training window: `params` trained on the validation
    model's own window (as long as the training window, ending a label delay before the validation
    days), early stopping on the validation days. Its rounds and its validation scores stand for the
    final model's.

    Raises:
        ValueError: the validation days lie inside the training days (the final model validates itself).
    """
    if data.validation_fit is None:
        raise ValueError("no validation model: the validation days lie inside the training days")
    return _fit(
        params,
        data.X,
        data.y,
        data.validation_fit,
        data.validation,
        rounds=config.max_rounds,
        patience=config.early_stopping_rounds,
    )


def evaluate(
    booster: xgb.Booster, data: PreparedData, *, validator: xgb.Booster | None = None
) -> tuple[float, dict[str, float], npt.NDArray[np.float32]]:
    """The threshold chosen on validation, then the test period's metrics at it.

    Args:
        booster: the deployed model, with `best_iteration`.
        data: the prepared history.
        validator: the model whose validation scores choose the threshold, when it is not
            `booster` (validation days before the training window: `fit_validation_model`).

    Returns:
        The threshold, the test metrics and the test scores.
    """
    scorer = booster if validator is None else validator
    threshold = choose_threshold(data.y[data.validation], _predict(scorer, data.X[data.validation]))
    test_scores = _predict(booster, data.X[data.test])
    metrics = classification_metrics(data.y[data.test], test_scores, threshold)
    metrics["card_precision_at_100"] = card_precision_at_k(data.transactions[data.test], test_scores)
    return threshold, metrics, test_scores


def train(transactions: pd.DataFrame, config: TrainingConfig) -> TrainingResult:
    """Features over the whole history, then the prequential search, the final fit, threshold and test.

    Args:
        transactions: batch-input rows with `is_fraud`.
        config: periods and choices.

    Raises:
        ValueError: a period or fold holds no transactions or no fraud, or the folds do not fit.
    """
    config.prequential_folds()  # fail on impossible periods before computing any feature
    data = prepare(transactions, config)
    search = prequential_search(data.X, data.y, data.day, config)
    params = training_params(search.best.params, data.y[data.fit], config)
    if data.validation_fit is None:
        booster = validator = fit_final(data, params, config)
    else:
        validator = fit_validation_model(
            data, training_params(search.best.params, data.y[data.validation_fit], config), config
        )
        booster = fit_final(data, params, config, rounds=validator.best_iteration + 1)
    threshold, metrics, test_scores = evaluate(booster, data, validator=validator)
    metrics["validation_aucpr"] = float(validator.best_score)
    metrics["search_mean_average_precision"] = search.best.mean_average_precision
    logger.info("final model trained", extra={"params": search.best.params, "rounds": booster.best_iteration})
    extra = {"validation": config.validation.value, "rounds": booster.best_iteration + 1}
    # What drift is measured against: the final model's training rows, their features and scores.
    reference = training_reference(data.X[data.fit], config.spec.names, _predict(booster, data.X[data.fit]))
    return TrainingResult(
        booster,
        threshold,
        metrics,
        params,
        data.periods,
        test_scores,
        data.y[data.test],
        search,
        extra=extra,
        spec=config.spec,
        reference=reference,
    )
