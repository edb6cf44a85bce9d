"""The model artifact, `model.tar.gz`, laid out as SageMaker's built-in XGBoost 3.2-0 container loads it.

The container loads every regular file at the top level of the extracted tarball as a model (several
files are averaged as an ensemble) and fails its health check on a file that is not a model; it
ignores sub-folders. It predicts with all trees, ignoring early stopping's best iteration. Hence:

    xgboost-model                  Booster.save_model (UBJSON: xgboost 3.2's format for a name without extension)
    fraudstream/feature_spec.json  the ordered feature names, version and hash the model was trained on
    fraudstream/model_card.json    model version, data ranges, metrics, threshold, feature-spec hash and
                                   the spec's parameters (label delay, window widths)

and nothing else. The booster is sliced to the best iteration before it is saved.
"""

from __future__ import annotations

import io
import json
import logging
import os
import tarfile
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Final

import xgboost as xgb

from ml_model.exceptions import ArtifactError, ArtifactLayoutError
from ml_model.feature_spec import FeatureSpec

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "ARTIFACT_NAME",
    "FEATURE_SPEC_MEMBER",
    "METADATA_DIR",
    "MODEL_CARD_MEMBER",
    "MODEL_MEMBER",
    "ArtifactNotFoundError",
    "ModelArtifact",
    "ModelCard",
    "check_layout",
    "load_artifact",
    "read_model_card",
    "resolve_artifact_path",
    "slice_to_best_iteration",
    "write_artifact",
]

logger = logging.getLogger(__name__)

ARTIFACT_NAME: Final = "model.tar.gz"
MODEL_MEMBER: Final = "xgboost-model"
METADATA_DIR: Final = "fraudstream"
FEATURE_SPEC_MEMBER: Final = f"{METADATA_DIR}/feature_spec.json"
MODEL_CARD_MEMBER: Final = f"{METADATA_DIR}/model_card.json"


# NOTE: to move to ml_model/exceptions.py with the package's other errors (outside the files of the
# change that added it).
class ArtifactNotFoundError(ArtifactError):
    """Raised when a model location (a folder, a tarball, an s3:// URI) holds no model.tar.gz."""


@dataclass(frozen=True)
class ModelCard:
    """What a fraud team needs to know about a model, stored beside it in the artifact.

    Args:
        model_version: a unique label for this model (written on every scored row).
        feature_spec_hash: `FeatureSpec.hash` of the features the model was trained on.
        threshold: a row alerts when its score is at or above it (chosen on validation, never on test).
        metrics: test-period figures (`auc_roc`, `average_precision`, `precision`, `recall`, ...).
        data_ranges: ISO dates of the periods used (`train_start`, `train_end`, `test_start`, ...).
        params: every choice that moves results (tree method, base score, seed, ...).
        best_iteration: early stopping's best iteration, when it was used (the booster is sliced to it).
        num_boosted_rounds: trees per class in the saved booster (filled in by `write_artifact`).
        xgboost_version: the library that wrote the model (filled in by `write_artifact`).
        created_at: ISO-8601 UTC time of writing (filled in by `write_artifact` when empty).
        extra: anything else worth recording.
        feature_spec: the feature spec itself (`FeatureSpec.to_dict`: names, label delay, window
            widths; filled in by `write_artifact`), so that whoever holds only the card (an
            endpoint's client) knows the label delay its features must be computed with.
        reference: the training distribution of every feature and of the score, for drift monitoring
            (`ml_model.monitoring.training_reference`: per column, quantile bin edges, the share of
            rows per bin and the share of missing values); empty on a card written before it did.
    """

    model_version: str
    feature_spec_hash: str
    threshold: float
    metrics: dict[str, float] = field(default_factory=dict)
    data_ranges: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    best_iteration: int | None = None
    num_boosted_rounds: int | None = None
    xgboost_version: str = ""
    created_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    feature_spec: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def spec(self) -> FeatureSpec | None:
        """The feature spec the card records (None on a card written before it did).

        Raises:
            ArtifactError: the recorded spec is malformed or not the one its hash names.
        """
        if not self.feature_spec:
            return None
        try:
            spec = FeatureSpec.from_dict(self.feature_spec)
        except (KeyError, TypeError, ValueError) as e:
            raise ArtifactError(f"model {self.model_version}: invalid feature spec in its card: {e}") from e
        if spec.hash != self.feature_spec_hash:
            raise ArtifactError(f"model {self.model_version}: its card's feature spec is not {self.feature_spec_hash}")
        return spec

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """Build a card from its JSON form.

        Raises:
            ArtifactError: a required key is missing or has the wrong type.
        """
        try:
            return cls(
                model_version=str(data["model_version"]),
                feature_spec_hash=str(data["feature_spec_hash"]),
                threshold=float(data["threshold"]),
                metrics={str(k): float(v) for k, v in (data.get("metrics") or {}).items()},
                data_ranges={str(k): str(v) for k, v in (data.get("data_ranges") or {}).items()},
                params=dict(data.get("params") or {}),
                best_iteration=None if data.get("best_iteration") is None else int(data["best_iteration"]),
                num_boosted_rounds=None if data.get("num_boosted_rounds") is None else int(data["num_boosted_rounds"]),
                xgboost_version=str(data.get("xgboost_version", "")),
                created_at=str(data.get("created_at", "")),
                extra=dict(data.get("extra") or {}),
                feature_spec=dict(data.get("feature_spec") or {}),
                reference=dict(data.get("reference") or {}),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ArtifactError(f"invalid model card: {e!r}") from e


@dataclass(frozen=True)
class ModelArtifact:
    """A loaded artifact: the booster exactly as the container would load it, and its metadata."""

    booster: xgb.Booster
    spec: FeatureSpec
    card: ModelCard
    path: Path | None = None

    @property
    def model_version(self) -> str:
        return self.card.model_version


def slice_to_best_iteration(booster: xgb.Booster) -> tuple[xgb.Booster, int | None]:
    """Keep the trees up to early stopping's best iteration, because the container predicts with all trees.

    Returns:
        The booster to save (the same object when early stopping was not used) and the best iteration.
    """
    best = booster.attr("best_iteration")
    if best is None:
        return booster, None
    best_iteration = int(best)
    if best_iteration + 1 < booster.num_boosted_rounds():
        booster = booster[: best_iteration + 1]
    else:
        booster = booster.copy()
    # The sliced model has no later iterations: a stale attribute would only mislead a reader.
    booster.set_attr(best_iteration=None, best_score=None)
    return booster, best_iteration


def write_artifact(booster: xgb.Booster, spec: FeatureSpec, card: ModelCard, out: Path) -> Path:
    """Write `model.tar.gz`.

    Args:
        booster: the trained booster; sliced to its best iteration when early stopping was used.
        spec: the feature spec it was trained on.
        card: the model card; `num_boosted_rounds`, `best_iteration`, `xgboost_version` and an
            empty `created_at` are filled in.
        out: a folder (the artifact goes to `out/model.tar.gz`) or a path ending in `.tar.gz`.

    Returns:
        The tarball's path.

    Raises:
        ArtifactError: the card's feature-spec hash or the booster's feature count disagrees with `spec`.
    """
    if card.feature_spec_hash != spec.hash:
        raise ArtifactError(f"the model card's feature-spec hash {card.feature_spec_hash} != the spec's {spec.hash}")
    if booster.num_features() != len(spec):
        raise ArtifactError(f"the booster has {booster.num_features()} features, the spec {len(spec)}")
    sliced, best_iteration = slice_to_best_iteration(booster)
    card_dict = card.to_dict() | {
        "best_iteration": best_iteration if best_iteration is not None else card.best_iteration,
        "num_boosted_rounds": sliced.num_boosted_rounds(),
        "xgboost_version": xgb.__version__,
        "created_at": card.created_at or datetime.now(UTC).isoformat(timespec="seconds"),
        "feature_spec": spec.to_dict(),
    }
    target = out / ARTIFACT_NAME if not out.name.endswith(".tar.gz") else out
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fraudstream-artifact-") as tmp:
        # save_model picks the format from the name: no extension gives UBJSON in xgboost 3.2.
        model_path = Path(tmp) / MODEL_MEMBER
        with warnings.catch_warnings():
            # xgboost warns that a name without extension gets UBJSON: that is exactly what the container loads.
            warnings.filterwarnings("ignore", message=".*UBJSON format as default", category=UserWarning)
            sliced.save_model(str(model_path))
        members = {
            MODEL_MEMBER: model_path.read_bytes(),
            FEATURE_SPEC_MEMBER: _json_bytes(spec.to_dict()),
            MODEL_CARD_MEMBER: _json_bytes(card_dict),
        }
        partial = target.with_name(target.name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            tar.addfile(_tar_info(METADATA_DIR + "/", 0, directory=True))
            for name, payload in members.items():
                tar.addfile(_tar_info(name, len(payload)), io.BytesIO(payload))
        os.replace(partial, target)
    logger.info("model artifact written", extra={"path": str(target), "model_version": card.model_version})
    return target


def resolve_artifact_path(path: Path) -> Path:
    """`path` itself when it is a file, else `path/model.tar.gz`.

    Raises:
        ArtifactNotFoundError: there is no such file.
    """
    candidate = path / ARTIFACT_NAME if path.is_dir() else path
    if not candidate.is_file():
        raise ArtifactNotFoundError(f"no model artifact at {candidate}")
    return candidate


def check_layout(members: Iterable[tarfile.TarInfo]) -> None:
    """Refuse any tarball that SageMaker's XGBoost container would not load as exactly one model.

    Accepted: one regular file `xgboost-model` at the top level, and the `fraudstream/` folder with
    regular files in it. Refused: any other top-level entry (file, folder, dot-file), links and
    devices, absolute paths and `..`, and duplicate entries.

    Raises:
        ArtifactLayoutError: naming every offending entry.
    """
    problems: list[str] = []
    seen: set[str] = set()
    model_files = 0
    for member in members:
        name = _normalised(member.name)
        if name in ("", "."):
            continue
        parts = PurePosixPath(name).parts
        if member.name.startswith("/") or ".." in parts:
            problems.append(f"{member.name!r}: unsafe path")
            continue
        if not (member.isfile() or member.isdir()):
            problems.append(f"{member.name!r}: not a regular file or folder")
            continue
        if name in seen and not member.isdir():
            problems.append(f"{member.name!r}: duplicate entry")
        seen.add(name)
        if len(parts) == 1:
            if member.isfile() and name == MODEL_MEMBER:
                model_files += 1
            elif member.isdir() and name == METADATA_DIR:
                pass
            else:
                kind = "folder" if member.isdir() else "file"
                problems.append(f"{member.name!r}: unexpected top-level {kind}")
        elif parts[0] != METADATA_DIR:
            problems.append(f"{member.name!r}: unexpected top-level folder {parts[0]!r}")
    if model_files == 0:
        problems.append(f"no top-level {MODEL_MEMBER!r}")
    if problems:
        raise ArtifactLayoutError("model artifact refused: " + "; ".join(problems))


def load_artifact(path: Path) -> ModelArtifact:
    """Read and check `model.tar.gz` (or the folder holding it).

    The booster is loaded with `Booster.load_model`, as the container loads it.

    Raises:
        ArtifactLayoutError: the layout is not exactly the container's.
        ArtifactError: the file is missing or unreadable, metadata is invalid or inconsistent.
    """
    tarball = resolve_artifact_path(path)
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            members = tar.getmembers()
            check_layout(members)
            files = {_normalised(m.name): m for m in members if m.isfile()}
            model_bytes = _read_member(tar, files, MODEL_MEMBER)
            spec_dict = json.loads(_read_member(tar, files, FEATURE_SPEC_MEMBER))
            card_dict = json.loads(_read_member(tar, files, MODEL_CARD_MEMBER))
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ArtifactError(f"cannot read {tarball}: {e}") from e
    except json.JSONDecodeError as e:
        raise ArtifactError(f"invalid metadata JSON in {tarball}: {e}") from e
    try:
        spec = FeatureSpec.from_dict(spec_dict)
    except (KeyError, TypeError, ValueError) as e:
        raise ArtifactError(f"invalid feature spec in {tarball}: {e}") from e
    card = ModelCard.from_dict(card_dict)
    if card.feature_spec_hash != spec.hash:
        raise ArtifactError(f"{tarball}: the model card's feature-spec hash {card.feature_spec_hash} != {spec.hash}")
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(model_bytes))
    except xgb.core.XGBoostError as e:
        raise ArtifactError(f"{tarball}: {MODEL_MEMBER} is not an XGBoost model: {e}") from e
    if booster.num_features() != len(spec):
        raise ArtifactError(f"{tarball}: the booster has {booster.num_features()} features, the spec {len(spec)}")
    return ModelArtifact(booster=booster, spec=spec, card=card, path=tarball)


def read_model_card(fileobj: io.BufferedIOBase | io.BytesIO) -> ModelCard:
    """The model card of an artifact given as an open binary stream (for example an S3 object body).

    Raises:
        ArtifactError: the stream is not an artifact with a valid card.
    """
    try:
        with tarfile.open(fileobj=fileobj, mode="r:gz") as tar:
            files = {_normalised(m.name): m for m in tar.getmembers() if m.isfile()}
            return ModelCard.from_dict(json.loads(_read_member(tar, files, MODEL_CARD_MEMBER)))
    except (tarfile.TarError, OSError, EOFError, json.JSONDecodeError) as e:
        raise ArtifactError(f"cannot read the model card: {e}") from e


def _normalised(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


def _read_member(tar: tarfile.TarFile, files: dict[str, tarfile.TarInfo], name: str) -> bytes:
    member = files.get(name)
    handle = tar.extractfile(member) if member is not None else None
    if handle is None:
        raise ArtifactError(f"the artifact has no {name}")
    with handle:
        return handle.read()


def _json_bytes(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def _tar_info(name: str, size: int, *, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name.rstrip("/"))
    info.size = size
    info.mode = 0o755 if directory else 0o644
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mtime = int(datetime.now(UTC).timestamp())
    return info
