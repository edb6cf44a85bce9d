"""`fraudstream generate`: a batch-input file of the synthetic world that every reader of the schema
accepts as it is, in the past, the same for the same seed; a file it cannot write is one error line."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

import pandas as pd
import pytest
from typer.testing import CliRunner

from fraudstream.batch_files import load_batch_file
from fraudstream.cli import app

if TYPE_CHECKING:
    from pathlib import Path

SMALL_WORLD = ["--cards", "30", "--terminals", "60", "--fraud-rate", "0.1"]
COLUMNS = [
    "transaction_id",
    "event_time",
    "card_id",
    "terminal_id",
    "amount",
    "currency",
    "merchant_category",
    "channel",
    "country",
    "lat",
    "lon",
    "is_fraud",
]


def _generate(*args: str) -> None:
    result = CliRunner().invoke(app, ["generate", *args, *SMALL_WORLD])
    assert result.exit_code == 0, result.output
    assert result.exception is None


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_writes_whole_days_up_to_the_end_of_yesterday_every_row_valid(tmp_path: Path, suffix: str) -> None:
    # GIVEN the end of yesterday (UTC)
    end = pd.Timestamp(datetime.combine(datetime.now(UTC).date(), time(), tzinfo=UTC))
    out = tmp_path / f"history{suffix}"
    # WHEN three days are generated
    _generate("--days", "3", "--out", str(out))
    # THEN the file is read strictly (the first invalid row would refuse it): every row is valid
    loaded = load_batch_file(out)
    assert loaded.invalid.skipped == 0
    frame = loaded.frame
    assert len(frame) == loaded.invalid.total > 100
    assert list(frame.columns) == COLUMNS  # the batch-input schema, with is_fraud
    assert set(frame["is_fraud"]) == {0, 1}
    # AND it holds the three days before the end of yesterday, nothing later
    assert frame["event_time"].max() < end
    assert end - pd.Timedelta(days=3) <= frame["event_time"].min() < end - pd.Timedelta(days=3) + pd.Timedelta(hours=6)
    assert not list(tmp_path.glob("*.partial"))


def test_a_history_that_would_reach_past_the_present_ends_at_it(tmp_path: Path) -> None:
    # GIVEN a start yesterday and five days asked for
    now = datetime.now(UTC)
    out = tmp_path / "history.csv"
    # WHEN generated
    _generate("--start", f"{now - timedelta(days=1):%Y-%m-%d}", "--days", "5", "--out", str(out))
    # THEN it starts at the start and ends before now
    times = load_batch_file(out).frame["event_time"]
    assert len(times) > 10
    assert times.min() >= pd.Timestamp(f"{now - timedelta(days=1):%Y-%m-%d}", tz="UTC")
    assert times.max() < pd.Timestamp.now(tz="UTC")


def test_the_same_seed_writes_the_same_file_and_another_seed_another(tmp_path: Path) -> None:
    # WHEN the same days are generated twice with one seed, and once with another
    files = {}
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        files[name] = tmp_path / f"{name}.csv"
        _generate("--start", "2026-03-01", "--days", "2", "--seed", seed, "--out", str(files[name]))
    # THEN the first two files are the same, byte for byte; the third holds other transactions
    assert files["a"].read_bytes() == files["b"].read_bytes()
    first, other = (load_batch_file(files[n]).frame for n in ("a", "c"))
    assert not set(first["transaction_id"]) & set(other["transaction_id"])
    assert first["event_time"].min() >= pd.Timestamp("2026-03-01", tz="UTC")
    assert first["event_time"].max() < pd.Timestamp("2026-03-03", tz="UTC")


def test_an_unsupported_suffix_is_one_error_line_and_no_file(tmp_path: Path) -> None:
    # WHEN a user asks for a JSON file
    out = tmp_path / "history.json"
    result = subprocess.run(
        [sys.executable, "-m", "fraudstream", "generate", "--days", "1", "--out", str(out)],
        env={**os.environ, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # THEN it fails with one error line and its hint, and writes nothing
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {out}: unsupported file type '.json'; use .csv or .parquet",
        "hint: name the file *.csv or *.parquet",
    ]
    assert not list(tmp_path.iterdir())
