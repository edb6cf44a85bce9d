"""`fetch_artifact`: the one resolver of a model location (folder, model.tar.gz, s3:// URI of either)
that the job, the CDK app and the CLI read a model through; one-line errors for anything else."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from infrastructure.exceptions import ModelArtifactMissingError
from infrastructure.model_artifact import resolve_model
from ml_model.artifact import ArtifactNotFoundError, load_artifact
from ml_model.exceptions import ArtifactError
from ml_model.model_store import fetch_artifact, load_model_at
from processor.scoring import ModelNotFoundError, load_model

if TYPE_CHECKING:
    from pathlib import Path

    import boto3


@pytest.fixture
def published(artifact_path: Path, boto_session: boto3.Session) -> str:
    """A bucket holding the test artifact at models/v1/model.tar.gz; its name."""
    bucket = f"models-{uuid.uuid4().hex[:12]}"
    s3 = boto_session.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(artifact_path), bucket, "models/v1/model.tar.gz")
    return bucket


def test_a_folder_and_its_tarball_resolve_to_the_tarball(artifact_path: Path) -> None:
    # GIVEN the folder of a trained model and its tarball WHEN resolved THEN both are the tarball
    assert fetch_artifact(artifact_path.parent) == artifact_path
    assert fetch_artifact(str(artifact_path)) == artifact_path


@pytest.mark.parametrize("key", ["models/v1/", "models/v1", "models/v1/model.tar.gz"])
def test_an_s3_prefix_or_tarball_uri_is_downloaded(key: str, published: str, artifact_path: Path) -> None:
    # GIVEN a published model WHEN its prefix or its tarball's URI is resolved
    local = fetch_artifact(f"s3://{published}/{key}")

    # THEN it is a local copy of the same bytes, loadable as the artifact
    assert local.name == "model.tar.gz"
    assert local.read_bytes() == artifact_path.read_bytes()
    assert load_model_at(f"s3://{published}/{key}").model_version == load_artifact(artifact_path).model_version


@pytest.mark.usefixtures("aws_env")
def test_missing_locations_are_one_line_not_found_errors(tmp_path: Path, published: str) -> None:
    # GIVEN an empty folder, a missing file, a missing key and a missing bucket
    cases = {
        str(tmp_path): f"no model artifact at {tmp_path / 'model.tar.gz'}",
        str(tmp_path / "gone.tar.gz"): f"no model artifact at {tmp_path / 'gone.tar.gz'}",
        f"s3://{published}/models/v2/": f"no model artifact at s3://{published}/models/v2/model.tar.gz",
        "s3://no-such-bucket-for-models/m.tar.gz": "no model artifact at s3://no-such-bucket-for-models/m.tar.gz",
    }
    for location, message in cases.items():
        # WHEN each is resolved THEN one line says where nothing was found
        with pytest.raises(ArtifactNotFoundError) as error:
            fetch_artifact(location)
        assert str(error.value) == message
        assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("", "no model location given"),
        ("s3:///models/v1/", "names no bucket"),
        ("https://example.com/model.tar.gz", "is not a model location"),
    ],
)
def test_what_is_not_a_location_is_one_line_error(location: str, message: str) -> None:
    # GIVEN something that is not a model location WHEN resolved THEN one line says what to give
    with pytest.raises(ArtifactError, match=message) as error:
        fetch_artifact(location)
    assert not isinstance(error.value, ArtifactNotFoundError)
    assert "\n" not in str(error.value)


def test_the_job_and_the_cdk_app_resolve_through_it(published: str, artifact_path: Path, tmp_path: Path) -> None:
    # GIVEN a published model WHEN the job and the CDK app resolve its URI THEN they find the same model
    uri = f"s3://{published}/models/v1/"
    version = load_artifact(artifact_path).model_version
    assert load_model(uri).model_version == version
    assert resolve_model(uri).card.model_version == version
    # ... and where there is none, each says so in its own terms
    with pytest.raises(ModelNotFoundError, match=f"no model at s3://{published}/nothing/"):
        load_model(f"s3://{published}/nothing/")
    with pytest.raises(ModelArtifactMissingError, match=f"no model artifact at s3://{published}/nothing/model.tar.gz"):
        resolve_model(f"s3://{published}/nothing/")
    with pytest.raises(ModelArtifactMissingError, match=f"no model.tar.gz in {tmp_path}/"):
        resolve_model(tmp_path)
