"""The demo's HTML report: one self-contained file (PNGs inlined as data: URIs, inline CSS, no
network) with the run's headline figures and five plots."""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.figure import Figure

from ml_model.plots import plot_precision_recall, plot_score_histogram

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from matplotlib.axes import Axes

__all__ = ["figure", "html_page", "write_report"]

TRANSACTION_COLUMNS: Final = ("event_time", "score", "is_fraud", "arrival_time", "processed_at")
BATCH_COLUMNS: Final = ("finished_at", "rows_in", "rows_per_s")

# Tells a headless browser (and the report test) how many images really decoded.
_COUNT_IMAGES: Final = """window.addEventListener("load", () => {
  const loaded = Array.from(document.images).filter((img) => img.naturalWidth > 0).length;
  document.body.setAttribute("data-images-loaded", String(loaded));
});"""

_CSS: Final = """body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
table { border-collapse: collapse; margin-bottom: 2rem; }
th, td { padding: 0.25rem 1rem; border-bottom: 1px solid #ddd; text-align: left; }
td { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 0 0 2rem; }
img { max-width: 100%; }
figcaption { color: #555; font-size: 0.9rem; }"""


def write_report(
    transactions: pd.DataFrame,
    batches: pd.DataFrame,
    *,
    threshold: float,
    path: Path,
    title: str = "fraudstream demo",
) -> Path:
    """Write the demo's HTML report.

    Args:
        transactions: one row per scored transaction: `event_time`, `score`, `is_fraud` (the generator's
            truth), `arrival_time` and `processed_at` (timestamps, UTC).
        batches: one row per processor micro-batch: `finished_at` (UTC), `rows_in` and `rows_per_s`.
        threshold: the model's alert threshold (an alert is `score >= threshold`).
        path: the HTML file to write.
        title: the page's title and heading.

    Returns:
        `path`.

    Raises:
        ValueError: a required column is missing from `transactions` or `batches`.
    """
    _require_columns(transactions, TRANSACTION_COLUMNS, "transactions")
    _require_columns(batches, BATCH_COLUMNS, "batches")
    y = transactions["is_fraud"].to_numpy(dtype=bool)
    scores = transactions["score"].to_numpy(dtype=np.float64)
    latency = pd.to_datetime(transactions["processed_at"], utc=True) - pd.to_datetime(
        transactions["arrival_time"], utc=True
    )
    latency_ms = latency.dt.total_seconds().to_numpy(dtype=np.float64) * 1000
    alert = scores >= threshold
    tp = int((alert & y).sum())
    p50, p99 = np.percentile(latency_ms, [50, 99]) if len(latency_ms) else (np.nan, np.nan)

    header = {
        "transactions": f"{len(y):,}",
        "frauds (true)": f"{int(y.sum()):,}",
        f"alerts (score ≥ {threshold:.3f})": f"{int(alert.sum()):,}",
        "precision": _ratio(tp, int(alert.sum())),
        "recall": _ratio(tp, int(y.sum())),
        "latency p50": _ms(p50),
        "latency p99": _ms(p99),
    }
    hourly = pd.DataFrame({"hour": pd.to_datetime(transactions["event_time"], utc=True).dt.floor("h"), "fraud": y})
    per_hour = hourly.groupby("hour")["fraud"].agg(["size", "mean"])
    figures = [
        figure(
            lambda ax: _fraud_rate(ax, per_hour),
            has_data=len(per_hour) > 0,
            title="fraud rate over time",
            alt=f"Hourly transactions and true fraud share over {len(per_hour)} hours of event time",
            caption="Transactions per hour of event time (bars) and the share of them that are fraud (line).",
        ),
        figure(
            lambda ax: plot_score_histogram(ax, y, scores, threshold),
            has_data=len(y) > 0,
            title="scores by true label",
            alt="Histogram of model scores for genuine and fraudulent transactions, log-scaled counts",
            caption=f"Scores by true label; the dashed line is the alert threshold {threshold:.3f}.",
        ),
        figure(
            lambda ax: plot_precision_recall(ax, y, scores, threshold),
            has_data=bool(y.any()),
            title="precision-recall",
            alt=f"Precision-recall curve with the point at threshold {threshold:.3f} marked",
            caption="Precision against recall over all thresholds; the dot is the alert threshold. "
            "Needs at least one fraud.",
        ),
        figure(
            lambda ax: _latency(ax, latency_ms, p50, p99),
            has_data=len(latency_ms) > 0,
            title="latency",
            alt=f"Histogram of per-transaction latency in milliseconds, p50 {header['latency p50']}, "
            f"p99 {header['latency p99']}",
            caption="Latency from arrival in the stream to the score being written (processed_at - arrival_time).",
        ),
        figure(
            lambda ax: _throughput(ax, batches),
            has_data=len(batches) > 0,
            title="throughput per micro-batch",
            alt=f"Processor throughput in rows per second for each of {len(batches)} micro-batches "
            f"({int(batches['rows_in'].sum()):,} rows in all)",
            caption="Rows per second of each processor micro-batch, at the time the batch finished.",
        ),
    ]
    rows = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in header.items())
    body = f"<table>\n{rows}\n</table>\n" + "\n".join(figures)
    path.write_text(html_page(title, body, script=_COUNT_IMAGES), encoding="utf-8")
    return path


def html_page(title: str, body: str, *, script: str | None = None) -> str:
    """A self-contained HTML page in the report's style: `title` as its heading, then `body` (HTML)."""
    head_script = f"<script>\n{script}\n</script>\n" if script else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
{_CSS}
</style>
{head_script}</head>
<body>
<h1>{html.escape(title)}</h1>
{body}
</body>
</html>
"""


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    for column in columns:
        if column not in frame.columns:
            raise ValueError(f"{name} has no column {column!r} (required: {', '.join(columns)})")


def _ratio(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator:.3f}" if denominator else "n/a"


def _ms(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{value:,.1f} ms"


def figure(draw: Callable[[Axes], None], *, has_data: bool, title: str, alt: str, caption: str) -> str:
    """One plot as an HTML <figure> with an inlined PNG; "no data" in place of the plot when there is nothing
    to draw."""
    # A bare Figure renders PNGs with the Agg canvas and, unlike pyplot, keeps no global state to close.
    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    # Fixed margins that fit every plot's labels (a right-hand axis too): a tight layout would draw each
    # figure twice.
    fig.subplots_adjust(left=0.12, right=0.9, top=0.9, bottom=0.15)
    if has_data:
        with rc_context({"date.converter": "concise"}):  # date ticks that don't overlap
            draw(ax)
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", fontsize=14, transform=ax.transAxes)
        ax.set(title=title, xticks=[], yticks=[])
        alt = f"{title}: no data"
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    png = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{png}" alt="{html.escape(alt)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _utc_naive(times: pd.Series | pd.Index) -> np.ndarray:
    """UTC timestamps as numpy datetime64, which matplotlib plots without pandas' converters."""
    return np.asarray(pd.DatetimeIndex(pd.to_datetime(times, utc=True)).tz_localize(None), dtype="datetime64[ns]")


def _fraud_rate(ax: Axes, per_hour: pd.DataFrame) -> None:
    hours = _utc_naive(per_hour.index)
    bars = ax.bar(hours, per_hour["size"], width=1 / 24, align="edge", alpha=0.5, label="transactions")
    ax.set(xlabel="event time (UTC)", ylabel="transactions per hour", title="fraud rate over time")
    share = ax.twinx()
    (line,) = share.plot(
        hours + np.timedelta64(30, "m"), per_hour["mean"] * 100, color="C3", marker=".", label="fraud share"
    )
    share.set_ylabel("fraud share (%)")
    share.set_ylim(bottom=0)
    ax.legend(handles=[bars, line], loc="upper left", framealpha=0.9)


def _latency(ax: Axes, latency_ms: np.ndarray, p50: float, p99: float) -> None:
    ax.hist(latency_ms, bins=50, alpha=0.7)
    ax.axvline(p50, color="k", linestyle="--", label=f"p50 {p50:,.1f} ms")
    ax.axvline(p99, color="C3", linestyle="--", label=f"p99 {p99:,.1f} ms")
    ax.set(xlabel="latency (ms)", ylabel="transactions", title="latency")
    ax.legend()


def _throughput(ax: Axes, batches: pd.DataFrame) -> None:
    ax.plot(_utc_naive(batches["finished_at"]), batches["rows_per_s"], marker=".")
    ax.set(xlabel="batch finished (UTC)", ylabel="rows/s", title="throughput per micro-batch", ylim=(0, None))
