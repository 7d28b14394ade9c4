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
# what the manifest is parsed from: a file changed after it means the manifest is stale
PROJECT_SOURCES = (DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "models", DBT_PROJECT_DIR / "macros",
                   DBT_PROJECT_DIR / "tests", DBT_PROJECT_DIR.parent / "seeds")


def prepare() -> Path:
    """Parse the project so a manifest exists; tests and `familyhub demo` call this before loading definitions."""
    dbt_project.preparer.prepare(dbt_project)
    return dbt_project.manifest_path


def files_newer_than_manifest(manifest: Path | None = None) -> list[str]:
    """dbt project files (relative paths) changed after the manifest (by default the project's) was parsed, newest
    first; [] when there is no manifest yet (nothing to be stale) or none changed."""
    manifest = Path(manifest or dbt_project.manifest_path)
    if not manifest.exists():
        return []
    parsed = manifest.stat().st_mtime
    files = [p for source in PROJECT_SOURCES if source.exists()
             for p in ([source] if source.is_file() else source.rglob("*"))
             if p.is_file() and p.suffix in (".sql", ".yml", ".yaml", ".csv", ".md")]
    newer = sorted((p for p in files if p.stat().st_mtime > parsed), key=lambda p: p.stat().st_mtime, reverse=True)
    return [str(p.relative_to(DBT_PROJECT_DIR.parent)) for p in newer]


def stale_manifest_message(manifest: Path | None = None) -> str | None:
    """Why Dagster's dbt assets may not be the project on disk, or None."""
    manifest = Path(manifest or dbt_project.manifest_path)
    newer = files_newer_than_manifest(manifest)
    if not newer:
        return None
    return (f"the dbt manifest ({manifest}) is older than {len(newer)} dbt project file(s), e.g. "
            f"{newer[0]}: Dagster's dbt assets are the project as last parsed (a new staging model has no asset, a "
            "removed one still has). Run `make parse`, or reload the code location under `make ui`.")


# under `dagster dev` (`make ui`): parse when the manifest is missing or older than the dbt files, so reloading the
# code location after editing them gives the graph the edited project; not at every load (each run launched by
# `dagster dev` loads the code too: ~6 s). Elsewhere `make parse`, `familyhub demo` and the tests parse.
if not dbt_project.manifest_path.exists() or files_newer_than_manifest():
    dbt_project.prepare_if_dev()
