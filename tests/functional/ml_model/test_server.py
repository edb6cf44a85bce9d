"""The local endpoint over real HTTP: the container's contract, and boto3's invoke_endpoint."""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import pytest
from botocore.exceptions import ClientError

from ml_model.scoring.sagemaker import encode_rows
from ml_model.serving import MAX_CONTENT_LENGTH, LocalEndpointServer

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient

    from ml_model.artifact import ModelArtifact


def _post(
    server: LocalEndpointServer, body: bytes, *, path: str = "/invocations", headers: dict[str, str] | None = None
) -> tuple[int, str, dict[str, str]]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "text/csv", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read().decode(), {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def _get(server: LocalEndpointServer, path: str) -> tuple[int, str, dict[str, str]]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode(), {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def _csv(rows: np.ndarray) -> bytes:
    return ("\n".join(encode_rows(rows)) + "\n").encode()


def _expected(artifact: ModelArtifact, rows: np.ndarray) -> np.ndarray:
    return np.asarray(artifact.booster.inplace_predict(rows), dtype=np.float64)


def test_ping(endpoint: LocalEndpointServer, artifact: ModelArtifact) -> None:
    status, body, headers = _get(endpoint, "/ping")
    assert (status, body) == (200, "")
    assert headers["x-fraudstream-feature-spec-hash"] == artifact.spec.hash


def test_csv_response_one_line_per_row(
    endpoint: LocalEndpointServer, artifact: ModelArtifact, eval_rows: np.ndarray
) -> None:
    # GIVEN rows sent as the contract's CSV
    # WHEN the container path is called with the default Accept
    status, body, headers = _post(endpoint, _csv(eval_rows[:50]))
    # THEN one line per row, each ending in a newline, the float32 score at full precision
    assert status == 200
    assert headers["content-type"].startswith("text/csv")
    assert body.endswith("\n") and body.count("\n") == 50
    assert body.split("\n")[:-1] == [str(float(s)) for s in artifact.booster.inplace_predict(eval_rows[:50])]


@pytest.mark.parametrize("accept", ["application/json", "application/jsonlines"])
def test_json_responses(
    endpoint: LocalEndpointServer, artifact: ModelArtifact, eval_rows: np.ndarray, accept: str
) -> None:
    status, body, headers = _post(endpoint, _csv(eval_rows[:3]), headers={"Accept": accept})
    expected = [{"score": float(s)} for s in _expected(artifact, eval_rows[:3])]
    assert status == 200
    assert headers["content-type"].startswith(accept)
    if accept == "application/json":
        assert json.loads(body) == {"predictions": expected}
        assert body.startswith('{"predictions": [{"score": ')
    else:
        assert [json.loads(line) for line in body.splitlines()] == expected


def test_fewer_columns_are_missing_values(
    endpoint: LocalEndpointServer, artifact: ModelArtifact, eval_rows: np.ndarray
) -> None:
    # The container's behaviour, and the reason the client must send every column itself.
    rows = eval_rows[:4, :20]
    status, body, _ = _post(endpoint, _csv(rows))
    padded = np.hstack([rows, np.full((4, 7), np.nan)])
    assert status == 200
    np.testing.assert_array_equal(np.array(body.split(), dtype=np.float64), _expected(artifact, padded))


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"", {}, 204),
        (b"amount,is_night\n1,2\n", {}, 415),
        (b'"1",2\n', {}, 415),
        (b"1,inf\n", {}, 415),
        (b"1,2\n3\n", {}, 415),
        (b"1,2\n", {"Content-Type": "application/json"}, 415),
        (b",".join([b"1"] * 28) + b"\n", {}, 400),
        (b"1,2\n", {"Accept": "application/xml"}, 406),
    ],
    ids=["empty", "header", "quotes", "inf", "ragged", "json-body", "too-many-columns", "bad-accept"],
)
def test_bad_payloads(endpoint: LocalEndpointServer, body: bytes, headers: dict[str, str], status: int) -> None:
    got, _, _ = _post(endpoint, body, headers=headers)
    assert got == status
    # ... and the server is still there
    assert _get(endpoint, "/ping")[0] == 200


def test_oversize_body_is_413(endpoint: LocalEndpointServer) -> None:
    body = b"1\n" * (MAX_CONTENT_LENGTH // 2 + 1)
    assert _post(endpoint, body)[0] == 413
    assert _get(endpoint, "/ping")[0] == 200


def test_unknown_paths_and_methods(endpoint: LocalEndpointServer) -> None:
    assert _get(endpoint, "/nope")[0] == 404
    assert _get(endpoint, "/invocations")[0] == 405


def test_unloadable_model_is_500(tmp_path: Path, runtime_client_factory: Callable[..., SageMakerRuntimeClient]) -> None:
    # GIVEN an artifact that is not a model, served leniently as the container would serve it
    (tmp_path / "model.tar.gz").write_bytes(b"not a tarball")
    with LocalEndpointServer.from_path(tmp_path, strict=False, port=0) as server:
        # WHEN / THEN health check and invocations answer 500
        assert _get(server, "/ping")[0] == 500
        status, body, _ = _post(server, b"1,2\n")
        assert status == 500
        assert body.startswith("Unable to load model")
        # ... which reaches boto3 as a ModelError carrying the 500, as a server error
        client = runtime_client_factory(server.url)
        with pytest.raises(client.exceptions.ModelError) as caught:
            client.invoke_endpoint(EndpointName="fraud-detector", Body=b"1,2\n", ContentType="text/csv")
    assert caught.value.response["OriginalStatusCode"] == 500  # type: ignore[typeddict-item]
    assert caught.value.response["Error"]["Message"].startswith("Received server error (500) from primary")


def test_invoke_endpoint_returns_the_in_process_scores(
    endpoint: LocalEndpointServer,
    artifact: ModelArtifact,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    # GIVEN boto3's sagemaker-runtime client pointed at the local server
    client = runtime_client_factory(endpoint.url)
    # WHEN the rows are scored through invoke_endpoint
    response = client.invoke_endpoint(EndpointName="fraud-detector", Body=_csv(eval_rows), ContentType="text/csv")
    scores = np.array(response["Body"].read().split(), dtype=np.float64)
    # THEN the scores are the in-process scores, exactly
    np.testing.assert_array_equal(scores, _expected(artifact, eval_rows))
    assert response["ContentType"].startswith("text/csv")
    assert response["InvokedProductionVariant"] == "AllTraffic"
    # ... named with the model that scored them and its feature spec (which the scoring client checks)
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-fraudstream-model-version"] == artifact.card.model_version
    assert headers["x-fraudstream-feature-spec-hash"] == artifact.spec.hash


def test_container_errors_surface_as_model_error(
    endpoint: LocalEndpointServer, runtime_client_factory: Callable[..., SageMakerRuntimeClient]
) -> None:
    client = runtime_client_factory(endpoint.url)
    with pytest.raises(client.exceptions.ModelError) as caught:
        client.invoke_endpoint(EndpointName="fraud-detector", Body=b"a,b\n1,2\n", ContentType="text/csv")
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == 415  # type: ignore[typeddict-item]
    assert "csv" in response["OriginalMessage"]  # type: ignore[typeddict-item]
    assert response["Error"]["Message"].startswith("Received client error (415) from primary with message")
    assert response["LogStreamArn"].endswith("/aws/sagemaker/Endpoints/fraud-detector")  # type: ignore[typeddict-item]


@pytest.mark.parametrize(
    ("body", "accept", "status"),
    [
        (b",".join([b"1"] * 28) + b"\n", "text/csv", 400),
        (b"1,2\n", "application/xml", 406),
        (b"1,inf\n", "text/csv", 415),
    ],
    ids=["too-many-columns", "bad-accept", "unparsable"],
)
def test_each_container_status_reaches_boto3_as_model_error(
    endpoint: LocalEndpointServer,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
    body: bytes,
    accept: str,
    status: int,
) -> None:
    client = runtime_client_factory(endpoint.url)
    with pytest.raises(client.exceptions.ModelError) as caught:
        client.invoke_endpoint(EndpointName="fraud-detector", Body=body, ContentType="text/csv", Accept=accept)
    assert caught.value.response["OriginalStatusCode"] == status  # type: ignore[typeddict-item]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424


def test_unknown_endpoint_is_a_validation_error(
    endpoint: LocalEndpointServer, runtime_client_factory: Callable[..., SageMakerRuntimeClient]
) -> None:
    client = runtime_client_factory(endpoint.url)
    with pytest.raises(ClientError) as caught:
        client.invoke_endpoint(EndpointName="other", Body=b"1\n", ContentType="text/csv")
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_concurrent_requests_each_get_their_own_scores(
    endpoint: LocalEndpointServer,
    artifact: ModelArtifact,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    # GIVEN 16 different slices sent at once from 8 threads
    client = runtime_client_factory(endpoint.url)
    slices = [eval_rows[i * 70 : (i + 1) * 70] for i in range(16)]

    def call(rows: np.ndarray) -> np.ndarray:
        body = client.invoke_endpoint(EndpointName="fraud-detector", Body=_csv(rows), ContentType="text/csv")["Body"]
        return np.array(body.read().split(), dtype=np.float64)

    # WHEN they are scored concurrently
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, slices))
    # THEN each answer is its own slice's scores
    for rows, scores in zip(slices, results, strict=True):
        np.testing.assert_array_equal(scores, _expected(artifact, rows))


def test_oversize_through_the_runtime_keeps_the_connection_usable(
    endpoint: LocalEndpointServer,
    artifact: ModelArtifact,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    # GIVEN one pooled connection
    client = runtime_client_factory(endpoint.url)
    # WHEN an oversize body is refused
    with pytest.raises(client.exceptions.ModelError) as caught:
        client.invoke_endpoint(EndpointName="fraud-detector", Body=b"1\n" * (MAX_CONTENT_LENGTH // 2 + 1))
    assert caught.value.response["OriginalStatusCode"] == 413  # type: ignore[typeddict-item]
    # THEN the next call on the same client still works
    body = client.invoke_endpoint(EndpointName="fraud-detector", Body=_csv(eval_rows[:5]), ContentType="text/csv")
    np.testing.assert_array_equal(
        np.array(body["Body"].read().split(), dtype=np.float64), _expected(artifact, eval_rows[:5])
    )
