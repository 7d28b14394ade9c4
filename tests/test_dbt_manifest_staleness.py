"""Dagster's dbt assets come from the manifest: when dbt files change after it was parsed, the code location and
every dbt run say so (a new staging model would otherwise have no asset, and its feed land and never stage)."""

from __future__ import annotations

import os

from orchestration.defs.dbt import project


def test_a_manifest_older_than_a_dbt_file_is_reported_and_a_fresh_one_is_not(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{}", encoding="utf-8")

    os.utime(manifest, (946_684_800, 946_684_800))  # parsed in 2000: every project file is newer
    message = project.stale_manifest_message(manifest)
    assert message and "make parse" in message and str(manifest) in message
    newer = project.files_newer_than_manifest(manifest)
    assert any(path.startswith("dbt_project/models/staging/") for path in newer)
    assert any(path.startswith("seeds/") for path in newer)  # a seed is part of the project too

    future = max(p.stat().st_mtime for p in project.DBT_PROJECT_DIR.rglob("*.sql")) + 3600
    os.utime(manifest, (future, future))
    assert project.files_newer_than_manifest(manifest) == [] and project.stale_manifest_message(manifest) is None

    manifest.unlink()  # not parsed yet: nothing to be stale (prepare() makes it)
    assert project.stale_manifest_message(manifest) is None
