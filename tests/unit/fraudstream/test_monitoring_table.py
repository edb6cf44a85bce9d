"""The lake's monitoring table: a core declaration (no component imported) that `fraudstream monitor`
writes by, with one drift column per feature of the contract."""

from __future__ import annotations

import json
import subprocess
import sys

from fraudstream.feature_names import FEATURE_NAMES
from fraudstream.monitoring_table import MONITORING, psi_column


def test_the_core_module_imports_no_component() -> None:
    # GIVEN a fresh interpreter
    probe = (
        "import fraudstream.monitoring_table, json, sys\n"
        "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules})))"
    )
    # WHEN it imports the monitoring table
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)  # noqa: S603
    # THEN no component package is loaded
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert not loaded & {"processor", "producer", "ml_model", "infrastructure", "synthetic"}


def test_the_table_has_a_drift_column_per_feature_and_is_partitioned_by_day() -> None:
    names = MONITORING.schema.names
    assert [n for n in names if n.startswith("psi__")] == [psi_column(f) for f in FEATURE_NAMES]
    assert names[0] == "model_version" and names[-1] == "computed_at"
    assert MONITORING.partition_keys == ("dt",) and "dt" not in names
    assert MONITORING.prefix == "monitoring/"


def test_the_monitor_command_writes_by_it() -> None:
    from ml_model.monitor_cli import monitoring_schema

    assert monitoring_schema() is MONITORING.schema
