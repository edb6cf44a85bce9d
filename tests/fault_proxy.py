"""A fault-injecting HTTP proxy in front of the embedded emulator.

Clients pointed at the proxy see what AWS does under load: whole calls throttled (HTTP 400
`ProvisionedThroughputExceededException`), PutRecords calls where some entries fail, and
BatchWriteItem calls that leave some items unprocessed; S3 object uploads answered 503 SlowDown or
500 InternalError; and a service unavailable altogether for a while (500 for every call). Failed
entries are taken out of the request before it reaches the emulator, and a failed call never
reaches it, so a failure really means "not written".
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

__all__ = ["FaultProxy", "Faults"]

_THROTTLE = {
    "Kinesis": "ProvisionedThroughputExceededException",
    "DynamoDB": "ProvisionedThroughputExceededException",
}


@dataclass
class Faults:
    """What to inject, as probabilities per call or per entry, by operation name (`PutRecords`, ...)."""

    throttle: dict[str, float] = field(default_factory=dict)
    partial: dict[str, float] = field(default_factory=dict)
    # The share of S3 object uploads (PUT) answered 503 SlowDown or 500 InternalError, in turns.
    s3_put_errors: float = 0.0
    # Operations (`BatchWriteItem`, ...) whose every call fails with 500 for this many seconds from
    # their first call through the proxy.
    outages: dict[str, float] = field(default_factory=dict)
    seed: int = 11


@dataclass
class _Counts:
    throttled: dict[str, int] = field(default_factory=dict)
    failed_entries: dict[str, int] = field(default_factory=dict)

    def add(self, counter: dict[str, int], op: str, n: int = 1) -> None:
        counter[op] = counter.get(op, 0) + n


class FaultProxy:
    """Forwards to `upstream` (an emulator URL), injecting `faults`; use as a context manager."""

    def __init__(self, upstream: str, faults: Faults) -> None:
        self.upstream = urlparse(upstream)
        self.faults = faults
        self.counts = _Counts()
        self._rng = random.Random(faults.seed)
        self._lock = threading.Lock()
        self._outage_started: dict[str, float] = {}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

            def do_GET(self) -> None:  # noqa: N802 - stdlib naming
                proxy._handle(self, b"")

            def do_PUT(self) -> None:  # noqa: N802
                proxy._handle(self, self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def do_POST(self) -> None:  # noqa: N802
                proxy._handle(self, self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def do_HEAD(self) -> None:  # noqa: N802
                proxy._handle(self, b"")

            def do_DELETE(self) -> None:  # noqa: N802
                proxy._handle(self, b"")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _down(self, op: str) -> bool:
        if op not in self.faults.outages:
            return False
        with self._lock:
            started = self._outage_started.setdefault(op, time.monotonic())
        return time.monotonic() - started < self.faults.outages[op]

    def _chance(self, p: float) -> bool:
        with self._lock:
            return self._rng.random() < p

    def _handle(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        target = request.headers.get("X-Amz-Target", "")  # e.g. Kinesis_20131202.PutRecords
        op = target.rsplit(".", 1)[-1] if "." in target else ""
        service = "Kinesis" if target.startswith("Kinesis") else "DynamoDB" if target.startswith("DynamoDB") else ""
        if self._down(op):
            with self._lock:
                self.counts.add(self.counts.throttled, f"{op} unavailable")
            error = {"__type": "InternalServerError", "message": "Service unavailable (injected by the test proxy)"}
            self._reply(request, 500, json.dumps(error).encode(), {"Content-Type": "application/x-amz-json-1.0"})
            return
        if request.command == "PUT" and not target and self._chance(self.faults.s3_put_errors):
            with self._lock:
                self.counts.add(self.counts.throttled, "S3 PutObject")
                code, status = ("SlowDown", 503) if sum(self.counts.throttled.values()) % 2 else ("InternalError", 500)
            body_xml = f"<Error><Code>{code}</Code><Message>injected by the test proxy</Message></Error>"
            self._reply(request, status, body_xml.encode(), {"Content-Type": "application/xml"})
            return
        if service and self._chance(self.faults.throttle.get(op, 0.0)):
            with self._lock:
                self.counts.add(self.counts.throttled, op)
            error = {"__type": _THROTTLE[service], "message": "Rate exceeded (injected by the test proxy)"}
            self._reply(request, 400, json.dumps(error).encode(), {"Content-Type": "application/x-amz-json-1.1"})
            return
        p_partial = self.faults.partial.get(op, 0.0)
        if p_partial and op == "PutRecords":
            self._put_records(request, body, p_partial)
            return
        if p_partial and op == "BatchWriteItem":
            self._batch_write(request, body, p_partial)
            return
        status, payload, headers = self._forward(request, body)
        self._reply(request, status, payload, headers)

    def _put_records(self, request: BaseHTTPRequestHandler, body: bytes, p: float) -> None:
        doc = json.loads(body)
        failed = [i for i in range(len(doc["Records"])) if self._chance(p)]
        if len(failed) == len(doc["Records"]):
            failed = failed[1:]  # keep one: the emulator rejects an empty call
        kept = [r for i, r in enumerate(doc["Records"]) if i not in set(failed)]
        status, payload, headers = self._forward(request, json.dumps({**doc, "Records": kept}).encode())
        if status != 200:
            self._reply(request, status, payload, headers)
            return
        ok = iter(json.loads(payload)["Records"])
        failed_set = set(failed)
        records = [
            {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "injected"}
            if i in failed_set
            else next(ok)
            for i in range(len(doc["Records"]))
        ]
        with self._lock:
            self.counts.add(self.counts.failed_entries, "PutRecords", len(failed))
        out = {"FailedRecordCount": len(failed), "Records": records}
        self._reply(request, 200, json.dumps(out).encode(), {"Content-Type": "application/x-amz-json-1.1"})

    def _batch_write(self, request: BaseHTTPRequestHandler, body: bytes, p: float) -> None:
        doc = json.loads(body)
        held: dict[str, list[Any]] = {}
        sent: dict[str, list[Any]] = {}
        for table, requests in doc["RequestItems"].items():
            for item in requests:
                (held if self._chance(p) else sent).setdefault(table, []).append(item)
        if not sent:  # keep one: the emulator rejects an empty call
            table, items = next(iter(held.items()))
            sent[table] = [items.pop()]
        status, payload, headers = self._forward(request, json.dumps({**doc, "RequestItems": sent}).encode())
        if status != 200:
            self._reply(request, status, payload, headers)
            return
        out = json.loads(payload)
        out["UnprocessedItems"] = {t: items for t, items in held.items() if items}
        with self._lock:
            self.counts.add(self.counts.failed_entries, "BatchWriteItem", sum(len(v) for v in held.values()))
        self._reply(request, 200, json.dumps(out).encode(), {"Content-Type": "application/x-amz-json-1.0"})

    def _forward(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        conn = http.client.HTTPConnection(self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=60)
        try:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("content-length", "host")}
            headers["Content-Length"] = str(len(body))
            conn.request(request.command, request.path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            keep = {
                k: v
                for k, v in response.getheaders()
                if k.lower() not in ("content-length", "transfer-encoding", "connection")
            }
            return response.status, payload, keep
        finally:
            conn.close()

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict[str, str]) -> None:
        request.send_response(status)
        for key, value in headers.items():
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(payload)
