"""A failing dbt step or gate names what failed, never the value it failed on (privacy review findings 2 and 5).

dbt's and DuckDB's error text can quote a row value ("Could not convert string '...'"). These tests make a dbt
model and a gate fail on a synthetic canary value and check that neither the step's Failure nor anything in the
run's event log carries it, while the dbt.log the Failure points to does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets
from dagster_duckdb import DuckDBResource

from orchestration.defs.dbt.assets import staging_models
from orchestration.defs.linkage.assets import intermediate_dbt
from orchestration.defs.marts.assets import marts_dbt
from orchestration.lib.resources import SettingsResource

CANARY = "CANARY-7Q41"  # synthetic: the value a cast fails on, which must not reach the event log
PROJECT = "failure_canary"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def canary_project(tmp_path_factory) -> Path:
    """A parsed dbt project of its own (a throwaway DuckDB file): `good` with a failing not_null test, `bad`
    failing at runtime on the canary, and `after_bad`, skipped because of it."""
    root = tmp_path_factory.mktemp("canary_dbt")
    (root / "models").mkdir()
    (root / "dbt_project.yml").write_text(
        f"name: {PROJECT}\nversion: '1.0.0'\nconfig-version: 2\nprofile: {PROJECT}\nmodel-paths: [models]\n"
        f"models:\n  {PROJECT}:\n    +materialized: table\n")
    (root / "profiles.yml").write_text(
        f"{PROJECT}:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {root / 'canary.duckdb'}\n      threads: 1\n")
    (root / "models" / "good.sql").write_text("select 1 as id, cast(null as integer) as x\n")
    (root / "models" / "bad.sql").write_text(f"select cast(v as integer) as n from (values ('{CANARY}')) as t (v)\n")
    (root / "models" / "after_bad.sql").write_text("select n from {{ ref('bad') }}\n")
    (root / "models" / "_models.yml").write_text(
        "models:\n  - name: good\n    columns:\n      - name: x\n        data_tests: [not_null]\n")
    env = {**os.environ, "DBT_TARGET_PATH": str(root / "target"), "DBT_LOG_PATH": str(root / "target")}
    parsed = subprocess.run([str(BIN / "dbt"), "parse", "--profiles-dir", str(root), "--quiet"], cwd=root, env=env,
                            capture_output=True, text=True, timeout=300)
    assert parsed.returncode == 0, parsed.stdout[-2000:]
    return root


@pytest.fixture
def dbt_env(monkeypatch, canary_project):
    """The dbt assets export this run's settings into os.environ, and dagster-dbt reads DBT_TARGET_PATH: restore
    them after the test, and keep the canary project's invocations in its own target folder."""
    for key in ("FAMILYHUB_WAREHOUSE", "FAMILYHUB_REPORTING_DATE", "DBT_INDIRECT_SELECTION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DBT_TARGET_PATH", str(canary_project / "target"))


class CanaryProjectDbt(DbtCliResource):
    """Builds the canary project whatever the asset selects: the real assets' selection names the real project's
    nodes, and what is under test is how their function reports a failing build."""

    def cli(self, args, *, context=None, **kwargs):
        return super().cli([*args, "--select", "bad+"], manifest=Path(self.project_dir) / "target" / "manifest.json")


def run_failing(assets, resources) -> tuple[str, str, list[str], dg.ExecuteInProcessResult]:
    """(the Failure's description, its error as text, every event log entry as text, result) of a failed run."""
    with dg.instance_for_test() as instance:
        result = dg.materialize(assets, resources=resources, instance=instance, raise_on_error=False)
        logged = [str(e) for e in instance.all_logs(result.run_id)]
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    data = failure.step_failure_data
    assert data.user_failure_data is not None, data.error.cls_name  # a dg.Failure, not the exception raised
    return data.user_failure_data.description, str(data.error), logged, result


def dbt_log_named(description: str) -> Path:
    [log] = re.findall(r"read them in (\S+dbt\.log)", description)
    return Path(log)


@pytest.mark.parametrize("asset", [staging_models, intermediate_dbt, marts_dbt], ids=lambda a: a.node_def.name)
def test_a_dbt_step_failing_on_a_value_names_the_node_not_the_value(asset, canary_project, dbt_env, tmp_path):
    resources = {"dbt": CanaryProjectDbt(project_dir=str(canary_project), profiles_dir=str(canary_project)),
                 "settings": SettingsResource(data_dir=str(tmp_path))}
    description, error, logged, _ = run_failing([asset], resources)
    assert f"model.{PROJECT}.bad: error" in description and "1 node(s) failed and 1 were skipped" in description
    assert CANARY not in description and CANARY not in error
    leaked = [text for text in logged if CANARY in text]
    assert logged and not leaked, f"{len(leaked)} event log entries quote the value"
    # the message is where the Failure says it is, for whoever may read it
    assert CANARY in dbt_log_named(description).read_text()


def test_a_failing_dbt_test_is_still_a_failed_check_and_materialisations_still_stream(canary_project, dbt_env):
    from orchestration.defs.dbt.assets import dbt_build

    @dbt_assets(manifest=canary_project / "target" / "manifest.json", name="canary_dbt",
                project=DbtProject(project_dir=canary_project, profiles_dir=canary_project,
                                   target_path=canary_project / "target"))
    def canary_dbt(context, dbt: DbtCliResource):  # no annotation: `from __future__ import annotations`
        yield from dbt_build(context, dbt)

    resources = {"dbt": DbtCliResource(project_dir=str(canary_project), profiles_dir=str(canary_project))}
    description, error, logged, result = run_failing([canary_dbt], resources)
    assert dg.AssetKey(["good"]) in {e.asset_key for e in result.get_asset_materialization_events()}
    [check] = result.get_asset_check_evaluations()
    assert (check.asset_key, check.check_name, check.passed) == (dg.AssetKey(["good"]), "not_null_good_x", False)
    # the test's failure still fails the step (dbt exits 1), as it did; the Failure names it with the model
    assert "2 node(s) failed and 1 were skipped" in description
    assert re.search(rf"test\.{PROJECT}\.not_null_good_x\.\w+: fail", description)
    assert f"model.{PROJECT}.bad: error" in description
    assert CANARY not in description and CANARY not in error and not [t for t in logged if CANARY in t]


def test_a_gate_that_raises_with_a_value_in_its_message_fails_without_it(monkeypatch, tmp_path):
    import expectations.framework
    from orchestration.defs.quality.checks import build_raw_gate_check
    from orchestration.lib.feeds import registry

    def measure_fails(*args, **kwargs):
        raise duckdb.ConversionException(f"Conversion Error: Could not convert string '{CANARY}' to INT32")

    monkeypatch.setattr(expectations.framework, "measure_gate", measure_fails)

    @dg.asset(key=["raw", "csc_persons"])
    def landed() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    resources = {"duckdb": DuckDBResource(database=str(tmp_path / "warehouse.duckdb")),
                 "settings": SettingsResource(data_dir=str(tmp_path))}
    description, error, logged, result = run_failing([landed, build_raw_gate_check(registry()["csc_persons"])],
                                                     resources)
    assert "raw_gate on raw/csc_persons did not run: it raised ConversionException" in description
    assert CANARY not in description and CANARY not in error
    assert logged and not [t for t in logged if CANARY in t]
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute("select expectation, observed_value from quality.validation_results where run_id = ?",
                           [result.run_id]).fetchall()
    finally:
        con.close()
    assert rows == [("gate_did_not_run", "raised ConversionException")]
