"""`fraudstream train`: a time-ordered training run that writes a SageMaker-ready model.tar.gz,
here or as a SageMaker training job (`--on sagemaker`), and `fraudstream score`."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ml_model.types import ValidationPlacement

if TYPE_CHECKING:
    import boto3
    import pandas as pd
    from rich.console import Console

    from ml_model.lake_training import LakeTrainingSet
    from ml_model.training import TrainingConfig, TrainingResult

__all__ = ["TrainTarget", "score", "train"]

# The help of --skip-invalid, also on `produce --from`.
_SKIP_INVALID_HELP = (
    "Skip rows that break the batch-input contract instead of refusing the file, and report them "
    "(count per reason, first row numbers)."
)
# The help of --naive-times-utc, on every command that reads a batch file of transactions.
NAIVE_TIMES_UTC_HELP = (
    "Read event times written without a UTC offset (text like 2026-01-01T10:00:00, or a Parquet timestamp "
    "without a zone) as UTC, instead of refusing the file."
)


class TrainTarget(StrEnum):
    """Where the final model is fitted."""

    LOCAL = "local"
    SAGEMAKER = "sagemaker"


def train(
    out: Annotated[Path, typer.Option(help="Folder for model.tar.gz, metrics.json and the plots.")],
    data: Annotated[Path | None, typer.Option(help="CSV/Parquet in the batch-input schema, with is_fraud.")] = None,
    generate: Annotated[int | None, typer.Option(help="Instead of --data: days of synthetic history.")] = None,
    from_lake: Annotated[
        bool,
        typer.Option(
            "--from-lake",
            help="Instead of --data: the lake's transactions/ (bucket FRAUD_LAKE_BUCKET, else fraudstream-lake; "
            "embedded emulator, LocalStack or AWS as boto3 is configured) labelled with its labels/ as known at the "
            "label cut-off, the newest chargeback's label_time: a transaction older than --label-delay-days at the "
            "cut-off is labelled by its chargeback's newest verdict, or genuine without one; a newer one is left out "
            "(only its frauds would be known yet). The card records the range and the cut-off.",
        ),
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            help="With --from-lake: first event day (YYYY-MM-DD, UTC) trained on, where the training window starts; "
            "the days before it that the features' windows reach back to are read as their history."
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="With --from-lake: last event day (YYYY-MM-DD, UTC, included) of transactions read."),
    ] = None,
    regime_change_day: Annotated[
        str | None,
        typer.Option(
            help="With --generate: from this day (YYYY-MM-DD; the history starts 2026-01-01) the world's "
            "compromised cards go low and slow: close to their usual amounts, almost all online."
        ),
    ] = None,
    column_map: Annotated[list[str] | None, typer.Option(help="With --data: FIELD=COLUMN (repeat).")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help=f"{_SKIP_INVALID_HELP} With --data.")] = False,
    naive_times_utc: Annotated[
        bool, typer.Option("--naive-times-utc", help=f"{NAIVE_TIMES_UTC_HELP} With --data.")
    ] = False,
    train_start: Annotated[
        str | None,
        typer.Option(
            help="First training day (default: 14 days into the data, plus the days --validation before needs)."
        ),
    ] = None,
    train_days: Annotated[
        int, typer.Option(help="Training days (with --validation inside, the last --validation-days validate).")
    ] = 49,
    validation_days: Annotated[int, typer.Option(help="Validation days: early stopping and the threshold.")] = 14,
    validation: Annotated[
        ValidationPlacement,
        typer.Option(
            help="Where the validation days and search folds lie. inside: the last --validation-days of the "
            "--train-days. before: the days just before the training window (all of it is fitted), each scored by "
            "a model fitted on --train-days days ending --delay-days before them; for short windows, e.g. "
            "--train-days 7 --validation-days 7 --validation before.",
            case_sensitive=False,
        ),
    ] = ValidationPlacement.INSIDE,
    delay_days: Annotated[int, typer.Option(help="Gap between training and test (the label delay).")] = 7,
    test_days: Annotated[int, typer.Option(help="Test days.")] = 21,
    label_delay_days: Annotated[
        float,
        typer.Option(
            help="Days until a transaction's chargeback is known (whole hours): the terminal features' shift, "
            "recorded in the feature spec; the stream and batch scoring take it from the model."
        ),
    ] = 7.0,
    folds: Annotated[int, typer.Option(help="Hyperparameter search: prequential validation folds.")] = 3,
    fold_days: Annotated[
        int,
        typer.Option(
            help="Days per search fold (the folds end with the training days, or where they start with "
            "--validation before)."
        ),
    ] = 7,
    seed: Annotated[int, typer.Option(help="Seed of the generator and of XGBoost.")] = 42,
    search_budget: Annotated[
        int,
        typer.Option(
            help="Hyperparameter search: candidates tried on every fold, drawn at random (by --seed) over max_depth, "
            "eta, scale_pos_weight, subsample, colsample_bytree and min_child_weight, each with early stopping "
            "(the rounds); the first is always the default candidate. The model card records them all."
        ),
    ] = 4,
    quick: Annotated[
        bool,
        typer.Option(help="Search one candidate (the default) on one fold: ~4x faster than the default (demo, CI)."),
    ] = False,
    on: Annotated[
        TrainTarget, typer.Option(help="Fit the final model here, or as a SageMaker training job (built-in XGBoost).")
    ] = TrainTarget.LOCAL,
    role_arn: Annotated[
        str | None,
        typer.Option(envvar="FRAUD_SAGEMAKER_ROLE_ARN", help="With --on sagemaker: the job's execution role."),
    ] = None,
    instance_type: Annotated[str, typer.Option(help="With --on sagemaker: the training instance.")] = "ml.m5.xlarge",
    bucket: Annotated[
        str | None,
        typer.Option(
            help="With --on sagemaker or --from-lake: lake bucket (default: FRAUD_LAKE_BUCKET, else fraudstream-lake)."
        ),
    ] = None,
    job_name: Annotated[str | None, typer.Option(help="With --on sagemaker: the training job's name.")] = None,
    wait: Annotated[
        bool,
        typer.Option(help="With --on sagemaker: wait for the job, repack its model into --out and publish it."),
    ] = False,
) -> None:
    """Train and evaluate an XGBoost model the way fraud teams validate, and write its artifact.

    Periods in time order: training (its last days validate: early stopping and the alert
    threshold), a label-delay gap, then the test period the metrics come from. The hyperparameters
    are searched with prequential validation: consecutive folds at the end of the training days,
    each scored by a model trained only on the days labelled before it (expanding window).

    `--validation before` fits the whole training window and takes the validation days and the
    folds from the days just before it, each scored by a model fitted on a window as long as the
    training window that ends --delay-days before it; the final model gets the validation model's
    rounds and threshold (the short windows of the fraud literature: `--train-days 7
    --validation-days 7 --validation before`).

    `--from-lake [--since DAY] [--until DAY]` trains on the lake's transactions/ as labelled by its
    labels/ at the label cut-off (the newest chargeback's label_time): once --label-delay-days have
    passed by the cut-off, a transaction's newest chargeback labels it, and without one it is
    genuine; before, it is left out. The model card records the range read and the cut-off. With
    --since, the training window starts on that day, and the days before it that the features' windows
    reach back to (30 days plus the label delay and one) are read as their history, not trained on.

    `--on sagemaker` computes the features and the search here, writes the training and validation
    CSV to `s3://BUCKET/training/JOB/` and starts a training job with SageMaker's built-in XGBoost
    3.2-0 and the chosen hyperparameters; `--wait` then repacks the job's model into this project's
    artifact (threshold and test metrics computed here, as locally) and publishes it.
    """
    from rich.console import Console

    if (data is not None) + (generate is not None) + from_lake != 1:
        raise typer.BadParameter("give one of --data FILE, --generate DAYS or --from-lake")
    if (since or until) and not from_lake:
        raise typer.BadParameter("--since and --until are for --from-lake")
    lake_range = (_day(since, "--since"), _day(until, "--until"))
    if regime_change_day and generate is None:
        raise typer.BadParameter("--regime-change-day is for --generate")
    if on is TrainTarget.SAGEMAKER and not role_arn:
        raise typer.BadParameter("--on sagemaker needs --role-arn (or FRAUD_SAGEMAKER_ROLE_ARN): the job's role")
    if on is TrainTarget.LOCAL and wait:
        raise typer.BadParameter("--wait is for --on sagemaker")
    if on is TrainTarget.SAGEMAKER and validation is ValidationPlacement.BEFORE:
        raise typer.BadParameter(
            "--on sagemaker stops early on validation days inside the training days: use --validation inside"
        )
    console = Console()
    preflight = _sagemaker_preflight(bucket) if on is TrainTarget.SAGEMAKER else None
    lake_set = None
    if from_lake:
        lake_set = _lake_history(bucket, label_delay_days, *lake_range, console)
        history = lake_set.transactions
    else:
        history = _history(
            data,
            generate,
            column_map,
            seed,
            console,
            skip_invalid=skip_invalid,
            naive_times_utc=naive_times_utc,
            regime_change_day=regime_change_day,
        )
    first_day = history["event_time"].min().date()
    from ml_model.training import TrainingConfig

    config = TrainingConfig(
        train_start=date.fromisoformat(train_start) if train_start else first_day,
        train_days=train_days,
        validation_days=validation_days,
        validation=validation,
        delay_days=delay_days,
        test_days=test_days,
        label_delay_days=label_delay_days,
        folds=folds,
        fold_days=fold_days,
        seed=seed,
        search_budget=search_budget,
    )
    if quick:
        config = replace(config, search_budget=1, folds=1)
    if not train_start and lake_set is not None and lake_set.since is not None:
        # --since: the windows' history was read before it (`_lake_history`), so training starts there
        config = replace(config, train_start=lake_set.since + timedelta(days=config.lead_days()))
    elif not train_start:  # 14 warm-up days (the 30-day windows fill), then what the validation needs before
        config = replace(config, train_start=first_day + timedelta(days=14 + config.lead_days()))
    try:
        config.check()
        config.candidates()
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    if preflight is not None:
        _train_on_sagemaker(
            history, config, out, console, preflight, role_arn or "", instance_type, job_name, wait, lake_set
        )
        return
    from ml_model.training import train as run_training

    with console.status(f"computing features and training on {len(history):,} transactions"):
        try:
            result = run_training(history, config)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from e
    _write_outputs(result, _model_version(config), config, out, console, lake_set)


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise typer.BadParameter(f"{option}: {e} (give YYYY-MM-DD)") from e


def _lake_history(
    bucket: str | None, label_delay_days: float, since: date | None, until: date | None, console: Console
) -> LakeTrainingSet:
    """The lake's labelled transactions (`ml_model.lake_training`), and one line on how they were labelled.

    With `since`, the transactions of the days before it that the features' windows reach back to are
    read too (as `model compare` reads them), so that the first training days' features are the ones
    the stream computed; they are history only (the training window starts at `since`)."""
    from fraudstream.config import ResourceSettings
    from ml_model.comparison import history_days
    from ml_model.feature_spec import label_delay_hours
    from ml_model.lake_training import CUTOFF_SOURCE, read_lake_training_set

    try:
        label_delay_hours(label_delay_days)
    except ValueError as e:
        raise typer.BadParameter(f"--label-delay-days: {e}") from e
    lake = bucket or ResourceSettings().lake_bucket
    with console.status(f"reading transactions/ and labels/ of s3://{lake}"):
        found = read_lake_training_set(
            lake,
            label_delay_days=label_delay_days,
            since=since,
            until=until,
            history_days=history_days(label_delay_days) if since is not None else 0,
        )
    console.print(
        f"s3://{lake}: {len(found.transactions):,} labelled transactions "
        f"({found.data_ranges()['lake_first_event']} .. {found.data_ranges()['lake_last_event']}): "
        f"{found.fraud_by_chargeback:,} fraud and {found.genuine_by_chargeback:,} genuine by chargeback, "
        f"{found.genuine_by_delay:,} genuine after the {label_delay_days:g}-day label delay; "
        f"{found.left_out_pending:,} left out (label not known yet); "
        f"label cut-off {found.label_cutoff.isoformat()} ({CUTOFF_SOURCE})",
        highlight=False,
        soft_wrap=True,
    )
    if since is not None:
        before = int((~found.in_range()).sum())
        first = found.transactions["event_time"].min().date()
        full_from = since - timedelta(days=found.history_days)
        missing = f"; the lake starts on {first}: the first days' features miss part of it" if first > full_from else ""
        console.print(
            f"{before:,} of them before --since {since} ({found.history_days} days, from {full_from}): the features' "
            f"history, not trained on{missing}",
            highlight=False,
            soft_wrap=True,
        )
    return found


def _history(
    data: Path | None,
    generate: int | None,
    column_map: list[str] | None,
    seed: int,
    console: Console,
    *,
    skip_invalid: bool = False,
    naive_times_utc: bool = False,
    regime_change_day: str | None = None,
) -> pd.DataFrame:
    from fraudstream.batch_files import load_batch_file, parse_column_map
    from fraudstream.exceptions import BatchFileError

    if data is not None:
        loaded = load_batch_file(
            data, parse_column_map(column_map), skip_invalid=skip_invalid, naive_times_utc=naive_times_utc
        )
        if skip_invalid:
            console.print(f"{data}: {loaded.invalid.summary()}", highlight=False, soft_wrap=True)
        history = loaded.frame
        if "is_fraud" not in history:
            raise BatchFileError(f"{data}: training needs the is_fraud column (0/1)")
        return history
    from synthetic.generator import GeneratorConfig, RegimeChange, generate_history

    try:
        change = RegimeChange(day=date.fromisoformat(regime_change_day)) if regime_change_day else None
    except ValueError as e:
        raise typer.BadParameter(f"--regime-change-day: {e}") from e
    with console.status(f"generating {generate} days of synthetic transactions"):
        return generate_history(GeneratorConfig(seed=seed, regime_change=change), date(2026, 1, 1), int(generate or 0))


def _model_version(config: TrainingConfig, suffix: str = "") -> str:
    version = f"xgb-{config.spec.hash[:8]}-{config.train_start.isoformat()}-s{config.seed}"
    return f"{version}-{suffix}" if suffix else version


def _write_outputs(
    result: TrainingResult,
    version: str,
    config: TrainingConfig,
    out: Path,
    console: Console,
    lake_set: LakeTrainingSet | None = None,
) -> Path:
    """model.tar.gz, metrics.json and the plots in `out`; the test figures and the search on the terminal.

    Trained from the lake, the card's data ranges also hold the range read and the label cut-off, and its
    extra the labelling's counts (`lake`)."""
    from rich.table import Table

    from ml_model.artifact import write_artifact
    from ml_model.plots import write_plots

    out.mkdir(parents=True, exist_ok=True)
    card = result.card(version)
    if lake_set is not None:
        card = replace(
            card,
            data_ranges={**card.data_ranges, **lake_set.data_ranges()},
            extra={**card.extra, "trained_from": "lake", "lake": lake_set.summary()},
        )
    path = write_artifact(result.booster, result.spec, card, out)
    search = result.search.to_dict() if result.search is not None else None
    (out / "metrics.json").write_text(
        json.dumps({"model_version": version, **result.metrics, "search": search}, indent=2) + "\n"
    )
    plots = write_plots(result.test_labels, result.test_scores, result.threshold, out)
    table = Table(title=f"test period {config.periods()['test_start']} .. {config.periods()['test_end']}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in ("auc_roc", "average_precision", "precision", "recall", "f1", "card_precision_at_100", "threshold"):
        table.add_row(name, f"{result.metrics[name]:.4f}")
    console.print(table)
    if result.search is not None:
        best = result.search.best
        console.print(
            f"search: {len(result.search.candidates)} candidates x {len(result.search.folds)} prequential folds; "
            f"chosen {best.params} (mean average precision {best.mean_average_precision:.4f})",
            highlight=False,
        )
    console.print(f"model {version}: {path}; metrics.json and {len(plots)} plots in {out}", highlight=False)
    return path


def _sagemaker_preflight(bucket: str | None) -> tuple[boto3.Session, str, str]:
    """Fail before any data is read: no SDK, no algorithm image in the region, no bucket.

    Returns:
        The session, the lake bucket and the algorithm's image URI.
    """
    from fraudstream.aws import default_session
    from fraudstream.config import ResourceSettings
    from ml_model.model_store import require_bucket
    from ml_model.sagemaker_training import xgboost_image_uri

    session = default_session()
    lake = bucket or ResourceSettings().lake_bucket
    image = xgboost_image_uri(session.region_name or "us-east-1")
    require_bucket(lake, session=session)
    return session, lake, image


def _train_on_sagemaker(
    history: pd.DataFrame,
    config: TrainingConfig,
    out: Path,
    console: Console,
    preflight: tuple[boto3.Session, str, str],
    role_arn: str,
    instance_type: str,
    job_name: str | None,
    wait: bool,
    lake_set: LakeTrainingSet | None = None,
) -> None:
    import math

    from ml_model.model_store import publish_artifact
    from ml_model.sagemaker_training import SageMakerJobSettings, download_model, start_training_job
    from ml_model.training import TrainingResult, evaluate, prepare, prequential_search, training_params

    session, lake, image = preflight
    with console.status(f"computing features and the hyperparameter search on {len(history):,} transactions"):
        try:
            config.prequential_folds()
            prepared = prepare(history, config)
            search = prequential_search(prepared.X, prepared.y, prepared.day, config)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from e
    settings = SageMakerJobSettings(role_arn=role_arn, bucket=lake, instance_type=instance_type, job_name=job_name)
    job = start_training_job(prepared, search, config, settings, session=session, image_uri=image)
    console.print(
        f"training job {job.name} started ({job.image_uri}, {job.train_rows:,} training and "
        f"{job.validation_rows:,} validation rows in s3://{job.bucket}/{job.prefix}); model: {job.model_url}",
        highlight=False,
        soft_wrap=True,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "sagemaker_job.json").write_text(
        json.dumps(
            {"training_job_name": job.name, "model_url": job.model_url, "hyperparameters": job.hyperparameters},
            indent=2,
        )
        + "\n"
    )
    if not wait:
        console.print("not waiting (--wait repacks and publishes the model when the job ends)", highlight=False)
        return
    with console.status(f"waiting for training job {job.name}"):
        booster, facts = download_model(job, session=session)
    threshold, metrics, test_scores = evaluate(booster, prepared)
    best_score = booster.attr("best_score")
    if best_score is not None and math.isfinite(float(best_score)):
        metrics["validation_aucpr"] = float(best_score)
    metrics["search_mean_average_precision"] = search.best.mean_average_precision
    result = TrainingResult(
        booster=booster,
        threshold=threshold,
        metrics=metrics,
        params=training_params(search.best.params, prepared.y[prepared.fit], config),
        periods=prepared.periods,
        test_scores=test_scores,
        test_labels=prepared.y[prepared.test],
        search=search,
        extra={"trained_on": "sagemaker", "sagemaker": facts},
        spec=config.spec,
    )
    _write_outputs(result, _model_version(config, job.name), config, out, console, lake_set)
    published = publish_artifact(out, lake, session=session)
    console.print(f"published {published.model_version}: {published.model_url}", highlight=False, soft_wrap=True)


def score(
    model: Annotated[Path, typer.Option(help="Folder holding model.tar.gz (or the tarball).")],
    data: Annotated[Path, typer.Option(help="CSV/Parquet in the batch-input schema.")],
    out: Annotated[Path, typer.Option(help="Parquet file for the scored rows.")],
    column_map: Annotated[list[str] | None, typer.Option(help="FIELD=COLUMN for other column names (repeat).")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help=_SKIP_INVALID_HELP)] = False,
    naive_times_utc: Annotated[bool, typer.Option("--naive-times-utc", help=NAIVE_TIMES_UTC_HELP)] = False,
    label_delay_days: Annotated[
        float | None,
        typer.Option(help="Label delay of the terminal features: must be the model's [default: the model's]."),
    ] = None,
) -> None:
    """Score a whole file: features over its full history, one score per row, reasons for alerts.

    Also the batch fallback and the way to re-score history with a new model. Terminal risk uses the
    file's is_fraud column when it has one (chargebacks known within the model's label delay).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from rich.console import Console

    from fraudstream.batch_files import load_batch_file, parse_column_map
    from fraudstream.contracts import ScoredBy
    from ml_model.artifact import load_artifact
    from ml_model.features import compute_features
    from ml_model.scoring.local import LocalXGBoostScorer

    artifact = load_artifact(model)
    delay = artifact.spec.label_delay_for(label_delay_days, model=f"model {artifact.card.model_version}")
    console = Console()
    loaded = load_batch_file(
        data, parse_column_map(column_map), skip_invalid=skip_invalid, naive_times_utc=naive_times_utc
    )
    if skip_invalid:
        console.print(f"{data}: {loaded.invalid.summary()}", highlight=False, soft_wrap=True)
    history = loaded.frame
    features = compute_features(history, label_delay_days=delay)
    scored = LocalXGBoostScorer(artifact, scored_by=ScoredBy.BATCH).setup().score_frame(features)
    rows = history.join(features.drop(columns=["amount"])).join(scored)
    rows["is_alert"] = rows["score"] >= artifact.card.threshold
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), out, compression="zstd")
    console.print(
        f"scored {len(rows):,} rows with {artifact.card.model_version}: {int(rows['is_alert'].sum()):,} alerts "
        f"(threshold {artifact.card.threshold:.4f}) -> {out}",
        highlight=False,
    )
