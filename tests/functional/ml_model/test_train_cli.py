"""`train --data`: a labelled CSV with other column names, mapped explicitly, trains a servable model;
a bad file is refused with the row and column at fault."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from fraudstream.exceptions import BatchFileError
from ml_model.artifact import load_artifact
from producer.generator import GeneratorConfig, generate_history

if TYPE_CHECKING:
    from pathlib import Path

# The periods of a small run: 14 warm-up days, 20 training days (the last 7 validate, one search
# fold of 5), a 3-day delay, 7 test days.
_PERIODS = [
    "--train-days",
    "20",
    "--validation-days",
    "7",
    "--delay-days",
    "3",
    "--test-days",
    "7",
    "--folds",
    "1",
    "--fold-days",
    "5",
    "--quick",
]
_RENAMED = {"transaction_id": "TX_ID", "amount": "AMOUNT_USD", "is_fraud": "CHARGEBACK"}


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    """44 days of a small synthetic world with fraud in every period."""
    return generate_history(
        GeneratorConfig(seed=3, n_cards=120, n_terminals=200, fraud_rate=0.03), date(2026, 1, 1), 44
    )


def test_train_reads_a_csv_with_other_column_names_through_the_column_map(
    cli: typer.Typer, history: pd.DataFrame, tmp_path: Path
) -> None:
    # GIVEN a labelled CSV whose id, amount and label columns have other names
    data = tmp_path / "tx.csv"
    history.rename(columns=_RENAMED).to_csv(data, index=False)
    # WHEN it is trained on without a column map
    unmapped = CliRunner().invoke(cli, ["train", "--data", str(data), "--out", str(tmp_path / "m0"), *_PERIODS])
    # THEN the file is refused, naming the missing columns
    assert isinstance(unmapped.exception, BatchFileError)
    assert "missing required column(s) ['transaction_id', 'amount']" in str(unmapped.exception)
    # WHEN the names are mapped explicitly
    mapping = [f"--column-map={field}={column}" for field, column in _RENAMED.items()]
    out = tmp_path / "model"
    result = CliRunner().invoke(cli, ["train", "--data", str(data), *mapping, "--out", str(out), *_PERIODS])
    # THEN it trains on the file's periods and writes a servable artifact with its metrics
    assert result.exit_code == 0, result.output
    artifact = load_artifact(out)
    assert artifact.card.data_ranges["train_start"] == "2026-01-15"
    assert artifact.card.data_ranges["test_end"] == "2026-02-14"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model_version"] == artifact.model_version
    assert 0.5 < metrics["auc_roc"] <= 1.0


def test_train_names_the_row_and_column_of_a_bad_file(cli: typer.Typer, history: pd.DataFrame, tmp_path: Path) -> None:
    # GIVEN a labelled CSV whose fourth data row has a negative amount (row 5 counting the header)
    rows = history.copy()
    rows.loc[3, "amount"] = -12.5
    data = tmp_path / "tx.csv"
    rows.to_csv(data, index=False)
    # WHEN it is trained on
    result = CliRunner().invoke(cli, ["train", "--data", str(data), "--out", str(tmp_path / "m"), *_PERIODS])
    # THEN it is refused before any training, naming the row and the column
    assert isinstance(result.exception, BatchFileError)
    assert "row 5, column 'amount': -12.5 must be > 0" in str(result.exception)
    assert not (tmp_path / "m").exists()
