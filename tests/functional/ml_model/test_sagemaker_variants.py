"""The endpoint client against an endpoint of two production variants, over real HTTP: every row
records the variant that scored it and that variant's model version, from the local server's answer
or, as against AWS (which strips the container's headers), from each variant's model card."""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

from ml_model.artifact import ModelArtifact, ModelCard, load_artifact
from ml_model.exceptions import FeatureSpecMismatchError
from ml_model.feature_spec import FeatureSpec
from ml_model.features import FEATURE_SPEC
from ml_model.scoring import LocalXGBoostScorer, SageMakerScorer
from ml_model.scoring.sagemaker import (
    endpoint_variant_cards,
    local_endpoint_variant_cards,
    published_model_card,
    published_model_cards,
)
from ml_model.serving import LocalEndpointServer
from tests.functional.ml_model.endpoint_faults import EndpointFaults
from tests.functional.ml_model.variants import CHALLENGER_VERSION, deploy_two_variants, split, write_challenger

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from pathlib import Path
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    import boto3
    import xgboost as xgb
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient

ENDPOINT = "fraud-detector"


@pytest.fixture(scope="module")
def challenger_path(booster_factory: Callable[..., xgb.Booster], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_challenger(booster_factory, tmp_path_factory.mktemp("challenger"))


@pytest.fixture(scope="module")
def challenger(challenger_path: Path) -> ModelArtifact:
    return load_artifact(challenger_path)


def _strip_model_headers(app: WSGIApplication) -> WSGIApplication:
    """What SageMaker's runtime does to a container's own headers: they never reach the client."""

    def middleware(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def strip(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept = [(k, v) for k, v in headers if not k.lower().startswith("x-fraudstream-")]
            return start_response(status, kept, exc_info)

        return app(environ, strip)

    return middleware


@pytest.fixture
def two_variants(artifact: ModelArtifact, challenger: ModelArtifact) -> Iterator[LocalEndpointServer]:
    with LocalEndpointServer(split(artifact, challenger, 0.5), port=0, endpoint_name=ENDPOINT, seed=3) as server:
        yield server


def _scorer(client: SageMakerRuntimeClient, artifact: ModelArtifact, **kwargs: Any) -> SageMakerScorer:
    options: dict[str, Any] = {"max_rows_per_call": 50, "max_in_flight": 2, "sleep": lambda _: None}
    return SageMakerScorer(
        ENDPOINT, fallback=LocalXGBoostScorer(artifact), client=client, endpoint_card=artifact.card, **options | kwargs
    ).setup()


def _frame(rows: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(FEATURE_SPEC.names))


def _assert_rows_name_their_variant(
    result: pd.DataFrame, rows: np.ndarray, models: Mapping[str, ModelArtifact]
) -> None:
    """Each row's score is its variant's model's, and its version and alert threshold that model's."""
    for variant, model in models.items():
        mask = (result["model_variant"] == variant).to_numpy()
        np.testing.assert_array_equal(result["score"][mask], model.booster.inplace_predict(rows[mask]))
        assert set(result["model_version"][mask]) <= {model.card.model_version}
        assert set(result["threshold"][mask]) <= {model.card.threshold}


def test_each_row_records_the_variant_that_scored_it_and_its_model_version(
    two_variants: LocalEndpointServer,
    artifact: ModelArtifact,
    challenger: ModelArtifact,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    # GIVEN a client of an endpoint that splits its calls between champion and challenger, as the job
    # builds it (the variants' cards learned from the server when an answer first names a variant)
    client = runtime_client_factory(two_variants.url)
    cards = partial(endpoint_variant_cards, ENDPOINT, client)
    with _scorer(client, artifact, load_variant_cards=cards) as scorer:
        # WHEN 1,200 rows are scored in 24 calls
        result = scorer.score_frame(_frame(eval_rows))
    # THEN both variants scored some, every row names its variant, and its score and version are that variant's
    assert set(result["model_variant"]) == {"champion", "challenger"}
    assert set(result["scored_by"]) == {f"endpoint:{ENDPOINT}"}
    assert set(result["model_version"]) == {artifact.card.model_version, CHALLENGER_VERSION}
    # (each alerts at its own model's threshold: the two cards' differ)
    assert artifact.card.threshold != challenger.card.threshold
    assert set(result["threshold"]) == {artifact.card.threshold, challenger.card.threshold}
    _assert_rows_name_their_variant(result, eval_rows, {"champion": artifact, "challenger": challenger})


def test_target_variant_sends_every_call_to_it(
    two_variants: LocalEndpointServer,
    artifact: ModelArtifact,
    challenger: ModelArtifact,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    with _scorer(runtime_client_factory(two_variants.url), artifact, target_variant="challenger") as scorer:
        result = scorer.score_frame(_frame(eval_rows[:300]))
    assert set(result["model_variant"]) == {"challenger"}
    assert set(result["model_version"]) == {CHALLENGER_VERSION}
    np.testing.assert_array_equal(result["score"], challenger.booster.inplace_predict(eval_rows[:300]))


def test_rows_of_the_fallback_name_no_variant(
    artifact: ModelArtifact,
    challenger: ModelArtifact,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    # GIVEN an endpoint whose first call fails (the container answers 500), one call at a time, no retries
    faults = EndpointFaults(["error500"])
    variants = split(artifact, challenger, 0.5)
    with LocalEndpointServer(variants, port=0, endpoint_name=ENDPOINT, middleware=faults.wrap) as server:
        client = runtime_client_factory(server.url)
        with _scorer(client, artifact, max_in_flight=1, max_attempts=1) as scorer:
            result = scorer.score_frame(_frame(eval_rows[:100]))
    # THEN its 50 rows were scored by the fallback, with no variant; the others by a variant
    fallback = (result["scored_by"] == "fallback").to_numpy()
    assert fallback.sum() == 50
    assert result["model_variant"][fallback].isna().all()
    assert result["model_variant"][~fallback].notna().all()


def test_without_the_servers_headers_each_variants_version_comes_from_its_card(
    artifact: ModelArtifact,
    challenger: ModelArtifact,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    # GIVEN an endpoint whose answers carry no model headers, as on AWS, and a client that can read each
    # variant's card (on AWS: published_model_cards; here the local server's cards)
    variants = split(artifact, challenger, 0.5)
    with LocalEndpointServer(
        variants, port=0, endpoint_name=ENDPOINT, seed=5, middleware=_strip_model_headers
    ) as server:
        reads: list[int] = []

        def cards() -> dict[str, ModelCard]:
            reads.append(1)
            return local_endpoint_variant_cards(server.url)

        with _scorer(runtime_client_factory(server.url), artifact, load_variant_cards=cards) as scorer:
            # WHEN rows are scored, twice
            first = scorer.score_frame(_frame(eval_rows[:600]))
            second = scorer.score_frame(_frame(eval_rows[600:]))
    # THEN each row's version is its variant's model's, and the cards were read once
    result = pd.concat([first, second], ignore_index=True)
    assert set(result["model_variant"]) == {"champion", "challenger"}
    _assert_rows_name_their_variant(result, eval_rows, {"champion": artifact, "challenger": challenger})
    assert set(result["model_version"]) == {artifact.card.model_version, CHALLENGER_VERSION}
    assert reads == [1]


def test_a_variant_whose_card_has_another_feature_spec_is_refused(
    artifact: ModelArtifact,
    challenger: ModelArtifact,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
) -> None:
    # GIVEN an endpoint without model headers whose challenger's card says another feature spec
    other = FeatureSpec(version="0", names=FEATURE_SPEC.names)
    stale = ModelCard(model_version="stale", feature_spec_hash=other.hash, threshold=0.5)
    variants = split(artifact, challenger, 0.5)
    with LocalEndpointServer(variants, port=0, endpoint_name=ENDPOINT, middleware=_strip_model_headers) as server:
        client = runtime_client_factory(server.url)
        loaded = {"champion": artifact.card, "challenger": stale}
        # WHEN the challenger answers
        with (
            _scorer(client, artifact, target_variant="challenger", load_variant_cards=lambda: loaded) as scorer,
            pytest.raises(FeatureSpecMismatchError) as caught,
        ):
            scorer.score_frame(_frame(eval_rows[:10]))
        # ... and a card known at start-up is checked there
        with pytest.raises(FeatureSpecMismatchError):
            _scorer(client, artifact, variant_cards=loaded)
    # THEN its answer is refused, naming the variant
    assert "variant challenger" in str(caught.value)
    assert (caught.value.expected, caught.value.actual) == (FEATURE_SPEC.hash, other.hash)


def test_when_the_cards_cannot_be_read_rows_keep_the_endpoint_cards_version(
    artifact: ModelArtifact,
    challenger: ModelArtifact,
    eval_rows: np.ndarray,
    runtime_client_factory: Callable[..., SageMakerRuntimeClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def unreadable() -> dict[str, ModelCard]:
        raise PermissionError("AccessDenied: sagemaker:DescribeModel")

    variants = split(artifact, challenger, 0.5)
    with LocalEndpointServer(variants, port=0, endpoint_name=ENDPOINT, middleware=_strip_model_headers) as server:
        client = runtime_client_factory(server.url)
        with (
            caplog.at_level(logging.WARNING, logger="ml_model.scoring.sagemaker"),
            _scorer(client, artifact, target_variant="challenger", load_variant_cards=unreadable) as scorer,
        ):
            result = scorer.score_frame(_frame(eval_rows[:100]))
    # the rows are still scored (by the challenger), recording the one version the client knows, and it says so
    assert set(result["model_variant"]) == {"challenger"}
    assert set(result["model_version"]) == {artifact.card.model_version}
    assert any("cannot read the model cards" in r.getMessage() for r in caplog.records)


def test_each_variants_published_card(
    boto_session: boto3.Session,
    artifact_path: Path,
    artifact: ModelArtifact,
    challenger_path: Path,
    challenger: ModelArtifact,
) -> None:
    # GIVEN an endpoint of two variants registered in the embedded emulator, each model's artifact in S3
    name = deploy_two_variants(boto_session, artifact_path, challenger_path)
    # WHEN each variant's card is looked up through the control plane, and through a runtime client of the emulator
    cards = published_model_cards(name, session=boto_session)
    found = endpoint_variant_cards(name, boto_session.client("sagemaker-runtime"), session=boto_session)
    # THEN each is its own artifact's, in the config's order; the first alone is the champion's
    assert cards == {"champion": artifact.card, "challenger": challenger.card}
    assert list(cards) == ["champion", "challenger"]
    assert found == cards
    assert published_model_card(name, session=boto_session) == artifact.card
    # ... and a scorer reading them when first needed knows each variant's version
    scorer = SageMakerScorer(
        name,
        fallback=None,
        client=boto_session.client("sagemaker-runtime"),
        endpoint_card=artifact.card,
        load_variant_cards=partial(published_model_cards, name, session=boto_session),
    )
    assert scorer.variant_card("challenger") == challenger.card
