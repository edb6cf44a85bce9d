"""`fraudstream train --on sagemaker --wait` end to end against the embedded AWS over HTTP: the
CreateTrainingJob request it builds (captured through botocore's event system), the channels and
run record it writes to S3, and the artifact it repacks and publishes from the job's output.

SageMaker's control plane is moto's (a job there completes at once and runs nothing), so the
container's part is played by a handler on the CreateTrainingJob call: it reads the channels from
S3 and trains as the built-in algorithm does (CSV label first, `xgb.train` with the job's
hyperparameters and early stopping on `validation`, `Booster.save_model("xgboost-model")`), then
writes `model.tar.gz` where SageMaker would.
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid
import warnings
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import xgboost as xgb
from typer.testing import CliRunner

import fraudstream.aws
from ml_model.artifact import load_artifact
from ml_model.evaluation import choose_threshold
from ml_model.features import FEATURE_SPEC
from ml_model.sagemaker_training import job_hyperparameters
from ml_model.training import TrainingConfig, prepare, prequential_search, training_params
from synthetic.generator import GeneratorConfig, generate_history

if TYPE_CHECKING:
    from pathlib import Path

    import boto3
    import pandas as pd
    import typer

XGBOOST_3_2_0_US_EAST_1 = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"
ROLE = "arn:aws:iam::123456789012:role/fraudstream-sagemaker"
PERIODS = {
    "--train-start": "2026-01-08",
    "--train-days": "21",
    "--validation-days": "7",
    "--delay-days": "3",
    "--test-days": "5",
    "--folds": "2",
    "--fold-days": "4",
    "--seed": "3",
}
CONFIG = TrainingConfig(
    train_start=date(2026, 1, 8),
    train_days=21,
    validation_days=7,
    delay_days=3,
    test_days=5,
    folds=2,
    fold_days=4,
    seed=3,
)


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return generate_history(
        GeneratorConfig(seed=5, n_cards=400, n_terminals=800, fraud_rate=0.03), date(2026, 1, 1), 37
    )


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _read_csv(s3: Any, uri: str) -> np.ndarray:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    text = "".join(s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode() for k in sorted(keys))
    # An empty cell is a missing value, as the algorithm's CSV reader has it.
    return np.genfromtxt(io.StringIO(text), delimiter=",", filling_values=np.nan)


class FakeContainer:
    """Plays the built-in XGBoost algorithm when a training job is created; records the request."""

    def __init__(self, session: boto3.Session) -> None:
        self.session = session
        self.requests: list[dict[str, Any]] = []
        self.booster: xgb.Booster | None = None
        session.events.register("provide-client-params.sagemaker.CreateTrainingJob", self.capture)
        session.events.register("after-call.sagemaker.CreateTrainingJob", self.train)

    def capture(self, params: dict[str, Any], **_: Any) -> None:
        self.requests.append(json.loads(json.dumps(params)))

    def train(self, **_: Any) -> None:
        request = self.requests[-1]
        s3 = self.session.client("s3")
        channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in request["InputDataConfig"]}
        train_rows, validation_rows = _read_csv(s3, channels["train"]), _read_csv(s3, channels["validation"])
        config = {k: _value(v) for k, v in request["HyperParameters"].items()}
        rounds, patience = config.pop("num_round"), config.pop("early_stopping_rounds")
        dtrain = xgb.DMatrix(train_rows[:, 1:], label=train_rows[:, 0])
        dval = xgb.DMatrix(validation_rows[:, 1:], label=validation_rows[:, 0])
        self.booster = xgb.train(
            config,
            dtrain,
            num_boost_round=rounds,
            evals=[(dtrain, "train"), (dval, "validation")],
            early_stopping_rounds=patience,
            verbose_eval=False,
        )
        raw = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # xgboost's note that no extension means UBJSON
            model = bytes(self.booster.save_raw("ubj"))
        with tarfile.open(fileobj=raw, mode="w:gz") as tar:
            info = tarfile.TarInfo("xgboost-model")
            info.size = len(model)
            tar.addfile(info, io.BytesIO(model))
        output = request["OutputDataConfig"]["S3OutputPath"].removeprefix("s3://")
        bucket, _, prefix = output.partition("/")
        s3.put_object(
            Bucket=bucket, Key=f"{prefix}{request['TrainingJobName']}/output/model.tar.gz", Body=raw.getvalue()
        )


def test_train_on_sagemaker_runs_the_local_choice_and_publishes_the_repacked_model(
    cli: typer.Typer,
    aws_env: dict[str, str],
    boto_session: boto3.Session,
    history: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # GIVEN a labelled history file, the lake bucket, and SageMaker (moto's, with the container above)
    history.to_parquet(tmp_path / "tx.parquet")
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    s3 = boto_session.client("s3")
    s3.create_bucket(Bucket=bucket)
    container = FakeContainer(boto_session)
    monkeypatch.setattr(fraudstream.aws, "default_session", lambda: boto_session)
    # WHEN the model is trained on SageMaker, waiting for the job
    args = ["train", "--data", str(tmp_path / "tx.parquet"), "--out", str(tmp_path / "model"), "--on", "sagemaker"]
    args += ["--role-arn", ROLE, "--bucket", bucket, "--job-name", "fs-test-job", "--wait"]
    result = CliRunner().invoke(cli, [*args, *(x for kv in PERIODS.items() for x in kv)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output

    # THEN the job is the built-in XGBoost 3.2-0 algorithm with exactly the local search's choice
    data = prepare(history, CONFIG)
    search = prequential_search(data.X, data.y, data.day, CONFIG)
    params = training_params(search.best.params, data.y[data.fit], CONFIG)
    [request] = container.requests
    prefix = f"s3://{bucket}/training/fs-test-job/"
    assert request == {
        "TrainingJobName": "fs-test-job",
        "AlgorithmSpecification": {"TrainingImage": XGBOOST_3_2_0_US_EAST_1, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "HyperParameters": job_hyperparameters(params, CONFIG),
        "InputDataConfig": [
            {
                "ChannelName": name,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"{prefix}{name}/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "text/csv",
                "CompressionType": "None",
                "InputMode": "File",
            }
            for name in ("train", "validation")
        ],
        "OutputDataConfig": {"S3OutputPath": f"{prefix}output/"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 14_400},
        "Tags": [
            {"Key": "project", "Value": "fraudstream"},
            {"Key": "feature_spec_hash", "Value": FEATURE_SPEC.hash},
        ],
    }
    hyperparameters = request["HyperParameters"]
    assert {k: _value(hyperparameters[k]) for k in params} == params  # every value round-trips exactly
    assert (hyperparameters["num_round"], hyperparameters["early_stopping_rounds"]) == ("600", "40")

    # ... fed the same features: label first, then the spec's columns, no header, exactly the values
    train_csv = _read_csv(s3, f"{prefix}train/")
    np.testing.assert_array_equal(train_csv, np.column_stack([data.y[data.fit], data.X[data.fit]]))
    validation_csv = _read_csv(s3, f"{prefix}validation/")
    np.testing.assert_array_equal(validation_csv, np.column_stack([data.y[data.validation], data.X[data.validation]]))
    first_line = s3.get_object(Bucket=bucket, Key="training/fs-test-job/train/train.csv")["Body"].read().split(b"\n")[0]
    assert first_line.split(b",")[0] in (b"0.0", b"1.0") and len(first_line.split(b",")) == len(FEATURE_SPEC) + 1
    run = json.loads(s3.get_object(Bucket=bucket, Key="training/fs-test-job/run.json")["Body"].read())
    assert run["search"] == search.to_dict() and run["params"] == params
    assert run["channels"] == {"train": int(data.fit.sum()), "validation": int(data.validation.sum())}

    # ... and the job's model, repacked into this project's layout, is published with its model card
    version = f"xgb-{FEATURE_SPEC.hash[:8]}-2026-01-08-s3-fs-test-job"
    published = s3.get_object(Bucket=bucket, Key=f"models/{version}/model.tar.gz")["Body"].read()
    assert published == (tmp_path / "model" / "model.tar.gz").read_bytes()
    with tarfile.open(fileobj=io.BytesIO(published)) as tar:
        names = {m.name for m in tar.getmembers()}
    assert names == {"xgboost-model", "fraudstream", "fraudstream/feature_spec.json", "fraudstream/model_card.json"}
    artifact = load_artifact(tmp_path / "model")
    assert container.booster is not None
    best = container.booster.best_iteration
    # the container's trees up to its best iteration, exactly
    rows = data.X[data.test]
    np.testing.assert_array_equal(
        artifact.booster.inplace_predict(rows), container.booster.inplace_predict(rows, iteration_range=(0, best + 1))
    )
    card = artifact.card
    assert card.model_version == version and card.best_iteration == best
    assert card.params == params
    assert card.threshold == choose_threshold(
        data.y[data.validation],
        container.booster.inplace_predict(data.X[data.validation], iteration_range=(0, best + 1)),
    )
    assert card.extra["search"] == search.to_dict()
    assert card.extra["trained_on"] == "sagemaker"
    assert card.extra["sagemaker"]["training_job_name"] == "fs-test-job"
    assert card.extra["sagemaker"]["training_image"] == XGBOOST_3_2_0_US_EAST_1
    assert card.extra["sagemaker"]["model_artifacts"] == f"{prefix}output/fs-test-job/output/model.tar.gz"
    assert {"auc_roc", "average_precision", "precision", "recall", "card_precision_at_100"} <= set(card.metrics)
    card_object = json.loads(s3.get_object(Bucket=bucket, Key=f"models/{version}/model_card.json")["Body"].read())
    assert card_object == card.to_dict()
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["model_version"] == version and metrics["search"] == search.to_dict()
    assert f"published {version}" in result.output


def test_train_on_sagemaker_needs_a_role(cli: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["train", "--generate", "30", "--out", str(tmp_path), "--on", "sagemaker"])
    assert result.exit_code == 2
    assert "--on sagemaker needs --role-arn" in result.output
