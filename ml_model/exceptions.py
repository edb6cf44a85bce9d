"""Errors of the model package: artifact, serving and scoring. One root, `ModelError`.

NOTE: botocore also has a `ModelError` (the SageMaker runtime's "the container answered 4xx/5xx");
that one never leaves `ml_model.scoring`: it is translated into `EndpointInvocationError`.
"""

from __future__ import annotations

from fraudstream.exceptions import FraudstreamError

__all__ = [
    "ArtifactError",
    "ArtifactLayoutError",
    "CompareReportError",
    "ComparisonError",
    "EndpointInvocationError",
    "EndpointPortInUseError",
    "FeatureColumnsError",
    "FeatureSpecMismatchError",
    "LabelDelayMismatchError",
    "ModelError",
    "ModelVersionConflictError",
    "PromotionError",
    "PromotionRefusedError",
    "SageMakerExtraMissingError",
    "SageMakerTrainingError",
    "TransactionEventError",
]


class ModelError(FraudstreamError):
    """Root of every error raised by `ml_model`."""


class ArtifactError(ModelError):
    """Raised when a model artifact cannot be written or read (missing file, bad metadata)."""

    hint = "pass --model a folder holding model.tar.gz (written by `fraudstream train`) or the tarball itself"


class ArtifactLayoutError(ArtifactError):
    """Raised when a model.tar.gz holds anything but `xgboost-model` at its top level (or unsafe paths).

    SageMaker's XGBoost container loads every top-level regular file as a model and fails its
    health check on any file that is not one.
    """

    hint = "the top level must hold exactly one file, xgboost-model; metadata goes under fraudstream/"


class FeatureSpecMismatchError(ModelError):
    """Raised when the endpoint's (or the artifact's) feature spec differs from the client's."""

    hint = "deploy the artifact trained with this code's feature spec, or run the code that matches the model"

    def __init__(self, message: str, *, expected: str, actual: str) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class LabelDelayMismatchError(ModelError):
    """Raised when a label delay given for the features is not the one the model was trained with."""

    hint = "leave --label-delay-days out (the model's is used), or train a model with the delay you want"


class FeatureColumnsError(ModelError):
    """Raised when the rows to score do not carry exactly the spec's columns."""

    hint = "score exactly the feature spec's columns (ml_model.features.FEATURE_SPEC.names), in any order"


class EndpointInvocationError(ModelError):
    """Raised when a call to the model endpoint finally fails (after retries) and no fallback is configured.

    Attributes:
        status: the HTTP status behind the failure, when known (the container's own for a ModelError).
        retryable: whether the failure was of a kind that retries may cure (throttling, 5xx, timeouts).
    """

    hint = (
        "is the endpoint up? Locally: `fraudstream serve --model DIR` and "
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://127.0.0.1:8080"
    )

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class EndpointPortInUseError(ModelError):
    """Raised when the local endpoint's port is already taken."""

    hint = "is another `fraudstream serve` running there? Stop it or pass --port"


class ModelVersionConflictError(ModelError):
    """Raised when a different artifact is already published under the same model version."""

    hint = "a published version is immutable (an endpoint may serve it): train a new version, or pass --overwrite"


class TransactionEventError(ModelError):
    """Raised when a transaction event given to be scored breaks the event contract."""

    hint = (
        "each object must be a transaction event as the producer writes them: schema_version 1, transaction_id, "
        "event_time (ISO-8601 with offset), card_id, terminal_id, amount, optional channel/lat/lon/..."
    )


class SageMakerExtraMissingError(ModelError):
    """Raised when training on SageMaker is asked for but the SageMaker SDK is not installed."""

    hint = "install the sagemaker extra: `uv sync --extra sagemaker` (or `pip install 'fraudstream[sagemaker]'`)"


class SageMakerTrainingError(ModelError):
    """Raised when a SageMaker training job cannot be started, fails, or leaves no usable model."""

    hint = "see the job in the SageMaker console (or `aws sagemaker describe-training-job`) and its CloudWatch logs"


class ComparisonError(ModelError):
    """Raised when two models cannot be compared on the period asked for (no labelled rows, no fraud)."""

    hint = (
        "give --since/--until a period whose transactions are older than the label delay at the label cut-off "
        "(the newest chargeback in labels/) and that holds frauds; `fraudstream query` shows what the lake holds"
    )


class PromotionError(ModelError):
    """Raised when the endpoint cannot be promoted: it does not exist, lacks a variant, is not in
    service, or does not come back in service after the change."""

    hint = (
        "check the endpoint and its variants: `aws sagemaker describe-endpoint --endpoint-name NAME` (add "
        "--endpoint-url URL for the local server, started with `fraudstream serve --model A --challenger B`)"
    )


class PromotionRefusedError(ModelError):
    """Raised when the comparison does not show the challenger better and `--force` is not given."""

    hint = (
        "run `fraudstream model compare --champion A --challenger B` and pass its compare.json with "
        "--compare-report, or --force to promote anyway"
    )


class CompareReportError(ModelError):
    """Raised when a compare report cannot be read or is not what `fraudstream model compare` writes."""

    hint = "pass the compare.json that `fraudstream model compare` wrote"
