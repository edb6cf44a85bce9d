"""Make the embedded emulator's Kinesis fast and faithful where the project depends on it.

Speed: moto's Kinesis shard finds the newest sequence number by copying every key on each
PutRecords entry, and GetRecords scans the shard from its first record on every call, so both slow
down as the stream fills: a few hundred thousand records bring the emulator to a crawl. Sequence
numbers within a moto shard are consecutive integers, so both become direct look-ups.

Resharding, as Kinesis does it: a split or merged shard is closed and keeps its records (moto moves
them into the children, so a consumer would read them twice); new records go only to open shards
(moto can route them to the closed parent); and GetRecords on a closed shard read to its end
returns no next iterator, which is how consumers know to move on to the children.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

from moto.kinesis import models
from moto.kinesis.utils import decompose_shard_iterator

__all__ = ["install"]

_GET_RECORDS_DEFAULT_LIMIT = 10_000  # the Kinesis API's default and maximum Limit
_original_get_records = models.Shard.get_records
_original_get_shard_for_key = models.Stream.get_shard_for_key
_original_split_shard = models.Stream.split_shard
_original_merge_shards = models.Stream.merge_shards
_original_backend_get_records = models.KinesisBackend.get_records
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


def _get_shard_for_key(self: models.Stream, partition_key: str, explicit_hash_key: str) -> models.Shard | None:
    _original_get_shard_for_key(self, partition_key, explicit_hash_key)  # moto's own validation
    if explicit_hash_key:
        key = int(explicit_hash_key)
    else:
        key = int(hashlib.md5(partition_key.encode("utf-8")).hexdigest(), 16)  # noqa: S324 - Kinesis' own hash
    for shard in self.shards.values():
        if shard.is_open and shard.starting_hash <= key <= shard.ending_hash:
            return shard
    return None


def _split_shard(self: models.Stream, shard_to_split: str, new_starting_hash_key: str) -> None:
    parent = self.shards[shard_to_split]
    records = parent.records
    parent.records = OrderedDict()  # moto's split re-puts whatever the parent holds: give it nothing
    try:
        _original_split_shard(self, shard_to_split, new_starting_hash_key)
    finally:
        parent.records = records


def _merge_shards(self: models.Stream, shard_to_merge: str, adjacent_shard_to_merge: str) -> None:
    first, second = self.shards[shard_to_merge], self.shards[adjacent_shard_to_merge]
    saved = first.records, second.records
    first.records, second.records = OrderedDict(), OrderedDict()
    try:
        _original_merge_shards(self, shard_to_merge, adjacent_shard_to_merge)
    finally:
        first.records, second.records = saved


def _backend_get_records(self: Any, stream_arn: str | None, shard_iterator: str, limit: int | None) -> Any:
    next_iterator, records, behind_ms = _original_backend_get_records(self, stream_arn, shard_iterator, limit)
    stream_name, shard_id, last_read = decompose_shard_iterator(next_iterator)
    shard = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name).get_shard(shard_id)
    if not shard.is_open and int(last_read) >= shard.get_max_sequence_number():
        return None, records, behind_ms
    return next_iterator, records, behind_ms


def install() -> None:
    """Patch moto's Kinesis in this process (idempotent)."""
    global _installed
    if _installed:
        return
    models.Shard.get_max_sequence_number = _get_max_sequence_number  # type: ignore[method-assign]
    models.Shard.get_min_sequence_number = _get_min_sequence_number  # type: ignore[method-assign]
    models.Shard.get_records = _get_records  # type: ignore[method-assign]
    models.Stream.get_shard_for_key = _get_shard_for_key  # type: ignore[method-assign]
    models.Stream.split_shard = _split_shard  # type: ignore[method-assign]
    models.Stream.merge_shards = _merge_shards  # type: ignore[method-assign]
    models.KinesisBackend.get_records = _backend_get_records  # type: ignore[method-assign]
    _installed = True
