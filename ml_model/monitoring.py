"""Model monitoring: the training reference a model card records, the population stability index
(PSI) against it, and the per-day figures of `fraudstream monitor`.

The reference (`training_reference`, computed in training on the final model's training rows) holds
for every feature and for the score: quantile bin edges (`REFERENCE_BINS` quantiles of the non-missing
values, each an observed value (numpy's "higher" method), deduplicated, so a feature with few distinct
values gets fewer bins), the share of the
non-missing rows in each bin, and the share of missing values. A value `x` falls in bin
`searchsorted(edges, x, side="right")`: bin 0 is `x < edges[0]`, bin i is `edges[i-1] <= x < edges[i]`,
the last bin is `x >= edges[-1]`; a value outside the training range falls in the first or last bin.

PSI of a day against the reference, over the same bins plus a "missing" bin (taken into account when
either side has missing values), with `e_i` the reference's share and `a_i` the day's share of all rows:

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

An empty bin on either side would make the logarithm infinite: shares are floored at `PSI_EPSILON`
(1e-4) before the sum, without renormalising. Conventional reading: < 0.1 stable, 0.1-0.2 moderate
shift, > 0.2 a significant shift (the default threshold of `fraudstream monitor`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ml_model.artifact import ModelCard

__all__ = [
    "MONITORING_PREFIX",
    "PSI_EPSILON",
    "REFERENCE_BINS",
    "SCORE",
    "Finding",
    "Thresholds",
    "bin_shares",
    "daily_metrics",
    "findings",
    "labels_known_through",
    "psi",
    "reference_bins",
    "training_reference",
]

REFERENCE_BINS: Final = 10
PSI_EPSILON: Final = 1e-4
SCORE: Final = "score"
# The monitoring table of the lake: one Parquet file per monitored day, `monitoring/dt=YYYY-MM-DD/`.
MONITORING_PREFIX: Final = "monitoring/"
QUANTILES: Final = (0.5, 0.9, 0.99)


def reference_bins(values: npt.ArrayLike, bins: int = REFERENCE_BINS) -> dict[str, Any]:
    """The reference distribution of one column: quantile edges, the share per bin, the missing share.

    Returns:
        `{"edges": [...], "shares": [...] (len(edges) + 1, of the non-missing rows), "missing_share",
        "rows"}`.
    """
    v = np.asarray(values, dtype=np.float64)
    present = v[~np.isnan(v)]
    edges = (
        np.unique(np.quantile(present, np.linspace(0.0, 1.0, bins + 1)[1:-1], method="higher"))
        if len(present)
        else np.array([])
    )
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    shares = counts / len(present) if len(present) else np.zeros(len(edges) + 1)
    return {
        "edges": [float(e) for e in edges],
        "shares": [float(s) for s in shares],
        "missing_share": float(1.0 - len(present) / len(v)) if len(v) else 0.0,
        "rows": int(len(v)),
    }


def training_reference(
    X: npt.ArrayLike, names: Sequence[str], scores: npt.ArrayLike, bins: int = REFERENCE_BINS
) -> dict[str, Any]:
    """The card's `reference`: `reference_bins` of every feature (the columns of `X`, named by `names`)
    and of the score."""
    matrix = np.asarray(X, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != len(names):
        raise ValueError(f"{matrix.shape} features for {len(names)} names")
    return {
        "bins": bins,
        "rows": int(matrix.shape[0]),
        "features": {name: reference_bins(matrix[:, i], bins) for i, name in enumerate(names)},
        SCORE: reference_bins(scores, bins),
    }


def bin_shares(values: npt.ArrayLike, reference: dict[str, Any]) -> tuple[npt.NDArray[np.float64], float]:
    """The shares of all rows of `values` in the reference's bins, and the missing share."""
    v = np.asarray(values, dtype=np.float64)
    if not len(v):
        return np.zeros(len(reference["edges"]) + 1), 0.0
    present = v[~np.isnan(v)]
    edges = np.asarray(reference["edges"], dtype=np.float64)
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    return counts / len(v), float(1.0 - len(present) / len(v))


def psi(values: npt.ArrayLike, reference: dict[str, Any], epsilon: float = PSI_EPSILON) -> float:
    """The population stability index of `values` against a `reference_bins` reference (module doc);
    NaN for no values."""
    v = np.asarray(values, dtype=np.float64)
    if not len(v):
        return float("nan")
    actual, actual_missing = bin_shares(v, reference)
    expected_missing = float(reference.get("missing_share", 0.0))
    expected = np.asarray(reference["shares"], dtype=np.float64) * (1.0 - expected_missing)
    if actual_missing > 0 or expected_missing > 0:
        actual = np.append(actual, actual_missing)
        expected = np.append(expected, expected_missing)
    a = np.maximum(actual, epsilon)
    e = np.maximum(expected, epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def labels_known_through(newest_label_time: pd.Timestamp | None, label_delay_days: float) -> date | None:
    """The last day whose labels are known: every transaction of it is at least the label delay older
    than the newest label seen (None: no labels)."""
    if newest_label_time is None or pd.isna(newest_label_time):
        return None
    cutoff = pd.Timestamp(newest_label_time).tz_convert("UTC") - pd.Timedelta(days=label_delay_days)
    # A day is complete when its end (the next midnight) is at or before the cutoff.
    last: date = cutoff.floor("D").date() - timedelta(days=1)
    return last


def daily_metrics(
    transactions: pd.DataFrame,
    card: ModelCard,
    *,
    fraud_ids: set[str] | None = None,
    labels_through: date | None = None,
    k: int = 100,
) -> pd.DataFrame:
    """One row per day (`dt`) of scored transactions.

    Args:
        transactions: lake rows with `dt`, `score`, `is_alert`, `scored_by`, `transaction_id`,
            `card_id`, `event_time` and the card's feature columns (a missing column counts as missing values).
        card: the model's card, with its `reference`.
        fraud_ids: the transaction ids labelled fraud (chargebacks with `is_fraud`).
        labels_through: the last day whose labels are known (`labels_known_through`); None: none is.
        k: the cards of card precision@k.

    Returns:
        Columns `dt`, `rows`, `alert_rate`, `fallback_share`, `score_mean`, `score_p50/p90/p99`,
        `psi_score`, `psi__<feature>` per feature, `labels_known`, `frauds`, `precision`, `recall`,
        `card_precision_at_<k>` (NaN where labels are not known).

    Raises:
        ValueError: the card has no reference.
    """
    from ml_model.evaluation import card_precision_at_k

    reference = card.reference
    if not reference or SCORE not in reference or "features" not in reference:
        raise ValueError(
            f"model {card.model_version}'s card has no training reference (trained before cards recorded one): "
            "retrain it to monitor drift"
        )
    fraud_ids = fraud_ids or set()
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
        known = labels_through is not None and date.fromisoformat(str(dt)) <= labels_through
        row["labels_known"] = known
        fraud = day["transaction_id"].isin(fraud_ids).to_numpy(dtype=bool)
        row["frauds"] = int(fraud.sum()) if known else None
        tp = int((alerts & fraud).sum())
        row["precision"] = tp / int(alerts.sum()) if known and alerts.any() else float("nan")
        row["recall"] = tp / int(fraud.sum()) if known and fraud.any() else float("nan")
        row[f"card_precision_at_{k}"] = (
            card_precision_at_k(
                pd.DataFrame({"event_time": day["event_time"], "card_id": day["card_id"], "is_fraud": fraud}),
                scores,
                k,
            )
            if known
            else float("nan")
        )
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Thresholds:
    """When a figure is a finding: PSI above `psi`, the alert rate more than `alert_rate_ratio` times
    (or less than 1/that) the first day's, realised precision below the card's by more than
    `precision_drop`."""

    psi: float = 0.2
    alert_rate_ratio: float = 2.0
    precision_drop: float = 0.1


@dataclass(frozen=True)
class Finding:
    dt: str
    kind: str
    message: str

    def line(self) -> str:
        return f"{self.dt} {self.kind}: {self.message}"


def findings(daily: pd.DataFrame, card: ModelCard, thresholds: Thresholds | None = None) -> list[Finding]:
    """Every figure of `daily_metrics` that crossed its threshold, in day order."""
    t = thresholds or Thresholds()
    out: list[Finding] = []
    if daily.empty:
        return out
    first_rate = float(daily["alert_rate"].iloc[0])
    card_precision = card.metrics.get("precision")
    psi_columns = ["psi_score", *(c for c in daily.columns if c.startswith("psi__"))]
    for _, row in daily.iterrows():
        dt = str(row["dt"])
        for column in psi_columns:
            value = float(row[column])
            if value > t.psi:
                name = SCORE if column == "psi_score" else column.removeprefix("psi__")
                out.append(Finding(dt, "drift", f"{name} PSI {value:.3f} > {t.psi}"))
        rate = float(row["alert_rate"])
        if first_rate > 0 and (rate > first_rate * t.alert_rate_ratio or rate * t.alert_rate_ratio < first_rate):
            out.append(
                Finding(
                    dt,
                    "alert-rate",
                    f"alert rate {rate:.4f} is {rate / first_rate:.2f}x the first day's {first_rate:.4f} "
                    f"(threshold {t.alert_rate_ratio}x)",
                )
            )
        elif first_rate == 0 and rate > 0:
            out.append(Finding(dt, "alert-rate", f"alert rate {rate:.4f} after a first day without alerts"))
        precision = float(row["precision"])
        if card_precision is not None and not np.isnan(precision) and precision < card_precision - t.precision_drop:
            out.append(
                Finding(
                    dt,
                    "precision",
                    f"realised precision {precision:.3f} < the card's {card_precision:.3f} - {t.precision_drop}",
                )
            )
    return out
