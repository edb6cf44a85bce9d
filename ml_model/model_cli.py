"""`fraudstream model ...`: what happens to a trained artifact: publish it, compare it with another.

`fraudstream/cli.py` imports this module only when `fraudstream model` is run or listed (its
`_COMMANDS` table names this app), and adds the app as the `model` group then.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ml_model.promotion import promote_command

if TYPE_CHECKING:
    from rich.console import Console

    from ml_model.comparison import Comparison

__all__ = ["app", "compare"]

app = typer.Typer(
    help="Model artifacts: publish a trained model.tar.gz to the lake bucket; compare a challenger with the "
    "champion; promote it: move an endpoint's traffic to its challenger.",
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


# What --champion and --challenger take.
_LOCATION_HELP = (
    "a folder holding model.tar.gz, the tarball, an s3:// URI of either, or a model version published with "
    "`fraudstream model publish` (s3://BUCKET/models/VERSION/)"
)


@app.command()
def compare(
    champion: Annotated[str, typer.Option(help=f"The model in service: {_LOCATION_HELP}.")],
    challenger: Annotated[str, typer.Option(help=f"The candidate: {_LOCATION_HELP}.")],
    since: Annotated[
        str | None,
        typer.Option(
            help="First event day of the period (YYYY-MM-DD, UTC) [default: the lake's first day plus the history "
            "the features' windows need, 30 days plus the label delay and one]."
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Last event day of the period (YYYY-MM-DD, UTC, included) [default: the last].")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for compare.json and compare.html (plots); nothing is written without.")
    ] = None,
    bucket: Annotated[
        str | None,
        typer.Option(
            help="Lake bucket, also of published versions (default: FRAUD_LAKE_BUCKET, else fraudstream-lake)."
        ),
    ] = None,
    label_delay_days: Annotated[
        float | None,
        typer.Option(
            help="Days until a transaction's chargeback is known, for labelling the period as train --from-lake does "
            "[default: the longer of the two models' label delays]."
        ),
    ] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples of the verdict's interval.")] = 1000,
    confidence: Annotated[float, typer.Option(help="Coverage of the verdict's interval.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap (the verdict is reproducible).")] = 0,
) -> None:
    """Score the same labelled lake period with the champion and the challenger, and say which is better.

    The period's transactions are labelled as `train --from-lake` labels them: by the chargebacks of
    labels/ known at the label cut-off (the newest label_time); a transaction without one is genuine
    once the label delay has passed by then, and left out before. Their features are computed with
    the training code over the period and the history before it that the windows need; each model
    scores them locally with its own booster and feature spec.

    Side by side: AUC ROC, average precision, precision, recall and F1 at each model's own alert
    threshold (its model card's), alerts, and card precision@100 (per day, of the 100 cards with the
    highest score the share with a fraud; averaged over the days).

    The verdict's rule: the primary metric is average precision (AP); a paired bootstrap over
    cards (cards with a fraud in the period and cards without drawn with replacement separately,
    every transaction of a drawn card scored by both models; --resamples, --seed) gives the
    --confidence interval of AP(challenger) - AP(champion): `challenger_better` when it lies above 0,
    `champion_better` when it lies below 0, else `tie`.

    With --out: compare.json (`champion`, `challenger`, `period`, `verdict`, `rule`; what `model
    promote --compare-report` reads) and compare.html (the table, both precision-recall curves and
    daily card precision@100).
    """
    from rich.console import Console

    from fraudstream.config import ResourceSettings
    from ml_model.comparison import (
        compare_models,
        history_days,
        local_scorer,
        read_period,
        resolve_model,
        write_outputs,
    )

    period = (_day(since, "--since"), _day(until, "--until"))
    if period[0] and period[1] and period[0] > period[1]:
        raise typer.BadParameter(f"--since {period[0]} is after --until {period[1]}")
    if resamples < 100:
        raise typer.BadParameter(f"--resamples must be at least 100, not {resamples}")
    if not 0.5 <= confidence < 1:
        raise typer.BadParameter(f"--confidence must be in [0.5, 1), not {confidence:g}")
    lake = bucket or ResourceSettings().lake_bucket
    console = Console()
    models = (champion, resolve_model(champion, bucket=lake)), (challenger, resolve_model(challenger, bucket=lake))
    for _, artifact in models:  # before the lake is read: a model this code cannot compute features for
        local_scorer(artifact)
    delays = [artifact.spec.label_delay_days for _, artifact in models]
    labelling_delay = label_delay_days if label_delay_days is not None else max(delays)
    _check_label_delay(labelling_delay)
    with console.status(f"reading transactions/ and labels/ of s3://{lake}"):
        lake_set = read_period(
            lake,
            label_delay_days=labelling_delay,
            feature_history_days=history_days(max(delays)),
            since=period[0],
            until=period[1],
        )
    with console.status("computing features and scoring the period with both models"):
        comparison = compare_models(
            *models, lake_set, bucket=lake, resamples=resamples, confidence=confidence, seed=seed
        )
    _print(comparison, console)
    if out is not None:
        report, page = write_outputs(comparison, out)
        console.print(f"{report} and {page} written", highlight=False, soft_wrap=True)


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date: give YYYY-MM-DD", param_hint=option) from None


def _check_label_delay(days: float) -> None:
    from ml_model.feature_spec import label_delay_hours

    try:
        label_delay_hours(days)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--label-delay-days") from e


def _print(comparison: Comparison, console: Console) -> None:
    """The period, the metrics side by side with the difference, the notes and the verdict line."""
    from rich.table import Table

    from ml_model.comparison import METRICS

    period = comparison.period
    console.print(
        f"period {period['since']} .. {period['last_event'][:10]} ({period['days']} days, lake "
        f"{period['lake']}): {period['rows']:,} labelled transactions, {period['frauds']:,} frauds on "
        f"{period['fraud_cards']:,} of {period['cards']:,} cards; label cut-off {period['label_cutoff']}, "
        f"{period['left_out_label_pending']:,} newer transactions left out (label not known yet)",
        highlight=False,
        soft_wrap=True,
    )
    champion, challenger = comparison.champion, comparison.challenger
    table = Table(title="champion vs challenger")
    table.add_column("metric")
    table.add_column(f"champion\n{champion.artifact.model_version}", justify="right")
    table.add_column(f"challenger\n{challenger.artifact.model_version}", justify="right")
    table.add_column("difference", justify="right")
    differences = comparison.differences()
    for name in METRICS:
        if name == "alerts":
            cells = [f"{champion.metrics[name]:,.0f}", f"{challenger.metrics[name]:,.0f}", f"{differences[name]:+,.0f}"]
        else:
            cells = [f"{champion.metrics[name]:.4f}", f"{challenger.metrics[name]:.4f}", f"{differences[name]:+.4f}"]
        table.add_row(name, *cells)
    table.add_row(
        "threshold (card)", f"{champion.metrics['threshold']:.4f}", f"{challenger.metrics['threshold']:.4f}", ""
    )
    console.print(table)
    for note in comparison.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    test = comparison.test
    console.print(
        f"verdict: {comparison.verdict.value} (average precision {test.difference:+.4f}, challenger - champion; "
        f"{test.confidence:.0%} interval [{test.low:+.4f}, {test.high:+.4f}] over {test.resamples} paired card "
        f"resamples, seed {test.seed})",
        highlight=False,
        soft_wrap=True,
    )


app.command("promote")(promote_command)
