"""`python -m ml_model.serving --model DIR [--port N] [--name NAME]`: the local endpoint in the
foreground, without the root CLI (the benchmark runs it in its own process this way)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ml_model.artifact import load_artifact
from ml_model.serving.app import DEFAULT_ENDPOINT_NAME
from ml_model.serving.server import DEFAULT_PORT, LocalEndpointServer


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ml_model.serving")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--name", default=DEFAULT_ENDPOINT_NAME)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    server = LocalEndpointServer(load_artifact(args.model), host=args.host, port=args.port, endpoint_name=args.name)
    server.bind()
    print(server.url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
