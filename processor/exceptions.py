"""Processor errors."""

from __future__ import annotations

from fraudstream.exceptions import FraudstreamError, ResourceNotFoundError

__all__ = ["AlertSinkError", "AlertsTableNotFoundError", "ProcessorError", "StaleCheckpointError"]


class ProcessorError(FraudstreamError):
    """Root of the processor's errors."""


class AlertsTableNotFoundError(ResourceNotFoundError, ProcessorError):
    """Raised when the DynamoDB alerts table does not exist."""


class AlertSinkError(ProcessorError):
    """Raised when alerts could not all be written after every retry; the batch fails and is re-run."""


class StaleCheckpointError(ProcessorError):
    """Raised when a checkpoint's streams are not the live ones (deleted, created again, another endpoint)."""

    hint = (
        "its positions mean nothing in these streams: start a new checkpoint with --checkpoint FOLDER, "
        "or delete this one with --reset-checkpoint"
    )
