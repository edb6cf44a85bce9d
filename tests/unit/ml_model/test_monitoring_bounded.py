"""The day's figures from batches (`day_metrics`, bounded memory) equal the whole-frame computation
`daily_metrics` did before it (kept here as the oracle), on small and many batches, with the score
quantiles by numpy's own quantile and by the radix select over re-read scores."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ml_model.artifact import ModelCard
from ml_model.evaluation import card_precision_at_k
from ml_model.monitoring import QUANTILES, SCORE, day_metrics, psi, training_reference

if TYPE_CHECKING:
    from collections.abc import Sequence


def _whole_frame(transactions: pd.DataFrame, card: ModelCard, fraud_ids: set[str], through: date) -> pd.DataFrame:
    """`daily_metrics` as it was before the batches: every figure from the day's whole frame."""
    reference = card.reference
    rows: list[dict[str, Any]] = []
    for dt, day in transactions.groupby("dt", sort=True):
        scores = day["score"].to_numpy(dtype=np.float64)
        alerts = day["is_alert"].to_numpy(dtype=bool)
        row: dict[str, Any] = {
            "dt": str(dt),
            "rows": len(day),
            "alert_rate": float(alerts.mean()),
            "fallback_share": float(day["scored_by"].astype(str).eq("fallback").mean()),
            "score_mean": float(scores.mean()),
        }
        for q, value in zip(QUANTILES, np.quantile(scores, QUANTILES), strict=True):
            row[f"score_p{round(q * 100)}"] = float(value)
        row["psi_score"] = psi(scores, reference[SCORE])
        for name, ref in reference["features"].items():
            column = day[name] if name in day.columns else pd.Series(np.nan, index=day.index)
            row[f"psi__{name}"] = psi(column.to_numpy(dtype=np.float64, na_value=np.nan), ref)
        known = date.fromisoformat(str(dt)) <= through
        row["labels_known"] = known
        fraud = day["transaction_id"].isin(fraud_ids).to_numpy(dtype=bool)
        row["frauds"] = int(fraud.sum()) if known else None
        tp = int((alerts & fraud).sum())
        row["precision"] = tp / int(alerts.sum()) if known and alerts.any() else float("nan")
        row["recall"] = tp / int(fraud.sum()) if known and fraud.any() else float("nan")
        row["card_precision_at_100"] = (
            card_precision_at_k(
                pd.DataFrame({"event_time": day["event_time"], "card_id": day["card_id"], "is_fraud": fraud}),
                scores,
                100,
            )
            if known
            else float("nan")
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _lake_rows(dt: str, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f1 = rng.normal(0.3, 1.0, n)
    f1[rng.uniform(size=n) < 0.05] = np.nan  # missing values in one feature
    return pd.DataFrame(
        {
            "dt": dt,
            "transaction_id": [f"{dt}-{i}" for i in range(n)],
            "card_id": [f"card-{i % (n // 3)}" for i in range(n)],  # three rows per card
            "event_time": pd.Timestamp(dt, tz="UTC") + pd.to_timedelta(np.arange(n) * 7, unit="s"),
            # Repeated values (scores are float32 from the model) and a tail, as a model's scores are.
            "score": np.round(rng.beta(0.3, 8.0, n), 5),
            "is_alert": rng.uniform(size=n) < 0.05,
            "scored_by": np.where(rng.uniform(size=n) < 0.02, "fallback", "endpoint:fraud"),
            "f1": f1,
        }
    )


def _card() -> ModelCard:
    rng = np.random.default_rng(7)
    reference = training_reference(rng.normal(size=(4000, 2)), ["f1", "f2"], rng.beta(0.3, 8.0, 4000))
    return ModelCard("m1", "h", threshold=0.5, metrics={"precision": 0.8}, reference=reference)


@pytest.mark.parametrize(("batch_rows", "quantile_buffer"), [(10**9, 10**9), (997, 10**9), (997, 500), (64, 1)])
def test_figures_from_batches_equal_the_whole_frames(batch_rows: int, quantile_buffer: int) -> None:
    # GIVEN two days (the second without known labels), a feature the lake lacks (f2) and frauds
    frame = pd.concat([_lake_rows("2026-03-01", 6000, 1), _lake_rows("2026-03-02", 4500, 2)])
    fraud_ids = set(frame["transaction_id"][frame["score"] > 0.2][::3])
    card = _card()
    expected = _whole_frame(frame, card, fraud_ids, date(2026, 3, 1))
    ids = pa.array(sorted(fraud_ids), type=pa.string())
    # WHEN each day is read in batches of `batch_rows`, keeping at most `quantile_buffer` scores
    rows = []
    for dt, day in frame.groupby("dt", sort=True):
        reads: list[Sequence[str]] = []

        def scan(columns: Sequence[str], day: pd.DataFrame = day, reads: list[Sequence[str]] = reads) -> Any:
            reads.append(columns)
            present = [c for c in columns if c in day.columns]
            for start in range(0, len(day), batch_rows):
                yield pa.RecordBatch.from_pandas(day[present].iloc[start : start + batch_rows], preserve_index=False)

        known = str(dt) == "2026-03-01"
        row = day_metrics(str(dt), scan, card, fraud_ids=ids, labels_known=known, quantile_buffer=quantile_buffer)
        assert row is not None
        rows.append(row)
        # ... a day above the buffer reads its scores again, and only its scores
        assert len(reads) == 1 if quantile_buffer >= len(day) else len(reads) >= 2
        assert all(list(columns) == ["score"] for columns in reads[1:])
    found = pd.DataFrame(rows)
    # THEN every figure is the same (the mean's sum of batch sums, on several batches, within an ulp or two)
    assert list(found.columns) == list(expected.columns)
    exact = [c for c in expected.columns if c != "score_mean"]
    pd.testing.assert_frame_equal(found[exact], expected[exact], check_exact=True, check_dtype=False)
    np.testing.assert_allclose(found["score_mean"], expected["score_mean"], rtol=1e-14)
    if batch_rows >= len(frame):
        assert found["score_mean"].tolist() == expected["score_mean"].tolist()
    # ... and the day's realised figures were really computed (not NaN on both sides)
    assert 0 < found["precision"].iloc[0] < 1 and 0 < found["card_precision_at_100"].iloc[0] <= 1


def test_the_radix_select_finds_values_held_by_many_rows_and_negative_ones() -> None:
    # GIVEN a day whose scores are mostly one value, with negatives and a signed zero among the rest
    rng = np.random.default_rng(3)
    scores = np.r_[np.full(5000, 0.125), -rng.uniform(size=300), [-0.0, 0.0], rng.uniform(size=700)]
    rng.shuffle(scores)
    n = len(scores)
    day = pd.DataFrame(
        {
            "transaction_id": [str(i) for i in range(n)],
            "card_id": "c",
            "event_time": pd.Timestamp("2026-03-01", tz="UTC"),
            "score": scores,
            "is_alert": False,
            "scored_by": "endpoint:x",
        }
    )

    def scan(columns: Sequence[str]) -> Any:
        present = [c for c in columns if c in day.columns]
        for start in range(0, n, 500):
            yield pa.RecordBatch.from_pandas(day[present].iloc[start : start + 500], preserve_index=False)

    # WHEN the quantiles are selected with a buffer of one value (every pass down to the whole key)
    row = day_metrics(
        "2026-03-01", scan, _card(), fraud_ids=pa.array([], pa.string()), labels_known=False, quantile_buffer=1
    )
    # THEN they are numpy's
    assert row is not None
    assert [row[f"score_p{round(q * 100)}"] for q in QUANTILES] == [float(v) for v in np.quantile(scores, QUANTILES)]
