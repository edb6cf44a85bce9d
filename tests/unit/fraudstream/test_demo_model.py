"""Which model folder `fraudstream demo` uses when --model is not given."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fraudstream.demo import default_model

if TYPE_CHECKING:
    import pytest


def test_quick_trains_aside_unless_a_full_model_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # GIVEN no model yet: the full demo trains into model/, the quick one aside, never into model/
    assert default_model(quick=False) == Path("model")
    assert default_model(quick=True) == Path("model-quick")
    # WHEN model/ holds a model THEN both use it
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.tar.gz").write_bytes(b"")
    assert default_model(quick=True) == Path("model") == default_model(quick=False)
