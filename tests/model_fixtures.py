"""Shared fixtures of the model tests: a tiny real XGBoost model on random data with the feature
spec's width, trained with early stopping, its artifact and the local endpoint serving it.
Registered for the whole suite through `pytest_plugins` in `tests/conftest.py`."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Final

import numpy as np
import pytest
import xgboost as xgb

from ml_model.artifact import ModelArtifact, ModelCard, load_artifact, write_artifact
from ml_model.features import FEATURE_SPEC
from ml_model.serving import LocalEndpointServer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

__all__ = [
    "artifact",
    "artifact_path",
    "booster_factory",
    "endpoint",
    "eval_rows",
    "trained_booster",
    "with_label_delay",
]

N_FEATURES = len(FEATURE_SPEC)


# `train`'s periods for a small synthetic run: 14 warm-up days, 20 training days (the last 7
# validate, one search fold of 5), a 3-day delay, 7 test days.
SMALL_RUN_PERIODS: Final = (
    "--train-days",
    "20",
    "--validation-days",
    "7",
    "--delay-days",
    "3",
    "--test-days",
    "7",
    "--folds",
    "1",
    "--fold-days",
    "5",
    "--quick",
)


def random_rows(n: int, seed: int) -> np.ndarray:
    """Random feature rows with about 10% missing values and awkward decimals."""
    rng = np.random.default_rng(seed)
    rows: np.ndarray = rng.normal(size=(n, N_FEATURES)) * rng.choice([1e-3, 1.0, 1e3], size=N_FEATURES)
    rows[rng.random(rows.shape) < 0.1] = np.nan
    return rows


@pytest.fixture(scope="session")
def booster_factory() -> Callable[..., xgb.Booster]:
    """Trains a small binary:logistic booster on random rows; early stopping when `early_stopping`."""

    def train(*, rounds: int = 40, early_stopping: bool = True, seed: int = 7) -> xgb.Booster:
        rows = random_rows(600, seed)
        rng = np.random.default_rng(seed)
        signal = np.nan_to_num(rows[:, 0] / np.nanstd(rows[:, 0])) + np.nan_to_num(rows[:, 5] / np.nanstd(rows[:, 5]))
        labels = (signal + rng.normal(scale=0.5, size=600) > 1.5).astype(int)
        train_set = xgb.DMatrix(rows[:450], label=labels[:450])
        valid_set = xgb.DMatrix(rows[450:], label=labels[450:])
        params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "seed": seed, "tree_method": "hist"}
        return xgb.train(
            params,
            train_set,
            num_boost_round=rounds,
            evals=[(valid_set, "valid")],
            early_stopping_rounds=5 if early_stopping else None,
            verbose_eval=False,
        )

    return train


@pytest.fixture(scope="session")
def trained_booster(booster_factory: Callable[..., xgb.Booster]) -> xgb.Booster:
    booster = booster_factory(rounds=60)
    assert booster.best_iteration + 1 < booster.num_boosted_rounds(), "the fixture must stop early"
    return booster


@pytest.fixture(scope="session")
def artifact_path(trained_booster: xgb.Booster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    card = ModelCard(
        model_version="test-model-1",
        feature_spec_hash=FEATURE_SPEC.hash,
        threshold=0.5,
        metrics={"auc_roc": 0.9},
        data_ranges={"train_start": "2026-01-01", "train_end": "2026-02-01"},
        params={"seed": 7},
    )
    return write_artifact(trained_booster, FEATURE_SPEC, card, tmp_path_factory.mktemp("model"))


def with_label_delay(artifact_path: Path, label_delay_days: float, out: Path) -> Path:
    """The fixture's model as if trained with another label delay: its feature spec and card say so."""
    artifact = load_artifact(artifact_path)
    spec = artifact.spec.with_label_delay(label_delay_days)
    return write_artifact(artifact.booster, spec, replace(artifact.card, feature_spec_hash=spec.hash), out)


@pytest.fixture(scope="session")
def artifact(artifact_path: Path) -> ModelArtifact:
    return load_artifact(artifact_path)


@pytest.fixture(scope="session")
def eval_rows() -> np.ndarray:
    return random_rows(1200, seed=99)


@pytest.fixture(scope="session")
def endpoint(artifact: ModelArtifact) -> Iterator[LocalEndpointServer]:
    """The local endpoint serving the test artifact on a free port, for the whole session."""
    with LocalEndpointServer(artifact, port=0, endpoint_name="fraud-detector") as server:
        yield server
