"""Fixtures of the CDK tests: tiny real model artifacts, and the app synthesized once per session in
each configuration the tests need (synthesis takes seconds; every assertion reads the same assembly)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.infrastructure.tiny_model import write_tiny_model

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_cdk import App, cx_api
    from aws_cdk.assertions import Template

CDK_JSON = Path(__file__).parents[2] / "cdk.json"
ALARM_EMAIL = "fraud-oncall@example.com"
CHALLENGER_WEIGHT = 0.2


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


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a tiny real model.tar.gz (the champion)."""
    out = tmp_path_factory.mktemp("champion")
    write_tiny_model(out, "champion-1", threshold=0.42)
    return out


@pytest.fixture(scope="session")
def challenger_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("challenger")
    write_tiny_model(out, "challenger-1", threshold=0.5)
    return out


@pytest.fixture(scope="session")
def synth_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., SynthesizedApp]:
    """Builds the app with cdk.json's context plus the given values and synthesizes it."""
    from infrastructure.app import build_app

    def synth(**context: Any) -> SynthesizedApp:
        outdir = tmp_path_factory.mktemp("cdk.out")
        app = build_app(cdk_context(**context), outdir=str(outdir))
        return SynthesizedApp(app, app.synth(), outdir)

    return synth


@pytest.fixture(scope="session")
def aws_app(synth_factory: Callable[..., SynthesizedApp], model_dir: Path, challenger_dir: Path) -> SynthesizedApp:
    """The AWS app (fraudstream-dev and fraudstream-prod) with a champion/challenger split and an alarm subscriber."""
    return synth_factory(
        model_dir=str(model_dir),
        challenger_model_dir=str(challenger_dir),
        challenger_weight=str(CHALLENGER_WEIGHT),
        alarm_email=ALARM_EMAIL,
    )


@pytest.fixture(scope="session")
def dev(aws_app: SynthesizedApp) -> Template:
    return aws_app.template("fraudstream-dev")


@pytest.fixture(scope="session")
def prod(aws_app: SynthesizedApp) -> Template:
    return aws_app.template("fraudstream-prod")
