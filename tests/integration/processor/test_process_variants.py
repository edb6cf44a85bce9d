"""The job against an endpoint of two production variants (champion and challenger): the lake records
which variant scored each row, with that variant's model version, and the alerts carry it too."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from fraudstream.config import ResourceSettings
from fraudstream.local.provision import provision
from ml_model.artifact import load_artifact
from ml_model.serving import LocalEndpointServer
from processor.config import ProcessorSettings
from processor.job import run_job
from synthetic.generator import GeneratorConfig, generate_history
from tests.conftest import FAKE_ENV
from tests.functional.ml_model.variants import CHALLENGER_VERSION, split, write_challenger
from tests.lake_reader import read_parquet
from tests.processor_runs import put_transactions

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import xgboost as xgb

    from fraudstream.local.emulator import EmbeddedAws

pytestmark = pytest.mark.integration

ENDPOINT = "fraud-detector"
# The first draws of this seed alternate (champion, challenger, champion): any two calls reach both variants.
SEED = 3


def test_the_lake_records_the_variant_that_scored_each_row(
    spark: Any,
    embedded_aws: EmbeddedAws,
    artifact_path: Path,
    booster_factory: Callable[..., xgb.Booster],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {**FAKE_ENV, "AWS_ENDPOINT_URL": embedded_aws.endpoint_url}.items():
        monkeypatch.setenv(name, value)
    session = boto3.Session()
    resources = ResourceSettings(
        transactions_stream="variants-tx",
        labels_stream="variants-labels",
        lake_bucket="variants-lake",
        alerts_table="variants-alerts",
    )
    provision(resources, shards=1, session=session)
    # (the challenger's threshold above every score this small model gives, the champion's below)
    champion = load_artifact(artifact_path)
    challenger = load_artifact(write_challenger(booster_factory, tmp_path, threshold=0.99))
    # GIVEN 1,000 transactions on the stream: at least two calls of at most 500 rows
    history = generate_history(GeneratorConfig(seed=3, n_cards=500, n_terminals=100, n_cities=3), date(2026, 11, 16), 1)
    rows = history.head(1000)
    assert len(rows) == 1000
    put_transactions(session, resources.transactions_stream, rows, tmp_path / "dead-letter.jsonl")
    # ... and an endpoint splitting its calls half and half between champion and challenger
    variants = split(champion, challenger, 0.5)
    with LocalEndpointServer(variants, port=0, endpoint_name=ENDPOINT, seed=SEED) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", endpoint.url)
        settings = ProcessorSettings(
            checkpoint_location=str(tmp_path / "checkpoint"),
            model_dir=str(artifact_path),
            endpoint_name=ENDPOINT,
            trigger_interval="0 seconds",
            allowed_lateness="1 day",
            aggregates=False,
        )
        # WHEN the job processes them
        run_job(settings, resources, until_idle=True, spark=spark)
    # THEN every row is in the lake, scored by the endpoint, naming the variant that scored it and its model
    lake = read_parquet(
        session.client("s3"),
        resources.lake_bucket,
        "transactions/",
        ["transaction_id", "score", "is_alert", "scored_by", "model_version", "model_variant"],
    )
    assert sorted(lake["transaction_id"]) == sorted(rows["transaction_id"])
    assert set(lake["scored_by"]) == {f"endpoint:{ENDPOINT}"}
    assert set(lake["model_variant"]) == {"champion", "challenger"}
    versions = {"champion": champion.card.model_version, "challenger": CHALLENGER_VERSION}
    assert (lake["model_version"] == lake["model_variant"].map(versions)).all()
    # ... and alerting at that model's own threshold (the two cards' differ)
    thresholds = {"champion": champion.card.threshold, "challenger": challenger.card.threshold}
    low, high = sorted(thresholds.values())
    assert ((lake["score"] >= low) & (lake["score"] < high)).any()  # rows one model alerts on and the other not
    assert (lake["is_alert"] == (lake["score"] >= lake["model_variant"].map(thresholds))).all()
    # ... and each alert carries its row's variant
    items = session.client("dynamodb").scan(TableName=resources.alerts_table, ConsistentRead=True)["Items"]
    by_id = lake.set_index("transaction_id")
    assert len(items) == int(lake["is_alert"].sum()) > 0
    assert all(i["model_variant"]["S"] == by_id.loc[i["transaction_id"]["S"], "model_variant"] for i in items)
