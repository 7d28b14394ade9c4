"""The marts gate: passes on the shared pipeline's marts; fails on a broken reconciliation, on orphans and
on repeated keys in small hand-made marts; warns when a criteria share moves between runs.

Assertions name expectations and count rows; no test prints a value from a row.
"""

from __future__ import annotations

import json

import dagster as dg
import duckdb
import pytest

from expectations import run_gate
from expectations.marts_gate import SHARE_MOVE_WARNING, gated_marts
from orchestration.defs.quality.checks import MARTS_GATE
from orchestration.lib.settings import REPO_ROOT


def query(path, sql: str, params=()):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


# --- the real marts -------------------------------------------------------------------------------------


def test_marts_gate_passes_on_the_shared_pipeline(built_pipeline):
    settings, _, result = built_pipeline
    evaluations = {e.asset_check_key.asset_key.path[1]: e for e in result.get_asset_check_evaluations()
                   if e.asset_check_key.name == MARTS_GATE}
    if not evaluations:
        pytest.skip("no mart is materialised by the code location yet")
    failing = {m: e.metadata["failed_errors"].value + e.metadata["failed_warnings"].value
               for m, e in evaluations.items() if not e.passed}
    assert not failing
    rows = query(settings.warehouse, """select asset_key, expectation, "column", passed from quality.validation_results
                                        where gate = 'marts_gate' and run_id = ?""", [result.run_id])
    assert {r[0] for r in rows} == {f"marts/{m}" for m in evaluations}
    if "fct_event" in evaluations:  # every event feed reconciled, by name
        feeds = {r[2] for r in rows if r[1] == "events_reconcile_to_staging" and r[3]}
        staged_feeds = {r[0] for r in query(settings.warehouse, "select distinct source_feed from marts.fct_event")}
        assert staged_feeds <= feeds and len(feeds) >= 10


# --- hand-made marts ------------------------------------------------------------------------------------


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    for schema in ("staging", "marts", "linkage"):
        connection.execute(f"create schema {schema}")
    # two event feeds of 50 rows each, their events, 10 persons in 2 families
    for feed, model in (("police_incidents", "stg_police__incident_nominals"),
                        ("dwp_benefits", "stg_dwp__benefit_claims")):
        connection.execute(f"""create table staging.{model} as select '{feed}' as source_feed, 'K' || i as record_key
                               from range(50) t(i)""")
    connection.execute("""create table marts.dim_person as select 'P' || i as person_id from range(10) t(i)""")
    connection.execute("""create table marts.dim_family as select 'F' || i as family_id from range(2) t(i)""")
    connection.execute("""create table marts.fct_event as
        select md5(source_feed || '|' || record_key) as event_id, source_feed, record_key,
               'P' || (hash(record_key) % 10) as person_id, 'F' || (hash(record_key) % 2) as family_id
        from (select * from staging.stg_police__incident_nominals
              union all select * from staging.stg_dwp__benefit_claims)""")
    yield connection
    connection.close()


EVENT_MODELS = ("stg_dwp__benefit_claims", "stg_police__incident_nominals")


def fct_event_errors(con, tmp_path) -> set[str]:
    result = run_gate(con, "marts_gate", "fct_event", artefacts_dir=tmp_path / "artefacts", record=False,
                      event_models=EVENT_MODELS)
    return {r.label for r in result.errors}


def test_events_reconcile_to_staging_per_feed(con, tmp_path):
    assert fct_event_errors(con, tmp_path) == set()

    # a mart that drops some of one feed's rows
    con.execute("delete from marts.fct_event where source_feed = 'dwp_benefits' and record_key in ('K1', 'K2')")
    assert fct_event_errors(con, tmp_path) == {"events_reconcile_to_staging(dwp_benefits)"}
    # ... or all of them: the feed is still reconciled (it is an event model), not silently forgotten
    con.execute("delete from marts.fct_event where source_feed = 'dwp_benefits'")
    assert fct_event_errors(con, tmp_path) == {"events_reconcile_to_staging(dwp_benefits)"}


def test_events_repeated_untraced_or_orphaned_fail(con, tmp_path):
    con.execute("insert into marts.fct_event select * from marts.fct_event limit 1")
    con.execute("""insert into marts.fct_event values (md5('x'), 'police_incidents', 'NOT-STAGED', 'P-GONE', 'F0')""")
    assert fct_event_errors(con, tmp_path) == {
        "key_unique(event_id)", "events_trace_to_staging", "events_reconcile_to_staging(police_incidents)",
        "person_id_in_dim_person(person_id)"}


def eligibility(con, met_sf01: int, families: int = 100) -> None:
    con.execute(f"""create or replace table marts.family_eligibility as
        select 'F' || i as family_id, date '2026-03-31' as as_at_date,
               list_concat(case when i < {met_sf01} then ['SF01'] else [] end,
                           case when i % 2 = 0 then ['SF07'] else [] end) as headlines_met,
               i < 3 as is_sf_eligible
        from range({families}) t(i)""")


def test_a_criteria_share_moving_between_runs_warns(con, tmp_path):
    def gate(run_id):
        return run_gate(con, "marts_gate", "family_eligibility", artefacts_dir=tmp_path / "artefacts", run_id=run_id)

    eligibility(con, met_sf01=20)
    first = gate("run-1")
    assert first.passed and not first.warnings
    assert {r.column for r in first.not_evaluated} == {"sf_eligible", "headline_SF01", "headline_SF07"}  # no previous

    eligibility(con, met_sf01=22)  # 2 points: within the band
    assert not gate("run-2").warnings
    moved = 100 * SHARE_MOVE_WARNING + 5
    eligibility(con, met_sf01=int(22 + moved))
    third = gate("run-3")
    assert third.passed  # a warning, not a block
    assert {r.label for r in third.warnings} == {"criteria_share_stable(headline_SF01)"}

    eligibility(con, met_sf01=95)  # a rule that flags nearly every family is broken
    assert "criteria_share_plausible(headline_SF01)" in {r.label for r in gate("run-4").errors}


def test_checks_only_for_marts_in_the_manifest(tmp_path):
    manifest = {"nodes": {
        "model.p.fct_event": {"resource_type": "model", "name": "fct_event", "schema": "marts",
                              "fqn": ["p", "marts", "core", "fct_event"], "depends_on": {"nodes": []}},
        "model.p.int_events": {"resource_type": "model", "name": "int_events", "schema": "intermediate",
                               "fqn": ["p", "intermediate", "events", "int_events"],
                               "depends_on": {"nodes": ["model.p.stg_a", "model.p.stg_b"]}},
        **{f"model.p.{m}": {"resource_type": "model", "name": m, "schema": "staging", "fqn": ["p", "staging", m]}
           for m in ("stg_a", "stg_b")},
        "test.p.unique_fct_event_event_id": {"resource_type": "test", "attached_node": "model.p.fct_event",
                                             "column_name": "event_id", "test_metadata": {"name": "unique"}},
    }}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    [mart] = gated_marts(path)
    assert (mart.name, mart.asset_path, mart.unique_columns, mart.event_models) == (
        "fct_event", ["marts", "fct_event"], (("event_id",),), ("stg_a", "stg_b"))
    # without a manifest: the model files, and the staging models int_events reads
    from_files = {m.name: m for m in gated_marts(tmp_path / "missing.json")}
    assert set(from_files) == {p.stem for p in (REPO_ROOT / "dbt_project" / "models" / "marts").rglob("*.sql")}
    if "fct_event" in from_files:
        assert set(from_files["fct_event"].event_models) <= {p.stem for p in staging_files()}
        assert len(from_files["fct_event"].event_models) >= 10


def staging_files():
    return (REPO_ROOT / "dbt_project" / "models" / "staging").rglob("stg_*.sql")


def test_one_marts_gate_per_mart_and_the_linked_gate_are_wired():
    from orchestration.defs.quality.checks import quality_checks

    keys = {k for check in quality_checks for k in check.check_keys}
    marts = {k.asset_key.path[1] for k in keys if k.name == MARTS_GATE}
    assert marts == {p.stem for p in (REPO_ROOT / "dbt_project" / "models" / "marts").rglob("*.sql")}
    assert dg.AssetCheckKey(dg.AssetKey(["linkage", "person_crosswalk"]), "linked_gate") in keys
