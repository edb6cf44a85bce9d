"""PNG plots of a training run: precision-recall and ROC curves, score histograms by true label; and
the side-by-side plots of `model compare` (both models' precision-recall curves, their daily card
precision@k)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from matplotlib.axes import Axes

__all__ = [
    "plot_daily_card_precision",
    "plot_precision_recall",
    "plot_precision_recall_curves",
    "plot_score_histogram",
    "write_plots",
]


def plot_precision_recall(ax: Axes, y_true: np.ndarray, scores: np.ndarray, threshold: float | None = None) -> None:
    """Draw the precision-recall curve on `ax`, with the point of `score >= threshold` marked when given.

    `y_true` needs at least one fraud: without one, recall is undefined.
    """
    from sklearn.metrics import precision_recall_curve

    y = np.asarray(y_true).astype(bool)
    precision, recall, _ = precision_recall_curve(y, scores)
    ax.plot(recall, precision)
    if threshold is not None:
        alert = np.asarray(scores) >= threshold
        tp = float((alert & y).sum())
        at_precision = tp / float(alert.sum()) if alert.any() else 1.0  # sklearn's convention for no alerts
        ax.plot([tp / float(y.sum())], [at_precision], "o", color="k", label=f"threshold {threshold:.3f}")
        ax.legend()
    ax.set(xlabel="recall", ylabel="precision", title="precision-recall")


def plot_precision_recall_curves(ax: Axes, y_true: np.ndarray, models: Mapping[str, tuple[np.ndarray, float]]) -> None:
    """Draw several models' precision-recall curves over the same rows on `ax`, each with its average
    precision in the legend and the point of its own threshold marked.

    Args:
        ax: where to draw.
        y_true: the rows' labels (at least one fraud).
        models: per model name, its scores of the rows and its alert threshold.
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve

    y = np.asarray(y_true).astype(bool)
    for i, (name, (scores, threshold)) in enumerate(models.items()):
        color = f"C{i}"
        precision, recall, _ = precision_recall_curve(y, scores)
        ap = average_precision_score(y, scores)
        ax.plot(recall, precision, color=color, label=f"{name} (AP {ap:.3f})")
        alert = np.asarray(scores) >= threshold
        tp = float((alert & y).sum())
        at_precision = tp / float(alert.sum()) if alert.any() else 1.0  # sklearn's convention for no alerts
        ax.plot([tp / float(y.sum())], [at_precision], "o", color=color, label=f"{name} threshold {threshold:.3f}")
    ax.set(xlabel="recall", ylabel="precision", title="precision-recall", ylim=(0, 1.05))
    ax.legend(fontsize=7)


def plot_daily_card_precision(ax: Axes, days: Sequence[str], values: Mapping[str, np.ndarray], k: int = 100) -> None:
    """Draw each model's card precision@k per day on `ax`, with its mean over the days dashed.

    Args:
        ax: where to draw.
        days: the days (YYYY-MM-DD), oldest first.
        values: per model name, its card precision@k of each day.
        k: the cards checked per day (for the labels).
    """
    x = np.arange(len(days))
    for i, (name, daily) in enumerate(values.items()):
        color = f"C{i}"
        ax.plot(x, daily, marker="o", color=color, label=name)
        ax.axhline(float(np.mean(daily)), color=color, linestyle="--", linewidth=1, label=f"{name} mean")
    years = {d[:4] for d in days}
    # Days of one year as MM-DD: the full dates, rotated, would not fit below the axis.
    labels, year = ([d[5:] for d in days], f" ({years.pop()})") if len(years) == 1 else (list(days), "")
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
    ax.set(ylabel=f"card precision@{k}", title=f"card precision@{k} per day{year}", ylim=(0, 1.05))
    ax.legend(fontsize=7)


def plot_score_histogram(ax: Axes, y_true: np.ndarray, scores: np.ndarray, threshold: float) -> None:
    """Draw the scores of genuine and fraudulent transactions on `ax`, log-scaled counts, threshold dashed."""
    y = np.asarray(y_true).astype(bool)
    bins = np.linspace(0, 1, 41).tolist()
    ax.hist(scores[~y], bins=bins, alpha=0.6, label="genuine", log=True)
    ax.hist(scores[y], bins=bins, alpha=0.6, label="fraud", log=True)
    ax.axvline(threshold, color="k", linestyle="--", label="threshold")
    ax.set(xlabel="score", ylabel="transactions (log)", title="scores by true label")
    ax.legend()


def write_plots(y_true: np.ndarray, scores: np.ndarray, threshold: float, out: Path) -> list[Path]:
    """Write the test period's curves and histograms to `out`; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display
    import matplotlib.pyplot as plt

    y = np.asarray(y_true).astype(bool)
    plots: dict[str, Callable[[Axes], None]] = {
        "precision_recall.png": lambda ax: plot_precision_recall(ax, y, scores),
        "roc.png": lambda ax: _plot_roc(ax, y, scores),
        "score_histogram.png": lambda ax: plot_score_histogram(ax, y, scores, threshold),
    }
    paths = []
    for name, draw in plots.items():
        fig, ax = plt.subplots(figsize=(5, 4))
        draw(ax)
        # Fixed margins that fit the labels: tight_layout would draw each figure twice.
        fig.subplots_adjust(left=0.14, right=0.97, top=0.92, bottom=0.12)
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        paths.append(out / name)
    return paths


def _plot_roc(ax: Axes, y: np.ndarray, scores: np.ndarray) -> None:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, scores)
    ax.plot(fpr, tpr)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="roc")
