"""The core (`fraudstream`'s contracts, settings, errors, AWS sessions, lake layout) imports no
component, and the CLI imports a component only when one of its commands runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

COMPONENTS = ("processor", "producer", "ml_model", "infrastructure", "synthetic")
CORE = (
    "fraudstream.config",
    "fraudstream.exceptions",
    "fraudstream.aws",
    "fraudstream.contracts",
    "fraudstream.feature_names",
    "fraudstream.lake",
    "fraudstream.lake_table",
    "fraudstream.monitoring_table",
    "fraudstream.stream_rows",
    "fraudstream.alerts_table",
    "fraudstream.named_queries",
    "fraudstream.cli",
)


def _components_imported_by(statement: str) -> list[str]:
    """The component packages in `sys.modules` after `statement` runs in a fresh interpreter."""
    probe = f"{statement}\nimport json, sys\nprint(json.dumps(sorted({{n.split('.')[0] for n in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)  # noqa: S603
    return [name for name in json.loads(result.stdout.splitlines()[-1]) if name in COMPONENTS]


@pytest.mark.parametrize("module", CORE)
def test_a_core_module_imports_no_component(module: str) -> None:
    # GIVEN a fresh interpreter
    # WHEN it imports a core module (the CLI included: its commands are imported when looked up)
    imported = _components_imported_by(f"import {module}")
    # THEN no component package is loaded
    assert imported == [], f"{module} imports {imported}"


def test_a_command_imports_its_own_component_only() -> None:
    # GIVEN a fresh interpreter
    # WHEN the CLI looks up the stream processor's command (what the EMR job's entry point runs)
    imported = _components_imported_by(
        "import typer\nfrom fraudstream.cli import _command\nroot = _command()\n"
        "assert root.get_command(typer.Context(root), 'process') is not None"
    )
    # THEN the producer and the CDK app stay unimported
    assert "processor" in imported
    assert not {"producer", "infrastructure"} & set(imported), imported
