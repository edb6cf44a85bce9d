"""In-process scoring with the booster of the artifact the endpoint serves: the client's fallback,
batch scoring's engine and the test double of every scorer."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Self

import numpy as np

from fraudstream.contracts import ScoredBy
from ml_model.exceptions import FeatureSpecMismatchError
from ml_model.features import FEATURE_SPEC
from ml_model.scoring.base import ReasonExplainer, Scorer, ScoreResult, check_matrix, reasons_for

if TYPE_CHECKING:
    from ml_model.artifact import ModelArtifact
    from ml_model.feature_spec import FeatureSpec

__all__ = ["LocalXGBoostScorer"]

logger = logging.getLogger(__name__)


class LocalXGBoostScorer(Scorer):
    """Scores with the artifact's booster in this process.

    Predictions are `Booster.inplace_predict` on float64 rows: bit-for-bit the scores the container
    returns for the same rows sent as CSV (both feed XGBoost the same float32 values and use every
    tree of the sliced booster).

    Args:
        artifact: the loaded `model.tar.gz`.
        spec: the feature spec the client computes; it must be the artifact's. None: this code's
            features with the artifact's label delay (the caller computes them with that delay).
        scored_by: what each row records as its scorer: `FALLBACK` when it stands in for the endpoint,
            `LOCAL` when the stream runs without one, `BATCH` for `fraudstream score`.
        reasons_min_score: rows scoring at least this get reasons; defaults to the model card's alert
            threshold (other rows get an empty list).
        all_reasons: explain every row, whatever its score.
    """

    def __init__(
        self,
        artifact: ModelArtifact,
        *,
        spec: FeatureSpec | None = None,
        scored_by: ScoredBy = ScoredBy.FALLBACK,
        reasons_min_score: float | None = None,
        all_reasons: bool = False,
    ) -> None:
        self.artifact = artifact
        self.spec = spec if spec is not None else FEATURE_SPEC.with_label_delay(artifact.spec.label_delay_days)
        kind = ScoredBy(scored_by)
        if kind is ScoredBy.ENDPOINT:
            raise ValueError("the model in process is not an endpoint: scored_by must be fallback, local or batch")
        # The plain value: what the lake and DynamoDB store.
        self.scored_by = kind.value
        self.reasons_min_score = (
            None if all_reasons else (reasons_min_score if reasons_min_score is not None else artifact.card.threshold)
        )
        self.explainer = ReasonExplainer(artifact.booster, artifact.spec)
        self._checked = False

    @property
    def model_version(self) -> str:
        return self.artifact.card.model_version

    def setup(self) -> Self:
        """Check that the artifact was trained on the client's feature spec.

        Raises:
            FeatureSpecMismatchError: the hashes differ.
        """
        if not self._checked:
            if self.artifact.spec.hash != self.spec.hash:
                raise FeatureSpecMismatchError(
                    f"model {self.model_version} was trained on feature spec {self.artifact.spec.describe()}, "
                    f"this code computes {self.spec.describe()}",
                    expected=self.spec.hash,
                    actual=self.artifact.spec.hash,
                )
            self._checked = True
        return self

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """Scores only (float64 holding the model's float32 output), no reasons; thread-safe."""
        if len(matrix) == 0:
            return np.empty(0, dtype=np.float64)
        return np.asarray(self.artifact.booster.inplace_predict(matrix, validate_features=False), dtype=np.float64)

    def score(self, matrix: np.ndarray) -> ScoreResult:
        self.setup()
        matrix = check_matrix(matrix, self.spec)
        scores = self.predict(matrix)
        n = len(scores)
        return ScoreResult(
            scores=scores,
            scored_by=[self.scored_by] * n,
            model_version=[self.model_version] * n,
            reasons=reasons_for(self.explainer, matrix, scores, self.reasons_min_score),
            model_variant=[None] * n,
            threshold=np.full(n, self.artifact.card.threshold),
        )
