"""`fraudstream monitor`: the model's health per day of the lake's transactions (issue 20, monitoring).

Reads `transactions/` and `labels/` of the lake with pyarrow's S3 filesystem (configured as boto3 is:
the embedded emulator, LocalStack or AWS), one day at a time, in batches of the columns it needs
(`ml_model.monitoring.day_metrics` against the model card's training reference: memory bounded
whatever a day's size); writes one Parquet file per day to `monitoring/dt=YYYY-MM-DD/` of the lake
(overwritten on a re-run; the schema is the core's `fraudstream.monitoring_table.MONITORING`), an
HTML page with plots, and prints one line per finding. The scheduled job on AWS
(`ml_model.monitor_job`) computes the same days with the same functions.
"""

from __future__ import annotations

import html
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from fraudstream.monitoring_table import MONITORING, MONITORING_FILE
from ml_model.exceptions import ModelError
from ml_model.monitoring import MONITORING_PREFIX, PSI_EPSILON, REFERENCE_BINS

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import pandas as pd
    import pyarrow as pa

    from ml_model.artifact import ModelCard
    from ml_model.monitoring import BatchSource

__all__ = [
    "MONITORING_FILE",
    "MonitoringError",
    "day_scanner",
    "fraud_ids_of_day",
    "lake_days",
    "monitor",
    "monitor_days",
    "monitoring_schema",
    "newest_label_time",
    "write_daily",
]

logger = logging.getLogger(__name__)

# How the day's rows are read: batches of this many rows, a few batches and files ahead. With the
# ~35 columns read, that bounds the rows in flight to a few hundred MB.
SCAN_BATCH_ROWS: Final = 128 * 1024
_BATCH_READAHEAD: Final = 2
_FRAGMENT_READAHEAD: Final = 2


class MonitoringError(ModelError):
    """Raised when there is nothing to monitor, or the model's card cannot be monitored against."""


def _day(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date: give YYYY-MM-DD", param_hint=option) from None


def _partition_days(filesystem: Any, root: str) -> list[str]:
    """The `dt=` partitions directly under `root`, sorted (none when it does not exist)."""
    from pyarrow import fs

    infos = filesystem.get_file_info(fs.FileSelector(root, allow_not_found=True))
    return sorted(
        i.base_name.removeprefix("dt=")
        for i in infos
        if i.type == fs.FileType.Directory and i.base_name.startswith("dt=")
    )


def lake_days(bucket: str, filesystem: Any, *, since: str | None = None, until: str | None = None) -> list[str]:
    """The days (dt partitions) of the lake's `transactions/` in [since, until], in order."""
    from fraudstream.lake import TRANSACTIONS

    days = _partition_days(filesystem, f"{bucket}/{TRANSACTIONS.prefix}".rstrip("/"))
    return [d for d in days if (since is None or d >= since) and (until is None or d <= until)]


def day_scanner(bucket: str, filesystem: Any, dt: str) -> BatchSource:
    """The scored transactions of one day (`transactions/dt=DAY/`), read in batches of the columns asked
    for that the lake stores; every call reads them again."""
    import pyarrow.dataset as ds

    from fraudstream.lake import TRANSACTIONS

    # The lake's schema, given: a file written before a column existed reads it as nulls.
    dataset = ds.dataset(
        f"{bucket}/{TRANSACTIONS.prefix}dt={dt}", schema=TRANSACTIONS.schema, filesystem=filesystem, format="parquet"
    )

    def scan(columns: Sequence[str]) -> Iterable[pa.RecordBatch]:
        wanted = [c for c in dict.fromkeys(columns) if c in TRANSACTIONS.schema.names]
        batches: Iterable[pa.RecordBatch] = dataset.to_batches(
            columns=wanted,
            batch_size=SCAN_BATCH_ROWS,
            batch_readahead=_BATCH_READAHEAD,
            fragment_readahead=_FRAGMENT_READAHEAD,
        )
        return batches

    return scan


def _labels(bucket: str, filesystem: Any) -> Any:
    """The lake's labels/ as a dataset partitioned by dt."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    from fraudstream.lake import LABELS

    return ds.dataset(
        f"{bucket}/{LABELS.prefix}".rstrip("/"),
        schema=pa.schema([*LABELS.schema, *_dt_schema()]),
        filesystem=filesystem,
        format="parquet",
        partitioning=ds.partitioning(flavor="hive", schema=_dt_schema()),
    )


def _dt_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([pa.field("dt", pa.string())])


def newest_label_time(bucket: str, filesystem: Any) -> datetime | None:
    """The newest `label_time` of the lake's `labels/` (in its newest day's partition); None without labels."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from fraudstream.lake import LABELS

    days = _partition_days(filesystem, f"{bucket}/{LABELS.prefix}".rstrip("/"))
    if not days:
        return None
    newest = _labels(bucket, filesystem).to_table(columns=["label_time"], filter=ds.field("dt") == days[-1])
    value: datetime | None = pc.max(newest["label_time"]).as_py()
    return value


def fraud_ids_of_day(bucket: str, filesystem: Any, dt: str) -> pa.Array:
    """The ids of the day's transactions labelled fraud: the chargebacks (`is_fraud`) whose transaction's
    event time falls on `dt`, read from the label days from `dt` on (a label comes after its transaction)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from fraudstream.lake import LABELS

    if not _partition_days(filesystem, f"{bucket}/{LABELS.prefix}".rstrip("/")):
        return pa.array([], pa.string())
    start = datetime.combine(date.fromisoformat(dt), datetime.min.time(), tzinfo=UTC)
    where = (
        (ds.field("dt") >= dt)
        & (ds.field("tx_event_time") >= pa.scalar(start, pa.timestamp("us", tz="UTC")))
        & (ds.field("tx_event_time") < pa.scalar(start + timedelta(days=1), pa.timestamp("us", tz="UTC")))
        & (ds.field("is_fraud") != 0)
    )
    found = _labels(bucket, filesystem).to_table(columns=["transaction_id"], filter=where)
    return pc.unique(found["transaction_id"].combine_chunks()).cast(pa.string())


def monitor_days(
    bucket: str, filesystem: Any, card: ModelCard, days: Sequence[str], *, labels_through: date | None
) -> pd.DataFrame:
    """`daily_metrics` of the lake's days, one day at a time (`day_metrics` over `day_scanner`); a day
    without rows is left out.

    Args:
        bucket: the lake bucket.
        filesystem: a pyarrow filesystem holding it.
        card: the model's card, with its reference.
        days: the days to compute.
        labels_through: the last day whose labels are known (`labels_known_through`); None: none is.
    """
    import pandas as pd
    import pyarrow as pa

    from ml_model.monitoring import day_metrics

    rows = []
    for dt in days:
        known = labels_through is not None and date.fromisoformat(dt) <= labels_through
        fraud_ids = fraud_ids_of_day(bucket, filesystem, dt) if known else pa.array([], pa.string())
        row = day_metrics(dt, day_scanner(bucket, filesystem, dt), card, fraud_ids=fraud_ids, labels_known=known)
        if row is not None:
            rows.append(row)
    return pd.DataFrame(rows)


def write_daily(daily: pd.DataFrame, bucket: str, filesystem: Any, *, model_version: str) -> list[str]:
    """One Parquet file per day, `monitoring/dt=YYYY-MM-DD/monitoring.parquet`, replaced on a re-run.

    Every file has the monitoring table's schema (`monitoring_schema`): a feature of the card that the
    table has no column for is left out (logged), a column of the table the figures lack is null.

    Returns:
        The paths written.
    """
    import math

    import pyarrow as pa
    import pyarrow.parquet as pq

    computed_at = datetime.now(UTC)
    schema = monitoring_schema()
    unknown = sorted(set(daily.columns) - set(schema.names) - {"dt"})
    if unknown:
        logger.warning("the monitoring table has no column for %s: left out of monitoring/", ", ".join(unknown))
    integers = {f.name for f in schema if pa.types.is_integer(f.type)}
    paths = []
    for row in daily.to_dict("records"):
        dt = str(row["dt"])
        record = {name: row.get(name) for name in schema.names}
        for name in integers:  # pandas holds a missing count as NaN
            value = record[name]
            record[name] = None if value is None or (isinstance(value, float) and math.isnan(value)) else int(value)
        record |= {"model_version": model_version, "computed_at": computed_at}
        table = pa.Table.from_pylist([record], schema=schema)
        path = f"{bucket}/{MONITORING_PREFIX}dt={dt}/{MONITORING_FILE}"
        with filesystem.open_output_stream(path) as out:
            pq.write_table(table, out)
        paths.append(path)
    return paths


def monitoring_schema() -> pa.Schema:
    """The schema of a monitoring file, the same for every day (whether its labels are known or not):
    the core's monitoring table (`fraudstream.monitoring_table.MONITORING`; `dt` is the partition)."""
    schema: pa.Schema = MONITORING.schema
    return schema


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
    recall_drop: Annotated[
        float, typer.Option(help="Realised recall below the card's test recall by more than this is a finding.")
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
    a significant shift. The PSI of is_weekend is stored but is no finding: every row of a day shares
    its value, so a day's PSI against the training days' mix is high every day.

    Writes monitoring/dt=YYYY-MM-DD/monitoring.parquet to the lake (one file per day, replaced on a
    re-run), OUT/monitoring.html (PSI per feature over days, alert rate, realised precision and
    recall), and prints one line per finding: "DAY drift|alert-rate|precision|recall: what crossed what".
    """
    import numpy as np

    from fraudstream.aws import s3_filesystem
    from fraudstream.config import ResourceSettings
    from ml_model.features import FEATURE_SPEC
    from ml_model.model_store import load_model_at, require_bucket
    from ml_model.monitoring import Thresholds, findings, labels_known_through

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
    require_bucket(bucket)
    filesystem = s3_filesystem()
    days = lake_days(bucket, filesystem, since=since, until=until)
    daily = monitor_days(
        bucket,
        filesystem,
        card,
        days,
        labels_through=labels_known_through(newest_label_time(bucket, filesystem), spec.label_delay_days),
    )
    if daily.empty:
        range_ = f" from {since or 'the start'} to {until or 'the end'}" if since or until else ""
        raise MonitoringError(
            f"no scored transactions in the lake s3://{bucket}/transactions/{range_}: nothing to monitor"
        )
    write_daily(daily, bucket, filesystem, model_version=card.model_version)
    out.mkdir(parents=True, exist_ok=True)
    page = write_page(daily, card, out / "monitoring.html")
    thresholds = Thresholds(
        psi=psi_threshold, alert_rate_ratio=alert_rate_ratio, precision_drop=precision_drop, recall_drop=recall_drop
    )
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

    from fraudstream.report import figure, html_page

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
        figure(
            psi_plot,
            has_data=len(daily) > 0,
            title="drift per feature",
            alt=f"PSI of {len(psi_columns)} features and of the score per day, threshold 0.2",
            caption=f"Population stability index against the training reference ({REFERENCE_BINS} quantile bins "
            f"and missing values, empty bins {PSI_EPSILON}); the dashed line is 0.2.",
        ),
        figure(
            alert_plot,
            has_data=len(daily) > 0,
            title="alert rate",
            alt="Alert rate and fallback share per day",
            caption="Share of rows alerting (is_alert) and scored by the in-process fallback, per day.",
        ),
        figure(
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
