"""Training the way fraud teams validate: time-ordered periods, a label-delay gap before testing,
early stopping and the alert threshold on a validation period that precedes the test period."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xgboost as xgb

from ml_model.evaluation import card_precision_at_k, choose_threshold, classification_metrics
from ml_model.features import FEATURE_SPEC, compute_features

if TYPE_CHECKING:
    from ml_model.artifact import ModelCard

__all__ = ["TrainingConfig", "TrainingResult", "train"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingConfig:
    """Periods and choices of one training run.

    The periods, in order: [train_start, +train_days) of which the last `validation_days` validate
    (early stopping and the threshold); a gap of `delay_days` (labels of the last training days are
    not known yet when the model would be deployed); then `test_days` of test.
    """

    train_start: date
    train_days: int = 42
    validation_days: int = 14
    delay_days: int = 7
    test_days: int = 21
    label_delay_days: float = 7.0
    seed: int = 0
    max_rounds: int = 600
    search: tuple[dict[str, Any], ...] = (
        {"max_depth": 6, "eta": 0.1},
        {"max_depth": 4, "eta": 0.1},
    )
    base_params: dict[str, Any] = field(
        default_factory=lambda: {
            "objective": "binary:logistic",
            "eval_metric": "aucpr",
            "tree_method": "hist",
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "min_child_weight": 1,
            # A fixed thread count keeps the hist method's results identical from run to run.
            "nthread": 2,
        }
    )

    def periods(self) -> dict[str, date]:
        train_end = self.train_start + timedelta(days=self.train_days)
        test_start = train_end + timedelta(days=self.delay_days)
        return {
            "train_start": self.train_start,
            "validation_start": train_end - timedelta(days=self.validation_days),
            "train_end": train_end,
            "test_start": test_start,
            "test_end": test_start + timedelta(days=self.test_days),
        }


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

    def card(self, model_version: str) -> ModelCard:
        from ml_model.artifact import ModelCard

        return ModelCard(
            model_version=model_version,
            feature_spec_hash=FEATURE_SPEC.hash,
            threshold=self.threshold,
            metrics=self.metrics,
            data_ranges={k: v.isoformat() for k, v in self.periods.items()},
            params=self.params,
        )


def train(transactions: pd.DataFrame, config: TrainingConfig) -> TrainingResult:
    """Features over the whole history, then a time-ordered fit, search, threshold and test.

    Args:
        transactions: batch-input rows with `is_fraud`.
        config: periods and choices.

    Raises:
        ValueError: a period holds no transactions or no fraud.
    """
    features = compute_features(transactions, label_delay_days=config.label_delay_days)
    day = pd.to_datetime(transactions["event_time"], utc=True).dt.date
    p = config.periods()

    def period(start: date, end: date) -> np.ndarray:
        return np.asarray((day >= start) & (day < end))

    fit, validation = period(p["train_start"], p["validation_start"]), period(p["validation_start"], p["train_end"])
    test = period(p["test_start"], p["test_end"])
    y = transactions["is_fraud"].to_numpy(dtype=np.float64)
    for name, mask in (("training", fit), ("validation", validation), ("test", test)):
        if not mask.any() or not y[mask].any():
            raise ValueError(f"the {name} period has no transactions or no fraud: check the dates against the data")
    X = features.to_numpy(dtype=np.float64)
    d_fit = xgb.DMatrix(X[fit], y[fit], feature_names=list(FEATURE_SPEC.names))
    d_val = xgb.DMatrix(X[validation], y[validation], feature_names=list(FEATURE_SPEC.names))
    negatives, positives = float((y[fit] == 0).sum()), float(y[fit].sum())
    # Class imbalance: the searched weights, from none to the square root of the class ratio.
    weights = (1.0, float(np.sqrt(negatives / positives)))
    best: tuple[float, xgb.Booster, dict[str, Any]] | None = None
    for candidate in config.search:
        for weight in weights:
            params = {
                **config.base_params,
                **candidate,
                "scale_pos_weight": weight,
                "base_score": positives / (positives + negatives),
                "seed": config.seed,
            }
            booster = xgb.train(
                params,
                d_fit,
                config.max_rounds,
                evals=[(d_val, "validation")],
                early_stopping_rounds=40,
                verbose_eval=False,
            )
            score = float(booster.best_score)
            logger.info(
                "candidate trained", extra={"params": candidate, "scale_pos_weight": weight, "validation_aucpr": score}
            )
            if best is None or score > best[0]:
                best = (score, booster, params)
    if best is None:
        raise ValueError("TrainingConfig.search is empty")
    _, booster, params = best
    rounds = (0, booster.best_iteration + 1)
    threshold = choose_threshold(y[validation], booster.predict(d_val, iteration_range=rounds))
    test_scores = booster.predict(xgb.DMatrix(X[test], feature_names=list(FEATURE_SPEC.names)), iteration_range=rounds)
    metrics = classification_metrics(y[test], test_scores, threshold)
    metrics["card_precision_at_100"] = card_precision_at_k(transactions[test], test_scores)
    metrics["validation_aucpr"] = best[0]
    return TrainingResult(booster, threshold, metrics, params, p, test_scores, y[test])
