"""The job's model: where it is loaded from, and the scorer each executor builds from it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from fraudstream.aws import default_session
from fraudstream.contracts import ScoredBy
from ml_model.artifact import load_artifact
from ml_model.scoring import ScorerType, build_scorer, endpoint_model_card
from processor.exceptions import ProcessorError

if TYPE_CHECKING:
    from ml_model.artifact import ModelArtifact, ModelCard
    from ml_model.scoring import Scorer

__all__ = ["ModelNotFoundError", "build_job_scorer", "load_model"]


class ModelNotFoundError(ProcessorError):
    """Raised when no model artifact is configured or found."""


def load_model(location: str | Path | None) -> ModelArtifact:
    """The artifact at a folder from `fraudstream train`, a model.tar.gz, or an s3:// URI of either.

    Raises:
        ModelNotFoundError: nothing configured, or nothing there.
    """
    if location is None:
        raise ModelNotFoundError(
            "no model configured",
            hint="pass --model DIR (a folder from `fraudstream train`) or an s3://.../model.tar.gz URI",
        )
    text = str(location)
    if urlparse(text).scheme == "s3":
        url = urlparse(text)
        key = url.path.lstrip("/")
        key = key if key.endswith(".tar.gz") else f"{key.rstrip('/')}/model.tar.gz"
        target = Path(tempfile.mkdtemp(prefix="fraudstream-model-")) / "model.tar.gz"
        default_session().client("s3").download_file(url.netloc, key, str(target))
        return load_artifact(target)
    path = Path(text)
    if not path.exists():
        raise ModelNotFoundError(
            f"no model at {path}", hint="train one with `fraudstream train --generate 98 --out " + text + "`"
        )
    return load_artifact(path)


def build_job_scorer(
    artifact: ModelArtifact,
    endpoint_name: str | None,
    *,
    endpoint_url: str | None = None,
    endpoint_card: ModelCard | None = None,
) -> Scorer:
    """The endpoint client (at `endpoint_url`, else where boto3 resolves the SageMaker runtime) with
    the artifact as its fallback; the artifact alone when no endpoint is set.

    Args:
        artifact: the model (the fallback's).
        endpoint_name: the endpoint, or None.
        endpoint_url: the SageMaker runtime's URL.
        endpoint_card: the card of the endpoint's model, when it is known already (the executors
            get the driver's, so that a worker started during an endpoint outage still scores with
            the fallback); else it is asked for.

    Raises:
        FeatureSpecMismatchError: the endpoint's or the artifact's model has another feature spec.
    """
    if not endpoint_name:
        return build_scorer(ScorerType.LOCAL, artifact, scored_by=ScoredBy.LOCAL)
    from ml_model.scoring.sagemaker import runtime_client

    client = runtime_client(endpoint_url=endpoint_url)
    card = endpoint_card or endpoint_model_card(endpoint_name, client)
    return build_scorer(ScorerType.SAGEMAKER, artifact, endpoint_name=endpoint_name, client=client, endpoint_card=card)
