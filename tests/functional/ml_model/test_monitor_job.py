"""The scheduled monitoring job (`python -m ml_model.monitor_job`) over a small lake on the embedded
emulator: the due days computed and written to monitoring/, their figures in CloudWatch (read back
over HTTP with ListMetrics and GetMetricData), each published once, and one-line refusals."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from fraudstream.aws import s3_filesystem
from ml_model.monitor_job import main
from ml_model.monitor_metrics import DIMENSION, METRICS
from tests.functional.ml_model.test_monitor_cli import DAY0, _labels, _transactions, model_with_reference

if TYPE_CHECKING:
    from pathlib import Path

    import boto3

__all__ = ["model_with_reference"]  # the fixture, shared with the command's tests


def _statistics(cloudwatch: Any, namespace: str, metric: str, dimensions: list[dict[str, str]]) -> dict[str, float]:
    """Sum, SampleCount, Maximum and Minimum of a metric over the last and next hour (one period)."""
    now = datetime.now(UTC)
    stats = ("Sum", "SampleCount", "Maximum", "Minimum")
    response = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": stat.lower(),
                "MetricStat": {
                    "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions},
                    "Period": 7200,
                    "Stat": stat,
                },
            }
            for stat in stats
        ],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(hours=1),
    )
    # One period: each statistic has one value.
    return {r["Id"]: sum(r["Values"]) for r in response["MetricDataResults"] if r["Values"]}


def test_the_job_monitors_the_due_days_and_publishes_each_figure_once(
    boto_session: boto3.Session, model_with_reference: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a lake of three days, the third with amounts shifted by three standard deviations, no labels yet
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    boto_session.client("s3").create_bucket(Bucket=bucket)
    filesystem = s3_filesystem(boto_session)
    rng = np.random.default_rng(1)
    days = [_transactions(d, rng, shift=30.0 if d == 2 else 0.0) for d in range(3)]
    for d, table in enumerate(days):
        dt = (DAY0 + timedelta(days=d)).date().isoformat()
        with filesystem.open_output_stream(f"{bucket}/transactions/dt={dt}/hour=00/part-0.parquet") as out:
            pq.write_table(table, out)
    monkeypatch.setenv("FRAUD_LAKE_BUCKET", bucket)
    namespace = f"test/{uuid.uuid4().hex[:8]}"
    cloudwatch = boto_session.client("cloudwatch")
    args = ["--model", str(model_with_reference), "--as-of", "2026-03-04", "--namespace", namespace]

    # WHEN the job runs the day after the third
    main(args)
    # THEN it wrote the three days to monitoring/, labels not known
    monitored = pq.read_table(f"{bucket}/monitoring", filesystem=filesystem, partitioning="hive").to_pandas()
    assert sorted(monitored["dt"]) == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert not monitored["labels_known"].any()
    # ... and CloudWatch has the first figures of each day, per model version and overall
    listed = cloudwatch.list_metrics(Namespace=namespace)["Metrics"]
    names = {m["MetricName"] for m in listed}
    first = {"rows", "alert_rate", "fallback_share", "psi_score", "max_feature_psi", "alert_rate_change"}
    assert {METRICS[k].name for k in first} | {METRICS["days_monitored"].name} == names
    assert {tuple(d["Name"] for d in m.get("Dimensions", [])) for m in listed} == {(), (DIMENSION,)}
    # NOTE: moto's GetMetricData matches a query without dimensions to every series of the name (CloudWatch
    # to the series without dimensions only): the counts are read from the model version's series.
    version = [{"Name": DIMENSION, "Value": "mon-1"}]
    per_version = _statistics(cloudwatch, namespace, METRICS["max_feature_psi"].name, version)
    assert per_version["samplecount"] == 3
    # ... the third day's drift above the alarm's 0.25, the first two below it
    psi = monitored.set_index("dt").filter(like="psi__").max(axis=1)
    overall = _statistics(cloudwatch, namespace, METRICS["max_feature_psi"].name, [])
    assert overall["maximum"] == per_version["maximum"] == pytest.approx(psi["2026-03-03"])
    assert psi["2026-03-03"] > 0.25
    assert psi[["2026-03-01", "2026-03-02"]].max() < 0.25
    # ... an alert-rate change for the days with a day before them (the first has no baseline)
    assert _statistics(cloudwatch, namespace, METRICS["alert_rate_change"].name, version)["samplecount"] == 2
    assert _statistics(cloudwatch, namespace, METRICS["days_monitored"].name, version)["sum"] == 3

    # GIVEN the first day's chargebacks, labelled 10 days later (the 7-day delay has passed for all three days)
    first_day = days[0].to_pandas()
    frauds = list(first_day.sort_values("score", ascending=False)["transaction_id"][:5])
    with filesystem.open_output_stream(f"{bucket}/labels/dt=2026-03-11/part-0.parquet") as out:
        pq.write_table(_labels(frauds, DAY0 + timedelta(days=10)), out)
    # WHEN the job runs again
    main(args)
    # THEN the three days are computed again, now with their realised figures
    monitored = pq.read_table(f"{bucket}/monitoring", filesystem=filesystem, partitioning="hive").to_pandas()
    assert monitored["labels_known"].all()
    recall = monitored.set_index("dt")["recall"]["2026-03-01"]
    assert recall == pytest.approx(sum(1 for t in frauds if first_day.set_index("transaction_id")["is_alert"][t]) / 5)
    precision = _statistics(cloudwatch, namespace, METRICS["precision"].name, version)
    assert precision["samplecount"] == 3
    drop = _statistics(cloudwatch, namespace, METRICS["precision_drop"].name, version)
    assert drop["maximum"] == pytest.approx(0.9 - precision["minimum"])  # the card's test precision is 0.9
    # ... while the first figures were not published a second time
    assert _statistics(cloudwatch, namespace, METRICS["max_feature_psi"].name, version)["samplecount"] == 3

    # WHEN it runs once more, with nothing due
    main(args)
    # THEN it says so to CloudWatch (no day monitored, a datapoint all the same)
    days_monitored = _statistics(cloudwatch, namespace, METRICS["days_monitored"].name, version)
    assert days_monitored["samplecount"] == 3 and days_monitored["sum"] == 6


def test_a_missing_bucket_and_a_bad_date_are_one_line_errors(
    boto_session: boto3.Session,
    model_with_reference: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FRAUD_LAKE_BUCKET", f"missing-{uuid.uuid4().hex[:8]}")
    with pytest.raises(SystemExit) as exited:
        main(["--model", str(model_with_reference)])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "does not exist" in err
    with pytest.raises(SystemExit) as exited:
        main(["--model", str(model_with_reference), "--as-of", "yesterday"])
    assert exited.value.code != 0
    assert "not a date" in capsys.readouterr().err
