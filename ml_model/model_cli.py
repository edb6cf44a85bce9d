"""`fraudstream model ...`: what happens to a trained artifact.

`fraudstream/cli.py` imports this module only when `fraudstream model` is run or listed (its
`_COMMANDS` table names this app), and adds the app as the `model` group then.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app"]

app = typer.Typer(
    help="Model artifacts: publish a trained model.tar.gz to the lake bucket.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@app.command()
def publish(
    model: Annotated[Path, typer.Option("--model", help="Folder holding model.tar.gz (or the tarball).")],
    bucket: Annotated[
        str | None, typer.Option(help="Lake bucket (default: FRAUD_LAKE_BUCKET, else fraudstream-lake).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace a different artifact already published under the same model version.")
    ] = False,
) -> None:
    """Upload model.tar.gz and its model card to `s3://BUCKET/models/MODEL_VERSION/`.

    Against whatever endpoint boto3 is configured for (the embedded emulator, LocalStack or AWS).
    Publishing the same artifact again changes nothing.
    """
    from rich.console import Console

    from fraudstream.config import ResourceSettings
    from ml_model.model_store import publish_artifact

    published = publish_artifact(model, bucket or ResourceSettings().lake_bucket, overwrite=overwrite)
    state = "published" if published.uploaded else "already published (identical)"
    Console().print(
        f"model {published.model_version} {state}: {published.model_url} "
        f"(card: s3://{published.bucket}/{published.card_key})",
        highlight=False,
        soft_wrap=True,
    )
