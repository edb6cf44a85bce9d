"""`serve --challenger` in the foreground, in its own process, as a user runs it: two variants that
boto3's sagemaker and sagemaker-runtime clients reach at the printed URL."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config

from tests.functional.ml_model.variants import CHALLENGER_VERSION, control_plane_client, write_challenger

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import xgboost as xgb

pytestmark = pytest.mark.integration

_MAIN = """
import sys, typer
from ml_model.cli import serve
app = typer.Typer()
app.command("serve")(serve)
app.command("noop")(lambda: None)
app(sys.argv[1:])
"""


def test_serve_a_champion_and_a_challenger(
    artifact_path: Path, booster_factory: Callable[..., xgb.Booster], tmp_path: Path
) -> None:
    # GIVEN `serve --challenger B --challenger-weight 0.25` in the foreground of its own process
    challenger = write_challenger(booster_factory, tmp_path)
    command = ["serve", "--model", str(artifact_path), "--challenger", str(challenger), "--challenger-weight", "0.25"]
    with subprocess.Popen(
        [sys.executable, "-c", _MAIN, *command, "--port", "0", "--name", "fd"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd(), "COLUMNS": "300"},
    ) as process:
        assert process.stdout is not None
        match = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
        assert match is not None
        serving = process.stdout.readline()
        # WHEN the endpoint is described, and the challenger invoked, through boto3
        described = control_plane_client(match.group(0)).describe_endpoint(EndpointName="fd")
        runtime = boto3.client(
            "sagemaker-runtime",
            endpoint_url=match.group(0),
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"total_max_attempts": 1}),
        )
        invoked = runtime.invoke_endpoint(
            EndpointName="fd", Body=b"1.5,,0\n", ContentType="text/csv", TargetVariant="challenger"
        )
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    # THEN the two variants serve 75% / 25% of the traffic, the challenger answers as itself, and it stops cleanly
    weights = {v["VariantName"]: v["CurrentWeight"] for v in described["ProductionVariants"]}
    assert weights == {"champion": 0.75, "challenger": 0.25}
    assert "champion (model test-model-1, 75% of the traffic)" in serving
    assert f"challenger (model {CHALLENGER_VERSION}, 25% of the traffic)" in serving
    assert invoked["InvokedProductionVariant"] == "challenger"
    assert invoked["ResponseMetadata"]["HTTPHeaders"]["x-fraudstream-model-version"] == CHALLENGER_VERSION
    assert code == 0
