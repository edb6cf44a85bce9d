"""The model the stack deploys: a `model.tar.gz` from `fraudstream train`, checked at synth time."""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path

from infrastructure.exceptions import ModelArtifactMissingError
from ml_model.artifact import ARTIFACT_NAME, ModelCard, check_layout, read_model_card

__all__ = ["ModelArtifactRef", "resolve_model"]


@dataclass(frozen=True)
class ModelArtifactRef:
    """A checked artifact: its path and its model card."""

    path: Path
    card: ModelCard


def resolve_model(model_dir: str | Path) -> ModelArtifactRef:
    """Find `model.tar.gz` in `model_dir` (or `model_dir` itself when it is the tarball), refuse a
    layout SageMaker's XGBoost container would not serve, and read its card.

    Raises:
        ModelArtifactMissingError: there is no artifact there.
        ArtifactLayoutError, ArtifactError: the tarball is not a servable artifact.
    """
    path = Path(model_dir)
    candidate = path if path.name.endswith(".tar.gz") else path / ARTIFACT_NAME
    if not candidate.is_file():
        folder = path.parent if path.name.endswith(".tar.gz") else path
        raise ModelArtifactMissingError(
            f"no {ARTIFACT_NAME} in {folder}/: run `fraudstream train --generate 98 --out {folder}` first "
            "(the stack deploys the model the endpoint serves)",
            hint="",
        )
    with tarfile.open(candidate, "r:gz") as tar:
        check_layout(tar.getmembers())
    with candidate.open("rb") as f:
        card = read_model_card(f)
    return ModelArtifactRef(path=candidate.resolve(), card=card)
