"""Promoting the challenger over real HTTP: `promote` with boto3's sagemaker client against the local
server (and the embedded emulator's control plane, as against AWS), and the command's refusals."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
import typer
from typer.testing import CliRunner

from ml_model.artifact import ModelArtifact, load_artifact
from ml_model.exceptions import CompareReportError, PromotionError, PromotionRefusedError
from ml_model.promotion import promote, promote_command
from ml_model.scoring.sagemaker import encode_rows
from ml_model.serving import LocalEndpointServer
from tests.functional.ml_model.variants import (
    CHALLENGER_VERSION,
    control_plane_client,
    deploy_two_variants,
    split,
    write_challenger,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    import boto3
    import numpy as np
    import xgboost as xgb
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient

ENDPOINT = "fraud-detector"


@pytest.fixture(scope="module")
def challenger_path(booster_factory: Callable[..., xgb.Booster], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_challenger(booster_factory, tmp_path_factory.mktemp("challenger"))


@pytest.fixture(scope="module")
def challenger(challenger_path: Path) -> ModelArtifact:
    return load_artifact(challenger_path)


@pytest.fixture
def two_variants(artifact: ModelArtifact, challenger: ModelArtifact) -> Iterator[LocalEndpointServer]:
    """Champion and challenger, 10% of the traffic to the challenger: `fraudstream serve --challenger`."""
    with LocalEndpointServer(split(artifact, challenger, 0.1), port=0, endpoint_name=ENDPOINT) as server:
        yield server


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("promote")(promote_command)
    app.command("noop")(lambda: None)  # a group, as `fraudstream model` is
    return app


@pytest.fixture
def runtime_env(two_variants: LocalEndpointServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 configured as for `fraudstream invoke` against the local server."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": two_variants.url,
    }.items():
        monkeypatch.setenv(name, value)


def _report(path: Path, verdict: str, *, challenger_version: str = CHALLENGER_VERSION) -> Path:
    """A compare.json as `fraudstream model compare` writes it (the fields promotion reads, and some)."""
    report = {
        "champion": {"model_version": "test-model-1", "average_precision": 0.41},
        "challenger": {"model_version": challenger_version, "average_precision": 0.52},
        "period": {"since": "2026-02-01", "until": "2026-02-14"},
        "verdict": verdict,
        "rule": "paired bootstrap of average precision",
    }
    path.write_text(json.dumps(report))
    return path


def _answered_by(client: SageMakerRuntimeClient, rows: np.ndarray, calls: int) -> set[str]:
    body = ("\n".join(encode_rows(rows)) + "\n").encode()
    return {
        client.invoke_endpoint(EndpointName=ENDPOINT, Body=body, ContentType="text/csv")["InvokedProductionVariant"]
        for _ in range(calls)
    }


def test_promote_moves_all_the_traffic_to_the_challenger(
    two_variants: LocalEndpointServer,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    # GIVEN an endpoint whose challenger takes 10% of the traffic
    client = control_plane_client(two_variants.url)
    # WHEN it is promoted through boto3's sagemaker client
    promotion = promote(ENDPOINT, sagemaker_client=client, waiter_delay_s=1, waiter_max_attempts=2)
    # THEN the challenger has all the traffic, the champion none, and the next calls all go to the challenger
    assert promotion.changed
    assert promotion.before == pytest.approx({"champion": 0.9, "challenger": 0.1})
    assert promotion.after == {"champion": 0.0, "challenger": 1.0}
    assert _answered_by(runtime_client_factory(two_variants.url), eval_rows[:2], 40) == {"challenger"}
    # ... and promoting again changes nothing
    again = promote(ENDPOINT, sagemaker_client=client)
    assert not again.changed and again.after == promotion.after


def test_promote_refuses_an_endpoint_without_the_variants(endpoint: LocalEndpointServer) -> None:
    with pytest.raises(PromotionError, match="has no variant champion or challenger: its variants are AllTraffic"):
        promote("fraud-detector", sagemaker_client=control_plane_client(endpoint.url))
    assert endpoint.app.weights() == {"AllTraffic": 1.0}


def test_promote_refuses_an_unknown_endpoint(two_variants: LocalEndpointServer) -> None:
    with pytest.raises(PromotionError, match='Could not find endpoint "arn:aws:sagemaker:.*:endpoint/other"'):
        promote("other", sagemaker_client=control_plane_client(two_variants.url))


def test_promote_on_the_emulated_control_plane_as_on_aws(
    boto_session: boto3.Session, artifact_path: Path, challenger_path: Path
) -> None:
    # GIVEN an endpoint of two variants registered in the embedded emulator (SageMaker's API, as on AWS)
    name = deploy_two_variants(boto_session, artifact_path, challenger_path)
    client = boto_session.client("sagemaker")
    # WHEN it is promoted
    promotion = promote(name, sagemaker_client=client, waiter_delay_s=1, waiter_max_attempts=5)
    # THEN the control plane holds the new weights
    assert promotion.before == pytest.approx({"champion": 0.9, "challenger": 0.1})
    variants = client.describe_endpoint(EndpointName=name)["ProductionVariants"]
    assert {v["VariantName"]: v["CurrentWeight"] for v in variants} == {"champion": 0.0, "challenger": 1.0}


@pytest.mark.usefixtures("runtime_env")
def test_the_command_promotes_on_a_report_that_finds_the_challenger_better(
    cli: typer.Typer,
    two_variants: LocalEndpointServer,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
    tmp_path: Path,
) -> None:
    # GIVEN a report of the two served models that finds the challenger better
    report = _report(tmp_path / "compare.json", "challenger_better")
    # WHEN the command runs with the endpoint URL `invoke` uses (no --endpoint-url)
    result = CliRunner().invoke(cli, ["promote", "--compare-report", str(report)], env={"COLUMNS": "300"})
    # THEN the challenger takes all the traffic, and the command says so and how to roll back
    assert result.exit_code == 0, result.output
    assert two_variants.app.weights() == {"champion": 0.0, "challenger": 1.0}
    assert _answered_by(runtime_client_factory(two_variants.url), eval_rows[:1], 20) == {"challenger"}
    assert "champion 0% of the traffic (was 90%), challenger 100% of the traffic (was 10%)" in result.output
    assert (
        f"aws sagemaker update-endpoint-weights-and-capacities --endpoint-url {two_variants.url} --endpoint-name "
        f"{ENDPOINT} --desired-weights-and-capacities VariantName=champion,DesiredWeight=0.9 "
        "VariantName=challenger,DesiredWeight=0.1" in " ".join(result.output.split())
    )


@pytest.mark.usefixtures("runtime_env")
@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ([], PromotionRefusedError, "run `fraudstream model compare --champion A --challenger B` first"),
        (["verdict:champion_better"], PromotionRefusedError, "says champion_better: the challenger is not better"),
        (["verdict:tie"], PromotionRefusedError, "says tie"),
        (
            ["verdict:challenger_better", "challenger:other-model"],
            PromotionRefusedError,
            f"variant challenger serves model {CHALLENGER_VERSION}, the report's challenger is other-model",
        ),
        (["broken"], CompareReportError, "is not JSON"),
    ],
    ids=["no-report", "champion-better", "tie", "other-models", "not-json"],
)
def test_the_command_refuses_without_a_comparison_in_the_challengers_favour(
    cli: typer.Typer,
    two_variants: LocalEndpointServer,
    tmp_path: Path,
    args: list[str],
    error: type[Exception],
    message: str,
) -> None:
    command = ["promote"]
    if args:
        path = tmp_path / "compare.json"
        if args == ["broken"]:
            path.write_text("{not json")
        else:
            fields = dict(a.split(":") for a in args)
            _report(path, fields["verdict"], challenger_version=fields.get("challenger", CHALLENGER_VERSION))
        command += ["--compare-report", str(path)]
    result = CliRunner().invoke(cli, command)
    assert isinstance(result.exception, error), result.output
    assert message in str(result.exception)
    assert "\n" not in str(result.exception)  # one line, its hint apart
    assert two_variants.app.weights() == pytest.approx({"champion": 0.9, "challenger": 0.1})


@pytest.mark.parametrize("report", [None, "champion_better"], ids=["no-report", "champion-better"])
def test_force_promotes_anyway(
    cli: typer.Typer,
    two_variants: LocalEndpointServer,
    tmp_path: Path,
    report: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN nothing in boto3's configuration: the local server's URL is given explicitly
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    command = ["promote", "--force", "--endpoint-url", two_variants.url, "--endpoint-name", ENDPOINT]
    if report is not None:
        command += ["--compare-report", str(_report(tmp_path / "compare.json", report))]
    result = CliRunner().invoke(cli, command, env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert two_variants.app.weights() == {"champion": 0.0, "challenger": 1.0}
    if report is not None:
        assert "promoting against" in result.output and "(champion_better): --force" in result.output
