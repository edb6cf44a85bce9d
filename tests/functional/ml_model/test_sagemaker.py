"""The endpoint client against the real local server over HTTP, under injected endpoint failures.

The fallback is a different model from the endpoint's, so each score tells which model produced it:
every row must be scored exactly once, by the model its `scored_by` names.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

from ml_model.artifact import ModelArtifact, ModelCard, load_artifact, write_artifact
from ml_model.exceptions import EndpointInvocationError, FeatureSpecMismatchError
from ml_model.feature_spec import FeatureSpec
from ml_model.features import FEATURE_SPEC
from ml_model.scoring import BreakerState, CircuitBreaker, LocalXGBoostScorer, SageMakerScorer, endpoint_model_card
from ml_model.serving import LocalEndpointServer
from tests.functional.ml_model.endpoint_faults import Action, EndpointFaults

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    import xgboost as xgb
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient

ENDPOINT = "fraud-detector"


@pytest.fixture(scope="module")
def fallback_artifact(
    booster_factory: Callable[..., xgb.Booster], tmp_path_factory: pytest.TempPathFactory
) -> ModelArtifact:
    """Another model on the same feature spec: its scores differ from the endpoint's."""
    card = ModelCard(model_version="fallback-model", feature_spec_hash=FEATURE_SPEC.hash, threshold=0.5)
    path = write_artifact(booster_factory(rounds=30, seed=8), FEATURE_SPEC, card, tmp_path_factory.mktemp("fb"))
    return load_artifact(path)


@pytest.fixture
def faults() -> Iterator[EndpointFaults]:
    faults = EndpointFaults()
    yield faults
    faults.release.set()


@pytest.fixture
def faulty_endpoint(artifact: ModelArtifact, faults: EndpointFaults) -> Iterator[LocalEndpointServer]:
    with LocalEndpointServer(artifact, port=0, endpoint_name=ENDPOINT, middleware=faults.wrap) as server:
        yield server


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _scorer(
    client: SageMakerRuntimeClient, fallback: ModelArtifact, card: ModelCard | None, **kwargs: Any
) -> SageMakerScorer:
    options: dict[str, Any] = {"max_rows_per_call": 100, "max_in_flight": 2, "backoff_base_s": 0.001}
    options |= {"sleep": lambda _: None} | kwargs
    return SageMakerScorer(
        ENDPOINT, fallback=LocalXGBoostScorer(fallback), client=client, endpoint_card=card, **options
    ).setup()


def _assert_each_row_once(
    result: pd.DataFrame, rows: np.ndarray, endpoint_model: ModelArtifact, fallback_model: ModelArtifact
) -> None:
    assert len(result) == len(rows)
    by_endpoint = (result["scored_by"] == f"endpoint:{ENDPOINT}").to_numpy()
    assert set(result["scored_by"]) <= {f"endpoint:{ENDPOINT}", "fallback"}
    endpoint_scores = endpoint_model.booster.inplace_predict(rows).astype(np.float64)
    fallback_scores = fallback_model.booster.inplace_predict(rows).astype(np.float64)
    np.testing.assert_array_equal(result["score"], np.where(by_endpoint, endpoint_scores, fallback_scores))
    expected_versions = np.where(by_endpoint, endpoint_model.model_version, fallback_model.model_version)
    assert result["model_version"].tolist() == expected_versions.tolist()


def _frame(rows: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(FEATURE_SPEC.names))


def state(breaker: CircuitBreaker) -> BreakerState:
    """The breaker's state, read afresh (a function call keeps mypy from narrowing it across calls)."""
    return breaker.state


def test_healthy_endpoint_scores_every_row_as_in_process(
    endpoint: LocalEndpointServer,
    artifact: ModelArtifact,
    fallback_artifact: ModelArtifact,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    # GIVEN the client, with the endpoint's card read from the local server
    client = runtime_client_factory(endpoint.url)
    card = endpoint_model_card(ENDPOINT, client)
    assert card == artifact.card
    # WHEN 1,200 rows are scored in calls of 100 rows
    with _scorer(client, fallback_artifact, card) as scorer:
        result = scorer.score_frame(_frame(eval_rows))
    # THEN the endpoint scored every row, exactly as the model does in process, with reasons for alerts
    assert set(result["scored_by"]) == {f"endpoint:{ENDPOINT}"}
    _assert_each_row_once(result, eval_rows, artifact, fallback_artifact)
    local = LocalXGBoostScorer(fallback_artifact).explainer.explain(eval_rows)
    alerts = (result["score"] >= 0.5).to_numpy()
    assert alerts.any()
    assert [r for r, a in zip(result["reasons"], alerts, strict=True) if a] == [
        r for r, a in zip(local, alerts, strict=True) if a
    ]
    assert scorer.calls == 12


def test_injected_failures_score_every_row_exactly_once(
    faulty_endpoint: LocalEndpointServer,
    faults: EndpointFaults,
    artifact: ModelArtifact,
    fallback_artifact: ModelArtifact,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    # GIVEN an endpoint that fails in every way a SageMaker endpoint does, then recovers
    script: list[Action] = ["error500", "throttle", "unavailable", "error500", "ok", "throttle", "error500"] * 3
    faults.extend(script)
    client = runtime_client_factory(faulty_endpoint.url)
    breaker = CircuitBreaker(failure_threshold=100)
    # WHEN 1,200 rows are scored with 2 attempts per call
    with _scorer(client, fallback_artifact, artifact.card, max_attempts=2, breaker=breaker) as scorer:
        result = scorer.score_frame(_frame(eval_rows))
    # THEN every row has exactly one score, from the model scored_by names
    _assert_each_row_once(result, eval_rows, artifact, fallback_artifact)
    by_endpoint = int((result["scored_by"] != "fallback").sum())
    assert 0 < by_endpoint < len(eval_rows)
    assert by_endpoint == faults.rows_answered


def test_timeouts_are_retried_then_fall_back(
    faulty_endpoint: LocalEndpointServer,
    faults: EndpointFaults,
    artifact: ModelArtifact,
    fallback_artifact: ModelArtifact,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    # GIVEN an endpoint whose first attempt hangs past the client's timeout, then both attempts of the second call
    faults.extend(["hang", "ok", "hang", "hang"])
    client = runtime_client_factory(faulty_endpoint.url, read_timeout=0.2)
    rows = eval_rows[:300]
    # WHEN 3 calls are made one at a time, 2 attempts each
    with _scorer(client, fallback_artifact, artifact.card, max_attempts=2, max_in_flight=1) as scorer:
        result = scorer.score_frame(_frame(rows))
    # THEN the first call succeeds on retry, the second falls back, the third succeeds at once
    _assert_each_row_once(result, rows, artifact, fallback_artifact)
    endpoint = f"endpoint:{ENDPOINT}"
    assert result["scored_by"].tolist() == [endpoint] * 100 + ["fallback"] * 100 + [endpoint] * 100


def test_circuit_opens_then_half_opens_back_to_the_endpoint(
    faulty_endpoint: LocalEndpointServer,
    faults: EndpointFaults,
    artifact: ModelArtifact,
    fallback_artifact: ModelArtifact,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    # GIVEN an endpoint failing its first 2 calls, and a breaker opening after 2 failed calls
    faults.extend(["error500", "error500"])
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout_s=30, clock=clock)
    client = runtime_client_factory(faulty_endpoint.url)
    rows = eval_rows[:500]
    with _scorer(client, fallback_artifact, artifact.card, max_attempts=1, max_in_flight=1, breaker=breaker) as scorer:
        # WHEN a first batch is scored
        first = scorer.score_frame(_frame(rows))
        # THEN two calls fail, the circuit opens and the rest goes straight to the fallback
        assert state(breaker) is BreakerState.OPEN
        assert first["scored_by"].tolist() == ["fallback"] * 500
        assert faults.actions == ["error500", "error500"]
        # WHEN the cool-down has passed
        clock.now = 30
        second = scorer.score_frame(_frame(rows))
    # THEN one probe goes through, succeeds, closes the circuit, and the endpoint scores everything again
    assert state(breaker) is BreakerState.CLOSED
    assert list(breaker.transitions) == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]
    assert second["scored_by"].tolist() == [f"endpoint:{ENDPOINT}"] * 500
    _assert_each_row_once(first, rows, artifact, fallback_artifact)
    _assert_each_row_once(second, rows, artifact, fallback_artifact)


class _KillingClient:
    """Delegates to a real client; kills the endpoint process just before call number `kill_at`."""

    def __init__(self, client: SageMakerRuntimeClient, process: subprocess.Popen[str], kill_at: int) -> None:
        self._client = client
        self._process = process
        self._kill_at = kill_at
        self.calls = 0

    def invoke_endpoint(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == self._kill_at:
            self._process.kill()
            self._process.wait(timeout=10)
        return self._client.invoke_endpoint(**kwargs)


def test_endpoint_killed_mid_run(
    artifact_path: Path,
    artifact: ModelArtifact,
    fallback_artifact: ModelArtifact,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    # GIVEN the endpoint in its own process, as `fraudstream serve` runs it
    process = subprocess.Popen(
        [sys.executable, "-m", "ml_model.serving", "--model", str(artifact_path), "--port", "0", "--name", ENDPOINT],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert process.stdout is not None
        match = re.match(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
        assert match is not None
        client = _KillingClient(runtime_client_factory(match.group(0)), process, kill_at=4)
        breaker = CircuitBreaker(failure_threshold=2, reset_timeout_s=3600)
        # WHEN the process is killed during the run (before the 4th call of 12)
        with _scorer(client, fallback_artifact, artifact.card, max_in_flight=1, breaker=breaker) as scorer:  # type: ignore[arg-type]
            result = scorer.score_frame(_frame(eval_rows))
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    # THEN the first 3 calls' rows come from the endpoint, every other row from the fallback, each once
    _assert_each_row_once(result, eval_rows, artifact, fallback_artifact)
    assert result["scored_by"].tolist() == [f"endpoint:{ENDPOINT}"] * 300 + ["fallback"] * 900
    assert state(breaker) is BreakerState.OPEN
    # 3 good calls, then 2 failed calls of 3 attempts each; then the open circuit spares the endpoint
    assert client.calls == 3 + 2 * 3


def test_no_fallback_raises_on_final_failure(
    faulty_endpoint: LocalEndpointServer,
    faults: EndpointFaults,
    artifact: ModelArtifact,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    faults.extend(["error500"] * 3)
    client = runtime_client_factory(faulty_endpoint.url)
    scorer = SageMakerScorer(ENDPOINT, fallback=None, client=client, endpoint_card=artifact.card, sleep=lambda _: None)
    with scorer, pytest.raises(EndpointInvocationError) as caught:
        scorer.score_frame(_frame(eval_rows[:10]))
    assert caught.value.status == 500


def test_feature_spec_mismatch_is_reported_at_start_up(
    booster_factory: Callable[..., xgb.Booster],
    fallback_artifact: ModelArtifact,
    tmp_path: Path,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    # GIVEN an endpoint serving a model trained on another version of the feature spec
    other = FeatureSpec(version="0", names=FEATURE_SPEC.names)
    card = ModelCard(model_version="old", feature_spec_hash=other.hash, threshold=0.5)
    stale = load_artifact(write_artifact(booster_factory(rounds=3), other, card, tmp_path))
    with LocalEndpointServer(stale, port=0, endpoint_name=ENDPOINT) as server:
        client = runtime_client_factory(server.url)
        # WHEN the client starts
        scorer = SageMakerScorer(
            ENDPOINT,
            fallback=LocalXGBoostScorer(fallback_artifact),
            client=client,
            endpoint_card=endpoint_model_card(ENDPOINT, client),
        )
        # THEN it refuses before scoring anything
        with pytest.raises(FeatureSpecMismatchError) as caught, scorer:
            pass
    assert (caught.value.expected, caught.value.actual) == (FEATURE_SPEC.hash, other.hash)


def test_an_answer_from_a_model_on_another_feature_spec_is_refused(
    artifact: ModelArtifact,
    booster_factory: Callable[..., xgb.Booster],
    fallback_artifact: ModelArtifact,
    eval_rows: np.ndarray,
    tmp_path: Path,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    # GIVEN a client started with the card of a model on its own feature spec (the start-up check passes)
    # ... whose endpoint now serves a model trained on another version of the spec (swapped since)
    other = FeatureSpec(version="0", names=FEATURE_SPEC.names)
    card = ModelCard(model_version="swapped-in", feature_spec_hash=other.hash, threshold=0.5)
    swapped = load_artifact(write_artifact(booster_factory(rounds=3), other, card, tmp_path))
    with LocalEndpointServer(swapped, port=0, endpoint_name=ENDPOINT) as server:
        scorer = _scorer(runtime_client_factory(server.url), fallback_artifact, artifact.card)
        # WHEN rows are scored
        with scorer, pytest.raises(FeatureSpecMismatchError) as caught:
            scorer.score_frame(_frame(eval_rows[:10]))
    # THEN the answer is refused, naming the model and both specs, and not passed off as the client's features' scores
    assert (caught.value.expected, caught.value.actual) == (FEATURE_SPEC.hash, other.hash)
    assert "swapped-in" in str(caught.value)
    assert scorer.calls == 1
