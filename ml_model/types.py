"""Small shared types of the model package, importable without XGBoost or pandas (the CLI's options)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ValidationPlacement"]


class ValidationPlacement(StrEnum):
    """Where the validation days and the search folds lie relative to the training window."""

    INSIDE = "inside"  # the last days of the training window
    BEFORE = "before"  # the days just before it (short windows: the whole window is fitted)
