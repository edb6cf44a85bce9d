from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from ml_model.exceptions import FeatureColumnsError, FeatureSpecMismatchError
from ml_model.feature_spec import FeatureSpec
from ml_model.features import FEATURE_SPEC
from ml_model.scoring import LocalXGBoostScorer, ReasonExplainer, ScorerType, build_scorer, feature_matrix

if TYPE_CHECKING:
    from ml_model.artifact import ModelArtifact


def _frame(rows: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(FEATURE_SPEC.names))


def test_feature_matrix_reorders_columns(eval_rows: np.ndarray) -> None:
    frame = _frame(eval_rows[:5])
    shuffled = frame[list(reversed(FEATURE_SPEC.names))]
    np.testing.assert_array_equal(feature_matrix(shuffled, FEATURE_SPEC), eval_rows[:5])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["amount"]), "missing \\['amount'\\]"),
        (lambda f: f.assign(extra=1.0), "unexpected \\['extra'\\]"),
    ],
    ids=["missing", "extra"],
)
def test_feature_matrix_requires_exactly_the_spec_columns(eval_rows: np.ndarray, change: object, message: str) -> None:
    frame = change(_frame(eval_rows[:3]))  # type: ignore[operator]
    with pytest.raises(FeatureColumnsError, match=message):
        feature_matrix(frame, FEATURE_SPEC)


def test_infinite_values_are_scored_as_missing(eval_rows: np.ndarray) -> None:
    rows = eval_rows[:2].copy()
    rows[0, 3] = np.inf
    assert np.isnan(feature_matrix(_frame(rows), FEATURE_SPEC)[0, 3])


def test_reasons_are_the_top_positive_contributions(artifact: ModelArtifact, eval_rows: np.ndarray) -> None:
    # GIVEN XGBoost's own contributions for some rows
    contribs = artifact.booster.predict(xgb.DMatrix(eval_rows[:50]), pred_contribs=True)[:, :-1]
    # WHEN the explainer names the reasons
    reasons = ReasonExplainer(artifact.booster, artifact.spec).explain(eval_rows[:50])
    # THEN each row names at most 3 features, strongest first, all pushing the score up
    for row, names in zip(contribs, reasons, strict=True):
        assert len(names) <= 3
        values = [row[FEATURE_SPEC.names.index(n)] for n in names]
        assert values == sorted(values, reverse=True)
        assert all(v > 0 for v in values)
        top_positive = sorted((v for v in row if v > 0), reverse=True)[:3]
        assert values == top_positive


def test_local_scorer_scores_reasons_above_threshold(artifact: ModelArtifact, eval_rows: np.ndarray) -> None:
    # GIVEN the local scorer with the card's threshold
    scorer = build_scorer(ScorerType.LOCAL, artifact)
    # WHEN it scores a frame
    result = scorer.score_frame(_frame(eval_rows))
    # THEN the scores are the booster's, and only alerts carry reasons
    np.testing.assert_array_equal(result["score"], artifact.booster.inplace_predict(eval_rows).astype(np.float64))
    assert set(result["scored_by"]) == {"local"}
    assert set(result["model_version"]) == {"test-model-1"}
    alerts = result["score"] >= artifact.card.threshold
    assert alerts.any() and (~alerts).any()
    assert all(len(r) > 0 for r in result.loc[alerts, "reasons"])
    assert all(r == [] for r in result.loc[~alerts, "reasons"])


def test_local_scorer_refuses_another_feature_spec(artifact: ModelArtifact) -> None:
    other = FeatureSpec(version="another", names=FEATURE_SPEC.names)
    with pytest.raises(FeatureSpecMismatchError):
        LocalXGBoostScorer(artifact, spec=other).setup()
