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

Production variants, as SageMaker serves them: each has a name, a model and a weight. A runtime call
names its variant in `X-Amzn-SageMaker-Target-Variant` (boto3's `TargetVariant`; an unknown one is a
400 `ValidationError`), or the variant is drawn at random with probability weight / sum of weights;
the answer names the variant that scored it in `x-Amzn-Invoked-Production-Variant`. The container
path `/invocations` is the first variant's (a container serves one model). Every variant computes
the same features: variants on different feature specs are refused at start-up.

Control plane (`POST /` with `X-Amz-Target: SageMaker.<Operation>`, the JSON 1.1 protocol of boto3's
`sagemaker` client): `DescribeEndpoint` (the variants with their current and desired weights, always
`InService`) and `UpdateEndpointWeightsAndCapacities` (new weights, applied from the next
invocation); errors are SageMaker's `ValidationException`s.

Extensions (never seen on AWS, whose runtime strips a container's own headers): `GET /fraudstream/model-card`
returns the served artifact's model card, which the scoring client compares with its feature spec at
start-up; the answers of `/ping` and of a scored invocation carry the model's version and feature-spec
hash (`X-Fraudstream-Model-Version`, `X-Fraudstream-Feature-Spec-Hash`); the client checks the hash on
every scored answer.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from ml_model.artifact import ModelArtifact
from ml_model.exceptions import FeatureSpecMismatchError
from ml_model.serving import (
    CHALLENGER_VARIANT,
    CHAMPION_VARIANT,
    DEFAULT_ENDPOINT_NAME,
    DEFAULT_VARIANT,
    FEATURE_SPEC_HASH_HEADER,
    MODEL_VERSION_HEADER,
)
from ml_model.serving._csv import CsvFormatError, parse_csv

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from wsgiref.types import StartResponse, WSGIEnvironment

__all__ = [
    "ACCOUNT_ID",
    "DEFAULT_ENDPOINT_NAME",
    "FEATURE_SPEC_HASH_HEADER",
    "MAX_CONTENT_LENGTH",
    "MODEL_CARDS_PATH",
    "MODEL_CARD_PATH",
    "MODEL_VERSION_HEADER",
    "TARGET_VARIANT_HEADER",
    "EndpointApp",
    "ProductionVariant",
    "check_variants",
    "champion_and_challenger",
]

logger = logging.getLogger(__name__)

# The container's limit: MAX_CONTENT_LENGTH defaults to 6 MiB.
MAX_CONTENT_LENGTH: Final = 6 * 1024 * 1024
# The account the local runtime pretends to be (moto's default account id).
ACCOUNT_ID: Final = "123456789012"
MODEL_CARD_PATH: Final = "/fraudstream/model-card"
# Every variant's card, {variant name: card} in the variants' order (an extension, as above).
MODEL_CARDS_PATH: Final = "/fraudstream/model-cards"
# The runtime's request and answer headers naming a production variant (botocore's service model).
TARGET_VARIANT_HEADER: Final = "X-Amzn-SageMaker-Target-Variant"
INVOKED_VARIANT_HEADER: Final = "x-Amzn-Invoked-Production-Variant"
# SageMaker's limit on production variants per endpoint configuration.
MAX_VARIANTS: Final = 10
_CONTROL_PLANE_TARGET: Final = "SageMaker."
_JSON_1_1: Final = "application/x-amz-json-1.1"
_SUPPORTED_ACCEPTS: Final = ["application/json", "application/jsonlines", "text/csv"]
_RUNTIME_PREFIX: Final = "/endpoints/"
_RUNTIME_SUFFIX: Final = "/invocations"


class _Request(Request):
    max_content_length = MAX_CONTENT_LENGTH


@dataclass(frozen=True)
class ProductionVariant:
    """One model the endpoint serves, as a SageMaker production variant.

    Args:
        name: the variant's name (`TargetVariant`, `InvokedProductionVariant`).
        artifact: its model; None when it could not be loaded (its calls answer 500, as the container's).
        weight: its initial traffic weight (share = weight / sum of the variants' weights).
        load_error: why the model could not be loaded (the 500 body).
    """

    name: str
    artifact: ModelArtifact | None
    weight: float = 1.0
    load_error: str = ""

    @property
    def num_features(self) -> int:
        return self.artifact.booster.num_features() if self.artifact is not None else 0


def check_variants(variants: Sequence[ProductionVariant]) -> None:
    """Refuse variants SageMaker would refuse, and variants that do not compute the same features.

    Raises:
        ValueError: no variant, more than SageMaker's 10, a repeated name, a negative or non-finite
            weight, or weights that are all zero.
        FeatureSpecMismatchError: two variants' models were trained on different feature specs (a
            client sends one spec's columns to whichever variant answers).
    """
    if not 1 <= len(variants) <= MAX_VARIANTS:
        raise ValueError(f"an endpoint serves 1 to {MAX_VARIANTS} production variants, not {len(variants)}")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"variant names must differ: {names}")
    if any(not math.isfinite(v.weight) or v.weight < 0 for v in variants):
        raise ValueError(f"variant weights must be finite and at least 0: {[v.weight for v in variants]}")
    if sum(v.weight for v in variants) <= 0:
        raise ValueError("at least one variant must have a weight above 0")
    loaded = [v for v in variants if v.artifact is not None]
    for variant in loaded[1:]:
        first, other = loaded[0].artifact, variant.artifact
        assert first is not None and other is not None  # noqa: S101 (filtered above)
        if other.spec.hash != first.spec.hash:
            raise FeatureSpecMismatchError(
                f"variant {variant.name} serves model {other.card.model_version} on feature spec "
                f"{other.spec.describe()}, variant {loaded[0].name} serves model {first.card.model_version} on "
                f"{first.spec.describe()}: the variants of an endpoint must compute the same features",
                expected=first.spec.hash,
                actual=other.spec.hash,
            )


def champion_and_challenger(
    champion: ModelArtifact, challenger: ModelArtifact | None, *, challenger_weight: float
) -> list[ProductionVariant]:
    """The variants of `fraudstream serve`: the champion alone as `AllTraffic`, or `champion` and
    `challenger` with `challenger_weight` of the traffic going to the challenger.

    Raises:
        ValueError: the weight is not between 0 and 1.
    """
    if not 0.0 <= challenger_weight <= 1.0:
        raise ValueError(f"the challenger's share of traffic must be between 0 and 1, not {challenger_weight}")
    if challenger is None:
        return [ProductionVariant(DEFAULT_VARIANT, champion)]
    return [
        ProductionVariant(CHAMPION_VARIANT, champion, 1.0 - challenger_weight),
        ProductionVariant(CHALLENGER_VARIANT, challenger, challenger_weight),
    ]


class EndpointApp:
    """The WSGI application.

    Args:
        model: the model to serve as the single variant `AllTraffic` (None when it could not be
            loaded: every call then answers 500), or the production variants (see `check_variants`).
        endpoint_name: the name the runtime path answers to.
        region: the region written in runtime error messages and ARNs.
        load_error: why a single model could not be loaded (the 500 body).
        seed: seeds the draw of a variant by weight (tests); None draws from the system's entropy.

    Raises:
        ValueError, FeatureSpecMismatchError: see `check_variants`.
    """

    def __init__(
        self,
        model: ModelArtifact | Sequence[ProductionVariant] | None,
        *,
        endpoint_name: str = DEFAULT_ENDPOINT_NAME,
        region: str = "us-east-1",
        load_error: str = "",
        seed: int | None = None,
    ) -> None:
        if model is None or isinstance(model, ModelArtifact):
            model = [ProductionVariant(DEFAULT_VARIANT, model, 1.0, load_error)]
        check_variants(model)
        self.variants: dict[str, ProductionVariant] = {v.name: v for v in model}
        self.endpoint_name = endpoint_name
        self.region = region
        self._weights = {v.name: float(v.weight) for v in model}
        self._desired_counts = dict.fromkeys(self._weights, 1)
        self._rng = random.Random(seed)  # noqa: S311 (traffic split, not cryptography)
        self._lock = threading.Lock()
        self._created = self._modified = time.time()

    @property
    def first(self) -> ProductionVariant:
        """The first variant: the container path's, and the champion's."""
        return next(iter(self.variants.values()))

    @property
    def artifact(self) -> ModelArtifact | None:
        """The first variant's model."""
        return self.first.artifact

    @property
    def load_error(self) -> str:
        return self.first.load_error

    def weights(self) -> dict[str, float]:
        """The current weight of each variant, in the variants' order."""
        with self._lock:
            return dict(self._weights)

    def set_weights(self, weights: dict[str, float]) -> None:
        """New weights for some variants (the others keep theirs), used from the next invocation.

        Raises:
            ValueError: an unknown variant, a negative or non-finite weight, or all weights zero after the change.
        """
        with self._lock:
            unknown = [n for n in weights if n not in self._weights]
            if unknown:
                raise ValueError(f"unknown variant(s) {unknown}: the endpoint has {list(self._weights)}")
            updated = self._weights | {n: float(w) for n, w in weights.items()}
            if any(not math.isfinite(w) or w < 0 for w in updated.values()) or sum(updated.values()) <= 0:
                raise ValueError(f"weights must be finite, at least 0 and not all 0: {updated}")
            self._weights = updated
            self._modified = time.time()

    def choose_variant(self) -> ProductionVariant:
        """A variant drawn with probability weight / sum of weights, as SageMaker splits traffic."""
        with self._lock:
            names, weights = list(self._weights), list(self._weights.values())
            return self.variants[self._rng.choices(names, weights)[0]]

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
            return self._only(request, "POST") or self._invocations(request, self.first)
        if path.startswith(_RUNTIME_PREFIX) and path.endswith(_RUNTIME_SUFFIX):
            name = path[len(_RUNTIME_PREFIX) : -len(_RUNTIME_SUFFIX)]
            return self._only(request, "POST") or self._runtime_invoke(request, name)
        if path == "/" and request.headers.get("X-Amz-Target", "").startswith(_CONTROL_PLANE_TARGET):
            return self._only(request, "POST") or self._control_plane(request)
        if path == "/execution-parameters":
            body = {"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}
            return Response(json.dumps(body), mimetype="application/json")
        if path == MODEL_CARD_PATH and self.artifact is not None:
            return Response(json.dumps(self.artifact.card.to_dict()), mimetype="application/json")
        if path == MODEL_CARDS_PATH:
            cards = {v.name: v.artifact.card.to_dict() for v in self.variants.values() if v.artifact is not None}
            return Response(json.dumps(cards), mimetype="application/json")
        return Response("not found", status=404, mimetype="text/plain")

    @staticmethod
    def _only(request: Request, method: str) -> Response | None:
        if request.method == method:
            return None
        return Response("method not allowed", status=405, mimetype="text/plain", headers={"Allow": method})

    def _ping(self) -> Response:
        if self.artifact is None:
            return Response(f"Unable to load model: {self.load_error}", status=500, mimetype="text/plain")
        return _identified(Response(status=200), self.first)

    def _invocations(self, request: Request, variant: ProductionVariant) -> Response:
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
        if variant.artifact is None:
            return _text(500, f"Unable to load model: {variant.load_error}")
        num_features = variant.num_features
        if rows.shape[1] > num_features:
            return _text(
                400,
                "Unable to evaluate payload provided: Feature shape mismatch, expected: "
                f"{num_features}, got {rows.shape[1]}",
            )
        if rows.shape[1] < num_features:
            # The container treats absent trailing columns as missing values.
            padding = np.full((rows.shape[0], num_features - rows.shape[1]), np.nan)
            rows = np.hstack([rows, padding])
        scores = variant.artifact.booster.inplace_predict(rows, validate_features=False)
        accept = _parse_accept(request.headers.get("Accept", ""))
        if accept is None:
            return _text(
                406,
                f"Accept type {request.headers.get('Accept')} is not supported. "
                f"Please use supported accept types: {_SUPPORTED_ACCEPTS}.",
            )
        return _identified(Response(_encode(np.asarray(scores).tolist(), accept), status=200, mimetype=accept), variant)

    def _runtime_invoke(self, request: Request, name: str) -> Response:
        if name != self.endpoint_name:
            return _runtime_error(
                400, "ValidationError", {"Message": f"Endpoint {name} of account {ACCOUNT_ID} not found."}
            )
        target = request.headers.get(TARGET_VARIANT_HEADER)
        if target is None:
            variant = self.choose_variant()
        elif target in self.variants:
            variant = self.variants[target]
        else:
            # NOTE: SageMaker's error code and status; the wording follows its endpoint-not-found message
            # (no public source quotes the one for an unknown variant).
            return _runtime_error(
                400,
                "ValidationError",
                {"Message": f"Variant {target} of endpoint {name} of account {ACCOUNT_ID} not found."},
            )
        response = self._invocations(request, variant)
        if response.status_code < 400:
            response.headers[INVOKED_VARIANT_HEADER] = variant.name
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

    # The control plane (JSON 1.1): shapes and messages as botocore's service model and SageMaker's answers.

    @property
    def endpoint_arn(self) -> str:
        return self._arn_of(self.endpoint_name)

    def _control_plane(self, request: Request) -> Response:
        operation = request.headers["X-Amz-Target"][len(_CONTROL_PLANE_TARGET) :]
        try:
            body = json.loads(request.get_data(cache=False) or b"{}")
        except ValueError:
            return _json_error("SerializationException", "the request body is not JSON")
        if not isinstance(body, dict):
            return _json_error("SerializationException", "the request body is not a JSON object")
        handlers = {
            "DescribeEndpoint": self._describe_endpoint,
            "UpdateEndpointWeightsAndCapacities": self._update_weights,
        }
        handler = handlers.get(operation)
        if handler is None:
            return _json_error(
                "UnknownOperationException", f"the local endpoint answers {sorted(handlers)}, not {operation}"
            )
        if body.get("EndpointName") != self.endpoint_name:
            arn = self._arn_of(str(body.get("EndpointName", "")))
            return _json_error("ValidationException", f'Could not find endpoint "{arn}".')
        return handler(body)

    def _arn_of(self, endpoint_name: str) -> str:
        # SageMaker writes the name in lower case in its ARNs.
        return f"arn:aws:sagemaker:{self.region}:{ACCOUNT_ID}:endpoint/{endpoint_name.lower()}"

    def _describe_endpoint(self, _: dict[str, Any]) -> Response:
        weights = self.weights()
        with self._lock:
            counts = dict(self._desired_counts)
            created, modified = self._created, self._modified
        variants = [
            {
                "VariantName": name,
                # Applied at once: the current weight is always the desired one.
                "CurrentWeight": weight,
                "DesiredWeight": weight,
                "CurrentInstanceCount": counts[name],
                "DesiredInstanceCount": counts[name],
            }
            for name, weight in weights.items()
        ]
        return _json(
            {
                "EndpointName": self.endpoint_name,
                "EndpointArn": self.endpoint_arn,
                "EndpointConfigName": self.endpoint_name,
                "ProductionVariants": variants,
                "EndpointStatus": "InService",
                "CreationTime": created,
                "LastModifiedTime": modified,
            }
        )

    def _update_weights(self, body: dict[str, Any]) -> Response:
        desired = body.get("DesiredWeightsAndCapacities")
        if not isinstance(desired, list) or not desired or not all(isinstance(d, dict) for d in desired):
            return _json_error("ValidationException", "DesiredWeightsAndCapacities must list at least one variant.")
        names = [str(d.get("VariantName", "")) for d in desired]
        repeated = next((n for i, n in enumerate(names) if n in names[:i]), None)
        if repeated is not None:
            message = f'The variant name "{repeated}" was non-unique within the request.'
            return _json_error("ValidationException", message)
        unknown = [n for n in names if n not in self.variants]
        if unknown:
            return _json_error(
                "ValidationException",
                f'The variant name(s) "{", ".join(unknown)}" is/are not present within endpoint configuration '
                f'"{self.endpoint_name}".',
            )
        weights = {str(d["VariantName"]): d["DesiredWeight"] for d in desired if d.get("DesiredWeight") is not None}
        if not all(isinstance(w, int | float) and not isinstance(w, bool) for w in weights.values()):
            return _json_error("ValidationException", "DesiredWeight must be a number.")
        try:
            self.set_weights({n: float(w) for n, w in weights.items()})
        except ValueError:
            return _json_error(
                "ValidationException",
                "The weights of an endpoint's variants must be at least 0, and at least one must be above 0.",
            )
        with self._lock:
            for d in desired:
                if isinstance(d.get("DesiredInstanceCount"), int):
                    self._desired_counts[str(d["VariantName"])] = int(d["DesiredInstanceCount"])
        logger.info("variant weights updated", extra={"endpoint_name": self.endpoint_name, "weights": self.weights()})
        return _json({"EndpointArn": self.endpoint_arn})


def _identified(response: Response, variant: ProductionVariant) -> Response:
    """The answer named with the model's version and feature-spec hash of the variant that gave it (the
    scoring client checks the hash on every answer: a model swapped under a running client is refused)."""
    if variant.artifact is not None:
        response.headers[MODEL_VERSION_HEADER] = variant.artifact.card.model_version
        response.headers[FEATURE_SPEC_HASH_HEADER] = variant.artifact.spec.hash
    return response


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


def _json(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=200, content_type=_JSON_1_1)


def _json_error(code: str, message: str) -> Response:
    """A control-plane error as the JSON 1.1 protocol carries it (botocore reads the code from `__type`)."""
    response = Response(json.dumps({"__type": code, "message": message}), status=400, content_type=_JSON_1_1)
    response.headers["x-amzn-RequestId"] = "00000000-0000-0000-0000-000000000000"
    return response
