"""`fraudstream package`: the EMR job files. The dependency install itself needs PyPI and is not run
here; what is ours is: the requirement list, the code archive, the entry point and the interpreter
wrapper of the environment archive."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from typing import TYPE_CHECKING

from fraudstream.package import TARGET_PYTHON, job_requirements, write_code, write_environment

if TYPE_CHECKING:
    from pathlib import Path


def _names(requirements: list[str]) -> set[str]:
    return {r.split("==")[0].split("[")[0].lower() for r in requirements}


def test_the_job_requirements_are_the_locked_ones_without_what_emr_provides() -> None:
    requirements = job_requirements()
    names = _names(requirements)
    assert {"xgboost-cpu", "pyarrow", "pandas", "boto3", "protobuf"} <= names
    assert not names & {"pyspark", "py4j"}
    # pinned to the lock, with environment markers where the lock has them
    assert all("==" in r for r in requirements)


def test_main_runs_fraudstream_process_from_the_code_archive(tmp_path: Path) -> None:
    main, archive = write_code(tmp_path / "emr")
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
    assert {"fraudstream/cli.py", "processor/job.py", "ml_model/features.py"} <= names
    # the job does not import the producer or the CDK app (tests/unit/fraudstream/test_layers.py): not shipped
    assert not any(n.startswith(("producer/", "infrastructure/")) for n in names)
    assert not any("__pycache__" in n for n in names)
    # spark-submit puts the --py-files archive on the path: the job's modules come from it
    env = {**os.environ, "PYTHONPATH": str(archive)}
    where = subprocess.run(
        [sys.executable, "-c", "import processor.job as j; print(j.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert where.stdout.strip().startswith(str(archive))
    shown = subprocess.run(
        [sys.executable, str(main), "--help"], env=env, capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert "--until-idle" in shown.stdout and "--checkpoint" in shown.stdout


def test_the_environment_python_puts_its_packages_first(tmp_path: Path) -> None:
    archive = write_environment(tmp_path, [])
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "environment", filter="data")
    env_root = tmp_path / "environment"
    python = env_root / "bin" / "python"
    assert os.access(python, os.X_OK)
    # the release's python3.11 stands in as this interpreter
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    (bin_dir / f"python{TARGET_PYTHON}").symlink_to(sys.executable)
    result = subprocess.run(
        [str(python), "-c", "import sys; print(sys.path[1])"],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == str(env_root.resolve() / "lib" / f"python{TARGET_PYTHON}" / "site-packages")
