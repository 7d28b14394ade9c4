"""The code location loads, and its graph is the one the design describes."""

from __future__ import annotations

import dagster as dg
import pytest

from orchestration.lib.feeds import PROVENANCE_COLUMNS, registry


@pytest.fixture(scope="module")
def defs(dbt_manifest):
    from orchestration.definitions import defs

    return defs


def _keys(defs) -> set[str]:
    return {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}


def test_definitions_validate_loadable(defs):
    dg.Definitions.validate_loadable(defs)


def test_every_feed_has_a_landing_asset_and_a_staging_model_downstream(defs):
    graph = defs.resolve_asset_graph()
    for feed in registry().values():
        key = dg.AssetKey(["raw", feed.name])
        assert graph.has(key), feed.name
        children = [c for c in graph.get(key).child_keys if c.path[0] == "staging"]
        assert len(children) == 1, f"{feed.name} should feed exactly one staging model, found {len(children)}"
        assert children[0].path[1].startswith(f"stg_{feed.system}__")


def test_asset_key_snapshot(defs):
    keys = _keys(defs)
    assert {k for k in keys if k.startswith("raw/")} == {f"raw/{name}" for name in registry()}
    staging = sorted(k for k in keys if k.startswith("staging/"))
    assert staging == [
        "staging/stg_dwp__benefit_claims",
        "staging/stg_early_help__episode_members",
        "staging/stg_education__attendance_terms",
        "staging/stg_education__exclusions",
        "staging/stg_education__pupil_enrolments",
        "staging/stg_health__service_referrals",
        "staging/stg_housing__events",
        "staging/stg_landing__deliveries",
        "staging/stg_police__incident_nominals",
        "staging/stg_programme__case_members",
        "staging/stg_social_care__episodes",
        "staging/stg_social_care__persons",
        "staging/stg_social_care__relationships",
        "staging/stg_youth_justice__outcomes",
    ]
    assert any(k.startswith("reference/") for k in keys), "seeds should appear as reference assets"
    assert sorted(k for k in keys if k.startswith("marts/")) == [
        "marts/dim_date",
        "marts/dim_family",
        "marts/dim_person",
        "marts/family_chronology",
        "marts/family_criteria",
        "marts/family_eligibility",
        "marts/family_membership",
        "marts/family_progress",
        "marts/fct_event",
        "marts/needs_cooccurrence",
        "marts/person_chronology",
        "marts/person_criteria",
        "marts/person_source_xref",
        "marts/ref_benefit_type_codes",
        "marts/ref_cin_primary_need_codes",
        "marts/ref_cin_referral_source_codes",
        "marts/ref_cp_category_codes",
        "marts/ref_criteria_indicator_events",
        "marts/ref_criteria_indicators",
        "marts/ref_criteria_needs",
        "marts/ref_csc_episode_type_codes",
        "marts/ref_csc_relationship_codes",
        "marts/ref_early_help_closure_reason_codes",
        "marts/ref_early_help_presenting_issue_codes",
        "marts/ref_event_headlines",
        "marts/ref_exclusion_category_codes",
        "marts/ref_exclusion_reason_codes",
        "marts/ref_health_service_codes",
        "marts/ref_housing_event_type_codes",
        "marts/ref_police_incident_type_codes",
        "marts/ref_sen_provision_codes",
        "marts/ref_uc_conditionality_codes",
        "marts/ref_yjs_outcome_type_codes",
    ]
    assert sorted(k for k in keys if k.startswith(("returns/", "outbox/", "analyst/"))) == [
        "analyst/schema",
        "outbox/analyst_workbook",
        "outbox/family_progress_data",
        "outbox/national_impact_study",
        "outbox/results_claims",
        "returns/family_progress_data",
        "returns/national_impact_study",
        "returns/results_claims",
    ]
    assert {"linkage/person_crosswalk", "linkage/person_id_lineage", "linkage/review_queue"} <= set(keys)


def test_dbt_tests_are_asset_checks(defs):
    checks = defs.resolve_asset_graph().asset_check_keys
    staged = {c.asset_key.to_user_string() for c in checks}
    assert "staging/stg_dwp__benefit_claims" in staged
    assert len(checks) >= 26  # at least unique + not_null on every staging model's key


def test_sensor_and_job_are_registered(defs):
    assert defs.resolve_job_def("land_and_stage") is not None
    assert defs.resolve_sensor_def("new_landing_files").default_status == dg.DefaultSensorStatus.RUNNING


def test_every_return_has_a_quarterly_schedule_and_a_blocking_gate(defs):
    for name in ("family_progress_data", "national_impact_study", "results_claims", "analyst_workbook"):
        schedule = defs.resolve_schedule_def(f"{name}_quarterly")
        assert schedule.execution_timezone == "Europe/London"
        assert schedule.job.partitions_def is not None
    graph = defs.resolve_asset_graph()
    gated = {c.asset_key.to_user_string() for c in graph.asset_check_keys if c.name == "extract_gate"}
    assert gated == {"returns/family_progress_data", "returns/national_impact_study", "returns/results_claims"}
    assert all(graph.get_check_spec(c).blocking for c in graph.asset_check_keys if c.name == "extract_gate")


def test_dagster_cli_validates_the_definitions(dbt_manifest):
    import subprocess
    import sys
    from pathlib import Path

    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run([str(dagster), "definitions", "validate", "-m", "orchestration.definitions"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_dbt_sources_match_the_feed_registry(dbt_manifest):
    """The registry is the one description of a feed: dbt's raw source must list the same tables and columns."""
    import json

    manifest = json.loads(dbt_manifest.read_text())
    sources = {s["name"]: s for s in manifest["sources"].values() if s["source_name"] == "raw"}
    assert set(sources) == set(registry())
    for name, feed in registry().items():
        documented = set(sources[name]["columns"])
        assert documented - set(PROVENANCE_COLUMNS) == {c.raw_name for c in feed.columns}, name
