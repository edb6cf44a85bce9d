"""SageMaker training's pure parts: hyperparameters as strings, the image URI, a failed job."""

from __future__ import annotations

import io
import sys
import tarfile
from datetime import date
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ml_model.exceptions import SageMakerExtraMissingError, SageMakerTrainingError
from ml_model.sagemaker_training import (
    TrainingJob,
    _container_booster,
    download_model,
    job_hyperparameters,
    xgboost_image_uri,
)
from ml_model.training import TrainingConfig


def test_hyperparameters_are_strings_that_round_trip_exactly() -> None:
    config = TrainingConfig(train_start=date(2026, 1, 1), max_rounds=321, early_stopping_rounds=17)
    params = {"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "base_score": 0.006986990442061022}
    hyperparameters = job_hyperparameters(params, config)
    assert hyperparameters == {
        "objective": "binary:logistic",
        "max_depth": "6",
        "eta": "0.1",
        "base_score": "0.006986990442061022",
        "num_round": "321",
        "early_stopping_rounds": "17",
    }
    assert float(hyperparameters["base_score"]) == params["base_score"]


def test_the_sdk_resolves_the_algorithm_image_per_region() -> None:
    assert xgboost_image_uri("eu-west-1") == "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.2-0"
    with pytest.raises(SageMakerTrainingError, match="no XGBoost 3.2-0 image: Unsupported region: mars-north-1"):
        xgboost_image_uri("mars-north-1")


def test_without_the_sdk_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("sagemaker.core.image_uris", "sagemaker.image_uris"):
        monkeypatch.setitem(sys.modules, module, None)  # `import` raises ImportError
    with pytest.raises(SageMakerExtraMissingError) as raised:
        xgboost_image_uri("us-east-1")
    assert "sagemaker extra" in raised.value.hint


class _Session:
    """Hands out one prepared client, as boto3.Session.client would."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def client(self, name: str, **_: Any) -> Any:
        assert name == "sagemaker"
        return self._client


def test_a_failed_job_is_one_clear_error() -> None:
    # GIVEN a job that SageMaker reports as failed
    client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    job = TrainingJob("fs-job", "lake", "training/fs-job/", "image", {}, 10, 5)
    described = {
        "TrainingJobName": "fs-job",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/fs-job",
        "TrainingJobStatus": "Failed",
        "SecondaryStatus": "Failed",
        "FailureReason": "AlgorithmError: Failed to load csv data",
        "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "ResourceConfig": {"VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "CreationTime": "2026-01-01T00:00:00Z",
        "ModelArtifacts": {"S3ModelArtifacts": ""},
    }
    with Stubber(client) as stubber:
        for _ in range(3):  # the runtime limit, the waiter's first poll, the final look
            stubber.add_response("describe_training_job", described, {"TrainingJobName": "fs-job"})
        # WHEN its model is awaited THEN the failure reason is the error (the waiter stopped at once)
        with pytest.raises(SageMakerTrainingError, match="'fs-job' ended Failed: AlgorithmError: Failed to load csv"):
            download_model(job, session=_Session(client))  # type: ignore[arg-type]
        stubber.assert_no_pending_responses()


def test_a_job_output_without_a_model_is_refused() -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo("notes.txt")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(SageMakerTrainingError, match="holds no xgboost-model"):
        _container_booster(raw.getvalue(), "s3://lake/out/model.tar.gz")
    with pytest.raises(SageMakerTrainingError, match="is not a model.tar.gz"):
        _container_booster(b"not a tarball", "s3://lake/out/model.tar.gz")
