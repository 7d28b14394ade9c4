"""A feed that lands in a run another feed's bad file stopped reaches staging on the sensor's next run request."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from orchestration.defs.landing.sensors import new_landing_files
from orchestration.lib.resources import build_resources

from tests.conftest import materialize_pipeline, pipeline_graph

NEW_POLICE_FILE = "police_2026-12-31.jsonl"


def scalar(settings, sql):
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()[0][0]
    finally:
        con.close()


def evaluate(repo, instance) -> dg.SensorExecutionData:
    with dg.build_sensor_context(instance=instance, repository_def=repo) as context:
        return new_landing_files.evaluate_tick(context)


def land_and_stage_part(request: dg.RunRequest) -> list[dg.AssetKey]:
    # The full downstream (linkage, marts) takes minutes; landing and staging are what this behaviour is about.
    return [k for k in request.asset_selection if k.path[0] in ("raw", "staging", "reference")]


@pytest.fixture
def scenario(pipeline_copy, monkeypatch):
    """(settings, instance, repo) where every feed has landed and nothing is new: the copy's files landed again
    (a no-op) in a fresh instance."""
    settings = pipeline_copy
    monkeypatch.setenv("FAMILYHUB_DATA_DIR", str(settings.data_dir))
    assets = pipeline_graph()
    repo = dg.Definitions(assets=assets, sensors=[new_landing_files],
                          resources=build_resources(settings)).get_repository_def()
    raw_keys = [k for a in assets if isinstance(a, dg.AssetsDefinition) for k in a.keys if k.path[0] == "raw"]
    with dg.instance_for_test() as instance:
        assert materialize_pipeline(settings, instance, selection=raw_keys, graph=assets).success
        yield settings, instance, repo, assets


def test_feed_stopped_by_another_feeds_drift_is_staged_on_the_next_tick(scenario):
    settings, instance, repo, assets = scenario
    tick = evaluate(repo, instance)
    assert not tick.run_requests, "landing again without new files leaves nothing to stage"

    # DWP renamed a column; police sent a normal delivery (the drift test's files)
    [dwp_file] = list((settings.landing_dir / "dwp_benefits").glob("*.csv"))
    header, rest = dwp_file.read_text(encoding="utf-8").split("\n", 1)
    (dwp_file.parent / "dwp_benefits_2026-12-31.csv").write_text(
        header.replace("NINO", "NI_NO") + "\n" + rest, encoding="utf-8")
    [police_file] = list((settings.landing_dir / "police_incidents").glob("*.jsonl"))
    lines = police_file.read_text(encoding="utf-8").splitlines()
    (police_file.parent / NEW_POLICE_FILE).write_text("\n".join(lines[5:]) + "\n", encoding="utf-8")
    staged_new_police = (f"select count(*) from staging.stg_police__incident_nominals "
                         f"where source_file_name = '{NEW_POLICE_FILE}'")

    [first] = evaluate(repo, instance).run_requests
    assert set(first.tags["familyhub/feeds"].split(",")) == {"police_incidents", "dwp_benefits"}
    result = materialize_pipeline(settings, instance, selection=land_and_stage_part(first), graph=assets)
    assert not result.success
    assert [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"] == ["raw__dwp_benefits"]
    assert scalar(settings, f"select count(*) from raw.police_incidents where _file_name = '{NEW_POLICE_FILE}'") > 0
    assert scalar(settings, staged_new_police) == 0, "staging waited for the drifted feed"

    [second] = evaluate(repo, instance).run_requests
    keys = {k.to_user_string() for k in second.asset_selection}
    assert {"raw/dwp_benefits", "raw/police_incidents", "staging/stg_police__incident_nominals"} <= keys
    assert second.tags["familyhub/feeds"] == "dwp_benefits"  # police's file is no longer new, but it waits
    assert second.tags["familyhub/catch_up"] == "police_incidents"
    assert second.run_key != first.run_key

    # police landing again (a no-op, e.g. from the UI) must not make a new request of the same catch-up
    assert materialize_pipeline(settings, instance, selection=[dg.AssetKey(["raw", "police_incidents"])],
                                graph=assets).success
    [again] = evaluate(repo, instance).run_requests
    assert again.run_key == second.run_key

    result = materialize_pipeline(settings, instance, selection=land_and_stage_part(second), graph=assets)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert scalar(settings, staged_new_police) > 0
    assert scalar(settings, "select status from raw._deliveries "
                            "where file_name = 'dwp_benefits_2026-12-31.csv'") == "failed"

    tick = evaluate(repo, instance)
    assert not tick.run_requests and tick.skip_message == "no new files in landing/"
