"""The interface every sink implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["BatchSink"]


class BatchSink(ABC):
    """Writes one micro-batch, one Spark partition at a time. `write` is idempotent per batch id and
    partition: writing them again leaves the target exactly as one write did, which with Spark's
    checkpoint (a re-run batch has the same rows in the same partitions) gives exactly once."""

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Check the target exists, before the first batch."""

    @abstractmethod
    def write(self, batch_id: int, table: pa.Table, *, part: int = 0) -> int:
        """Write the rows of Spark partition `part` of the batch; returns how many objects/items were written."""
