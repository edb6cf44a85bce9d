"""Fixtures of the CDK tests: tiny real model artifacts, and the app synthesized once per session in
each configuration the tests need (synthesis takes seconds; every assertion reads the same assembly)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.infrastructure._stacks import ALARM_EMAIL, CHALLENGER_WEIGHT, SynthesizedApp, cdk_context
from tests.infrastructure.tiny_model import write_tiny_model

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from aws_cdk.assertions import Template


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
