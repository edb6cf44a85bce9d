"""Training on SageMaker with the built-in XGBoost 3.2-0 algorithm, fed by the same feature code.

The features are computed here, with the code that training, scoring and the stream share; the
built-in algorithm only fits trees. Its channels are CSV as it reads them (label first, no header,
an empty cell for a missing value), written under `s3://<lake>/training/<job>/`, with `run.json`
beside them (periods, the prequential search, the chosen parameters). The hyperparameters are the
local search's choice, exactly.

The job's output, `<output>/<job>/output/model.tar.gz`, holds the container's `xgboost-model`
(`Booster.save_model`, all trees, early stopping's best iteration as an attribute). It is repacked
into this project's artifact (`ml_model.artifact`): sliced to the best iteration, metadata under
`fraudstream/`, the threshold chosen on validation and the test metrics computed here, as locally.

NOTE: the request is built with boto3 (CreateTrainingJob) rather than the SDK's `ModelTrainer`: the
SDK would resolve a default bucket (`sagemaker-<region>-<account>`, created if missing) and its own
key layout, where this project keeps everything in the lake bucket, and the exact request is what
the tests check. The SDK resolves the one thing it knows best: the algorithm's image URI per region.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import math
import secrets
import tarfile
import tempfile
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlparse

import numpy as np
import xgboost as xgb
from botocore.exceptions import ClientError, WaiterError

from fraudstream.aws import aws_errors, s3_client
from ml_model.artifact import MODEL_MEMBER
from ml_model.exceptions import SageMakerExtraMissingError, SageMakerTrainingError
from ml_model.features import FEATURE_SPEC
from ml_model.scoring.sagemaker import encode_rows
from ml_model.training import training_params

if TYPE_CHECKING:
    import boto3
    import numpy.typing as npt
    from mypy_boto3_s3 import S3Client

    from ml_model.training import PreparedData, SearchResult, TrainingConfig

__all__ = [
    "TRAINING_PREFIX",
    "XGBOOST_ALGORITHM_VERSION",
    "SageMakerJobSettings",
    "TrainingJob",
    "default_job_name",
    "download_model",
    "job_hyperparameters",
    "start_training_job",
    "xgboost_image_uri",
]

logger = logging.getLogger(__name__)

XGBOOST_ALGORITHM_VERSION: Final = "3.2-0"
TRAINING_PREFIX: Final = "training"
_CSV_CHUNK_ROWS: Final = 50_000
# SageMaker's training job names: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$
_MAX_JOB_NAME: Final = 63


@dataclass(frozen=True)
class SageMakerJobSettings:
    """Where and how the training job runs.

    Args:
        role_arn: the execution role SageMaker assumes (reads the channels, writes the output).
        bucket: the lake bucket (channels, output and the published model).
        instance_type: the training instance.
        volume_size_gb: the instance's storage for the channels.
        max_runtime_s: SageMaker stops the job after this long.
        job_name: the training job's name (a unique one when None).
    """

    role_arn: str
    bucket: str
    instance_type: str = "ml.m5.xlarge"
    volume_size_gb: int = 30
    max_runtime_s: int = 4 * 3_600
    job_name: str | None = None


@dataclass(frozen=True)
class TrainingJob:
    """A started training job and where its data is."""

    name: str
    bucket: str
    prefix: str
    image_uri: str
    hyperparameters: dict[str, str]
    train_rows: int
    validation_rows: int

    @property
    def output_path(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}output/"

    @property
    def model_url(self) -> str:
        """Where SageMaker writes the job's model: `<S3OutputPath>/<job name>/output/model.tar.gz`."""
        return f"{self.output_path}{self.name}/output/model.tar.gz"


def default_job_name(now: datetime | None = None) -> str:
    """`fraudstream-xgb-YYYYmmdd-HHMMSS-xxxx` (UTC), unique per run."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"fraudstream-xgb-{stamp}-{secrets.token_hex(2)}"


def xgboost_image_uri(region: str) -> str:
    """The built-in XGBoost 3.2-0 algorithm's image in `region`, as the SageMaker SDK resolves it.

    Raises:
        SageMakerExtraMissingError: the SDK (the `sagemaker` extra) is not installed.
        SageMakerTrainingError: the SDK knows no such image in that region.
    """
    # NOTE: importing the SDK compiles modules with invalid escape sequences (SyntaxWarning) and pulls
    # in ~1,400 modules; its warnings are the SDK's, not this code's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image_uris: Any = None
        # SDK v3 moved the v2 module `sagemaker.image_uris` to `sagemaker.core.image_uris`.
        for module in ("sagemaker.core.image_uris", "sagemaker.image_uris"):
            try:
                image_uris = importlib.import_module(module)
                break
            except ImportError:
                continue
        if image_uris is None:
            raise SageMakerExtraMissingError("training on SageMaker needs the SageMaker SDK (the sagemaker extra)")
        try:
            return str(image_uris.retrieve(framework="xgboost", region=region, version=XGBOOST_ALGORITHM_VERSION))
        except ValueError as e:
            first_sentence = str(e).split(". ")[0]
            raise SageMakerTrainingError(f"no XGBoost {XGBOOST_ALGORITHM_VERSION} image: {first_sentence}") from e


def job_hyperparameters(params: dict[str, Any], config: TrainingConfig) -> dict[str, str]:
    """The built-in algorithm's hyperparameters: the local fit's parameters, its rounds and patience.

    SageMaker passes hyperparameters as strings; floats keep their shortest round-trip form.
    """
    values = {**params, "num_round": config.max_rounds, "early_stopping_rounds": config.early_stopping_rounds}
    return {key: repr(value) if isinstance(value, float) else str(value) for key, value in values.items()}


def _write_channel(s3: S3Client, bucket: str, key: str, X: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> int:
    """One channel's CSV: label first, then the features in spec order; no header."""
    with tempfile.NamedTemporaryFile("w+b", prefix="fraudstream-channel-", suffix=".csv") as tmp:
        for start in range(0, len(y), _CSV_CHUNK_ROWS):
            rows = np.column_stack([y[start : start + _CSV_CHUNK_ROWS], X[start : start + _CSV_CHUNK_ROWS]])
            tmp.write(("\n".join(encode_rows(rows)) + "\n").encode())
        tmp.flush()
        s3.upload_file(tmp.name, bucket, key, ExtraArgs={"ContentType": "text/csv"})
    return len(y)


def _channel(name: str, uri: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}
        },
        "ContentType": "text/csv",
        "CompressionType": "None",
        "InputMode": "File",
    }


def start_training_job(
    data: PreparedData,
    search: SearchResult,
    config: TrainingConfig,
    settings: SageMakerJobSettings,
    *,
    session: boto3.Session,
    image_uri: str | None = None,
) -> TrainingJob:
    """Write the channels and `run.json` to the lake bucket and start the training job.

    Args:
        data: the prepared history (features and periods).
        search: the local prequential search; its choice is the job's hyperparameters.
        config: the run's periods and rounds.
        settings: role, bucket, instance.
        session: the boto3 session (boto3's standard configuration decides the endpoints).
        image_uri: the algorithm's image; resolved by the SDK for the session's region when None.

    Raises:
        ResourceNotFoundError: the bucket does not exist.
        SageMakerTrainingError: SageMaker refused the job.
    """
    name = settings.job_name or default_job_name()
    if len(name) > _MAX_JOB_NAME:
        raise SageMakerTrainingError(f"training job name {name!r} is longer than {_MAX_JOB_NAME} characters")
    image = image_uri or xgboost_image_uri(session.region_name or "us-east-1")
    params = training_params(search.best.params, data.y[data.fit], config)
    hyperparameters = job_hyperparameters(params, config)
    prefix = f"{TRAINING_PREFIX}/{name}/"
    s3 = s3_client(session)
    with aws_errors(f"bucket {settings.bucket!r}"):
        s3.head_bucket(Bucket=settings.bucket)
        train_rows = _write_channel(s3, settings.bucket, f"{prefix}train/train.csv", data.X[data.fit], data.y[data.fit])
        validation_rows = _write_channel(
            s3, settings.bucket, f"{prefix}validation/validation.csv", data.X[data.validation], data.y[data.validation]
        )
        run = {
            "training_job_name": name,
            "training_image": image,
            "feature_spec": config.spec.to_dict(),
            "periods": {k: v.isoformat() for k, v in data.periods.items()},
            "channels": {"train": train_rows, "validation": validation_rows},
            "params": params,
            "hyperparameters": hyperparameters,
            "search": search.to_dict(),
        }
        s3.put_object(
            Bucket=settings.bucket,
            Key=f"{prefix}run.json",
            Body=(json.dumps(run, indent=2) + "\n").encode(),
            ContentType="application/json",
        )
    job = TrainingJob(name, settings.bucket, prefix, image, hyperparameters, train_rows, validation_rows)
    sagemaker: Any = session.client("sagemaker")
    with aws_errors(f"training job {name!r}"):
        try:
            sagemaker.create_training_job(
                TrainingJobName=name,
                AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
                RoleArn=settings.role_arn,
                HyperParameters=hyperparameters,
                InputDataConfig=[
                    _channel("train", f"s3://{settings.bucket}/{prefix}train/"),
                    _channel("validation", f"s3://{settings.bucket}/{prefix}validation/"),
                ],
                OutputDataConfig={"S3OutputPath": job.output_path},
                ResourceConfig={
                    "InstanceType": settings.instance_type,
                    "InstanceCount": 1,
                    "VolumeSizeInGB": settings.volume_size_gb,
                },
                StoppingCondition={"MaxRuntimeInSeconds": settings.max_runtime_s},
                Tags=[
                    {"Key": "project", "Value": "fraudstream"},
                    {"Key": "feature_spec_hash", "Value": config.spec.hash},
                ],
            )
        except ClientError as e:
            error = e.response.get("Error", {})
            if error.get("Code") in ("ValidationException", "ResourceLimitExceeded", "ResourceInUse"):
                raise SageMakerTrainingError(f"SageMaker refused training job {name!r}: {error.get('Message')}") from e
            raise
    logger.info("training job started", extra={"training_job_name": name, "image": image})
    return job


def download_model(
    job: TrainingJob, *, session: boto3.Session, poll_s: float = 30.0
) -> tuple[xgb.Booster, dict[str, Any]]:
    """Wait for the job to end, then load the container's `xgboost-model` from its output.

    Returns:
        The booster (feature names set to the spec's) and facts about the job for the model card.

    Raises:
        SageMakerTrainingError: the job failed or stopped, or its output is not a model.
    """
    sagemaker: Any = session.client("sagemaker")
    with aws_errors(f"training job {job.name!r}"):
        try:
            limit = sagemaker.describe_training_job(TrainingJobName=job.name)["StoppingCondition"]
            attempts = math.ceil(float(limit.get("MaxRuntimeInSeconds", 4 * 3_600)) / poll_s) + 20
            waiter = sagemaker.get_waiter("training_job_completed_or_stopped")
            try:
                waiter.wait(TrainingJobName=job.name, WaiterConfig={"Delay": poll_s, "MaxAttempts": attempts})
            except WaiterError:
                pass  # the job failed (or the wait outlived its runtime limit): its description says which
            described = sagemaker.describe_training_job(TrainingJobName=job.name)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "ValidationException":
                raise SageMakerTrainingError(f"no training job {job.name!r}: {e}") from e
            raise
    status = described.get("TrainingJobStatus")
    if status != "Completed":
        reason = described.get("FailureReason") or described.get("SecondaryStatus") or ""
        raise SageMakerTrainingError(f"training job {job.name!r} ended {status}: {reason}".rstrip(": "))
    url = urlparse(str(described.get("ModelArtifacts", {}).get("S3ModelArtifacts", job.model_url)))
    where = f"s3://{url.netloc}{url.path}"
    with aws_errors(f"the model of training job {job.name!r} at {where}"):
        try:
            body = s3_client(session).get_object(Bucket=url.netloc, Key=url.path.lstrip("/"))["Body"].read()
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise SageMakerTrainingError(f"training job {job.name!r} completed but left no model at {where}") from e
            raise
    booster = _container_booster(body, where)
    facts = {
        "training_job_name": job.name,
        "training_job_arn": described.get("TrainingJobArn", ""),
        "training_image": job.image_uri,
        "model_artifacts": where,
        "hyperparameters": job.hyperparameters,
        "billable_seconds": described.get("BillableTimeInSeconds"),
    }
    return booster, facts


def _container_booster(tarball: bytes, where: str) -> xgb.Booster:
    """The `xgboost-model` of a training job's model.tar.gz, loaded with `Booster.load_model` (3.2-0
    saves with `Booster.save_model`; the pickles of old containers are not accepted)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
            member = next((m for m in tar.getmembers() if m.isfile() and Path(m.name).name == MODEL_MEMBER), None)
            handle = tar.extractfile(member) if member is not None else None
            if handle is None:
                raise SageMakerTrainingError(f"{where} holds no {MODEL_MEMBER}")
            payload = handle.read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise SageMakerTrainingError(f"{where} is not a model.tar.gz: {e}") from e
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(payload))
    except xgb.core.XGBoostError as e:
        raise SageMakerTrainingError(f"{where}: {MODEL_MEMBER} is not a model Booster.load_model reads: {e}") from e
    if booster.num_features() != len(FEATURE_SPEC):
        raise SageMakerTrainingError(
            f"{where}: the model has {booster.num_features()} features, the spec {len(FEATURE_SPEC)}"
        )
    booster.feature_names = list(FEATURE_SPEC.names)
    if booster.attr("best_iteration") is None:  # trained without early stopping: every tree counts
        booster.set_attr(best_iteration=str(booster.num_boosted_rounds() - 1))
    return booster
