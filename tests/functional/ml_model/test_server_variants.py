"""The local endpoint's production variants over real HTTP, as boto3 sees them: the runtime's traffic
split and TargetVariant, and the control plane's DescribeEndpoint and UpdateEndpointWeightsAndCapacities."""

from __future__ import annotations

import http.client
import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from ml_model.artifact import ModelArtifact, ModelCard, load_artifact, write_artifact
from ml_model.exceptions import FeatureSpecMismatchError
from ml_model.feature_spec import FeatureSpec
from ml_model.features import FEATURE_SPEC
from ml_model.scoring.sagemaker import encode_rows
from ml_model.serving import LocalEndpointServer, ProductionVariant
from tests.functional.ml_model.variants import CHALLENGER_VERSION, control_plane_client, split, write_challenger

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import xgboost as xgb
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient

ENDPOINT = "fraud-detector"


@pytest.fixture(scope="module")
def challenger(booster_factory: Callable[..., xgb.Booster], tmp_path_factory: pytest.TempPathFactory) -> ModelArtifact:
    return load_artifact(write_challenger(booster_factory, tmp_path_factory.mktemp("challenger")))


@pytest.fixture
def two_variants(artifact: ModelArtifact, challenger: ModelArtifact) -> Iterator[LocalEndpointServer]:
    """Champion and challenger, half the traffic each, the draw seeded."""
    with LocalEndpointServer(split(artifact, challenger, 0.5), port=0, endpoint_name=ENDPOINT, seed=1) as server:
        yield server


def _csv(rows: np.ndarray) -> bytes:
    return ("\n".join(encode_rows(rows)) + "\n").encode()


def _scores(model: ModelArtifact, rows: np.ndarray) -> list[float]:
    return [float(s) for s in model.booster.inplace_predict(rows)]


def _invoke(client: SageMakerRuntimeClient, rows: np.ndarray, **kwargs: Any) -> tuple[str, list[float], dict[str, str]]:
    response = client.invoke_endpoint(EndpointName=ENDPOINT, Body=_csv(rows), ContentType="text/csv", **kwargs)
    scores = np.array(response["Body"].read().split(), dtype=np.float64).tolist()
    return response["InvokedProductionVariant"], scores, response["ResponseMetadata"]["HTTPHeaders"]


def test_calls_are_split_between_the_variants_and_each_answer_names_its_variant_and_model(
    two_variants: LocalEndpointServer,
    artifact: ModelArtifact,
    challenger: ModelArtifact,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    # GIVEN two variants with half the traffic each
    client = runtime_client_factory(two_variants.url)
    models = {"champion": artifact, "challenger": challenger}
    rows = eval_rows[:5]
    # WHEN 200 calls are made without a target variant
    answers = [_invoke(client, rows) for _ in range(200)]
    # THEN both variants answered, each with its own model's scores and its own model's headers
    counts = {name: sum(1 for a in answers if a[0] == name) for name in models}
    assert sum(counts.values()) == 200
    assert 60 <= counts["challenger"] <= 140  # half of 200; the bounds are 5.6 standard deviations wide
    for variant, scores, headers in answers:
        assert scores == _scores(models[variant], rows)
        assert headers["x-fraudstream-model-version"] == models[variant].card.model_version
        assert headers["x-fraudstream-feature-spec-hash"] == FEATURE_SPEC.hash


def test_the_draw_is_seedable(
    artifact: ModelArtifact,
    challenger: ModelArtifact,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    def drawn(seed: int) -> list[str]:
        with LocalEndpointServer(split(artifact, challenger, 0.5), port=0, endpoint_name=ENDPOINT, seed=seed) as s:
            client = runtime_client_factory(s.url)
            return [_invoke(client, eval_rows[:1])[0] for _ in range(30)]

    assert drawn(7) == drawn(7)
    assert drawn(7) != drawn(8)


@pytest.mark.parametrize("variant", ["champion", "challenger"])
def test_target_variant_is_honoured(
    two_variants: LocalEndpointServer,
    artifact: ModelArtifact,
    challenger: ModelArtifact,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
    variant: str,
) -> None:
    client = runtime_client_factory(two_variants.url)
    model = {"champion": artifact, "challenger": challenger}[variant]
    answers = [_invoke(client, eval_rows[:20], TargetVariant=variant) for _ in range(20)]
    assert {a[0] for a in answers} == {variant}
    assert all(a[1] == _scores(model, eval_rows[:20]) for a in answers)


def test_a_variant_of_weight_zero_answers_only_when_targeted(
    artifact: ModelArtifact,
    challenger: ModelArtifact,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    with LocalEndpointServer(split(artifact, challenger, 0.0), port=0, endpoint_name=ENDPOINT) as server:
        client = runtime_client_factory(server.url)
        assert {_invoke(client, eval_rows[:1])[0] for _ in range(50)} == {"champion"}
        assert _invoke(client, eval_rows[:1], TargetVariant="challenger")[0] == "challenger"


def test_an_unknown_target_variant_is_a_validation_error(
    two_variants: LocalEndpointServer, runtime_client_factory: Callable[..., SageMakerRuntimeClient]
) -> None:
    client = runtime_client_factory(two_variants.url)
    with pytest.raises(ClientError) as caught:
        client.invoke_endpoint(EndpointName=ENDPOINT, Body=b"1\n", ContentType="text/csv", TargetVariant="nope")
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "nope" in caught.value.response["Error"]["Message"]


def test_a_single_model_is_the_variant_all_traffic(
    endpoint: LocalEndpointServer, eval_rows: np.ndarray, runtime_client_factory: Callable[..., SageMakerRuntimeClient]
) -> None:
    client = runtime_client_factory(endpoint.url)
    assert _invoke(client, eval_rows[:1], TargetVariant="AllTraffic")[0] == "AllTraffic"
    described = control_plane_client(endpoint.url).describe_endpoint(EndpointName="fraud-detector")
    assert [(v["VariantName"], v["CurrentWeight"]) for v in described["ProductionVariants"]] == [("AllTraffic", 1.0)]


def test_the_container_path_and_the_model_card_are_the_first_variants(
    two_variants: LocalEndpointServer, artifact: ModelArtifact, challenger: ModelArtifact, eval_rows: np.ndarray
) -> None:
    conn = http.client.HTTPConnection(two_variants.host, two_variants.port, timeout=10)
    try:
        bodies = []
        for _ in range(20):
            conn.request("POST", "/invocations", body=_csv(eval_rows[:3]), headers={"Content-Type": "text/csv"})
            bodies.append(np.array(conn.getresponse().read().split(), dtype=np.float64).tolist())
        conn.request("GET", "/fraudstream/model-card")
        card = json.loads(conn.getresponse().read())
        conn.request("GET", "/fraudstream/model-cards")
        cards = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    assert all(b == _scores(artifact, eval_rows[:3]) for b in bodies)
    assert ModelCard.from_dict(card) == artifact.card
    assert list(cards) == ["champion", "challenger"]
    assert ModelCard.from_dict(cards["challenger"]) == challenger.card


def test_variants_on_different_feature_specs_are_refused_at_start_up(
    artifact: ModelArtifact, booster_factory: Callable[..., xgb.Booster], tmp_path: Any
) -> None:
    other = FeatureSpec(version="0", names=FEATURE_SPEC.names)
    card = ModelCard(model_version="other-spec", feature_spec_hash=other.hash, threshold=0.5)
    stranger = load_artifact(write_artifact(booster_factory(rounds=3), other, card, tmp_path))
    with pytest.raises(FeatureSpecMismatchError) as caught:
        LocalEndpointServer(split(artifact, stranger, 0.1), port=0)
    assert "variant challenger serves model other-spec" in str(caught.value)
    assert (caught.value.expected, caught.value.actual) == (FEATURE_SPEC.hash, other.hash)


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ([], "1 to 10"),
        ([ProductionVariant("a", None), ProductionVariant("a", None)], "must differ"),
        ([ProductionVariant("a", None, -1.0), ProductionVariant("b", None, 2.0)], "at least 0"),
        ([ProductionVariant("a", None, 0.0), ProductionVariant("b", None, 0.0)], "above 0"),
    ],
    ids=["none", "same-name", "negative", "all-zero"],
)
def test_variants_sagemaker_would_refuse_are_refused(variants: list[ProductionVariant], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LocalEndpointServer(variants, port=0)


def test_describe_endpoint_through_boto3(two_variants: LocalEndpointServer) -> None:
    # GIVEN boto3's sagemaker client pointed at the local server
    client = control_plane_client(two_variants.url)
    # WHEN the endpoint is described
    described = client.describe_endpoint(EndpointName=ENDPOINT)
    # THEN SageMaker's shape: in service, each variant with its weights
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointName"] == ENDPOINT
    assert described["EndpointArn"] == f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{ENDPOINT}"
    assert [(v["VariantName"], v["CurrentWeight"], v["DesiredWeight"]) for v in described["ProductionVariants"]] == [
        ("champion", 0.5, 0.5),
        ("challenger", 0.5, 0.5),
    ]
    assert described["LastModifiedTime"] >= described["CreationTime"]
    # ... and botocore's waiter sees it in service at once
    client.get_waiter("endpoint_in_service").wait(EndpointName=ENDPOINT, WaiterConfig={"Delay": 1, "MaxAttempts": 1})


def test_new_weights_apply_to_the_next_invocations(
    two_variants: LocalEndpointServer,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    control, runtime = control_plane_client(two_variants.url), runtime_client_factory(two_variants.url)
    # WHEN all the traffic is moved to the challenger
    answer = control.update_endpoint_weights_and_capacities(
        EndpointName=ENDPOINT,
        DesiredWeightsAndCapacities=[
            {"VariantName": "challenger", "DesiredWeight": 1.0},
            {"VariantName": "champion", "DesiredWeight": 0.0},
        ],
    )
    # THEN the endpoint says so, and every call goes to the challenger
    assert answer["EndpointArn"].endswith(f":endpoint/{ENDPOINT}")
    weights = {
        v["VariantName"]: v["CurrentWeight"]
        for v in control.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"]
    }
    assert weights == {"champion": 0.0, "challenger": 1.0}
    answered = [_invoke(runtime, eval_rows[:1]) for _ in range(50)]
    assert {a[0] for a in answered} == {"challenger"}
    assert {a[2]["x-fraudstream-model-version"] for a in answered} == {CHALLENGER_VERSION}
    # ... and one variant's weight alone can move back: the other keeps its own
    control.update_endpoint_weights_and_capacities(
        EndpointName=ENDPOINT, DesiredWeightsAndCapacities=[{"VariantName": "champion", "DesiredWeight": 3.0}]
    )
    assert two_variants.app.weights() == {"champion": 3.0, "challenger": 1.0}


@pytest.mark.parametrize(
    ("endpoint_name", "desired", "message"),
    [
        (
            ENDPOINT,
            [{"VariantName": "nope", "DesiredWeight": 1.0}],
            f'The variant name(s) "nope" is/are not present within endpoint configuration "{ENDPOINT}".',
        ),
        (
            ENDPOINT,
            [{"VariantName": "champion", "DesiredWeight": 1.0}, {"VariantName": "champion", "DesiredWeight": 0.0}],
            'The variant name "champion" was non-unique within the request.',
        ),
        (
            ENDPOINT,
            [{"VariantName": "champion", "DesiredWeight": 0.0}, {"VariantName": "challenger", "DesiredWeight": 0.0}],
            "at least one must be above 0",
        ),
        (
            "other",
            [{"VariantName": "champion", "DesiredWeight": 1.0}],
            'Could not find endpoint "arn:aws:sagemaker:us-east-1:123456789012:endpoint/other".',
        ),
    ],
    ids=["unknown-variant", "repeated-variant", "all-zero", "unknown-endpoint"],
)
def test_refused_weight_changes_are_validation_exceptions_and_change_nothing(
    two_variants: LocalEndpointServer, endpoint_name: str, desired: list[dict[str, Any]], message: str
) -> None:
    client = control_plane_client(two_variants.url)
    with pytest.raises(ClientError) as caught:
        client.update_endpoint_weights_and_capacities(EndpointName=endpoint_name, DesiredWeightsAndCapacities=desired)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert message in caught.value.response["Error"]["Message"]
    assert two_variants.app.weights() == {"champion": 0.5, "challenger": 0.5}


def test_describe_an_unknown_endpoint_is_a_validation_exception(two_variants: LocalEndpointServer) -> None:
    client = control_plane_client(two_variants.url)
    with pytest.raises(ClientError) as caught:
        client.describe_endpoint(EndpointName="other")
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    # ... which botocore's waiter takes as a failure, as against AWS
    with pytest.raises(Exception, match="Waiter EndpointInService failed"):
        client.get_waiter("endpoint_in_service").wait(EndpointName="other", WaiterConfig={"Delay": 1, "MaxAttempts": 1})


def test_an_operation_the_local_server_does_not_answer(two_variants: LocalEndpointServer) -> None:
    with pytest.raises(ClientError) as caught:
        control_plane_client(two_variants.url).list_endpoints()
    assert caught.value.response["Error"]["Code"] == "UnknownOperationException"
