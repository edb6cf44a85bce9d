"""Exactly once where it is hardest: faults while the job moves tens of thousands of records.

- `fraudstream process` killed with SIGKILL in the middle of a drain of 50,000 records, restarted
  on its checkpoint: the lake and the alerts equal an uninterrupted run's.
- S3 answering 503 SlowDown / 500 InternalError to a share of the lake's uploads, and DynamoDB
  unavailable for several seconds while the sinks write: every valid transaction in the lake once,
  every alert once.
"""

from __future__ import annotations

import os
import signal
from datetime import date
from typing import TYPE_CHECKING, Any

import boto3
import pandas as pd
import pytest
import xgboost as xgb

from fraudstream.config import ResourceSettings
from fraudstream.local.provision import provision
from ml_model.artifact import ModelCard, write_artifact
from ml_model.features import FEATURE_SPEC, compute_features
from processor.config import ProcessorSettings
from processor.exceptions import ProcessorError
from processor.job import run_job
from processor.local_spark import SHORT_RUN_JAVA_OPTIONS
from producer.dead_letter import DeadLetterFile
from producer.delivery import DeliveryConfig, StreamKind, deliveries
from producer.kinesis_writer import KinesisWriter
from synthetic.generator import GeneratorConfig, generate_history
from tests.conftest import FAKE_ENV
from tests.fault_proxy import FaultProxy, Faults
from tests.processor_runs import alert_ids, crashed_and_reference, lake_rows, run_process

if TYPE_CHECKING:
    from pathlib import Path

    from fraudstream.local.emulator import EmbeddedAws
    from tests.fault_figures import FaultFigures

pytestmark = pytest.mark.integration

LATENESS = "1 day"  # no record is late whatever the batches: the two runs compared decide alike


def _backlog(
    session: boto3.Session, resources: ResourceSettings, tmp_path: Path, n: int, *, labels: bool
) -> tuple[pd.DataFrame, Path]:
    """`n` transactions of a 5,000-card world (1% delivered twice, chargebacks a day later when
    `labels`) put on the streams, and a model that alerts on the larger amounts."""
    world = GeneratorConfig(seed=13, n_cards=5_000, n_terminals=2_000, n_cities=5)
    history = generate_history(world, date(2026, 10, 1), n // 9_000 + 1).iloc[:n]
    streams = {StreamKind.TRANSACTIONS: resources.transactions_stream, StreamKind.LABELS: resources.labels_stream}
    writers = {
        kind: KinesisWriter(
            name, dead_letter=DeadLetterFile(tmp_path / f"{kind}.jsonl"), client=session.client("kinesis")
        )
        for kind, name in streams.items()
    }
    config = DeliveryConfig(seed=13, duplicate_share=0.01, emit_labels=labels, label_delay_days=1.0)
    for d in deliveries([history], config):
        writers[d.stream].put(d.partition_key, d.data)
    for writer in writers.values():
        writer.flush()
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2, "seed": 1},
        xgb.DMatrix(compute_features(history).to_numpy(), label=history["amount"] > history["amount"].quantile(0.9)),
        num_boost_round=5,
    )
    card = ModelCard(model_version="faults-at-load", feature_spec_hash=FEATURE_SPEC.hash, threshold=0.5)
    return history, write_artifact(booster, FEATURE_SPEC, card, tmp_path / "model")


@pytest.mark.timeout(900)
def test_a_drain_of_50000_records_killed_mid_way_ends_like_an_uninterrupted_one(
    spark: Any, embedded_aws: EmbeddedAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault_figures: FaultFigures
) -> None:
    env = {**FAKE_ENV, "AWS_ENDPOINT_URL": embedded_aws.endpoint_url}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    session = boto3.Session()
    crashed, reference = crashed_and_reference(session, "load")
    # GIVEN a backlog of 50,000 transactions, 1% of them delivered twice
    history, model = _backlog(session, crashed, tmp_path, 50_000, labels=False)

    # WHEN `fraudstream process` drains it in batches of 10,000, is killed with SIGKILL once two
    # batches reached the lake, and is restarted on its checkpoint
    child_env = {
        **os.environ,
        **env,
        "FRAUD_TRANSACTIONS_STREAM": crashed.transactions_stream,
        "FRAUD_LABELS_STREAM": crashed.labels_stream,
        "FRAUD_LAKE_BUCKET": crashed.lake_bucket,
        "FRAUD_ALERTS_TABLE": crashed.alerts_table,
        "SPARK_SUBMIT_OPTS": SHORT_RUN_JAVA_OPTIONS,
    }
    options = ["--threshold", "0.5", "--max-records-per-batch", "10000", "--allowed-lateness", LATENESS]
    checkpoint = tmp_path / "checkpoint"
    killed = run_process(child_env, checkpoint, model, options, kill_after=2)
    assert killed.returncode == -signal.SIGKILL, killed.output
    s3 = session.client("s3")
    landed = lake_rows(s3, crashed.lake_bucket)["transaction_id"].nunique()
    final = run_process(child_env, checkpoint, model, options, kill_after=None)
    assert final.returncode == 0, final.output
    assert 0 < landed < len(history), landed  # the kill landed mid-drain

    # AND the same streams are drained once without interruption into other sinks
    settings = ProcessorSettings(
        checkpoint_location=str(tmp_path / "reference-checkpoint"),
        model_dir=str(model),
        threshold=0.5,
        trigger_interval="0 seconds",
        allowed_lateness=LATENESS,
    )
    run_job(settings, reference, until_idle=True, spark=spark)

    # THEN every transaction is in the lake once, with the same features and scores, and so are the alerts
    got, want = lake_rows(s3, crashed.lake_bucket), lake_rows(s3, reference.lake_bucket)
    fault_figures.record(
        "sigkill during a drain of 50,000 (after 2 batches of 10,000)",
        sent=set(history["transaction_id"]),
        received=list(got["transaction_id"]),
        recover_s=final.recover_s,
        recovery="restart -> its first new lake batch, JVM start included",
    )
    assert sorted(want["transaction_id"]) == sorted(history["transaction_id"])
    pd.testing.assert_frame_equal(got, want, rtol=1e-9)
    alerts = alert_ids(session, crashed.alerts_table)
    assert 0 < len(alerts) < len(history)
    assert alerts == alert_ids(session, reference.alerts_table) == sorted(got.loc[got["is_alert"], "transaction_id"])


def test_s3_errors_and_a_dynamodb_outage_while_the_sinks_write_lose_and_duplicate_nothing(
    spark: Any, embedded_aws: EmbeddedAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault_figures: FaultFigures
) -> None:
    for name, value in {**FAKE_ENV, "AWS_ENDPOINT_URL": embedded_aws.endpoint_url}.items():
        monkeypatch.setenv(name, value)
    session = boto3.Session()
    resources = ResourceSettings(
        transactions_stream="sink-faults-tx",
        labels_stream="sink-faults-labels",
        lake_bucket="sink-faults-lake",
        alerts_table="sink-faults-alerts",
    )
    provision(resources, shards=2, session=session)
    # GIVEN a backlog of 20,000 transactions and their chargebacks
    history, model = _backlog(session, resources, tmp_path, 20_000, labels=True)
    # AND, between the job's sinks and the emulator, S3 failing a fifth of the uploads (503 SlowDown,
    # 500 InternalError) and DynamoDB's BatchWriteItem unavailable for 8 seconds from its first call
    faults = Faults(s3_put_errors=0.2, outages={"BatchWriteItem": 8.0})
    with FaultProxy(embedded_aws.endpoint_url, faults) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
        settings = ProcessorSettings(
            checkpoint_location=str(tmp_path / "checkpoint"),
            model_dir=str(model),
            threshold=0.5,
            trigger_interval="0 seconds",
            max_records_per_batch=5_000,
            allowed_lateness=LATENESS,
        )
        # WHEN the job drains the streams; a batch whose writes fail after every retry fails the query,
        # and the job is started again on its checkpoint, as a supervisor would
        failures = 0
        while True:
            try:
                run_job(settings, resources, until_idle=True, spark=spark)
                break
            except ProcessorError:
                failures += 1
                assert failures < 4, "the job did not get past the faults"
        counts = dict(proxy.counts.throttled)
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB"):  # read back from the emulator itself
        monkeypatch.delenv(name)

    # THEN every transaction is in the lake once, and the alerts are exactly its alerting rows
    got = lake_rows(session.client("s3"), resources.lake_bucket)
    fault_figures.record(
        "S3 5xx/SlowDown on 20% of uploads; DynamoDB down for 8 s",
        sent=set(history["transaction_id"]),
        received=list(got["transaction_id"]),
        recovery=f"retried: {counts}; query restarts: {failures}",
    )
    assert counts.get("S3 PutObject", 0) > 0 and counts.get("BatchWriteItem unavailable", 0) > 0, counts
    assert sorted(got["transaction_id"]) == sorted(history["transaction_id"])
    assert alert_ids(session, resources.alerts_table) == sorted(got.loc[got["is_alert"], "transaction_id"])
