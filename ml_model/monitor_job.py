"""The scheduled model monitoring job (issue 20): `python -m ml_model.monitor_job`, which EventBridge
Scheduler starts on EMR Serverless once a day (`infrastructure/model_monitoring.py`).

A run computes, with the functions of `fraudstream monitor` (memory bounded per day), the days that
are due among the last `--lookback-days` complete days of the lake's `transactions/`:

- the days not monitored yet (typically yesterday), and
- the monitored days whose labels were not known then and are now (the label delay after the day:
  realised precision and recall need the chargebacks),

writes their `monitoring/dt=DAY/` files as the command does, and publishes their figures to
CloudWatch (`ml_model.monitor_metrics`): a day's drift, alert rate and fallback share when it is first
monitored, its realised precision, recall and card precision@100 when its labels become known, so that
an alarm sees each figure once. Every figure is published with the model version as its dimension and
without one (the series the alarms watch), timestamped with the run: a day's realised precision is
known days after the day, and an alarm only sees recent datapoints. The day itself is in the log line.
"""

from __future__ import annotations

import logging
import math
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from statistics import median
from typing import TYPE_CHECKING, Annotated, Any, Final, Protocol

import typer

from fraudstream.monitoring_table import MONITORING
from ml_model.monitor_metrics import DIMENSION, LABELLED_FIGURES, METRICS, NAMESPACE

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

    from ml_model.artifact import ModelCard

__all__ = ["CloudWatchClient", "JobResult", "due_days", "main", "metric_data", "publish", "read_monitored", "run"]

logger = logging.getLogger(__name__)

# PutMetricData takes at most 1,000 datums per request.
_PUT_LIMIT: Final = 1000
# The alert-rate change of a day is against the median of this many monitored days before it.
BASELINE_DAYS: Final = 7


# A PutMetricData datum (MetricName, Value, Unit, Timestamp, Dimensions).
MetricDatum = dict[str, Any]


class CloudWatchClient(Protocol):
    """What the job needs of boto3's CloudWatch client (the project has no stubs for it)."""

    def put_metric_data(self, *, Namespace: str, MetricData: list[MetricDatum]) -> Any: ...  # noqa: N803


@dataclass(frozen=True)
class JobResult:
    """What a run did: the days computed (first monitored, or again now that their labels are known)
    and the datums published."""

    new_days: list[str] = field(default_factory=list)
    labelled_days: list[str] = field(default_factory=list)
    datums: int = 0


def read_monitored(bucket: str, filesystem: Any) -> pd.DataFrame:
    """The lake's `monitoring/` table (one row per monitored day, `dt` included; empty when none)."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    from pyarrow import fs

    root = f"{bucket}/{MONITORING.prefix}".rstrip("/")
    schema = pa.schema([*MONITORING.schema, pa.field("dt", pa.string())])
    if filesystem.get_file_info(root).type == fs.FileType.NotFound:
        return schema.empty_table().to_pandas()
    dataset = ds.dataset(
        root,
        schema=schema,
        filesystem=filesystem,
        format="parquet",
        partitioning=ds.partitioning(pa.schema([pa.field("dt", pa.string())]), flavor="hive"),
    )
    table = dataset.to_table(columns=["dt", "model_version", "labels_known", "alert_rate"])
    return table.to_pandas().sort_values("dt", ignore_index=True)


def due_days(days: Sequence[str], monitored: pd.DataFrame, labels_through: date | None) -> tuple[list[str], list[str]]:
    """Which of `days` a run computes: those not monitored yet, and those monitored before their labels
    were known whose labels are known now.

    Returns:
        (new days, newly labelled days), each in order.
    """
    known = dict(zip(monitored["dt"], monitored["labels_known"].astype(bool), strict=True))
    new = [d for d in days if d not in known]
    labelled = [
        d
        for d in days
        if d in known and not known[d] and labels_through is not None and date.fromisoformat(d) <= labels_through
    ]
    return new, labelled


def _figures(row: dict[str, Any], card: ModelCard, baseline: float | None, *, first: bool) -> dict[str, float]:
    """A day's figures to publish (by `METRICS` key): the first ones if `first`, the realised ones if
    its labels are known; NaN and undefined ones left out."""
    figures: dict[str, float] = {}
    if first:
        from ml_model.monitoring import drift_psi

        psi = drift_psi(row)
        figures |= {k: float(row[k]) for k in ("rows", "alert_rate", "fallback_share", "psi_score")}
        if psi:
            figures["max_feature_psi"] = max(psi.values())
        if baseline:
            figures["alert_rate_change"] = float(row["alert_rate"]) / baseline
    if row["labels_known"]:
        figures |= {k: float(row[k]) for k in LABELLED_FIGURES - {"precision_drop"}}
        if "precision" in card.metrics:
            figures["precision_drop"] = float(card.metrics["precision"]) - float(row["precision"])
    return {k: v for k, v in figures.items() if not _nan(v)}


def _nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def metric_data(
    daily: pd.DataFrame,
    card: ModelCard,
    *,
    new_days: Sequence[str],
    history: pd.DataFrame,
    timestamp: datetime,
) -> list[MetricDatum]:
    """The CloudWatch datums of the computed days (module doc), and one log line per day.

    Args:
        daily: the computed days (`monitor_days`).
        card: the card monitored against.
        new_days: the days monitored for the first time (their first figures are published).
        history: the monitored days before this run (`read_monitored`): the alert-rate baseline.
        timestamp: the run's time, every datum's.
    """
    from ml_model.monitoring import drift_psi

    version = card.model_version
    rates = {
        str(d): float(r)
        for d, r, v in zip(history["dt"], history["alert_rate"], history["model_version"], strict=True)
        if v == version
    }
    rates |= {str(d): float(r) for d, r in zip(daily["dt"], daily["alert_rate"], strict=True)}
    data: list[MetricDatum] = []
    for row in daily.to_dict("records"):
        dt = str(row["dt"])
        before = [rates[d] for d in sorted(rates) if d < dt][-BASELINE_DAYS:]
        baseline = median(before) if before else None
        figures = _figures(row, card, baseline, first=dt in new_days)
        psi = drift_psi(row)  # the calendar's features left out: a weekday's is_weekend PSI is 2.4 every day
        worst = max(psi, key=lambda k: psi[k]) if psi else None
        logger.info(
            "%s: %s rows, alert rate %.4f, score PSI %.3f, max feature PSI %.3f (%s), realised precision %s",
            dt,
            row["rows"],
            row["alert_rate"],
            row["psi_score"],
            psi.get(worst, math.nan) if worst else math.nan,
            worst,
            "not known yet" if not row["labels_known"] else f"{row['precision']:.3f}",
            extra={"dt": dt, "model_version": version, "worst_feature": worst, **figures},
        )
        for key, value in figures.items():
            data.extend(_datums(key, value, version, timestamp))
    return data


def _datums(key: str, value: float, version: str, timestamp: datetime) -> list[MetricDatum]:
    metric = METRICS[key]
    datum: MetricDatum = {
        "MetricName": metric.name,
        "Value": value,
        "Unit": metric.unit.value,
        "Timestamp": timestamp,
    }
    return [{**datum, "Dimensions": [{"Name": DIMENSION, "Value": version}]}, datum]


def publish(cloudwatch: CloudWatchClient, data: Sequence[MetricDatum], *, namespace: str = NAMESPACE) -> None:
    """PutMetricData, at most 1,000 datums a request (botocore's standard retries, `fraudstream.aws`)."""
    from fraudstream.aws import aws_errors

    with aws_errors(f"CloudWatch namespace {namespace!r}"):
        for start in range(0, len(data), _PUT_LIMIT):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=list(data[start : start + _PUT_LIMIT]))


def run(
    bucket: str,
    filesystem: Any,
    card: ModelCard,
    cloudwatch: CloudWatchClient,
    *,
    as_of: date,
    lookback_days: int,
    namespace: str = NAMESPACE,
) -> JobResult:
    """One run of the job (module doc): the due days of [as_of - lookback_days, as_of), computed, written
    to monitoring/ and published.

    Args:
        bucket: the lake bucket.
        filesystem: a pyarrow filesystem holding it.
        card: the model card monitored against (with its training reference).
        cloudwatch: where the metrics go.
        as_of: the first day not monitored (today: its rows are still arriving).
        lookback_days: how many days before `as_of` are looked at.
        namespace: the metrics' CloudWatch namespace.
    """
    from ml_model.features import FEATURE_SPEC
    from ml_model.monitor_cli import lake_days, monitor_days, newest_label_time, write_daily
    from ml_model.monitoring import labels_known_through

    spec = card.spec() or FEATURE_SPEC
    since, until = as_of - timedelta(days=lookback_days), as_of - timedelta(days=1)
    days = lake_days(bucket, filesystem, since=since.isoformat(), until=until.isoformat())
    history = read_monitored(bucket, filesystem)
    through = labels_known_through(newest_label_time(bucket, filesystem), spec.label_delay_days)
    new, labelled = due_days(days, history, through)
    due = sorted({*new, *labelled})
    daily = monitor_days(bucket, filesystem, card, due, labels_through=through)
    now = datetime.now(UTC)
    data: list[MetricDatum] = []
    if not daily.empty:
        write_daily(daily, bucket, filesystem, model_version=card.model_version)
        data = metric_data(daily, card, new_days=new, history=history, timestamp=now)
    data.extend(_datums("days_monitored", float(len(daily)), card.model_version, now))
    publish(cloudwatch, data, namespace=namespace)
    computed = set(daily["dt"]) if not daily.empty else set()
    return JobResult(
        new_days=[d for d in new if d in computed],
        labelled_days=[d for d in labelled if d in computed],
        datums=len(data),
    )


def job(
    model: Annotated[
        str | None,
        typer.Option(
            help="The model whose card is monitored against: a folder, a model.tar.gz or an s3:// URI "
            "[default: the stream's model, FRAUD_PROCESSOR__MODEL_DIR, else 'model']."
        ),
    ] = None,
    lookback_days: Annotated[
        int,
        typer.Option(min=1, help="Look at the complete days this far back (a day's labels come a label delay later)."),
    ] = 14,
    as_of: Annotated[
        str | None, typer.Option(help="The first day not monitored, YYYY-MM-DD [default: today, UTC].")
    ] = None,
    namespace: Annotated[str, typer.Option(help="CloudWatch namespace of the metrics.")] = NAMESPACE,
    log_format: Annotated[str, typer.Option(help="text, or json (one object a line).")] = "text",
    spark_session: Annotated[
        bool, typer.Option(help="Hold a Spark session while running (on EMR Serverless, started by spark-submit).")
    ] = False,
) -> None:
    """Monitor the days that are due and publish their figures to CloudWatch (the scheduled job)."""
    from fraudstream.aws import client_config, default_session, s3_filesystem
    from fraudstream.config import ResourceSettings
    from fraudstream.logs import configure_logging
    from fraudstream.output import print_summary
    from ml_model.model_store import load_model_at, require_bucket
    from ml_model.monitor_cli import MonitoringError

    configure_logging(fmt=log_format)
    try:
        day = date.fromisoformat(as_of) if as_of else datetime.now(UTC).date()
    except ValueError:
        raise typer.BadParameter(f"{as_of!r} is not a date: give YYYY-MM-DD", param_hint="--as-of") from None
    session = None
    if spark_session:
        # NOTE: EMR Serverless runs the entry point through spark-submit, whose cluster manager expects
        # the driver to start a Spark application; the work itself needs none.
        from pyspark.sql import SparkSession

        session = SparkSession.builder.appName("fraudstream-model-monitoring").getOrCreate()
    try:
        if model is None:
            from processor.config import ProcessorSettings

            model = ProcessorSettings().model_dir or "model"
        card = load_model_at(model).card
        if not card.reference:
            raise MonitoringError(
                f"model {card.model_version} ({model}) has no training reference in its card: retrain it, "
                "or give --model a newer one"
            )
        bucket = ResourceSettings().lake_bucket
        require_bucket(bucket)
        cloudwatch = default_session().client("cloudwatch", config=client_config())
        result = run(
            bucket, s3_filesystem(), card, cloudwatch, as_of=day, lookback_days=lookback_days, namespace=namespace
        )
    finally:
        if session is not None:
            session.stop()
    print_summary(
        f"model monitoring as of {day}: {len(result.new_days)} new day(s) {', '.join(result.new_days) or '-'}, "
        f"{len(result.labelled_days)} with labels now known {', '.join(result.labelled_days) or '-'}; "
        f"{result.datums} datum(s) to CloudWatch {namespace}",
        "model_monitoring",
        new_days=result.new_days,
        labelled_days=result.labelled_days,
        datums=result.datums,
        model_version=card.model_version,
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the job; a mistake is one line (`error: ...`, `hint: ...`) and exit status 1."""
    from fraudstream.exceptions import FraudstreamError
    from fraudstream.output import print_error

    holder = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    holder.command()(job)
    command = typer.main.get_command(holder)
    try:
        command.main(args=argv, prog_name="python -m ml_model.monitor_job", standalone_mode=False)
    except typer.TyperException as e:  # usage and parameter errors
        print_error(e.format_message(), "see `python -m ml_model.monitor_job --help`")
        sys.exit(e.exit_code)
    except FraudstreamError as e:
        print_error(str(e), e.hint)
        sys.exit(1)


if __name__ == "__main__":
    main()
