from __future__ import annotations

import io
import json
import tarfile
from typing import TYPE_CHECKING

import numpy as np
import pytest
import xgboost as xgb
from hypothesis import given
from hypothesis import strategies as st

from ml_model.artifact import (
    FEATURE_SPEC_MEMBER,
    MODEL_CARD_MEMBER,
    MODEL_MEMBER,
    ModelCard,
    check_layout,
    load_artifact,
    read_model_card,
    slice_to_best_iteration,
    write_artifact,
)
from ml_model.exceptions import ArtifactError, ArtifactLayoutError
from ml_model.feature_spec import FeatureSpec
from ml_model.features import FEATURE_SPEC

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ml_model.artifact import ModelArtifact


def _top_level(tarball: Path) -> dict[str, str]:
    with tarfile.open(tarball, "r:gz") as tar:
        return {
            m.name.removeprefix("./").split("/")[0]: ("dir" if m.isdir() else "file")
            for m in tar.getmembers()
            if "/" not in m.name.removeprefix("./").rstrip("/")
        }


def _tarball(entries: list[tuple[str, bytes | None, bytes]]) -> list[tarfile.TarInfo]:
    """TarInfo entries: (name, payload or None for a folder, type)."""
    members = []
    for name, payload, kind in entries:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.size = len(payload or b"")
        members.append(info)
    return members


_GOOD = [
    ("xgboost-model", b"x", tarfile.REGTYPE),
    ("fraudstream", None, tarfile.DIRTYPE),
    ("fraudstream/feature_spec.json", b"{}", tarfile.REGTYPE),
    ("fraudstream/model_card.json", b"{}", tarfile.REGTYPE),
]


def test_written_artifact_top_level_holds_only_the_model_file(artifact_path: Path) -> None:
    # GIVEN the artifact the fixture wrote
    # WHEN its top level is listed
    top = _top_level(artifact_path)
    # THEN the only regular file is xgboost-model; metadata sits in the fraudstream/ folder
    assert [name for name, kind in top.items() if kind == "file"] == [MODEL_MEMBER]
    assert set(top) == {MODEL_MEMBER, "fraudstream"}
    with tarfile.open(artifact_path, "r:gz") as tar:
        names = {m.name for m in tar.getmembers() if m.isfile()}
    assert names == {MODEL_MEMBER, FEATURE_SPEC_MEMBER, MODEL_CARD_MEMBER}


def test_model_file_is_ubjson_not_pickle(artifact_path: Path) -> None:
    with tarfile.open(artifact_path, "r:gz") as tar:
        handle = tar.extractfile(MODEL_MEMBER)
        assert handle is not None
        head = handle.read(1)
    # UBJSON documents start with '{'; a pickle starts with 0x80.
    assert head == b"{"


@pytest.mark.parametrize(
    "extra",
    [
        ("README.md", b"hi", tarfile.REGTYPE),
        (".hidden", b"", tarfile.REGTYPE),
        ("other", None, tarfile.DIRTYPE),
        ("other/file.json", b"{}", tarfile.REGTYPE),
        ("xgboost-model.json", b"{}", tarfile.REGTYPE),
        ("link", b"", tarfile.SYMTYPE),
        ("../escape", b"", tarfile.REGTYPE),
        ("xgboost-model", b"again", tarfile.REGTYPE),
    ],
    ids=["file", "dotfile", "folder", "folder-file", "second-model", "symlink", "dotdot", "duplicate"],
)
def test_layout_refuses_anything_else_at_top_level(extra: tuple[str, bytes | None, bytes]) -> None:
    # GIVEN a valid layout plus one more entry
    members = _tarball([*_GOOD, extra])
    # WHEN / THEN it is refused, naming the entry
    with pytest.raises(ArtifactLayoutError, match=repr(extra[0]).strip("'")[:8]):
        check_layout(members)


def test_layout_accepts_dot_slash_prefixes() -> None:
    check_layout(_tarball([(".", None, tarfile.DIRTYPE), *[("./" + n, p, k) for n, p, k in _GOOD]]))


def test_layout_refuses_a_tarball_without_model() -> None:
    with pytest.raises(ArtifactLayoutError, match="no top-level 'xgboost-model'"):
        check_layout(_tarball(_GOOD[1:]))


def test_load_refuses_an_extra_top_level_file(artifact_path: Path, tmp_path: Path) -> None:
    # GIVEN the fixture artifact re-packed with one more top-level file
    bad = tmp_path / "model.tar.gz"
    with tarfile.open(artifact_path, "r:gz") as src, tarfile.open(bad, "w:gz") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo("metrics.json")
        info.size = 2
        dst.addfile(info, io.BytesIO(b"{}"))
    # WHEN / THEN loading refuses it
    with pytest.raises(ArtifactLayoutError, match="metrics.json"):
        load_artifact(tmp_path)


def test_round_trip_in_process(artifact: ModelArtifact, trained_booster: xgb.Booster, eval_rows: np.ndarray) -> None:
    # GIVEN the training booster (early-stopped) and its artifact
    best = trained_booster.best_iteration
    expected = trained_booster.predict(xgb.DMatrix(eval_rows), iteration_range=(0, best + 1))
    # WHEN the loaded booster predicts with all its trees, as the container does
    got = artifact.booster.predict(xgb.DMatrix(eval_rows))
    # THEN the scores are the training process's at its best iteration, exactly
    np.testing.assert_array_equal(got, expected)
    assert artifact.booster.num_boosted_rounds() == best + 1
    assert artifact.card.best_iteration == best
    assert artifact.card.num_boosted_rounds == best + 1
    assert artifact.card.xgboost_version == xgb.__version__
    assert artifact.spec == FEATURE_SPEC


def test_slice_keeps_a_booster_without_early_stopping(booster_factory: Callable[..., xgb.Booster]) -> None:
    booster = booster_factory(rounds=5, early_stopping=False)
    sliced, best = slice_to_best_iteration(booster)
    assert best is None
    assert sliced.num_boosted_rounds() == 5


def test_write_refuses_a_card_of_another_spec(trained_booster: xgb.Booster, tmp_path: Path) -> None:
    card = ModelCard(model_version="x", feature_spec_hash="0" * 16, threshold=0.5)
    with pytest.raises(ArtifactError, match="feature-spec hash"):
        write_artifact(trained_booster, FEATURE_SPEC, card, tmp_path)


def test_write_refuses_a_spec_of_another_width(trained_booster: xgb.Booster, tmp_path: Path) -> None:
    spec = FeatureSpec(version="1", names=("a", "b"))
    with pytest.raises(ArtifactError, match="features"):
        write_artifact(trained_booster, spec, ModelCard("x", spec.hash, 0.5), tmp_path)


def test_load_reports_a_missing_artifact(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no model artifact"):
        load_artifact(tmp_path)


def test_read_model_card_from_a_stream(artifact_path: Path, artifact: ModelArtifact) -> None:
    assert read_model_card(io.BytesIO(artifact_path.read_bytes())) == artifact.card


def test_model_card_json_is_readable(artifact_path: Path) -> None:
    with tarfile.open(artifact_path, "r:gz") as tar:
        handle = tar.extractfile(MODEL_CARD_MEMBER)
        assert handle is not None
        card = json.loads(handle.read())
    assert card["feature_spec_hash"] == FEATURE_SPEC.hash
    assert card["model_version"] == "test-model-1"
    assert card["threshold"] == 0.5
    # the card carries the spec's parameters: a client holding only the card knows the label delay
    assert card["feature_spec"]["label_delay_hours"] == FEATURE_SPEC.label_delay_hours
    assert card["feature_spec"]["parameters"]["card_window_30d_s"] == 30 * 86_400
    assert ModelCard.from_dict(card).spec() == FEATURE_SPEC


@given(
    version=st.text(min_size=1, max_size=20),
    threshold=st.floats(0, 1),
    metrics=st.dictionaries(st.text(max_size=10), st.floats(allow_nan=False, allow_infinity=False), max_size=4),
    best=st.none() | st.integers(0, 10_000),
)
def test_model_card_round_trips(version: str, threshold: float, metrics: dict[str, float], best: int | None) -> None:
    card = ModelCard(version, FEATURE_SPEC.hash, threshold, metrics=metrics, best_iteration=best)
    assert ModelCard.from_dict(json.loads(json.dumps(card.to_dict()))) == card


def test_model_card_missing_key_is_an_artifact_error() -> None:
    with pytest.raises(ArtifactError, match="model card"):
        ModelCard.from_dict({"model_version": "x"})
