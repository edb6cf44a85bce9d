"""boto3 clients with the project's retry policy, and translation of AWS failures into domain errors.

Endpoints come from boto3's standard configuration, so the same code reaches the embedded
emulator, LocalStack or AWS. Retries use botocore's own retry modes.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import boto3
import botocore.exceptions
from botocore.config import Config

from fraudstream.exceptions import (
    AwsUnreachableError,
    FraudstreamError,
    MissingCredentialsError,
    MissingRegionError,
    ResourceNotFoundError,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_s3 import S3Client

__all__ = [
    "AWS_SERVICES_USED",
    "aws_errors",
    "client_config",
    "default_session",
    "dynamodb_client",
    "kinesis_client",
    "s3_client",
    "s3_filesystem",
]

RetryMode = Literal["standard", "adaptive"]

# The AWS services the product calls when it runs locally (docker-compose.yml enables exactly these):
# the data path (Kinesis, S3, DynamoDB), metrics and logs, and what `cdklocal deploy` needs.
AWS_SERVICES_USED = ("kinesis", "s3", "dynamodb", "cloudformation", "iam", "sts", "cloudwatch", "logs")


def client_config(*, retry_mode: RetryMode = "standard", max_attempts: int = 5, timeout_s: float = 10.0) -> Config:
    """botocore configuration: bounded timeouts and botocore's own retry mode.

    `adaptive` adds client-side rate limiting that slows down on throttling responses.
    """
    return Config(
        retries={"mode": retry_mode, "max_attempts": max_attempts},
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        max_pool_connections=32,
    )


def default_session() -> boto3.Session:
    """boto3's default session, also honouring `AWS_REGION` (read by the AWS CLI and the other
    SDKs; boto3 itself only reads `AWS_DEFAULT_REGION`)."""
    session = boto3.Session()
    if session.region_name is None and os.environ.get("AWS_REGION"):
        session = boto3.Session(region_name=os.environ["AWS_REGION"])
    return session


def _session(session: boto3.Session | None) -> boto3.Session:
    return session if session is not None else default_session()


def kinesis_client(session: boto3.Session | None = None, **config: Any) -> KinesisClient:
    """A Kinesis client; keyword arguments go to `client_config`."""
    with aws_errors():
        return _session(session).client("kinesis", config=client_config(**config))


def s3_client(session: boto3.Session | None = None, *, endpoint_url: str | None = None, **config: Any) -> S3Client:
    """An S3 client (at `endpoint_url`, else where boto3 resolves it); keyword arguments go to `client_config`."""
    with aws_errors():
        return _session(session).client("s3", endpoint_url=endpoint_url, config=client_config(**config))


def dynamodb_client(
    session: boto3.Session | None = None, *, endpoint_url: str | None = None, **config: Any
) -> DynamoDBClient:
    """A DynamoDB client (at `endpoint_url`, else where boto3 resolves it); keyword arguments go to `client_config`."""
    with aws_errors():
        return _session(session).client("dynamodb", endpoint_url=endpoint_url, config=client_config(**config))


def resolved_endpoints(services: tuple[str, ...], session: boto3.Session | None = None) -> dict[str, str]:
    """The endpoint URL boto3 resolves for each service here (its standard configuration): what a
    process that does not share this one's environment (a Spark executor) is given explicitly."""
    session = _session(session)
    with aws_errors():
        return {service: session.client(service).meta.endpoint_url for service in services}  # type: ignore[call-overload]


def s3_filesystem(session: boto3.Session | None = None, *, endpoint_url: str | None = None) -> Any:
    """pyarrow's S3 filesystem, configured as boto3 is: the endpoint boto3 resolves for S3
    (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, profile settings) unless `endpoint_url` is given,
    the session's credentials and region.

    Returns:
        A `pyarrow.fs.S3FileSystem`.
    """
    from urllib.parse import urlparse

    from pyarrow import fs

    session = _session(session)
    with aws_errors():
        endpoint = urlparse(endpoint_url or s3_client(session).meta.endpoint_url)
        credentials = session.get_credentials()
        if credentials is None:
            raise botocore.exceptions.NoCredentialsError()
        frozen = credentials.get_frozen_credentials()
    kwargs: dict[str, Any] = {
        "region": session.region_name,
        "access_key": frozen.access_key,
        "secret_key": frozen.secret_key,
        "session_token": frozen.token,
        "retry_strategy": fs.AwsStandardS3RetryStrategy(max_attempts=5),
    }
    if not (endpoint.hostname or "").endswith("amazonaws.com"):
        kwargs.update(endpoint_override=endpoint.netloc, scheme=endpoint.scheme)
    return fs.S3FileSystem(**kwargs)


_NOT_FOUND_CODES = {"ResourceNotFoundException", "NoSuchBucket", "NotFound", "404"}


@contextmanager
def aws_errors(resource: str | None = None) -> Iterator[None]:
    """Translate the AWS failures a user can fix into domain errors with a one-line hint.

    Args:
        resource: what was being accessed, named in a not-found message.

    Raises:
        MissingCredentialsError, MissingRegionError, AwsUnreachableError, ResourceNotFoundError.
    """
    try:
        yield
    except FraudstreamError:
        raise
    except botocore.exceptions.NoCredentialsError as e:
        raise MissingCredentialsError("no AWS credentials found") from e
    except botocore.exceptions.NoRegionError as e:
        raise MissingRegionError("no AWS region configured") from e
    except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError) as e:
        raise AwsUnreachableError(f"cannot reach the AWS endpoint: {e}") from e
    except botocore.exceptions.ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if code in _NOT_FOUND_CODES:
            what = resource or "resource"
            raise ResourceNotFoundError(f"{what} does not exist ({code})") from e
        raise
