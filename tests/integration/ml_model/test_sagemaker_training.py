"""`fraudstream train --on sagemaker` as a user runs it, in its own process, against the embedded AWS:
the job SageMaker's (moto's) control plane holds, the channels in S3, and the error when the job
leaves no model (moto runs nothing)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import date
from typing import TYPE_CHECKING

import pytest

from ml_model.features import FEATURE_SPEC
from synthetic.generator import GeneratorConfig, generate_history

if TYPE_CHECKING:
    from pathlib import Path

    import boto3

pytestmark = pytest.mark.integration


def test_train_on_sagemaker_starts_the_job_and_says_when_it_left_no_model(
    aws_env: dict[str, str], boto_session: boto3.Session, tmp_path: Path
) -> None:
    # GIVEN a labelled history and the lake bucket on the embedded AWS
    history = generate_history(
        GeneratorConfig(seed=5, n_cards=300, n_terminals=600, fraud_rate=0.03), date(2026, 1, 1), 37
    )
    history.to_parquet(tmp_path / "tx.parquet")
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    s3 = boto_session.client("s3")
    s3.create_bucket(Bucket=bucket)
    # WHEN `train --on sagemaker --wait` runs (the role from the environment)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fraudstream",
            "train",
            "--data",
            str(tmp_path / "tx.parquet"),
            "--out",
            str(tmp_path / "model"),
            "--on",
            "sagemaker",
            "--bucket",
            bucket,
            "--job-name",
            "fs-cli-job",
            "--train-start",
            "2026-01-08",
            "--train-days",
            "21",
            "--validation-days",
            "7",
            "--delay-days",
            "3",
            "--test-days",
            "5",
            "--folds",
            "2",
            "--fold-days",
            "4",
            "--wait",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "300", "FRAUD_SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/fs"},
    )
    # THEN the job was created as asked, with the algorithm's image for the region and the channels in S3
    job = boto_session.client("sagemaker").describe_training_job(TrainingJobName="fs-cli-job")
    assert job["AlgorithmSpecification"]["TrainingImage"].endswith(
        ".dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"
    )
    assert job["RoleArn"] == "arn:aws:iam::123456789012:role/fs"
    assert job["HyperParameters"]["objective"] == "binary:logistic"
    assert {c["ChannelName"] for c in job["InputDataConfig"]} == {"train", "validation"}
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {
        "training/fs-cli-job/train/train.csv",
        "training/fs-cli-job/validation/validation.csv",
        "training/fs-cli-job/run.json",
    }
    header = s3.get_object(Bucket=bucket, Key="training/fs-cli-job/train/train.csv", Range="bytes=0-4095")
    assert len(header["Body"].read().split(b"\n")[0].split(b",")) == len(FEATURE_SPEC) + 1
    assert "training job fs-cli-job started" in result.stdout
    # ... and, the emulated job having run nothing, the wait ends in one clear line
    assert result.returncode == 1
    assert "completed but left no model at s3://" in result.stderr
    assert "Traceback" not in result.stderr


def test_train_on_sagemaker_checks_the_bucket_before_any_work(aws_env: dict[str, str], tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fraudstream",
            "train",
            "--generate",
            "70",
            "--out",
            str(tmp_path),
            "--on",
            "sagemaker",
            "--role-arn",
            "arn:aws:iam::123456789012:role/fs",
            "--bucket",
            "no-such-lake",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert result.returncode == 1
    assert "bucket 'no-such-lake' does not exist" in result.stderr and "fraudstream local provision" in result.stderr
