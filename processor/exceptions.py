"""Processor errors."""

from __future__ import annotations

from fraudstream.exceptions import FraudstreamError, ResourceNotFoundError

__all__ = ["AlertSinkError", "AlertsTableNotFoundError", "ProcessorError"]


class ProcessorError(FraudstreamError):
    """Root of the processor's errors."""


class AlertsTableNotFoundError(ResourceNotFoundError, ProcessorError):
    """Raised when the DynamoDB alerts table does not exist."""


class AlertSinkError(ProcessorError):
    """Raised when alerts could not all be written after every retry; the batch fails and is re-run."""
