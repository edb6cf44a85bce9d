"""Producer errors."""

from __future__ import annotations

from fraudstream.exceptions import FraudstreamError, ResourceNotFoundError

__all__ = ["KinesisStreamNotFoundError", "ProducerError", "PutRecordsFatalError"]


class ProducerError(FraudstreamError):
    """Root of the producer's errors."""


class KinesisStreamNotFoundError(ResourceNotFoundError, ProducerError):
    """Raised when the target stream does not exist."""


class PutRecordsFatalError(ProducerError):
    """Raised when Kinesis refuses a PutRecords call for a reason retrying cannot fix (access, validation)."""

    hint = "the records still buffered were written to the dead-letter file; fix the cause and re-send them"
