"""`invoke` and `serve`, registered on a Typer app of the test's own (the root CLI registers them the same way)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from ml_model.cli import invoke, serve
from ml_model.features import FEATURE_SPEC

if TYPE_CHECKING:
    from pathlib import Path

    from ml_model.artifact import ModelArtifact
    from ml_model.serving import LocalEndpointServer


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("serve")(serve)
    app.command("invoke")(invoke)
    return app


@pytest.fixture
def runtime_env(endpoint: LocalEndpointServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint.url,
    }.items():
        monkeypatch.setenv(name, value)


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
