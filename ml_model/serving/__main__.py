"""`python -m ml_model.serving --model DIR [--challenger DIR [--challenger-weight W]] [--port N] [--name NAME]`:
the local endpoint in the foreground, without the root CLI (the benchmark runs it in its own process this way)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ml_model.artifact import load_artifact
from ml_model.serving.app import DEFAULT_ENDPOINT_NAME, champion_and_challenger
from ml_model.serving.server import DEFAULT_PORT, LocalEndpointServer


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ml_model.serving")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--name", default=DEFAULT_ENDPOINT_NAME)
    parser.add_argument("--challenger", type=Path, help="a second model, served as variant challenger")
    parser.add_argument("--challenger-weight", type=float, default=0.1, help="the challenger's share of traffic")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    challenger = load_artifact(args.challenger) if args.challenger is not None else None
    variants = champion_and_challenger(load_artifact(args.model), challenger, challenger_weight=args.challenger_weight)
    server = LocalEndpointServer(variants, host=args.host, port=args.port, endpoint_name=args.name)
    server.bind()
    print(server.url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
