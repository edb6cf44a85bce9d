"""The interface every sink implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["BatchSink"]


class BatchSink(ABC):
    """Writes one micro-batch. `write` is idempotent per batch id: writing the same batch again
    leaves the target exactly as one write did, which with Spark's checkpoint gives exactly once."""

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Check the target exists, before the first batch."""

    @abstractmethod
    def write(self, batch_id: int, table: pa.Table) -> int:
        """Write the batch's rows; returns how many objects/items were written."""
