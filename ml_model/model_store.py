"""Where models are: the one resolver of a model location (a folder, a model.tar.gz, or an s3:// URI
of either) that the job, the CDK app and the CLI read a model through; and published models in the
lake bucket: `models/<model_version>/model.tar.gz`, with its model card
beside it (`model_card.json`, the same bytes as inside the tarball) for humans and tools that should
not have to unpack a tarball to read it.

A model version is immutable once published: publishing the same artifact again changes nothing,
and a different artifact under a published version is refused unless the caller says to overwrite
(an endpoint may be serving that key). "The same" is decided by the SHA-256 of the tarball, stored in
the object's metadata, because S3's ETag is not a content hash for multipart uploads.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from fraudstream.aws import aws_errors, s3_client
from ml_model.artifact import ARTIFACT_NAME, ArtifactNotFoundError, ModelArtifact, load_artifact, resolve_artifact_path
from ml_model.exceptions import ArtifactError, ModelVersionConflictError

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_s3 import S3Client

__all__ = [
    "MODEL_CARD_NAME",
    "MODELS_PREFIX",
    "PublishedModel",
    "fetch_artifact",
    "load_model_at",
    "model_key",
    "publish_artifact",
    "require_bucket",
]

logger = logging.getLogger(__name__)

MODELS_PREFIX: Final = "models"
MODEL_CARD_NAME: Final = "model_card.json"
_SHA256_METADATA: Final = "sha256"


def fetch_artifact(location: str | Path, *, session: boto3.Session | None = None) -> Path:
    """The local `model.tar.gz` of a model location: a folder holding model.tar.gz, the tarball
    itself, or an s3:// URI of either (`s3://bucket/models/v1/` or `s3://bucket/.../model.tar.gz`),
    downloaded into a temporary folder that is removed when this process exits.

    Args:
        location: where the model is.
        session: boto3 session for an s3:// URI; the default one (boto3's standard configuration) when None.

    Raises:
        ArtifactNotFoundError: nothing there (no such folder or file, no such object or bucket).
        ArtifactError: not a location: empty, an s3:// URI without a bucket, or another scheme.
    """
    text = str(location).strip()
    if not text:
        raise ArtifactError("no model location given: give a folder, a model.tar.gz or an s3:// URI")
    url = urlparse(text)
    if url.scheme == "s3":
        return _download(text, session)
    if len(url.scheme) > 1:  # one letter: a Windows drive, a path
        raise ArtifactError(f"{text} is not a model location: give a folder, a model.tar.gz or an s3:// URI")
    return resolve_artifact_path(Path(text))


def load_model_at(location: str | Path, *, session: boto3.Session | None = None) -> ModelArtifact:
    """The artifact at a model location (see `fetch_artifact`), loaded and checked as the container loads it.

    Raises:
        ArtifactNotFoundError: nothing there.
        ArtifactLayoutError, ArtifactError: not a location, or not an artifact SageMaker's container would serve.
    """
    return load_artifact(fetch_artifact(location, session=session))


def _download(uri: str, session: boto3.Session | None) -> Path:
    url = urlparse(uri)
    bucket, key = url.netloc, url.path.lstrip("/")
    if not bucket:
        raise ArtifactError(f"{uri} names no bucket: give s3://BUCKET/PREFIX/ or s3://BUCKET/.../model.tar.gz")
    key = key if key.endswith(".tar.gz") else f"{key.rstrip('/')}/{ARTIFACT_NAME}".lstrip("/")
    folder = Path(tempfile.mkdtemp(prefix="fraudstream-model-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    target = folder / ARTIFACT_NAME
    with aws_errors(f"bucket {bucket!r}"):
        try:
            s3_client(session).download_file(bucket, key, str(target))
        except ClientError as e:
            # download_file asks HeadObject first: a missing key or bucket is a bare 404.
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
                raise ArtifactNotFoundError(f"no model artifact at s3://{bucket}/{key}") from e
            raise
    return target


def model_key(model_version: str, name: str = ARTIFACT_NAME) -> str:
    """The S3 key of a published model's file: `models/<model_version>/<name>`."""
    return f"{MODELS_PREFIX}/{model_version}/{name}"


@dataclass(frozen=True)
class PublishedModel:
    """Where a model was published, and whether this call uploaded it (False: it was already there)."""

    bucket: str
    model_version: str
    model_key: str
    card_key: str
    sha256: str
    uploaded: bool

    @property
    def model_url(self) -> str:
        return f"s3://{self.bucket}/{self.model_key}"


def publish_artifact(
    model: Path, bucket: str, *, overwrite: bool = False, session: boto3.Session | None = None
) -> PublishedModel:
    """Upload an artifact and its model card to `s3://bucket/models/<model_version>/`.

    Args:
        model: a folder holding model.tar.gz, or the tarball.
        bucket: the lake bucket.
        overwrite: replace a different artifact already published under the same version.
        session: boto3 session; the default one (boto3's standard configuration) when None.

    Returns:
        Where it is, and whether it was uploaded now.

    Raises:
        ArtifactError: no artifact there, or not one SageMaker's container would load.
        ResourceNotFoundError: the bucket does not exist.
        ModelVersionConflictError: another artifact is published under this version.
    """
    tarball = resolve_artifact_path(model)
    artifact = load_artifact(tarball)  # never publish what the container would refuse
    payload = tarball.read_bytes()
    sha256 = hashlib.sha256(payload).hexdigest()
    version = artifact.model_version
    card_json = (json.dumps(artifact.card.to_dict(), indent=2, sort_keys=True) + "\n").encode()
    s3 = s3_client(session)
    key, card_key = model_key(version), model_key(version, MODEL_CARD_NAME)
    with aws_errors(f"bucket {bucket!r}"):
        s3.head_bucket(Bucket=bucket)
        existing = _published_sha256(s3, bucket, key)
        if existing == sha256:
            logger.info("model already published", extra={"model_version": version, "bucket": bucket, "key": key})
            return PublishedModel(bucket, version, key, card_key, sha256, uploaded=False)
        if existing is not None and not overwrite:
            raise ModelVersionConflictError(
                f"s3://{bucket}/{key} already holds another artifact of model version {version!r}"
            )
        metadata = {
            _SHA256_METADATA: sha256,
            "model-version": version,
            "feature-spec-hash": artifact.card.feature_spec_hash,
        }
        # The card first: a reader that finds the tarball always finds its card too.
        s3.put_object(Bucket=bucket, Key=card_key, Body=card_json, ContentType="application/json", Metadata=metadata)
        s3.upload_fileobj(
            io.BytesIO(payload),
            bucket,
            key,
            ExtraArgs={"ContentType": "application/gzip", "Metadata": metadata},
        )
    logger.info("model published", extra={"model_version": version, "bucket": bucket, "key": key})
    return PublishedModel(bucket, version, key, card_key, sha256, uploaded=True)


def require_bucket(bucket: str, *, session: boto3.Session | None = None) -> None:
    """Check that the bucket exists (before work that would end up there).

    Raises:
        ResourceNotFoundError: it does not.
    """
    with aws_errors(f"bucket {bucket!r}"):
        s3_client(session).head_bucket(Bucket=bucket)


def _published_sha256(s3: S3Client, bucket: str, key: str) -> str | None:
    """The SHA-256 recorded on a published tarball; "" when it has none; None when there is none."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return head.get("Metadata", {}).get(_SHA256_METADATA, "")
