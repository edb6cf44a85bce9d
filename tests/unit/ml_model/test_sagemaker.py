from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import botocore.exceptions
import numpy as np
import pytest

from ml_model.scoring import LocalXGBoostScorer, SageMakerScorer
from ml_model.scoring.sagemaker import _as_invocation_error, encode_rows

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
