"""A batch's partition written with local sinks and a stand-in scorer: what goes where, and the figures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pyarrow import fs

from fraudstream.lake import AGGREGATES, LABELS, QUARANTINE, TRANSACTIONS
from ml_model.features import FEATURE_SPEC
from processor.batch import PartitionSinks, batch_metrics, write_partition
from processor.parsing import PARSED_SCHEMA
from processor.records import STAGED_SCHEMA, frame_table
from processor.sinks.base import BatchSink
from processor.sinks.s3_parquet import S3ParquetSink

if TYPE_CHECKING:
    from pathlib import Path


class ScoreByAmount:
    """Stand-in scorer: the score is amount / 1000, and rows over 800 come from the fallback."""

    def score_frame(self, features: pd.DataFrame) -> pd.DataFrame:
        score = (features["amount"] / 1000).clip(0, 1)
        return pd.DataFrame(
            {
                "score": score,
                "scored_by": ["fallback" if a > 800 else "endpoint:test" for a in features["amount"]],
                "model_version": "v-test",
                "reasons": [["amount"]] * len(features),
            }
        )


class RecordingSink(BatchSink):
    def __init__(self) -> None:
        self.writes: list[tuple[int, pa.Table]] = []

    def write(self, batch_id: int, table: pa.Table, *, part: int = 0) -> int:
        self.writes.append((batch_id, table))
        return int(pa.compute.sum(table["is_alert"]).as_py() or 0) if table.num_rows else 0


def _staged(n_ok: int) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for i in range(n_ok):
        row: dict[str, Any] = dict.fromkeys(PARSED_SCHEMA.fieldNames())
        row.update(
            schema_version=1,
            transaction_id=f"tx-{i}",
            event_time=pd.Timestamp("2026-11-23 10:00") + pd.Timedelta(minutes=i),
            card_id="c1",
            terminal_id="t1",
            amount=float(100 * (i + 1)),
            currency="USD",
            stream_name="transactions",
            shard_id="s0",
            sequence_number=str(i),
            arrival_time=pd.Timestamp("2026-11-23T12:00:00Z"),
            status="ok",
        )
        row.update({name: 1.0 for name in FEATURE_SPEC.names if name != "amount"})
        rows.append(row)
    bad: dict[str, Any] = dict.fromkeys(PARSED_SCHEMA.fieldNames())
    bad.update(
        raw_data="{x",
        reason="bad_json",
        detail="d",
        stream_name="transactions",
        shard_id="s0",
        sequence_number="99",
        arrival_time=pd.Timestamp("2026-11-23T12:00:00Z"),
        status="invalid",
    )
    dup = dict(rows[0], sequence_number="100", status="duplicate")
    return pd.DataFrame([*rows, bad, dup])


def _table(staged: pd.DataFrame) -> pa.Table:
    """The rows as the writer reads them (each under the stage key it travelled under)."""
    return frame_table(staged.assign(route="b0"), STAGED_SCHEMA)


def test_a_batch_goes_to_the_lake_alerts_and_quarantine_with_its_figures(tmp_path: Path) -> None:
    # GIVEN 9 accepted transactions (amounts 100..900), one invalid record and one duplicate
    local = fs.LocalFileSystem()
    lake = S3ParquetSink(str(tmp_path), TRANSACTIONS, local)
    quarantine = S3ParquetSink(str(tmp_path), QUARANTINE, local)
    alerts = RecordingSink()
    sinks = PartitionSinks(lake=lake, alerts=alerts, quarantine=quarantine, scorer=ScoreByAmount())
    now = pd.Timestamp("2026-11-23T12:00:02Z").timestamp()
    # WHEN written as partition 2 of batch 4
    part = write_partition(_table(_staged(9)), batch_id=4, part=2, sinks=sinks, threshold=0.5, clock=lambda: now)
    figures = batch_metrics(4, [part], started_s=now - 1)
    # THEN the lake holds the 9 accepted rows, scored, alerting from 500 up
    table = lake.read_all()
    assert sorted(table["transaction_id"].to_pylist()) == sorted(f"tx-{i}" for i in range(9))
    by_id = {r["transaction_id"]: r for r in table.to_pylist()}
    assert by_id["tx-4"]["is_alert"] and not by_id["tx-3"]["is_alert"]
    assert by_id["tx-8"]["scored_by"] == "fallback" and by_id["tx-0"]["model_version"] == "v-test"
    assert all(r["batch_id"] == 4 for r in by_id.values())
    # the alerts sink saw the same scored table; the quarantine holds the invalid record
    assert alerts.writes[0][0] == 4 and alerts.writes[0][1].num_rows == 9
    assert quarantine.read_all()["reason"].to_pylist() == ["bad_json"]
    # and the figures add up
    assert (figures.rows_in, figures.quarantined, figures.duplicates_dropped, figures.late) == (11, 1, 1, 0)
    assert figures.alerts == 5 and figures.fallback_scored == 1
    # the latency histogram's bins are 1.2% wide
    assert figures.event_to_sink_p50_ms == pytest.approx(2000.0, rel=0.012)
    assert figures.source_lag_ms == pytest.approx(2000.0)
    # every file is named after the batch and the partition
    assert {p.name for p in tmp_path.rglob("*.parquet")} == {"batch-000000000004-0002.parquet"}


def test_closed_windows_go_to_the_aggregates_table_by_day_and_are_no_records(tmp_path: Path) -> None:
    # GIVEN a partition with 2 accepted transactions, an invalid record, a duplicate and two closed
    # windows of a card, on two days
    local = fs.LocalFileSystem()
    aggregates = S3ParquetSink(str(tmp_path), AGGREGATES, local)
    quarantine = S3ParquetSink(str(tmp_path), QUARANTINE, local)
    sinks = PartitionSinks(
        lake=S3ParquetSink(str(tmp_path), TRANSACTIONS, local),
        alerts=RecordingSink(),
        quarantine=quarantine,
        scorer=ScoreByAmount(),
        aggregates=aggregates,
    )
    starts = [pd.Timestamp("2026-11-30T23:55:00Z"), pd.Timestamp("2026-12-01T00:00:00Z")]
    windows = pd.DataFrame(
        {
            "card_id": "c1",
            "window_start": starts,
            "window_end": [s + pd.Timedelta("10min") for s in starts],
            "tx_count": [2, 1],
            "amount_sum": [300.0, 200.0],
            "amount_mean": [150.0, 200.0],
            "amount_max": [200.0, 200.0],
            "status": "aggregate",
            "stream_name": "",
            "shard_id": "",
            "sequence_number": "0",
            "arrival_time": pd.Timestamp("2026-12-01T00:06:00Z"),
        }
    )
    staged = pd.concat([_staged(2), windows], ignore_index=True)
    # WHEN written as partition 3 of batch 5
    part = write_partition(_table(staged), batch_id=5, part=3, sinks=sinks, threshold=0.5)
    # THEN each window is in the aggregates table once, with its figures and the batch, in the folder
    # of its start's day
    got = aggregates.read_all().to_pandas().sort_values("window_start").reset_index(drop=True)
    assert got["window_start"].tolist() == starts
    assert (got["tx_count"].tolist(), got["amount_sum"].tolist()) == ([2, 1], [300.0, 200.0])
    assert (got["batch_id"] == 5).all() and got["dt"].tolist() == ["2026-11-30", "2026-12-01"]
    files = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "aggregates").rglob("*.parquet"))
    assert files == [
        "aggregates/dt=2026-11-30/batch-000000000005-0003.parquet",
        "aggregates/dt=2026-12-01/batch-000000000005-0003.parquet",
    ]
    # AND they are no records: not in the quarantine or the figures
    assert quarantine.read_all()["reason"].to_pylist() == ["bad_json"]
    assert (part.rows_in, part.quarantined, part.duplicates_dropped) == (4, 1, 1)


class ScoreByAmountTwoModels(ScoreByAmount):
    """Stand-in for an endpoint with a champion and a challenger: rows of even amount (in hundreds) are
    the challenger's, whose threshold is 0.15; the champion's card is unknown (NaN)."""

    def score_frame(self, features: pd.DataFrame) -> pd.DataFrame:
        challenger = (features["amount"] // 100 % 2 == 0).to_numpy()
        return (
            super()
            .score_frame(features)
            .assign(
                model_variant=np.where(challenger, "challenger", "champion"),
                threshold=np.where(challenger, 0.15, np.nan),
            )
        )


@pytest.mark.parametrize("own_thresholds", [True, False])
def test_each_row_alerts_at_its_models_threshold_unless_one_is_set(tmp_path: Path, own_thresholds: bool) -> None:
    # GIVEN amounts 100..900 scored 0.1..0.9, the challenger's (200, 400, ...) at its threshold 0.15, the
    # champion's at a threshold unknown to the scorer
    local = fs.LocalFileSystem()
    lake = S3ParquetSink(str(tmp_path), TRANSACTIONS, local)
    sinks = PartitionSinks(
        lake=lake,
        alerts=RecordingSink(),
        quarantine=S3ParquetSink(str(tmp_path), QUARANTINE, local),
        scorer=ScoreByAmountTwoModels(),
    )
    # WHEN written with the job's threshold 0.5, each model's own or that one for every row
    write_partition(_table(_staged(9)), batch_id=1, part=0, sinks=sinks, threshold=0.5, own_thresholds=own_thresholds)
    alerting = {r["amount"] for r in lake.read_all().to_pylist() if r["is_alert"]}
    # THEN the challenger's rows alert from 0.15 and the champion's from 0.5 (its own unknown), or all from 0.5
    expected = (
        {200.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0} if own_thresholds else {500.0, 600.0, 700.0, 800.0, 900.0}
    )
    assert alerting == expected


def test_an_empty_batch_writes_nothing_and_reports_zeros(tmp_path: Path) -> None:
    local = fs.LocalFileSystem()
    sinks = PartitionSinks(
        lake=S3ParquetSink(str(tmp_path), TRANSACTIONS, local),
        alerts=RecordingSink(),
        quarantine=S3ParquetSink(str(tmp_path), QUARANTINE, local),
        scorer=ScoreByAmount(),
    )
    part = write_partition(_table(_staged(1).iloc[:0]), batch_id=0, part=0, sinks=sinks, threshold=0.5)
    figures = batch_metrics(0, [part], started_s=part.finished_s)
    assert figures.rows_in == 0 and figures.alerts == 0
    assert not list(tmp_path.iterdir())


def _chargeback(i: int, label_time: str) -> dict[str, Any]:
    return {
        "transaction_id": f"tx-{i}",
        "card_id": "c1",
        "terminal_id": "t1",
        "event_time": pd.Timestamp("2026-11-23 10:00", tz="UTC") + pd.Timedelta(minutes=i),
        "label_time": pd.Timestamp(label_time, tz="UTC"),
        "is_fraud": i % 2,
        "stream_name": "labels",
        "shard_id": "s1",
        "sequence_number": str(1000 + i),
        "arrival_time": pd.Timestamp(label_time, tz="UTC") + pd.Timedelta(seconds=1),
        "status": "label",
    }


def test_chargebacks_go_to_the_labels_table_by_the_day_of_their_label_time(tmp_path: Path) -> None:
    # GIVEN a partition with 3 accepted transactions, one invalid record, one duplicate and three
    # chargebacks known on two days (the last one just before midnight, UTC)
    local = fs.LocalFileSystem()
    labels = S3ParquetSink(str(tmp_path), LABELS, local)
    quarantine = S3ParquetSink(str(tmp_path), QUARANTINE, local)
    lake = S3ParquetSink(str(tmp_path), TRANSACTIONS, local)
    sinks = PartitionSinks(
        lake=lake,
        alerts=RecordingSink(),
        quarantine=quarantine,
        scorer=ScoreByAmount(),
        labels=labels,
    )
    chargebacks = [
        _chargeback(0, "2026-11-30T08:00:00"),
        _chargeback(1, "2026-12-01T00:00:00"),
        _chargeback(2, "2026-11-30T23:59:59.999"),
    ]
    staged = pd.concat([_staged(3), pd.DataFrame(chargebacks)], ignore_index=True)
    now = pd.Timestamp("2026-12-01T12:00:00Z")
    # WHEN written as partition 1 of batch 7, twice (a re-run of the batch)
    for _ in range(2):
        part = write_partition(_table(staged), batch_id=7, part=1, sinks=sinks, threshold=0.5, clock=now.timestamp)
    # THEN each chargeback is in the labels table once, with the contract's fields and its source
    got = labels.read_all().to_pandas().sort_values("transaction_id").reset_index(drop=True)
    assert got["transaction_id"].tolist() == ["tx-0", "tx-1", "tx-2"]
    assert got["dt"].tolist() == ["2026-11-30", "2026-12-01", "2026-11-30"]
    assert got["is_fraud"].tolist() == [0, 1, 0]
    assert (got["schema_version"] == 1).all() and (got["batch_id"] == 7).all()
    assert got["tx_event_time"].tolist() == [c["event_time"] for c in chargebacks]
    assert got["label_time"].tolist() == [c["label_time"] for c in chargebacks]
    assert got["sequence_number"].tolist() == ["1000", "1001", "1002"]
    assert (got["processed_at"] == now).all()
    # in one file per label day, named after the batch and the partition
    files = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "labels").rglob("*.parquet"))
    assert files == [
        "labels/dt=2026-11-30/batch-000000000007-0001.parquet",
        "labels/dt=2026-12-01/batch-000000000007-0001.parquet",
    ]
    # AND they are no transaction: not in the lake's transactions, the quarantine or the figures
    assert sorted(lake.read_all()["transaction_id"].to_pylist()) == ["tx-0", "tx-1", "tx-2"]
    assert quarantine.read_all()["reason"].to_pylist() == ["bad_json"]
    assert (part.rows_in, part.quarantined, part.duplicates_dropped) == (5, 1, 1)
