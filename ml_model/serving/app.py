"""The local endpoint as a WSGI application: SageMaker's XGBoost 3.2-0 container contract, plus the
SageMaker runtime's `InvokeEndpoint` path so that boto3 reaches it with `endpoint_url`.

Container (`GET /ping`, `POST /invocations`), as ARCHITECTURE.md records it:
    204  empty body
    415  Content-Type other than text/csv, or a body that is not the contract's CSV
    400  more columns than the model has (fewer are missing values, as in the container)
    413  body over 6 MiB
    406  Accept other than text/csv (the default), application/json or application/jsonlines
    500  the model could not be loaded (also on /ping)
    200  text/csv: one line per row, each ending in a newline, P(fraud) as a float32 printed at full
         precision; application/json: {"predictions": [{"score": p}, ...]}

Runtime (`POST /endpoints/{name}/invocations`): the container's 2xx answers pass through; its
errors become what the SageMaker runtime returns, HTTP 424 with error code `ModelError` and the
container's status and body in `OriginalStatusCode` / `OriginalMessage`, so boto3 raises
`ModelError` exactly as against AWS. An unknown endpoint name is a 400 `ValidationError`.

Extensions (never seen on AWS, whose runtime strips a container's own headers): `GET /fraudstream/model-card`
returns the served artifact's model card, which the scoring client compares with its feature spec at
start-up; the answers of `/ping` and of a scored invocation carry the model's version and feature-spec
hash (`X-Fraudstream-Model-Version`, `X-Fraudstream-Feature-Spec-Hash`); the client checks the hash on
every scored answer.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from ml_model.serving import DEFAULT_ENDPOINT_NAME, FEATURE_SPEC_HASH_HEADER, MODEL_VERSION_HEADER
from ml_model.serving._csv import CsvFormatError, parse_csv

if TYPE_CHECKING:
    from collections.abc import Iterable
    from wsgiref.types import StartResponse, WSGIEnvironment

    from ml_model.artifact import ModelArtifact

__all__ = [
    "ACCOUNT_ID",
    "DEFAULT_ENDPOINT_NAME",
    "FEATURE_SPEC_HASH_HEADER",
    "MAX_CONTENT_LENGTH",
    "MODEL_CARD_PATH",
    "MODEL_VERSION_HEADER",
    "EndpointApp",
]

logger = logging.getLogger(__name__)

# The container's limit: MAX_CONTENT_LENGTH defaults to 6 MiB.
MAX_CONTENT_LENGTH: Final = 6 * 1024 * 1024
# The account the local runtime pretends to be (moto's default account id).
ACCOUNT_ID: Final = "123456789012"
MODEL_CARD_PATH: Final = "/fraudstream/model-card"
_SUPPORTED_ACCEPTS: Final = ["application/json", "application/jsonlines", "text/csv"]
_RUNTIME_PREFIX: Final = "/endpoints/"
_RUNTIME_SUFFIX: Final = "/invocations"


class _Request(Request):
    max_content_length = MAX_CONTENT_LENGTH


class EndpointApp:
    """The WSGI application.

    Args:
        artifact: the model to serve, or None when it could not be loaded (every call then answers 500).
        endpoint_name: the name the runtime path answers to.
        region: the region written in runtime error messages.
        load_error: why the model could not be loaded (the 500 body).
    """

    def __init__(
        self,
        artifact: ModelArtifact | None,
        *,
        endpoint_name: str = DEFAULT_ENDPOINT_NAME,
        region: str = "us-east-1",
        load_error: str = "",
    ) -> None:
        self.artifact = artifact
        self.endpoint_name = endpoint_name
        self.region = region
        self.load_error = load_error
        self._num_features = artifact.booster.num_features() if artifact is not None else 0

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = _Request(environ)
        try:
            response = self._dispatch(request)
        except Exception:  # the server never dies on a request, whatever it holds
            logger.exception("unhandled error in the local endpoint", extra={"path": request.path})
            response = Response("internal error", status=500, mimetype="text/plain")
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        if path == "/ping":
            return self._only(request, "GET") or self._ping()
        if path == "/invocations":
            return self._only(request, "POST") or self._invocations(request)
        if path.startswith(_RUNTIME_PREFIX) and path.endswith(_RUNTIME_SUFFIX):
            name = path[len(_RUNTIME_PREFIX) : -len(_RUNTIME_SUFFIX)]
            return self._only(request, "POST") or self._runtime_invoke(request, name)
        if path == "/execution-parameters":
            body = {"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}
            return Response(json.dumps(body), mimetype="application/json")
        if path == MODEL_CARD_PATH and self.artifact is not None:
            return Response(json.dumps(self.artifact.card.to_dict()), mimetype="application/json")
        return Response("not found", status=404, mimetype="text/plain")

    @staticmethod
    def _only(request: Request, method: str) -> Response | None:
        if request.method == method:
            return None
        return Response("method not allowed", status=405, mimetype="text/plain", headers={"Allow": method})

    def _ping(self) -> Response:
        if self.artifact is None:
            return Response(f"Unable to load model: {self.load_error}", status=500, mimetype="text/plain")
        return self._identified(Response(status=200))

    def _identified(self, response: Response) -> Response:
        """The answer named with the served model's version and feature-spec hash (the scoring client
        checks the hash on every answer: a model swapped under a running client is refused)."""
        if self.artifact is not None:
            response.headers[MODEL_VERSION_HEADER] = self.artifact.card.model_version
            response.headers[FEATURE_SPEC_HASH_HEADER] = self.artifact.spec.hash
        return response

    def _invocations(self, request: Request) -> Response:
        try:
            payload = request.get_data(cache=False)
        except RequestEntityTooLarge as e:
            return e.get_response()
        if len(payload) == 0:
            return Response("", status=204)
        content_type = (request.content_type or "text/csv").lower().split(";")[0].strip()
        if content_type != "text/csv":
            return _text(415, f"Content-type {content_type} is not supported.")
        try:
            rows = parse_csv(payload)
        except CsvFormatError as e:
            return _text(
                415,
                f"Loading csv data failed with Exception, please ensure data is in csv format:\n"
                f" {type(e).__mro__[1]}\n {e}",
            )
        if self.artifact is None:
            return _text(500, f"Unable to load model: {self.load_error}")
        if rows.shape[1] > self._num_features:
            return _text(
                400,
                "Unable to evaluate payload provided: Feature shape mismatch, expected: "
                f"{self._num_features}, got {rows.shape[1]}",
            )
        if rows.shape[1] < self._num_features:
            # The container treats absent trailing columns as missing values.
            padding = np.full((rows.shape[0], self._num_features - rows.shape[1]), np.nan)
            rows = np.hstack([rows, padding])
        scores = self.artifact.booster.inplace_predict(rows, validate_features=False)
        accept = _parse_accept(request.headers.get("Accept", ""))
        if accept is None:
            return _text(
                406,
                f"Accept type {request.headers.get('Accept')} is not supported. "
                f"Please use supported accept types: {_SUPPORTED_ACCEPTS}.",
            )
        return self._identified(Response(_encode(np.asarray(scores).tolist(), accept), status=200, mimetype=accept))

    def _runtime_invoke(self, request: Request, name: str) -> Response:
        if name != self.endpoint_name:
            return _runtime_error(
                400, "ValidationError", {"Message": f"Endpoint {name} of account {ACCOUNT_ID} not found."}
            )
        response = self._invocations(request)
        if response.status_code < 400:
            response.headers["x-Amzn-Invoked-Production-Variant"] = "AllTraffic"
            return response
        original = response.get_data(as_text=True)
        kind = "client" if response.status_code < 500 else "server"
        log_group = f"/aws/sagemaker/Endpoints/{name}"
        message = (
            f'Received {kind} error ({response.status_code}) from primary with message "{original}". '
            f"See https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
            f"#logEventViewer:group={log_group} in account {ACCOUNT_ID} for more information."
        )
        return _runtime_error(
            424,
            "ModelError",
            {
                "Message": message,
                "OriginalStatusCode": response.status_code,
                "OriginalMessage": original,
                "LogStreamArn": f"arn:aws:logs:{self.region}:{ACCOUNT_ID}:log-group:{log_group}",
            },
        )


def _parse_accept(header: str) -> str | None:
    accept = header.split(";")[0].strip().lower()
    if not accept or accept == "*/*":
        return "text/csv"
    return accept if accept in _SUPPORTED_ACCEPTS else None


def _encode(scores: list[float], accept: str) -> str:
    # str() of the float32 score widened to a Python float: the container's "full precision".
    if accept == "text/csv":
        return "\n".join(map(str, scores)) + "\n" if scores else ""
    if accept == "application/jsonlines":
        return "".join(json.dumps({"score": s}) + "\n" for s in scores)
    return json.dumps({"predictions": [{"score": s} for s in scores]})


def _text(status: int, body: str) -> Response:
    return Response(body, status=status, mimetype="text/plain")


def _runtime_error(status: int, code: str, fields: dict[str, Any]) -> Response:
    response = Response(json.dumps(fields), status=status, mimetype="application/json")
    response.headers["x-amzn-ErrorType"] = code
    response.headers["x-amzn-RequestId"] = "00000000-0000-0000-0000-000000000000"
    return response
