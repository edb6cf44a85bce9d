"""Settings shared by every component: the names of the AWS resources.

Endpoints, region and credentials are boto3's own configuration (`AWS_ENDPOINT_URL`,
`AWS_ENDPOINT_URL_<SERVICE>`, `AWS_REGION`, `AWS_PROFILE`); nothing here duplicates it.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ENV_PREFIX", "ResourceSettings"]

ENV_PREFIX = "FRAUD_"


class ResourceSettings(BaseSettings):
    """Names of the streams, bucket and table (env: FRAUD_TRANSACTIONS_STREAM, ...)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    transactions_stream: str = "transactions"
    labels_stream: str = "labels"
    lake_bucket: str = "fraudstream-lake"
    alerts_table: str = "alerts"
