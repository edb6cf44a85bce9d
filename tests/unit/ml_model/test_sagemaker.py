from __future__ import annotations

import io
import random
import threading
from typing import TYPE_CHECKING, Any, cast

import boto3
import botocore.exceptions
import numpy as np
import pandas as pd
import pytest

from fraudstream.contracts import ScoredBy
from ml_model.features import FEATURE_SPEC
from ml_model.scoring import LocalXGBoostScorer, SageMakerScorer, ScorerType, build_scorer
from ml_model.scoring.sagemaker import _as_invocation_error, encode_rows, runtime_client

if TYPE_CHECKING:
    from ml_model.artifact import ModelArtifact


def _client_error(code: str, status: int, **fields: Any) -> botocore.exceptions.ClientError:
    response: Any = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}, **fields}
    return botocore.exceptions.ClientError(response, "InvokeEndpoint")


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (_client_error("ModelError", 424, OriginalStatusCode=500), True),
        (_client_error("ModelError", 424, OriginalStatusCode=415), False),
        (_client_error("ModelError", 424, OriginalStatusCode=400), False),
        (_client_error("ThrottlingException", 400), True),
        (_client_error("ServiceUnavailable", 503), True),
        (_client_error("InternalFailure", 500), True),
        (_client_error("ModelNotReadyException", 429), True),
        (_client_error("ValidationError", 400), False),
        (botocore.exceptions.ReadTimeoutError(endpoint_url="http://x"), True),
        (botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"), True),
        (ValueError("bug"), False),
    ],
)
def test_retryable_or_fatal(error: Exception, retryable: bool) -> None:
    assert _as_invocation_error(error).retryable is retryable


def test_batches_respect_rows_and_bytes(artifact: ModelArtifact, eval_rows: np.ndarray) -> None:
    # GIVEN a scorer limited to 100 rows and 20 kB per call (no client calls are made)
    scorer = SageMakerScorer(
        "e",
        fallback=LocalXGBoostScorer(artifact),
        client=cast("Any", object()),
        max_rows_per_call=100,
        max_bytes_per_call=20_000,
    )
    lines = encode_rows(eval_rows)
    # WHEN the rows are split
    bounds = scorer._batches(lines)
    scorer.close()
    # THEN the calls cover every row once, in order, within both limits
    assert bounds[0][0] == 0 and bounds[-1][1] == len(lines)
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    for start, end in bounds:
        assert end - start <= 100
        assert sum(len(line) + 1 for line in lines[start:end]) <= 20_000


def test_encode_rows_writes_empty_cells_for_missing_values() -> None:
    assert encode_rows(np.array([[1.5, np.nan, 0.1]])) == ["1.5,,0.1"]


class _FakeRuntime:
    """A `sagemaker-runtime` stand-in (no I/O): each call takes the next scripted error, then answers
    one score per row; records the bodies and how many calls were in flight at once."""

    def __init__(self, errors: list[Exception] | None = None, *, hold_until_in_flight: int = 0) -> None:
        self.errors = list(errors or [])
        self.hold_until_in_flight = hold_until_in_flight
        self.bodies: list[bytes] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._cond = threading.Condition()

    def invoke_endpoint(self, *, Body: bytes, **_: Any) -> dict[str, Any]:  # noqa: N803 (boto3's parameter name)
        with self._cond:
            self.bodies.append(Body)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            self._cond.notify_all()
            # Hold the calls until the wanted number has been in flight at once (bounded: a client that
            # calls one at a time waits 2 s per call and then fails the test, it never hangs it).
            self._cond.wait_for(lambda: self.peak_in_flight >= self.hold_until_in_flight, timeout=2)
            self.in_flight -= 1
            if self.errors:
                raise self.errors.pop(0)
        # boto3's shape: SageMaker's runtime answers without the local server's model headers.
        return {"Body": io.BytesIO(b"0.25\n" * Body.count(b"\n")), "ResponseMetadata": {"HTTPHeaders": {}}}


def _fake_scorer(artifact: ModelArtifact, client: _FakeRuntime, **kwargs: Any) -> SageMakerScorer:
    return SageMakerScorer("e", fallback=LocalXGBoostScorer(artifact), client=cast("Any", client), **kwargs)


def test_retries_back_off_exponentially_with_full_jitter(artifact: ModelArtifact, eval_rows: np.ndarray) -> None:
    # GIVEN an endpoint that throttles, then fails with a 5xx twice, then answers
    client = _FakeRuntime(
        [
            _client_error("ThrottlingException", 400),
            _client_error("ModelError", 424, OriginalStatusCode=500),
            _client_error("ServiceUnavailable", 503),
        ]
    )
    slept: list[float] = []
    scorer = _fake_scorer(
        artifact,
        client,
        max_attempts=4,
        backoff_base_s=0.1,
        backoff_max_s=0.25,
        sleep=slept.append,
        rng=random.Random(7),
    )
    # WHEN one call's worth of rows is scored
    with scorer:
        result = scorer.score_frame(pd.DataFrame(eval_rows[:10], columns=list(FEATURE_SPEC.names)))
    # THEN the fourth attempt scored the rows, after three waits each drawn uniformly from zero up to a
    # ceiling that doubles per attempt (0.1, 0.2) and is capped (0.25): full jitter
    assert len(client.bodies) == 4
    assert set(result["scored_by"]) == {"endpoint:e"}
    draws = random.Random(7)
    assert slept == [draws.uniform(0.0, 0.1), draws.uniform(0.0, 0.2), draws.uniform(0.0, 0.25)]
    assert all(0 <= s <= cap for s, cap in zip(slept, [0.1, 0.2, 0.25], strict=True))
    assert len(set(slept)) == 3


def test_a_client_error_of_the_container_is_not_retried(artifact: ModelArtifact, eval_rows: np.ndarray) -> None:
    # GIVEN an endpoint whose container refuses the body (415: retrying the same body cannot help)
    client = _FakeRuntime([_client_error("ModelError", 424, OriginalStatusCode=415)])
    slept: list[float] = []
    scorer = _fake_scorer(artifact, client, max_attempts=3, sleep=slept.append)
    # WHEN the rows are scored
    with scorer:
        result = scorer.score_frame(pd.DataFrame(eval_rows[:10], columns=list(FEATURE_SPEC.names)))
    # THEN one attempt, no wait, and the fallback scored them
    assert (len(client.bodies), slept) == (1, [])
    assert set(result["scored_by"]) == {"fallback"}


def test_every_scored_by_the_scorers_write_is_a_member_of_the_contract(
    artifact: ModelArtifact, eval_rows: np.ndarray
) -> None:
    # GIVEN every way rows get scored: the endpoint and its fallback (the first call is refused), the
    # stream's model without an endpoint (built as processor/scoring.py builds it), `fraudstream score`
    frame = pd.DataFrame(eval_rows[:20], columns=list(FEATURE_SPEC.names))
    client = _FakeRuntime([_client_error("ModelError", 424, OriginalStatusCode=415)])
    with _fake_scorer(artifact, client, max_rows_per_call=10) as scorer:
        written = scorer.score_frame(frame)["scored_by"].tolist()
    written += (
        build_scorer(ScorerType.LOCAL, artifact, scored_by=ScoredBy.LOCAL).score_frame(frame)["scored_by"].tolist()
    )
    written += LocalXGBoostScorer(artifact, scored_by=ScoredBy.BATCH).score_frame(frame)["scored_by"].tolist()
    # THEN each written value is a plain string that parses as a member, and together they cover the contract
    assert all(type(value) is str for value in written)
    assert {ScoredBy.parse(value) for value in written} == set(ScoredBy)
    assert set(written) == {"endpoint:e", "fallback", "local", "batch"}
    # and the model in process cannot claim to be an endpoint
    with pytest.raises(ValueError, match="not an endpoint"):
        LocalXGBoostScorer(artifact, scored_by=ScoredBy.ENDPOINT)


def test_several_calls_are_in_flight_but_never_more_than_the_limit(
    artifact: ModelArtifact, eval_rows: np.ndarray
) -> None:
    # GIVEN an endpoint that holds each call until 3 are in flight, and a client allowing 3 at once
    client = _FakeRuntime(hold_until_in_flight=3)
    scorer = _fake_scorer(artifact, client, max_rows_per_call=100, max_in_flight=3)
    # WHEN 1,200 rows (12 calls) are scored
    with scorer:
        result = scorer.score_frame(pd.DataFrame(eval_rows, columns=list(FEATURE_SPEC.names)))
    # THEN 3 calls overlapped, never more, and the endpoint scored every row
    assert len(client.bodies) == 12
    assert client.peak_in_flight == 3
    assert set(result["scored_by"]) == {"endpoint:e"}


def test_calls_stay_under_5_mb_whatever_the_configured_limit(artifact: ModelArtifact, eval_rows: np.ndarray) -> None:
    # GIVEN a limit configured above the runtime's, and about 13 MB of rows with no row limit in reach
    client = _FakeRuntime()
    scorer = _fake_scorer(artifact, client, max_rows_per_call=1_000_000, max_bytes_per_call=50_000_000)
    rows = np.tile(eval_rows, (20, 1))
    # WHEN they are scored
    with scorer:
        result = scorer.score(rows)
    # THEN the limit is the 5 MB one, every body stays under it, and every row was sent once
    assert scorer.max_bytes_per_call == 5_000_000
    assert len(client.bodies) >= 3
    assert all(len(body) < 5_000_000 for body in client.bodies)
    assert sum(body.count(b"\n") for body in client.bodies) == len(rows) == len(result)


def test_runtime_client_has_bounded_timeouts_and_leaves_retries_to_the_scorer() -> None:
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    client = runtime_client(session, timeout_s=1.5, connect_timeout_s=0.5)
    config: Any = client.meta.config  # botocore.config.Config sets its options dynamically
    assert (config.read_timeout, config.connect_timeout) == (1.5, 0.5)
    assert config.retries is not None and config.retries["total_max_attempts"] == 1
