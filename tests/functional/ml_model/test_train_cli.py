"""`train --data`: a labelled CSV with other column names, mapped explicitly, trains a servable model;
a bad file is refused with the row and column at fault, or, with --skip-invalid, trained on and
scored without its invalid rows, which are reported; the label delay it trains with is the one `score`
computes the features with."""

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
from ml_model.exceptions import LabelDelayMismatchError
from ml_model.features import FEATURE_SPEC, compute_features
from synthetic.generator import GeneratorConfig, generate_history
from tests.model_fixtures import SMALL_RUN_PERIODS

if TYPE_CHECKING:
    from pathlib import Path

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
    unmapped = CliRunner().invoke(
        cli, ["train", "--data", str(data), "--out", str(tmp_path / "m0"), *SMALL_RUN_PERIODS]
    )
    # THEN the file is refused, naming the missing columns
    assert isinstance(unmapped.exception, BatchFileError)
    assert "missing required column(s) ['transaction_id', 'amount']" in str(unmapped.exception)
    # WHEN the names are mapped explicitly
    mapping = [f"--column-map={field}={column}" for field, column in _RENAMED.items()]
    out = tmp_path / "model"
    result = CliRunner().invoke(cli, ["train", "--data", str(data), *mapping, "--out", str(out), *SMALL_RUN_PERIODS])
    # THEN it trains on the file's periods and writes a servable artifact with its metrics
    assert result.exit_code == 0, result.output
    artifact = load_artifact(out)
    assert artifact.card.data_ranges["train_start"] == "2026-01-15"
    assert artifact.card.data_ranges["test_end"] == "2026-02-14"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model_version"] == artifact.model_version
    assert 0.5 < metrics["auc_roc"] <= 1.0


def test_a_file_with_bad_rows_is_refused_or_trained_and_scored_without_them(
    cli: typer.Typer, history: pd.DataFrame, tmp_path: Path
) -> None:
    # GIVEN a labelled CSV with three bad rows among good ones (rows counted as a spreadsheet shows
    # them, the header being row 1) and zero-amount authorisations, which are valid
    rows = history.astype({"event_time": object})
    rows.loc[3, "amount"] = -12.5  # row 5
    rows.loc[40, "amount"] = 2_000_000.0  # row 42
    rows.loc[9, "event_time"] = "2026-13-45T00:00:00Z"  # row 11
    rows.loc[[5, 6, 7], "amount"] = 0.0
    bad_ids = set(rows.loc[[3, 9, 40], "transaction_id"])
    data = tmp_path / "tx.csv"
    rows.to_csv(data, index=False)
    model = tmp_path / "model"
    # WHEN it is trained on
    strict = CliRunner().invoke(cli, ["train", "--data", str(data), "--out", str(model), *SMALL_RUN_PERIODS])
    # THEN it is refused before any training, naming its first bad row and the column
    assert isinstance(strict.exception, BatchFileError)
    assert "row 5, column 'amount' = -12.5: amount -12.5 must be >= 0 and <= 1,000,000 (3 invalid rows in all)" in str(
        strict.exception
    )
    assert "--skip-invalid" in strict.exception.hint
    assert not model.exists()
    # WHEN it is trained on, skipping invalid rows
    trained = CliRunner().invoke(
        cli, ["train", "--data", str(data), "--skip-invalid", "--out", str(model), *SMALL_RUN_PERIODS]
    )
    # THEN the model is trained on the good rows, and the bad ones are reported per reason
    assert trained.exit_code == 0, trained.output
    report = f"skipped 3 invalid rows of {len(rows):,}: out_of_range 2 (rows 5, 42), bad_timestamp 1 (row 11)"
    assert report in trained.output
    assert load_artifact(model).card.data_ranges["train_start"] == "2026-01-15"
    # WHEN the file is scored, strictly, then skipping invalid rows
    out = tmp_path / "scored.parquet"
    refused = CliRunner().invoke(cli, ["score", "--model", str(model), "--data", str(data), "--out", str(out)])
    scored = CliRunner().invoke(
        cli,
        ["score", "--model", str(model), "--data", str(data), "--out", str(out), "--skip-invalid"],
    )
    # THEN strict scoring is refused with the same error, and skipping scores every good row, zero amounts included
    assert isinstance(refused.exception, BatchFileError) and "row 5, column 'amount'" in str(refused.exception)
    assert scored.exit_code == 0, scored.output
    assert report in scored.output
    frame = pd.read_parquet(out)
    assert len(frame) == len(rows) - 3
    assert bad_ids.isdisjoint(frame["transaction_id"])
    assert (frame["amount"] == 0.0).sum() >= 3 and frame["score"].between(0, 1).all()
    assert set(frame["scored_by"]) == {"batch"}


def test_a_file_of_offset_less_utc_times_is_trained_on_and_scored_only_with_naive_times_utc(
    cli: typer.Typer, history: pd.DataFrame, tmp_path: Path
) -> None:
    # GIVEN a labelled CSV whose event times are UTC written without an offset
    data = tmp_path / "tx.csv"
    history.assign(event_time=history["event_time"].dt.tz_convert(None)).to_csv(data, index=False)
    model, out = tmp_path / "model", tmp_path / "scored.parquet"
    train = ["train", "--data", str(data), "--out", str(model), *SMALL_RUN_PERIODS]
    score = ["score", "--model", str(model), "--data", str(data), "--out", str(out)]
    # WHEN it is trained on as it is
    refused = CliRunner().invoke(cli, train)
    # THEN it is refused, with the flag as the fix
    _assert_refused_for_naive_times(refused.exception)
    assert not model.exists()
    # WHEN it is trained on with --naive-times-utc
    trained = CliRunner().invoke(cli, [*train, "--naive-times-utc"])
    # THEN the times are read as UTC: the model covers the file's periods
    assert trained.exit_code == 0, trained.output
    assert load_artifact(model).card.data_ranges["train_start"] == "2026-01-15"
    # WHEN it is scored as it is, then with --naive-times-utc
    refused = CliRunner().invoke(cli, score)
    scored = CliRunner().invoke(cli, [*score, "--naive-times-utc"])
    # THEN the first is refused as training was, the second scores every row at its time, as UTC
    _assert_refused_for_naive_times(refused.exception)
    assert scored.exit_code == 0, scored.output
    frame = pd.read_parquet(out)
    assert len(frame) == len(history)
    assert (
        frame.set_index("transaction_id")["event_time"]
        .sort_index()
        .equals(history.set_index("transaction_id")["event_time"].dt.as_unit("ms").sort_index())
    )


def _assert_refused_for_naive_times(error: BaseException | None) -> None:
    assert isinstance(error, BatchFileError), error
    assert "row 2, column 'event_time'" in str(error) and "must carry a UTC offset" in str(error)
    assert "--naive-times-utc" in error.hint


def test_train_records_its_label_delay_and_score_uses_it_or_refuses_another(
    cli: typer.Typer, history: pd.DataFrame, tmp_path: Path
) -> None:
    # GIVEN a model trained with a one-day label delay
    data = tmp_path / "tx.parquet"
    history.to_parquet(data, index=False)
    model = tmp_path / "model"
    trained = CliRunner().invoke(
        cli, ["train", "--data", str(data), "--out", str(model), "--label-delay-days", "1", *SMALL_RUN_PERIODS]
    )
    assert trained.exit_code == 0, trained.output
    artifact = load_artifact(model)

    # WHEN a file is scored with it, without a label delay, and then with the default one given
    scored = CliRunner().invoke(
        cli, ["score", "--model", str(model), "--data", str(data), "--out", str(tmp_path / "s")]
    )
    refused = CliRunner().invoke(
        cli,
        ["score", "--model", str(model), "--data", str(data), "--out", str(tmp_path / "r"), "--label-delay-days", "7"],
    )

    # THEN the spec and the card record the delay; the file's terminal features are the one-day ones
    assert artifact.spec == FEATURE_SPEC.with_label_delay(1.0)
    assert artifact.card.spec() == artifact.spec
    assert scored.exit_code == 0, scored.output
    rows = pd.read_parquet(tmp_path / "s").set_index("transaction_id")
    one_day = compute_features(history, label_delay_days=1.0).set_axis(history["transaction_id"])
    seven_days = compute_features(history, label_delay_days=7.0).set_axis(history["transaction_id"])
    terminal = ["terminal_tx_count_1d", "terminal_fraud_rate_7d"]
    pd.testing.assert_frame_equal(rows.loc[one_day.index, terminal], one_day[terminal], check_names=False)
    assert not rows.loc[seven_days.index, terminal].equals(seven_days[terminal])
    # ... and a contradicting delay is one line that says what to do, before anything is written
    assert isinstance(refused.exception, LabelDelayMismatchError)
    assert "is 7 but model xgb-" in str(refused.exception)
    assert "trained with a label delay of 1 days" in str(refused.exception)
    assert "\n" not in str(refused.exception)
    assert not (tmp_path / "r").exists()


def test_a_seven_day_window_trains_with_its_validation_before_it(
    cli: typer.Typer, history: pd.DataFrame, tmp_path: Path
) -> None:
    # GIVEN 44 days of labelled transactions
    data = tmp_path / "tx.parquet"
    history.to_parquet(data, index=False)
    short = ["--train-days", "7", "--validation-days", "7", "--delay-days", "3", "--test-days", "3"]
    short += ["--folds", "1", "--fold-days", "7", "--quick"]
    # WHEN a 7-day window is trained with its validation inside it
    inside = CliRunner().invoke(cli, ["train", "--data", str(data), "--out", str(tmp_path / "m0"), *short])
    # THEN it is refused in one line that names the option that makes it possible
    assert inside.exit_code == 2
    assert "--validation-days must be between 1 and 6" in _flat(inside.output)
    assert "--validation before takes them from the days before" in _flat(inside.output)
    # WHEN it is trained with the validation days before the window
    out = tmp_path / "model"
    result = CliRunner().invoke(
        cli, ["train", "--data", str(data), "--out", str(out), *short, "--validation", "before"]
    )
    # THEN the whole 7-day window is fitted after 14 warm-up days and the 17 days its validation needs
    assert result.exit_code == 0, result.output
    card = load_artifact(out).card
    ranges = card.data_ranges
    assert (ranges["train_start"], ranges["train_end"]) == ("2026-02-01", "2026-02-08")
    assert (ranges["validation_start"], ranges["validation_end"]) == ("2026-01-25", "2026-02-01")
    assert (ranges["validation_fit_start"], ranges["validation_fit_end"]) == ("2026-01-15", "2026-01-22")
    assert (ranges["test_start"], ranges["test_end"]) == ("2026-02-11", "2026-02-14")
    # ... and the card records the layout, the rounds its validation model chose and the search's fold
    assert card.extra["validation"] == "before"
    assert card.extra["rounds"] == card.num_boosted_rounds
    [fold] = card.extra["search"]["folds"]
    assert (fold["fit_start"], fold["fit_end"], fold["validation_start"]) == ("2026-01-15", "2026-01-22", "2026-01-25")
    assert 0.5 < card.metrics["auc_roc"] <= 1.0
    # WHEN the data does not reach back far enough for the validation
    late = CliRunner().invoke(
        cli,
        ["train", "--data", str(data), "--out", str(tmp_path / "m1"), *short, "--validation", "before"]
        + ["--train-start", "2026-01-10"],
    )
    # THEN it is refused in one line with the days needed
    assert late.exit_code == 2
    assert "--validation before needs 17 days of data before the first training day 2026-01-10" in _flat(late.output)


def _flat(output: str) -> str:
    """A usage error's message without the terminal box it is drawn in and its line breaks."""
    return " ".join(output.replace("│", " ").split())
