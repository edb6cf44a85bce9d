"""The start-up feature-spec check's AWS path: the card of the artifact an endpoint serves, found
through SageMaker's control plane and read from S3 (here the embedded emulator, over real HTTP)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from ml_model.exceptions import FeatureSpecMismatchError
from ml_model.feature_spec import FeatureSpec
from ml_model.features import FEATURE_SPEC
from ml_model.scoring import LocalXGBoostScorer, SageMakerScorer
from ml_model.scoring.sagemaker import endpoint_model_card, published_model_card

if TYPE_CHECKING:
    from pathlib import Path

    import boto3

    from ml_model.artifact import ModelArtifact


def _deploy(session: boto3.Session, artifact_path: Path) -> str:
    """Publish the artifact and register an endpoint for it, as `cdk deploy` would."""
    suffix = uuid.uuid4().hex[:8]
    bucket, key, name = f"lake-{suffix}", f"models/v1/{suffix}/model.tar.gz", f"fraud-detector-{suffix}"
    s3 = session.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(artifact_path), bucket, key)
    sagemaker = session.client("sagemaker")
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
        PrimaryContainer={
            "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0",
            "ModelDataUrl": f"s3://{bucket}/{key}",
        },
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    return name


def test_card_of_the_deployed_artifact(
    boto_session: boto3.Session, artifact_path: Path, artifact: ModelArtifact
) -> None:
    # GIVEN an endpoint deployed from the artifact
    name = _deploy(boto_session, artifact_path)
    # WHEN the client looks up what the endpoint serves
    card = published_model_card(name, session=boto_session)
    # THEN it reads the artifact's own card
    assert card == artifact.card


def test_client_refuses_an_endpoint_of_another_spec(
    boto_session: boto3.Session, artifact_path: Path, artifact: ModelArtifact
) -> None:
    name = _deploy(boto_session, artifact_path)
    newer = FeatureSpec(version="another", names=FEATURE_SPEC.names)
    scorer = SageMakerScorer(
        name,
        fallback=None,
        client=boto_session.client("sagemaker-runtime"),
        spec=newer,
        endpoint_card=published_model_card(name, session=boto_session),
    )
    with pytest.raises(FeatureSpecMismatchError), scorer:
        pass
    assert LocalXGBoostScorer(artifact).setup().model_version == "test-model-1"


def test_embedded_target_finds_the_card_through_the_emulated_control_plane(
    boto_session: boto3.Session, artifact_path: Path, artifact: ModelArtifact
) -> None:
    # GIVEN an endpoint registered in the embedded emulator, and a runtime client pointed at the emulator
    name = _deploy(boto_session, artifact_path)
    client = boto_session.client("sagemaker-runtime")
    # WHEN the card is looked up (the emulator has no /fraudstream/model-card route)
    card = endpoint_model_card(name, client, session=boto_session)
    # THEN it comes from the deployed artifact
    assert card == artifact.card
