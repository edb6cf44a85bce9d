"""A challenger for the champion/challenger tests: another model on the test artifact's feature spec
(its scores differ, so each score tells which variant produced it), and boto3's `sagemaker` client
for a local URL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from ml_model.artifact import ModelCard, write_artifact
from ml_model.features import FEATURE_SPEC
from ml_model.serving import CHALLENGER_VARIANT, CHAMPION_VARIANT, ProductionVariant

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import xgboost as xgb

    from ml_model.artifact import ModelArtifact

__all__ = ["CHALLENGER_VERSION", "control_plane_client", "split", "write_challenger"]

CHALLENGER_VERSION = "challenger-model-2"


def write_challenger(booster_factory: Callable[..., xgb.Booster], folder: Path) -> Path:
    """The challenger's artifact: a model trained on other rows (seed 8), same feature spec."""
    card = ModelCard(model_version=CHALLENGER_VERSION, feature_spec_hash=FEATURE_SPEC.hash, threshold=0.4)
    return write_artifact(booster_factory(rounds=30, seed=8), FEATURE_SPEC, card, folder)


def split(champion: ModelArtifact, challenger: ModelArtifact, challenger_weight: float) -> list[ProductionVariant]:
    return [
        ProductionVariant(CHAMPION_VARIANT, champion, 1.0 - challenger_weight),
        ProductionVariant(CHALLENGER_VARIANT, challenger, challenger_weight),
    ]


def control_plane_client(url: str, **config: Any) -> Any:
    """boto3's `sagemaker` client at `url`, with test credentials and botocore's retries off (typed Any:
    the project has no stubs of the control plane's client)."""
    return boto3.client(
        "sagemaker",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=10, **config),
    )
