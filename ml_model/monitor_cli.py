"""`fraudstream monitor`: the model's health per day of the lake's transactions (issue 20, monitoring).

Reads `transactions/` and `labels/` of the lake (through boto3's configuration: the embedded
emulator, LocalStack or AWS), computes `ml_model.monitoring.daily_metrics` against the model card's
training reference, writes one Parquet file per day to `monitoring/dt=YYYY-MM-DD/` of the lake
(overwritten on a re-run), an HTML page with plots, and prints one line per finding.
"""

from __future__ import annotations

import html
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from ml_model.exceptions import ModelError
from ml_model.monitoring import MONITORING_PREFIX, PSI_EPSILON, REFERENCE_BINS

if TYPE_CHECKING:
    import pandas as pd

    from ml_model.artifact import ModelCard

__all__ = ["MonitoringError", "monitor", "monitoring_schema", "read_lake", "write_daily"]

MONITORING_FILE: Final = "monitoring.parquet"
_TRANSACTION_COLUMNS: Final = ("dt", "transaction_id", "card_id", "event_time", "score", "is_alert", "scored_by")


class MonitoringError(ModelError):
    """Raised when there is nothing to monitor, or the model's card cannot be monitored against."""


def _day(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date: give YYYY-MM-DD", param_hint=option) from None


def read_lake(
    bucket: str, filesystem: Any, feature_names: list[str], *, since: str | None, until: str | None
) -> tuple[pd.DataFrame, set[str], Any]:
    """The scored transactions of the days in [since, until], the ids labelled fraud, and the newest
    label_time (None without labels).

    Raises:
        MonitoringError: no transaction in the lake (or in the days asked for).
    """
    from fraudstream.lake import TRANSACTIONS
    from fraudstream.query import lake_connection

    stored = set(TRANSACTIONS.schema.names)
    columns = [*_TRANSACTION_COLUMNS, *(n for n in feature_names if n in stored and n not in _TRANSACTION_COLUMNS)]
    where = []
    params: list[str] = []
    if since is not None:
        where.append("dt >= ?")
        params.append(since)
    if until is not None:
        where.append("dt <= ?")
        params.append(until)
    con = lake_connection(bucket, filesystem)
    try:
        # The columns are the lake schema's own names; the days are bound parameters.
        sql = f"SELECT {', '.join(columns)} FROM transactions"  # noqa: S608
        sql += f" WHERE {' AND '.join(where)}" if where else ""
        transactions = con.execute(sql, params).df()
        fraud_ids = {
            str(r[0]) for r in con.execute("SELECT DISTINCT transaction_id FROM labels WHERE is_fraud <> 0").fetchall()
        }
        newest = con.execute("SELECT max(label_time) FROM labels").fetchone()
    finally:
        con.close()
    if transactions.empty:
        days = f" from {since or 'the start'} to {until or 'the end'}" if since or until else ""
        raise MonitoringError(
            f"no scored transactions in the lake s3://{bucket}/transactions/{days}: nothing to monitor"
        )
    return transactions, fraud_ids, newest[0] if newest else None


def write_daily(daily: pd.DataFrame, bucket: str, filesystem: Any, *, model_version: str) -> list[str]:
    """One Parquet file per day, `monitoring/dt=YYYY-MM-DD/monitoring.parquet`, replaced on a re-run.

    Returns:
        The paths written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    computed_at = datetime.now(UTC)
    schema = monitoring_schema(daily.columns)
    paths = []
    for _, row in daily.iterrows():
        dt = str(row["dt"])
        record = {k: (None if k == "frauds" and (v is None or v != v) else v) for k, v in row.items() if k != "dt"}
        record |= {"model_version": model_version, "computed_at": computed_at}
        table = pa.Table.from_pylist([record], schema=schema)
        path = f"{bucket}/{MONITORING_PREFIX}dt={dt}/{MONITORING_FILE}"
        with filesystem.open_output_stream(path) as out:
            pq.write_table(table, out)
        paths.append(path)
    return paths


def monitoring_schema(columns: Any) -> Any:
    """The schema of a monitoring file, the same for every day (whether its labels are known or not):
    the model version, the figures of `daily_metrics` (counts int64, `labels_known` bool, the rest
    float64; `dt` is the partition) and when they were computed."""
    import pyarrow as pa

    types = {"rows": pa.int64(), "frauds": pa.int64(), "labels_known": pa.bool_()}
    return pa.schema(
        [
            pa.field("model_version", pa.string()),
            *(pa.field(c, types.get(c, pa.float64())) for c in columns if c != "dt"),
            pa.field("computed_at", pa.timestamp("us", tz="UTC")),
        ]
    )


def monitor(
    since: Annotated[
        str | None, typer.Option(help="First day (YYYY-MM-DD, the dt partition) [default: the lake's first].")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Last day (YYYY-MM-DD) [default: the lake's last].")] = None,
    out: Annotated[Path, typer.Option(help="Folder of the HTML page (monitoring.html).")] = Path("monitoring"),
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="The model whose card is monitored against: a folder holding model.tar.gz, the tarball or an s3:// "
            "URI [default: the stream's model, FRAUD_PROCESSOR__MODEL_DIR, else 'model'].",
        ),
    ] = None,
    psi_threshold: Annotated[
        float, typer.Option("--psi-threshold", help="A feature's or the score's PSI above this is a drift finding.")
    ] = 0.2,
    alert_rate_ratio: Annotated[
        float,
        typer.Option(help="An alert rate more than this many times the first day's (or below 1/this) is a finding."),
    ] = 2.0,
    precision_drop: Annotated[
        float, typer.Option(help="Realised precision below the card's test precision by more than this is a finding.")
    ] = 0.1,
) -> None:
    """Monitor the model in the stream, per day (dt) of the lake's scored transactions.

    Per day: rows scored, alert rate, score quantiles (p50, p90, p99), the drift of every feature and of
    the score against the model card's training reference, the fallback share (rows scored_by
    fallback: the in-process model because the endpoint failed), and, for days whose labels are known
    (the whole day at least the label delay of the card's feature spec before the newest label_time in
    labels/), realised precision and recall of is_alert against the chargebacks, and card
    precision@100 (per day, the 100 cards with the highest score: the share with a fraud).

    Drift is the population stability index over the reference's bins (10 training quantiles,
    deduplicated, plus a bin of missing values): PSI = sum (a - e) * ln(a / e), with e the training
    share and a the day's share of each bin; empty bins count as 1e-4. Below 0.1 is stable, above 0.2
    a significant shift.

    Writes monitoring/dt=YYYY-MM-DD/monitoring.parquet to the lake (one file per day, replaced on a
    re-run), OUT/monitoring.html (PSI per feature over days, alert rate, realised precision and
    recall), and prints one line per finding: "DAY drift|alert-rate|precision: what crossed what".
    """
    import numpy as np

    from fraudstream.aws import s3_filesystem
    from fraudstream.config import ResourceSettings
    from ml_model.features import FEATURE_SPEC
    from ml_model.model_store import load_model_at
    from ml_model.monitoring import Thresholds, daily_metrics, findings, labels_known_through

    since, until = _day(since, "--since"), _day(until, "--until")
    if since and until and since > until:
        raise typer.BadParameter(f"--since {since} is after --until {until}")
    if model is None:
        from processor.config import ProcessorSettings

        model = ProcessorSettings().model_dir or "model"
    card = load_model_at(model).card
    if not card.reference:
        raise MonitoringError(
            f"model {card.model_version} ({model}) has no training reference in its card (trained before cards "
            "recorded one): retrain it, or give --model a newer one"
        )
    spec = card.spec() or FEATURE_SPEC
    bucket = ResourceSettings().lake_bucket
    filesystem = s3_filesystem()
    transactions, fraud_ids, newest = read_lake(
        bucket, filesystem, list(card.reference["features"]), since=since, until=until
    )
    through = labels_known_through(newest, spec.label_delay_days)
    daily = daily_metrics(transactions, card, fraud_ids=fraud_ids, labels_through=through)
    write_daily(daily, bucket, filesystem, model_version=card.model_version)
    out.mkdir(parents=True, exist_ok=True)
    page = write_page(daily, card, out / "monitoring.html")
    thresholds = Thresholds(psi=psi_threshold, alert_rate_ratio=alert_rate_ratio, precision_drop=precision_drop)
    found = findings(daily, card, thresholds)
    known = int(np.sum(daily["labels_known"]))
    typer.echo(
        f"monitored {len(daily)} day(s) {daily['dt'].iloc[0]}..{daily['dt'].iloc[-1]}, {int(daily['rows'].sum()):,} "
        f"rows, model {card.model_version}; labels known for {known} day(s); "
        f"s3://{bucket}/{MONITORING_PREFIX}, {page}; {len(found)} finding(s)"
    )
    for finding in found:
        typer.echo(finding.line())


def write_page(daily: pd.DataFrame, card: ModelCard, path: Path) -> Path:
    """The HTML page: the per-day table and three plots (inlined PNGs, as the demo's report)."""
    import numpy as np

    from fraudstream.report import _figure, html_page

    days = np.arange(len(daily))
    labels = list(daily["dt"])
    psi_columns = [c for c in daily.columns if c.startswith("psi__")]
    known = daily["labels_known"].to_numpy(dtype=bool)

    def _ticks(ax: Any) -> None:
        ax.set_xticks(days, labels, rotation=45, ha="right", fontsize=7)

    def psi_plot(ax: Any) -> None:
        for column in psi_columns:
            ax.plot(days, daily[column], marker=".", linewidth=1, alpha=0.7, label=column.removeprefix("psi__"))
        ax.plot(days, daily["psi_score"], marker="o", color="k", linewidth=2, label="score")
        ax.axhline(0.2, color="C3", linestyle="--")
        ax.set(ylabel="PSI", title="drift per feature (PSI vs training)")
        ax.legend(fontsize=5, ncol=3, loc="upper left")
        _ticks(ax)

    def alert_plot(ax: Any) -> None:
        ax.plot(days, daily["alert_rate"] * 100, marker=".", label="alert rate")
        ax.plot(days, daily["fallback_share"] * 100, marker=".", label="fallback share")
        ax.set(ylabel="% of rows", title="alert rate and fallback share", ylim=(0, None))
        ax.legend()
        _ticks(ax)

    def realised_plot(ax: Any) -> None:
        ax.plot(days[known], daily["precision"][known], marker=".", label="precision")
        ax.plot(days[known], daily["recall"][known], marker=".", label="recall")
        ax.plot(days[known], daily["card_precision_at_100"][known], marker=".", label="card precision@100")
        if "precision" in card.metrics:
            ax.axhline(card.metrics["precision"], color="C0", linestyle="--", label="card's test precision")
        ax.set(ylabel="share", title="realised precision and recall (labelled days)", ylim=(0, 1.05))
        ax.legend(fontsize=7)
        _ticks(ax)

    figures = [
        _figure(
            psi_plot,
            has_data=len(daily) > 0,
            title="drift per feature",
            alt=f"PSI of {len(psi_columns)} features and of the score per day, threshold 0.2",
            caption=f"Population stability index against the training reference ({REFERENCE_BINS} quantile bins "
            f"and missing values, empty bins {PSI_EPSILON}); the dashed line is 0.2.",
        ),
        _figure(
            alert_plot,
            has_data=len(daily) > 0,
            title="alert rate",
            alt="Alert rate and fallback share per day",
            caption="Share of rows alerting (is_alert) and scored by the in-process fallback, per day.",
        ),
        _figure(
            realised_plot,
            has_data=bool(known.any()),
            title="realised precision and recall",
            alt=f"Realised precision, recall and card precision@100 on {int(known.sum())} labelled days",
            caption="Against the chargebacks of labels/, on days whose labels are known (label delay passed).",
        ),
    ]
    shown = ["dt", "rows", "alert_rate", "fallback_share", "score_p50", "score_p99", "psi_score", "precision", "recall"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in shown)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(row[c]))}</td>" for c in shown) + "</tr>"
        for _, row in daily.iterrows()
    )
    title = f"fraudstream monitoring: model {card.model_version}"
    table = f"<table>\n<tr>{head}</tr>\n{body}\n</table>\n"
    path.write_text(html_page(title, table + "".join(figures)), encoding="utf-8")
    return path


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:.4f}"
    return str(value)
