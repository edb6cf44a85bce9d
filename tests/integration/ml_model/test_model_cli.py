"""`fraudstream model publish` as a user runs it, against the embedded AWS over HTTP, read back with boto3."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING

import pytest

from ml_model.artifact import ModelCard, write_artifact
from ml_model.features import FEATURE_SPEC

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import boto3
    import xgboost as xgb

    from ml_model.artifact import ModelArtifact

pytestmark = pytest.mark.integration


def _fraudstream(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fraudstream", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


@pytest.fixture
def bucket(boto_session: boto3.Session) -> str:
    name = f"lake-{uuid.uuid4().hex[:10]}"
    boto_session.client("s3").create_bucket(Bucket=name)
    return name


@pytest.mark.usefixtures("aws_env")
def test_publish_uploads_the_artifact_and_its_card_once(
    boto_session: boto3.Session, bucket: str, artifact_path: Path, artifact: ModelArtifact
) -> None:
    # GIVEN a trained artifact and the lake bucket
    s3 = boto_session.client("s3")
    # WHEN it is published, by the folder that holds it
    first = _fraudstream("model", "publish", "--model", str(artifact_path.parent), "--bucket", bucket)
    # THEN the tarball and its card are under models/<version>/, byte for byte
    assert first.returncode == 0, first.stderr
    assert f"s3://{bucket}/models/test-model-1/model.tar.gz" in first.stdout
    tarball = s3.get_object(Bucket=bucket, Key="models/test-model-1/model.tar.gz")
    assert tarball["Body"].read() == artifact_path.read_bytes()
    assert tarball["Metadata"]["sha256"] == hashlib.sha256(artifact_path.read_bytes()).hexdigest()
    assert tarball["Metadata"]["feature-spec-hash"] == FEATURE_SPEC.hash
    card = s3.get_object(Bucket=bucket, Key="models/test-model-1/model_card.json")
    assert card["ContentType"] == "application/json"
    assert ModelCard.from_dict(json.loads(card["Body"].read())) == artifact.card
    etag = tarball["ETag"]
    # WHEN it is published again (the tarball's own path this time)
    again = _fraudstream("model", "publish", "--model", str(artifact_path), "--bucket", bucket)
    # THEN nothing changes
    assert again.returncode == 0, again.stderr
    assert "already published" in again.stdout
    assert s3.head_object(Bucket=bucket, Key="models/test-model-1/model.tar.gz")["ETag"] == etag
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Key"] for o in listed) == [
        "models/test-model-1/model.tar.gz",
        "models/test-model-1/model_card.json",
    ]


@pytest.mark.usefixtures("aws_env")
def test_publish_defaults_to_the_configured_lake_bucket(
    boto_session: boto3.Session, bucket: str, artifact_path: Path
) -> None:
    result = _fraudstream("model", "publish", "--model", str(artifact_path), env={"FRAUD_LAKE_BUCKET": bucket})
    assert result.returncode == 0, result.stderr
    assert boto_session.client("s3").head_object(Bucket=bucket, Key="models/test-model-1/model.tar.gz")


@pytest.mark.usefixtures("aws_env")
def test_publish_refuses_another_artifact_under_a_published_version(
    boto_session: boto3.Session,
    bucket: str,
    artifact_path: Path,
    artifact: ModelArtifact,
    booster_factory: Callable[..., xgb.Booster],
    tmp_path: Path,
) -> None:
    # GIVEN a published model, and a different model carrying the same version
    assert _fraudstream("model", "publish", "--model", str(artifact_path), "--bucket", bucket).returncode == 0
    other = write_artifact(booster_factory(seed=8), FEATURE_SPEC, artifact.card, tmp_path)
    # WHEN the other one is published
    refused = _fraudstream("model", "publish", "--model", str(other), "--bucket", bucket)
    # THEN it is refused in one line, and the published one stays
    assert refused.returncode == 1
    assert "already holds another artifact of model version 'test-model-1'" in refused.stderr
    assert "--overwrite" in refused.stderr and "Traceback" not in refused.stderr
    s3 = boto_session.client("s3")
    key = "models/test-model-1/model.tar.gz"
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == artifact_path.read_bytes()
    # ... unless the user says to overwrite
    replaced = _fraudstream("model", "publish", "--model", str(other), "--bucket", bucket, "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == other.read_bytes()


@pytest.mark.usefixtures("aws_env")
def test_publish_errors_are_one_line(artifact_path: Path, bucket: str, tmp_path: Path) -> None:
    no_bucket = _fraudstream("model", "publish", "--model", str(artifact_path), "--bucket", "no-such-lake")
    assert no_bucket.returncode == 1
    assert "bucket 'no-such-lake' does not exist" in no_bucket.stderr
    assert "fraudstream local provision" in no_bucket.stderr
    no_artifact = _fraudstream("model", "publish", "--model", str(tmp_path), "--bucket", bucket)
    assert no_artifact.returncode == 1
    assert f"no model artifact at {tmp_path / 'model.tar.gz'}" in no_artifact.stderr
    for result in (no_bucket, no_artifact):
        assert "Traceback" not in result.stderr
        assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1
