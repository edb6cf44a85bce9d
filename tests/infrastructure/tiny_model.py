"""A tiny but real model artifact (a few trees on random rows, the feature spec's width), for
synthesizing the CDK app without training: the template tests and CI's `make synth` use it.

    python tests/infrastructure/tiny_model.py OUT_DIR [MODEL_VERSION]

Never deploy it: it scores at random. `fraudstream train --generate 98 --out model` makes the real one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import xgboost as xgb

from ml_model.artifact import ModelCard, write_artifact
from ml_model.features import FEATURE_SPEC

__all__ = ["write_tiny_model"]


def write_tiny_model(out: Path, model_version: str = "synth-check-untrained", *, threshold: float = 0.42) -> Path:
    """Write `out/model.tar.gz` and return its path."""
    rng = np.random.default_rng(7)
    rows = rng.normal(size=(200, len(FEATURE_SPEC)))
    labels = (rows[:, 0] > 1.0).astype(int)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2, "seed": 7},
        xgb.DMatrix(rows, label=labels),
        num_boost_round=3,
    )
    card = ModelCard(
        model_version=model_version,
        feature_spec_hash=FEATURE_SPEC.hash,
        threshold=threshold,
        metrics={},
        data_ranges={},
        params={"purpose": "synthesis checks only"},
    )
    return write_artifact(booster, FEATURE_SPEC, card, out)


if __name__ == "__main__":
    print(write_tiny_model(Path(sys.argv[1]), *sys.argv[2:3]))
