"""The model the stack deploys: a `model.tar.gz` from `fraudstream train` (a folder, the tarball, or an
s3:// URI of either), checked at synth time."""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path

from infrastructure.exceptions import ModelArtifactMissingError
from ml_model.artifact import ARTIFACT_NAME, ArtifactNotFoundError, ModelCard, check_layout, read_model_card
from ml_model.model_store import fetch_artifact

__all__ = ["ModelArtifactRef", "resolve_model"]


@dataclass(frozen=True)
class ModelArtifactRef:
    """A checked artifact: its path and its model card."""

    path: Path
    card: ModelCard


def resolve_model(model_dir: str | Path) -> ModelArtifactRef:
    """Find `model.tar.gz` at a model location (`ml_model.model_store.fetch_artifact`: a folder holding
    it, the tarball, or an s3:// URI of either, as the job and the CLI resolve one), refuse a layout
    SageMaker's XGBoost container would not serve, and read its card.

    Raises:
        ModelArtifactMissingError: there is no artifact there.
        ArtifactLayoutError, ArtifactError: not a location, or the tarball is not a servable artifact.
    """
    text = str(model_dir)
    try:
        candidate = fetch_artifact(text)
    except ArtifactNotFoundError as e:
        if text.startswith("s3://"):
            raise ModelArtifactMissingError(f"{e} (the stack deploys the model the endpoint serves)", hint="") from e
        path = Path(text)
        folder = path.parent if path.name.endswith(".tar.gz") else path
        raise ModelArtifactMissingError(
            f"no {ARTIFACT_NAME} in {folder}/: run `fraudstream train --generate 98 --out {folder}` first "
            "(the stack deploys the model the endpoint serves)",
            hint="",
        ) from e
    with tarfile.open(candidate, "r:gz") as tar:
        check_layout(tar.getmembers())
    with candidate.open("rb") as f:
        card = read_model_card(f)
    return ModelArtifactRef(path=candidate.resolve(), card=card)
