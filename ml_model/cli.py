"""Model commands for the root CLI: `serve` (the local SageMaker-compatible endpoint, in the
foreground) and `invoke` (score rows against an endpoint, printing score and reasons).

`fraudstream/cli.py` registers these functions with `app.command("serve")(serve)`, and so on.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ml_model.serving import DEFAULT_ENDPOINT_NAME, DEFAULT_PORT

if TYPE_CHECKING:
    import pandas as pd

    from ml_model.artifact import ModelArtifact, ModelCard

__all__ = ["invoke", "serve"]

logger = logging.getLogger(__name__)
_ID_COLUMN = "transaction_id"


def serve(
    model: Annotated[Path, typer.Option("--model", help="Folder holding model.tar.gz, or the tarball.")],
    port: Annotated[int, typer.Option(help="TCP port (0 picks a free one).")] = DEFAULT_PORT,
    name: Annotated[str, typer.Option(help="Endpoint name for `invoke_endpoint`.")] = DEFAULT_ENDPOINT_NAME,
    host: Annotated[str, typer.Option(help="Address to bind (no authentication: keep it on loopback).")] = "127.0.0.1",
) -> None:
    """Serve a model.tar.gz with the HTTP contract of SageMaker's XGBoost 3.2-0 container.

    `GET /ping`, `POST /invocations` and the runtime path `POST /endpoints/NAME/invocations`, so that
    boto3's sagemaker-runtime client reaches it with AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME.
    """
    from ml_model.artifact import load_artifact
    from ml_model.serving.server import LocalEndpointServer

    artifact = load_artifact(model)
    server = LocalEndpointServer(artifact, host=host, port=port, endpoint_name=name).bind()
    console = Console()
    console.print(f"{server.url}", highlight=False)
    console.print(
        f"serving model {artifact.card.model_version} as endpoint [bold]{name}[/]; "
        f"export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={server.url}  (Ctrl-C stops)",
        highlight=False,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        console.print("stopped")


def invoke(
    endpoint: Annotated[str, typer.Option("--endpoint", help="SageMaker endpoint name (or the local server's).")],
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="Rows of features: .csv with a header, .json (object or list) or .jsonl; stdin (CSV) when absent. "
            "An optional transaction_id column labels the rows.",
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="The endpoint's artifact: its model computes the reasons locally."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per row instead of a table.")] = False,
) -> None:
    """Score feature rows directly against an endpoint (SageMaker on AWS, or `fraudstream serve`),
    printing each row's score and its top 3 reasons (with --model).

    The endpoint URL is boto3's: AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME (or AWS_ENDPOINT_URL) for the local server.
    """
    frame = _read_rows(file)
    labels = frame.pop(_ID_COLUMN).astype(str).tolist() if _ID_COLUMN in frame.columns else None
    from ml_model.artifact import load_artifact
    from ml_model.scoring.base import ReasonExplainer
    from ml_model.scoring.sagemaker import SageMakerScorer, runtime_client

    artifact: ModelArtifact | None = load_artifact(model) if model is not None else None
    client = runtime_client(timeout_s=30.0)
    card = _endpoint_card(endpoint, client, artifact)
    scorer = SageMakerScorer(
        endpoint,
        fallback=None,
        client=client,
        endpoint_card=card,
        max_attempts=3,
        explainer=ReasonExplainer(artifact.booster, artifact.spec) if artifact is not None else None,
    )
    with scorer:
        result = scorer.score_frame(frame)
    threshold = card.threshold if card is not None else None
    rows: list[dict[str, Any]] = [
        {
            "row": labels[i] if labels is not None else str(i),
            "score": float(result["score"].iloc[i]),
            "alert": None if threshold is None else bool(result["score"].iloc[i] >= threshold),
            "reasons": list(result["reasons"].iloc[i]),
            "model_version": str(result["model_version"].iloc[i]),
            "scored_by": str(result["scored_by"].iloc[i]),
        }
        for i in range(len(result))
    ]
    console = Console()
    if as_json:
        for row in rows:
            console.print_json(json.dumps(row), indent=None)
        return
    table = Table(title=f"endpoint {endpoint}", title_justify="left")
    for column in ("row", "score", "alert", "reasons"):
        table.add_column(column, justify="right" if column == "score" else "left")
    for row in rows:
        alert = "" if row["alert"] is None else ("ALERT" if row["alert"] else "-")
        table.add_row(str(row["row"]), f"{row['score']:.6f}", alert, ", ".join(row["reasons"]) or "-")
    console.print(table)


def _endpoint_card(endpoint: str, client: Any, artifact: ModelArtifact | None) -> ModelCard | None:
    import botocore.exceptions

    from fraudstream.exceptions import FraudstreamError
    from ml_model.scoring.sagemaker import endpoint_model_card

    try:
        return endpoint_model_card(endpoint, client)
    except (FraudstreamError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        # NOTE: reading the card needs sagemaker:Describe* and s3:GetObject on AWS; without them the
        # spec check falls back to the --model artifact, which the user says is the endpoint's.
        logger.warning("cannot read the endpoint's model card", extra={"endpoint_name": endpoint, "error": str(e)})
        return artifact.card if artifact is not None else None


def _read_rows(file: Path | None) -> pd.DataFrame:
    import pandas as pd

    from ml_model.exceptions import FeatureColumnsError

    try:
        if file is None:
            return pd.read_csv(io.StringIO(sys.stdin.read()))
        suffix = file.suffix.lower()
        if suffix == ".csv":
            return pd.read_csv(file)
        text = file.read_text(encoding="utf-8")
        if suffix == ".jsonl":
            records: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            records = json.loads(text)
    except (OSError, ValueError) as e:
        raise FeatureColumnsError(f"cannot read rows from {file or 'stdin'}: {e}") from e
    if isinstance(records, dict):
        records = [records]
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise FeatureColumnsError(f"{file}: expected a JSON object or a list of objects, feature name -> value")
    # A key absent from one object is a missing value there; absent from every object, an error.
    return pd.DataFrame.from_records(records)
