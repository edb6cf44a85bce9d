"""Fault injection in front of the local endpoint's runtime path, over real HTTP: each
`invoke_endpoint` call takes the next scripted action (then `ok` once the script runs out)."""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Iterable
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["Action", "EndpointFaults"]

Action = Literal["ok", "error500", "throttle", "unavailable", "hang"]

_RUNTIME_ERRORS: dict[str, tuple[str, str, dict[str, object]]] = {
    # The container answers 500: the runtime turns it into a ModelError.
    "error500": (
        "424 Failed Dependency",
        "ModelError",
        {"Message": "Received server error (500) from primary", "OriginalStatusCode": 500, "OriginalMessage": "boom"},
    ),
    "throttle": ("400 Bad Request", "ThrottlingException", {"message": "Rate exceeded"}),
    "unavailable": ("503 Service Unavailable", "ServiceUnavailable", {"Message": "unavailable"}),
}


class EndpointFaults:
    """WSGI middleware; `wrap` is given to `LocalEndpointServer(middleware=...)`.

    Args:
        script: actions for the first calls, in arrival order.
    """

    def __init__(self, script: Iterable[Action] = ()) -> None:
        self._script: deque[Action] = deque(script)
        self._lock = threading.Lock()
        self.release = threading.Event()
        self.actions: list[Action] = []
        self.rows_answered = 0

    def extend(self, actions: Iterable[Action]) -> None:
        with self._lock:
            self._script.extend(actions)

    def wrap(self, app: WSGIApplication) -> WSGIApplication:
        def middleware(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            if not environ.get("PATH_INFO", "").startswith("/endpoints/"):
                return app(environ, start_response)
            with self._lock:
                action: Action = self._script.popleft() if self._script else "ok"
                self.actions.append(action)
            if action == "hang":
                # Held until the test ends: the client's read timeout fires first.
                self.release.wait(timeout=30)
            if action in _RUNTIME_ERRORS:
                status, code, fields = _RUNTIME_ERRORS[action]
                body = json.dumps(fields).encode()
                environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                start_response(
                    status,
                    [
                        ("Content-Type", "application/json"),
                        ("x-amzn-ErrorType", code),
                        ("Content-Length", str(len(body))),
                    ],
                )
                return [body]
            chunks = list(app(environ, start_response))
            with self._lock:
                self.rows_answered += b"".join(chunks).count(b"\n")
            return chunks

        return middleware
