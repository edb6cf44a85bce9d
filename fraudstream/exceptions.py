"""Errors shared by every component. Each carries a one-line hint that the CLI shows the user."""

from __future__ import annotations

__all__ = [
    "AwsUnreachableError",
    "BatchFileError",
    "FraudstreamError",
    "MissingCredentialsError",
    "MissingRegionError",
    "ResourceNotFoundError",
]


class FraudstreamError(Exception):
    """Root of every fraudstream error; `hint` tells the user what to do about it."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class MissingCredentialsError(FraudstreamError):
    """Raised when boto3 finds no AWS credentials."""

    hint = (
        "configure credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; "
        "any values work against the embedded emulator)"
    )


class MissingRegionError(FraudstreamError):
    """Raised when boto3 finds no AWS region."""

    hint = "set AWS_REGION (for example: export AWS_REGION=us-east-1)"


class AwsUnreachableError(FraudstreamError):
    """Raised when the configured AWS endpoint does not answer."""

    hint = (
        "start the embedded emulator with `fraudstream local up` (or LocalStack with `docker compose up`), "
        "or unset AWS_ENDPOINT_URL to reach AWS"
    )


class ResourceNotFoundError(FraudstreamError):
    """Raised when a stream, bucket or table the command needs does not exist."""

    hint = "create the resources with `fraudstream local provision` (or `cdk deploy` on AWS)"


class BatchFileError(FraudstreamError):
    """Raised when a CSV/Parquet batch-input file cannot be read or breaks the contract."""

    hint = "see the batch-input schema in the README; map other column names with --column-map NAME=COLUMN"
