"""`fraudstream monitor` over a small lake on the embedded emulator: per-day Parquet in monitoring/
(replaced on a re-run), the HTML page, a drift finding line, and one-line refusals."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs
from typer.testing import CliRunner

from fraudstream.aws import s3_filesystem
from fraudstream.cli import app
from fraudstream.lake import LABELS, TRANSACTIONS
from ml_model.artifact import ModelCard, write_artifact
from ml_model.features import FEATURE_SPEC
from ml_model.monitor_cli import MonitoringError
from ml_model.monitoring import training_reference

if TYPE_CHECKING:
    from pathlib import Path

    import boto3
    import xgboost as xgb

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)
N = 300


def _features(rng: np.random.Generator, n: int, *, shift: float = 0.0) -> dict[str, np.ndarray]:
    values = {name: rng.normal(0.0, 1.0, n) for name in FEATURE_SPEC.names}
    values["amount"] = rng.normal(50.0 + shift, 10.0, n)
    return values


def _transactions(day: int, rng: np.random.Generator, *, shift: float = 0.0) -> pa.Table:
    start = DAY0 + timedelta(days=day)
    features = _features(rng, N, shift=shift)
    scores = rng.uniform(size=N)
    rows: list[dict[str, Any]] = []
    for i in range(N):
        row: dict[str, Any] = {
            "schema_version": 1,
            "transaction_id": f"tx-{day}-{i}",
            "event_time": start + timedelta(minutes=4 * i),
            "card_id": f"card-{i}",
            "terminal_id": f"term-{i % 7}",
            "currency": "USD",
            "merchant_category": "5411",
            "channel": "pos",
            "country": "US",
            "lat": 40.0,
            "lon": -74.0,
            "score": float(scores[i]),
            "is_alert": bool(scores[i] >= 0.9),
            "model_version": "mon-1",
            "scored_by": "fallback" if i < 3 else "endpoint:fraud-detector",
            "reasons": [],
            "batch_id": 0,
            "processed_at": start,
            "arrival_time": start,
        }
        row.update({name: float(values[i]) for name, values in features.items()})
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=TRANSACTIONS.schema)


def _labels(ids: list[str], label_time: datetime) -> pa.Table:
    rows = [
        {
            "schema_version": 1,
            "transaction_id": tx,
            "card_id": "card-0",
            "terminal_id": "term-0",
            "tx_event_time": DAY0,
            "label_time": label_time,
            "is_fraud": 1,
            "stream_name": "labels",
            "shard_id": "shardId-0",
            "sequence_number": str(i),
            "arrival_time": label_time,
            "batch_id": 0,
            "processed_at": label_time,
        }
        for i, tx in enumerate(ids)
    ]
    return pa.Table.from_pylist(rows, schema=LABELS.schema)


@pytest.fixture
def model_with_reference(trained_booster: xgb.Booster, tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    features = _features(rng, 5000)
    X = np.column_stack([features[name] for name in FEATURE_SPEC.names])
    card = ModelCard(
        model_version="mon-1",
        feature_spec_hash=FEATURE_SPEC.hash,
        threshold=0.9,
        metrics={"precision": 0.9},
        reference=training_reference(X, FEATURE_SPEC.names, rng.uniform(size=5000)),
    )
    return write_artifact(trained_booster, FEATURE_SPEC, card, tmp_path / "model")


def test_monitor_writes_a_file_per_day_the_page_and_a_drift_finding(
    boto_session: boto3.Session, model_with_reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a lake of three days, the third with amounts shifted by three standard deviations, and
    # chargebacks for the first day's five highest scores, labelled 10 days later
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    boto_session.client("s3").create_bucket(Bucket=bucket)
    filesystem = s3_filesystem(boto_session)
    rng = np.random.default_rng(1)
    days = [_transactions(d, rng, shift=30.0 if d == 2 else 0.0) for d in range(3)]
    for d, table in enumerate(days):
        dt = (DAY0 + timedelta(days=d)).date().isoformat()
        with filesystem.open_output_stream(f"{bucket}/transactions/dt={dt}/hour=00/part-0.parquet") as out:
            pq.write_table(table, out)
    first = days[0].to_pandas()
    frauds = list(first.sort_values("score", ascending=False)["transaction_id"][:5])
    with filesystem.open_output_stream(f"{bucket}/labels/dt=2026-03-11/part-0.parquet") as out:
        pq.write_table(_labels(frauds, DAY0 + timedelta(days=10)), out)
    monkeypatch.setenv("FRAUD_LAKE_BUCKET", bucket)
    args = ["monitor", "--model", str(model_with_reference), "--out", str(tmp_path / "page")]
    # WHEN it is monitored, twice
    for _ in range(2):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, (result.output, result.exception)
    # THEN each day has one monitoring file (replaced, not added to, on the re-run)
    listed = sorted(
        info.path
        for info in filesystem.get_file_info(fs.FileSelector(f"{bucket}/monitoring", recursive=True))
        if info.is_file
    )
    assert listed == [f"{bucket}/monitoring/dt=2026-03-0{d}/monitoring.parquet" for d in (1, 2, 3)]
    rows = [pq.read_table(filesystem.open_input_file(path)).to_pylist()[0] for path in listed]
    assert [r["rows"] for r in rows] == [N, N, N]
    assert [r["model_version"] for r in rows] == ["mon-1"] * 3
    assert rows[0]["fallback_share"] == pytest.approx(3 / N)
    # ... drift in amount on the third day only
    assert rows[0]["psi__amount"] < 0.2 < rows[2]["psi__amount"]
    # ... realised figures where the labels are known (the model's 7-day label delay has passed for
    # all three days: the newest label is 10 days after the first)
    assert rows[0]["labels_known"] and rows[0]["recall"] == pytest.approx(
        sum(1 for _, r in first.iterrows() if r["transaction_id"] in frauds and r["is_alert"]) / 5
    )
    assert rows[0]["card_precision_at_100"] == pytest.approx(5 / 100)
    # ... and the folder reads as one table, with the day as its partition
    dataset = pq.read_table(f"{bucket}/monitoring", filesystem=filesystem, partitioning="hive")
    assert sorted(dataset.column("dt").to_pylist()) == ["2026-03-01", "2026-03-02", "2026-03-03"]
    # ... the page has its three plots
    page = (tmp_path / "page" / "monitoring.html").read_text()
    assert page.count("<img ") == 3
    # ... and a finding line names the drifted feature and its day
    assert any(line.startswith("2026-03-03 drift: amount PSI") for line in result.output.splitlines())
    assert not any(line.startswith("2026-03-01 drift") for line in result.output.splitlines())
    # WHEN only the first day is asked for, with a PSI threshold nothing reaches
    result = CliRunner().invoke(app, [*args, "--until", "2026-03-01", "--psi-threshold", "100"])
    # THEN one day is monitored and no drift is found
    assert result.exit_code == 0, result.output
    assert "monitored 1 day(s)" in result.output and "drift" not in result.output


def test_an_empty_lake_and_a_card_without_reference_are_refused_in_one_line(
    boto_session: boto3.Session,
    model_with_reference: Path,
    artifact_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    boto_session.client("s3").create_bucket(Bucket=bucket)
    monkeypatch.setenv("FRAUD_LAKE_BUCKET", bucket)
    # an empty lake
    result = CliRunner().invoke(app, ["monitor", "--model", str(model_with_reference), "--out", str(tmp_path)])
    assert isinstance(result.exception, MonitoringError)
    assert "no scored transactions in the lake" in str(result.exception)
    assert "\n" not in str(result.exception)
    # a card from before the reference (the shared fixture's)
    result = CliRunner().invoke(app, ["monitor", "--model", str(artifact_path), "--out", str(tmp_path)])
    assert isinstance(result.exception, MonitoringError)
    assert "has no training reference" in str(result.exception)
