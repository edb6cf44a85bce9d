from __future__ import annotations

from tests.unit.ml_model.fixtures import artifact, artifact_path, booster_factory, eval_rows, trained_booster

__all__ = ["artifact", "artifact_path", "booster_factory", "eval_rows", "trained_booster"]
