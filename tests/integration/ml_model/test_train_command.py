"""`fraudstream train` as a user runs it: artifact, metrics and plots, and clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from ml_model.artifact import load_artifact
from ml_model.features import FEATURE_SPEC

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration


def _train(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fraudstream", "train", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "COLUMNS": "120"},
    )


def test_train_writes_a_servable_artifact_metrics_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = _train(
        "--generate", "63", "--train-days", "28", "--validation-days", "10", "--test-days", "14", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"auc_roc", "average_precision", "precision", "recall", "f1", "card_precision_at_100"} <= set(metrics)
    artifact = load_artifact(out)
    assert artifact.card.model_version == metrics["model_version"]
    assert artifact.card.threshold == pytest.approx(metrics["threshold"])
    assert artifact.spec.hash == FEATURE_SPEC.hash
    assert {p.name for p in out.glob("*.png")} == {"precision_recall.png", "roc.png", "score_histogram.png"}
    assert all(p.stat().st_size > 5_000 for p in out.glob("*.png"))
    assert "average_precision" in result.stdout


def test_train_errors_are_one_line(tmp_path: Path) -> None:
    neither = _train("--out", str(tmp_path))
    assert neither.returncode == 2 and "either --data FILE or --generate DAYS" in neither.stderr
    unlabelled = tmp_path / "tx.csv"
    pd.DataFrame(
        {
            "transaction_id": ["a"],
            "event_time": ["2026-01-01T00:00:00Z"],
            "card_id": ["c"],
            "terminal_id": ["t"],
            "amount": [1.0],
        }
    ).to_csv(unlabelled, index=False)
    no_labels = _train("--data", str(unlabelled), "--out", str(tmp_path))
    assert (
        no_labels.returncode == 1
        and "needs the is_fraud column" in no_labels.stderr
        and "Traceback" not in no_labels.stderr
    )
