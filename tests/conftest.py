"""Shared fixtures: a parsed dbt project and a throwaway Dagster instance per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def isolated_environment(tmp_path_factory):
    """Tests never touch ./data or the developer's Dagster history."""
    home = tmp_path_factory.mktemp("dagster_home")
    data = tmp_path_factory.mktemp("default_data")
    saved = {k: os.environ.get(k) for k in ("DAGSTER_HOME", "FAMILYHUB_DATA_DIR")}
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ["FAMILYHUB_DATA_DIR"] = str(data)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def dbt_manifest():
    from orchestration.defs.dbt.project import prepare

    return prepare()
