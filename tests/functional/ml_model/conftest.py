from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
import pytest
import typer
from botocore.config import Config

from ml_model.train_cli import score, train

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient

__all__ = ["cli", "runtime_client_factory"]


@pytest.fixture
def runtime_client_factory() -> Callable[..., SageMakerRuntimeClient]:
    """A sagemaker-runtime client for a local URL, with fake credentials and botocore retries off."""

    def build(url: str, *, read_timeout: float = 5.0) -> SageMakerRuntimeClient:
        return boto3.client(
            "sagemaker-runtime",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"total_max_attempts": 1}, read_timeout=read_timeout, connect_timeout=1),
        )

    return build


@pytest.fixture
def cli() -> typer.Typer:
    """A CLI holding `train` and `score`."""
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("train")(train)
    app.command("score")(score)
    return app
