"""`invoke --history lake`: a transaction the stream scored, scored again directly against an endpoint
with the lake as its history, gets the stream's score; over the file's rows alone it does not."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import typer
from typer.testing import CliRunner

from fraudstream.config import ResourceSettings
from fraudstream.local.provision import provision
from ml_model.cli import invoke
from ml_model.serving import LocalEndpointServer
from processor.config import ProcessorSettings
from processor.job import run_job
from producer.delivery import encode_transactions
from synthetic.generator import GeneratorConfig, generate_history
from tests.conftest import FAKE_ENV
from tests.lake_reader import read_parquet
from tests.processor_runs import put_transactions

if TYPE_CHECKING:
    from pathlib import Path

    from fraudstream.local.emulator import EmbeddedAws
    from ml_model.artifact import ModelArtifact

pytestmark = pytest.mark.integration


def test_invoke_with_the_lake_as_history_reproduces_the_stream_score(
    spark: Any,
    embedded_aws: EmbeddedAws,
    artifact: ModelArtifact,
    artifact_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resources = ResourceSettings(
        transactions_stream="invoke-tx", labels_stream="invoke-labels", lake_bucket="invoke-lake", alerts_table="ia"
    )
    for key, value in {
        **FAKE_ENV,
        "AWS_ENDPOINT_URL": embedded_aws.endpoint_url,
        "FRAUD_LAKE_BUCKET": resources.lake_bucket,
    }.items():
        monkeypatch.setenv(key, value)
    session = boto3.Session()
    provision(resources, shards=1, session=session)
    # GIVEN two days of a small world processed by the stream into the lake (no chargebacks)
    days = generate_history(GeneratorConfig(seed=3, n_cards=15, n_terminals=10, n_cities=2), date(2026, 5, 1), 2)
    put_transactions(session, resources.transactions_stream, days, tmp_path / "dl.jsonl")
    settings = ProcessorSettings(
        checkpoint_location=str(tmp_path / "checkpoint"),
        model_dir=str(artifact_path),
        trigger_interval="0 seconds",
        aggregates=False,
    )
    run_job(settings, resources, until_idle=True, spark=spark)
    lake = read_parquet(session.client("s3"), resources.lake_bucket, "transactions/").set_index("transaction_id")
    assert len(lake) == len(days)
    # ... and, in a file, three of its last transactions, newest first (not in event-time order)
    picked = days.tail(3).iloc[::-1]
    (tmp_path / "rows.jsonl").write_bytes(b"\n".join(encode_transactions(picked)))
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("invoke")(invoke)
    app.command("noop")(lambda: None)

    # WHEN they are scored against an endpoint serving the same model, with the lake as history and without
    with LocalEndpointServer(artifact, port=0, endpoint_name="fd") as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", endpoint.url)
        args = ["invoke", "--endpoint", "fd", "--file", str(tmp_path / "rows.jsonl"), "--json"]
        with_lake = CliRunner().invoke(app, [*args, "--history", "lake"])
        alone = CliRunner().invoke(app, args)
        table = CliRunner().invoke(app, [*args[:-1], "--history", "lake"], env={"COLUMNS": "200"})

    # THEN with the lake the scores are the stream's, in the file's order, each card with its history
    assert with_lake.exit_code == 0, with_lake.output
    rows = [json.loads(line) for line in with_lake.stdout.splitlines()]
    assert [r["transaction_id"] for r in rows] == picked["transaction_id"].tolist()
    for row in rows:
        assert row["score"] == pytest.approx(float(lake.loc[row["transaction_id"], "score"]), abs=1e-6)
        card = lake.loc[row["transaction_id"], "card_id"]
        event_time = lake.loc[row["transaction_id"], "event_time"]
        earlier = lake[(lake["card_id"] == card) & (lake["event_time"] < event_time)]
        assert row["card_history"] == len(earlier) > 0
    # and over the file alone each card's history is only its earlier rows in the file
    assert alone.exit_code == 0, alone.output
    alone_rows = [json.loads(line) for line in alone.stdout.splitlines()]
    for row in alone_rows:
        mine = picked[picked["transaction_id"] == row["transaction_id"]].iloc[0]
        earlier = picked[(picked["card_id"] == mine["card_id"]) & (picked["event_time"] < mine["event_time"])]
        assert row["card_history"] == len(earlier)
    assert sum(r["card_history"] for r in alone_rows) < sum(r["card_history"] for r in rows)
    # and the table says what the features were computed over
    assert table.exit_code == 0, table.output
    assert "card history" in table.stdout and f"{len(days) - 3:,} of history (lake)" in table.stdout
