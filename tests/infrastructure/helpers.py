"""Reading synthesized templates without hard-coding logical ids."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_cdk.assertions import Template

__all__ = [
    "as_list",
    "models_by_version",
    "only",
    "policy_statements",
    "render",
    "resources",
    "role_for_service",
    "statements_by_sid",
]


def resources(template: Template, type_: str, props: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for every resource of a type (matching `props` when given)."""
    return {k: dict(v) for k, v in template.find_resources(type_, {"Properties": props} if props else None).items()}


def only(template: Template, type_: str, props: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """The one resource of a type (matching `props`): its logical id and definition."""
    found = resources(template, type_, props)
    assert len(found) == 1, f"expected one {type_}, found {sorted(found)}"
    return next(iter(found.items()))


def render(value: Any) -> Any:
    """A value with intrinsic functions rendered as readable text: `{"Ref": "X"}` -> `<X>`,
    `{"Fn::GetAtt": ["X", "Arn"]}` -> `<X.Arn>`, `Fn::Join` joined, `Fn::Sub` kept as its string,
    `Fn::FindInMap` -> `<map:M[key]>`. Lists and dicts are rendered recursively."""
    if isinstance(value, list):
        return [render(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (fn, arg), *_ = value.items()
        if fn == "Ref":
            return f"<{arg}>"
        if fn == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if fn == "Fn::Join":
            return arg[0].join(str(render(part)) for part in arg[1])
        if fn == "Fn::Sub":
            return arg if isinstance(arg, str) else arg[0]
        if fn == "Fn::FindInMap":
            return f"<map:{arg[0]}[{render(arg[1])}].{arg[2]}>"
    return {k: render(v) for k, v in value.items()}


def policy_statements(template: Template, role_id: str) -> list[dict[str, Any]]:
    """Every statement of every AWS::IAM::Policy attached to the role, rendered."""
    statements: list[dict[str, Any]] = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"].get("Roles", []):
            statements.extend(render(policy["Properties"]["PolicyDocument"]["Statement"]))
    return statements


def statements_by_sid(template: Template, role_id: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in policy_statements(template, role_id)}


def role_for_service(template: Template, service: str) -> tuple[str, dict[str, Any]]:
    """The one role a service principal (for example `sagemaker.amazonaws.com`) assumes."""
    matches = {
        logical_id: role
        for logical_id, role in resources(template, "AWS::IAM::Role").items()
        if service in json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
    }
    assert len(matches) == 1, f"expected one role for {service}, found {sorted(matches)}"
    return next(iter(matches.items()))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def models_by_version(template: Template) -> dict[str, dict[str, Any]]:
    """Rendered SageMaker model properties by the model version in their tag."""
    models = {}
    for model in resources(template, "AWS::SageMaker::Model").values():
        tags = {t["Key"]: t["Value"] for t in model["Properties"]["Tags"]}
        models[tags["fraudstream:model-version"]] = render(model["Properties"])
    return models
