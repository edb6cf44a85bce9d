"""The versioned, ordered feature spec shared by training, batch scoring, the endpoint and the stream.

The hash identifies the exact feature vector (names, order, version); the model card records it
and the scoring client compares it at start-up.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["FeatureSpec"]


@dataclass(frozen=True)
class FeatureSpec:
    """Feature names in the order the model expects them, plus a version label."""

    version: str
    names: tuple[str, ...]

    @property
    def hash(self) -> str:
        payload = json.dumps({"version": self.version, "names": list(self.names)}, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.names)

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "names": list(self.names), "hash": self.hash}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        spec = cls(version=str(data["version"]), names=tuple(str(n) for n in data["names"]))
        if "hash" in data and data["hash"] != spec.hash:
            raise ValueError(f"feature spec hash {data['hash']} does not match its names and version ({spec.hash})")
        return spec
