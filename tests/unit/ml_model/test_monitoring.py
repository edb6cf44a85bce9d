"""Monitoring: the population stability index against a training reference, and the per-day figures."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ml_model.artifact import ModelCard
from ml_model.monitor_job import metric_data
from ml_model.monitoring import (
    SCORE,
    Thresholds,
    daily_metrics,
    drift_psi,
    findings,
    labels_known_through,
    psi,
    reference_bins,
    training_reference,
)


def test_psi_of_the_same_distribution_is_about_zero_and_of_a_shifted_one_above_0_2() -> None:
    # GIVEN the reference of a normal sample
    rng = np.random.default_rng(0)
    reference = reference_bins(rng.normal(0.0, 1.0, 50_000))
    assert len(reference["edges"]) == 9 and reference["missing_share"] == 0.0
    # WHEN another sample of the same distribution, and one shifted by half a standard deviation, are compared
    same = psi(rng.normal(0.0, 1.0, 20_000), reference)
    shifted = psi(rng.normal(0.5, 1.0, 20_000), reference)
    # THEN the first is about zero and the second a significant shift
    assert 0.0 <= same < 0.01
    assert shifted > 0.2


def test_psi_counts_missing_values_and_survives_empty_bins() -> None:
    # GIVEN a reference without missing values
    reference = reference_bins(np.arange(1000, dtype=float))
    # WHEN half the values go missing, or all fall in one bin (the others empty)
    missing = psi(np.r_[np.arange(0, 1000, 2, dtype=float), np.full(500, np.nan)], reference)
    one_bin = psi(np.zeros(100), reference)
    # THEN both are large and finite (empty bins are floored at 1e-4)
    assert 0.2 < missing < np.inf
    assert 0.2 < one_bin < np.inf
    # ... and a column with few distinct values gets deduplicated edges
    assert reference_bins(np.r_[np.zeros(900), np.ones(100)])["edges"] == [0.0, 1.0]


def _card(precision: float = 0.8) -> ModelCard:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5000, 2))
    reference = training_reference(X, ["f1", "f2"], rng.uniform(size=5000))
    return ModelCard("m1", "h", threshold=0.5, metrics={"precision": precision}, reference=reference)


def _day(dt: str, n: int, *, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "dt": dt,
            "transaction_id": [f"{dt}-{i}" for i in range(n)],
            "card_id": [f"card-{i}" for i in range(n)],
            "event_time": pd.Timestamp(dt, tz="UTC") + pd.to_timedelta(np.arange(n), unit="s"),
            "score": rng.uniform(size=n),
            "is_alert": False,
            "scored_by": "endpoint:fraud",
            "f1": rng.normal(shift, 1.0, n),
            "f2": rng.normal(0.0, 1.0, n),
        }
    )


def test_daily_figures_on_a_small_frame_with_known_precision_recall_and_precision_at_100() -> None:
    # GIVEN two days of 200 rows; on the first, rows 0-9 alert, rows 0-5 and 100-103 are fraud, the
    # 100 highest scores (rows 0-99) hold 6 frauds; the second day drifts in f1, has 2 fallback rows
    # and no labels yet
    first = _day("2026-03-01", 200, seed=1)
    first["score"] = np.linspace(1.0, 0.0, 200)
    first.loc[:9, "is_alert"] = True
    second = _day("2026-03-02", 200, shift=1.5, seed=2)
    second.loc[:1, "scored_by"] = "fallback"
    second.loc[:79, "is_alert"] = True
    frauds = {f"2026-03-01-{i}" for i in (*range(6), 100, 101, 102, 103)}
    card = _card()
    # WHEN the days are computed with labels known through the first day
    daily = daily_metrics(pd.concat([first, second]), card, fraud_ids=frauds, labels_through=date(2026, 3, 1))
    # THEN the first day has its realised figures, the second none
    one, two = daily.to_dict("records")
    assert one["rows"] == 200 and one["alert_rate"] == pytest.approx(0.05)
    assert one["labels_known"] and one["frauds"] == 10
    assert one["precision"] == pytest.approx(6 / 10)
    assert one["recall"] == pytest.approx(6 / 10)
    assert one["card_precision_at_100"] == pytest.approx(6 / 100)
    assert one["score_p50"] == pytest.approx(0.5)
    assert not two["labels_known"] and np.isnan(two["precision"]) and np.isnan(two["card_precision_at_100"])
    assert two["fallback_share"] == pytest.approx(0.01) and one["fallback_share"] == 0.0
    # ... f1 drifted on the second day only
    assert one["psi__f1"] < 0.2 < two["psi__f1"]
    assert two["psi__f2"] < 0.2
    # ... and the findings name the drift, the alert-rate jump (8x) and the precision below the card's
    lines = [f.line() for f in findings(daily, card, Thresholds())]
    assert any(line.startswith("2026-03-02 drift: f1 PSI") for line in lines)
    assert any(line.startswith("2026-03-02 alert-rate: alert rate 0.4000 is 8.00x") for line in lines)
    assert any(line.startswith("2026-03-01 precision: realised precision 0.600") for line in lines)
    assert not any("f2" in line for line in lines)
    # ... with thresholds as options
    assert not findings(daily, card, Thresholds(psi=100, alert_rate_ratio=100, precision_drop=1))


def test_a_weekday_is_no_drift_and_a_recall_below_the_cards_is_a_finding() -> None:
    # GIVEN a card whose training rows mixed weekdays and weekend days (2 in 7), with its test recall
    rng = np.random.default_rng(3)
    weekend = (np.arange(7000) % 7 >= 5).astype(float)
    reference = training_reference(np.c_[weekend, rng.normal(size=7000)], ["is_weekend", "f1"], rng.uniform(size=7000))
    card = ModelCard("m1", "h", threshold=0.5, metrics={"precision": 0.5, "recall": 0.9}, reference=reference)
    # ... and a Monday whose 10 frauds are 4 alerts among 8 (precision 0.5, recall 0.4)
    day = _day("2026-03-02", 300, seed=4).assign(is_weekend=0.0)
    day.loc[:7, "is_alert"] = True
    frauds = {f"2026-03-02-{i}" for i in (*range(4), *range(100, 106))}
    # WHEN the day is computed and its findings drawn
    daily = daily_metrics(day, card, fraud_ids=frauds, labels_through=date(2026, 3, 2))
    lines = [f.line() for f in findings(daily, card, Thresholds())]
    # THEN the weekday's is_weekend PSI is stored, high, and no finding; f1 did not drift
    row = daily.to_dict("records")[0]
    assert row["psi__is_weekend"] > 2.0
    assert set(drift_psi(row)) == {"f1"}
    assert not any(line.startswith("2026-03-02 drift") for line in lines)
    # ... and the recall below the card's by more than 0.1 is one, the precision (as the card's) none
    assert row["recall"] == pytest.approx(0.4)
    assert lines == ["2026-03-02 recall: realised recall 0.400 < the card's 0.900 - 0.1"]
    assert not findings(daily, card, Thresholds(recall_drop=0.6))
    # ... and the monitoring job's maximum feature PSI leaves is_weekend out too
    none_before = pd.DataFrame(columns=["dt", "alert_rate", "model_version"])
    data = metric_data(daily, card, new_days=["2026-03-02"], history=none_before, timestamp=datetime.now(UTC))
    published = {d["MetricName"]: d["Value"] for d in data}
    assert published["MaxFeaturePSI"] == pytest.approx(row["psi__f1"])


def test_a_card_without_a_reference_is_refused() -> None:
    card = ModelCard("old", "h", threshold=0.5)
    with pytest.raises(ValueError, match="no training reference"):
        daily_metrics(_day("2026-03-01", 10), card)


def test_labels_are_known_for_the_days_a_label_delay_before_the_newest_label() -> None:
    assert labels_known_through(pd.Timestamp("2026-03-10T12:00Z"), 3.0) == date(2026, 3, 6)
    assert labels_known_through(pd.Timestamp("2026-03-10T00:00Z"), 3.0) == date(2026, 3, 6)
    assert labels_known_through(None, 3.0) is None


def test_the_reference_has_every_named_column_and_the_score() -> None:
    reference = training_reference(np.zeros((10, 2)), ["a", "b"], np.linspace(0, 1, 10))
    assert set(reference["features"]) == {"a", "b"} and SCORE in reference


def test_a_monitoring_file_has_the_same_schema_whether_labels_are_known_or_not(tmp_path: Any) -> None:
    import pyarrow.parquet as pq
    from pyarrow import fs

    from ml_model.monitor_cli import write_daily

    first, second = _day("2026-03-01", 50, seed=1), _day("2026-03-02", 50, seed=2)
    daily = daily_metrics(pd.concat([first, second]), _card(), fraud_ids=set(), labels_through=date(2026, 3, 1))
    for dt in ("2026-03-01", "2026-03-02"):  # S3 has no folders to create; a local disk does
        (tmp_path / f"monitoring/dt={dt}").mkdir(parents=True)
    write_daily(daily, str(tmp_path), fs.LocalFileSystem(), model_version="m1")
    schemas = [pq.read_schema(p) for p in sorted(tmp_path.glob("monitoring/dt=*/monitoring.parquet"))]
    assert len(schemas) == 2 and schemas[0] == schemas[1]
    assert str(schemas[0].field("frauds").type) == "int64"
    assert pq.read_table(tmp_path / "monitoring/dt=2026-03-02/monitoring.parquet").column("frauds").to_pylist() == [
        None
    ]
