"""Metric functions against worked examples."""

from __future__ import annotations

import pandas as pd
import pytest

from ml_model.evaluation import card_precision_at_k, choose_threshold, classification_metrics


def test_classification_metrics_at_a_threshold() -> None:
    y = [1, 1, 0, 0, 1, 0]
    scores = [0.9, 0.6, 0.7, 0.1, 0.2, 0.05]
    m = classification_metrics(y, scores, threshold=0.5)
    # alerts: 0.9 (fraud), 0.6 (fraud), 0.7 (genuine) -> precision 2/3, recall 2/3
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3) and m["alerts"] == 3
    assert m["auc_roc"] == pytest.approx(7 / 9)  # 7 of the 9 fraud/genuine pairs ranked right


def test_threshold_maximises_f1() -> None:
    assert choose_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.35)


def test_card_precision_at_k_per_day_max_score_per_card() -> None:
    frame = pd.DataFrame(
        {
            "event_time": pd.to_datetime(
                [
                    "2026-01-01T10:00Z",
                    "2026-01-01T11:00Z",
                    "2026-01-01T12:00Z",
                    "2026-01-02T10:00Z",
                    "2026-01-02T11:00Z",
                ]
            ),
            "card_id": ["a", "a", "b", "a", "c"],
            "is_fraud": [0, 1, 0, 0, 0],
        }
    )
    scores = [0.1, 0.3, 0.9, 0.8, 0.2]
    # day 1: card b (0.9, genuine) then a (0.3, compromised); top 1 -> 0, top 2 -> 1/2
    # day 2: card a (0.8) then c (0.2), none compromised -> 0
    assert card_precision_at_k(frame, scores, k=1) == 0.0
    assert card_precision_at_k(frame, scores, k=2) == pytest.approx((0.5 + 0.0) / 2)
