"""Which model folder `fraudstream demo` uses when --model is not given, and what it says when the
model it trains aside cannot be trained."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

import pytest

from fraudstream.demo import TrainingFailedError, _Progress, _serve, default_model


def test_quick_trains_aside_unless_a_full_model_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # GIVEN no model yet: the full demo trains into model/, the quick one aside, never into model/
    assert default_model(quick=False) == Path("model")
    assert default_model(quick=True) == Path("model-quick")
    # WHEN model/ holds a model THEN both use it
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.tar.gz").write_bytes(b"")
    assert default_model(quick=True) == Path("model") == default_model(quick=False)


def test_a_failed_training_is_one_line_with_its_last_output_and_where_the_rest_is(tmp_path: Path) -> None:
    # GIVEN a training process that fails after some output
    log = tmp_path / "train.log"
    with log.open("wb") as output:
        training = subprocess.Popen(
            [sys.executable, "-c", "print('generating'); print('MemoryError: out of memory'); raise SystemExit(3)"],
            stdout=output,
        )
    progress = _Progress(training=(0.0, log))
    # WHEN the demo waits for it THEN it names the exit code, the last line and the log
    with contextlib.ExitStack() as running, pytest.raises(TrainingFailedError) as failed:
        _serve(tmp_path / "model", training, log, progress, running)
    assert str(failed.value) == "training the model failed (exit 3): MemoryError: out of memory"
    assert failed.value.hint == f"its whole output is in {log}"
    # ... and the live view says so instead of counting on
    assert progress.training is None
    assert progress.model == "training failed (exit 3)"
