"""Start the embedded emulator in its own process, as users run it, so that its CPU time is not
charged to the client being measured."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextmanager
def emulator_process() -> Iterator[dict[str, str]]:
    """Yields the environment that points boto3 at a fresh `fraudstream local up --port 0`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "fraudstream", "local", "up", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    try:
        assert proc.stdout is not None
        match = re.search(r"http://127\.0\.0\.1:\d+", proc.stdout.readline())
        if match is None:
            raise RuntimeError("the emulator did not start")
        yield {**FAKE_AWS_ENV, "AWS_ENDPOINT_URL": match.group(0)}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
