"""The artifact in a fresh Python process that has only xgboost, numpy and the tarball, loading it
as SageMaker's XGBoost container does: every top-level regular file is a model (pickle first, then
Booster.load_model), several are averaged, and CSV rows are parsed the container's way."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from typing import TYPE_CHECKING

import numpy as np
import pytest
import xgboost as xgb

from ml_model.scoring.sagemaker import encode_rows

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration

_CONTAINER = r"""
import os, pickle, sys, tarfile, tempfile, json
import numpy as np
import xgboost as xgb

tarball, csv_path = sys.argv[1], sys.argv[2]
model_dir = tempfile.mkdtemp()
with tarfile.open(tarball) as tar:
    tar.extractall(model_dir, filter="data")
# The container: every regular file at the top level, sub-folders and dot-files ignored.
names = sorted(n for n in os.listdir(model_dir) if os.path.isfile(os.path.join(model_dir, n)) and not n.startswith("."))
models = []
for name in names:
    path = os.path.join(model_dir, name)
    try:
        with open(path, "rb") as f:
            booster = pickle.load(f)
    except Exception:
        booster = xgb.Booster()
        booster.load_model(path)
    booster.set_param("nthread", 1)
    models.append(booster)
payload = open(csv_path, "rb").read().strip().decode("utf-8")
rows = np.array([["nan" if c == "" else c for c in line.split(",")] for line in payload.split("\n")]).astype(float)
dtest = xgb.DMatrix(rows)
preds = [m.predict(dtest, validate_features=False) for m in models]
scores = preds[0] if len(preds) == 1 else np.mean(preds, axis=0)
project = sorted(m for m in sys.modules if m.split(".")[0] in ("ml_model", "fraudstream", "tests"))
print(json.dumps({"files": names, "project_modules": project}))
sys.stdout.write("\n".join(map(str, scores.tolist())) + "\n")
"""


def test_fresh_process_reproduces_the_training_scores(
    artifact_path: Path, trained_booster: xgb.Booster, eval_rows: np.ndarray, tmp_path: Path
) -> None:
    # GIVEN the artifact and rows written as the contract's CSV
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("\n".join(encode_rows(eval_rows)) + "\n")
    # WHEN an isolated interpreter (no project on its path) loads and scores it as the container does
    out = subprocess.run(
        [sys.executable, "-I", "-c", _CONTAINER, str(artifact_path), str(csv_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        timeout=120,
    ).stdout.splitlines()
    header = json.loads(out[0])
    scores = np.array(out[1:], dtype=np.float64)
    # THEN it loaded exactly one model, imported nothing of the project, and reproduced the training
    # process's scores at its best iteration exactly
    assert header == {"files": ["xgboost-model"], "project_modules": []}
    expected = trained_booster.predict(xgb.DMatrix(eval_rows), iteration_range=(0, trained_booster.best_iteration + 1))
    np.testing.assert_array_equal(scores, expected.astype(np.float64))


def test_tarball_top_level_is_exactly_the_model(artifact_path: Path) -> None:
    # Fails if anything but xgboost-model (and the fraudstream/ metadata folder) sits at the top level.
    with tarfile.open(artifact_path) as tar:
        top_files = {m.name for m in tar.getmembers() if m.isfile() and "/" not in m.name.removeprefix("./")}
        top_dirs = {m.name.rstrip("/") for m in tar.getmembers() if m.isdir() and "/" not in m.name.rstrip("/")}
    assert top_files == {"xgboost-model"}
    assert top_dirs <= {"fraudstream"}
