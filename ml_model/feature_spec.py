"""The versioned, ordered feature spec shared by training, batch scoring, the endpoint and the stream.

The spec holds the feature names in order and every parameter that changes a feature's value: the
label delay (how far back the terminal windows are shifted) and the fixed widths of the feature
functions (card windows, terminal windows, the terminal's hour buckets, the night hours, ...). The
hash covers all of it; the model card records it and every scoring path compares it, so a model
trained with one label delay or window is never served features computed with another.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["DEFAULT_LABEL_DELAY_HOURS", "FeatureSpec", "label_delay_hours"]

DEFAULT_LABEL_DELAY_HOURS = 7 * 24


def label_delay_hours(label_delay_days: float) -> int:
    """The label delay in whole hours, as the terminal windows use it.

    Raises:
        ValueError: a delay shorter than an hour, or not a whole number of hours.
    """
    hours = label_delay_days * 24
    if hours < 1 or abs(hours - round(hours)) > 1e-9:
        raise ValueError(f"the label delay must be a whole number of hours, at least 1 (got {label_delay_days:g} days)")
    return round(hours)


@dataclass(frozen=True)
class FeatureSpec:
    """Feature names in the order the model expects them, a version label, and the parameters that
    change feature values.

    Args:
        version: the feature code's version (bumped when a definition changes).
        names: the features, in the model's column order.
        label_delay_hours: how long after a transaction its chargeback is known; terminal windows end
            this long before the transaction's hour.
        parameters: the fixed widths of the feature functions, `(name, value)` pairs (seconds unless
            the name says otherwise); set by the code, recorded so that the hash covers them.
    """

    version: str
    names: tuple[str, ...]
    label_delay_hours: int = DEFAULT_LABEL_DELAY_HOURS
    parameters: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        # One order (by name), whatever order they were given or read in: equal specs compare equal.
        object.__setattr__(self, "parameters", tuple(sorted((str(k), float(v)) for k, v in self.parameters)))

    @property
    def label_delay_days(self) -> float:
        return self.label_delay_hours / 24

    @property
    def hash(self) -> str:
        payload = json.dumps(self._hashed(), separators=(",", ":"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def _hashed(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "names": list(self.names),
            "label_delay_hours": self.label_delay_hours,
            "parameters": dict(self.parameters),
        }

    def __len__(self) -> int:
        return len(self.names)

    def with_label_delay(self, label_delay_days: float) -> FeatureSpec:
        """This spec with another label delay (a whole number of hours).

        Raises:
            ValueError: the delay is not a whole number of hours, at least 1.
        """
        return replace(self, label_delay_hours=label_delay_hours(label_delay_days))

    def label_delay_for(self, label_delay_days: float | None, *, model: str = "the model") -> float:
        """The label delay to compute this spec's features with: its own; a given one must agree.

        Args:
            label_delay_days: what the user asked for; None: the spec's.
            model: how messages name the model.

        Raises:
            LabelDelayMismatchError: the given delay is not the spec's (or not whole hours).
        """
        from ml_model.exceptions import LabelDelayMismatchError

        if label_delay_days is None:
            return self.label_delay_days
        try:
            same = label_delay_hours(label_delay_days) == self.label_delay_hours
        except ValueError as e:
            raise LabelDelayMismatchError(f"--label-delay-days: {e}") from e
        if not same:
            raise LabelDelayMismatchError(
                f"--label-delay-days is {label_delay_days:g} but {model} was trained with a label delay of "
                f"{self.label_delay_days:g} days: its terminal features would not be the model's"
            )
        return self.label_delay_days

    def same_code(self, other: FeatureSpec) -> bool:
        """Whether `other` is computed by the same feature code (all but the label delay agree)."""
        return replace(other, label_delay_hours=self.label_delay_hours) == self

    def describe(self) -> str:
        """One line for messages: version, hash and label delay."""
        return f"{self.version} ({self.hash}, label delay {self.label_delay_hours} h)"

    def to_dict(self) -> dict[str, Any]:
        return self._hashed() | {"hash": self.hash}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        """Build a spec from its JSON form.

        Raises:
            ValueError: the stored hash does not match the rest (or a field is malformed).
        """
        if "label_delay_hours" not in data:
            raise ValueError(
                f"feature spec {data.get('version')} predates the label delay and window widths in the spec: "
                "retrain the model with `fraudstream train`"
            )
        spec = cls(
            version=str(data["version"]),
            names=tuple(str(n) for n in data["names"]),
            label_delay_hours=int(data["label_delay_hours"]),
            parameters=tuple((str(k), float(v)) for k, v in (data.get("parameters") or {}).items()),
        )
        if "hash" in data and data["hash"] != spec.hash:
            raise ValueError(f"feature spec hash {data['hash']} does not match its names, version and parameters")
        return spec
