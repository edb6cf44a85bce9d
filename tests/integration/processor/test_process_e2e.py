"""The whole job end to end on the embedded emulator and the local endpoint, read back independently.

Two runs of `run_job(until_idle=True)` on one checkpoint (the second is a restart): the first
drains a generated history with duplicates, malformed records and chargebacks (two of them
malformed); the second gets a
duplicate, late events and one new transaction. What the lake, the quarantine and the alerts table
hold is then read with boto3 and pyarrow, not with the job's own readers.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
import pandas as pd
import pytest

from fraudstream.config import ResourceSettings
from fraudstream.contracts import format_event_time
from fraudstream.local.provision import provision
from ml_model.artifact import load_artifact, write_artifact
from ml_model.features import FEATURE_SPEC, compute_features
from ml_model.scoring import ScorerType, build_scorer
from ml_model.serving import LocalEndpointServer
from processor.config import ProcessorSettings
from processor.job import run_job
from producer.dead_letter import DeadLetterFile
from producer.delivery import MALFORMED_KINDS, DeliveryConfig, RecordKind, StreamKind, deliveries, malform
from producer.kinesis_writer import KinesisWriter
from synthetic.generator import GeneratorConfig, generate_history
from tests.conftest import FAKE_ENV
from tests.lake_reader import read_parquet
from tests.model_fixtures import with_label_delay

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from fraudstream.local.emulator import EmbeddedAws
    from processor.job import JobSummary

pytestmark = pytest.mark.integration

LABEL_DELAY_DAYS = 0.125  # 3 hours: the terminal windows are whole hours
ENDPOINT = "fraud-detector"


@dataclass
class Run:
    """What went into the streams, what the job reported, and what the sinks hold."""

    valid: pd.DataFrame  # every on-time, first-delivered transaction (with its truth `is_fraud`)
    malformed: dict[bytes, str]  # payload -> the quarantine reason it must get
    chargebacks: list[dict[str, Any]]  # every valid chargeback delivered on the labels stream
    malformed_labels: dict[bytes, str]  # payload -> the quarantine reason it must get
    late: dict[str, bytes]  # transaction id -> payload
    duplicates: int
    threshold: float
    summaries: list[JobSummary]
    lake: pd.DataFrame
    aggregates: pd.DataFrame
    quarantine: pd.DataFrame
    labels: pd.DataFrame
    alerts: list[dict[str, Any]]


def _event(row: pd.Series, **changes: Any) -> bytes:
    event = {
        "schema_version": 1,
        "transaction_id": row["transaction_id"],
        "event_time": format_event_time(row["event_time"].to_pydatetime()),
        "card_id": row["card_id"],
        "terminal_id": row["terminal_id"],
        "amount": float(row["amount"]),
        "channel": row["channel"],
        "lat": float(row["lat"]),
        "lon": float(row["lon"]),
    }
    event.update(changes)
    return json.dumps(event).encode()


@pytest.fixture(scope="module")
def run(
    spark: Any, embedded_aws: EmbeddedAws, artifact_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("e2e")
    resources = ResourceSettings(
        transactions_stream="e2e-tx", labels_stream="e2e-labels", lake_bucket="e2e-lake", alerts_table="e2e-alerts"
    )
    # the model was trained with the stream's label delay (its feature spec says so)
    artifact = load_artifact(with_label_delay(artifact_path, LABEL_DELAY_DAYS, tmp / "delayed"))
    history = generate_history(
        GeneratorConfig(seed=5, n_cards=60, n_terminals=30, n_cities=3, fraud_rate=0.2), date(2026, 11, 2), 1
    )
    history = history[history["event_time"] < history["event_time"].min() + pd.Timedelta(hours=14)]
    # offline: the same events' features, and a threshold that makes about a fifth of them alerts
    offline = compute_features(history, label_delay_days=LABEL_DELAY_DAYS)
    local = build_scorer(ScorerType.LOCAL, artifact, scored_by="local")
    threshold = float(np.quantile(local.score_frame(offline)["score"], 0.8))
    # ... written into the model card (the endpoint's and the job's): without --threshold the job
    # alerts at the card's threshold of the model that scored the row
    model = write_artifact(artifact.booster, artifact.spec, replace(artifact.card, threshold=threshold), tmp / "m")
    artifact = load_artifact(model)
    with (
        pytest.MonkeyPatch.context() as env,
        LocalEndpointServer(artifact, port=0, endpoint_name=ENDPOINT) as endpoint,
    ):
        for name, value in {**FAKE_ENV, "AWS_ENDPOINT_URL": embedded_aws.endpoint_url}.items():
            env.setenv(name, value)
        env.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", endpoint.url)
        session = boto3.Session()
        provision(resources, shards=2, session=session)
        writers = {
            kind: KinesisWriter(
                stream, dead_letter=DeadLetterFile(tmp / f"{kind}.jsonl"), client=session.client("kinesis")
            )
            for kind, stream in (
                (StreamKind.TRANSACTIONS, resources.transactions_stream),
                (StreamKind.LABELS, resources.labels_stream),
            )
        }

        # GIVEN a small generated history (fraud made common, so that chargebacks move terminal risk),
        # delivered with duplicates and chargebacks, plus one record of every malformed kind
        duplicates = 0
        chargebacks = []
        for d in deliveries([history], DeliveryConfig(seed=5, label_delay_days=LABEL_DELAY_DAYS, duplicate_share=0.04)):
            writers[d.stream].put(d.partition_key, d.data)
            duplicates += d.kind is RecordKind.DUPLICATE
            if d.kind is RecordKind.LABEL:
                chargebacks.append(json.loads(d.data))
        first = json.loads(_event(history.iloc[0]))
        malformed = {malform(first, kind, f"bad-{kind}"): reason for kind, reason in sorted(MALFORMED_KINDS.items())}
        for payload in malformed:
            writers[StreamKind.TRANSACTIONS].put("bad", payload)
        # AND two malformed chargebacks
        label = chargebacks[0]
        malformed_labels = {
            json.dumps({**label, "is_fraud": 2}).encode(): "bad_value",
            json.dumps({**label, "label_time": label["tx_event_time"][:4] + "-01-01T00:00:00Z"}).encode(): (
                "bad_timestamp"
            ),
        }
        for payload in malformed_labels:
            writers[StreamKind.LABELS].put(label["card_id"], payload)
        for writer in writers.values():
            writer.flush()

        settings = ProcessorSettings(
            checkpoint_location=str(tmp / "checkpoint"),
            model_dir=str(model),
            endpoint_name=ENDPOINT,
            label_delay_days=LABEL_DELAY_DAYS,
            trigger_interval="0 seconds",
        )
        # WHEN the job drains the streams
        summaries = [run_job(settings, resources, until_idle=True, spark=spark)]

        # AND, restarted on its checkpoint, gets a redelivery of the newest transaction (a duplicate
        # within the watermark), two events two hours behind it (late) and one new transaction
        newest = history.iloc[-1]
        late = {
            f"late-{i}": _event(
                newest,
                transaction_id=f"late-{i}",
                event_time=format_event_time(newest["event_time"] - timedelta(hours=2)),
            )
            for i in range(2)
        }
        fresh = newest.copy()
        fresh["transaction_id"], fresh["event_time"] = "fresh-1", newest["event_time"] + pd.Timedelta(minutes=1)
        tx = writers[StreamKind.TRANSACTIONS]
        for payload in (_event(newest), *late.values(), _event(fresh)):
            tx.put(str(newest["card_id"]), payload)
        tx.flush()
        summaries.append(run_job(settings, resources, until_idle=True, spark=spark))

        s3 = session.client("s3")
        table = session.resource("dynamodb").Table(resources.alerts_table)
        yield Run(
            valid=pd.concat([history, fresh.to_frame().T.astype(history.dtypes)], ignore_index=True),
            malformed=malformed,
            chargebacks=chargebacks,
            malformed_labels=malformed_labels,
            late=late,
            duplicates=duplicates + 1,
            threshold=threshold,
            summaries=summaries,
            lake=read_parquet(s3, resources.lake_bucket, "transactions/"),
            aggregates=read_parquet(s3, resources.lake_bucket, "aggregates/"),
            quarantine=read_parquet(s3, resources.lake_bucket, "quarantine/"),
            labels=read_parquet(s3, resources.lake_bucket, "labels/"),
            alerts=table.scan(ConsistentRead=True)["Items"],
        )


def test_every_valid_on_time_transaction_is_in_the_lake_exactly_once(run: Run) -> None:
    assert len(run.lake) > 100
    assert Counter(run.lake["transaction_id"]) == Counter(run.valid["transaction_id"])
    assert set(run.lake["scored_by"]) == {f"endpoint:{ENDPOINT}"}
    assert run.lake["model_version"].eq("test-model-1").all()
    # reasons for the alerts (the card's threshold), none for the rest
    alert = run.lake["score"] >= run.threshold
    assert alert.any() and (~alert).any()
    assert run.lake["reasons"].map(len).eq(np.where(alert, 3, 0)).all()
    # each row sits in the folder of its own event date and hour
    folders = "transactions/" + run.lake["event_time"].dt.strftime("dt=%Y-%m-%d/hour=%H/")
    assert [k.startswith(f) for k, f in zip(run.lake["key"], folders, strict=True)] == [True] * len(run.lake)


def test_quarantine_holds_exactly_the_malformed_and_late_records_with_their_reasons(run: Run) -> None:
    assert len(run.quarantine) == len(run.malformed) + len(run.malformed_labels) + len(run.late)
    rejected = run.quarantine[run.quarantine["reason"] != "late"]
    assert dict(zip(rejected["raw_data"].str.encode("utf-8"), rejected["reason"], strict=True)) == {
        **run.malformed,
        **run.malformed_labels,
    }
    assert set(rejected.loc[rejected["stream_name"] == "e2e-labels", "reason"]) == {"bad_value", "bad_timestamp"}
    # a late record passed validation: its payload is kept as the contract's event, every field sent intact
    late = run.quarantine[run.quarantine["reason"] == "late"].set_index("transaction_id")
    assert sorted(late.index) == sorted(run.late)
    for tx_id, payload in run.late.items():
        kept = json.loads(late.loc[tx_id, "raw_data"])
        assert kept | json.loads(payload) == kept
    assert run.quarantine["shard_id"].str.startswith("shardId-").all()
    assert run.quarantine["sequence_number"].str.isdigit().all()


def test_every_valid_chargeback_is_in_the_labels_table_exactly_once_by_its_label_day(run: Run) -> None:
    # GIVEN the chargebacks delivered (fraud made common: a few, all due within the run)
    assert len(run.chargebacks) > 5
    sent = pd.DataFrame(run.chargebacks)
    # THEN each is in labels/ once, with the contract's fields as sent
    assert Counter(run.labels["transaction_id"]) == Counter(sent["transaction_id"])
    got = run.labels.set_index("transaction_id").loc[sent["transaction_id"]]
    for name in ("card_id", "terminal_id", "is_fraud", "schema_version"):
        assert got[name].tolist() == sent[name].tolist(), name
    for name in ("tx_event_time", "label_time"):
        assert got[name].tolist() == pd.to_datetime(sent[name], utc=True).tolist(), name
    # with where its record came from
    assert (run.labels["stream_name"] == "e2e-labels").all()
    assert run.labels["shard_id"].str.startswith("shardId-").all()
    assert not run.labels.duplicated(["shard_id", "sequence_number"]).any()
    # AND each sits in the folder of the UTC day of its label_time
    folders = "labels/" + run.labels["label_time"].dt.strftime("dt=%Y-%m-%d/")
    assert [k.startswith(f) for k, f in zip(run.labels["key"], folders, strict=True)] == [True] * len(run.labels)
    assert (run.labels["key"].str.count("/") == 2).all()  # labels/dt=.../<file>: no hour folder


def test_the_job_counts_duplicates_late_and_alerts(run: Run) -> None:
    assert run.duplicates > 1
    assert sum(s.duplicates_dropped for s in run.summaries) == run.duplicates
    assert sum(s.late for s in run.summaries) == len(run.late)
    assert sum(s.alerts for s in run.summaries) == len(run.alerts)
    assert sum(s.fallback_scored for s in run.summaries) == 0
    assert sum(s.accepted for s in run.summaries) == len(run.valid)


def test_the_alerts_table_holds_exactly_the_lake_rows_at_or_above_the_threshold(run: Run) -> None:
    alerting = run.lake[run.lake["score"] >= run.threshold]
    assert 0 < len(alerting) < len(run.lake)
    assert sorted(i["transaction_id"] for i in run.alerts) == sorted(alerting["transaction_id"])
    by_id = alerting.set_index("transaction_id")
    for item in run.alerts:
        assert float(item["score"]) == pytest.approx(by_id.loc[item["transaction_id"], "score"])
        assert item["card_id"] == by_id.loc[item["transaction_id"], "card_id"]


def test_lake_features_equal_the_offline_features_of_the_same_events(run: Run) -> None:
    offline = compute_features(run.valid, label_delay_days=LABEL_DELAY_DAYS).set_index(run.valid["transaction_id"])
    lake = run.lake.set_index("transaction_id").loc[offline.index, list(FEATURE_SPEC.names)]
    # the chargebacks reached the stream's terminal state: some terminal is risky
    assert lake["terminal_fraud_rate_1d"].max() > 0
    pd.testing.assert_frame_equal(lake.astype("float64"), offline.astype("float64"), rtol=1e-9, check_names=False)


def test_closed_card_windows_are_in_the_aggregates_once_with_their_figures(run: Run) -> None:
    # offline: every 10-minute window sliding by 5 that holds an accepted transaction
    tx = run.valid.assign(event_time=pd.to_datetime(run.valid["event_time"], utc=True))
    first_start = tx["event_time"].dt.floor("5min")
    windows = (
        pd.concat([tx.assign(window_start=first_start), tx.assign(window_start=first_start - pd.Timedelta("5min"))])
        .groupby(["card_id", "window_start"])["amount"]
        .agg(tx_count="count", amount_sum="sum", amount_mean="mean", amount_max="max")
        .reset_index()
    )
    got = run.aggregates.assign(window_start=pd.to_datetime(run.aggregates["window_start"], utc=True))
    assert len(got) > 50
    key = ["card_id", "window_start"]
    assert not got.duplicated(key).any()
    # every window written is final and right
    merged = got.merge(windows, on=key, suffixes=("", "_offline"), validate="1:1")
    assert len(merged) == len(got)
    for column in ("tx_count", "amount_sum", "amount_mean", "amount_max"):
        assert merged[column].to_numpy() == pytest.approx(merged[f"{column}_offline"].to_numpy())
    assert (got["window_end"] - got["window_start"] == pd.Timedelta("10min")).all()
    # each in the folder of the UTC day of its start, without an hour folder
    folders = "aggregates/" + got["window_start"].dt.strftime("dt=%Y-%m-%d/")
    assert [k.startswith(f) for k, f in zip(got["key"], folders, strict=True)] == [True] * len(got)
    assert (got["key"].str.count("/") == 2).all()
    # and every window the watermark (newest event - 10 minutes) has closed was written
    watermark = tx["event_time"].max() - pd.Timedelta("10min")
    closed = windows[windows["window_start"] + pd.Timedelta("10min") <= watermark - pd.Timedelta("5min")]
    assert set(map(tuple, closed[key].to_numpy())) <= set(map(tuple, got[key].to_numpy()))
