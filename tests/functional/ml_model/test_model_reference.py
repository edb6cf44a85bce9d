"""The model card records the training reference of every feature and of the score (issue 20,
monitoring), and a card written before it did still loads."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING

from ml_model.artifact import ModelCard, load_artifact, write_artifact
from ml_model.monitoring import SCORE
from ml_model.training import TrainingConfig, train
from synthetic.generator import GeneratorConfig, generate_history

if TYPE_CHECKING:
    from pathlib import Path


def test_a_trained_card_carries_a_reference_for_every_feature_and_the_score(tmp_path: Path) -> None:
    # GIVEN a small synthetic world (14 warm-up days, 20 training days, a 3-day delay, 7 test days)
    history = generate_history(
        GeneratorConfig(seed=3, n_cards=120, n_terminals=200, fraud_rate=0.03), date(2026, 1, 1), 44
    )
    config = TrainingConfig(
        train_start=date(2026, 1, 15),
        train_days=20,
        validation_days=7,
        delay_days=3,
        test_days=7,
        folds=1,
        fold_days=5,
        search=({"max_depth": 3, "eta": 0.3},),
        max_rounds=30,
    )
    # WHEN a model is trained and written
    result = train(history, config)
    artifact = load_artifact(write_artifact(result.booster, result.spec, result.card("ref-1"), tmp_path))
    # THEN its card holds, for each feature of the spec and for the score, quantile bins of the
    # training rows whose shares (with the missing share) add up to one
    reference = artifact.card.reference
    assert set(reference["features"]) == set(artifact.spec.names)
    assert reference["rows"] > 0
    for ref in [*reference["features"].values(), reference[SCORE]]:
        assert len(ref["shares"]) == len(ref["edges"]) + 1 <= 10
        assert ref["edges"] == sorted(set(ref["edges"]))
        present = sum(ref["shares"])
        assert present == 0 or abs(present - 1.0) < 1e-9
        assert 0.0 <= ref["missing_share"] <= 1.0
    assert len(reference[SCORE]["edges"]) >= 5  # scores take many values: most of the 10 bins


def test_a_card_written_before_the_reference_still_loads() -> None:
    # GIVEN the JSON of a card from before the reference
    old = {"model_version": "old-1", "feature_spec_hash": "abc", "threshold": 0.4, "metrics": {"precision": 0.5}}
    # WHEN it is read
    card = ModelCard.from_dict(json.loads(json.dumps(old)))
    # THEN it loads with an empty reference
    assert card.model_version == "old-1"
    assert card.reference == {}
