"""The quality target on the project's own synthetic data (default generator settings): precision
>= 0.85 and recall >= 0.75 at the threshold chosen on validation, on held-out later weeks."""

from __future__ import annotations

from datetime import date

import pytest

from ml_model.training import TrainingConfig, train
from synthetic.generator import GeneratorConfig, generate_history

pytestmark = pytest.mark.integration


# The full search (4 candidates x 3 folds, then the final fit) on ~1 million rows: 508 s measured on
# 2 cores shared with other work, and over the suite's 600 s default under heavier load.
@pytest.mark.timeout(1800)
def test_quality_target_on_held_out_weeks() -> None:
    # GIVEN 14 weeks of the default synthetic world (the first two warm the 30-day windows up)
    history = generate_history(GeneratorConfig(seed=42), date(2026, 1, 1), 98)
    # WHEN trained on 7 weeks (the last 2 validate), then tested on 3 weeks after a 1-week label delay
    result = train(
        history,
        TrainingConfig(train_start=date(2026, 1, 15), train_days=49, validation_days=14, delay_days=7, test_days=21),
    )
    # THEN
    m = result.metrics
    assert m["precision"] >= 0.85, m
    assert m["recall"] >= 0.75, m
    assert m["auc_roc"] > 0.9 and m["average_precision"] > 0.7 and 0 < m["card_precision_at_100"] <= 1
    assert result.periods["validation_start"] < result.periods["train_end"] < result.periods["test_start"]
    assert len(result.test_scores) == len(result.test_labels) > 10_000
