"""What the CDK tests build their apps with, shared by the fixtures (conftest.py) and the tests that
build an app of their own or check a value the fixtures' app was given."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from aws_cdk import App, cx_api
    from aws_cdk.assertions import Template

__all__ = ["ALARM_EMAIL", "CDK_JSON", "CHALLENGER_WEIGHT", "SynthesizedApp", "cdk_context"]

CDK_JSON: Final = Path(__file__).parents[2] / "cdk.json"
# The alarm subscriber and the challenger's traffic share of the `aws_app` fixture.
ALARM_EMAIL: Final = "fraud-oncall@example.com"
CHALLENGER_WEIGHT: Final = 0.2


def cdk_context(**overrides: Any) -> dict[str, Any]:
    """cdk.json's context (feature flags included), as the CLI passes it, plus `-c` style overrides."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text())["context"]
    return {**context, **overrides}


@dataclass(frozen=True)
class SynthesizedApp:
    """An app and its cloud assembly."""

    app: App
    assembly: cx_api.CloudAssembly
    outdir: Path

    def template(self, stack_name: str) -> Template:
        from aws_cdk.assertions import Template

        return Template.from_json(self.assembly.get_stack_by_name(stack_name).template)

    def template_path(self, stack_name: str) -> Path:
        return Path(self.assembly.get_stack_by_name(stack_name).template_full_path)
