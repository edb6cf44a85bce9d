"""Promoting the challenger: all of an endpoint's traffic moves to its challenger variant, once
`fraudstream model compare` has found the challenger better on the same labelled period.

The move is SageMaker's `UpdateEndpointWeightsAndCapacities` (challenger 1, every other variant 0),
the same call on AWS, LocalStack's or the embedded emulator's control plane and the local server
(`fraudstream serve --challenger`), which answers it on its own port. Weights rather than a new
endpoint configuration: the challenger's instances already serve (no cold start, no instance
replaced), and the champion stays deployed at weight 0, so that a rollback is the same call the
other way. On AWS the endpoint is `Updating` until the new weights apply: the promotion waits for
`InService` with botocore's `endpoint_in_service` waiter.

NOTE: the CDK app still declares the old weights: the next `cdk deploy` should deploy the promoted
model as the champion (context `challenger_model_dir` dropped or replaced), or it puts the old split back.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path  # noqa: TC003 (typer reads the options' annotations at runtime)
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from ml_model.exceptions import CompareReportError, PromotionError, PromotionRefusedError
from ml_model.serving import CHALLENGER_VARIANT, CHAMPION_VARIANT, DEFAULT_ENDPOINT_NAME

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CompareReport",
    "Promotion",
    "Verdict",
    "promote",
    "promote_command",
    "read_compare_report",
]

logger = logging.getLogger(__name__)

_IN_SERVICE: Final = "InService"
# botocore's endpoint_in_service waiter polls every 30 s up to 120 times on AWS; the local server and
# the emulators are in service at once (the first poll succeeds without waiting).
WAITER_DELAY_S: Final = 15
WAITER_MAX_ATTEMPTS: Final = 240


class Verdict(StrEnum):
    """The verdicts of `fraudstream model compare`."""

    CHALLENGER_BETTER = "challenger_better"
    CHAMPION_BETTER = "champion_better"
    TIE = "tie"


@dataclass(frozen=True)
class CompareReport:
    """What promotion needs of a compare.json: the verdict and the two models' figures.

    Attributes:
        verdict: which model the comparison found better, if either.
        champion, challenger: each model's figures (`model_version`, metrics, ...).
        path: where the report was read.
    """

    verdict: Verdict
    champion: dict[str, Any]
    challenger: dict[str, Any]
    path: Path

    def model_version(self, role: str) -> str | None:
        """The model version the report names for `champion` or `challenger`, when it names one."""
        version = (self.champion if role == CHAMPION_VARIANT else self.challenger).get("model_version")
        return str(version) if version is not None else None


@dataclass(frozen=True)
class Promotion:
    """What a promotion did.

    Attributes:
        endpoint_name: the endpoint.
        before: each variant's weight before the promotion.
        after: each variant's weight once the endpoint is back in service.
        changed: False when the challenger already took all the traffic (nothing was called).
    """

    endpoint_name: str
    before: dict[str, float]
    after: dict[str, float]
    changed: bool

    @staticmethod
    def shares(weights: Mapping[str, float]) -> dict[str, float]:
        """Each variant's share of the traffic: weight / sum of weights, as SageMaker splits it."""
        total = sum(weights.values())
        return {name: (w / total if total > 0 else 0.0) for name, w in weights.items()}


def read_compare_report(path: Path) -> CompareReport:
    """The compare report at `path`.

    Raises:
        CompareReportError: missing, not JSON, or without a known verdict and both models' figures.
    """
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise CompareReportError(f"cannot read the compare report {path}: {e.strerror or e}") from e
    except ValueError as e:
        raise CompareReportError(f"the compare report {path} is not JSON: {e}") from e
    if not isinstance(report, dict):
        raise CompareReportError(f"the compare report {path} is not a JSON object")
    verdict = report.get("verdict")
    if verdict not in {v.value for v in Verdict}:
        raise CompareReportError(
            f"the compare report {path} has verdict {verdict!r}, not one of {', '.join(v.value for v in Verdict)}"
        )
    roles = {role: report.get(role) for role in (CHAMPION_VARIANT, CHALLENGER_VARIANT)}
    missing = [role for role, figures in roles.items() if not isinstance(figures, dict)]
    if missing:
        raise CompareReportError(f"the compare report {path} has no figures for the {' and the '.join(missing)}")
    return CompareReport(Verdict(verdict), roles[CHAMPION_VARIANT], roles[CHALLENGER_VARIANT], path)  # type: ignore[arg-type]


def promote(
    endpoint_name: str,
    *,
    challenger_variant: str = CHALLENGER_VARIANT,
    champion_variant: str = CHAMPION_VARIANT,
    sagemaker_client: Any,
    waiter_delay_s: int = WAITER_DELAY_S,
    waiter_max_attempts: int = WAITER_MAX_ATTEMPTS,
) -> Promotion:
    """Move all of the endpoint's traffic to `challenger_variant` (weight 1; the champion and any other
    variant 0) and wait until the endpoint is in service again.

    Args:
        endpoint_name: the SageMaker endpoint (or the local server's `--name`).
        challenger_variant: the variant that takes the traffic.
        champion_variant: the variant that gives it up (it must exist: promoting is a champion/challenger move).
        sagemaker_client: boto3's `sagemaker` client (AWS, an emulator, or the local server's URL).
        waiter_delay_s: seconds between DescribeEndpoint polls while the endpoint updates.
        waiter_max_attempts: polls before giving up.

    Returns:
        The weights before and after.

    Raises:
        PromotionError: no such endpoint or variant, the endpoint is not in service (an update already
            running), the change is refused, or the endpoint does not come back in service.
    """
    import botocore.exceptions

    from fraudstream.aws import aws_errors

    where = f"endpoint {endpoint_name} at {sagemaker_client.meta.endpoint_url}"
    try:
        with aws_errors(f"endpoint {endpoint_name}"):
            before = _describe(sagemaker_client, endpoint_name)
            status = before["EndpointStatus"]
            weights = _weights(before)
            absent = [v for v in (champion_variant, challenger_variant) if v not in weights]
            if absent:
                raise PromotionError(
                    f"{where} has no variant {' or '.join(absent)}: its variants are {', '.join(weights)}"
                )
            if status != _IN_SERVICE:
                raise PromotionError(f"{where} is {status}, not {_IN_SERVICE}: wait for it and promote again")
            target = {name: (1.0 if name == challenger_variant else 0.0) for name in weights}
            if Promotion.shares(weights) == target:
                return Promotion(endpoint_name, weights, weights, changed=False)
            sagemaker_client.update_endpoint_weights_and_capacities(
                EndpointName=endpoint_name,
                DesiredWeightsAndCapacities=[{"VariantName": n, "DesiredWeight": w} for n, w in target.items()],
            )
            sagemaker_client.get_waiter("endpoint_in_service").wait(
                EndpointName=endpoint_name,
                WaiterConfig={"Delay": waiter_delay_s, "MaxAttempts": waiter_max_attempts},
            )
            after = _weights(_describe(sagemaker_client, endpoint_name))
    except botocore.exceptions.WaiterError as e:
        raise PromotionError(f"{where} did not come back in service after the change: {e}") from e
    except botocore.exceptions.ClientError as e:
        message = e.response.get("Error", {}).get("Message", str(e))
        raise PromotionError(f"{where}: {message}") from e
    logger.info("challenger promoted", extra={"endpoint_name": endpoint_name, "before": weights, "after": after})
    return Promotion(endpoint_name, weights, after, changed=True)


def _describe(client: Any, endpoint_name: str) -> dict[str, Any]:
    return dict(client.describe_endpoint(EndpointName=endpoint_name))


def _weights(description: Mapping[str, Any]) -> dict[str, float]:
    """Each variant's weight: the desired one (where an update is heading), else the current one."""
    weights = {}
    for variant in description.get("ProductionVariants") or []:
        weight = variant.get("DesiredWeight", variant.get("CurrentWeight"))
        weights[str(variant["VariantName"])] = float(weight) if weight is not None else 0.0
    return weights


def promote_command(
    endpoint_name: Annotated[
        str, typer.Option("--endpoint-name", help="The SageMaker endpoint (or the local server's --name).")
    ] = DEFAULT_ENDPOINT_NAME,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            help="The control plane's URL: the local server's (`fraudstream serve` answers SageMaker's calls on its "
            "port). Default: where `fraudstream invoke` sends (AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, else "
            "AWS_ENDPOINT_URL); SageMaker on AWS when neither is set.",
        ),
    ] = None,
    compare_report: Annotated[
        Path | None,
        typer.Option(
            "--compare-report",
            help="The compare.json `fraudstream model compare` wrote for these two models: promotion goes ahead "
            "only when its verdict is challenger_better.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Promote without a report, or against its verdict.")] = False,
    challenger_variant: Annotated[str, typer.Option(help="The variant that takes all the traffic.")] = (
        CHALLENGER_VARIANT
    ),
    champion_variant: Annotated[str, typer.Option(help="The variant that gives it up.")] = CHAMPION_VARIANT,
) -> None:
    """Move all of the endpoint's traffic to its challenger variant (SageMaker's
    UpdateEndpointWeightsAndCapacities: challenger 1, champion 0), once `fraudstream model compare`
    found the challenger better.

    The champion stays deployed at weight 0: rolling back is the same call with the weights swapped
    (printed after the promotion). Refused without --compare-report, or when its verdict is not
    challenger_better, or when the report's models are not the ones the endpoint serves, unless --force.
    """
    from rich.console import Console

    from fraudstream.aws import aws_errors, default_session
    from ml_model.scoring.sagemaker import is_aws_endpoint, runtime_client

    console = Console()
    report = read_compare_report(compare_report) if compare_report is not None else None
    if report is None and not force:
        raise PromotionRefusedError(
            "no comparison to promote on: run `fraudstream model compare --champion A --challenger B` first and "
            "pass its compare.json with --compare-report (or --force)"
        )
    if report is not None and report.verdict is not Verdict.CHALLENGER_BETTER:
        if not force:
            raise PromotionRefusedError(
                f"{report.path} says {report.verdict.value}: the challenger is not better than the champion"
            )
        console.print(f"promoting against {report.path}'s verdict ({report.verdict.value}): --force", highlight=False)
    if endpoint_url is None:
        # The runtime URL `invoke` uses: the local server answers the control plane too.
        with aws_errors():
            resolved = runtime_client().meta.endpoint_url
        endpoint_url = None if is_aws_endpoint(resolved) else resolved
    if report is not None:
        _check_report_models(
            report,
            endpoint_name,
            endpoint_url,
            {CHAMPION_VARIANT: champion_variant, CHALLENGER_VARIANT: challenger_variant},
            force=force,
            console=console,
        )
    with aws_errors():
        client = default_session().client("sagemaker", endpoint_url=endpoint_url)
    promotion = promote(
        endpoint_name, challenger_variant=challenger_variant, champion_variant=champion_variant, sagemaker_client=client
    )
    before, after = Promotion.shares(promotion.before), Promotion.shares(promotion.after)
    if not promotion.changed:
        console.print(
            f"endpoint {endpoint_name}: variant {challenger_variant} already takes all the traffic; nothing changed",
            highlight=False,
        )
        return
    console.print(
        f"endpoint {endpoint_name}: "
        + ", ".join(f"{name} {after[name]:.0%} of the traffic (was {before[name]:.0%})" for name in after),
        highlight=False,
    )
    url = f" --endpoint-url {endpoint_url}" if endpoint_url is not None else ""
    swapped = " ".join(f"VariantName={name},DesiredWeight={promotion.before[name]:g}" for name in promotion.before)
    console.print(
        f"roll back: aws sagemaker update-endpoint-weights-and-capacities{url} --endpoint-name {endpoint_name} "
        f"--desired-weights-and-capacities {swapped}",
        highlight=False,
        soft_wrap=True,
    )


def _check_report_models(
    report: CompareReport,
    endpoint_name: str,
    endpoint_url: str | None,
    variants: Mapping[str, str],
    *,
    force: bool,
    console: Any,
) -> None:
    """Refuse a report about other models than the endpoint's variants serve (a stale compare.json),
    unless forced; say so when the variants' cards cannot be read to check."""
    from fraudstream.exceptions import FraudstreamError
    from ml_model.scoring.sagemaker import endpoint_variant_cards, runtime_client

    try:
        cards = endpoint_variant_cards(endpoint_name, runtime_client(endpoint_url=endpoint_url))
    except FraudstreamError as e:
        console.print(f"note: the report's models were not checked against the endpoint's: {e}", highlight=False)
        return
    stale = []
    for role, variant in variants.items():
        expected, card = report.model_version(role), cards.get(variant)
        if expected is not None and card is not None and card.model_version != expected:
            stale.append(f"variant {variant} serves model {card.model_version}, the report's {role} is {expected}")
    if stale and not force:
        raise PromotionRefusedError(
            f"{report.path} compares other models than endpoint {endpoint_name} serves: " + "; ".join(stale)
        )
    if stale:
        console.print(f"promoting although {'; '.join(stale)}: --force", highlight=False)
