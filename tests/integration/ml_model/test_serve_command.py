"""`serve` in the foreground, in its own process, as a user runs it."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration

_MAIN = """
import sys, typer
from ml_model.cli import serve
app = typer.Typer()
app.command("serve")(serve)
app.command("noop")(lambda: None)
app(sys.argv[1:])
"""


def test_serve_answers_ping_and_stops_on_interrupt(artifact_path: Path) -> None:
    # GIVEN `serve --port 0` in the foreground of its own process
    with subprocess.Popen(
        [sys.executable, "-c", _MAIN, "serve", "--model", str(artifact_path), "--port", "0", "--name", "fd"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd(), "COLUMNS": "300"},
    ) as process:
        assert process.stdout is not None
        match = re.search(r"http://127\.0\.0\.1:(\d+)", process.stdout.readline())
        assert match is not None
        # WHEN it is pinged, and invoked through the runtime path under its --name
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=10)
        conn.request("GET", "/ping")
        status = conn.getresponse().status
        conn.request("POST", "/endpoints/fd/invocations", body=b"1.5,,0\n2,3,\n", headers={"Content-Type": "text/csv"})
        invoked = conn.getresponse()
        invoked_status, invoked_body = invoked.status, invoked.read()
        conn.close()
        # ... and interrupted
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    # THEN it was healthy, scored one line per row under that name, and stops cleanly
    assert status == 200
    assert invoked_status == 200 and invoked_body.count(b"\n") == 2
    assert code == 0
