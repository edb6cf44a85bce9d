"""Scoring feature rows: one interface (`Scorer`), one module per backend, chosen through `SCORERS`.

local      LocalXGBoostScorer: the artifact's booster in process (fallback, batch, test double)
sagemaker  SageMakerScorer: a SageMaker endpoint or the local server, with the local fallback
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from fraudstream.contracts import ScoredBy
from ml_model.scoring._circuit_breaker import BreakerState, CircuitBreaker
from ml_model.scoring.base import ReasonExplainer, Scorer, ScoreResult, ScorerType, feature_matrix
from ml_model.scoring.local import LocalXGBoostScorer
from ml_model.scoring.sagemaker import SageMakerScorer, endpoint_model_card, endpoint_variant_cards

if TYPE_CHECKING:
    from collections.abc import Callable

    from ml_model.artifact import ModelArtifact

__all__ = [
    "SCORERS",
    "BreakerState",
    "CircuitBreaker",
    "LocalXGBoostScorer",
    "ReasonExplainer",
    "SageMakerScorer",
    "ScoreResult",
    "Scorer",
    "ScorerType",
    "build_scorer",
    "endpoint_model_card",
    "endpoint_variant_cards",
    "feature_matrix",
]


def _local(artifact: ModelArtifact, **kwargs: Any) -> Scorer:
    return LocalXGBoostScorer(artifact, scored_by=kwargs.pop("scored_by", ScoredBy.LOCAL), **kwargs)


def _sagemaker(artifact: ModelArtifact, *, endpoint_name: str, **kwargs: Any) -> Scorer:
    fallback = LocalXGBoostScorer(artifact, reasons_min_score=kwargs.pop("reasons_min_score", None))
    return SageMakerScorer(endpoint_name, fallback=fallback, **kwargs)


SCORERS: Final[dict[ScorerType, Callable[..., Scorer]]] = {
    ScorerType.LOCAL: _local,
    ScorerType.SAGEMAKER: _sagemaker,
}


def build_scorer(kind: ScorerType, artifact: ModelArtifact, **kwargs: Any) -> Scorer:
    """A scorer of the given kind over `artifact` (the endpoint's artifact, for the fallback), set up.

    Args:
        kind: the backend.
        artifact: the loaded `model.tar.gz`.
        **kwargs: the backend's own arguments (`endpoint_name=` for SageMaker, ...).

    Raises:
        FeatureSpecMismatchError: the model's feature spec is not this code's.
    """
    return SCORERS[kind](artifact, **kwargs).setup()
