"""The dbt project, on its own so `dagster-dbt project prepare-and-package --file` can import it cheaply."""

import os
import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"

# dagster-dbt runs `dbt` from PATH; a venv's scripts are not on PATH unless the venv is activated.
if shutil.which("dbt") is None:
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

# DBT_TARGET_PATH is dbt's own variable (dagster-dbt's invocations honour it too): set it to keep parallel
# checkouts or developers from sharing one manifest and partial-parse file.
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR,
                         target_path=Path(os.environ.get("DBT_TARGET_PATH", "target")))


def prepare() -> Path:
    """Parse the project so a manifest exists; tests and `familyhub demo` call this before loading definitions."""
    dbt_project.preparer.prepare(dbt_project)
    return dbt_project.manifest_path
