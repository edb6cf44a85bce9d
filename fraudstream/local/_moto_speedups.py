"""Make the embedded emulator's Kinesis linear instead of quadratic.

moto's Kinesis shard finds the newest sequence number by copying every key on each PutRecords
entry, and GetRecords scans the shard from its first record on every call, so both slow down as
the stream fills: a few hundred thousand records bring the emulator to a crawl. Sequence numbers
within a moto shard are consecutive integers, so both can be direct look-ups. Behaviour is
unchanged (the original code is kept as the fallback for anything unexpected).
"""

from __future__ import annotations

from typing import Any

from moto.kinesis import models

__all__ = ["install"]

_GET_RECORDS_DEFAULT_LIMIT = 10_000  # the Kinesis API's default and maximum Limit
_original_get_records = models.Shard.get_records
_installed = False


def _get_max_sequence_number(self: models.Shard) -> int:
    return next(reversed(self.records)) if self.records else 0


def _get_min_sequence_number(self: models.Shard) -> int:
    return next(iter(self.records)) if self.records else 0


def _get_records(self: models.Shard, last_sequence_id: str, limit: int | None) -> Any:
    records = self.records
    if not records:
        return [], int(last_sequence_id), 0
    seq = int(last_sequence_id) + 1
    newest = next(reversed(records))
    if seq <= newest and seq not in records:
        return _original_get_records(self, last_sequence_id, limit)
    limit = limit or _GET_RECORDS_DEFAULT_LIMIT
    results: list[models.Record] = []
    while seq <= newest and len(results) < limit:
        results.append(records[seq])
        seq += 1
    if not results:
        return [], int(last_sequence_id), 0
    behind_ms = int((records[newest].created_at - results[-1].created_at) * 1000)
    return results, results[-1].sequence_number, behind_ms


def install() -> None:
    """Patch moto's Kinesis shard in this process (idempotent)."""
    global _installed
    if _installed:
        return
    models.Shard.get_max_sequence_number = _get_max_sequence_number  # type: ignore[method-assign]
    models.Shard.get_min_sequence_number = _get_min_sequence_number  # type: ignore[method-assign]
    models.Shard.get_records = _get_records  # type: ignore[method-assign]
    _installed = True
