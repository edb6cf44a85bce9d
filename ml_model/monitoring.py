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

A day is computed from its rows in batches (`day_metrics`), holding counts, never the day's frame:
the bin counts of every feature and of the score against the reference's edges, alert, fallback and
fraud counts, the candidates of card precision@k (per event day, the k cards with the highest score so
far, and the cards with a fraud) and, for the score quantiles, a histogram of the scores' top 16 bits
(as order-preserving integers: a radix select). A day of up to `QUANTILE_BUFFER` scores keeps its
scores and takes numpy's quantiles of them; a larger one reads its score column again to narrow the
histogram down to the few values around each quantile's rank, then interpolates between them as numpy
does, so both give numpy's figures exactly. A day at 10,000 transactions per second (864 million
rows) is thus held in a few hundred MB whatever its size (the batches in flight, the histograms, at
most `QUANTILE_BUFFER` scores).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from fraudstream.monitoring_table import CARD_PRECISION_AT_K, MONITORING, PSI_PREFIX, SCORE_QUANTILES, psi_column

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    import pyarrow as pa

    from ml_model.artifact import ModelCard

    # Scans one day's rows: called with the columns wanted, yields record batches (a column the rows
    # lack may be left out: it counts as missing values); called again for a large day's quantiles.
    BatchSource = Callable[[Sequence[str]], Iterable[pa.RecordBatch]]

__all__ = [
    "MONITORING_PREFIX",
    "PSI_EPSILON",
    "DAY_LEVEL_FEATURES",
    "REFERENCE_BINS",
    "SCORE",
    "Finding",
    "Thresholds",
    "bin_shares",
    "daily_metrics",
    "day_metrics",
    "drift_psi",
    "findings",
    "labels_known_through",
    "psi",
    "psi_from_counts",
    "reference_bins",
    "training_reference",
]

REFERENCE_BINS: Final = 10
PSI_EPSILON: Final = 1e-4
SCORE: Final = "score"
# The monitoring table of the lake: one Parquet file per monitored day, `monitoring/dt=YYYY-MM-DD/`.
MONITORING_PREFIX: Final = MONITORING.prefix
QUANTILES: Final = SCORE_QUANTILES
# A day of at most this many scores keeps them for its quantiles (8 bytes each); a larger day reads its
# score column again instead (radix select, module doc).
QUANTILE_BUFFER: Final = 1 << 22
# Features whose value the calendar day fixes: all of a day's rows share it, so the day's PSI against
# the training days' mix is high every day (a weekday against 2/7 of weekend rows: 2.4) and says
# nothing about drift. Their PSI is computed and stored; findings and the job's maximum leave it out.
DAY_LEVEL_FEATURES: Final = frozenset({"is_weekend"})
# The columns a day's figures read, besides the card's features.
DAY_COLUMNS: Final = ("transaction_id", "card_id", "event_time", "score", "is_alert", "scored_by")


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


def _bin_counts(values: npt.NDArray[np.float64], edges: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.int64], int]:
    """Per bin, how many of the non-missing `values` fall in it; and how many are not missing."""
    present = values[~np.isnan(values)]
    return np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1), len(present)


def bin_shares(values: npt.ArrayLike, reference: dict[str, Any]) -> tuple[npt.NDArray[np.float64], float]:
    """The shares of all rows of `values` in the reference's bins, and the missing share."""
    v = np.asarray(values, dtype=np.float64)
    if not len(v):
        return np.zeros(len(reference["edges"]) + 1), 0.0
    counts, present = _bin_counts(v, np.asarray(reference["edges"], dtype=np.float64))
    return counts / len(v), float(1.0 - present / len(v))


def psi(values: npt.ArrayLike, reference: dict[str, Any], epsilon: float = PSI_EPSILON) -> float:
    """The population stability index of `values` against a `reference_bins` reference (module doc);
    NaN for no values."""
    v = np.asarray(values, dtype=np.float64)
    counts, present = _bin_counts(v, np.asarray(reference["edges"], dtype=np.float64))
    return psi_from_counts(counts, present, len(v), reference, epsilon)


def psi_from_counts(
    counts: npt.NDArray[np.int64], present: int, rows: int, reference: dict[str, Any], epsilon: float = PSI_EPSILON
) -> float:
    """`psi` from the bin counts of the non-missing values (`searchsorted` against the reference's
    edges), their number and the number of rows; NaN for no rows.

    Args:
        counts: per bin of the reference (len(edges) + 1), the non-missing values in it.
        present: the non-missing values.
        rows: all values, missing ones included.
        reference: the column's `reference_bins`.
        epsilon: the floor of a share.
    """
    if not rows:
        return float("nan")
    actual, actual_missing = counts / rows, float(1.0 - present / rows)
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


def _require_reference(card: ModelCard) -> dict[str, Any]:
    reference = card.reference
    if not reference or SCORE not in reference or "features" not in reference:
        raise ValueError(
            f"model {card.model_version}'s card has no training reference (trained before cards recorded one): "
            "retrain it to monitor drift"
        )
    return reference


def daily_metrics(
    transactions: pd.DataFrame,
    card: ModelCard,
    *,
    fraud_ids: set[str] | None = None,
    labels_through: date | None = None,
    k: int = CARD_PRECISION_AT_K,
) -> pd.DataFrame:
    """One row per day (`dt`) of scored transactions (`day_metrics` of each day's rows).

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
    import pyarrow as pa

    _require_reference(card)
    ids = pa.array(sorted(fraud_ids or ()), type=pa.string())
    rows = []
    for dt, day in transactions.groupby("dt", sort=True):

        def scan(columns: Sequence[str], day: pd.DataFrame = day) -> list[pa.RecordBatch]:
            present = [c for c in columns if c in day.columns]
            return [pa.RecordBatch.from_pandas(day[present], preserve_index=False)]

        known = labels_through is not None and date.fromisoformat(str(dt)) <= labels_through
        row = day_metrics(str(dt), scan, card, fraud_ids=ids, labels_known=known, k=k)
        if row is not None:
            rows.append(row)
    return pd.DataFrame(rows)


def day_metrics(
    dt: str,
    scan: BatchSource,
    card: ModelCard,
    *,
    fraud_ids: pa.Array,
    labels_known: bool,
    k: int = CARD_PRECISION_AT_K,
    quantile_buffer: int = QUANTILE_BUFFER,
) -> dict[str, Any] | None:
    """The figures of one day (a row of `daily_metrics`), from its rows in batches (module doc); None
    for a day without rows.

    Args:
        dt: the day.
        scan: the day's rows (`BatchSource`); read once, and the score column once or twice more for a
            day of more than `quantile_buffer` rows.
        card: the model's card, with its `reference`.
        fraud_ids: the transaction ids labelled fraud, strings.
        labels_known: whether the day's labels are known (its realised figures are NaN otherwise).
        k: the cards of card precision@k.
        quantile_buffer: the most scores kept for the quantiles.

    Raises:
        ValueError: the card has no reference.
    """
    reference = _require_reference(card)
    day = _DayCounts(reference, fraud_ids, k=k, quantile_buffer=quantile_buffer)
    for batch in scan([*DAY_COLUMNS, *reference["features"]]):
        day.add(batch)
    if not day.rows:
        return None
    n = day.rows
    row: dict[str, Any] = {
        "dt": dt,
        "rows": n,
        "alert_rate": day.alerts / n,
        "fallback_share": day.fallback / n,
        # One batch: numpy's own mean (its sum / n); several: the sum of their sums / n.
        "score_mean": day.score_sum / n,
    }
    for q, value in zip(QUANTILES, day.quantiles(scan), strict=True):
        row[f"score_p{round(q * 100)}"] = value
    row["psi_score"] = psi_from_counts(*day.score_bins, n, reference[SCORE])
    for name, ref in reference["features"].items():
        counts, present = day.feature_bins[name]
        row[psi_column(name)] = psi_from_counts(counts, present, n, ref)
    row["labels_known"] = labels_known
    row["frauds"] = day.frauds if labels_known else None
    row["precision"] = day.true_alerts / day.alerts if labels_known and day.alerts else float("nan")
    row["recall"] = day.true_alerts / day.frauds if labels_known and day.frauds else float("nan")
    row[f"card_precision_at_{k}"] = day.card_precision() if labels_known else float("nan")
    return row


_TOP_BITS: Final = np.uint64(48)  # a radix pass histograms 16 bits of the keys
_RADIX: Final = 1 << 16
_SIGN: Final = np.uint64(1 << 63)


def _sortable(values: npt.NDArray[np.float64]) -> npt.NDArray[np.uint64]:
    """Non-NaN floats as unsigned integers of the same order (the sign bit flipped for positives, every
    bit for negatives)."""
    u = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    return np.where(u & _SIGN, ~u, u | _SIGN)


def _unsortable(key: int) -> float:
    u = np.uint64(key)
    return float(np.array([u ^ _SIGN if u & _SIGN else ~u], dtype=np.uint64).view(np.float64)[0])


class _DayCounts:
    """What `day_metrics` accumulates over a day's batches."""

    def __init__(self, reference: dict[str, Any], fraud_ids: pa.Array, *, k: int, quantile_buffer: int) -> None:
        self.reference = reference
        self.fraud_ids = fraud_ids
        self.k = k
        self.quantile_buffer = quantile_buffer
        self.rows = self.alerts = self.fallback = self.frauds = self.true_alerts = self.nan_scores = 0
        self.score_sum = 0.0
        self.score_edges = np.asarray(reference[SCORE]["edges"], dtype=np.float64)
        self.score_bins: tuple[npt.NDArray[np.int64], int] = (np.zeros(len(self.score_edges) + 1, np.int64), 0)
        self.edges = {name: np.asarray(ref["edges"], dtype=np.float64) for name, ref in reference["features"].items()}
        self.feature_bins = {name: (np.zeros(len(e) + 1, np.int64), 0) for name, e in self.edges.items()}
        self.radix = np.zeros(_RADIX, np.int64)
        self.scores: list[npt.NDArray[np.float64]] | None = []  # kept while the day is small
        # Card precision@k: per event day, the k cards with the highest score so far; the cards with a fraud.
        self.top = pd.DataFrame({"day": [], "card_id": [], "score": []})
        self.fraud_cards: set[tuple[Any, Any]] = set()

    def add(self, batch: pa.RecordBatch) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        n = batch.num_rows
        if not n:
            return
        columns = batch.schema.names
        scores = batch.column("score").to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        alerts = batch.column("is_alert").to_numpy(zero_copy_only=False).astype(bool, copy=False)
        scored_by = pc.cast(batch.column("scored_by"), pa.string())
        ids = pc.cast(batch.column("transaction_id"), pa.string())
        fraud = pc.fill_null(pc.is_in(ids, value_set=self.fraud_ids), False).to_numpy(zero_copy_only=False)
        self.rows += n
        self.alerts += int(alerts.sum())
        self.fallback += int(pc.sum(pc.fill_null(pc.equal(scored_by, "fallback"), False)).as_py() or 0)
        self.frauds += int(fraud.sum())
        self.true_alerts += int((alerts & fraud).sum())
        self.score_sum += float(np.sum(scores))
        self.score_bins = _added(self.score_bins, scores, self.score_edges)
        for name, edges in self.edges.items():
            values = (
                batch.column(name).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
                if name in columns
                else np.full(n, np.nan)
            )
            self.feature_bins[name] = _added(self.feature_bins[name], values, edges)
        valid = scores[~np.isnan(scores)]
        self.nan_scores += n - len(valid)
        self.radix += np.bincount((_sortable(valid) >> _TOP_BITS).astype(np.intp), minlength=_RADIX)
        if self.scores is not None:
            self.scores.append(scores)
            if self.rows > self.quantile_buffer:
                self.scores = None
        self._add_cards(batch, scores, fraud)

    def _add_cards(self, batch: pa.RecordBatch, scores: npt.NDArray[np.float64], fraud: npt.NDArray[np.bool_]) -> None:
        day = pd.to_datetime(batch.column("event_time").to_pandas(), utc=True).dt.floor("D")
        cards = pd.DataFrame({"day": day, "card_id": batch.column("card_id").to_pandas(), "score": scores})
        self.fraud_cards.update(zip(cards["day"][fraud], cards["card_id"][fraud], strict=True))
        best = cards.groupby(["day", "card_id"], sort=False)["score"].max().reset_index()
        merged = pd.concat([self.top, best]) if len(self.top) else best
        merged = merged.groupby(["day", "card_id"], sort=False)["score"].max().reset_index()
        # NOTE: cards tied on the k-th score are taken in card_id order (pandas' own sort leaves ties to
        # its unstable sort): only such a tie can make the figure differ from `card_precision_at_k`'s.
        merged = merged.sort_values(["score", "card_id"], ascending=[False, True], kind="stable")
        self.top = merged.groupby("day", sort=False).head(self.k)

    def card_precision(self) -> float:
        """Card precision@k (`ml_model.evaluation.card_precision_at_k`): per event day, the share of its
        k highest-scoring cards with a fraud that day; averaged over the event days."""
        if not len(self.top):
            return 0.0
        fraud = [(d, c) in self.fraud_cards for d, c in zip(self.top["day"], self.top["card_id"], strict=True)]
        return float(pd.Series(fraud, dtype=float).groupby(self.top["day"].to_numpy()).mean().mean())

    def quantiles(self, scan: BatchSource) -> list[float]:
        """The day's score quantiles, as `np.quantile(scores, QUANTILES)` (linear interpolation)."""
        if self.nan_scores:
            return [float("nan")] * len(QUANTILES)
        if self.scores is not None:
            return [float(v) for v in np.quantile(np.concatenate(self.scores), QUANTILES)]
        n = self.rows
        wanted: dict[float, tuple[int, int, float]] = {}
        for q in QUANTILES:
            h = (n - 1) * q
            lo = math.floor(h)
            wanted[q] = (lo, min(lo + 1, n - 1), h - lo)
        ranks = sorted({r for lo, hi, _ in wanted.values() for r in (lo, hi)})
        values = self._select(ranks, scan)
        # numpy's interpolation itself, between the two values around the rank (virtual index = gamma).
        return [float(np.quantile(np.array([values[lo], values[hi]]), gamma)) for lo, hi, gamma in wanted.values()]

    def _select(self, ranks: list[int], scan: BatchSource) -> dict[int, float]:
        """The values of the given ranks (0-based, ascending order) by radix select over the score column."""
        bits = 16
        # rank -> (the key's top `bits` bits, how many keys have smaller ones, how many have these)
        found: dict[int, tuple[int, int, int]] = {r: _locate(self.radix, r, 0, 0) for r in ranks}
        while bits < 64 and sum({p: c for p, _, c in found.values()}.values()) > self.quantile_buffer:
            # Narrow each rank's bucket down by the next 16 bits of its keys: one more read of the scores.
            shift = np.uint64(64 - bits)
            sub = {p: np.zeros(_RADIX, np.int64) for p, _, _ in found.values()}
            for keys in self._keys(scan):
                top = keys >> shift
                for p, hist in sub.items():
                    inside = keys[top == np.uint64(p)] >> (shift - np.uint64(16))
                    hist += np.bincount((inside & np.uint64(0xFFFF)).astype(np.intp), minlength=_RADIX)
            found = {r: _locate(sub[p], r, below, p) for r, (p, below, _) in found.items()}
            bits += 16
        if bits == 64:  # the whole key: the value itself, however many rows hold it
            return {r: _unsortable(p) for r, (p, _, _) in found.items()}
        shift = np.uint64(64 - bits)
        prefixes = np.array(sorted({p for p, _, _ in found.values()}), dtype=np.uint64)
        kept = [keys[np.isin(keys >> shift, prefixes)] for keys in self._keys(scan)]
        candidates = np.sort(np.concatenate(kept))
        groups = {int(p): candidates[(candidates >> shift) == p] for p in prefixes}
        return {r: _unsortable(int(groups[p][r - below])) for r, (p, below, _) in found.items()}

    @staticmethod
    def _keys(scan: BatchSource) -> Iterable[npt.NDArray[np.uint64]]:
        for batch in scan(["score"]):
            scores = batch.column("score").to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            yield _sortable(scores)


def _locate(hist: npt.NDArray[np.int64], rank: int, below: int, prefix: int) -> tuple[int, int, int]:
    """The bucket of `hist` (16 bits under `prefix`) holding the key of `rank`, given `below` smaller keys
    outside it: (the longer prefix, the keys below it, the keys in it)."""
    cumulative = np.cumsum(hist)
    bucket = int(np.searchsorted(cumulative, rank - below, side="right"))
    before = int(cumulative[bucket - 1]) if bucket else 0
    return (prefix << 16) | bucket, below + before, int(hist[bucket])


def _added(
    bins: tuple[npt.NDArray[np.int64], int], values: npt.NDArray[np.float64], edges: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], int]:
    counts, present = _bin_counts(values, edges)
    return bins[0] + counts, bins[1] + present


@dataclass(frozen=True)
class Thresholds:
    """When a figure is a finding: PSI above `psi`, the alert rate more than `alert_rate_ratio` times
    (or less than 1/that) the first day's, realised precision below the card's by more than
    `precision_drop`, realised recall below the card's by more than `recall_drop`."""

    psi: float = 0.2
    alert_rate_ratio: float = 2.0
    precision_drop: float = 0.1
    recall_drop: float = 0.1


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
    card_recall = card.metrics.get("recall")
    for _, row in daily.iterrows():
        dt = str(row["dt"])
        for name, value in {SCORE: float(row["psi_score"]), **drift_psi(row)}.items():
            if value > t.psi:
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
        recall = float(row["recall"])
        if card_recall is not None and not np.isnan(recall) and recall < card_recall - t.recall_drop:
            out.append(
                Finding(dt, "recall", f"realised recall {recall:.3f} < the card's {card_recall:.3f} - {t.recall_drop}")
            )
    return out


def drift_psi(row: Mapping[str, Any]) -> dict[str, float]:
    """A day's PSI per feature (`psi__<feature>` of `day_metrics`), those of `DAY_LEVEL_FEATURES` and
    the undefined ones left out: what drift findings and the job's maximum feature PSI read."""
    out: dict[str, float] = {}
    for column, value in row.items():
        name = str(column).removeprefix(PSI_PREFIX)
        if str(column).startswith(PSI_PREFIX) and name not in DAY_LEVEL_FEATURES and value is not None:
            if not math.isnan(float(value)):
                out[name] = float(value)
    return out
