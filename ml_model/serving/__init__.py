"""A local endpoint with the HTTP contract of SageMaker's built-in XGBoost 3.2-0 container, reachable
through boto3's `sagemaker-runtime` client (`endpoint_url`), serving one or more production variants
(a champion and a challenger) split by weight, and answering the SageMaker control-plane calls that
read and move that split (boto3's `sagemaker` client, same URL).

The server classes load lazily so that the CLI can read the defaults without importing XGBoost.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "CHALLENGER_VARIANT",
    "CHAMPION_VARIANT",
    "DEFAULT_ENDPOINT_NAME",
    "DEFAULT_VARIANT",
    "DEFAULT_PORT",
    "FEATURE_SPEC_HASH_HEADER",
    "MAX_CONTENT_LENGTH",
    "MODEL_VERSION_HEADER",
    "EndpointApp",
    "LocalEndpointServer",
    "ProductionVariant",
]

DEFAULT_ENDPOINT_NAME: Final = "fraud-detector"
DEFAULT_PORT: Final = 8080
# The variant of an endpoint with one model (SageMaker's own default name), and the two of a
# champion/challenger split (the CDK app names its variants the same way).
DEFAULT_VARIANT: Final = "AllTraffic"
CHAMPION_VARIANT: Final = "champion"
CHALLENGER_VARIANT: Final = "challenger"
# The headers naming the served model on the local server's answers (read by the scoring client).
MODEL_VERSION_HEADER: Final = "X-Fraudstream-Model-Version"
FEATURE_SPEC_HASH_HEADER: Final = "X-Fraudstream-Feature-Spec-Hash"


def __getattr__(name: str) -> Any:
    if name in ("EndpointApp", "MAX_CONTENT_LENGTH", "ProductionVariant"):
        from ml_model.serving import app

        return getattr(app, name)
    if name == "LocalEndpointServer":
        from ml_model.serving.server import LocalEndpointServer

        return LocalEndpointServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
