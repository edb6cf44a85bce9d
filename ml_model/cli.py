"""Model commands for the root CLI: `serve` (the local SageMaker-compatible endpoint, in the
foreground, with an optional challenger variant) and `invoke` (score transactions or feature rows
against an endpoint, printing score, alert, reasons and the variant that answered).

`fraudstream/cli.py` imports this module only when one of these commands is run or listed (its
`_COMMANDS` table names each function), and registers the function as that command then.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ml_model.serving import DEFAULT_ENDPOINT_NAME, DEFAULT_PORT
from ml_model.train_cli import NAIVE_TIMES_UTC_HELP

if TYPE_CHECKING:
    from ml_model.artifact import ModelArtifact, ModelCard

__all__ = ["invoke", "serve"]

logger = logging.getLogger(__name__)
_ID_COLUMN = "transaction_id"
# The challenger's share of traffic when none is given (as the CDK app's endpoint default).
DEFAULT_CHALLENGER_WEIGHT = 0.1


def serve(
    model: Annotated[
        str, typer.Option("--model", help="Folder holding model.tar.gz, the tarball, or an s3:// URI of either.")
    ],
    port: Annotated[int, typer.Option(help="TCP port (0 picks a free one).")] = DEFAULT_PORT,
    name: Annotated[str, typer.Option(help="Endpoint name for `invoke_endpoint`.")] = DEFAULT_ENDPOINT_NAME,
    host: Annotated[str, typer.Option(help="Address to bind (no authentication: keep it on loopback).")] = "127.0.0.1",
    challenger: Annotated[
        str | None,
        typer.Option(
            "--challenger",
            help="A second model (folder, model.tar.gz or s3:// URI) served beside --model: the variants are then "
            "named champion (--model) and challenger. Both must be trained on the same feature spec.",
        ),
    ] = None,
    challenger_weight: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="With --challenger: its share of the traffic (0.1 sends 10% of the calls to the challenger, 90% to "
            f"the champion; 0 only the calls that name it with TargetVariant) [default: {DEFAULT_CHALLENGER_WEIGHT}].",
        ),
    ] = None,
) -> None:
    """Serve a model.tar.gz with the HTTP contract of SageMaker's XGBoost 3.2-0 container.

    `GET /ping`, `POST /invocations` and the runtime path `POST /endpoints/NAME/invocations`, so that
    boto3's sagemaker-runtime client reaches it with AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME. With
    --challenger, two production variants split the calls by weight as on SageMaker (a call's
    TargetVariant picks one); the same URL answers boto3's sagemaker client's DescribeEndpoint and
    UpdateEndpointWeightsAndCapacities (`fraudstream model promote` moves the traffic).
    """
    from ml_model.model_store import load_model_at
    from ml_model.serving.app import champion_and_challenger
    from ml_model.serving.server import LocalEndpointServer

    if challenger is None and challenger_weight is not None:
        raise typer.BadParameter("--challenger-weight is the challenger's share of the traffic: pass --challenger too")
    artifact = load_model_at(model)
    variants = champion_and_challenger(
        artifact,
        load_model_at(challenger) if challenger is not None else None,
        challenger_weight=DEFAULT_CHALLENGER_WEIGHT if challenger_weight is None else challenger_weight,
    )
    server = LocalEndpointServer(variants, host=host, port=port, endpoint_name=name).bind()
    console = Console()
    console.print(f"{server.url}", highlight=False)
    served = ", ".join(
        f"{v.name} (model {v.artifact.card.model_version}, {v.weight:.0%} of the traffic)"
        for v in variants
        if v.artifact is not None
    )
    console.print(
        f"serving {served} as endpoint [bold]{name}[/]; "
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
            help="Transactions: .jsonl or .json (events with schema_version, as the producer writes them) or .csv "
            "in the batch-input schema; or feature rows: .csv with a header, .json, .jsonl. Stdin (CSV) when absent.",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="The endpoint's artifact (a folder, a model.tar.gz or an s3:// URI): its model computes the "
            "reasons locally.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per row instead of a table.")] = False,
    label_delay_days: Annotated[
        float | None,
        typer.Option(
            help="Label delay of the terminal features (transactions only): must be the endpoint model's "
            "[default: its model card's, else --model's]."
        ),
    ] = None,
    history: Annotated[
        str | None,
        typer.Option(
            help="Compute the transactions' features over this history too, as the stream did: 'lake' (the lake's "
            "transactions/, what the processor saw), an s3:// prefix or folder of it, or a batch-input file "
            "(CSV or Parquet). Without it, over the file's own rows only.",
        ),
    ] = None,
    naive_times_utc: Annotated[
        bool,
        typer.Option(
            "--naive-times-utc", help=f"{NAIVE_TIMES_UTC_HELP} For a CSV of transactions and a --history file."
        ),
    ] = False,
    variant: Annotated[
        str | None,
        typer.Option(
            "--variant",
            help="Send every call to this production variant (TargetVariant: champion, challenger, AllTraffic, ...) "
            "instead of letting the endpoint split them by weight.",
        ),
    ] = None,
) -> None:
    """Score transactions (or feature rows) directly against an endpoint (SageMaker on AWS, or
    `fraudstream serve`), printing per transaction its score, whether it alerts, and its top 3 reasons.

    Transactions get their features computed here, over the file's own rows (or with --history lake
    over the lake's transactions too, to reproduce a stream's score), with the same code as
    training and the stream; exactly the feature spec's columns go to the endpoint. Rows keep the
    file's order; the card history column counts each card's earlier transactions the features saw.
    Reasons come
    from the model itself, so they need --model (the endpoint's artifact). The endpoint URL is
    boto3's: AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME (or AWS_ENDPOINT_URL) for the local server. Each row
    says which production variant answered (and alerts at that variant's model's threshold).
    """
    from ml_model._input_rows import read_input_rows
    from ml_model.features import FEATURE_SPEC
    from ml_model.model_store import load_model_at
    from ml_model.scoring.base import ReasonExplainer
    from ml_model.scoring.sagemaker import SageMakerScorer, runtime_client

    artifact: ModelArtifact | None = load_model_at(model) if model is not None else None
    earlier = _history(history, naive_times_utc=naive_times_utc) if history is not None else None
    client = runtime_client(timeout_s=30.0)
    card = _endpoint_card(endpoint, client, artifact)
    variant_cards = _variant_cards(endpoint, client)
    # The features are computed with the label delay of the endpoint's model (its card's spec).
    spec = (card.spec() if card is not None else None) or (artifact.spec if artifact is not None else None)
    if spec is None or not FEATURE_SPEC.same_code(spec):
        spec = FEATURE_SPEC  # a model of other features: the scorer's check below reports it
    delay = spec.label_delay_for(label_delay_days, model=f"endpoint {endpoint}'s model")
    rows_in = read_input_rows(file, label_delay_days=delay, history=earlier, naive_times_utc=naive_times_utc)
    if history is not None and not rows_in.from_transactions:
        raise typer.BadParameter("the file holds feature rows, scored as they are: --history is for transactions")
    scorer = SageMakerScorer(
        endpoint,
        fallback=None,
        client=client,
        spec=FEATURE_SPEC.with_label_delay(delay),
        endpoint_card=card,
        max_attempts=3,
        explainer=ReasonExplainer(artifact.booster, artifact.spec) if artifact is not None else None,
        target_variant=variant,
        variant_cards=variant_cards,
    )
    with scorer:
        result = scorer.score_frame(rows_in.features)
    threshold = card.threshold if card is not None else None
    # A row alerts at the threshold of the model that scored it: its variant's, else the endpoint card's.
    thresholds = {name: c.threshold for name, c in variant_cards.items()}
    ids = rows_in.ids
    rows: list[dict[str, Any]] = []
    for i in range(len(result)):
        score = float(result["score"].iloc[i])
        answered_by = result["model_variant"].iloc[i]
        row_threshold = thresholds.get(answered_by, threshold) if answered_by is not None else threshold
        row: dict[str, Any] = {"row": ids[i] if ids is not None else str(i)}
        if ids is not None:
            row[_ID_COLUMN] = ids[i]
        if rows_in.card_history is not None:
            row["card_history"] = rows_in.card_history[i]
        row |= {
            "score": score,
            "alert": None if row_threshold is None else bool(score >= row_threshold),
            # None: not computed (no --model); []: the model finds nothing that pushes the score up.
            "reasons": list(result["reasons"].iloc[i]) if artifact is not None else None,
            "model_version": str(result["model_version"].iloc[i]),
            "model_variant": answered_by,
            "scored_by": str(result["scored_by"].iloc[i]),
        }
        rows.append(row)
    console = Console()
    if as_json:
        for row in rows:
            console.print_json(json.dumps(row), indent=None)
        return
    table = Table(title=f"endpoint {endpoint}", title_justify="left")
    columns = [_ID_COLUMN if ids is not None else "row"]
    columns += ["card history"] if rows_in.card_history is not None else []
    for column in (*columns, "score", "alert", "reasons", "variant"):
        table.add_column(column, justify="right" if column in ("score", "card history") else "left", overflow="fold")
    for row in rows:
        alert = "?" if row["alert"] is None else ("yes" if row["alert"] else "no")
        reasons = "(needs --model)" if row["reasons"] is None else (", ".join(row["reasons"]) or "-")
        counts = [str(row["card_history"])] if "card_history" in row else []
        table.add_row(str(row["row"]), *counts, f"{row['score']:.6f}", alert, reasons, row["model_variant"] or "-")
    console.print(table)
    answered: dict[str, tuple[str, int]] = {}
    for row in rows:
        if row["model_variant"] is not None:
            _, count = answered.get(row["model_variant"], (row["model_version"], 0))
            answered[row["model_variant"]] = (row["model_version"], count + 1)
    if answered:
        console.print(
            "answered by: "
            + ", ".join(f"variant {name} (model {version}): {n} row(s)" for name, (version, n) in answered.items()),
            highlight=False,
        )
    if rows_in.from_transactions:
        if history is None:
            console.print(
                f"features: over the file's own {len(rows)} transactions (card history: each card's earlier ones "
                "among them); --history lake computes them over the lake's transactions too, as the stream did",
                highlight=False,
            )
        else:
            console.print(
                f"features: over the file's transactions and {rows_in.history_rows:,} of history ({history})",
                highlight=False,
            )
    if len(thresholds) > 1:
        console.print(
            "alert: score >= "
            + ", ".join(f"{c.threshold:.6f} for {name} (model {c.model_version})" for name, c in variant_cards.items()),
            highlight=False,
        )
    elif threshold is not None:
        console.print(f"alert: score >= {threshold:.6f} (model {card.model_version if card else '?'})", highlight=False)
    else:
        console.print("alert: unknown (no model card for the endpoint; pass --model to use the artifact's threshold)")
    if artifact is None:
        console.print("reasons: need --model DIR (the endpoint's artifact); they are computed locally from its model")


def _history(location: str, *, naive_times_utc: bool = False) -> Any:
    """The transactions of `--history`: 'lake' is the lake bucket's transactions/ (read as the
    processor's `--history` reads it)."""
    from processor.history import read_history

    if location == "lake":
        from fraudstream.config import ResourceSettings

        location = f"s3://{ResourceSettings().lake_bucket}/transactions/"
    return read_history(location, naive_times_utc=naive_times_utc)


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


def _variant_cards(endpoint: str, client: Any) -> dict[str, ModelCard]:
    """The card of each production variant, for its threshold and version; empty when they cannot be read
    (the endpoint card's threshold then applies to every row)."""
    import botocore.exceptions

    from fraudstream.exceptions import FraudstreamError
    from ml_model.scoring.sagemaker import endpoint_variant_cards

    try:
        return endpoint_variant_cards(endpoint, client)
    except (FraudstreamError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        logger.warning("cannot read the variants' model cards", extra={"endpoint_name": endpoint, "error": str(e)})
        return {}
