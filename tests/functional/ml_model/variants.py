"""A challenger for the champion/challenger tests: another model on the test artifact's feature spec
(its scores differ, so each score tells which variant produced it), boto3's `sagemaker` client for a
local URL, and an endpoint of both registered in the embedded emulator's control plane."""

from __future__ import annotations

import uuid
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

__all__ = ["CHALLENGER_VERSION", "control_plane_client", "deploy_two_variants", "split", "write_challenger"]

CHALLENGER_VERSION = "challenger-model-2"


def write_challenger(booster_factory: Callable[..., xgb.Booster], folder: Path, *, threshold: float = 0.4) -> Path:
    """The challenger's artifact: a model trained on other rows (seed 8), same feature spec."""
    card = ModelCard(model_version=CHALLENGER_VERSION, feature_spec_hash=FEATURE_SPEC.hash, threshold=threshold)
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


def deploy_two_variants(session: boto3.Session, champion: Path, challenger: Path) -> str:
    """Both artifacts published and registered as one endpoint of two variants, as `cdk deploy` does."""
    suffix = uuid.uuid4().hex[:8]
    bucket, name = f"models-{suffix}", f"fraud-detector-{suffix}"
    s3 = session.client("s3")
    s3.create_bucket(Bucket=bucket)
    sagemaker = session.client("sagemaker")
    variants = []
    for variant, path in (("champion", champion), ("challenger", challenger)):
        key = f"{variant}/model.tar.gz"
        s3.upload_file(str(path), bucket, key)  # the tarball write_artifact wrote
        sagemaker.create_model(
            ModelName=f"{name}-{variant}",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
            PrimaryContainer={
                "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0",
                "ModelDataUrl": f"s3://{bucket}/{key}",
            },
        )
        variants.append(
            {
                "VariantName": variant,
                "ModelName": f"{name}-{variant}",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 0.9 if variant == "champion" else 0.1,
            }
        )
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=variants)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    return name
