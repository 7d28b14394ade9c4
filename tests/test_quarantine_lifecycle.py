"""A delivery that fails its own raw-gate errors blocks once: the run that first judges it fails the gate and
quarantines it; later runs do not judge it again, stage the feed without its rows and warn while it is the
feed's newest delivery; a release lets its rows in without judging or quarantining it again.

Real landing, real raw and staged gates, real dbt staging. Assertions count rows and name delivery ids.
"""

from __future__ import annotations

import csv
from dataclasses import replace

import dagster as dg
import duckdb

from orchestration.defs.landing.assets import landing_asset_key, landing_assets
from orchestration.defs.quality.checks import build_raw_gate_check
from orchestration.lib.feeds import registry
from orchestration.lib.resources import build_resources
from orchestration.lib.settings import Settings
from tests.conftest import materialize_pipeline, pipeline_graph

PERSONS = registry()["csc_persons"]
LANDING = next(a for a in landing_assets if a.key == landing_asset_key(PERSONS.name))
STAGING = dg.AssetKey(["staging", "stg_social_care__persons"])
SHORT_FILE = "csc_persons_2026-10-31.csv"  # a later extract date than the built pipeline's delivery
# csc_persons sends changes, whose row counts only warn; these tests run its raw gate as for a full extract, where
# a short delivery is an error (landing still flags the deliveries as changes: nothing is withdrawn)
FULL_EXTRACT_GATE = build_raw_gate_check(replace(PERSONS, extract="full"))


def graph_with_full_extract_gate() -> list:
    """The pipeline's graph with csc_persons' raw gate as for a full extract."""
    return [node for node in pipeline_graph() if not (isinstance(node, dg.AssetChecksDefinition) and any(
        key.asset_key == LANDING.key and key.name == "raw_gate" for key in node.check_keys))] + [FULL_EXTRACT_GATE]


def query(settings: Settings, sql: str, params=()) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def release(settings: Settings, delivery_id: str) -> None:
    """The engineer's release, as expectations/README.md gives it."""
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute("update raw._quarantined_deliveries set released_at = current_timestamp where delivery_id = ?",
                    [delivery_id])
    finally:
        con.close()


def quarantine_records(settings: Settings) -> list[tuple[str, bool]]:
    """(delivery_id, released) of every record in raw._quarantined_deliveries."""
    return query(settings, "select delivery_id, released_at is not null from raw._quarantined_deliveries "
                           "order by quarantined_at")


def raw_gate(result) -> dg.AssetCheckEvaluation:
    [evaluation] = [e for e in result.get_asset_check_evaluations()
                    if e.asset_key == LANDING.key and e.check_name == "raw_gate"]
    return evaluation


def listed(evaluation, key: str) -> list:
    return evaluation.metadata[key].value if key in evaluation.metadata else []


def materialised(result) -> set[dg.AssetKey]:
    return {e.asset_key for e in result.get_asset_materialization_events()}


def test_a_short_delivery_blocks_once_then_stages_without_its_rows_and_a_release_lets_them_in(pipeline_copy):
    """csc_persons sends 40% of its usual rows (row_count_vs_previous: error). Run 1 blocks and quarantines it;
    run 2, the same selection (a rerun from the UI, or the sensor landing another feed), warns and stages the feed
    without it; after the release run 3 stages its rows and neither judges nor quarantines it again."""
    settings = pipeline_copy
    [source] = sorted((settings.landing_dir / PERSONS.name).glob("*.csv"))
    with source.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    with (source.parent / SHORT_FILE).open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows[: len(rows) * 2 // 5]])
    staged = "select count(*), sum(hash(record_key, source_delivery_id)) from staging.stg_social_care__persons"
    staged_before = query(settings, staged)
    selection, graph = [LANDING.key, STAGING], graph_with_full_extract_gate()

    with dg.instance_for_test() as instance:
        first = materialize_pipeline(settings, instance, selection=selection, graph=graph)
        [(short, short_rows)] = query(settings, "select delivery_id, rows_landed from raw._deliveries "
                                                "where file_name = ?", [SHORT_FILE])
        from_short = ("select count(*) from staging.stg_social_care__persons where source_delivery_id = "
                      f"'{short}'")

        # run 1: the verdict blocks, the delivery is quarantined, staging keeps its last good table
        gate = raw_gate(first)
        assert not gate.passed and gate.severity == dg.AssetCheckSeverity.ERROR
        assert listed(gate, "failed_errors") == ["row_count_vs_previous"]
        assert listed(gate, "quarantined_deliveries") == [short] and not listed(gate, "held_in_quarantine")
        assert STAGING not in materialised(first) and query(settings, staged) == staged_before
        assert quarantine_records(settings) == [(short, False)]

        # run 2: the held delivery is not judged again and blocks nothing; the gate warns, naming it
        second = materialize_pipeline(settings, instance, selection=selection, graph=graph)
        assert second.success, [e.message for e in second.all_events if e.is_failure]
        gate = raw_gate(second)
        assert not gate.passed and gate.severity == dg.AssetCheckSeverity.WARN
        assert not listed(gate, "failed_errors")
        assert listed(gate, "failed_warnings") == ["delivery_held_in_quarantine"]
        assert listed(gate, "held_in_quarantine") == [short] and short in gate.description
        assert gate.metadata["rows_held_in_quarantine"].value == short_rows > 0
        assert gate.metadata["deliveries_judged"].value == 0 and not listed(gate, "quarantined_deliveries")
        [(observed,)] = query(settings, """select observed_value from quality.validation_results
                                           where run_id = ? and expectation = 'delivery_held_in_quarantine'""",
                              [second.run_id])
        assert observed.startswith(f"{short_rows} rows held in 1 delivery ['{short}']")
        # staging rebuilt without the held rows: the same records as before, none from the short delivery
        assert STAGING in materialised(second)
        assert query(settings, from_short) == [(0,)] and query(settings, staged) == staged_before
        [staged_gate] = [e for e in second.get_asset_check_evaluations()
                         if e.asset_key == STAGING and e.check_name == "staged_gate"]
        assert staged_gate.passed and staged_gate.metadata["quarantined_rows"].value == short_rows
        assert quarantine_records(settings) == [(short, False)]
        # its own checks were recorded once, by run 1: no second verdict to flip
        assert query(settings, """select count(distinct run_id) from quality.validation_results
                                  where delivery_id = ? and scope = 'latest_delivery'""", [short]) == [(1,)]

        # run 3, after the release: the rows are staged (each the newest version of its record), the delivery is
        # neither judged nor quarantined again, and the gate passes
        release(settings, short)
        third = materialize_pipeline(settings, instance, selection=selection, graph=graph)
        assert third.success, [e.message for e in third.all_events if e.is_failure]
        gate = raw_gate(third)
        assert gate.passed and gate.metadata["deliveries_judged"].value == 0
        assert not listed(gate, "held_in_quarantine") and not listed(gate, "quarantined_deliveries")
        assert query(settings, from_short) == query(settings, "select count(distinct person_id) from raw.csc_persons "
                                                              "where _delivery_id = ?", [short])
        assert query(settings, from_short)[0][0] > 0
        assert quarantine_records(settings) == [(short, True)]


# --- whole-table checks judge the rows staging reads -------------------------------------------------------

# The registry as it would be after UPRN became required: rows landed before may hold nulls there.
UPRN_REQUIRED = replace(PERSONS, extract="full", columns=tuple(replace(c, required=c.name == "UPRN" or c.required)
                                                               for c in PERSONS.columns))
GATE_UPRN_REQUIRED = build_raw_gate_check(UPRN_REQUIRED)


@dg.asset(deps=[LANDING.key])
def persons_downstream() -> int:
    """Stands in for staging: must not run when the raw gate blocks."""
    return 1


def person(i: int, uprn: str) -> list[str]:
    return [f"P{i:06d}", "Forename", "", "Surname", "01/02/2010", "M", "1 Any Street", "Town", "FH1 2AB", uprn, "",
            "01/01/2024"]


def deliver(settings: Settings, name: str, rows: list[list[str]]) -> None:
    path = settings.landing_dir / PERSONS.name / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([PERSONS.header, *rows])


def gate_run(settings: Settings):
    result = dg.materialize([LANDING, GATE_UPRN_REQUIRED, persons_downstream], resources=build_resources(settings),
                            raise_on_error=False)
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "raw_gate"]
    return evaluation, materialised(result), result.run_id


def test_nulls_in_a_delivery_block_the_run_that_quarantines_it_only(tmp_path):
    """The delivery's own required_not_null is an error of that delivery: it blocks once and is quarantined. The
    whole-table count of nulls among the rows staging reads only warns: those rows were judged already."""
    settings = Settings(data_dir=tmp_path)
    deliver(settings, "csc_persons_2026-01-31.csv", [person(i, uprn=str(100000 + i)) for i in range(100)])
    assert gate_run(settings)[0].passed
    deliver(settings, "csc_persons_2026-02-28.csv", [person(i, uprn="") for i in range(40)])  # short, no UPRN

    first, downstream, _ = gate_run(settings)
    assert first.severity == dg.AssetCheckSeverity.ERROR and persons_downstream.key not in downstream
    assert set(listed(first, "failed_errors")) == {"row_count_vs_previous", "required_not_null(uprn)"}
    [(held, _)] = quarantine_records(settings)

    second, downstream, run_id = gate_run(settings)
    assert second.severity == dg.AssetCheckSeverity.WARN and persons_downstream.key in downstream
    assert listed(second, "failed_warnings") == ["delivery_held_in_quarantine"]
    assert query(settings, """select observed_value from quality.validation_results where run_id = ?
                              and expectation = 'required_not_null_in_staged_rows' and "column" = 'uprn'""",
                 [run_id]) == [("0 of 100 rows null (40 rows held in quarantine not counted)",)]

    # released: its rows count again in the whole-table check (the release lets them into staging), which warns
    # and blocks nothing (the engineer decided the rows are usable); the delivery is not judged nor quarantined again
    release(settings, held)
    third, downstream, run_id = gate_run(settings)
    assert third.severity == dg.AssetCheckSeverity.WARN and persons_downstream.key in downstream
    assert listed(third, "failed_warnings") == ["required_not_null_in_staged_rows(uprn)"]
    assert not listed(third, "failed_errors")
    assert third.metadata["deliveries_judged"].value == 0 and quarantine_records(settings) == [(held, True)]
    assert query(settings, """select observed_value from quality.validation_results where run_id = ?
                              and expectation = 'required_not_null_in_staged_rows' and "column" = 'uprn'""",
                 [run_id]) == [("40 of 140 rows null",)]
