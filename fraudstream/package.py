"""`fraudstream package`: the stream processor's job files for EMR Serverless, in `dist/emr/`.

    main.py             the entry point spark-submit runs: `fraudstream process` with the job's arguments
    fraudstream.zip     the project's packages (`spark.submit.pyFiles`)
    pyspark_env.tar.gz  the locked dependencies for emr-spark-8.1.0 (Python 3.11, x86_64 Linux),
                        unpacked by `spark.archives=...#environment`; its `bin/python` runs driver
                        and Python workers. PySpark and py4j are left out: the release provides them.

The CDK stack's outputs say where to upload them (`ProcessorCodeLocation`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.console import Console

from fraudstream.exceptions import FraudstreamError

__all__ = ["PACKAGES", "job_requirements", "package", "write_code", "write_environment"]

console = Console(stderr=True)

PROJECT_ROOT: Final = Path(__file__).resolve().parent.parent
# The packages the job imports: `fraudstream process` looks up the processor's command only, which
# needs the core and the model code (tests/unit/fraudstream/test_layers.py checks that it imports
# neither the producer nor infrastructure/, the CDK app).
PACKAGES: Final = ("fraudstream", "processor", "ml_model")
# Provided by the EMR release: shipping them would shadow its own Spark.
PROVIDED: Final = ("pyspark", "py4j")
TARGET_PYTHON: Final = "3.11"
TARGET_PLATFORM: Final = "x86_64-manylinux_2_28"

MAIN: Final = '''"""EMR Serverless entry point: `fraudstream process` with the job run's arguments."""

import sys

from fraudstream.cli import main

main(["process", *sys.argv[1:]])
'''

# The release's own Python 3.11, with this archive's packages first on its path (works wherever
# Spark unpacks the archive, unlike a venv's absolute interpreter link).
PYTHON_WRAPPER: Final = f"""#!/bin/sh
here="$(cd "$(dirname "$0")/.." && pwd)"
export PYTHONPATH="$here/lib/python{TARGET_PYTHON}/site-packages${{PYTHONPATH:+:$PYTHONPATH}}"
exec python{TARGET_PYTHON} "$@"
"""


class PackagingError(FraudstreamError):
    """Raised when the job's dependencies cannot be exported or installed."""

    hint = "run it from a clone of the project after `make install` (it uses the project's uv.lock and uv)"


def _uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        raise PackagingError("uv not found")
    return found


def job_requirements(project_root: Path = PROJECT_ROOT) -> list[str]:
    """The locked requirements of the job (core and `spark` extra), without what EMR provides."""
    export = ["export", "--frozen", "--no-dev", "--no-hashes", "--no-header", "--no-emit-project", "--extra", "spark"]
    result = subprocess.run(  # noqa: S603 - uv with fixed arguments
        [_uv(), *export],
        cwd=project_root,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise PackagingError(f"uv export failed: {result.stderr.strip()[-300:]}")
    lines = [line.strip() for line in result.stdout.splitlines()]
    return [
        line
        for line in lines
        if line and not line.startswith(("#", "-")) and line.split("==")[0].split("[")[0] not in PROVIDED
    ]


def write_code(out: Path, project_root: Path = PROJECT_ROOT) -> list[Path]:
    """main.py and fraudstream.zip (every file of the job's packages but caches)."""
    out.mkdir(parents=True, exist_ok=True)
    main = out / "main.py"
    main.write_text(MAIN)
    archive = out / "fraudstream.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in PACKAGES:
            for path in sorted((project_root / name).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    zf.write(path, path.relative_to(project_root).as_posix())
    return [main, archive]


def _install(requirements: list[str], site: Path, *, offline: bool) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as listing:
        listing.write("\n".join(requirements) + "\n")
        listing.flush()
        command = [_uv(), "pip", "install", "--quiet", "--target", str(site), "--requirement", listing.name]
        command += ["--python-version", TARGET_PYTHON, "--python-platform", TARGET_PLATFORM, "--only-binary", ":all:"]
        if offline:
            command.append("--offline")
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our uv call
    if result.returncode != 0:
        raise PackagingError(f"installing the job's dependencies failed: {result.stderr.strip()[-500:]}")


def write_environment(out: Path, requirements: list[str], *, offline: bool = False) -> Path:
    """pyspark_env.tar.gz: the requirements' wheels for the target platform, and `bin/python`."""
    with tempfile.TemporaryDirectory(prefix="fraudstream-env-") as tmp:
        root = Path(tmp)
        site = root / "lib" / f"python{TARGET_PYTHON}" / "site-packages"
        site.mkdir(parents=True)
        if requirements:
            _install(requirements, site, offline=offline)
        python = root / "bin" / "python"
        python.parent.mkdir()
        python.write_text(PYTHON_WRAPPER)
        python.chmod(0o755)
        archive = out / "pyspark_env.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for path in sorted(root.iterdir()):
                tar.add(path, arcname=path.name)
    return archive


def package(
    out: Annotated[Path, typer.Option(help="Folder for main.py, fraudstream.zip and pyspark_env.tar.gz.")] = Path(
        "dist/emr"
    ),
    offline: Annotated[bool, typer.Option(help="Install the dependencies from uv's cache only.")] = False,
) -> None:
    """Build the stream processor's job files for EMR Serverless (emr-spark-8.1.0, Python 3.11, x86_64).

    Upload them to the stack's `ProcessorCodeLocation` output, then `fraudstream aws start-processor`.
    The dependencies are the locked ones (uv.lock), as wheels for Amazon Linux; PySpark and py4j
    come from the release.
    """
    requirements = job_requirements()
    files = write_code(out)
    with console.status(f"installing {len(requirements)} locked dependencies for Python {TARGET_PYTHON} on Linux"):
        files.append(write_environment(out, requirements, offline=offline))
    for path in files:
        console.print(f"{path}  {path.stat().st_size / 1e6:,.1f} MB", highlight=False)
