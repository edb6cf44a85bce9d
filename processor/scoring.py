"""The job's model: where it is loaded from, and the scorer each executor builds from it."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from fraudstream.contracts import ScoredBy
from ml_model.artifact import ArtifactNotFoundError
from ml_model.model_store import load_model_at
from ml_model.scoring import ScorerType, build_scorer, endpoint_model_card, endpoint_variant_cards
from processor.exceptions import ProcessorError

if TYPE_CHECKING:
    from pathlib import Path

    from ml_model.artifact import ModelArtifact, ModelCard
    from ml_model.scoring import Scorer

__all__ = ["ModelNotFoundError", "build_job_scorer", "load_model"]


class ModelNotFoundError(ProcessorError):
    """Raised when no model artifact is configured or found."""


def load_model(location: str | Path | None) -> ModelArtifact:
    """The artifact at a folder from `fraudstream train`, a model.tar.gz, or an s3:// URI of either
    (`ml_model.model_store.fetch_artifact`, as the CDK app and the CLI resolve a model).

    Raises:
        ModelNotFoundError: nothing configured, or nothing there.
        ArtifactError: not a location, or not an artifact SageMaker's container would serve.
    """
    if location is None:
        raise ModelNotFoundError(
            "no model configured",
            hint="pass --model DIR (a folder from `fraudstream train`) or an s3://.../model.tar.gz URI",
        )
    try:
        return load_model_at(location)
    except ArtifactNotFoundError as e:
        text = str(location)
        hint = (
            "check the URI, or publish a model there with `fraudstream model publish`"
            if text.startswith("s3://")
            else f"train one with `fraudstream train --generate 98 --out {text}`"
        )
        raise ModelNotFoundError(f"no model at {text}", hint=hint) from e


def build_job_scorer(
    artifact: ModelArtifact,
    endpoint_name: str | None,
    *,
    endpoint_url: str | None = None,
    endpoint_card: ModelCard | None = None,
) -> Scorer:
    """The endpoint client (at `endpoint_url`, else where boto3 resolves the SageMaker runtime) with
    the artifact as its fallback; the artifact alone when no endpoint is set.

    Each row records the production variant that scored it and that variant's model version: named by
    the local server's answer, or (on AWS) by the variant's model card, read by each scorer when an
    answer first names a variant (`endpoint_variant_cards`).

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
    return build_scorer(
        ScorerType.SAGEMAKER,
        artifact,
        endpoint_name=endpoint_name,
        client=client,
        endpoint_card=card,
        load_variant_cards=partial(endpoint_variant_cards, endpoint_name, client),
    )
