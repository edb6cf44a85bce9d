"""The model's loop after deployment (issue 20), end to end as a user runs it, on small sizes.

A synthetic world in which card testing (bursts of small online amounts across terminals) appears on
a given day: the champion, trained on the days before, has never seen it. Its days are replayed
into Kinesis (`fraudstream produce --from`, chargebacks on the labels stream) and processed by the
job (the suite's Spark session) against the local endpoint into the lake. Then, with the commands a
user runs (typer's runner over `fraudstream`'s app): `monitor` finds the drift and the realised
recall's drop after the change; `train --from-lake --since <the change>` trains a challenger;
`model compare` finds it better on later labelled days; the endpoint serves both and `model promote
--compare-report` moves the traffic to the challenger; the next days, scored by it, recover their
recall. One test, since each step needs the one before: about 48,000 transactions, two minutes on 2 cores.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import boto3
import pandas as pd
import pytest
from typer.testing import CliRunner

from fraudstream.batch_files import write_batch_file
from fraudstream.cli import app
from fraudstream.config import ResourceSettings
from fraudstream.local.provision import provision
from ml_model.artifact import load_artifact
from ml_model.serving import LocalEndpointServer
from ml_model.serving.app import champion_and_challenger
from processor.config import ProcessorSettings
from processor.job import run_job
from synthetic.generator import FraudScenario, GeneratorConfig, RegimeChange, generate_history
from tests.conftest import FAKE_ENV
from tests.lake_reader import read_parquet

if TYPE_CHECKING:
    from pathlib import Path

    from typer.testing import Result

    from fraudstream.local.emulator import EmbeddedAws

pytestmark = pytest.mark.integration

ENDPOINT: Final = "fraud-detector"
LABEL_DELAY_DAYS: Final = 1  # chargebacks within a day, and the models' label delay: fewer days to stream
# The world's days, counted from its first: 32 warm-up days fill the features' windows (30 days, the
# label delay and one); the champion trains on the 10 after them (3 of them validate), a day's gap,
# 3 test days; card testing appears on day CHANGE. Phase A streams days [0, PHASE_B), phase B the rest.
WORLD_DAYS: Final = 68
WARM_UP: Final = 32
CHANGE: Final = 46
CHALLENGER_UNTIL: Final = CHANGE + 13  # the challenger: 10 days from the change, a day's gap, 3 test days
COMPARED: Final = (CHANGE + 14, CHANGE + 15)  # labelled days after the challenger's, before the promotion
PHASE_B: Final = CHANGE + 17
PERIODS: Final = (
    *("--train-days", "10", "--validation-days", "3", "--delay-days", "1", "--test-days", "3"),
    *("--folds", "1", "--fold-days", "2", "--quick", "--label-delay-days", str(LABEL_DELAY_DAYS)),
)
# Fraud is common in this small world (300 cards, about 700 transactions a day, 6 % fraud) so that
# each day's recall counts dozens of frauds. Before the change, no card testing; from it, 80 % of the fraud.
BEFORE: Final = {
    FraudScenario.LARGE_AMOUNT: 0.2,
    FraudScenario.COMPROMISED_TERMINAL: 0.3,
    FraudScenario.COMPROMISED_CARD: 0.3,
    FraudScenario.IMPOSSIBLE_TRAVEL: 0.2,
}
AFTER: Final = {**{s: share * 0.2 for s, share in BEFORE.items()}, FraudScenario.CARD_TESTING: 0.8}


@dataclass(frozen=True)
class Days:
    """The world's days as dates: it ends two days before today, so that every event is in the past."""

    start: date

    def __call__(self, index: int) -> date:
        return self.start + timedelta(days=index)

    def iso(self, index: int) -> str:
        return self(index).isoformat()

    def time(self, index: int) -> pd.Timestamp:
        return pd.Timestamp(self(index), tz="UTC")


def _world(days: Days) -> pd.DataFrame:
    # The compromised cards keep their pattern (4-8x their usual amounts, 60 % online): card testing alone is new.
    change = RegimeChange(
        day=days(CHANGE), card_fraud_amount=(4.0, 8.0), card_fraud_online_share=0.6, scenario_mix=AFTER
    )
    config = GeneratorConfig(
        seed=11, n_cards=300, n_terminals=150, n_cities=5, fraud_rate=0.06, scenario_mix=BEFORE, regime_change=change
    )
    return generate_history(config, days.start, WORLD_DAYS).drop(columns=["scenario"])


def _run(*args: str) -> Result:
    """`fraudstream ARGS` as a user types it; it must succeed."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, f"fraudstream {' '.join(args)}:\n{result.output}\n{result.exception!r}"
    return result


def _file(world: pd.DataFrame, days: Days, first: int, end: int, path: Path) -> Path:
    """The world's days [first, end) as a batch-input file (with is_fraud: its chargebacks are replayed)."""
    rows = world[(world["event_time"] >= days.time(first)) & (world["event_time"] < days.time(end))]
    write_batch_file(rows.reset_index(drop=True), path)
    return path


def _findings(output: str, kind: str) -> dict[str, str]:
    """The monitor's finding lines of one kind, by day (the first of each day)."""
    found: dict[str, str] = {}
    for day, line in re.findall(rf"^(\d{{4}}-\d{{2}}-\d{{2}}) {kind}: (.*)$", output, flags=re.MULTILINE):
        found.setdefault(day, line)
    return found


def _recall(monitored: pd.DataFrame, first: str, last: str) -> float:
    """The realised recall of the labelled days first..last together (frauds alerted / frauds)."""
    days = monitored[(monitored["dt"] >= first) & (monitored["dt"] <= last) & monitored["labels_known"]]
    assert len(days) > 0, f"no labelled day in {first}..{last}"
    return float((days["recall"] * days["frauds"]).sum() / days["frauds"].sum())


def _monitoring(s3: Any, bucket: str, model_version: str) -> pd.DataFrame:
    table = read_parquet(s3, bucket, "monitoring/")
    table["dt"] = table["key"].str.extract(r"dt=([0-9-]+)/", expand=False)
    return table[table["model_version"] == model_version].sort_values("dt").reset_index(drop=True)


def test_drift_and_a_recall_drop_are_found_and_a_challenger_from_the_lake_is_promoted_and_recovers_recall(
    spark: Any, embedded_aws: EmbeddedAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resources = ResourceSettings(
        transactions_stream="loop-tx", labels_stream="loop-labels", lake_bucket="loop-lake", alerts_table="loop-alerts"
    )
    env = {
        **FAKE_ENV,
        "AWS_ENDPOINT_URL": embedded_aws.endpoint_url,
        "FRAUD_TRANSACTIONS_STREAM": resources.transactions_stream,
        "FRAUD_LABELS_STREAM": resources.labels_stream,
        "FRAUD_LAKE_BUCKET": resources.lake_bucket,
        "FRAUD_ALERTS_TABLE": resources.alerts_table,
        "FRAUD_PRODUCER__DEAD_LETTER": str(tmp_path / "dead-letter.jsonl"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    session = boto3.Session()
    s3 = session.client("s3")
    provision(resources, shards=1, session=session)
    days = Days(datetime.now(UTC).date() - timedelta(days=WORLD_DAYS + 2))
    world = _world(days)
    champion_dir, challenger_dir, report = tmp_path / "champion", tmp_path / "challenger", tmp_path / "compare"
    settings = ProcessorSettings(
        checkpoint_location=str(tmp_path / "checkpoint"),
        model_dir=str(champion_dir),  # the stream's model: its feature spec and label delay, and the fallback
        endpoint_name=ENDPOINT,
        trigger_interval="0 seconds",
        aggregates=False,
        # Weeks of history drained at once: batches of about three weeks (a batch spanning more than
        # 30 days applies its chargebacks after trimming the cards' history to 30 days, and misses the
        # older ones), and a lateness that covers the producer's reordering of this small, bursty world
        # (at most one record per card in a PutRecords call: a card-testing burst's records trail by days).
        max_records_per_batch=15_000,
        allowed_lateness="10 days",
    )

    # GIVEN a champion trained on the days before the change, once the features' windows are full
    before = _file(world, days, 0, CHANGE, tmp_path / "before.parquet")
    _run("train", "--data", str(before), "--train-start", days.iso(WARM_UP), "--out", str(champion_dir), *PERIODS)
    champion = load_artifact(champion_dir)
    assert champion.card.data_ranges["test_end"] == days.iso(CHANGE)
    # ... serving alone while the stream runs through the change and on for 17 days, chargebacks included
    phase_a = _file(world, days, 0, PHASE_B, tmp_path / "phase-a.parquet")
    _run("produce", "--from", str(phase_a), "--speedup", "0", "--label-delay-days", str(LABEL_DELAY_DAYS))
    with LocalEndpointServer(champion_and_challenger(champion, None, challenger_weight=0.0), port=0) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", endpoint.url)
        run_job(settings, resources, until_idle=True, spark=spark)

    # WHEN the monitor runs over the days since the champion's training
    watched = _run("monitor", "--model", str(champion_dir), "--since", days.iso(WARM_UP), "--out", str(tmp_path / "m1"))
    # THEN the champion's realised recall drops after the change, from what it was before
    first = _monitoring(s3, resources.lake_bucket, champion.card.model_version)
    before_change = _recall(first, days.iso(WARM_UP), days.iso(CHANGE - 1))
    after_change = _recall(first, days.iso(CHANGE), days.iso(PHASE_B - 1))
    assert before_change >= 0.85 and after_change <= 0.6, (before_change, after_change)
    # ... and the monitor says so, on most labelled days after the change and seldom before it
    labelled = first.loc[first["labels_known"], "dt"]
    pre, post = labelled[labelled < days.iso(CHANGE)], labelled[labelled >= days.iso(CHANGE)]
    recall_findings = _findings(watched.output, "recall")
    assert sum(day in recall_findings for day in post) >= 2 * len(post) / 3, watched.output
    assert sum(day in recall_findings for day in pre) <= len(pre) / 5, watched.output
    # ... and it finds the drift: the terminals that card testing runs through get fraud rates that
    # training never saw, on every day from the fourth after the change, and on none before it
    drift: list[tuple[str, str]] = re.findall(r"^(\S+) drift: (.*)$", watched.output, flags=re.MULTILINE)
    drifted = {day for day, line in drift if line.startswith("terminal_fraud_rate_7d PSI")}
    streamed = [days.iso(i) for i in range(CHANGE + 4, PHASE_B)]
    assert drifted >= set(streamed), watched.output
    assert not {day for day, _ in drift if day < days.iso(CHANGE)} & drifted, watched.output
    assert not any(line.startswith("is_weekend") for _, line in drift)

    # WHEN a challenger is trained from the lake since the change (the features' history read before it)
    lake_args = ["--since", days.iso(CHANGE), "--until", days.iso(CHALLENGER_UNTIL)]
    _run("train", "--from-lake", *lake_args, "--out", str(challenger_dir), *PERIODS)
    challenger = load_artifact(challenger_dir)
    assert challenger.card.data_ranges["train_start"] == days.iso(CHANGE)
    assert challenger.card.data_ranges["lake_first_event"] < days.iso(CHANGE)
    # ... and compared with the champion on the labelled days after the challenger's own
    period = ["--since", days.iso(COMPARED[0]), "--until", days.iso(COMPARED[1])]
    _run(
        "model",
        "compare",
        "--champion",
        str(champion_dir),
        "--challenger",
        str(challenger_dir),
        *period,
        "--out",
        str(report),
    )
    # THEN the challenger is better
    compared = json.loads((report / "compare.json").read_text())
    assert compared["verdict"] == "challenger_better"
    assert compared["challenger"]["model_version"] == challenger.card.model_version
    assert compared["challenger"]["recall"] > compared["champion"]["recall"] + 0.3

    # WHEN the endpoint serves both (10 % to the challenger) and the challenger is promoted
    variants = champion_and_challenger(champion, challenger, challenger_weight=0.1)
    with LocalEndpointServer(variants, port=0, endpoint_name=ENDPOINT) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", endpoint.url)
        promoted = _run(
            "model", "promote", "--endpoint-url", endpoint.url, "--compare-report", str(report / "compare.json")
        )
        assert "challenger 100%" in promoted.output
        assert endpoint.app.weights() == {"champion": 0.0, "challenger": 1.0}
        # ... and the stream goes on for five more days, with the same job (its checkpoint) and settings
        phase_b = _file(world, days, PHASE_B, WORLD_DAYS, tmp_path / "phase-b.parquet")
        _run("produce", "--from", str(phase_b), "--speedup", "0", "--label-delay-days", str(LABEL_DELAY_DAYS))
        run_job(settings, resources, until_idle=True, spark=spark)

    # THEN every row of those days was scored by the challenger, through the endpoint
    lake = read_parquet(
        s3, resources.lake_bucket, "transactions/", ["event_time", "model_variant", "scored_by", "model_version"]
    )
    promoted_rows = lake[lake["event_time"] >= days.time(PHASE_B)]
    assert len(promoted_rows) == int((world["event_time"] >= days.time(PHASE_B)).sum())
    assert set(promoted_rows["model_variant"]) == {"challenger"}
    assert set(promoted_rows["scored_by"]) == {f"endpoint:{ENDPOINT}"}
    assert set(promoted_rows["model_version"]) == {challenger.card.model_version}
    # ... and the realised recall of those days recovers, far above the champion's after the change
    after = _run("monitor", "--model", str(challenger_dir), "--since", days.iso(PHASE_B), "--out", str(tmp_path / "m2"))
    second = _monitoring(s3, resources.lake_bucket, challenger.card.model_version)
    recovered = _recall(second, days.iso(PHASE_B), days.iso(WORLD_DAYS - 1))
    assert int(second["labels_known"].sum()) >= 3
    assert recovered >= 0.85 and recovered >= after_change + 0.3, (recovered, after_change)
    assert not _findings(after.output, "recall"), after.output
