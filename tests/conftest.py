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


def pytest_configure(config):
    """Parse the dbt project before collection: test modules import Dagster assets, which read the manifest."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:  # before the project module reads DBT_TARGET_PATH
        use_own_dbt_target(worker)
    from orchestration.defs.dbt.project import prepare

    prepare()


def use_own_dbt_target(worker: str) -> None:
    """Under pytest-xdist (`make test`) each worker parses and builds dbt in a target folder of its own: workers
    sharing one would read each other's half-written manifest, partial parse and run results."""
    import shutil

    shared = REPO_ROOT / "dbt_project" / os.environ.get("DBT_TARGET_PATH", "target")  # an absolute path stays
    own = shared / f"xdist-{worker}"
    own.mkdir(parents=True, exist_ok=True)
    # the controller parsed the project before starting the workers: reuse its parse
    if (shared / "partial_parse.msgpack").exists():
        shutil.copy(shared / "partial_parse.msgpack", own / "partial_parse.msgpack")
    os.environ["DBT_TARGET_PATH"] = str(own)  # subprocesses (dbt, dagster CLI, webserver) inherit it
    os.environ["DBT_LOG_PATH"] = str(own)


@pytest.fixture(scope="session")
def dbt_manifest():
    from orchestration.defs.dbt.project import dbt_project

    return dbt_project.manifest_path


# The shared pipeline: generated and materialised once per session; tests that only read the warehouse use it,
# tests that change data take `pipeline_copy` (a private copy of the data folder).
PIPELINE_PERSONS = 2000
PIPELINE_SEED = 11


def pipeline_graph():
    """Every unpartitioned asset and check of the code location (partitioned returns run per period)."""
    from orchestration.definitions import defs

    assets = [a for a in defs.assets if getattr(a, "partitions_def", None) is None]
    return [*assets, *(defs.asset_checks or [])]


def materialize_pipeline(settings, instance=None, selection=None, graph=None, run_config=None):
    import dagster as dg

    from orchestration.lib.resources import build_resources

    settings.export_for_dbt()  # so dbt's partial parse matches this warehouse
    return dg.materialize(graph or pipeline_graph(), resources=build_resources(settings), instance=instance,
                          selection=selection, run_config=run_config, raise_on_error=False)


@pytest.fixture(scope="session")
def built_pipeline(dbt_manifest, tmp_path_factory):
    """(settings, instance, result) of one successful run of the whole graph on 2,000 synthetic persons."""
    import dagster as dg

    from orchestration.lib.settings import Settings
    from synthetic import DEFAULT_AS_AT, generate

    data_dir = tmp_path_factory.mktemp("built_pipeline")
    generate(persons=PIPELINE_PERSONS, seed=PIPELINE_SEED, out=data_dir)
    # Criteria and ages as at the synthetic data's own date, so results don't drift with the calendar.
    settings = Settings(data_dir=data_dir, reporting_date=DEFAULT_AS_AT)
    with dg.instance_for_test() as instance:
        # The demo key in the data folder, whichever test first asks for this fixture: one that sets
        # FAMILYHUB_PSEUDONYM_KEY (test_returns) would otherwise leave an analyst schema built with its key and
        # no key file, so a copy's later builds pseudonymise with another key than the tables they join.
        with pytest.MonkeyPatch.context() as env:
            env.delenv("FAMILYHUB_PSEUDONYM_KEY", raising=False)
            result = materialize_pipeline(settings, instance)
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        yield settings, instance, result


@pytest.fixture(scope="module")
def warehouse(built_pipeline):
    """(read-only connection, settings) to the built pipeline's warehouse, for a test module."""
    import duckdb

    settings, _, _ = built_pipeline
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    yield con, settings
    con.close()


@pytest.fixture
def pipeline_copy(built_pipeline, tmp_path):
    """Settings for a private copy of the built pipeline's data folder (warehouse, landing, truth)."""
    import shutil

    from orchestration.lib.settings import Settings

    settings, _, _ = built_pipeline
    copy = tmp_path / "data"
    shutil.copytree(settings.data_dir, copy)
    return Settings(data_dir=copy, reporting_date=settings.reporting_date)
