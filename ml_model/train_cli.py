"""`fraudstream train`: a time-ordered training run that writes a SageMaker-ready model.tar.gz."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["score", "train"]


def train(
    out: Annotated[Path, typer.Option(help="Folder for model.tar.gz, metrics.json and the plots.")],
    data: Annotated[Path | None, typer.Option(help="CSV/Parquet in the batch-input schema, with is_fraud.")] = None,
    generate: Annotated[int | None, typer.Option(help="Instead of --data: days of synthetic history.")] = None,
    column_map: Annotated[list[str] | None, typer.Option(help="With --data: FIELD=COLUMN (repeat).")] = None,
    train_start: Annotated[
        str | None, typer.Option(help="First training day (default: 14 days into the data).")
    ] = None,
    train_days: Annotated[int, typer.Option(help="Training days (the last --validation-days validate).")] = 49,
    validation_days: Annotated[int, typer.Option(help="Validation days: early stopping and the threshold.")] = 14,
    delay_days: Annotated[int, typer.Option(help="Gap between training and test (the label delay).")] = 7,
    test_days: Annotated[int, typer.Option(help="Test days.")] = 21,
    folds: Annotated[int, typer.Option(help="Hyperparameter search: prequential validation folds.")] = 3,
    fold_days: Annotated[int, typer.Option(help="Days per search fold (the folds end with the training days).")] = 7,
    seed: Annotated[int, typer.Option(help="Seed of the generator and of XGBoost.")] = 42,
) -> None:
    """Train and evaluate an XGBoost model the way fraud teams validate, and write its artifact.

    Periods in time order: training (its last days validate: early stopping and the alert
    threshold), a label-delay gap, then the test period the metrics come from. The hyperparameters
    are searched with prequential validation: consecutive folds at the end of the training days,
    each scored by a model trained only on the days labelled before it (expanding window).
    """
    import json

    from rich.console import Console
    from rich.table import Table

    from fraudstream.batch_files import parse_column_map, read_batch_file
    from fraudstream.exceptions import BatchFileError
    from ml_model.artifact import write_artifact
    from ml_model.features import FEATURE_SPEC
    from ml_model.plots import write_plots
    from ml_model.training import TrainingConfig
    from ml_model.training import train as run_training

    if (data is None) == (generate is None):
        raise typer.BadParameter("give either --data FILE or --generate DAYS")
    console = Console()
    if data is not None:
        history = read_batch_file(data, parse_column_map(column_map))
        if "is_fraud" not in history:
            raise BatchFileError(f"{data}: training needs the is_fraud column (0/1)")
    else:
        from producer.generator import GeneratorConfig, generate_history

        with console.status(f"generating {generate} days of synthetic transactions"):
            history = generate_history(GeneratorConfig(seed=seed), date(2026, 1, 1), int(generate or 0))
    first_day = history["event_time"].min().date()
    start = date.fromisoformat(train_start) if train_start else first_day.fromordinal(first_day.toordinal() + 14)
    config = TrainingConfig(
        train_start=start,
        train_days=train_days,
        validation_days=validation_days,
        delay_days=delay_days,
        test_days=test_days,
        folds=folds,
        fold_days=fold_days,
        seed=seed,
    )
    with console.status(f"computing features and training on {len(history):,} transactions"):
        try:
            result = run_training(history, config)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from e
    out.mkdir(parents=True, exist_ok=True)
    version = f"xgb-{FEATURE_SPEC.hash[:8]}-{start.isoformat()}-s{seed}"
    path = write_artifact(result.booster, FEATURE_SPEC, result.card(version), out)
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


def score(
    model: Annotated[Path, typer.Option(help="Folder holding model.tar.gz (or the tarball).")],
    data: Annotated[Path, typer.Option(help="CSV/Parquet in the batch-input schema.")],
    out: Annotated[Path, typer.Option(help="Parquet file for the scored rows.")],
    column_map: Annotated[list[str] | None, typer.Option(help="FIELD=COLUMN for other column names (repeat).")] = None,
    label_delay_days: Annotated[float, typer.Option(help="Label delay for the terminal features.")] = 7.0,
) -> None:
    """Score a whole file: features over its full history, one score per row, reasons for alerts.

    Also the batch fallback and the way to re-score history with a new model. Terminal risk uses the
    file's is_fraud column when it has one (chargebacks known within the label delay).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from rich.console import Console

    from fraudstream.batch_files import parse_column_map, read_batch_file
    from ml_model.artifact import load_artifact
    from ml_model.features import compute_features
    from ml_model.scoring.local import LocalXGBoostScorer

    artifact = load_artifact(model)
    history = read_batch_file(data, parse_column_map(column_map))
    features = compute_features(history, label_delay_days=label_delay_days)
    scored = LocalXGBoostScorer(artifact, scored_by="batch").setup().score_frame(features)
    rows = history.join(features.drop(columns=["amount"])).join(scored)
    rows["is_alert"] = rows["score"] >= artifact.card.threshold
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), out, compression="zstd")
    Console().print(
        f"scored {len(rows):,} rows with {artifact.card.model_version}: {int(rows['is_alert'].sum()):,} alerts "
        f"(threshold {artifact.card.threshold:.4f}) -> {out}",
        highlight=False,
    )
