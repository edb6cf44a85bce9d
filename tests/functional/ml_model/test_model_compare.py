"""`fraudstream model compare` over a small lake on the embedded emulator: a model trained on the
data beats one trained on shuffled labels whichever side it is on, a model against itself ties; the
figures are sklearn's on the same rows; compare.json and compare.html; one-line refusals."""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING

import boto3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xgboost as xgb
from sklearn.metrics import average_precision_score, precision_score, recall_score, roc_auc_score
from typer.testing import CliRunner

from fraudstream.cli import app, main
from fraudstream.contracts import LABEL_ARROW_SCHEMA, TRANSACTION_ARROW_SCHEMA
from fraudstream.lake import LABELS, TRANSACTIONS
from ml_model.artifact import ArtifactNotFoundError, ModelCard, load_artifact, write_artifact
from ml_model.comparison import history_days
from ml_model.evaluation import choose_threshold
from ml_model.exceptions import ComparisonError, FeatureSpecMismatchError
from ml_model.features import FEATURE_SPEC, compute_features
from ml_model.model_store import publish_artifact
from synthetic.generator import GeneratorConfig, generate_history
from tests.model_fixtures import with_label_delay

if TYPE_CHECKING:
    from pathlib import Path

    from fraudstream.local.emulator import EmbeddedAws

START = date(2026, 1, 1)
DAYS = 60
LABEL_DELAY_DAYS = 7.0
# The models learn from the days before this one; the default period starts later (the features' history).
TRAIN_END = date(2026, 2, 6)


@dataclass(frozen=True)
class World:
    """The lake's truth: the generator's transactions and the chargebacks written to labels/."""

    history: pd.DataFrame
    labels: pd.DataFrame

    @property
    def cutoff(self) -> pd.Timestamp:
        return pd.Timestamp(self.labels["label_time"].max())


@dataclass(frozen=True)
class Models:
    good: Path
    shuffled: Path


def _put(s3: object, bucket: str, key: str, table: pa.Table) -> None:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    s3.put_object(Bucket=bucket, Key=key, Body=sink.getvalue())  # type: ignore[attr-defined]


def _write_lake(s3: object, bucket: str, transactions: pd.DataFrame, labels: pd.DataFrame) -> None:
    """transactions/dt=/hour= (by event time) and labels/dt= (by label time), as the processor lays them out."""
    tx = transactions.assign(schema_version=1, currency="USD")
    tx["event_time"] = pd.to_datetime(tx["event_time"], utc=True)
    for partition, rows in tx.groupby(tx["event_time"].dt.strftime("dt=%Y-%m-%d/hour=%H")):
        table = pa.Table.from_pandas(
            rows[TRANSACTION_ARROW_SCHEMA.names], TRANSACTION_ARROW_SCHEMA, preserve_index=False
        )
        _put(s3, bucket, f"{TRANSACTIONS.prefix}{partition}/part-0.parquet", table)
    lb = labels.assign(schema_version=1)
    for day, rows in lb.groupby(lb["label_time"].dt.strftime("dt=%Y-%m-%d")):
        table = pa.Table.from_pandas(rows[LABEL_ARROW_SCHEMA.names], LABEL_ARROW_SCHEMA, preserve_index=False)
        _put(s3, bucket, f"{LABELS.prefix}{day}/part-0.parquet", table)


def _chargebacks(rows: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """A chargeback 1 to 5 days after each of `rows`, with its is_fraud as the verdict."""
    event_time = pd.to_datetime(rows["event_time"], utc=True)
    return pd.DataFrame(
        {
            "transaction_id": rows["transaction_id"].to_numpy(),
            "card_id": rows["card_id"].to_numpy(),
            "terminal_id": rows["terminal_id"].to_numpy(),
            "tx_event_time": event_time.to_numpy(),
            "label_time": (event_time + pd.to_timedelta(rng.uniform(1, 5, len(rows)), unit="D")).dt.floor("s"),
            "is_fraud": rows["is_fraud"].astype("int32").to_numpy(),
        }
    ).assign(tx_event_time=lambda f: pd.to_datetime(f["tx_event_time"], utc=True))


@pytest.fixture(scope="module")
def world() -> World:
    """60 days of a small world; a chargeback for every fraud and for 30 genuine transactions."""
    history = generate_history(GeneratorConfig(seed=3, n_cards=150, n_terminals=200, fraud_rate=0.03), START, DAYS)
    disputed = history[history["is_fraud"] == 0].sample(n=30, random_state=1)
    labels = _chargebacks(pd.concat([history[history["is_fraud"] == 1], disputed]), np.random.default_rng(5))
    return World(history=history, labels=labels)


@pytest.fixture(scope="module")
def models(world: World, tmp_path_factory: pytest.TempPathFactory) -> Models:
    """A model trained on the data before TRAIN_END, and one trained on the same rows with shuffled labels."""
    features = compute_features(world.history, label_delay_days=LABEL_DELAY_DAYS)
    days = pd.to_datetime(world.history["event_time"], utc=True).dt.date
    fit = ((days >= START + timedelta(days=14)) & (days < TRAIN_END)).to_numpy()
    X = features.to_numpy(dtype=np.float64)[fit]
    y = world.history["is_fraud"].to_numpy()[fit]
    params = {"objective": "binary:logistic", "max_depth": 4, "eta": 0.2, "seed": 1, "nthread": 1}
    paths = {}
    for name, labels in (("good", y), ("shuffled", np.random.default_rng(0).permutation(y))):
        booster = xgb.train(params, xgb.DMatrix(X, label=labels), num_boost_round=60)
        card = ModelCard(
            model_version=f"cmp-{name}",
            feature_spec_hash=FEATURE_SPEC.hash,
            threshold=choose_threshold(labels, booster.inplace_predict(X)),
            data_ranges={"train_start": (START + timedelta(days=14)).isoformat(), "train_end": TRAIN_END.isoformat()},
        )
        paths[name] = write_artifact(booster, FEATURE_SPEC, card, tmp_path_factory.mktemp(name))
    return Models(good=paths["good"], shuffled=paths["shuffled"])


@pytest.fixture
def lake_bucket(boto_session: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty lake bucket on the embedded emulator, named by FRAUD_LAKE_BUCKET."""
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    boto_session.client("s3").create_bucket(Bucket=bucket)
    monkeypatch.setenv("FRAUD_LAKE_BUCKET", bucket)
    return bucket


@pytest.fixture(scope="module")
def written_lake(world: World, embedded_aws: EmbeddedAws) -> str:
    """The world's lake, written once for the module's tests (no test writes to it)."""
    # The emulator takes any credentials (a module-scoped fixture is set up before a test's aws_env).
    s3 = boto3.client(
        "s3",
        endpoint_url=embedded_aws.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    _write_lake(s3, bucket, world.history, world.labels)
    return bucket


@pytest.fixture
def lake(written_lake: str, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """The world's lake, named by FRAUD_LAKE_BUCKET, with boto3 pointed at the emulator."""
    monkeypatch.setenv("FRAUD_LAKE_BUCKET", written_lake)
    return written_lake


def _compare(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["model", "compare", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def _direct_figures(
    world: World, booster_path: Path, since: date, *, delay: float = LABEL_DELAY_DAYS
) -> dict[str, float]:
    """The period's figures computed here: the labelled rows from the generator's truth, the features
    over the whole history, sklearn's metrics and card precision@100 by hand."""
    artifact = load_artifact(booster_path)
    history = world.history.reset_index(drop=True)
    event_time = pd.to_datetime(history["event_time"], utc=True)
    settled = event_time + pd.Timedelta(days=LABEL_DELAY_DAYS) <= world.cutoff
    rows = (event_time.dt.date >= since) & settled
    features = compute_features(history, label_delay_days=delay)[rows]
    scores = artifact.booster.inplace_predict(features[list(artifact.spec.names)].to_numpy(dtype=np.float64))
    y = history.loc[rows, "is_fraud"].to_numpy()
    alert = scores >= artifact.card.threshold
    cards = pd.DataFrame(
        {"day": event_time[rows].dt.date, "card": history.loc[rows, "card_id"], "score": scores, "fraud": y}
    )
    per_card = cards.groupby(["day", "card"]).agg(score=("score", "max"), fraud=("fraud", "max")).reset_index()
    top = per_card.sort_values("score", ascending=False).groupby("day").head(100)
    return {
        "rows": float(rows.sum()),
        "auc_roc": roc_auc_score(y, scores),
        "average_precision": average_precision_score(y, scores),
        "precision": precision_score(y, alert),
        "recall": recall_score(y, alert),
        "card_precision_at_100": float(top.groupby("day")["fraud"].mean().mean()),
    }


def test_a_model_trained_on_the_data_beats_one_trained_on_shuffled_labels(
    world: World, models: Models, lake: str, tmp_path: Path
) -> None:
    # GIVEN the lake and two models, the champion trained on shuffled labels
    out = tmp_path / "report"
    # WHEN they are compared over the default period, with the files written
    code, output = _compare("--champion", str(models.shuffled), "--challenger", str(models.good), "--out", str(out))
    # THEN the challenger is better, said on the terminal and in compare.json
    assert code == 0, output
    assert "verdict: challenger_better" in output
    report = json.loads((out / "compare.json").read_text())
    assert list(report) == ["champion", "challenger", "period", "verdict", "rule"]
    assert report["verdict"] == "challenger_better"
    assert report["champion"]["model_version"] == "cmp-shuffled"
    assert report["challenger"]["model_version"] == "cmp-good"
    assert "average precision" in report["rule"]
    test = report["challenger"]["vs_champion"]["test"]
    assert 0 < test["low"] <= test["difference"] <= test["high"]
    # AND the period starts where the features see their whole windows, labelled as train --from-lake labels it
    since = START + timedelta(days=history_days(LABEL_DELAY_DAYS))
    period = report["period"]
    assert period["since"] == since.isoformat()
    assert period["until"] == period["last_event"][:10]
    assert period["history_from"] == START.isoformat()
    assert period["label_cutoff"] == world.cutoff.isoformat()
    # AND every figure is the one computed directly on the same rows
    for name, path in (("champion", models.shuffled), ("challenger", models.good)):
        direct = _direct_figures(world, path, since)
        assert period["rows"] == direct.pop("rows")
        for metric, value in direct.items():
            assert report[name][metric] == pytest.approx(value, rel=1e-9, abs=1e-12), (name, metric)
    assert test["difference"] == pytest.approx(
        report["challenger"]["average_precision"] - report["champion"]["average_precision"], rel=1e-9
    )
    # AND the page holds the table and both plots
    page = (out / "compare.html").read_text()
    assert page.count('<img src="data:image/png;base64,') == 2
    assert "challenger_better" in page
    assert "cmp-shuffled" in page


def test_the_verdict_follows_the_better_model_and_a_model_ties_with_itself(
    models: Models, lake: str, boto_session: boto3.Session, tmp_path: Path
) -> None:
    # GIVEN the better model published to the lake bucket, the other one uploaded as a tarball elsewhere
    published = publish_artifact(models.good, lake, session=boto_session)
    boto_session.client("s3").upload_file(str(models.shuffled), lake, "elsewhere/model.tar.gz")
    # WHEN the published version is the champion and the tarball's s3:// URI the challenger
    code, output = _compare(
        "--champion", published.model_version, "--challenger", f"s3://{lake}/elsewhere/model.tar.gz", "--since",
        "2026-02-10", "--resamples", "200",
    )  # fmt: skip
    # THEN the champion is better; without --out nothing is written
    assert code == 0, output
    assert "verdict: champion_better" in output
    assert "2026-02-10" in output
    assert not list(tmp_path.iterdir())
    # WHEN a model is compared with itself
    code, output = _compare("--champion", str(models.good), "--challenger", str(models.good), "--out", str(tmp_path))
    # THEN it is a tie with no difference at all
    assert code == 0, output
    report = json.loads((tmp_path / "compare.json").read_text())
    assert report["verdict"] == "tie"
    assert report["challenger"]["vs_champion"]["test"]["low"] == 0.0
    assert report["challenger"]["vs_champion"]["test"]["high"] == 0.0


def test_a_period_that_overlaps_a_models_training_days_is_noted(models: Models, lake: str) -> None:
    # WHEN the period starts before the models' last training day
    code, output = _compare(
        "--champion", str(models.shuffled), "--challenger", str(models.good), "--since", "2026-02-01",
        "--until", "2026-02-12", "--resamples", "100",
    )  # fmt: skip
    # THEN the comparison runs, and says that the figures of those days flatter the models, and that the
    # lake does not hold all the history of the first days' windows
    assert code == 0, output
    assert "note: the period overlaps 5 day(s) that the challenger cmp-good was trained" in output
    assert "note: the lake starts on 2026-01-01" in output


def test_each_model_scores_its_own_feature_specs_matrix(
    world: World, models: Models, lake: str, tmp_path: Path
) -> None:
    # GIVEN the better model as if trained with a 3-day label delay (its spec and card say so)
    three_days = with_label_delay(models.good, 3.0, tmp_path / "delay-3")
    # WHEN it challenges the same booster with the 7-day delay
    out = tmp_path / "report"
    code, output = _compare(
        "--champion", str(models.good), "--challenger", str(three_days), "--since", "2026-02-12", "--out", str(out),
        "--resamples", "100",
    )  # fmt: skip
    # THEN each is scored on the terminal features of its own delay; the period is labelled with the longer one
    assert code == 0, output
    report = json.loads((out / "compare.json").read_text())
    assert report["challenger"]["label_delay_days"] == 3.0
    assert report["period"]["label_delay_days"] == LABEL_DELAY_DAYS
    since = date(2026, 2, 12)
    assert report["champion"]["average_precision"] == pytest.approx(
        _direct_figures(world, models.good, since)["average_precision"], rel=1e-9
    )
    assert report["challenger"]["average_precision"] == pytest.approx(
        _direct_figures(world, three_days, since, delay=3.0)["average_precision"], rel=1e-9
    )
    assert report["challenger"]["average_precision"] != report["champion"]["average_precision"]


def test_a_model_of_another_feature_spec_version_is_refused_in_one_line(models: Models, tmp_path: Path) -> None:
    # GIVEN a model trained on a feature spec this code does not compute (another version)
    artifact = load_artifact(models.good)
    spec = replace(FEATURE_SPEC, version="old")
    old = write_artifact(artifact.booster, spec, replace(artifact.card, feature_spec_hash=spec.hash), tmp_path / "old")
    # WHEN it is compared
    result = CliRunner().invoke(app, ["model", "compare", "--champion", str(old), "--challenger", str(models.good)])
    # THEN it is refused in one line naming both specs, before any lake is read (none is set up here)
    assert isinstance(result.exception, FeatureSpecMismatchError)
    assert "\n" not in str(result.exception)
    assert "was trained on feature spec old" in str(result.exception)


def _refusal(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """`fraudstream ARGS` as the console script runs it: its exit code and its stderr lines."""
    with pytest.raises(SystemExit) as exited:
        main(args)
    return int(exited.value.code or 0), capsys.readouterr().err.splitlines()


def test_a_period_without_labelled_rows_or_without_fraud_is_refused_in_one_line(
    world: World,
    models: Models,
    lake: str,
    lake_bucket: str,
    boto_session: boto3.Session,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the lake, whose labels are known up to a week before the newest chargeback
    settled_until = (world.cutoff - pd.Timedelta(days=LABEL_DELAY_DAYS)).date()
    common = ["model", "compare", "--champion", str(models.shuffled), "--challenger", str(models.good)]
    # WHEN the period lies after that
    after = (settled_until + timedelta(days=1)).isoformat()
    code, lines = _refusal([*common, "--bucket", lake, "--since", after], capsys)
    # THEN it is refused with one error line and its hint
    assert code != 0
    assert len(lines) == 2, lines
    assert lines[0].startswith("error: no labelled transaction in the period")
    assert lines[1].startswith("hint: ")

    # GIVEN a lake without fraud: genuine transactions, one of them disputed and found genuine weeks later
    quiet = world.history[world.history["is_fraud"] == 0].head(40)
    verdict = _chargebacks(quiet.head(1), np.random.default_rng(1)).assign(
        label_time=pd.Timestamp("2026-01-20", tz="UTC")
    )
    _write_lake(boto_session.client("s3"), lake_bucket, quiet, verdict)
    # WHEN a period of its labelled transactions is compared
    code, lines = _refusal([*common, "--bucket", lake_bucket, "--since", START.isoformat()], capsys)
    # THEN it is refused in one line too
    assert code != 0
    assert len(lines) == 2, lines
    assert lines[0].startswith("error: the period 2026-01-01..the lake end holds 40 labelled transactions but no fraud")


def test_a_missing_model_a_missing_lake_and_bad_options_are_refused(
    models: Models, lake: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # WHEN the champion is neither a file here nor a published version
    code, lines = _refusal(
        ["model", "compare", "--champion", "no-such-model", "--challenger", str(models.good)], capsys
    )
    # THEN one line names both readings
    assert code != 0
    assert lines[0] == (
        f"error: no model at no-such-model: no such folder or file here, and no published model version "
        f"'no-such-model' (s3://{lake}/models/no-such-model/model.tar.gz)"
    )
    # AND a lake bucket that does not exist, and an empty one, are refused
    common = ["model", "compare", "--champion", str(models.good), "--challenger", str(models.good)]
    code, lines = _refusal([*common, "--bucket", "no-such-lake"], capsys)
    assert code != 0
    assert "bucket 'no-such-lake' does not exist" in lines[0]
    # AND options out of range are usage errors
    code, lines = _refusal([*common, "--since", "2026-02-10", "--until", "2026-02-01"], capsys)
    assert code == 2
    assert "--since 2026-02-10 is after --until 2026-02-01" in "\n".join(lines)
    assert not list(tmp_path.iterdir())


def test_an_empty_lake_is_refused(models: Models, lake_bucket: str) -> None:
    # WHEN the lake holds nothing
    result = CliRunner().invoke(app, ["model", "compare", "--champion", str(models.good), "--challenger", "x/"])
    # THEN the first missing thing is named: the challenger's folder
    assert isinstance(result.exception, ArtifactNotFoundError)
    result = CliRunner().invoke(
        app, ["model", "compare", "--champion", str(models.good), "--challenger", str(models.good)]
    )
    assert str(result.exception) == f"the lake s3://{lake_bucket}/transactions/ holds no transactions"
    assert not isinstance(result.exception, ComparisonError)
