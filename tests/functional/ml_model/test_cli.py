"""`invoke` and `serve`, registered on a Typer app of the test's own (the root CLI registers them the same way)."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

import ml_model.scoring.sagemaker
from fraudstream.exceptions import BatchFileError
from ml_model.artifact import load_artifact
from ml_model.cli import invoke, serve
from ml_model.exceptions import FeatureColumnsError, LabelDelayMismatchError, TransactionEventError
from ml_model.features import FEATURE_SPEC, compute_features
from ml_model.scoring.base import ReasonExplainer
from ml_model.serving import LocalEndpointServer
from producer.delivery import encode_transactions
from synthetic.generator import GeneratorConfig, generate_history
from tests.model_fixtures import with_label_delay

if TYPE_CHECKING:
    from pathlib import Path

    from ml_model.artifact import ModelArtifact


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("serve")(serve)
    app.command("invoke")(invoke)
    return app


def _use_endpoint(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3's SageMaker runtime at `url`, with test credentials."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": url,
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def runtime_env(endpoint: LocalEndpointServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_endpoint(endpoint.url, monkeypatch)


@pytest.mark.usefixtures("runtime_env")
def test_invoke_csv_prints_scores_and_reasons(
    cli: typer.Typer, artifact: ModelArtifact, artifact_path: Path, eval_rows: np.ndarray, tmp_path: Path
) -> None:
    # GIVEN feature rows with a transaction id, in a CSV file
    rows = eval_rows[:20]
    frame = pd.DataFrame(rows, columns=list(FEATURE_SPEC.names)).assign(transaction_id=[f"tx{i}" for i in range(20)])
    frame.to_csv(tmp_path / "rows.csv", index=False)
    # WHEN they are scored against the local endpoint, as JSON lines
    result = CliRunner().invoke(
        cli,
        [
            "invoke",
            "--endpoint",
            "fraud-detector",
            "--file",
            str(tmp_path / "rows.csv"),
            "--model",
            str(artifact_path),
            "--json",
        ],
    )
    # THEN each row has the endpoint's score and the local model's reasons
    assert result.exit_code == 0, result.output
    printed = [json.loads(line) for line in result.output.splitlines()]
    assert [p["row"] for p in printed] == [f"tx{i}" for i in range(20)]
    np.testing.assert_array_equal([p["score"] for p in printed], artifact.booster.inplace_predict(rows))
    assert {p["scored_by"] for p in printed} == {"endpoint:fraud-detector"}
    assert all(len(p["reasons"]) <= 3 for p in printed)
    assert any(p["reasons"] for p in printed)
    assert {p["alert"] for p in printed} == {True, False}


@pytest.mark.usefixtures("runtime_env")
def test_invoke_json_table(cli: typer.Typer, eval_rows: np.ndarray, tmp_path: Path) -> None:
    records = [
        dict(zip(FEATURE_SPEC.names, (None if np.isnan(v) else v for v in row), strict=True)) for row in eval_rows[:3]
    ]
    (tmp_path / "rows.json").write_text(json.dumps(records))
    result = CliRunner().invoke(cli, ["invoke", "--endpoint", "fraud-detector", "--file", str(tmp_path / "rows.json")])
    assert result.exit_code == 0, result.output
    assert "endpoint fraud-detector" in result.output
    assert result.output.count("\n") > 3


@pytest.mark.usefixtures("runtime_env")
def test_invoke_refuses_rows_without_every_feature(cli: typer.Typer, tmp_path: Path) -> None:
    (tmp_path / "rows.json").write_text(json.dumps({"amount": 12.5}))
    result = CliRunner().invoke(cli, ["invoke", "--endpoint", "fraud-detector", "--file", str(tmp_path / "rows.json")])
    assert result.exit_code != 0
    assert "missing" in str(result.exception)


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    """Three days of a small synthetic world: cards with histories, some fraud."""
    return generate_history(GeneratorConfig(seed=11, n_cards=60, n_terminals=120, fraud_rate=0.02), date(2026, 3, 1), 3)


@pytest.fixture
def sent_bodies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The body of every InvokeEndpoint request the CLI sends, captured through botocore's event system."""
    bodies: list[str] = []
    build = ml_model.scoring.sagemaker.runtime_client

    def capturing_client(*args: Any, **kwargs: Any) -> Any:
        client = build(*args, **kwargs)
        client.meta.events.register(
            "before-call.sagemaker-runtime.InvokeEndpoint",
            lambda params, **_: bodies.append(
                params["body"].decode() if isinstance(params["body"], bytes) else params["body"]
            ),
        )
        return client

    monkeypatch.setattr(ml_model.scoring.sagemaker, "runtime_client", capturing_client)
    return bodies


@pytest.mark.usefixtures("runtime_env")
def test_invoke_transactions_jsonl_scores_each_with_features_over_the_files_history(
    cli: typer.Typer,
    artifact: ModelArtifact,
    artifact_path: Path,
    history: pd.DataFrame,
    sent_bodies: list[str],
    tmp_path: Path,
) -> None:
    # GIVEN raw transaction events, one JSON object per line, as the producer writes them (no labels)
    shuffled = history.sample(frac=1.0, random_state=1)  # the file's order is not event order
    (tmp_path / "tx.jsonl").write_bytes(b"\n".join(encode_transactions(shuffled)) + b"\n")
    # WHEN they are scored against the local endpoint, with the endpoint's artifact for reasons
    result = CliRunner().invoke(
        cli,
        [
            "invoke",
            "--endpoint",
            "fraud-detector",
            "--file",
            str(tmp_path / "tx.jsonl"),
            "--model",
            str(artifact_path),
            "--json",
        ],
    )
    # THEN each transaction, in the file's order, has the endpoint's score of its features computed
    # over the file's own history (the offline feature code), its alert and its top reasons
    assert result.exit_code == 0, result.output
    printed = [json.loads(line) for line in result.output.splitlines()]
    assert [p["transaction_id"] for p in printed] == shuffled["transaction_id"].tolist()
    unlabelled = shuffled.drop(columns=["is_fraud"])
    features = compute_features(unlabelled).to_numpy(dtype=np.float64)
    expected = artifact.booster.inplace_predict(features)
    np.testing.assert_array_equal([p["score"] for p in printed], expected)
    assert [p["alert"] for p in printed] == [bool(s >= artifact.card.threshold) for s in expected]
    assert [p["reasons"] for p in printed] == ReasonExplainer(artifact.booster, artifact.spec).explain(features)
    assert {p["scored_by"] for p in printed} == {"endpoint:fraud-detector"}
    # ... and the endpoint received exactly the spec's columns, every row
    lines = [line for body in sent_bodies for line in body.splitlines()]
    assert len(lines) == len(shuffled)
    assert {len(line.split(",")) for line in lines} == {len(FEATURE_SPEC)}


@pytest.mark.usefixtures("runtime_env")
def test_invoke_transactions_without_model_prints_scores_and_says_reasons_need_it(
    cli: typer.Typer, history: pd.DataFrame, tmp_path: Path
) -> None:
    # GIVEN a JSON array of transaction events
    events = [json.loads(e) for e in encode_transactions(history.head(5))]
    (tmp_path / "tx.json").write_text(json.dumps(events))
    # WHEN they are scored with only the endpoint's name
    result = CliRunner().invoke(
        cli, ["invoke", "--endpoint", "fraud-detector", "--file", str(tmp_path / "tx.json")], env={"COLUMNS": "200"}
    )
    # THEN a row per transaction: its id, a score, the alert per the endpoint's card; reasons need --model
    assert result.exit_code == 0, result.output
    for event in events:
        line = next(line for line in result.output.splitlines() if event["transaction_id"] in line)
        assert re.search(r"\d\.\d{6}\W+(yes|no)\W+\(needs --model\)", line), line
    assert "reasons: need --model" in result.output
    assert "alert: score >= 0.500000 (model test-model-1)" in result.output


@pytest.mark.usefixtures("runtime_env")
def test_invoke_transactions_csv_in_the_batch_input_schema(
    cli: typer.Typer, artifact: ModelArtifact, artifact_path: Path, history: pd.DataFrame, tmp_path: Path
) -> None:
    # GIVEN a batch-input CSV with labels (the terminal features use them, as `fraudstream score` does)
    history.to_csv(tmp_path / "tx.csv", index=False)
    result = CliRunner().invoke(
        cli,
        [
            "invoke",
            "--endpoint",
            "fraud-detector",
            "--file",
            str(tmp_path / "tx.csv"),
            "--model",
            str(artifact_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    printed = {p["transaction_id"]: p["score"] for p in map(json.loads, result.output.splitlines())}
    expected = artifact.booster.inplace_predict(compute_features(history).to_numpy(dtype=np.float64))
    assert printed == dict(zip(history["transaction_id"], expected.tolist(), strict=True))


@pytest.mark.usefixtures("runtime_env")
def test_invoke_refuses_a_transaction_that_breaks_the_contract(
    cli: typer.Typer, history: pd.DataFrame, tmp_path: Path
) -> None:
    events = [json.loads(e) for e in encode_transactions(history.head(3))]
    events[1]["amount"] = -5
    (tmp_path / "tx.jsonl").write_text("\n".join(json.dumps(e) for e in events))
    result = CliRunner().invoke(cli, ["invoke", "--endpoint", "fraud-detector", "--file", str(tmp_path / "tx.jsonl")])
    assert isinstance(result.exception, TransactionEventError)
    assert str(result.exception).startswith(
        f"{tmp_path / 'tx.jsonl'}: line 2 (transaction {events[1]['transaction_id']!r}): out_of_range: amount -5"
    )
    # a file mixing events and feature rows is refused too, rather than guessed at
    (tmp_path / "mixed.json").write_text(json.dumps([events[0], {"amount": 3.0}]))
    mixed = CliRunner().invoke(cli, ["invoke", "--endpoint", "fraud-detector", "--file", str(tmp_path / "mixed.json")])
    assert isinstance(mixed.exception, FeatureColumnsError)
    assert "1 of 2 objects are transaction events" in str(mixed.exception)


def test_invoke_computes_features_with_the_endpoint_models_label_delay_and_refuses_another(
    cli: typer.Typer, artifact_path: Path, history: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN an endpoint serving a model trained with a one-day label delay, and transactions to score
    model = load_artifact(with_label_delay(artifact_path, 1.0, tmp_path / "model"))
    (tmp_path / "tx.jsonl").write_bytes(b"\n".join(encode_transactions(history)) + b"\n")
    with LocalEndpointServer(model, port=0, endpoint_name="one-day") as endpoint:
        _use_endpoint(endpoint.url, monkeypatch)
        # WHEN they are scored without a label delay, and with the default one given
        command = ["invoke", "--endpoint", "one-day", "--file", str(tmp_path / "tx.jsonl"), "--json"]
        scored = CliRunner().invoke(cli, command)
        refused = CliRunner().invoke(cli, [*command, "--label-delay-days", "7"])

    # THEN the scores are those of the features with the model's delay (the endpoint's model card says it)
    assert scored.exit_code == 0, scored.output
    printed = [json.loads(line) for line in scored.output.splitlines()]
    unlabelled = history.drop(columns=["is_fraud"])
    one_day = model.booster.inplace_predict(compute_features(unlabelled, label_delay_days=1.0).to_numpy())
    np.testing.assert_array_equal([p["score"] for p in printed], one_day)
    seven_days = model.booster.inplace_predict(compute_features(unlabelled, label_delay_days=7.0).to_numpy())
    assert not np.array_equal(one_day, seven_days)  # the delay moves these scores
    # ... and a contradicting delay is refused in one line
    assert isinstance(refused.exception, LabelDelayMismatchError)
    assert "--label-delay-days is 7 but endpoint one-day's model was trained with a label delay of 1 days" in str(
        refused.exception
    )


@pytest.mark.usefixtures("runtime_env")
def test_invoke_refuses_a_history_for_feature_rows(cli: typer.Typer, eval_rows: np.ndarray, tmp_path: Path) -> None:
    # GIVEN feature rows (not transactions) and a history file
    pd.DataFrame(eval_rows[:2], columns=list(FEATURE_SPEC.names)).to_csv(tmp_path / "rows.csv", index=False)
    history = tmp_path / "history.csv"
    history.write_text("transaction_id,event_time,card_id,terminal_id,amount\nh1,2026-01-01T00:00:00Z,c1,t1,5.0\n")
    # WHEN they are scored with the history
    result = CliRunner().invoke(
        cli,
        ["invoke", "--endpoint", "fraud-detector", "--file", str(tmp_path / "rows.csv"), "--history", str(history)],
        env={"COLUMNS": "200"},
    )
    # THEN it is a usage error: the history cannot change features already computed
    assert result.exit_code == 2, result.output
    assert "--history is for transactions" in " ".join(result.output.split())


@pytest.mark.usefixtures("runtime_env")
def test_invoke_reads_a_csv_of_offset_less_utc_times_only_with_naive_times_utc(
    cli: typer.Typer, artifact: ModelArtifact, history: pd.DataFrame, tmp_path: Path
) -> None:
    # GIVEN a batch-input CSV whose event times are UTC written without an offset
    naive = history.assign(event_time=history["event_time"].dt.tz_convert(None))
    naive.to_csv(tmp_path / "tx.csv", index=False)
    command = ["invoke", "--endpoint", "fraud-detector", "--file", str(tmp_path / "tx.csv"), "--json"]
    # WHEN it is scored as it is
    refused = CliRunner().invoke(cli, command)
    # THEN it is refused, with the flag as the fix
    assert isinstance(refused.exception, BatchFileError), refused.output
    assert "must carry a UTC offset" in str(refused.exception)
    assert "--naive-times-utc" in refused.exception.hint
    # WHEN it is scored with --naive-times-utc
    accepted = CliRunner().invoke(cli, [*command, "--naive-times-utc"])
    # THEN its rows are scored as the same rows with their offset would be
    assert accepted.exit_code == 0, accepted.output
    printed = {p["transaction_id"]: p["score"] for p in map(json.loads, accepted.output.splitlines())}
    expected = artifact.booster.inplace_predict(compute_features(history).to_numpy(dtype=np.float64))
    assert printed == dict(zip(history["transaction_id"], expected.tolist(), strict=True))
