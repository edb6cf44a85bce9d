"""`fraudstream demo --quick`: the whole product end to end (emulator, endpoint, producer, Spark,
lake, alerts, summary and HTML report), on the suite's emulator and Spark session."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

import fraudstream.demo
from fraudstream.aws import s3_filesystem
from fraudstream.cli import app
from fraudstream.query import run_query
from ml_model.artifact import load_artifact, write_artifact

if TYPE_CHECKING:
    from pathlib import Path

    import boto3
    import xgboost as xgb

    from fraudstream.config import ResourceSettings
    from fraudstream.local.emulator import EmbeddedAws

pytestmark = pytest.mark.integration


def _figure(output: str, label: str) -> str:
    match = re.search(rf"{label}\s+(.+)", output)
    assert match, f"no '{label}' line in:\n{output}"
    return match.group(1)


def test_the_quick_demo_streams_scores_summarises_and_reports(
    spark: Any,
    embedded_aws: EmbeddedAws,
    aws_env: dict[str, str],
    boto_session: boto3.Session,
    unique_resources: ResourceSettings,
    artifact_path: Path,
    trained_booster: xgb.Booster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a model whose threshold alerts on every row, so that precision is the true fraud share
    # of the lake and recall is 1, both checkable against the generator's truth
    artifact = load_artifact(artifact_path)
    model = tmp_path / "model"
    write_artifact(trained_booster, artifact.spec, replace(artifact.card, threshold=0.0), model)
    for name, value in {
        "FRAUD_TRANSACTIONS_STREAM": unique_resources.transactions_stream,
        "FRAUD_LABELS_STREAM": unique_resources.labels_stream,
        "FRAUD_LAKE_BUCKET": unique_resources.lake_bucket,
        "FRAUD_ALERTS_TABLE": unique_resources.alerts_table,
        # not a URL: the demo gives the processor its endpoint's URL itself (boto3 refuses this one)
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": "unset",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(fraudstream.demo.console, "width", 250)  # one line per figure
    report = tmp_path / "report.html"

    # WHEN the quick demo runs against the suite's emulator
    result = CliRunner().invoke(
        app,
        ["demo", "--quick", "--model", str(model), "--report", str(report)]
        + ["--aws-endpoint-url", embedded_aws.endpoint_url],
    )

    # THEN it ends with a summary that matches the lake, the alerts table and the generator's truth
    assert result.exit_code == 0, result.output
    output = result.output
    lake = run_query(
        "SELECT transaction_id, is_alert FROM transactions", unique_resources.lake_bucket, s3_filesystem()
    ).to_pandas()
    assert len(lake) > 20  # a quarter day ending now: about 90 transactions at night, over 1,000 by day
    assert lake["transaction_id"].is_unique
    assert _figure(output, "transactions in the lake").startswith(f"{len(lake):,} (")
    # (how many are fraud depends on the hours the quick history covers: it ends now)
    frauds = int(re.search(r"\((\d+) truly fraudulent\)", output).group(1))  # type: ignore[union-attr]
    assert frauds < len(lake)
    assert f"{frauds} of {len(lake):,} alerts are fraud; {frauds} of {frauds} frauds alerted" in output
    recall = "1.00" if frauds else "n/a"
    assert _figure(output, "precision / recall").startswith(
        f"precision {frauds / len(lake):.2f} (model card: none) recall {recall} (model card: none)"
    )
    items = boto_session.client("dynamodb").scan(TableName=unique_resources.alerts_table, Select="COUNT")
    assert items["Count"] == len(lake) == int(lake["is_alert"].sum())
    assert "the five highest-scored alerts:" in output
    assert "scored by the endpoint / fallback" in output and f"{len(lake):,} / 0" in output
    # ... through the URL the demo passed the processor, not one it left in the environment
    assert os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] == "unset"
    # ... and an HTML report with its five plots and the same transaction count
    html = report.read_text()
    assert html.count('src="data:image/png;base64,') == 5
    assert f"<th>transactions</th><td>{len(lake):,}</td>" in html
    assert f"HTML report: {report.resolve()}" in output


def test_the_quick_demo_alerts_as_well_as_its_model_card_says(
    spark: Any,
    embedded_aws: EmbeddedAws,
    aws_env: dict[str, str],
    unique_resources: ResourceSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN no model (the demo trains its quick one, with its label delay, while the stream starts),
    # and the quick demo's streamed history made four days long instead of a quarter day, so that it
    # holds enough fraud to measure (about 70 of 18,000 transactions)
    for name, value in {
        "FRAUD_TRANSACTIONS_STREAM": unique_resources.transactions_stream,
        "FRAUD_LABELS_STREAM": unique_resources.labels_stream,
        "FRAUD_LAKE_BUCKET": unique_resources.lake_bucket,
        "FRAUD_ALERTS_TABLE": unique_resources.alerts_table,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": "unset",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(fraudstream.demo, "QUICK_DAYS", 4.0)
    monkeypatch.setattr(fraudstream.demo.console, "width", 250)
    model = tmp_path / "model"

    # WHEN the quick demo runs
    result = CliRunner().invoke(
        app,
        ["demo", "--quick", "--model", str(model), "--report", str(tmp_path / "report.html")]
        + ["--aws-endpoint-url", embedded_aws.endpoint_url],
    )

    # THEN its precision and recall against the generator's truth are within 0.10 of the model card's
    # held-out figures, shown beside them
    assert result.exit_code == 0, result.output
    figures = re.search(
        r"precision ([\d.]+) \(model card ([\d.]+)\) recall ([\d.]+) \(model card ([\d.]+)\)", result.output
    )
    assert figures, result.output
    precision, card_precision, recall, card_recall = (float(f) for f in figures.groups())
    frauds = int(re.search(r"\((\d+) truly fraudulent\)", result.output).group(1))  # type: ignore[union-attr]
    assert frauds >= 40, result.output
    assert abs(precision - card_precision) <= 0.10, result.output
    assert abs(recall - card_recall) <= 0.10, result.output
    # ... with the features of the model's training: its label delay, and state that started warm
    artifact = load_artifact(model)
    assert artifact.spec.label_delay_days == fraudstream.demo.LABEL_DELAY_DAYS
    assert artifact.card.metrics["precision"] == pytest.approx(card_precision, abs=0.005)
    assert "state starts from the world's" in result.output
