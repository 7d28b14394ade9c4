"""A new feed is wired through, not only landed (README "How to add a feed").

A review added a feed by the docs: it staged 26 events and fct_event had none, silently. Here, fast (the parsed
manifest and the seeds, no pipeline): person_models() is exactly the models tagged `person`; event_models() is
exactly what int_events unions and every staging model documenting event_type and event_date; the criteria and
headline seeds name only wired event feeds. And, on a small hand-made warehouse, the marts gate warns (naming the
model) about a staging table with event columns that fct_event does not reconcile.

Assertions name models, feeds and expectations only; no test prints a value from a row.
"""

from __future__ import annotations

import csv
import json

import duckdb
import pytest

from expectations import run_gate
from tests.conftest import REPO_ROOT
from tests.dbt_lists import event_models, person_models

EVENT_COLUMNS = {"event_type", "event_date"}


def manifest_models(dbt_manifest) -> tuple[dict, dict]:
    """(model name -> manifest node, source unique id -> raw table name)."""
    manifest = json.loads(dbt_manifest.read_text(encoding="utf-8"))
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    return models, {uid: s["name"] for uid, s in manifest["sources"].items()}


def staging_models(models: dict) -> set[str]:
    return {name for name, node in models.items() if "staging" in node["fqn"][:-1]}


def test_person_models_are_exactly_the_models_tagged_person(dbt_manifest):
    # linkage unions person_models(); a model tagged but not listed is never linked, one listed but not tagged
    # escapes the shared-vocabulary test
    models, _ = manifest_models(dbt_manifest)
    listed = person_models()
    assert len(listed) == len(set(listed))
    assert set(listed) == {name for name, node in models.items() if "person" in node["tags"]}


def test_event_models_are_what_int_events_unions_and_every_model_with_event_columns(dbt_manifest):
    models, _ = manifest_models(dbt_manifest)
    staging = staging_models(models)
    listed = event_models()
    assert len(listed) == len(set(listed)) and set(listed) <= staging
    unioned = {uid.split(".")[-1] for uid in models["int_events"]["depends_on"]["nodes"]
               if uid.startswith("model.") and uid.split(".")[-1] in staging}
    # event_models() feeds the "no event lost" counts, int_events.sql the events: both or neither
    assert set(listed) == unioned
    carrying = {name for name in staging if EVENT_COLUMNS <= set(models[name]["columns"])}
    assert carrying == set(listed), "a staging model documents event columns but is no event model, or the reverse"


@pytest.mark.parametrize("seed", ["criteria/criteria_indicator_events.csv", "events/event_headlines.csv"])
def test_event_seeds_name_only_feeds_whose_events_reach_fct_event(dbt_manifest, seed):
    # a seed row for a feed outside int_events would evidence nothing, silently
    models, sources = manifest_models(dbt_manifest)
    wired = {sources[uid] for model in event_models() for uid in models[model]["depends_on"]["nodes"]
             if uid in sources}
    with (REPO_ROOT / "seeds" / seed).open(encoding="utf-8", newline="") as f:
        named = {row["source_feed"] for row in csv.DictReader(f)}
    assert named and named <= wired, sorted(named - wired)


# --- the marts gate on a hand-made warehouse -----------------------------------------------------------------

WIRED = ("stg_dwp__benefit_claims", "stg_police__incident_nominals")
UNWIRED = "stg_housing_association__rent_arrears"  # a new feed staged, left out of event_models() and int_events


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    for schema in ("staging", "marts"):
        connection.execute(f"create schema {schema}")
    for model, feed, rows in ((WIRED[0], "dwp_benefits", 40), (WIRED[1], "police_incidents", 30),
                              (UNWIRED, "housing_association_arrears", 26)):
        connection.execute(f"""create table staging.{model} as
            select '{feed}' as source_feed, 'K' || i as record_key, 'T' as event_type,
                   date '2026-01-01' + cast(i as integer) as event_date
            from range({rows}) t(i)""")
    # a person register: staging, but no event columns, so never an event model
    connection.execute("create table staging.stg_social_care__persons as select 'csc_persons' as source_feed, "
                       "'P' || i as record_key from range(10) t(i)")
    connection.execute(f"""create table marts.fct_event as
        select md5(source_feed || '|' || record_key) as event_id, source_feed, record_key
        from (select source_feed, record_key from staging.{WIRED[0]}
              union all select source_feed, record_key from staging.{WIRED[1]})""")
    yield connection
    connection.close()


def fct_event_gate(con, tmp_path, event_models=WIRED):
    return run_gate(con, "marts_gate", "fct_event", artefacts_dir=tmp_path / "artefacts", record=False,
                    event_models=event_models)


def test_marts_gate_warns_about_an_event_feed_fct_event_does_not_reconcile(con, tmp_path):
    result = fct_event_gate(con, tmp_path)
    assert result.passed  # a warning: the wired feeds' events are right
    assert {r.label for r in result.warnings} == {f"staging_events_reach_fct_event({UNWIRED})"}
    judged = {r.column: r.passed for r in result.results if r.expectation == "staging_events_reach_fct_event"}
    assert judged == {WIRED[0]: True, WIRED[1]: True, UNWIRED: False}  # the register is not judged

    # without the manifest's list, the feeds with events in fct_event are the reconciled ones: still warned
    fallback = fct_event_gate(con, tmp_path, event_models=())
    assert {r.label for r in fallback.warnings} == {f"staging_events_reach_fct_event({UNWIRED})"}


def test_marts_gate_is_quiet_once_the_feed_is_wired(con, tmp_path):
    con.execute(f"""insert into marts.fct_event select md5(source_feed || '|' || record_key), source_feed, record_key
                    from staging.{UNWIRED}""")
    result = fct_event_gate(con, tmp_path, event_models=(*WIRED, UNWIRED))
    assert result.passed and not result.warnings
    assert "events_reconcile_to_staging(housing_association_arrears)" in {
        r.label for r in result.results if r.passed}
