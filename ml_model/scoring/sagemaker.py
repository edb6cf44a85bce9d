"""Scoring through a SageMaker real-time endpoint (or the local server with the same contract), with
the local model from the same artifact as fallback: no row is ever lost or scored twice.

Per call: exactly the spec's columns as `text/csv`; at most `max_rows_per_call` rows and fewer than
`max_bytes_per_call` bytes; several calls in flight; bounded timeouts; retries with exponential
backoff and full jitter on throttling, 5xx and network failures, decided in `_retryable` only; a
circuit breaker that opens after repeated failed calls and half-opens to probe. Rows of a call that
finally fails, or that the open breaker refuses, are scored by the fallback (`scored_by=fallback`).

Feature-spec check at start-up (`setup`): the client compares its spec's hash with the model card
of the artifact the endpoint serves. A SageMaker container cannot be asked for it (its `/ping` is
an empty 200 and every runtime header outside the API is stripped), so the card is read where the
endpoint's model comes from: DescribeEndpoint -> DescribeEndpointConfig -> DescribeModel gives the
`ModelDataUrl` of the deployed `model.tar.gz`, whose `fraudstream/model_card.json` holds the hash
(`published_model_card`). The local server serves the same card at `GET /fraudstream/model-card`
(`local_endpoint_model_card`). `endpoint_model_card` picks the source from the runtime client's
endpoint URL. A mismatch raises `FeatureSpecMismatchError` before any row is scored.

The local server also names, on every scored answer, the feature spec of the model that scored it
(`X-Fraudstream-Feature-Spec-Hash`): an answer from a model on another spec than the client's (one
swapped in since start-up) raises `FeatureSpecMismatchError` instead of being used. SageMaker strips
the header, so against AWS the start-up check is the only one.

An endpoint may serve several production variants (a champion and a challenger): each answer names
the variant that scored it (`InvokedProductionVariant`), which every row records (`model_variant`),
with that variant's model version: the local server's answer names it; against AWS it comes from the
variant's model card (`published_model_cards`: DescribeEndpoint -> DescribeEndpointConfig -> each
variant's DescribeModel -> S3), read once, when an answer first names a variant the client has no card
for, and checked against the client's feature spec like the start-up card. `target_variant` sends
every call to one variant (`TargetVariant`).
"""

from __future__ import annotations

import io
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Self
from urllib.parse import urlparse

import botocore.exceptions
import numpy as np
from botocore.config import Config

from fraudstream.aws import aws_errors, default_session
from fraudstream.contracts import ScoredBy
from fraudstream.exceptions import FraudstreamError
from fraudstream.retry import Backoff, call_with_retries
from ml_model.artifact import ModelCard, read_model_card
from ml_model.exceptions import EndpointInvocationError, FeatureSpecMismatchError, ModelError
from ml_model.features import FEATURE_SPEC
from ml_model.scoring._circuit_breaker import BreakerState, CircuitBreaker, Permit
from ml_model.scoring.base import ReasonExplainer, Scorer, ScoreResult, check_matrix, reasons_for
from ml_model.serving import FEATURE_SPEC_HASH_HEADER, MODEL_VERSION_HEADER

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import boto3
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient
    from mypy_boto3_sagemaker_runtime.type_defs import InvokeEndpointOutputTypeDef

    from ml_model.feature_spec import FeatureSpec
    from ml_model.scoring.local import LocalXGBoostScorer

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "SageMakerScorer",
    "endpoint_model_card",
    "endpoint_variant_cards",
    "is_aws_endpoint",
    "local_endpoint_model_card",
    "local_endpoint_variant_cards",
    "published_model_card",
    "published_model_cards",
    "runtime_client",
]

logger = logging.getLogger(__name__)

# The SageMaker runtime accepts at most 6 MB per InvokeEndpoint call (the container 6 MiB): stay under 5 MB.
MAX_BYTES_PER_CALL: Final = 5_000_000
_THROTTLING_CODES: Final = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "ModelNotReadyException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalDependencyException",
    }
)


def runtime_client(
    session: boto3.Session | None = None,
    *,
    endpoint_url: str | None = None,
    timeout_s: float = 2.0,
    connect_timeout_s: float = 1.0,
    pool: int = 16,
) -> SageMakerRuntimeClient:
    """A `sagemaker-runtime` client with bounded timeouts and botocore's retries off (the scorer
    retries, in one place). The endpoint URL is `endpoint_url`, else boto3's own configuration
    (`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`, `AWS_ENDPOINT_URL`)."""
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=connect_timeout_s,
        read_timeout=timeout_s,
        max_pool_connections=pool,
    )
    with aws_errors():
        return (session or default_session()).client("sagemaker-runtime", endpoint_url=endpoint_url, config=config)


class SageMakerScorer(Scorer):
    """Scores through an endpoint; the local model takes over rows the endpoint does not score.

    Args:
        endpoint_name: the SageMaker endpoint (or the local server's `--name`).
        fallback: the in-process model from the same artifact; None makes a final failure raise.
        client: a `sagemaker-runtime` client; built by `runtime_client` when None.
        spec: the feature spec the client computes (None: the fallback's, else this code's default).
        endpoint_card: the model card of the artifact the endpoint serves (see the module doc);
            None skips the start-up check with a warning.
        max_rows_per_call: rows per InvokeEndpoint call.
        max_bytes_per_call: body size limit per call (kept under 5 MB).
        max_in_flight: calls in flight at once.
        timeout_s: read timeout of one call (used when the client is built here).
        max_attempts: attempts per call, the first included.
        backoff_base_s: first retry's backoff ceiling; doubles per attempt (full jitter).
        backoff_max_s: backoff ceiling.
        breaker: the circuit breaker; a default one when None.
        explainer: computes reasons; defaults to the fallback's (none without a fallback).
        reasons_min_score: rows scoring at least this get reasons (defaults to the fallback's; with
            neither, every row).
        sleep: how to wait between attempts (injectable).
        rng: jitter source (injectable).
        target_variant: send every call to this production variant (`TargetVariant`); None lets the
            endpoint split the calls by its variants' weights.
        variant_cards: the model card of each production variant, when known (checked by `setup`).
        load_variant_cards: how to learn the variants' cards (`endpoint_variant_cards`), called at most
            once, when an answer names a variant without naming its model (AWS strips the local server's
            header) and `variant_cards` has no card for it.
    """

    def __init__(
        self,
        endpoint_name: str,
        *,
        fallback: LocalXGBoostScorer | None,
        client: SageMakerRuntimeClient | None = None,
        spec: FeatureSpec | None = None,
        endpoint_card: ModelCard | None = None,
        max_rows_per_call: int = 500,
        max_bytes_per_call: int = MAX_BYTES_PER_CALL,
        max_in_flight: int = 4,
        timeout_s: float = 2.0,
        max_attempts: int = 3,
        backoff_base_s: float = 0.05,
        backoff_max_s: float = 1.0,
        breaker: CircuitBreaker | None = None,
        explainer: ReasonExplainer | None = None,
        reasons_min_score: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        target_variant: str | None = None,
        variant_cards: Mapping[str, ModelCard] | None = None,
        load_variant_cards: Callable[[], Mapping[str, ModelCard]] | None = None,
    ) -> None:
        if max_rows_per_call < 1 or max_in_flight < 1 or max_attempts < 1:
            raise ValueError("max_rows_per_call, max_in_flight and max_attempts must be at least 1")
        self.endpoint_name = endpoint_name
        self.scored_by = ScoredBy.for_endpoint(endpoint_name)
        self.fallback = fallback
        self.client = client or runtime_client(timeout_s=timeout_s, pool=max_in_flight * 2)
        # None: the fallback's (the artifact's label delay), else this code's default.
        self.spec = spec or (fallback.spec if fallback is not None else FEATURE_SPEC)
        self.endpoint_card = endpoint_card
        self.max_rows_per_call = max_rows_per_call
        self.max_bytes_per_call = min(max_bytes_per_call, MAX_BYTES_PER_CALL)
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.breaker = breaker or CircuitBreaker()
        self.explainer = explainer or (fallback.explainer if fallback is not None else None)
        self.reasons_min_score = (
            reasons_min_score
            if reasons_min_score is not None
            else (fallback.reasons_min_score if fallback is not None else None)
        )
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
        self._pool = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="sagemaker-scorer")
        self.target_variant = target_variant
        self.variant_cards: dict[str, ModelCard] = dict(variant_cards or {})
        self._load_variant_cards = load_variant_cards
        self._checked = False
        self._lock = threading.Lock()
        self._cards_lock = threading.Lock()
        self.calls = 0
        self.failed_calls = 0

    @property
    def endpoint_model_version(self) -> str:
        if self.endpoint_card is not None:
            return self.endpoint_card.model_version
        return self.fallback.model_version if self.fallback is not None else "unknown"

    def setup(self) -> Self:
        """Check, before any row is scored, that the endpoint's model and the fallback were trained on
        this code's feature spec.

        Raises:
            FeatureSpecMismatchError: a hash differs.
        """
        if self._checked:
            return self
        if self.fallback is not None:
            self.fallback.setup()
        for variant, card in self.variant_cards.items():
            self._check_variant_card(variant, card)
        if self.endpoint_card is None:
            logger.warning(
                "the endpoint's model card is unknown: its feature spec is not verified",
                extra={"endpoint_name": self.endpoint_name},
            )
        elif self.endpoint_card.feature_spec_hash != self.spec.hash:
            raise FeatureSpecMismatchError(
                f"endpoint {self.endpoint_name} serves model {self.endpoint_card.model_version} trained on feature "
                f"spec {_card_spec(self.endpoint_card)}; this code computes {self.spec.describe()}",
                expected=self.spec.hash,
                actual=self.endpoint_card.feature_spec_hash,
            )
        elif self.fallback is not None and self.fallback.model_version != self.endpoint_card.model_version:
            logger.warning(
                "the fallback model is not the endpoint's",
                extra={
                    "endpoint_model": self.endpoint_card.model_version,
                    "fallback_model": self.fallback.model_version,
                },
            )
        self._checked = True
        return self

    def score(self, matrix: np.ndarray) -> ScoreResult:
        """Score every row exactly once: by the endpoint, or by the fallback for the calls it did not answer.

        Raises:
            FeatureColumnsError: the matrix does not have the spec's width.
            FeatureSpecMismatchError: see `setup`; also when the endpoint answers that the model which
                scored a call was trained on another feature spec.
            EndpointInvocationError: a call finally failed and there is no fallback.
        """
        self.setup()
        matrix = check_matrix(matrix, self.spec)
        n = len(matrix)
        scores = np.empty(n, dtype=np.float64)
        by_endpoint = np.zeros(n, dtype=bool)
        fallback_version = self.fallback.model_version if self.fallback is not None else self.endpoint_model_version
        versions = [fallback_version] * n
        variants: list[str | None] = [None] * n
        fallback_card = self.fallback.artifact.card if self.fallback is not None else self.endpoint_card
        thresholds = np.full(n, fallback_card.threshold if fallback_card is not None else np.nan)
        if n:
            lines = encode_rows(matrix)
            bounds = self._batches(lines)
            futures = [
                (start, end, self._pool.submit(self._invoke, "\n".join(lines[start:end]) + "\n", end - start))
                for start, end in bounds
            ]
            errors: list[EndpointInvocationError] = []
            for start, end, future in futures:
                answer, error = future.result()
                if answer is not None:
                    scores[start:end] = answer.scores
                    by_endpoint[start:end] = True
                    versions[start:end] = [answer.model_version] * (end - start)
                    variants[start:end] = [answer.variant] * (end - start)
                    thresholds[start:end] = answer.threshold
                elif self.fallback is not None:
                    scores[start:end] = self.fallback.predict(matrix[start:end])
                elif error is not None:
                    errors.append(error)
            if errors:
                raise errors[0]
        return ScoreResult(
            scores=scores,
            scored_by=[self.scored_by if e else ScoredBy.FALLBACK.value for e in by_endpoint.tolist()],
            model_version=versions,
            reasons=reasons_for(self.explainer, matrix, scores, self.reasons_min_score),
            model_variant=variants,
            threshold=thresholds,
        )

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _batches(self, lines: list[str]) -> list[tuple[int, int]]:
        sizes = np.fromiter((len(line) + 1 for line in lines), dtype=np.int64, count=len(lines))
        bounds: list[tuple[int, int]] = []
        start = 0
        while start < len(lines):
            end = min(start + self.max_rows_per_call, len(lines))
            cumulative = np.cumsum(sizes[start:end])
            fits = int(np.searchsorted(cumulative, self.max_bytes_per_call, side="left"))
            end = start + max(1, min(end - start, fits))
            bounds.append((start, end))
            start = end
        return bounds

    def _invoke(self, body: str, rows: int) -> tuple[_Answer | None, EndpointInvocationError | None]:
        """One call with its retries; None when the rows must go to the fallback."""
        permit = self.breaker.acquire()
        if permit is Permit.DENIED:
            return None, EndpointInvocationError(f"circuit open for endpoint {self.endpoint_name}", retryable=True)
        attempts = 1 if permit is Permit.PROBE else self.max_attempts

        def attempt(number: int) -> tuple[InvokeEndpointOutputTypeDef, np.ndarray]:
            with self._lock:
                self.calls += 1
            try:
                target = {"TargetVariant": self.target_variant} if self.target_variant is not None else {}
                response = self.client.invoke_endpoint(
                    EndpointName=self.endpoint_name,
                    Body=body.encode(),
                    ContentType="text/csv",
                    Accept="text/csv",
                    **target,
                )
                return response, _parse_scores(response["Body"].read(), rows)
            except Exception as e:  # classified here; anything unexpected is not retried
                error = _as_invocation_error(e)
                logger.warning(
                    "endpoint call failed",
                    extra={
                        "endpoint_name": self.endpoint_name,
                        "attempt": number,
                        "status": error.status,
                        "retryable": error.retryable,
                        "error": str(error)[:300],
                    },
                )
                if error is e:
                    raise
                raise error from e

        try:
            response, scores = call_with_retries(
                attempt,
                retryable=lambda e: isinstance(e, EndpointInvocationError) and e.retryable,
                backoff=Backoff(self.backoff_base_s, self.backoff_max_s),
                max_attempts=attempts,
                sleep=self.sleep,
                rng=self.rng,
            )
        except EndpointInvocationError as error:
            with self._lock:
                self.failed_calls += 1
            self.breaker.record_failure(permit)
            return None, error
        self.breaker.record_success(permit)
        variant, version = self._identify(response)
        return _Answer(scores, variant, version, self._threshold_of(variant)), None

    def _threshold_of(self, variant: str | None) -> float:
        """The alert threshold of the model that `variant` serves (its card's; NaN when unknown)."""
        card = (self.variant_card(variant) if variant is not None else None) or self.endpoint_card
        return card.threshold if card is not None else float("nan")

    def _identify(self, response: InvokeEndpointOutputTypeDef) -> tuple[str | None, str]:
        """The variant that answered and its model's version; an answer whose model was trained on
        another feature spec is refused: its scores are of other features than the ones sent.

        The local server names the model and its spec on the answer; SageMaker strips those headers,
        so there the variant's card says both (read once, when first needed).
        """
        variant = response.get("InvokedProductionVariant")
        headers = response["ResponseMetadata"]["HTTPHeaders"]
        served = headers.get(FEATURE_SPEC_HASH_HEADER.lower())
        version = headers.get(MODEL_VERSION_HEADER.lower())
        if served is not None and served != self.spec.hash:
            raise FeatureSpecMismatchError(
                f"endpoint {self.endpoint_name} answered from variant {variant} with model "
                f"{version or 'of unknown version'} trained on feature spec {served}; this code computes "
                f"{self.spec.describe()}",
                expected=self.spec.hash,
                actual=served,
            )
        if version is not None:
            return variant, version
        card = self.variant_card(variant) if variant is not None else None
        if card is None:
            return variant, self.endpoint_model_version
        self._check_variant_card(str(variant), card)
        return variant, card.model_version

    def variant_card(self, variant: str) -> ModelCard | None:
        """The card of `variant`'s model: known, or learned once through `load_variant_cards`. None when
        it cannot be learned: the row then records the endpoint card's model version, as a single-variant
        endpoint's rows do."""
        card = self.variant_cards.get(variant)
        if card is not None:
            return card
        # Under the lock: the calls in flight wait for the one load instead of passing it by.
        with self._cards_lock:
            if self._load_variant_cards is not None:
                load, self._load_variant_cards = self._load_variant_cards, None
                try:
                    loaded = dict(load())
                except Exception as e:  # the control plane or S3 unreachable, access denied: not fatal to scoring
                    logger.warning(
                        "cannot read the model cards of the endpoint's variants: rows record the endpoint card's "
                        "model version",
                        extra={"endpoint_name": self.endpoint_name, "error": str(e)[:300]},
                    )
                    loaded = {}
                self.variant_cards = loaded | self.variant_cards
            return self.variant_cards.get(variant)

    def _check_variant_card(self, variant: str, card: ModelCard) -> None:
        if card.feature_spec_hash != self.spec.hash:
            raise FeatureSpecMismatchError(
                f"variant {variant} of endpoint {self.endpoint_name} serves model {card.model_version} trained on "
                f"feature spec {_card_spec(card)}; this code computes {self.spec.describe()}",
                expected=self.spec.hash,
                actual=card.feature_spec_hash,
            )


@dataclass(frozen=True)
class _Answer:
    """What one call's answer says: a score per row, the variant that scored them, its model's version
    and alert threshold."""

    scores: np.ndarray
    variant: str | None
    model_version: str
    threshold: float


def encode_rows(matrix: np.ndarray) -> list[str]:
    """CSV lines of the contract: shortest round-trip decimal of each float64 (so the container sees
    exactly the values the local model sees), an empty cell for a missing value, no header."""
    cells = matrix.astype(str)
    cells[np.isnan(matrix)] = ""
    return [",".join(row) for row in cells.tolist()]


def _parse_scores(body: bytes, rows: int) -> np.ndarray:
    scores = np.array(body.split(), dtype=np.float64)
    if len(scores) != rows:
        raise EndpointInvocationError(f"the endpoint returned {len(scores)} scores for {rows} rows")
    return scores


def _as_invocation_error(e: Exception) -> EndpointInvocationError:
    """Retryable versus fatal, decided here only."""
    if isinstance(e, EndpointInvocationError):
        return e
    if isinstance(e, botocore.exceptions.ClientError):
        code = e.response.get("Error", {}).get("Code", "")
        status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if code == "ModelError":
            original = int(e.response.get("OriginalStatusCode", 0) or 0)  # type: ignore[call-overload]
            # The container's 4xx means this client sent something wrong: retrying cannot help.
            return EndpointInvocationError(str(e), status=original, retryable=original >= 500 or original == 429)
        retryable = code in _THROTTLING_CODES or status >= 500 or status == 429
        return EndpointInvocationError(str(e), status=status, retryable=retryable)
    if isinstance(e, botocore.exceptions.HTTPClientError | botocore.exceptions.ConnectionError):
        # Read timeouts, connections refused or dropped: the endpoint may be back on the next try.
        return EndpointInvocationError(str(e), retryable=True)
    logger.exception("unexpected error calling the endpoint")
    return EndpointInvocationError(f"{type(e).__name__}: {e}", retryable=False)


def published_model_cards(endpoint_name: str, *, session: boto3.Session | None = None) -> dict[str, ModelCard]:
    """The model card of each production variant of a SageMaker endpoint, in the endpoint config's order,
    read from where SageMaker took each model.

    DescribeEndpoint -> DescribeEndpointConfig -> per variant DescribeModel gives the S3 `ModelDataUrl`
    of its `model.tar.gz`, whose `fraudstream/model_card.json` is read from S3.

    Raises:
        ModelError: the chain does not lead to an artifact with a card for every variant.
    """
    return _published_cards(endpoint_name, session=session, first_only=False)


def published_model_card(endpoint_name: str, *, session: boto3.Session | None = None) -> ModelCard:
    """The model card of the first production variant of a SageMaker endpoint (the champion: the
    processor's IAM role may read only its model), as `published_model_cards` reads it.

    Raises:
        ModelError: the chain does not lead to an artifact with a card.
    """
    return next(iter(_published_cards(endpoint_name, session=session, first_only=True).values()))


def _published_cards(endpoint_name: str, *, session: boto3.Session | None, first_only: bool) -> dict[str, ModelCard]:
    session = session or default_session()
    cards: dict[str, ModelCard] = {}
    with aws_errors(f"endpoint {endpoint_name}"):
        sagemaker: Any = session.client("sagemaker")
        s3 = session.client("s3")
        config_name = sagemaker.describe_endpoint(EndpointName=endpoint_name)["EndpointConfigName"]
        variants = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)["ProductionVariants"]
        for variant in variants[:1] if first_only else variants:
            model = sagemaker.describe_model(ModelName=variant["ModelName"])
            container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
            url = urlparse(str(container.get("ModelDataUrl", "")))
            if url.scheme != "s3":
                raise ModelError(f"endpoint {endpoint_name}: model {variant['ModelName']} has no S3 ModelDataUrl")
            body = s3.get_object(Bucket=url.netloc, Key=url.path.lstrip("/"))["Body"].read()
            cards[str(variant["VariantName"])] = read_model_card(io.BytesIO(body))
    return cards


def local_endpoint_model_card(endpoint_url: str, *, timeout_s: float = 5.0) -> ModelCard:
    """The model card the local server serves (`GET /fraudstream/model-card`).

    Raises:
        ModelError: the server does not answer with a card.
    """
    url = endpoint_url.rstrip("/") + "/fraudstream/model-card"
    if urlparse(url).scheme not in ("http", "https"):
        raise ModelError(f"not an HTTP endpoint URL: {endpoint_url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (scheme checked above)
            return ModelCard.from_dict(json.loads(response.read()))
    except (urllib.error.URLError, OSError, json.JSONDecodeError) as e:
        raise ModelError(f"cannot read the model card from {url}: {e}") from e


def local_endpoint_variant_cards(endpoint_url: str, *, timeout_s: float = 5.0) -> dict[str, ModelCard]:
    """The card of each variant the local server serves (`GET /fraudstream/model-cards`), in its order.

    Raises:
        ModelError: the server does not answer with cards.
    """
    url = endpoint_url.rstrip("/") + "/fraudstream/model-cards"
    if urlparse(url).scheme not in ("http", "https"):
        raise ModelError(f"not an HTTP endpoint URL: {endpoint_url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (scheme checked above)
            return {str(name): ModelCard.from_dict(card) for name, card in json.loads(response.read()).items()}
    except (urllib.error.URLError, OSError, json.JSONDecodeError, AttributeError) as e:
        raise ModelError(f"cannot read the variants' model cards from {url}: {e}") from e


def _card_spec(card: ModelCard) -> str:
    spec = card.spec()
    return spec.describe() if spec is not None else card.feature_spec_hash


def endpoint_model_card(
    endpoint_name: str, client: SageMakerRuntimeClient, *, session: boto3.Session | None = None
) -> ModelCard:
    """The card of the artifact behind `endpoint_name`: from SageMaker's control plane and S3 when the
    runtime client talks to AWS; else from the local server it talks to, or failing that from the
    emulated control plane (an endpoint registered in the embedded emulator or LocalStack).

    Raises:
        ModelError: no source has a card for the endpoint.
        FraudstreamError: AWS could not be reached or the endpoint does not exist.
    """
    endpoint_url = client.meta.endpoint_url
    if is_aws_endpoint(endpoint_url):
        return published_model_card(endpoint_name, session=session)
    try:
        return local_endpoint_model_card(endpoint_url)
    except ModelError as local_error:
        try:
            return published_model_card(endpoint_name, session=session)
        except (FraudstreamError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise ModelError(f"no model card for endpoint {endpoint_name}: {local_error}; {e}") from e


def endpoint_variant_cards(
    endpoint_name: str, client: SageMakerRuntimeClient, *, session: boto3.Session | None = None
) -> dict[str, ModelCard]:
    """The card of each production variant of `endpoint_name`, found as `endpoint_model_card` finds the
    first one's: SageMaker's control plane and S3 on AWS; else the local server, or failing that the
    emulated control plane.

    Raises:
        ModelError: no source has the cards.
        FraudstreamError: AWS could not be reached or the endpoint does not exist.
    """
    endpoint_url = client.meta.endpoint_url
    if is_aws_endpoint(endpoint_url):
        return published_model_cards(endpoint_name, session=session)
    try:
        return local_endpoint_variant_cards(endpoint_url)
    except ModelError as local_error:
        try:
            return published_model_cards(endpoint_name, session=session)
        except (FraudstreamError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise ModelError(f"no model cards for endpoint {endpoint_name}'s variants: {local_error}; {e}") from e


def is_aws_endpoint(endpoint_url: str) -> bool:
    return (urlparse(endpoint_url).hostname or "").endswith(("amazonaws.com", "amazonaws.com.cn"))
