"""`train --from-lake`: the lake's transactions/ and labels/, read with pyarrow from the embedded
emulator over HTTP, labelled as known at the label cut-off, train a servable model whose card
records the range and the cut-off; --since/--until limit the transactions read; an empty lake, a
lake without labels, a missing bucket and a range without transactions are refused in one line."""

from __future__ import annotations

import io
import uuid
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from fraudstream.contracts import LABEL_ARROW_SCHEMA, TRANSACTION_ARROW_SCHEMA
from fraudstream.exceptions import ResourceNotFoundError
from fraudstream.lake import LABELS, TRANSACTIONS
from ml_model.artifact import load_artifact
from ml_model.features import compute_features
from ml_model.lake_training import LakeTrainingError, read_lake_training_set
from ml_model.scoring.local import LocalXGBoostScorer
from synthetic.generator import GeneratorConfig, generate_history
from tests.model_fixtures import SMALL_RUN_PERIODS

if TYPE_CHECKING:
    from pathlib import Path

    import boto3
    import typer


def _put(s3: object, bucket: str, key: str, table: pa.Table) -> None:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    s3.put_object(Bucket=bucket, Key=key, Body=sink.getvalue())  # type: ignore[attr-defined]


def _write_lake(s3: object, bucket: str, transactions: pd.DataFrame, labels: pd.DataFrame) -> None:
    """transactions/dt=/hour= (by event time) and labels/dt= (by label time), as the processor lays them out."""
    tx = transactions.assign(schema_version=1, currency="USD")
    tx["event_time"] = pd.to_datetime(tx["event_time"], utc=True)
    hours = tx["event_time"].dt.strftime("dt=%Y-%m-%d/hour=%H")
    for partition, rows in tx.groupby(hours):
        table = pa.Table.from_pandas(
            rows[TRANSACTION_ARROW_SCHEMA.names], TRANSACTION_ARROW_SCHEMA, preserve_index=False
        )
        _put(s3, bucket, f"{TRANSACTIONS.prefix}{partition}/part-0.parquet", table)
    if labels.empty:
        return
    lb = labels.assign(schema_version=1)
    for day, rows in lb.groupby(lb["label_time"].dt.strftime("dt=%Y-%m-%d")):
        table = pa.Table.from_pandas(rows[LABEL_ARROW_SCHEMA.names], LABEL_ARROW_SCHEMA, preserve_index=False)
        _put(s3, bucket, f"{LABELS.prefix}{day}/part-0.parquet", table)


def _chargebacks(history: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """A chargeback 1 to 5 days after every fraud, and a genuine verdict for a few other transactions."""
    fraud = history[history["is_fraud"] == 1]
    disputed = history[history["is_fraud"] == 0].sample(n=20, random_state=1)
    rows = pd.concat([fraud, disputed])
    delays = pd.to_timedelta(rng.uniform(1, 5, len(rows)), unit="D")
    return pd.DataFrame(
        {
            "transaction_id": rows["transaction_id"].to_numpy(),
            "card_id": rows["card_id"].to_numpy(),
            "terminal_id": rows["terminal_id"].to_numpy(),
            "tx_event_time": pd.to_datetime(rows["event_time"], utc=True).to_numpy(),
            "label_time": (pd.to_datetime(rows["event_time"], utc=True) + delays).to_numpy(),
            "is_fraud": rows["is_fraud"].astype("int32").to_numpy(),
        }
    ).assign(
        tx_event_time=lambda f: pd.to_datetime(f["tx_event_time"], utc=True),
        label_time=lambda f: pd.to_datetime(f["label_time"], utc=True).dt.floor("s"),
    )


@pytest.fixture
def lake_bucket(boto_session: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty lake bucket on the embedded emulator, named by FRAUD_LAKE_BUCKET."""
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    boto_session.client("s3").create_bucket(Bucket=bucket)
    monkeypatch.setenv("FRAUD_LAKE_BUCKET", bucket)
    return bucket


def _tx(transaction_id: str, event_time: str, is_fraud: int = 0) -> dict[str, object]:
    return {
        "transaction_id": transaction_id,
        "event_time": pd.Timestamp(event_time, tz="UTC"),
        "card_id": "c1",
        "terminal_id": "t1",
        "amount": 12.5,
        "merchant_category": "5411",
        "channel": "pos",
        "country": "US",
        "lat": 40.0,
        "lon": -74.0,
        "is_fraud": is_fraud,
    }


def test_the_range_and_the_labels_read_from_the_lake(boto_session: boto3.Session, lake_bucket: str) -> None:
    # GIVEN a lake of five days of transactions and chargebacks, the newest known on 2026-01-12
    s3 = boto_session.client("s3")
    transactions = pd.DataFrame(
        [
            _tx("d1-fraud", "2026-01-01T09:00:00Z"),
            _tx("d2-genuine", "2026-01-02T23:59:00Z"),
            _tx("d3-reversed", "2026-01-03T00:01:00Z"),
            _tx("d4-genuine", "2026-01-04T12:00:00Z"),
            _tx("d5-pending", "2026-01-05T12:00:00Z"),
            _tx("d5-fraud", "2026-01-05T13:00:00Z"),
        ]
    )
    labels = pd.DataFrame(
        [
            {"transaction_id": "d1-fraud", "label_time": "2026-01-03T00:00:00Z", "is_fraud": 1},
            {"transaction_id": "d3-reversed", "label_time": "2026-01-04T00:00:00Z", "is_fraud": 1},
            {"transaction_id": "d3-reversed", "label_time": "2026-01-10T00:00:00Z", "is_fraud": 0},
            {"transaction_id": "d5-fraud", "label_time": "2026-01-12T00:00:00Z", "is_fraud": 1},
        ]
    ).assign(card_id="c1", terminal_id="t1")
    labels["label_time"] = pd.to_datetime(labels["label_time"], utc=True)
    labels["tx_event_time"] = labels["transaction_id"].map(transactions.set_index("transaction_id")["event_time"])
    _write_lake(s3, lake_bucket, transactions, labels)
    # WHEN the whole lake is read with a 7-day label delay (settled up to 2026-01-05T00:00Z)
    found = read_lake_training_set(lake_bucket, label_delay_days=7.0)
    # THEN the settled transactions carry the labels known at the cut-off; the newer ones are left out,
    # the one whose chargeback came early too
    assert dict(zip(found.transactions["transaction_id"], found.transactions["is_fraud"], strict=True)) == {
        "d1-fraud": 1,
        "d2-genuine": 0,
        "d3-reversed": 0,
        "d4-genuine": 0,
    }
    assert found.left_out_pending == 2
    assert found.label_cutoff == pd.Timestamp("2026-01-12T00:00:00Z")
    # WHEN only the event days 2026-01-02..2026-01-04 are read
    ranged = read_lake_training_set(lake_bucket, label_delay_days=7.0, since=date(2026, 1, 2), until=date(2026, 1, 4))
    # THEN only their transactions, labelled with every chargeback the lake knows
    assert list(ranged.transactions["transaction_id"]) == ["d2-genuine", "d3-reversed", "d4-genuine"]
    assert ranged.label_cutoff == pd.Timestamp("2026-01-12T00:00:00Z")
    assert ranged.data_ranges()["lake_since"] == "2026-01-02"
    assert ranged.data_ranges()["lake_until"] == "2026-01-04"
    # AND a range the lake has no transactions in is refused
    with pytest.raises(LakeTrainingError, match=r"no transactions from 2026-02-01 to its end"):
        read_lake_training_set(lake_bucket, label_delay_days=7.0, since=date(2026, 2, 1))


def test_an_empty_lake_or_one_without_labels_is_refused(
    cli: typer.Typer, boto_session: boto3.Session, lake_bucket: str, tmp_path: Path
) -> None:
    # GIVEN an empty lake bucket
    # WHEN a model is trained from it
    empty = CliRunner().invoke(cli, ["train", "--from-lake", "--out", str(tmp_path / "m")])
    # THEN it is refused in one line
    assert isinstance(empty.exception, LakeTrainingError)
    assert str(empty.exception) == f"the lake s3://{lake_bucket}/transactions/ holds no transactions"
    # GIVEN transactions but no labels
    _write_lake(
        boto_session.client("s3"), lake_bucket, pd.DataFrame([_tx("a", "2026-01-01T00:00:00Z")]), pd.DataFrame()
    )
    unlabelled = CliRunner().invoke(cli, ["train", "--from-lake", "--out", str(tmp_path / "m")])
    assert isinstance(unlabelled.exception, LakeTrainingError)
    assert str(unlabelled.exception).startswith("labels/ holds no chargebacks")
    # AND a bucket that does not exist is named
    missing = CliRunner().invoke(cli, ["train", "--from-lake", "--bucket", "no-such-lake", "--out", str(tmp_path)])
    assert isinstance(missing.exception, ResourceNotFoundError)
    assert "bucket 'no-such-lake' does not exist" in str(missing.exception)
    # AND --since/--until belong to --from-lake
    misplaced = CliRunner().invoke(cli, ["train", "--generate", "3", "--since", "2026-01-01", "--out", str(tmp_path)])
    assert misplaced.exit_code == 2
    assert "--since and --until are for --from-lake" in misplaced.output


def test_train_from_lake_writes_a_servable_model_recording_the_range_and_cutoff(
    cli: typer.Typer, boto_session: boto3.Session, lake_bucket: str, tmp_path: Path
) -> None:
    # GIVEN 52 days of a small world in the lake, a chargeback 1 to 5 days after every fraud
    history = generate_history(
        GeneratorConfig(seed=3, n_cards=120, n_terminals=200, fraud_rate=0.03), date(2026, 1, 1), 52
    )
    labels = _chargebacks(history, np.random.default_rng(5))
    _write_lake(boto_session.client("s3"), lake_bucket, history, labels)
    cutoff = labels["label_time"].max()
    # WHEN a model is trained from the lake's first 44 days
    out = tmp_path / "model"
    result = CliRunner().invoke(
        cli, ["train", "--from-lake", "--until", "2026-02-13", "--out", str(out), *SMALL_RUN_PERIODS]
    )
    # THEN it writes a servable artifact trained on the lake's periods
    assert result.exit_code == 0, result.output
    assert "label cut-off" in result.output
    artifact = load_artifact(out)
    ranges = artifact.card.data_ranges
    assert ranges["train_start"] == "2026-01-15"
    assert ranges["test_end"] == "2026-02-14"
    # AND its card records the range read and the label cut-off, and how the rows were labelled
    assert ranges["lake_since"] == ""
    assert ranges["lake_until"] == "2026-02-13"
    assert ranges["label_cutoff"] == cutoff.isoformat()
    assert ranges["label_cutoff_source"] == "newest label_time in labels/"
    assert date.fromisoformat(ranges["lake_last_event"][:10]) <= date(2026, 2, 13)
    lake = artifact.card.extra["lake"]
    assert lake["fraud_by_chargeback"] == int(history.loc[history["event_time"] < "2026-02-14", "is_fraud"].sum())
    assert lake["label_delay_days"] == 7.0
    assert artifact.card.extra["trained_from"] == "lake"
    # AND the model scores: its test AUC is above chance, and it scores features computed as the stream does
    assert 0.5 < artifact.card.metrics["auc_roc"] <= 1.0
    assert cutoff - timedelta(days=7) > pd.Timestamp("2026-02-14", tz="UTC")  # the test days were all settled
    features = compute_features(history.head(50), label_delay_days=artifact.spec.label_delay_days)
    scores = LocalXGBoostScorer(artifact).setup().score_frame(features)["score"]
    assert len(scores) == 50
    assert scores.between(0, 1).all()


def test_train_from_lake_since_a_day_trains_from_it_with_the_features_history_before_it(
    cli: typer.Typer, boto_session: boto3.Session, lake_bucket: str, tmp_path: Path
) -> None:
    # GIVEN 60 days of a small world in the lake, a chargeback 1 to 5 days after every fraud
    history = generate_history(
        GeneratorConfig(seed=3, n_cards=120, n_terminals=200, fraud_rate=0.03), date(2026, 1, 1), 60
    )
    s3 = boto_session.client("s3")
    _write_lake(s3, lake_bucket, history, _chargebacks(history, np.random.default_rng(5)))
    periods = ["--train-days", "10", "--validation-days", "3", "--delay-days", "1", "--test-days", "3"]
    search = ["--folds", "1", "--fold-days", "2", "--quick", "--label-delay-days", "1"]
    # WHEN a model is trained from the lake since 2026-02-05 (a regime change, say)
    args = ["train", "--from-lake", "--since", "2026-02-05", *periods, *search]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "model")])
    # THEN its training window starts on that day, not 14 warm-up days later
    assert result.exit_code == 0, result.output
    card = load_artifact(tmp_path / "model").card
    assert card.data_ranges["train_start"] == "2026-02-05"
    assert card.data_ranges["test_end"] == "2026-02-19"
    # ... and the windows' history before it was read (30 days plus the 1-day label delay and one), not trained on
    assert card.data_ranges["lake_since"] == "2026-02-05"
    assert card.data_ranges["lake_first_event"][:10] == "2026-01-04"
    assert card.extra["lake"]["history_days"] == 32
    in_history = history["event_time"].between(
        pd.Timestamp("2026-01-04", tz="UTC"), pd.Timestamp("2026-02-05", tz="UTC"), inclusive="left"
    )
    assert f"{int(in_history.sum()):,} of them before --since 2026-02-05 (32 days, from 2026-01-04)" in result.output
    assert "the lake starts on" not in result.output
    # WHEN the lake holds nothing before the day
    later = history[history["event_time"] >= pd.Timestamp("2026-02-05", tz="UTC")]
    s3.delete_objects(
        Bucket=lake_bucket,
        Delete={"Objects": [{"Key": o["Key"]} for o in s3.list_objects_v2(Bucket=lake_bucket)["Contents"]]},
    )
    _write_lake(s3, lake_bucket, later, _chargebacks(later, np.random.default_rng(5)))
    short = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "short")])
    # THEN it still trains from the day, and says that the first days' features miss part of their history
    assert short.exit_code == 0, short.output
    assert "the lake starts on 2026-02-05: the first days' features miss part of it" in short.output
