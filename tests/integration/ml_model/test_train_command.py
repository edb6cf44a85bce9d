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


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("train") / "model"
    result = _train(
        "--generate",
        "63",
        "--train-days",
        "28",
        "--validation-days",
        "10",
        "--test-days",
        "14",
        "--folds",
        "2",
        "--fold-days",
        "5",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    return out, result


def test_train_writes_a_servable_artifact_metrics_and_plots(
    trained: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, result = trained
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"auc_roc", "average_precision", "precision", "recall", "f1", "card_precision_at_100"} <= set(metrics)
    artifact = load_artifact(out)
    assert artifact.card.model_version == metrics["model_version"]
    assert artifact.card.threshold == pytest.approx(metrics["threshold"])
    assert artifact.spec.hash == FEATURE_SPEC.hash
    assert {p.name for p in out.glob("*.png")} == {"precision_recall.png", "roc.png", "score_histogram.png"}
    assert all(p.stat().st_size > 5_000 for p in out.glob("*.png"))
    assert "average_precision" in result.stdout
    # the prequential search is recorded: its folds, every candidate's per-fold scores, the choice
    search = metrics["search"]
    assert [(f["validation_start"], f["validation_end"]) for f in search["folds"]] == [
        ("2026-02-02", "2026-02-07"),
        ("2026-02-07", "2026-02-12"),
    ]
    assert all(f["fit_start"] == "2026-01-15" for f in search["folds"])
    assert [f["fit_end"] for f in search["folds"]] == ["2026-01-26", "2026-01-31"]  # fold start - 7-day delay
    assert all(len(c["fold_average_precision"]) == 2 for c in search["candidates"])
    assert search["chosen"] in search["candidates"]
    assert artifact.card.extra["search"] == search
    assert {k: artifact.card.params[k] for k in search["chosen"]["params"]} == search["chosen"]["params"]
    assert "prequential folds" in result.stdout


def test_train_errors_are_one_line(tmp_path: Path) -> None:
    neither = _train("--out", str(tmp_path))
    assert neither.returncode == 2 and "give one of --data FILE, --generate DAYS or --from-lake" in neither.stderr
    no_room = _train("--generate", "10", "--train-days", "20", "--out", str(tmp_path))
    assert no_room.returncode == 2 and "training days cannot hold" in no_room.stderr
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


def test_score_a_file_with_the_trained_model(
    trained: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    from datetime import date

    from synthetic.generator import GeneratorConfig, generate_history

    model, _ = trained
    history = generate_history(
        GeneratorConfig(seed=5, n_cards=400, n_terminals=800, fraud_rate=0.03), date(2026, 4, 1), 6
    )
    history.to_parquet(tmp_path / "tx.parquet")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fraudstream",
            "score",
            "--model",
            str(model),
            "--data",
            str(tmp_path / "tx.parquet"),
            "--out",
            str(tmp_path / "scored.parquet"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    scored = pd.read_parquet(tmp_path / "scored.parquet")
    assert sorted(scored["transaction_id"]) == sorted(history["transaction_id"])  # one score per row
    assert set(FEATURE_SPEC.names) <= set(scored.columns)
    assert scored["score"].between(0, 1).all() and (scored["scored_by"] == "batch").all()
    alerts = scored[scored["is_alert"]]
    assert len(alerts) > 0 and all(len(r) == 3 for r in alerts["reasons"])
    # alerts catch fraud far above its base rate
    assert alerts["is_fraud"].mean() > 5 * scored["is_fraud"].mean()
