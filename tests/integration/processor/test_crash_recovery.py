"""Exactly once across crashes: `fraudstream process` killed with SIGKILL three times in the middle of
a run, each time restarted from its checkpoint, ends with the same lake, alerts, aggregates and
chargebacks as an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
from datetime import date
from typing import TYPE_CHECKING, Any

import boto3
import pandas as pd
import pytest
import xgboost as xgb

from fraudstream.contracts import format_event_time
from ml_model.artifact import ModelCard, write_artifact
from ml_model.features import FEATURE_SPEC, compute_features
from processor.config import ProcessorSettings
from processor.job import run_job
from processor.local_spark import SHORT_RUN_JAVA_OPTIONS
from producer.dead_letter import DeadLetterFile
from producer.delivery import DeliveryConfig, deliveries
from producer.kinesis_writer import KinesisWriter
from synthetic.generator import GeneratorConfig, generate_history
from tests.conftest import FAKE_ENV
from tests.processor_runs import (
    ProcessRun,
    alert_ids,
    crashed_and_reference,
    lake_labels,
    lake_rows,
    lake_windows,
    run_process,
)

if TYPE_CHECKING:
    from pathlib import Path

    from fraudstream.local.emulator import EmbeddedAws
    from tests.fault_figures import FaultFigures

pytestmark = pytest.mark.integration

BATCH = 20  # records per micro-batch at most: small, so that the backlog takes several batches
# Where the kills land, random but reproducible: each one after 1 or 2 new batches of the run it ends
# (every run costs a JVM start, so few batches per run keep the test's time near a single kill's).
KILLS = random.Random(3).choices(range(1, 3), k=3)
# The backlog: enough batches for every kill and two more for the last run (more batches than this if
# batches end early, or with the re-delivered records, never fewer).
BACKLOG = BATCH * (sum(KILLS) + 2)
# Whether a record is late depends on where batches end, which differs between two runs: here none is
# (the backlog spans hours).
LATENESS = "1 day"


# NOTE: four runs of `fraudstream process`, each starting a JVM: on a 2-core machine busy with other
# work, the suite's 600 s timeout was not enough.
@pytest.mark.timeout(900)
def test_a_run_killed_three_times_mid_way_and_restarted_ends_like_an_uninterrupted_one(
    spark: Any, embedded_aws: EmbeddedAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault_figures: FaultFigures
) -> None:
    env = {**FAKE_ENV, "AWS_ENDPOINT_URL": embedded_aws.endpoint_url}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    session = boto3.Session()
    crashed, reference = crashed_and_reference(session, "crash")
    # GIVEN a backlog of transactions, some delivered twice
    world = GeneratorConfig(seed=9, n_cards=1_000, n_terminals=200, n_cities=3)
    history = generate_history(world, date(2026, 11, 9), 1).iloc[:BACKLOG]
    # and, last, one two days later: its watermark closes every window of the backlog
    last = history.iloc[[-1]]
    clock = last.assign(transaction_id="clock", event_time=last["event_time"] + pd.Timedelta(days=2))
    history = pd.concat([history, clock], ignore_index=True)
    writer = KinesisWriter(
        crashed.transactions_stream,
        dead_letter=DeadLetterFile(tmp_path / "dl.jsonl"),
        client=session.client("kinesis"),
    )
    for d in deliveries([history], DeliveryConfig(seed=9, duplicate_share=0.05, emit_labels=False)):
        writer.put(d.partition_key, d.data)
    writer.flush()
    # AND a chargeback for every fifth transaction, known a day after it
    labels = KinesisWriter(
        crashed.labels_stream,
        dead_letter=DeadLetterFile(tmp_path / "dl-labels.jsonl"),
        client=session.client("kinesis"),
    )
    charged = history.iloc[:-1:5]
    for i, tx in enumerate(charged.itertuples()):
        label = {
            "schema_version": 1,
            "transaction_id": tx.transaction_id,
            "card_id": tx.card_id,
            "terminal_id": tx.terminal_id,
            "tx_event_time": format_event_time(tx.event_time.to_pydatetime()),
            "label_time": format_event_time((tx.event_time + pd.Timedelta(days=1)).to_pydatetime()),
            "is_fraud": i % 2,
        }
        labels.put(tx.card_id, json.dumps(label).encode())
    labels.flush()
    # AND a model that flags the larger amounts, so that some rows alert and others do not
    features = compute_features(history)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2, "seed": 1},
        xgb.DMatrix(features.to_numpy(), label=history["amount"] > history["amount"].median()),
        num_boost_round=5,
    )
    card = ModelCard(model_version="crash-test", feature_spec_hash=FEATURE_SPEC.hash, threshold=0.5)
    model = write_artifact(booster, FEATURE_SPEC, card, tmp_path / "model")
    threshold = 0.5

    # WHEN `fraudstream process` is killed with SIGKILL, then restarted on the same checkpoint, three
    # times: each time once the given number of new batches reached the lake
    child_env = {
        **os.environ,
        **env,
        "FRAUD_TRANSACTIONS_STREAM": crashed.transactions_stream,
        "FRAUD_LABELS_STREAM": crashed.labels_stream,
        "FRAUD_LAKE_BUCKET": crashed.lake_bucket,
        "FRAUD_ALERTS_TABLE": crashed.alerts_table,
        # Each run lives a minute or two (this test alone on 2 cores: 416 s -> 368 s).
        "SPARK_SUBMIT_OPTS": SHORT_RUN_JAVA_OPTIONS,
    }
    checkpoint = tmp_path / "checkpoint"
    options = ["--threshold", str(threshold), "--max-records-per-batch", str(BATCH), "--allowed-lateness", LATENESS]
    s3 = session.client("s3")
    killed: list[ProcessRun] = []
    landed: list[int] = []  # transactions in the lake after each kill
    for kill_after in KILLS:
        run = run_process(child_env, checkpoint, model, options, kill_after=kill_after)
        assert run.returncode == -signal.SIGKILL, run.output
        killed.append(run)
        landed.append(lake_rows(s3, crashed.lake_bucket)["transaction_id"].nunique())
    # AND a last restart runs to the end
    final = run_process(child_env, checkpoint, model, options, kill_after=None)
    assert final.returncode == 0, final.output
    # (each kill landed mid-run: after its batches, with rows still to come, and each run made progress)
    assert all(len(run.new_batches) >= n for run, n in zip(killed, KILLS, strict=True)), [r.new_batches for r in killed]
    assert 0 < landed[0] < landed[1] < landed[2] < len(history), landed
    assert final.new_batches

    # AND the same streams are processed once without interruption into other sinks, in one batch
    # (what a row holds does not depend on where batches end: none of the records is late)
    run_job(
        ProcessorSettings(
            checkpoint_location=str(tmp_path / "reference-checkpoint"),
            model_dir=str(model),
            threshold=threshold,
            max_records_per_batch=10 * BACKLOG,
            trigger_interval="0 seconds",
            allowed_lateness=LATENESS,
        ),
        reference,
        until_idle=True,
        spark=spark,
    )

    # THEN the lake and the alerts are the same: every transaction exactly once, none lost
    got, want = lake_rows(s3, crashed.lake_bucket), lake_rows(s3, reference.lake_bucket)
    sent = set(history["transaction_id"])
    restarts = [run.recover_s for run in [*killed[1:], final]]
    fault_figures.record(
        f"sigkill x3 (after {'/'.join(map(str, KILLS))} batches)",
        sent=sent,
        received=list(got["transaction_id"]),
        recover_s=max((s for s in restarts if s is not None), default=None),
        recovery="max over restarts ("
        + ", ".join("-" if s is None else f"{s:.1f}" for s in restarts)
        + " s): restart -> its first new lake batch, JVM start included",
    )
    assert sorted(want["transaction_id"]) == sorted(history["transaction_id"])
    assert got["transaction_id"].is_unique
    pd.testing.assert_frame_equal(got, want, rtol=1e-9)
    # AND so are the closed card windows
    windows = lake_windows(s3, crashed.lake_bucket)
    assert len(windows) > 0
    pd.testing.assert_frame_equal(windows, lake_windows(s3, reference.lake_bucket), rtol=1e-9)
    # AND so are the chargebacks: each once
    chargebacks = lake_labels(s3, crashed.lake_bucket)
    assert sorted(chargebacks["transaction_id"]) == sorted(charged["transaction_id"])
    pd.testing.assert_frame_equal(chargebacks, lake_labels(s3, reference.lake_bucket))
    alerts = alert_ids(session, crashed.alerts_table)
    assert 0 < len(alerts) < len(history)
    assert alerts == alert_ids(session, reference.alerts_table) == sorted(got.loc[got["is_alert"], "transaction_id"])
