"""The dbt project's own quality bar: sqlfluff clean (dbt templater, duckdb dialect), docs generate, every mart
documented and contracted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from orchestration.defs.dbt.project import DBT_PROJECT_DIR

BIN = Path(sys.executable).parent


def run(args: list[str], settings, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "FAMILYHUB_WAREHOUSE": str(settings.warehouse)}
    return subprocess.run(args, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=timeout)


def test_sqlfluff_lint_is_clean(built_pipeline):
    settings = built_pipeline[0]
    # one process: sqlfluff's worker pool once hung here when a worker died (the lint then timed out after
    # 10 minutes), and in-process it takes about 50 s, no more than two workers sharing the suite's cores
    result = run([str(BIN / "sqlfluff"), "lint", "models", "--processes", "1", "--format", "json",
                  "--disable-progress-bar"], settings)
    report = json.loads(result.stdout or "[]")
    violations = [f"{Path(f['filepath']).name}:{v['start_line_no']} {v['code']} {v['description']}"
                  for f in report for v in f["violations"]]
    assert report, result.stderr[-2000:]  # sqlfluff ran and looked at files
    assert not violations, "\n".join(violations[:40])


def test_docs_generate_works_and_every_mart_is_documented(built_pipeline, dbt_manifest):
    settings = built_pipeline[0]
    result = run([str(BIN / "dbt"), "docs", "generate", "--profiles-dir", ".", "--quiet"], settings)
    assert result.returncode == 0, result.stdout[-2000:]
    target = Path(os.environ.get("DBT_TARGET_PATH") or DBT_PROJECT_DIR / "target")
    target = target if target.is_absolute() else DBT_PROJECT_DIR / target
    assert (target / "catalog.json").exists()

    manifest = json.loads(dbt_manifest.read_text())
    marts = [n for n in manifest["nodes"].values()
             if n["resource_type"] == "model" and n["original_file_path"].startswith("models/marts/")]
    assert marts, "no marts in the project"
    for node in marts:
        assert node["description"].strip(), f"{node['name']} has no description"
        assert node["config"]["contract"]["enforced"], f"{node['name']} has no enforced contract"
        undocumented = [c for c, meta in node["columns"].items() if not meta["description"].strip()]
        assert not undocumented, f"{node['name']}: columns without a description: {undocumented}"
    exposures = manifest.get("exposures", {})
    assert exposures, "exposures name the returns and the analyst workbook"
