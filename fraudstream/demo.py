"""`fraudstream demo`: the whole product on this machine, no Docker and no account needed."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from fraudstream.exceptions import FraudstreamError
from fraudstream.local import DEFAULT_PORT

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

    from fraudstream.config import ResourceSettings
    from ml_model.artifact import ModelArtifact, ModelCard
    from processor.config import ProcessorSettings
    from processor.job import JobSummary
    from processor.metrics import BatchMetrics
    from producer.stream_producer import RunSummary

__all__ = ["TrainingFailedError", "default_model", "demo"]

ENDPOINT_NAME = "fraud-detector"
# Chargebacks arrive within a day in the demo, so that two days of history show terminal risk. The
# model it trains is trained with this delay; a model given to it brings its own (its feature spec).
LABEL_DELAY_DAYS = 1.0
HISTORY_CARDS, HISTORY_TERMINALS = 2_000, 4_000
HISTORY_FRAUD_RATE = 0.006  # the generator's default, as in the model's training data
# The streamed world's past before the stream starts, which the processor's state starts from: the
# longest window (30 days) plus the label delay, so that the first streamed transactions get the
# features they get in training, where every transaction has its whole history.
WARM_DAYS = 30
# The world's simulation starts this long before the stream, so that the stream sees it settled
# (compromised terminals and cards come and go over weeks) as the model's test period saw its world,
# 38 to 91 days in: at 33 days in, the full model's recall on the streamed days was 0.88 against its
# card's 0.93; at 45 and 75 days in, 0.94 and 0.97 (eight days of the demo's world, computed offline,
# which the stream's features equal).
WORLD_AGE_DAYS = 60
# The real-time part is the same world's cards and terminals, whose state the stream has built,
# played this many times faster than real time so that a few transactions a second arrive (about
# 1.3/s from 2,000 cards; a card's next transaction is still hours of its time away).
LIVE_SPEEDUP = 25.0
# --quick: a short history, a short live part and a model trained without the full search.
QUICK_DAYS, QUICK_LIVE_S = 0.25, 5.0
# With no model, `fraudstream train` runs aside: what the user is told, and its options (by --quick).
TRAINING: dict[bool, tuple[str, list[str]]] = {
    False: (
        "a model on 98 days of synthetic history (about two minutes)",
        ["--generate", "98", "--label-delay-days", f"{LABEL_DELAY_DAYS:g}"],
    ),
    True: (
        "a quick model (one candidate) on 42 days of synthetic history (about half a minute)",
        ["--generate", "42", "--quick", "--train-days", "21", "--validation-days", "7"]
        + ["--delay-days", "3", "--test-days", "4", "--label-delay-days", f"{LABEL_DELAY_DAYS:g}"],
    ),
}

HOURLY_QUERY = "SELECT dt, hour, count(*) AS n, sum(CAST(is_alert AS INT)) AS alerts FROM transactions GROUP BY 1, 2"

console = Console()


class TrainingFailedError(FraudstreamError):
    """Raised when the model the demo trains in the background could not be trained."""


@dataclass
class _Progress:
    """What the live view and the summary show, from the producer (main thread), the model and the batches."""

    phase: str = "starting"
    model: str = "loading"  # what the model row shows
    training: tuple[float, Path] | None = None  # (monotonic start, log) while a model trains aside
    produced: RunSummary | None = None
    produced_before: int = 0  # transactions sent by the finished history run, during the live part
    batches: list[tuple[float, BatchMetrics]] = field(default_factory=list)
    truth: list[pd.DataFrame] = field(default_factory=list)  # is_fraud of what the producer generated

    def on_batch(self, metrics: BatchMetrics) -> None:
        self.batches.append((time.time(), metrics))

    def on_frame(self, frame: pd.DataFrame) -> None:
        self.truth.append(frame[["transaction_id", "is_fraud"]])

    def __rich__(self) -> Table:
        # Rebuilt at every refresh of the live view.
        return _live_table(self)


def demo(
    days: Annotated[float, typer.Option(help="Days of synthetic history to stream at full speed.")] = 2.0,
    live: Annotated[
        float, typer.Option(help="Seconds of real-time streaming after the history, at wall-clock event times.")
    ] = 20.0,
    quick: Annotated[
        bool,
        typer.Option(help=f"{QUICK_DAYS:g} days of history, {QUICK_LIVE_S:g} s live, a quickly trained model (CI)."),
    ] = False,
    model: Annotated[
        Path | None,
        typer.Option(
            help="Model folder; trained there first when it has no model.tar.gz. Default: model/, or with --quick "
            "and no model in model/, model-quick/ (a quick model never stands in for the full one)."
        ),
    ] = None,
    report: Annotated[Path, typer.Option(help="Where the HTML report goes.")] = Path("demo-report.html"),
    aws_endpoint_url: Annotated[
        str | None,
        typer.Option(help="Use this running emulator (`fraudstream local up`, LocalStack) instead of starting one."),
    ] = None,
    keep: Annotated[bool, typer.Option(help="Leave the embedded AWS running afterwards, to look around.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic world.")] = 42,
) -> None:
    """Run the whole pipeline end to end on this machine: no Docker, no AWS account.

    Starts the embedded AWS emulator and provisions the streams, bucket and table; serves the model
    of --model on a local endpoint with SageMaker's HTTP contract (if there is none, trains one
    there first, in the background while the stream starts, with the demo's label delay); streams
    --days of synthetic history (all five fraud scenarios, plus late, duplicate and malformed
    records) and their chargebacks as fast as the emulator takes them, into card and terminal state
    that starts from the same world's previous 30 days plus the label delay (so that the features
    are training's), then, once the model serves, --live seconds in real time, while the stream
    processor scores them; shows model, producer and processor figures live; then summarises what
    landed in the lake, the alerts table and the quarantine, checks the alerts against the
    generator's truth (precision and recall beside the model card's), and writes an HTML report.
    """
    from fraudstream.local.emulator import EmbeddedAws, PortInUseError

    if quick:
        days, live = QUICK_DAYS, QUICK_LIVE_S
    model = model or default_model(quick=quick)
    if days <= 0 or live < 0:
        raise typer.BadParameter("--days must be > 0 and --live >= 0")
    started = time.monotonic()
    embedded = aws_endpoint_url is None
    with contextlib.ExitStack() as running:  # stops the endpoint and the emulator, whatever happens
        if aws_endpoint_url is None:
            try:
                aws = EmbeddedAws(port=DEFAULT_PORT).start()
            except PortInUseError:
                aws = EmbeddedAws(port=0).start()
                console.print(f"[yellow]port {DEFAULT_PORT} is taken; the emulator uses {aws.port} instead[/]")
            running.callback(aws.stop)
            aws_endpoint_url = aws.endpoint_url
        os.environ.update(
            AWS_ENDPOINT_URL=aws_endpoint_url,
            AWS_ACCESS_KEY_ID=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            AWS_SECRET_ACCESS_KEY=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
            AWS_REGION="us-east-1",
            AWS_DEFAULT_REGION="us-east-1",
        )
        _run(days=days, live=live, quick=quick, model=model, report=report, seed=seed, running=running)
        console.print(f"demo finished in {time.monotonic() - started:.0f} s")
        if keep and embedded:
            _wait_for_ctrl_c(os.environ["AWS_ENDPOINT_URL"])


def default_model(*, quick: bool) -> Path:
    """`model/`; with --quick, `model-quick/` unless `model/` holds a model (a full one serves better)."""
    return Path("model-quick") if quick and not Path("model/model.tar.gz").exists() else Path("model")


def _run(
    *, days: float, live: float, quick: bool, model: Path, report: Path, seed: int, running: contextlib.ExitStack
) -> None:
    """Everything after the emulator is up; what it starts, it leaves to `running` to stop."""
    from fraudstream.config import ResourceSettings
    from fraudstream.local.provision import provision
    from processor.config import ProcessorSettings

    resources = ResourceSettings()
    workdir = Path(tempfile.mkdtemp(prefix="fraudstream-demo-"))
    # The processor's settings (FRAUD_PROCESSOR__* apply, as to `fraudstream process`); the label
    # delay and the history are added once the world is generated.
    settings = ProcessorSettings(
        checkpoint_location=str(workdir / "checkpoint"),
        model_dir=str(model),
        endpoint_name=ENDPOINT_NAME,
        # no threshold: the job alerts at the model card's, as the summary counts them
        trigger_interval="0 seconds",
    )
    spark_log = workdir / "spark.log"
    # Work that waits on nobody runs in the background: Spark's start (10-20 s), the model's training
    # (in its own process) and serving, the report's plotting library.
    background = running.enter_context(ThreadPoolExecutor(2, thread_name_prefix="demo-background"))
    spark_starting = background.submit(_start_spark, spark_log, master=settings.spark_master, quick=quick)
    console.rule("1. AWS")
    console.print(f"endpoint {os.environ['AWS_ENDPOINT_URL']}")
    for r in provision(resources, shards=2):
        console.print(f"  {r.kind} {r.name}: {'created' if r.created else 'exists'}")

    console.rule("2. model")
    progress = _Progress()
    training, log = None, workdir / "train.log"
    label_delay_days = LABEL_DELAY_DAYS
    if (model / "model.tar.gz").exists():
        from ml_model.artifact import load_artifact

        # The stream computes the features the model was trained with: its label delay.
        label_delay_days = load_artifact(model).spec.label_delay_days
        console.print(
            f"{model / 'model.tar.gz'}: served on a local endpoint with SageMaker's contract "
            f"(trained with a label delay of {label_delay_days:g} days: chargebacks arrive within that)",
            highlight=False,
        )
    else:
        console.print(
            f"no model in {model}: training {TRAINING[quick][0]} in the background, "
            f"while the stream starts; its output goes to {log}",
            highlight=False,
        )
        training = _start_training(model, seed, quick, log)
        running.callback(_stop_process, training)
        progress.training = (time.monotonic(), log)
    # The processor's first batch computes its state meanwhile, then waits for the model.
    serving = background.submit(_serve, model, training, log, progress, running)

    console.rule(f"3. streaming {days:g} days of history at full speed, then {live:g} s in real time")
    with console.status("waiting for Spark to start"):
        spark = spark_starting.result()
    console.print(f"Spark's own output goes to {spark_log}")
    background.submit(importlib.import_module, "fraudstream.report")
    world = _World.generate(workdir, seed, days=days, label_delay_days=label_delay_days)
    console.print(
        f"the processor's card and terminal state starts from the world's {world.warm_rows:,} transactions of the "
        f"{world.warm_days:g} days before the stream",
        highlight=False,
    )
    try:
        summary = _stream_and_process(progress, settings, resources, serving, spark, world, live, seed)
    except Exception:
        if serving.done():
            serving.result()  # a failed training is the cause to report
        raise
    artifact = serving.result().artifact

    console.rule("4. summary")
    import pandas as pd

    from fraudstream.aws import s3_filesystem

    lake = s3_filesystem()
    scored = _scored_rows(resources.lake_bucket, lake, progress)
    # Every lake row with the generator's truth (rows it does not know are genuine).
    truth = pd.concat(progress.truth, ignore_index=True).drop_duplicates("transaction_id")
    judged = scored.merge(truth, on="transaction_id", how="left")
    judged["is_fraud"] = judged["is_fraud"].fillna(0).astype(bool)
    _print_summary(summary, judged, artifact.card, resources, lake)
    from fraudstream.report import write_report

    path = write_report(judged, _batch_frame(progress), threshold=artifact.card.threshold, path=report)
    console.print(f"HTML report: {path.resolve()}")


def _start_training(model: Path, seed: int, quick: bool, log: Path) -> subprocess.Popen[bytes]:
    """`fraudstream train` in a process of its own (no lock shared with the stream), output in `log`."""
    command = [sys.executable, "-m", "fraudstream", "train", "--out", str(model), "--seed", str(seed)]
    # A quick training lasts about as long as the stream's start and competes with it for the cores:
    # one OpenMP thread (a second mostly spins, waiting for a core). A full one outlasts the start
    # while the processor waits for it: every core.
    env = {**os.environ, "OMP_NUM_THREADS": "1"} if quick else None
    with log.open("wb") as output:
        return subprocess.Popen([*command, *TRAINING[quick][1]], stdout=output, stderr=subprocess.STDOUT, env=env)  # noqa: S603 - our own CLI


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:  # the demo stops early (Ctrl-C, an error)
        process.terminate()
        process.wait()


@dataclass(frozen=True)
class _Served:
    """The model the demo serves, and the URL of the local endpoint that serves it."""

    artifact: ModelArtifact
    endpoint_url: str


def _serve(
    model: Path,
    training: subprocess.Popen[bytes] | None,
    log: Path,
    progress: _Progress,
    running: contextlib.ExitStack,
) -> _Served:
    """The model (once trained) on a local endpoint with SageMaker's contract, for the processor."""
    from ml_model.artifact import load_artifact
    from ml_model.serving import LocalEndpointServer

    if training is not None:
        code = training.wait()
        if code != 0:
            progress.training, progress.model = None, f"training failed (exit {code})"
            last = log.read_text(errors="replace").strip().splitlines()[-1:]
            raise TrainingFailedError(
                f"training the model failed (exit {code}){': ' + last[0] if last else ''}",
                hint=f"its whole output is in {log}",
            )
    artifact = load_artifact(model)
    endpoint = LocalEndpointServer(artifact, port=0, endpoint_name=ENDPOINT_NAME).start()
    # Registered from this thread: the main thread's unwinding of `running` reaches it only after
    # the executor's exit has waited for this thread.
    running.callback(endpoint.stop)
    progress.training = None
    progress.model = (
        f"{artifact.card.model_version}, alert threshold {artifact.card.threshold:.3f}, "
        f"served as {ENDPOINT_NAME} on {endpoint.url}"
    )
    return _Served(artifact, endpoint.url)


def _endpoint_url(serving: Future[_Served]) -> Future[str | None]:
    """What the processor waits for before it scores: the URL of the endpoint, once it serves (or
    the error that stopped it from serving)."""
    url: Future[str | None] = Future()

    def resolve(done: Future[_Served]) -> None:
        error = done.exception()
        if error is not None:
            url.set_exception(error)
        else:
            url.set_result(done.result().endpoint_url)

    serving.add_done_callback(resolve)
    return url


def _start_spark(log: Path, *, master: str, quick: bool) -> Any:
    """The session, with the JVM's output (log4j, "Streaming TransformWithStateInPandas Python worker
    ...") in `log`, not over the live view; Spark's Python helpers start in the background."""
    from processor.local_spark import SHORT_RUN_JAVA_OPTIONS, start_local_warm_up
    from processor.spark import build_session

    spark = build_session(
        master=master,
        extra={"spark.driver.extraJavaOptions": SHORT_RUN_JAVA_OPTIONS},
        # --quick's few hundred records: one task, Python worker and state store per stateful stage.
        shuffle_partitions=1 if quick else None,
        output=log,
    )
    spark.sparkContext.setLogLevel("WARN")
    # While the model trains or loads (the processor would start them one by one otherwise).
    start_local_warm_up(spark)
    return spark


def _stream_and_process(
    progress: _Progress,
    settings: ProcessorSettings,
    resources: ResourceSettings,
    serving: Future[_Served],
    spark: Any,
    world: _World,
    live: float,
    seed: int,
) -> JobSummary:
    """The producer in this thread, the processor in another, and the live view over both."""
    from rich.live import Live

    from processor.job import run_job
    from producer.app import run_producer

    stop, drain = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}
    job_settings = settings.model_copy(
        update={
            # the model's label delay, set here as the model may still be training (the job checks
            # it against the model once it serves)
            "label_delay_days": world.label_delay_days,
            # the state starts from the world's past, as training's features see it
            "history": str(world.warm_file),
        }
    )

    def process() -> None:
        try:
            outcome["summary"] = run_job(
                job_settings,
                resources,
                until_idle=True,
                drain=drain,
                stop=stop,
                on_batch=progress.on_batch,
                spark=spark,
                # the job scores through the demo's endpoint once it serves, at its URL
                model_ready=_endpoint_url(serving),
            )
        except Exception as e:  # noqa: BLE001 - re-raised in the main thread
            outcome["error"] = e

    def on_progress(summary: RunSummary) -> None:
        progress.produced = summary

    processor = threading.Thread(target=process, name="processor", daemon=True)
    quiet = _QuietLogs()
    try:
        with Live(progress, console=console, refresh_per_second=2):
            processor.start()
            progress.phase = "history"
            history = run_producer(
                _producer_settings(seed, HISTORY_CARDS, HISTORY_TERMINALS, world.label_delay_days),
                resources,
                from_file=world.stream_file,  # the same world's days after the state's past
                speedup=0,
                on_progress=on_progress,
                on_frame=progress.on_frame,
            )
            progress.phase = "history sent, the model is on its way"
            # The live part goes out once the model serves, to be scored as it arrives (the model's
            # failure, if any, is reported after the processor stops on it).
            if live > 0 and serving.exception() is None:
                progress.phase, progress.produced_before = "live", history.transactions_put
                run_producer(
                    _producer_settings(seed, HISTORY_CARDS, HISTORY_TERMINALS, world.label_delay_days),
                    resources,
                    duration=live,
                    speedup=LIVE_SPEEDUP,
                    on_progress=on_progress,
                    on_frame=progress.on_frame,
                )
            progress.phase = "catching up"
            drain.set()
            while processor.is_alive():
                processor.join(0.2)
            progress.phase = "done"
        console.line()  # the view's last frame ends without one
    except KeyboardInterrupt:
        stop.set()
        processor.join()
        raise
    finally:
        quiet.close()
    if "error" in outcome:
        raise outcome["error"]
    summary: JobSummary = outcome["summary"]
    return summary


@dataclass(frozen=True)
class _World:
    """The streamed synthetic world: its past (the processor's state starts from it) and the days
    streamed at full speed, one simulation cut at the stream's start, so that cards, terminals and
    fraud campaigns run on across the cut."""

    warm_file: Path
    stream_file: Path
    warm_rows: int
    warm_days: float
    label_delay_days: float

    @classmethod
    def generate(cls, workdir: Path, seed: int, *, days: float, label_delay_days: float) -> _World:
        import math

        import pandas as pd

        from synthetic.generator import GeneratorConfig, generate_history

        now = datetime.now(UTC)
        stream_start = now - timedelta(days=days)
        warm_days = WARM_DAYS + math.ceil(label_delay_days)
        first = (stream_start - timedelta(days=max(WORLD_AGE_DAYS, warm_days))).date()
        config = GeneratorConfig(
            seed=seed, n_cards=HISTORY_CARDS, n_terminals=HISTORY_TERMINALS, fraud_rate=HISTORY_FRAUD_RATE
        )
        frame = generate_history(config, first, (now.date() - first).days + 1)
        cut, end = pd.Timestamp(stream_start), pd.Timestamp(now)
        warm = frame[(frame["event_time"] >= cut - pd.Timedelta(days=warm_days)) & (frame["event_time"] < cut)]
        world = cls(
            workdir / "world-past.parquet", workdir / "world-stream.parquet", len(warm), warm_days, label_delay_days
        )
        warm.to_parquet(world.warm_file, index=False)
        frame[(frame["event_time"] >= cut) & (frame["event_time"] < end)].to_parquet(world.stream_file, index=False)
        return world


def _producer_settings(seed: int, cards: int, terminals: int, label_delay_days: float) -> Any:
    """A synthetic world with every kind of messy record the processor must handle."""
    from producer.config import ProducerSettings

    return ProducerSettings(
        seed=seed,
        cards=cards,
        terminals=terminals,
        label_delay_days=label_delay_days,
        late_share=0.01,
        duplicate_share=0.005,
        malformed_share=0.002,
    )


class _QuietLogs:
    """The live view replaces the producer's and processor's log lines for its duration."""

    def __init__(self) -> None:
        self.saved = {name: logging.getLogger(name).level for name in ("processor", "producer", "ml_model")}
        for name in self.saved:
            logging.getLogger(name).setLevel(logging.WARNING)

    def close(self) -> None:
        for name, level in self.saved.items():
            logging.getLogger(name).setLevel(level)


def _live_table(progress: _Progress) -> Table:
    from rich.table import Table

    table = Table(title=f"fraudstream demo: {progress.phase}", show_header=False, box=None, title_justify="left")
    if progress.training:
        since, log = progress.training
        table.add_row("model", f"training for {time.monotonic() - since:.0f} s (output: {log})")
    else:
        table.add_row("model", progress.model)
    produced = progress.produced
    sent = (produced.transactions_put if produced else 0) + progress.produced_before
    table.add_row("producer", f"{sent:,} transactions sent, {produced.rate if produced else 0:,.0f} tx/s")
    batches = [m for _, m in progress.batches]
    rows = sum(m.rows_in for m in batches)
    last = next((m for m in reversed(batches) if m.rows_in), None)  # the final, empty batch says nothing
    table.add_row(
        "processor", f"{rows:,} records in {len(batches)} batches, {last.rows_per_s if last else 0:,.0f} rows/s"
    )
    table.add_row("source lag", f"{last.source_lag_ms / 1000 if last else 0:.1f} s")
    table.add_row(
        "event-to-alert latency",
        f"p50 {last.event_to_sink_p50_ms / 1000:.1f} s, p99 {last.event_to_sink_p99_ms / 1000:.1f} s (last batch)"
        if last
        else "-",
    )
    alerts = sum(m.alerts for m in batches)
    accepted = sum(m.rows_in - m.quarantined - m.duplicates_dropped for m in batches)
    fallback = sum(m.fallback_scored for m in batches)
    table.add_row("alerts", f"{alerts:,}")
    table.add_row("fallback share", f"{fallback / accepted:.1%}" if accepted else "-")
    table.add_row(
        "quarantined (late)",
        f"{sum(m.quarantined for m in batches):,} ({sum(m.late for m in batches):,}), "
        f"{sum(m.duplicates_dropped for m in batches):,} duplicates dropped",
    )
    return table


def _scored_rows(bucket: str, lake: Any, progress: _Progress) -> pd.DataFrame:
    """Every lake row, with the time its batch finished (the alert was written by then)."""
    from fraudstream.query import run_query

    rows = run_query(
        "SELECT transaction_id, card_id, amount, event_time, score, is_alert, reasons, arrival_time, batch_id "
        "FROM transactions",
        bucket,
        lake,
    ).to_pandas()
    batches = _batch_frame(progress)[["batch_id", "finished_at"]]
    # The report's latency is processed_at - arrival_time: take the batch's end, when its alerts were written.
    return rows.merge(batches, on="batch_id", how="left").rename(columns={"finished_at": "processed_at"})


def _batch_frame(progress: _Progress) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {
            "batch_id": [m.batch_id for _, m in progress.batches],
            "finished_at": pd.to_datetime([t for t, _ in progress.batches], unit="s", utc=True),
            "rows_in": [m.rows_in for _, m in progress.batches],
            "rows_per_s": [m.rows_per_s for _, m in progress.batches],
        }
    )


def _print_summary(
    summary: JobSummary, judged: pd.DataFrame, card: ModelCard, resources: ResourceSettings, lake: Any
) -> None:
    from rich.table import Table

    from fraudstream.query import run_query

    threshold = card.threshold
    frauds = int(judged["is_fraud"].sum())
    alerts = judged[judged["is_alert"]]
    caught = int(alerts["is_fraud"].sum())
    latency_ms = (judged["processed_at"] - judged["arrival_time"]).dt.total_seconds() * 1000

    table = Table(show_header=False, box=None)
    table.add_row("records processed", f"{summary.rows_in:,} in {summary.batches} batches ({summary.elapsed_s:.1f} s)")
    table.add_row("transactions in the lake", f"{len(judged):,} ({frauds:,} truly fraudulent)")
    table.add_row("alerts (DynamoDB)", f"{summary.alerts:,} at score >= {threshold:.3f}")
    table.add_row(
        "precision / recall",
        f"precision {_ratio(caught, len(alerts))} ({_card_figure(card, 'precision')}) "
        f"recall {_ratio(caught, frauds)} ({_card_figure(card, 'recall')}) against the generator's truth "
        f"({caught:,} of {len(alerts):,} alerts are fraud; {caught:,} of {frauds:,} frauds alerted)",
    )
    if len(latency_ms):
        table.add_row(
            "event-to-alert latency",
            f"p50 {latency_ms.quantile(0.5) / 1000:.1f} s, p99 {latency_ms.quantile(0.99) / 1000:.1f} s "
            "(arrival in Kinesis to the batch's sinks written; the history arrives as one backlog)",
        )
    table.add_row("duplicates dropped", f"{summary.duplicates_dropped:,}")
    quarantine = run_query(
        "SELECT reason, count(*) AS n FROM quarantine GROUP BY 1 ORDER BY 2 DESC",
        resources.lake_bucket,
        lake,
    )
    reasons = ", ".join(f"{r['reason']} {r['n']:,}" for r in quarantine.to_pylist()) or "none"
    table.add_row("quarantined", f"{summary.quarantined:,} ({reasons})")
    table.add_row(
        "scored by the endpoint / fallback",
        f"{summary.accepted - summary.fallback_scored:,} / {summary.fallback_scored:,}",
    )
    console.print(table)

    top = alerts.nlargest(5, "score")
    if len(top):
        console.print("the five highest-scored alerts:")
        for row in top.itertuples():
            verdict = "fraud" if row.is_fraud else "genuine"
            reasons_text = ", ".join(row.reasons) if row.reasons is not None else ""
            console.print(
                f"  {row.score:.3f}  card {row.card_id}  {row.amount:,.2f}  {row.event_time:%Y-%m-%d %H:%M}  "
                f"({verdict})  {reasons_text}",
                highlight=False,
            )
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    console.print("to look further (with --keep, or against your own emulator):", highlight=False)
    console.print(
        f'  fraudstream query "{HOURLY_QUERY}"\n'
        f"  aws --endpoint-url {endpoint} dynamodb scan --table-name {resources.alerts_table} --max-items 5\n"
        f"  aws --endpoint-url {endpoint} s3 ls s3://{resources.lake_bucket}/ --recursive",
        highlight=False,
    )


def _card_figure(card: ModelCard, name: str) -> str:
    """The model card's held-out (test period) figure, to set beside the stream's."""
    value = card.metrics.get(name)
    return f"model card {value:.2f}" if value is not None else "model card: none"


def _ratio(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator:.2f}" if denominator else "n/a"


def _wait_for_ctrl_c(endpoint_url: str) -> None:
    from fraudstream.local.cli import env_exports

    console.print(f"The emulator keeps running (Ctrl-C stops it). In another shell:\n  {env_exports(endpoint_url)}")
    stopped = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    stopped.wait()
