"""The CDK app (`cdk.json` runs `python -m infrastructure.app`): one stack per environment.

    npx cdk deploy fraudstream-dev                       # on-demand streams, one small endpoint instance
    npx cdk deploy fraudstream-prod                      # provisioned shards, auto scaling, data retained
    npx cdk synth -c local=true                          # fraudstream-local, for `cdklocal deploy` (LocalStack)

Context (`-c key=value`): `model_dir` (default `model`: a folder from `fraudstream train`),
`challenger_model_dir` and `challenger_weight` (a champion/challenger split), `shards` (provisioned
shards per stream, 0 for on-demand), `retention_hours`, `serverless=true`, `alarm_email`,
`local=true`. Context applies to every stack of the app, except `serverless=true`, which is for
fraudstream-dev only: it gives dev a serverless endpoint, while prod keeps its instances and auto
scaling (the app synthesizes both stacks whichever one is deployed, so it cannot refuse the flag for
prod; it warns on fraudstream-prod instead). `serverless=true` with `challenger_model_dir` is an
error (a serverless endpoint has one variant). Account and region come from the CLI's credentials
(CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION); without them the templates are region-agnostic.

The prod stack's fixed names end in `-prod` (`transactions-prod`, `alerts-prod`,
`fraud-detector-prod`, Glue database `fraudstream_prod`, ...), so dev and prod can share an account
and region; dev keeps the names the fraudstream commands default to. Names are the configs' below, never the
shell's FRAUD_* variables.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

from aws_cdk import Annotations, App, Environment, LegacyStackSynthesizer, Validations
from cdk_nag import AwsSolutionsChecks

from fraudstream.exceptions import FraudstreamError
from infrastructure.config import (
    AlarmProps,
    AutoscalingProps,
    EndpointProps,
    EnvironmentConfig,
    LakeProps,
    ProcessorProps,
    ResourceNames,
    ServerlessProps,
    StreamProps,
)
from infrastructure.constants import APP_NAME
from infrastructure.exceptions import InvalidStackConfigError
from infrastructure.model_artifact import resolve_model
from infrastructure.stack import FraudstreamStack

__all__ = ["DEV", "FEATURE_FLAGS", "LOCAL", "PROD", "build_app", "main", "stack_name"]

# CDK feature flags the stacks rely on, set here (not only in cdk.json) so that tests and the CLI
# synthesize the same templates. Context given to build_app, or by the CLI, overrides them.
FEATURE_FLAGS: dict[str, Any] = {
    # Access-log delivery through a bucket policy (ACLs stay disabled on every bucket).
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    "@aws-cdk/aws-s3:createDefaultLoggingPolicy": True,
    # Merge policy statements that differ only in resources: shorter, reviewable policies.
    "@aws-cdk/aws-iam:minimizePolicies": True,
    "@aws-cdk/core:enablePartitionLiterals": True,
    "@aws-cdk/aws-kms:aliasNameRef": True,
    "@aws-cdk/aws-sns:enforceSslPolicy": True,
}

# Each stack's names are set here, explicitly: never read from the shell's FRAUD_* variables, which
# `fraudstream aws env --stack ...` sets to one deployed stack's names.
DEV = EnvironmentConfig(
    name="dev",
    names=ResourceNames(),
    streams=StreamProps(shard_count=None, retention_hours=24),
    # A burstable instance is enough for a demo's traffic; the fallback model covers its bursts.
    endpoint=EndpointProps(instance_type="ml.t2.medium", instance_count=1),
    processor=ProcessorProps(max_vcpu="8 vCPU", max_memory="32 GB", executors=1, log_retention_days=14),
    lake=LakeProps(),
    alarms=AlarmProps(),
    retain_data=False,
)
PROD = EnvironmentConfig(
    name="prod",
    names=ResourceNames(),
    streams=StreamProps(shard_count=4, retention_hours=168),
    endpoint=EndpointProps(
        instance_type="ml.c5.xlarge",
        instance_count=2,
        autoscaling=AutoscalingProps(min_capacity=2, max_capacity=8, invocations_per_instance=3000.0),
    ),
    processor=ProcessorProps(
        max_vcpu="32 vCPU",
        max_memory="128 GB",
        driver_cores=2,
        driver_memory="8g",
        executor_cores=4,
        executor_memory="16g",
        executors=4,
        log_retention_days=90,
    ),
    lake=LakeProps(noncurrent_versions_expire_days=30),
    alarms=AlarmProps(),
    retain_data=True,
    name_suffix="-prod",
)
# LocalStack's community edition: streams, buckets, table, dashboard and alarms only.
LOCAL = EnvironmentConfig(name="local", names=ResourceNames(), local=True)


def stack_name(config: EnvironmentConfig) -> str:
    """`fraudstream-<environment>`."""
    return f"{APP_NAME}-{config.name}"


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _flag(app: App, key: str) -> bool:
    value = app.node.try_get_context(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text not in _TRUE + _FALSE:
        raise InvalidStackConfigError(f"context {key}={value!r} is not true or false")
    return text in _TRUE


def _number(app: App, key: str, kind: type[int] | type[float]) -> Any:
    value = app.node.try_get_context(key)
    if value is None:
        return None
    try:
        return kind(value)
    except (TypeError, ValueError) as e:
        raise InvalidStackConfigError(
            f"context {key}={value!r} is not a{'n integer' if kind is int else ' number'}"
        ) from e


def _with_context(config: EnvironmentConfig, app: App) -> EnvironmentConfig:
    """The environment with the context's overrides applied."""
    shards = _number(app, "shards", int)
    retention = _number(app, "retention_hours", int)
    if shards is not None or retention is not None:
        streams = dataclasses.replace(
            config.streams,
            shard_count=config.streams.shard_count if shards is None else (shards or None),
            retention_hours=config.streams.retention_hours if retention is None else retention,
        )
        config = dataclasses.replace(config, streams=streams)
    endpoint = config.endpoint
    weight = _number(app, "challenger_weight", float)
    if weight is not None:
        endpoint = dataclasses.replace(endpoint, challenger_weight=weight)
    if _flag(app, "serverless") and config.name == DEV.name:
        endpoint = dataclasses.replace(endpoint, autoscaling=None, serverless=ServerlessProps())
    email = app.node.try_get_context("alarm_email")
    alarms = dataclasses.replace(config.alarms, email=str(email)) if email else config.alarms
    return dataclasses.replace(config, endpoint=endpoint, alarms=alarms)


def build_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> App:
    """The app with its stacks and cdk-nag's AwsSolutions checks (not yet synthesized).

    Args:
        context: CDK context (the CLI's `-c` values arrive through the environment instead).
        outdir: the cloud assembly's folder (the CLI sets it through the environment).

    Raises:
        ModelArtifactMissingError: no model.tar.gz in `model_dir` (AWS stacks only).
        InvalidStackConfigError: a malformed or contradictory context value.
    """
    app = App(context={**FEATURE_FLAGS, **(context or {})}, outdir=outdir)
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    env = Environment(account=account, region=region) if account and region else None
    if _flag(app, "local"):
        config = _with_context(LOCAL, app)
        FraudstreamStack(
            app,
            stack_name(config),
            config=config,
            model=None,
            description="fraudstream on LocalStack: streams, lake bucket, alerts table, dashboard and alarms",
            # Deploys without `cdk bootstrap` (no assets), which needs services LocalStack is not running here.
            synthesizer=LegacyStackSynthesizer(),
            analytics_reporting=False,
            env=env,
        )
    else:
        model = resolve_model(str(app.node.try_get_context("model_dir") or "model"))
        challenger_dir = app.node.try_get_context("challenger_model_dir")
        challenger = resolve_model(str(challenger_dir)) if challenger_dir else None
        serverless = _flag(app, "serverless")
        if serverless and challenger is not None:
            raise InvalidStackConfigError(
                "context serverless=true (one serverless variant) cannot be combined with challenger_model_dir"
            )
        for base in (DEV, PROD):
            config = _with_context(base, app)
            stack = FraudstreamStack(
                app,
                stack_name(config),
                config=config,
                model=model,
                challenger=challenger,
                description=f"fraudstream ({config.name}): real-time card-fraud detection",
                termination_protection=config.retain_data,
                env=env,
            )
            if serverless and config.endpoint.serverless is None:
                Annotations.of(stack).add_warning_v2(
                    "fraudstream:serverlessIsDevOnly",
                    f"context serverless=true applies to {stack_name(DEV)} only: {stack.stack_name} keeps its "
                    f"{config.endpoint.instance_count} x {config.endpoint.instance_type} endpoint",
                )
    # cdk-nag 3 is a policy-validation plugin: synthesis fails on an unacknowledged finding.
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app


def main() -> None:
    """Synthesize; a mistake the user can fix is one line on stderr and exit status 1."""
    try:
        app = build_app()
    except FraudstreamError as e:
        message = f"error: {e}" + (f" (hint: {e.hint})" if e.hint else "")
        sys.stderr.write(message + "\n")
        sys.exit(1)
    app.synth()


if __name__ == "__main__":
    main()
