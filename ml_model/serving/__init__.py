"""A local endpoint with the HTTP contract of SageMaker's built-in XGBoost 3.2-0 container, reachable
through boto3's `sagemaker-runtime` client (`endpoint_url`).

The server classes load lazily so that the CLI can read the defaults without importing XGBoost.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "DEFAULT_ENDPOINT_NAME",
    "DEFAULT_PORT",
    "FEATURE_SPEC_HASH_HEADER",
    "MAX_CONTENT_LENGTH",
    "MODEL_VERSION_HEADER",
    "EndpointApp",
    "LocalEndpointServer",
]

DEFAULT_ENDPOINT_NAME: Final = "fraud-detector"
DEFAULT_PORT: Final = 8080
# The headers naming the served model on the local server's answers (read by the scoring client).
MODEL_VERSION_HEADER: Final = "X-Fraudstream-Model-Version"
FEATURE_SPEC_HASH_HEADER: Final = "X-Fraudstream-Feature-Spec-Hash"


def __getattr__(name: str) -> Any:
    if name in ("EndpointApp", "MAX_CONTENT_LENGTH"):
        from ml_model.serving import app

        return getattr(app, name)
    if name == "LocalEndpointServer":
        from ml_model.serving.server import LocalEndpointServer

        return LocalEndpointServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
