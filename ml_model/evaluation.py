"""Metrics as fraud teams read them: ranking quality (AUC ROC, average precision), the alerting
trade-off at the chosen threshold, and Card Precision@100."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

__all__ = ["card_precision_at_k", "choose_threshold", "classification_metrics"]

CARDS_PER_DAY: Final = 100


def choose_threshold(y_true: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """The score threshold that maximises F1 (to be chosen on validation data, never on test)."""
    precision, recall, thresholds = precision_recall_curve(np.asarray(y_true), np.asarray(scores))
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thresholds[int(np.argmax(f1))])


def classification_metrics(y_true: npt.ArrayLike, scores: npt.ArrayLike, threshold: float) -> dict[str, float]:
    """AUC ROC, average precision, and precision, recall and F1 of `score >= threshold`."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    alert = s >= threshold
    tp = float((alert & y).sum())
    precision = tp / max(float(alert.sum()), 1.0)
    recall = tp / max(float(y.sum()), 1.0)
    return {
        "auc_roc": float(roc_auc_score(y, s)),
        "average_precision": float(average_precision_score(y, s)),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / max(precision + recall, 1e-12),
        "threshold": threshold,
        "alerts": float(alert.sum()),
        "frauds": float(y.sum()),
    }


def card_precision_at_k(frame: pd.DataFrame, scores: npt.ArrayLike, k: int = CARDS_PER_DAY) -> float:
    """Card Precision@k: per day, each card's highest score; of the k highest cards, the share with
    a fraud that day; averaged over days.

    Args:
        frame: the transactions, with `event_time`, `card_id` and `is_fraud`.
        scores: one score per row of `frame`.
        k: cards a fraud team can check per day.
    """
    day = pd.to_datetime(frame["event_time"], utc=True).dt.floor("D")
    per_card = pd.DataFrame(
        {"day": day, "card_id": frame["card_id"], "score": np.asarray(scores), "fraud": frame["is_fraud"]}
    )
    cards = per_card.groupby(["day", "card_id"]).agg(score=("score", "max"), fraud=("fraud", "max")).reset_index()
    daily = cards.sort_values("score", ascending=False).groupby("day").head(k).groupby("day")["fraud"].mean()
    return float(daily.mean()) if len(daily) else 0.0
