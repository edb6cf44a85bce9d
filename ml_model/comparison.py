"""`fraudstream model compare`: a champion and a challenger scored on the same labelled lake period.

The period's rows are the lake's transactions labelled as `train --from-lake` labels them
(`ml_model.lake_training`: the chargebacks known at the label cut-off, the label delay respected),
read with the history before the period that the features' windows need, so that each row's
features are what the stream computed for it. Each model scores the rows with its own booster and
its own feature spec's matrix (its label delay), as the in-process scorer does.

The verdict is a paired test of the primary metric, average precision (AP): the ranking of frauds
among the period's transactions, independent of any threshold. Its uncertainty comes from a paired
bootstrap over cards, not transactions (a card's transactions, a compromised card's frauds above
all, are not independent), stratified by whether the card had a fraud in the period so that every
resample holds frauds; each resample draws the cards with replacement and weighs every transaction
of a drawn card by the times it was drawn, and both models are measured on the same draw. The
verdict is `challenger_better` when the interval of AP(challenger) - AP(champion) lies above 0,
`champion_better` when it lies below 0, else `tie`. A fixed seed makes it reproducible.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from ml_model.exceptions import ComparisonError
from ml_model.promotion import Verdict

if TYPE_CHECKING:
    from collections.abc import Mapping

    import boto3
    import numpy.typing as npt

    from ml_model.artifact import ModelArtifact
    from ml_model.lake_training import LakeTrainingSet
    from ml_model.scoring.local import LocalXGBoostScorer

__all__ = [
    "COMPARE_HTML",
    "COMPARE_JSON",
    "METRICS",
    "PRIMARY_METRIC",
    "ComparedModel",
    "Comparison",
    "PairedBootstrap",
    "compare_models",
    "history_days",
    "local_scorer",
    "paired_bootstrap",
    "read_period",
    "resolve_model",
    "rule_text",
    "weighted_average_precision",
    "write_outputs",
]

COMPARE_JSON: Final = "compare.json"
COMPARE_HTML: Final = "compare.html"
# The metrics compared side by side, in the table's order (`classification_metrics` and card precision@100).
METRICS: Final = (
    "auc_roc",
    "average_precision",
    "precision",
    "recall",
    "f1",
    "alerts",
    "card_precision_at_100",
)
PRIMARY_METRIC: Final = "average_precision"


def rule_text(*, resamples: int, confidence: float, seed: int) -> str:
    """The verdict's rule in one sentence, as compare.json and `--help` state it."""
    return (
        f"primary metric average precision (AP) over the period's labelled transactions; the {confidence:.0%} "
        f"interval of AP(challenger) - AP(champion) from a paired bootstrap over cards ({resamples} resamples, "
        f"seed {seed}; cards with a fraud in the period and cards without drawn with replacement separately, "
        "every transaction of a drawn card scored by both models): challenger_better when the interval lies above "
        "0, champion_better when it lies below 0, else tie"
    )


@dataclass(frozen=True)
class PairedBootstrap:
    """The primary metric's difference (challenger - champion) and its bootstrap interval."""

    difference: float
    low: float
    high: float
    confidence: float
    resamples: int
    seed: int

    @property
    def verdict(self) -> Verdict:
        if self.low > 0:
            return Verdict.CHALLENGER_BETTER
        if self.high < 0:
            return Verdict.CHAMPION_BETTER
        return Verdict.TIE

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": PRIMARY_METRIC,
            "difference": self.difference,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "resamples": self.resamples,
            "seed": self.seed,
            "unit": "card, stratified by fraud in the period",
        }


@dataclass(frozen=True)
class ComparedModel:
    """One model's scores of the period's rows and its figures.

    Attributes:
        role: `champion` or `challenger`.
        location: where it was given (folder, tarball, s3:// URI or published version).
        artifact: the loaded artifact.
        scores: one score per period row, in the rows' order.
        metrics: `classification_metrics` at the card's threshold, and `card_precision_at_100`.
        daily_card_precision: card precision@100 of each day of the period (index: YYYY-MM-DD).
        days_in_training: days of the period that the model's card says it was trained or validated on.
    """

    role: str
    location: str
    artifact: ModelArtifact
    scores: npt.NDArray[np.float64]
    metrics: dict[str, float]
    daily_card_precision: pd.Series
    days_in_training: int = 0

    def to_dict(self) -> dict[str, Any]:
        card = self.artifact.card
        return {
            "model_version": card.model_version,
            "location": self.location,
            "feature_spec_hash": card.feature_spec_hash,
            "label_delay_days": self.artifact.spec.label_delay_days,
            **{name: self.metrics[name] for name in (*METRICS, "threshold", "frauds")},
            "card_precision_at_100_daily": {str(k): float(v) for k, v in self.daily_card_precision.items()},
            "period_days_in_training": self.days_in_training,
        }


@dataclass(frozen=True)
class Comparison:
    """Both models on the same period, the paired test and the verdict.

    Attributes:
        champion, challenger: the two models' scores and figures.
        rows: the period's labelled transactions (`event_time`, `card_id`, `is_fraud`, ...), in the scores' order.
        period: what was read and how it was labelled (compare.json's `period`).
        test: the primary metric's paired bootstrap.
    """

    champion: ComparedModel
    challenger: ComparedModel
    rows: pd.DataFrame
    period: dict[str, Any]
    test: PairedBootstrap
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        return self.test.verdict

    @property
    def rule(self) -> str:
        return rule_text(resamples=self.test.resamples, confidence=self.test.confidence, seed=self.test.seed)

    def differences(self) -> dict[str, float]:
        """challenger - champion of every compared metric."""
        return {m: self.challenger.metrics[m] - self.champion.metrics[m] for m in METRICS}

    def to_dict(self) -> dict[str, Any]:
        """compare.json: `champion`, `challenger` (with `vs_champion`: the differences and the test),
        `period`, `verdict` and `rule`."""
        challenger = self.challenger.to_dict() | {
            "vs_champion": {"differences": self.differences(), "test": self.test.to_dict()}
        }
        return {
            "champion": self.champion.to_dict(),
            "challenger": challenger,
            "period": self.period,
            "verdict": self.verdict.value,
            "rule": self.rule,
        }


def resolve_model(location: str, *, bucket: str, session: boto3.Session | None = None) -> ModelArtifact:
    """The artifact at a model location: a folder holding model.tar.gz, the tarball, an s3:// URI of
    either (`ml_model.model_store.load_model_at`), or the version of a model published to the lake
    bucket with `fraudstream model publish` (`s3://BUCKET/models/VERSION/model.tar.gz`).

    A bare name is a published version only when no such folder or file exists here.

    Raises:
        ArtifactNotFoundError: nothing there (named with both readings of a bare name).
        ArtifactError: not an artifact SageMaker's container would serve.
    """
    from ml_model.artifact import ArtifactNotFoundError
    from ml_model.model_store import load_model_at, model_key

    text = location.strip()
    local = Path(text)
    is_version = bool(text) and not urlparse(text).scheme and "/" not in text and not local.exists()
    if not is_version:
        return load_model_at(text, session=session)
    try:
        return load_model_at(f"s3://{bucket}/{model_key(text)}", session=session)
    except ArtifactNotFoundError as e:
        raise ArtifactNotFoundError(
            f"no model at {text}: no such folder or file here, and no published model version {text!r} "
            f"(s3://{bucket}/{model_key(text)})",
            hint="give a folder holding model.tar.gz, the tarball, an s3:// URI, or a version published with "
            "`fraudstream model publish` (to --bucket)",
        ) from e


def history_days(label_delay_days: float) -> int:
    """Days of transactions before a period that its first rows' features reach back to: the widest
    window, shifted back by the label delay (the terminal windows), and a day for whole hours."""
    from ml_model.features import DAY, LONGEST_WINDOW_S

    return math.ceil(LONGEST_WINDOW_S / DAY + label_delay_days) + 1


def read_period(
    bucket: str,
    *,
    label_delay_days: float,
    feature_history_days: int,
    since: date | None,
    until: date | None,
    session: boto3.Session | None = None,
) -> LakeTrainingSet:
    """The lake's labelled transactions of the period, with the history its features need.

    As `train --from-lake` reads them (`read_lake_training_set`). Without `since`, the period starts
    on the lake's first day plus `feature_history_days`: the first day whose features see all of
    their windows.

    Raises:
        LakeTrainingError: an empty lake, no labels, no transaction in the range, or none labelled.
        ResourceNotFoundError: the bucket does not exist.
    """
    from ml_model.lake_training import read_lake_training_set

    found = read_lake_training_set(
        bucket,
        label_delay_days=label_delay_days,
        since=since,
        until=until,
        history_days=feature_history_days,
        session=session,
    )
    if since is None:
        first = pd.to_datetime(found.transactions["event_time"], utc=True).min().date()
        found = replace(found, since=first + timedelta(days=feature_history_days), history_days=feature_history_days)
    return found


def compare_models(
    champion: tuple[str, ModelArtifact],
    challenger: tuple[str, ModelArtifact],
    lake_set: LakeTrainingSet,
    *,
    bucket: str,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Score the period's rows with both models and compare them.

    Args:
        champion, challenger: each model's location (as given) and artifact.
        lake_set: the labelled transactions (`read_period`): the period's rows and their history.
        bucket: the lake bucket (recorded).
        resamples, confidence, seed: the paired bootstrap's.

    Raises:
        ComparisonError: the period holds no labelled transaction, or no fraud.
        FeatureSpecMismatchError: this code cannot compute a model's features (another spec version).
    """
    from ml_model.features import compute_features

    history = lake_set.transactions
    in_period = lake_set.in_range()
    rows = history.loc[in_period].reset_index(drop=True)
    span = _span(lake_set)
    if rows.empty:
        raise ComparisonError(
            f"no labelled transaction in the period {span}: the lake's labels are known up to event time "
            f"{(lake_set.label_cutoff - pd.Timedelta(days=lake_set.label_delay_days)).isoformat()} (label cut-off "
            f"{lake_set.label_cutoff.isoformat()} minus the {lake_set.label_delay_days:g}-day label delay)"
        )
    frauds = int(rows["is_fraud"].sum())
    if frauds == 0:
        raise ComparisonError(
            f"the period {span} holds {len(rows):,} labelled transactions but no fraud: precision, recall and AUC "
            "are undefined without one"
        )
    features_by_delay: dict[float, pd.DataFrame] = {}
    scored = []
    for role, (location, artifact) in (("champion", champion), ("challenger", challenger)):
        delay = artifact.spec.label_delay_days
        if delay not in features_by_delay:  # the same code as training, over the period and its history
            features_by_delay[delay] = compute_features(history, label_delay_days=delay).loc[in_period]
        scores = _score(artifact, features_by_delay[delay])
        scored.append(
            ComparedModel(
                role=role,
                location=location,
                artifact=artifact,
                scores=scores,
                metrics=_metrics(rows, scores, artifact.card.threshold),
                daily_card_precision=_daily_card_precision(rows, scores),
                days_in_training=_days_in_training(artifact, rows),
            )
        )
    champion_model, challenger_model = scored
    test = paired_bootstrap(
        rows["is_fraud"].to_numpy(),
        champion_model.scores,
        challenger_model.scores,
        rows["card_id"].to_numpy(),
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )
    period = _period(lake_set, rows, bucket)
    notes = [
        f"the period overlaps {m.days_in_training} day(s) that the {m.role} {m.artifact.model_version} was trained "
        "or validated on: its figures there are optimistic"
        for m in scored
        if m.days_in_training
    ]
    first_read = pd.to_datetime(history["event_time"], utc=True).min().date()
    if lake_set.since is not None and first_read > lake_set.since - timedelta(days=lake_set.history_days):
        notes.append(
            f"the lake starts on {first_read}: the features of the period's rows before {period['full_history_from']} "
            "miss part of their windows' history"
        )
    return Comparison(champion_model, challenger_model, rows, period, test, notes)


def paired_bootstrap(
    y_true: npt.ArrayLike,
    champion_scores: npt.ArrayLike,
    challenger_scores: npt.ArrayLike,
    card_ids: npt.ArrayLike,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedBootstrap:
    """AP(challenger) - AP(champion) and its percentile interval from a paired bootstrap over cards,
    stratified by whether a card had a fraud (see the module's docstring).

    Args:
        y_true: the rows' labels (at least one fraud).
        champion_scores, challenger_scores: both models' scores of the same rows.
        card_ids: each row's card.
        resamples: bootstrap resamples.
        confidence: the interval's coverage, e.g. 0.95.
        seed: the resampling's seed.
    """
    y = np.asarray(y_true).astype(bool)
    codes, cards = pd.factorize(pd.Series(np.asarray(card_ids)))
    fraud_card = np.bincount(codes, weights=y, minlength=len(cards)) > 0
    strata = [np.flatnonzero(fraud_card), np.flatnonzero(~fraud_card)]
    champion = _RankedScores(y, np.asarray(champion_scores, dtype=np.float64), codes)
    challenger = _RankedScores(y, np.asarray(challenger_scores, dtype=np.float64), codes)
    rng = np.random.default_rng(seed)
    differences = np.empty(resamples, dtype=np.float64)
    for i in range(resamples):
        drawn = np.concatenate([s[rng.integers(0, len(s), len(s))] for s in strata if len(s)])
        times_drawn = np.bincount(drawn, minlength=len(cards)).astype(np.float64)
        differences[i] = challenger.average_precision(times_drawn) - champion.average_precision(times_drawn)
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(differences, [tail, 1.0 - tail])
    once = np.ones(len(cards), dtype=np.float64)
    return PairedBootstrap(
        difference=challenger.average_precision(once) - champion.average_precision(once),
        low=float(low),
        high=float(high),
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )


def weighted_average_precision(
    y_true: npt.ArrayLike, scores: npt.ArrayLike, weights: npt.ArrayLike | None = None
) -> float:
    """Average precision with sample weights: the value of sklearn's `average_precision_score`.

    The bootstrap computes it thousands of times on the same scores with other weights; sorting once
    (`_RankedScores`) makes each a cumulative sum, where sklearn would sort again every time.
    """
    y = np.asarray(y_true).astype(bool)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    # Each row its own group: the group weights are the row weights.
    return _RankedScores(y, np.asarray(scores, dtype=np.float64), np.arange(len(y))).average_precision(w)


class _RankedScores:
    """Scores sorted once, highest first, with the last row of each group of tied scores and each
    row's group (its card) in that order, so that a resample's weights are one gather of its cards'."""

    def __init__(self, y: npt.NDArray[np.bool_], scores: npt.NDArray[np.float64], groups: npt.NDArray[np.intp]) -> None:
        order = np.argsort(-scores, kind="stable")
        ranked = scores[order]
        self.fraud = y[order].astype(np.float64)
        self.groups = np.asarray(groups)[order]
        # sklearn's thresholds are the distinct scores: a group of tied scores is one step of the curve.
        self.ends = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]

    def average_precision(self, group_weights: npt.NDArray[np.float64]) -> float:
        """sum over thresholds of (recall step) * precision, as sklearn defines it, each row weighted
        by its group's weight."""
        w = group_weights[self.groups]
        tp = np.cumsum(w * self.fraud)[self.ends]
        alerts = np.cumsum(w)[self.ends]
        if tp[-1] <= 0:
            return float("nan")
        precision = np.divide(tp, alerts, out=np.zeros_like(tp), where=alerts > 0)
        recall = tp / tp[-1]
        return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def local_scorer(artifact: ModelArtifact) -> LocalXGBoostScorer:
    """The in-process scorer of the artifact, checked: this code computes the features it was trained on
    (its spec's version and widths, with its own label delay).

    Raises:
        FeatureSpecMismatchError: the model was trained on another feature spec (another version).
    """
    from fraudstream.contracts import ScoredBy
    from ml_model.scoring.local import LocalXGBoostScorer

    return LocalXGBoostScorer(artifact, scored_by=ScoredBy.BATCH).setup()


def _score(artifact: ModelArtifact, features: pd.DataFrame) -> npt.NDArray[np.float64]:
    """The artifact's booster on its own spec's matrix."""
    from ml_model.scoring.base import feature_matrix

    scorer = local_scorer(artifact)
    return scorer.predict(feature_matrix(features, scorer.spec))


def _metrics(rows: pd.DataFrame, scores: npt.NDArray[np.float64], threshold: float) -> dict[str, float]:
    from ml_model.evaluation import card_precision_at_k, classification_metrics

    metrics = classification_metrics(rows["is_fraud"].to_numpy(), scores, threshold)
    metrics["card_precision_at_100"] = card_precision_at_k(rows, scores)
    return metrics


def _daily_card_precision(rows: pd.DataFrame, scores: npt.NDArray[np.float64]) -> pd.Series:
    """Card precision@100 of each day (their mean is `card_precision_at_k` of the whole period)."""
    from ml_model.evaluation import card_precision_at_k

    day = _days(rows)
    return pd.Series(
        {d: card_precision_at_k(rows.loc[day == d], scores[(day == d).to_numpy()]) for d in sorted(day.unique())},
        dtype=np.float64,
    )


def _days(rows: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(rows["event_time"], utc=True).dt.strftime("%Y-%m-%d")


def _days_in_training(artifact: ModelArtifact, rows: pd.DataFrame) -> int:
    """Days of the period in [first fitted or validated day, train_end) of the model's card (0 when unknown)."""
    ranges = artifact.card.data_ranges
    starts = [ranges[k] for k in ("validation_fit_start", "train_start") if ranges.get(k)]
    end = ranges.get("train_end")
    if not starts or not end:
        return 0
    days = _days(rows).unique()
    return int(sum(1 for d in days if min(starts) <= d < end))


def _span(lake_set: LakeTrainingSet) -> str:
    return f"{lake_set.since or 'the lake start'}..{lake_set.until or 'the lake end'}"


def _period(lake_set: LakeTrainingSet, rows: pd.DataFrame, bucket: str) -> dict[str, Any]:
    times = pd.to_datetime(rows["event_time"], utc=True)
    history = pd.to_datetime(lake_set.transactions["event_time"], utc=True)
    fraud_cards = rows.loc[rows["is_fraud"] == 1, "card_id"].nunique()
    first_read = history.min().date()
    return {
        "since": lake_set.since.isoformat() if lake_set.since else times.min().date().isoformat(),
        "until": (lake_set.until or times.max().date()).isoformat(),
        "first_event": times.min().isoformat(),
        "last_event": times.max().isoformat(),
        "days": int(_days(rows).nunique()),
        "rows": len(rows),
        "frauds": int(rows["is_fraud"].sum()),
        "cards": int(rows["card_id"].nunique()),
        "fraud_cards": int(fraud_cards),
        "history_from": first_read.isoformat(),
        "full_history_from": (first_read + timedelta(days=lake_set.history_days)).isoformat(),
        "label_cutoff": lake_set.label_cutoff.isoformat(),
        "label_delay_days": lake_set.label_delay_days,
        "left_out_label_pending": lake_set.left_out_pending,
        "lake": f"s3://{bucket}",
    }


def write_outputs(comparison: Comparison, out: Path) -> tuple[Path, Path]:
    """`compare.json` and `compare.html` (the metrics side by side, the verdict, both models'
    precision-recall curves and daily card precision@100) in `out`.

    Returns:
        The two files.
    """
    out.mkdir(parents=True, exist_ok=True)
    report = out / COMPARE_JSON
    report.write_text(json.dumps(comparison.to_dict(), indent=2) + "\n", encoding="utf-8")
    page = out / COMPARE_HTML
    page.write_text(_page(comparison), encoding="utf-8")
    return report, page


def _page(comparison: Comparison) -> str:
    from fraudstream.report import figure, html_page
    from ml_model.plots import plot_daily_card_precision, plot_precision_recall_curves

    champion, challenger = comparison.champion, comparison.challenger
    names = {m.role: f"{m.role} {m.artifact.model_version}" for m in (champion, challenger)}
    y = comparison.rows["is_fraud"].to_numpy()
    curves: Mapping[str, tuple[np.ndarray, float]] = {
        names[m.role]: (m.scores, m.artifact.card.threshold) for m in (champion, challenger)
    }
    days = [str(d) for d in champion.daily_card_precision.index]
    daily = {names[m.role]: m.daily_card_precision.to_numpy() for m in (champion, challenger)}
    period = comparison.period
    figures = [
        figure(
            lambda ax: plot_precision_recall_curves(ax, y, curves),
            has_data=True,
            title="precision-recall",
            alt=f"Precision-recall curves of both models on {period['rows']:,} transactions, thresholds marked",
            caption="Both models over the same labelled transactions; the dots are each model's own alert threshold "
            "(its model card's).",
        ),
        figure(
            lambda ax: plot_daily_card_precision(ax, days, daily),
            has_data=len(days) > 0,
            title="card precision@100 per day",
            alt=f"Card precision@100 of both models on each of {len(days)} days",
            caption="Per day, each card's highest score; of the 100 highest cards, the share with a fraud that day. "
            "Dashed: the mean over the days.",
        ),
    ]
    differences = comparison.differences()
    head = "<tr><th>metric</th><th>champion</th><th>challenger</th><th>difference</th></tr>"
    body = "\n".join(
        f"<tr><th>{html.escape(m)}</th><td>{_cell(champion.metrics[m], count=m == 'alerts')}</td>"
        f"<td>{_cell(challenger.metrics[m], count=m == 'alerts')}</td>"
        f"<td>{_cell(differences[m], signed=True, count=m == 'alerts')}</td></tr>"
        for m in METRICS
    )
    thresholds = (
        f"<tr><th>threshold</th><td>{_cell(champion.metrics['threshold'])}</td>"
        f"<td>{_cell(challenger.metrics['threshold'])}</td><td></td></tr>"
    )
    facts = {
        "champion": f"{champion.artifact.model_version} ({champion.location})",
        "challenger": f"{challenger.artifact.model_version} ({challenger.location})",
        "period": f"{period['since']} .. {period['last_event'][:10]}: {period['rows']:,} labelled transactions, "
        f"{period['frauds']:,} frauds on {period['fraud_cards']:,} of {period['cards']:,} cards",
        "label cut-off": f"{period['label_cutoff']} (label delay {period['label_delay_days']:g} days)",
        "verdict": f"{comparison.verdict.value}: {_test_line(comparison.test)}",
        "rule": comparison.rule,
    }
    header = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts.items())
    notes = "".join(f"<p>note: {html.escape(n)}</p>\n" for n in comparison.notes)
    tables = f"<table>\n{header}\n</table>\n{notes}<table>\n{head}\n{body}\n{thresholds}\n</table>\n"
    title = f"fraudstream model compare: {champion.artifact.model_version} vs {challenger.artifact.model_version}"
    return html_page(title, tables + "\n".join(figures))


def _test_line(test: PairedBootstrap) -> str:
    return (
        f"average precision {test.difference:+.4f} (challenger - champion), {test.confidence:.0%} interval "
        f"[{test.low:+.4f}, {test.high:+.4f}] over {test.resamples} card resamples"
    )


def _cell(value: float, *, signed: bool = False, count: bool = False) -> str:
    if value != value:
        return "n/a"
    return f"{value:{'+' if signed else ''},.{0 if count else 4}f}"
