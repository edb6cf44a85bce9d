"""The local dead-letter file: records that could not be delivered, with their error, one JSON
object per line, so that nothing is ever dropped silently and everything can be re-sent."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["DeadLetterFile"]


class DeadLetterFile:
    """Appends failed records to a JSON-lines file, created on the first failure only.

    Args:
        path: the file; its parent directories are created when needed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._fh: IO[str] | None = None
        self._lock = threading.Lock()

    def write(
        self, *, stream: str, partition_key: str, data: bytes, error_code: str, error_message: str, attempts: int
    ) -> None:
        """Record one undeliverable record and why."""
        entry = {
            "failed_at": datetime.now(UTC).isoformat(),
            "stream": stream,
            "partition_key": partition_key,
            "error_code": error_code,
            "error_message": error_message,
            "attempts": attempts,
            "data_base64": base64.b64encode(data).decode("ascii"),
        }
        with self._lock:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = self.path.open("a", encoding="utf-8")
            self._fh.write(json.dumps(entry) + "\n")
            self._fh.flush()
            self.count += 1

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
