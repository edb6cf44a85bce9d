"""The scorer interface shared by the endpoint client and the in-process model, and what both need:
the feature matrix in spec order, the result rows, and reasons from XGBoost's own contributions."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Final, Self

import numpy as np
import pandas as pd
import xgboost as xgb

from ml_model.exceptions import FeatureColumnsError

if TYPE_CHECKING:
    from types import TracebackType

    from ml_model.feature_spec import FeatureSpec

__all__ = [
    "TOP_REASONS",
    "ReasonExplainer",
    "ScoreResult",
    "Scorer",
    "ScorerType",
    "check_matrix",
    "feature_matrix",
    "reasons_for",
]

logger = logging.getLogger(__name__)

TOP_REASONS: Final = 3


class ScorerType(StrEnum):
    """The scoring backends."""

    LOCAL = "local"
    SAGEMAKER = "sagemaker"


@dataclass(frozen=True)
class ScoreResult:
    """One entry per input row, in input order.

    Attributes:
        scores: P(fraud), float64 holding the model's float32 values exactly.
        scored_by: who scored each row, a `fraudstream.contracts.ScoredBy` value (`endpoint:<name>`,
            `fallback`, `local` or `batch`).
        model_version: the version of the model that produced each score.
        reasons: the top contributing feature names (empty below the reasons threshold).
        model_variant: the endpoint's production variant that scored each row (its
            `InvokedProductionVariant`); None for a row scored in process (`scored_by` says by what).
        threshold: the alert threshold of the model that scored each row (its card's), NaN when that
            model's card is unknown: a champion and its challenger each alert at their own.
    """

    scores: np.ndarray
    scored_by: list[str]
    model_version: list[str]
    reasons: list[list[str]]
    model_variant: list[str | None]
    threshold: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def to_frame(self, index: pd.Index | None = None) -> pd.DataFrame:
        """The result as a DataFrame with the columns `score`, `scored_by`, `model_version`, `model_variant`,
        `reasons`, `threshold`."""
        return pd.DataFrame(
            {
                "score": self.scores,
                "scored_by": self.scored_by,
                "model_version": self.model_version,
                "model_variant": self.model_variant,
                "reasons": self.reasons,
                "threshold": self.threshold,
            },
            index=index,
        )


def feature_matrix(frame: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """The spec's columns of `frame`, in spec order, as a float64 matrix.

    The frame must carry exactly the spec's columns (in any order): the real container silently
    treats absent columns as missing values, so this check is the client's. Infinite values, which
    the container refuses (415), are scored as missing values on every path alike, and logged.

    Raises:
        FeatureColumnsError: a spec column is absent, or an unknown or duplicate column is present.
    """
    columns = [str(c) for c in frame.columns]
    missing = [n for n in spec.names if n not in columns]
    extra = sorted({c for c in columns if c not in spec.names})
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if missing or extra or duplicated:
        raise FeatureColumnsError(
            f"the rows must carry exactly the {len(spec)} columns of feature spec {spec.version} ({spec.hash}): "
            f"missing {missing}, unexpected {extra}, duplicated {duplicated}"
        )
    try:
        matrix = frame[list(spec.names)].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as e:
        raise FeatureColumnsError(f"the feature columns must be numeric: {e}") from e
    return check_matrix(matrix, spec)


def check_matrix(matrix: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """`matrix` as contiguous float64 with infinities replaced by NaN.

    Raises:
        FeatureColumnsError: the matrix is not 2-D with exactly `len(spec)` columns.
    """
    matrix = np.ascontiguousarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != len(spec):
        raise FeatureColumnsError(f"expected a matrix of {len(spec)} feature columns, got shape {matrix.shape}")
    infinite = np.isinf(matrix)
    if infinite.any():
        logger.warning("infinite feature values scored as missing", extra={"cells": int(infinite.sum())})
        matrix = np.where(infinite, np.nan, matrix)
    return matrix


class ReasonExplainer:
    """The top contributing features of each row, from XGBoost's own per-feature contributions
    (`pred_contribs`, TreeSHAP in log-odds), computed in process.

    Args:
        booster: the model.
        spec: its feature spec (names, in column order).
        top: how many features to name per row.
    """

    def __init__(self, booster: xgb.Booster, spec: FeatureSpec, *, top: int = TOP_REASONS) -> None:
        self.booster = booster
        self.names = np.asarray(spec.names, dtype=object)
        self.top = top
        self._lock = threading.Lock()

    def explain(self, matrix: np.ndarray) -> list[list[str]]:
        """Names of the features that push each row's score up the most, strongest first.

        Only positive contributions count: a row the model finds unremarkable may have fewer than
        `top` reasons, or none.
        """
        if len(matrix) == 0:
            return []
        with self._lock:
            contribs = self.booster.predict(
                xgb.DMatrix(matrix, missing=np.nan), pred_contribs=True, validate_features=False
            )
        contribs = contribs[:, : len(self.names)]  # the last column is the bias
        k = min(self.top, contribs.shape[1])
        order = np.argsort(-contribs, axis=1, kind="stable")[:, :k]
        values = np.take_along_axis(contribs, order, axis=1)
        return [
            [str(name) for name, value in zip(self.names[row], vals, strict=True) if value > 0]
            for row, vals in zip(order, values, strict=True)
        ]


class Scorer(ABC):
    """Scores feature rows: one result per row, in order.

    Implementations: `LocalXGBoostScorer` (in process; the fallback and the test double) and
    `SageMakerScorer` (a SageMaker endpoint, or the local server, with the local model as fallback).
    """

    spec: FeatureSpec

    def setup(self) -> Self:
        """Check dependencies (feature-spec agreement) before the first row; idempotent."""
        return self

    @abstractmethod
    def score(self, matrix: np.ndarray) -> ScoreResult:
        """Score a matrix whose columns are the spec's, in spec order.

        Raises:
            FeatureColumnsError: the matrix does not have the spec's width.
        """

    def score_frame(self, features: pd.DataFrame) -> pd.DataFrame:
        """Score a frame carrying exactly the spec's columns (any order).

        Returns:
            A frame with the input's index and the columns `score`, `scored_by`, `model_version`,
            `model_variant`, `reasons`.

        Raises:
            FeatureColumnsError: the columns are not exactly the spec's.
        """
        return self.score(feature_matrix(features, self.spec)).to_frame(features.index)

    def close(self) -> None:  # noqa: B027 (optional hook: most scorers hold nothing)
        """Release threads and connections."""

    def __enter__(self) -> Self:
        return self.setup()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def reasons_for(
    explainer: ReasonExplainer | None, matrix: np.ndarray, scores: np.ndarray, min_score: float | None
) -> list[list[str]]:
    """Reasons for the rows scoring at least `min_score` (all rows when None); the others get none."""
    reasons: list[list[str]] = [[] for _ in range(len(scores))]
    if explainer is None:
        return reasons
    selected = np.arange(len(scores)) if min_score is None else np.flatnonzero(scores >= min_score)
    for i, names in zip(selected, explainer.explain(matrix[selected]), strict=True):
        reasons[int(i)] = names
    return reasons
