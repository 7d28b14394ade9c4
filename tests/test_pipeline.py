"""The whole graph, materialised in-process on a 2,000-person synthetic run against a temporary warehouse."""

from __future__ import annotations

import os
import shutil

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest

from orchestration.lib.feeds import registry
from orchestration.lib.settings import Settings

from tests.conftest import materialize_pipeline, pipeline_graph
from tests.dbt_lists import person_models as declared_person_models


@pytest.fixture(scope="module")
def first_run(built_pipeline):
    return built_pipeline[2]


@pytest.fixture(scope="module")
def settings(built_pipeline):
    return built_pipeline[0]


@pytest.fixture(scope="module")
def instance(built_pipeline):
    return built_pipeline[1]


@pytest.fixture(scope="module")
def assets(built_pipeline):
    return pipeline_graph()


def landing_and_staging(assets) -> list[dg.AssetKey]:
    return [key for a in assets if isinstance(a, dg.AssetsDefinition) for key in a.keys
            if key.path[0] in ("raw", "staging", "reference")]


def query(settings, sql):
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_every_asset_materialises(first_run, assets):
    materialised = {e.asset_key for e in first_run.get_asset_materialization_events()}
    expected = {key for a in assets if isinstance(a, dg.AssetsDefinition) for key in a.keys}
    assert expected <= materialised


def test_file_rows_reconcile_to_raw_plus_rejects(first_run, settings):
    truth = pq.read_table(settings.truth_dir / "source_records.parquet").to_pandas()
    delivered = truth.groupby("feed").size().to_dict()
    landed = dict(query(settings, "select feed, sum(rows_landed + rows_rejected) from raw._deliveries "
                                  "where status = 'landed' group by feed"))
    assert landed == delivered
    malformed = truth[truth["malformed"]].groupby("feed").size().to_dict()
    rejected = dict(query(settings, "select feed, count(*) from raw._rejects group by feed"))
    assert rejected == malformed, "exactly the rows corrupted on purpose are rejected"


def test_raw_reconciles_to_staging(first_run, settings):
    """Staging keeps one row per record key: the distinct keys of raw."""
    from orchestration.defs.dbt.project import dbt_project  # noqa: F401  (manifest parsed)

    for feed in registry().values():
        staged_table = query(settings, f"""
            select table_name from duckdb_tables()
            where schema_name = 'staging' and table_name like 'stg_{feed.system}__%'""")
        assert staged_table, feed.name
    raw_total = sum(query(settings, f"select count(*) from {f.raw_table}")[0][0] for f in registry().values())
    staged_total = sum(query(settings, f'select count(*) from staging."{t}"')[0][0]
                       for (t,) in query(settings, "select table_name from duckdb_tables() where schema_name = "
                                                   "'staging' and table_name <> 'stg_landing__deliveries'"))
    duplicates = sum(query(settings, f"""select count(*) - count(distinct _row_number || '@' || _delivery_id)
                                         from {f.raw_table}""")[0][0] for f in registry().values())
    assert duplicates == 0
    assert 0 < staged_total <= raw_total
    for feed in registry().values():
        assert query(settings, f"select count(*) from {feed.raw_table}")[0][0] > 0, feed.name


def test_rerun_is_a_no_op_for_landing(first_run, assets, pipeline_copy, instance):
    settings = pipeline_copy
    before = query(settings, "select count(*) from raw._deliveries")[0][0]
    raw_before = {f.name: query(settings, f"select count(*) from {f.raw_table}")[0][0] for f in registry().values()}
    result = materialize_pipeline(settings, instance, selection=[k for k in landing_and_staging(assets)
                                                                  if k.path[0] == "raw"], graph=assets)
    assert result.success
    assert query(settings, "select count(*) from raw._deliveries")[0][0] == before
    assert {f.name: query(settings, f"select count(*) from {f.raw_table}")[0][0]
            for f in registry().values()} == raw_before
    landed = [e.materialization.metadata["files_already_landed"].value
              for e in result.get_asset_materialization_events() if e.asset_key.path[0] == "raw"]
    assert landed and all(n >= 1 for n in landed)


def test_schema_drift_fails_one_feed_the_others_land_and_downstream_is_unchanged(first_run, assets, settings,
                                                                                 tmp_path):
    drifted = Settings(data_dir=tmp_path, reporting_date=settings.reporting_date)
    shutil.copytree(settings.landing_dir, drifted.landing_dir)
    shutil.copy(settings.warehouse, drifted.warehouse)
    staged_before = query(drifted, "select count(*), sum(hash(record_key)) from staging.stg_dwp__benefit_claims")
    # next quarter: DWP renamed a column; police sent a normal delivery
    [dwp_file] = list((drifted.landing_dir / "dwp_benefits").glob("*.csv"))
    header, rest = dwp_file.read_text(encoding="utf-8").split("\n", 1)
    (dwp_file.parent / "dwp_benefits_2026-12-31.csv").write_text(
        header.replace("NINO", "NI_NO") + "\n" + rest, encoding="utf-8")
    [police_file] = list((drifted.landing_dir / "police_incidents").glob("*.jsonl"))
    lines = police_file.read_text(encoding="utf-8").splitlines()
    (police_file.parent / "police_2026-12-31.jsonl").write_text("\n".join(lines[5:]) + "\n", encoding="utf-8")

    with dg.instance_for_test() as instance:
        result = materialize_pipeline(drifted, instance, selection=landing_and_staging(assets), graph=assets)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert [f.step_key for f in failures] == ["raw__dwp_benefits"]
    message = str(failures[0].event_specific_data.error)
    assert "missing columns ['NINO']" in message and "unexpected columns ['NI_NO']" in message
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "raw/dwp_benefits" not in materialised
    assert "raw/police_incidents" in materialised  # the other feeds land
    assert not any(k.startswith("staging/") for k in materialised)  # staging waits, keeping its last good tables
    assert query(drifted, "select count(*), sum(hash(record_key)) from staging.stg_dwp__benefit_claims") == staged_before
    assert query(drifted, "select count(*) from raw._deliveries where feed = 'police_incidents'")[0][0] == 2
    assert query(drifted, "select status from raw._deliveries where file_name = 'dwp_benefits_2026-12-31.csv'") == [
        ("failed",)]


def test_sensor_requests_landing_for_new_files_only(first_run, assets, pipeline_copy, instance, monkeypatch):
    settings = pipeline_copy
    from orchestration.defs.landing.sensors import new_landing_files

    monkeypatch.setenv("FAMILYHUB_DATA_DIR", str(settings.data_dir))
    from orchestration.lib.resources import build_resources

    repo = dg.Definitions(assets=assets, sensors=[new_landing_files],
                          resources=build_resources(settings)).get_repository_def()
    with dg.build_sensor_context(instance=instance, repository_def=repo) as context:
        tick = new_landing_files.evaluate_tick(context)
    assert not tick.run_requests and tick.skip_message == "no new files in landing/"

    [police_file] = list((settings.landing_dir / "police_incidents").glob("*.jsonl"))
    police_file.touch()  # the same file touched (or copied in again): landing it again is a no-op, so no run
    with dg.build_sensor_context(instance=instance, repository_def=repo) as context:
        assert not new_landing_files.evaluate_tick(context).run_requests
    # a new delivery (other bytes) is requested, with everything downstream of its feed
    first_line = police_file.read_text(encoding="utf-8").splitlines(keepends=True)[0]
    police_file.with_name("police_incidents_2026-12-31.jsonl").write_text(first_line, encoding="utf-8")
    with dg.build_sensor_context(instance=instance, repository_def=repo) as context:
        [request] = new_landing_files.evaluate_tick(context).run_requests
    keys = {k.to_user_string() for k in request.asset_selection}
    assert "raw/police_incidents" in keys and "staging/stg_police__incident_nominals" in keys
    assert "raw/dwp_benefits" not in keys
    assert not any(k.startswith(("returns/", "outbox/")) for k in keys)  # quarterly: never in an unpartitioned run
    assert "marts/family_progress" in keys

    # a file delivered with its original, older modification time (SFTP, cp -p, unzip keep it) is new too: the
    # sensor's cursor sees the feed's files change
    with dg.build_sensor_context(instance=instance, repository_def=repo) as context:
        cursor = new_landing_files.evaluate_tick(context).cursor
    [dwp_file] = sorted((settings.landing_dir / "dwp_benefits").glob("*.csv"))[-1:]
    old_copy = dwp_file.with_name("dwp_benefits_2001-09-09.csv")
    shutil.copy(dwp_file, old_copy)
    os.utime(old_copy, (1_000_000_000, 1_000_000_000))  # 2001, long before the feed last landed
    with dg.build_sensor_context(instance=instance, repository_def=repo, cursor=cursor) as context:
        [request] = new_landing_files.evaluate_tick(context).run_requests
    assert "raw/dwp_benefits" in {k.to_user_string() for k in request.asset_selection}


def test_person_models_share_one_vocabulary(first_run, settings, dbt_manifest):
    """Every model tagged `person` has each person_vocabulary() column with its type, so linkage can union them."""
    import json
    import re

    from orchestration.defs.dbt.project import DBT_PROJECT_DIR

    macro = (DBT_PROJECT_DIR / "macros" / "staging.sql").read_text()
    body = macro[macro.index("macro person_vocabulary"):]
    vocabulary = dict(re.findall(r"'(\w+)': '(\w+)'", body[: body.index("endmacro")]))
    assert len(vocabulary) >= 18
    manifest = json.loads(dbt_manifest.read_text())
    person_models = [n["name"] for n in manifest["nodes"].values()
                     if n["resource_type"] == "model" and "person" in n["tags"]]
    # the models linkage unions (person_models()), each tagged: a council's new feed adds to both
    assert sorted(person_models) == sorted(declared_person_models())
    for model in person_models:
        columns = dict(query(settings, f"""select column_name, data_type from duckdb_columns()
                                           where schema_name = 'staging' and table_name = '{model}'"""))
        assert {c: columns.get(c) for c in vocabulary} == vocabulary, model


def test_every_dbt_table_and_column_carries_its_description_as_a_comment(first_run, settings):
    """Staging and intermediate too, not only the marts: a data engineer reading the warehouse in DBeaver or
    duckdb_columns() sees what each column means."""
    for schema in ("staging", "intermediate", "marts"):
        tables = query(settings, f"select table_name, comment from duckdb_tables() where schema_name = '{schema}'")
        assert len(tables) >= 5, schema
        assert [t for t, comment in tables if not comment] == [], schema
        columns = query(settings, f"select table_name, column_name, comment from duckdb_columns() "
                                  f"where schema_name = '{schema}'")
        assert [(t, c) for t, c, comment in columns if not comment] == [], schema


def test_demo_summary_lists_tables_deliveries_and_rejects_without_personal_data(first_run, settings, capsys):
    from orchestration.cli import print_summary

    print_summary(settings)
    out = capsys.readouterr().out
    assert "raw.dwp_benefits" in out and "staging.stg_dwp__benefit_claims" in out
    assert "linkage.person_crosswalk" in out and "quality.validation_results" in out
    assert "Top reject reasons" in out
    from orchestration.lib.metadata import PERSONAL_VALUE

    assert not PERSONAL_VALUE.search(out)


def test_sql_command_reads_the_warehouse_read_only(first_run, settings, capsys, monkeypatch):
    from orchestration.cli import main

    monkeypatch.setenv("FAMILYHUB_DATA_DIR", str(settings.data_dir))
    assert main(["sql", "--csv", "select count(*) as n from raw._deliveries where status = 'landed'"]) == 0
    assert capsys.readouterr().out.splitlines() == ["n", str(len(registry()))]
    # CSV for Excel: a list as a;b and a flag as Y/N (or empty), as the returns and the workbook write them
    assert main(["sql", "--csv", "select ['SF01', 'SF03'] as codes, true as met, null::boolean as unknown"]) == 0
    assert capsys.readouterr().out.splitlines() == ["codes,met,unknown", "SF01;SF03,Y,"]
    # read-only: an analyst's query cannot change the warehouse; it gets one line, not a traceback
    assert main(["sql", "delete from raw._rejects"]) == 2
    assert "read-only" in capsys.readouterr().err
    assert main(["sql", "select * from linkage.no_such_table"]) == 2
    printed = capsys.readouterr().err
    assert printed.startswith("familyhub sql: CatalogException:") and len(printed.splitlines()) == 1
    monkeypatch.setenv("FAMILYHUB_DATA_DIR", str(settings.data_dir / "nowhere"))
    assert main(["sql", "select 1"]) == 2 and "no warehouse at" in capsys.readouterr().err
