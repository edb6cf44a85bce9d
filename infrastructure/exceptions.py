"""Errors of the CDK app: what a user can fix before anything reaches CloudFormation."""

from __future__ import annotations

from fraudstream.exceptions import FraudstreamError

__all__ = ["InfrastructureError", "InvalidStackConfigError", "ModelArtifactMissingError"]


class InfrastructureError(FraudstreamError):
    """Root of every error raised by `infrastructure`."""


class ModelArtifactMissingError(InfrastructureError):
    """Raised when the model folder given to the app holds no usable model.tar.gz."""

    hint = "train one with `fraudstream train --generate 98 --out model`, or pass -c model_dir=FOLDER"


class InvalidStackConfigError(InfrastructureError):
    """Raised when an environment's settings contradict each other or a context value is malformed."""
