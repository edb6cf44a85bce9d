"""`invoke --variant` and `serve --challenger`'s refusals, on a Typer app of the test's own (the root CLI
registers the commands the same way); the endpoint is the local server with two variants, over HTTP."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from ml_model.artifact import ModelArtifact, ModelCard, load_artifact, write_artifact
from ml_model.cli import invoke, serve
from ml_model.exceptions import FeatureSpecMismatchError
from ml_model.feature_spec import FeatureSpec
from ml_model.features import FEATURE_SPEC
from ml_model.serving import LocalEndpointServer
from tests.functional.ml_model.variants import CHALLENGER_VERSION, split, write_challenger

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    import numpy as np
    import xgboost as xgb

ENDPOINT = "fraud-detector"


@pytest.fixture(scope="module")
def challenger_path(booster_factory: Callable[..., xgb.Booster], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_challenger(booster_factory, tmp_path_factory.mktemp("challenger"))


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("serve")(serve)
    app.command("invoke")(invoke)
    return app


@pytest.fixture
def two_variants(
    artifact: ModelArtifact, challenger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalEndpointServer]:
    """Champion and challenger, half the traffic each, where boto3's SageMaker runtime points."""
    variants = split(artifact, load_artifact(challenger_path), 0.5)
    with LocalEndpointServer(variants, port=0, endpoint_name=ENDPOINT, seed=2) as server:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": server.url,
        }.items():
            monkeypatch.setenv(name, value)
        yield server


@pytest.fixture
def rows_file(eval_rows: np.ndarray, tmp_path: Path) -> Path:
    frame = pd.DataFrame(eval_rows[:40], columns=list(FEATURE_SPEC.names))
    frame.assign(transaction_id=[f"tx{i}" for i in range(40)]).to_csv(tmp_path / "rows.csv", index=False)
    return tmp_path / "rows.csv"


@pytest.mark.usefixtures("two_variants")
def test_invoke_variant_targets_it_and_alerts_at_its_models_threshold(
    cli: typer.Typer, challenger_path: Path, eval_rows: np.ndarray, rows_file: Path
) -> None:
    # WHEN the rows are sent to the challenger alone
    result = CliRunner().invoke(
        cli, ["invoke", "--endpoint", ENDPOINT, "--file", str(rows_file), "--variant", "challenger", "--json"]
    )
    # THEN the challenger scored every row, each alerting at the challenger's threshold (0.4, not the champion's 0.5)
    assert result.exit_code == 0, result.output
    printed = [json.loads(line) for line in result.output.splitlines()]
    challenger = load_artifact(challenger_path)
    scores = challenger.booster.inplace_predict(eval_rows[:40])
    assert [p["model_variant"] for p in printed] == ["challenger"] * 40
    assert {p["model_version"] for p in printed} == {CHALLENGER_VERSION}
    assert [p["score"] for p in printed] == [float(s) for s in scores]
    assert [p["alert"] for p in printed] == [bool(s >= 0.4) for s in scores]
    assert any(0.4 <= s < 0.5 for s in scores), "the data must tell the two thresholds apart"


@pytest.mark.usefixtures("two_variants")
def test_invoke_says_which_variant_answered(cli: typer.Typer, rows_file: Path) -> None:
    # WHEN 40 rows (one call) are scored without a variant, as a table
    command = ["invoke", "--endpoint", ENDPOINT, "--file", str(rows_file)]
    result = CliRunner().invoke(cli, command, env={"COLUMNS": "250"})
    # THEN the table has the variant of each row, and the summary the one variant that answered the call
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "score" in line and "alert" in line)
    assert "variant" in header
    answered = re.search(r"answered by: variant (\w+) \(model ([\w-]+)\): 40 row\(s\)", result.output)
    assert answered is not None, result.output
    assert answered.groups() in {("champion", "test-model-1"), ("challenger", CHALLENGER_VERSION)}
    assert "alert: score >= 0.500000 for champion (model test-model-1), 0.400000 for challenger" in result.output


@pytest.mark.usefixtures("two_variants")
def test_invoke_an_unknown_variant_is_refused(cli: typer.Typer, rows_file: Path) -> None:
    result = CliRunner().invoke(cli, ["invoke", "--endpoint", ENDPOINT, "--file", str(rows_file), "--variant", "nope"])
    assert result.exit_code != 0
    assert "ValidationError" in str(result.exception) and "nope" in str(result.exception)


def test_serve_refuses_a_challenger_weight_without_a_challenger(cli: typer.Typer, artifact_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--model", str(artifact_path), "--challenger-weight", "0.2"])
    assert result.exit_code == 2
    assert "pass --challenger too" in result.output


@pytest.mark.parametrize("weight", ["-0.1", "1.5"])
def test_serve_refuses_a_weight_outside_0_1(cli: typer.Typer, artifact_path: Path, weight: str) -> None:
    command = [
        "serve",
        "--model",
        str(artifact_path),
        "--challenger",
        str(artifact_path),
        "--challenger-weight",
        weight,
    ]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 2
    assert "--challenger-weight" in result.output


def test_serve_refuses_a_challenger_on_another_feature_spec(
    cli: typer.Typer, artifact_path: Path, booster_factory: Callable[..., xgb.Booster], tmp_path: Path
) -> None:
    other = FeatureSpec(version="0", names=FEATURE_SPEC.names)
    card = ModelCard(model_version="other-spec", feature_spec_hash=other.hash, threshold=0.5)
    stranger = write_artifact(booster_factory(rounds=3), other, card, tmp_path)
    result = CliRunner().invoke(cli, ["serve", "--model", str(artifact_path), "--challenger", str(stranger)])
    assert isinstance(result.exception, FeatureSpecMismatchError)
    assert "the variants of an endpoint must compute the same features" in str(result.exception)
