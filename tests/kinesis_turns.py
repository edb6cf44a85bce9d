"""Records put on a 2-shard stream in turns, shard by shard, and a proxy counting what GetRecords
hands out: for the tests of the Kinesis source's read-ahead and of each record fetched once."""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from typing import TYPE_CHECKING

from tests.fault_proxy import FaultProxy, Faults

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler

    import boto3

__all__ = ["SECOND_SHARD", "CountingProxy", "put_in_turns"]

SECOND_SHARD = str(2**127 + 1)  # an explicit hash key on the second shard of a 2-shard stream


class CountingProxy(FaultProxy):
    """The test proxy without faults, counting every record GetRecords hands out (by its data)."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream, Faults())
        self.fetched: Counter[bytes] = Counter()
        self._count_lock = threading.Lock()

    def _forward(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        status, payload, headers = super()._forward(request, body)
        if status == 200 and request.headers.get("X-Amz-Target", "").endswith(".GetRecords"):
            records = json.loads(payload)["Records"]
            with self._count_lock:
                self.fetched.update(base64.b64decode(r["Data"]) for r in records)
        return status, payload, headers


def put_in_turns(session: boto3.Session, stream: str, turns: list[tuple[str, int]], first: int = 0) -> list[bytes]:
    """Records `{"n": first...}` put turn by turn, each turn's on the shard holding `hash_key`: shards
    whose arrival times interleave, so that batches end at a horizon and leave records read ahead."""
    kinesis = session.client("kinesis")
    sent: list[bytes] = []
    for hash_key, count in turns:
        data = [json.dumps({"n": first + len(sent) + i}).encode() for i in range(count)]
        kinesis.put_records(
            StreamName=stream,
            Records=[{"Data": d, "PartitionKey": "k", "ExplicitHashKey": hash_key} for d in data],
        )
        sent += data
    return sent
