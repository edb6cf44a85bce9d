"""PNG plots of a training run: precision-recall and ROC curves, score histograms by true label."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["write_plots"]


def write_plots(y_true: np.ndarray, scores: np.ndarray, threshold: float, out: Path) -> list[Path]:
    """Write the test period's curves and histograms to `out`; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    y = np.asarray(y_true).astype(bool)
    paths = []
    precision, recall, _ = precision_recall_curve(y, scores)
    fpr, tpr, _ = roc_curve(y, scores)
    for name, (xs, ys, xlabel, ylabel) in {
        "precision_recall.png": (recall, precision, "recall", "precision"),
        "roc.png": (fpr, tpr, "false positive rate", "true positive rate"),
    }.items():
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(xs, ys)
        ax.set(xlabel=xlabel, ylabel=ylabel, title=name.removesuffix(".png").replace("_", "-"))
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        paths.append(out / name)
    fig, ax = plt.subplots(figsize=(5, 4))
    bins = np.linspace(0, 1, 41).tolist()
    ax.hist(scores[~y], bins=bins, alpha=0.6, label="genuine", log=True)
    ax.hist(scores[y], bins=bins, alpha=0.6, label="fraud", log=True)
    ax.axvline(threshold, color="k", linestyle="--", label="threshold")
    ax.set(xlabel="score", ylabel="transactions (log)", title="scores by true label")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "score_histogram.png", dpi=100)
    plt.close(fig)
    paths.append(out / "score_histogram.png")
    return paths
