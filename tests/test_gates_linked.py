"""The linked gate on linkage/person_crosswalk: the shared pipeline passes it; a linkage run that chains
thousands of records into one person is blocked through the real pipeline; hand-made indexes exercise the
ranges and the person_id lineage rule.

Assertions name expectations and count rows; no test prints a value from a row.
"""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from expectations import run_gate
from expectations.linked_gate import CROSS_SYSTEM_MIN_RECORDS, LINEAGE_TABLE, PREVIOUS_CROSSWALK
from orchestration.defs.linkage.assets import CROSSWALK, person_linkage
from orchestration.lib.resources import build_resources
from tests.conftest import pipeline_graph

LINKED = dg.AssetCheckKey(CROSSWALK, "linked_gate")
GIANT = dg.AssetCheckKey(CROSSWALK, "no_giant_clusters")
CHAINED_RECORDS = 1500


def evaluation(result, key: dg.AssetCheckKey):
    [found] = [e for e in result.get_asset_check_evaluations() if e.asset_check_key == key]
    return found


def query(path, sql: str, params=()):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


# --- the real pipeline ------------------------------------------------------------------------------------


def test_linked_gate_passes_on_the_shared_pipeline(built_pipeline):
    settings, _, result = built_pipeline
    found = evaluation(result, LINKED)
    assert found.passed, (found.metadata["failed_errors"].value, found.metadata["failed_warnings"].value)
    assert found.metadata["errors"].value == 0 and found.metadata["warnings"].value == 0
    rows = query(settings.warehouse, """select expectation, "column", severity, passed from quality.validation_results
                                        where gate = 'linked_gate' and run_id = ?""", [result.run_id])
    assert len(rows) == found.metadata["expectations"].value
    names = {r[0] for r in rows}
    assert {"every_record_linked", "one_person_per_record", "largest_cluster_under_bound", "singleton_share_in_range",
            "multi_system_share_in_range", "cross_system_match_rate", "no_person_id_lost_without_lineage",
            "no_person_id_new_without_lineage"} <= names
    assert ("cross_system_match_rate", "education", "error", True) in rows  # the big feed is judged
    assert not any(r[3] is False for r in rows)
    # lineage: judged once the linkage step keeps it, recorded as not evaluated (passed null) until then
    lineage_built = query(settings.warehouse, "select count(*) from duckdb_tables() where schema_name = 'linkage' "
                                              "and table_name in (?, ?)",
                          [LINEAGE_TABLE, PREVIOUS_CROSSWALK])[0][0] == 2
    lineage_passed = {r[3] for r in rows if r[0] == "no_person_id_lost_without_lineage"}
    assert lineage_passed == ({True} if lineage_built else {None})


def chain_thousands(warehouse, n: int = CHAINED_RECORDS) -> None:
    """Give n standardised person records one name, DOB, sex and address and no identifiers (nor roles that
    bound their age): to the model they are one person (the signature of a placeholder identity or a mapping
    error in a feed)."""
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(f"""
            update intermediate.int_person_records_standardised set
                first_name = 'ALEX', first_name_canonical = 'ALEX', first_name_soundex = 'A420', middle_names = null,
                surname = 'SMITH', surname_soundex = 'S530', surname_tokens = ['SMITH'],
                name_tokens = ['ALEX', 'SMITH'],
                dob = date '2010-01-01', dob_year = 2010, sex = 'M', address_line = '1 HIGH STREET',
                postcode = 'FH1 1AA', postcode_outward = 'FH1', uprn = null, nhs_number = null, ni_number = null,
                upn = null, pnc_id = null, latest_possible_dob = null
            where person_record_id in (select person_record_id from intermediate.int_person_records_standardised
                                       order by hash(person_record_id) limit {n})""")
    finally:
        con.close()


@dg.asset(deps=[CROSSWALK])
def crosswalk_consumer() -> int:
    """Stands in for any reader of the person index: must not run when a linkage gate blocks."""
    return 1


def snapshot(warehouse, tables: list[str]) -> dict[str, tuple]:
    """Row count and an order-independent checksum per table: equal means unchanged."""
    return {t: tuple(query(warehouse, f"select count(*), coalesce(sum(hash(x)), 0) from {t} x")[0]) for t in tables}


def test_a_linkage_run_chaining_thousands_of_records_is_blocked(pipeline_copy):
    settings = pipeline_copy
    graph = [*pipeline_graph(), crosswalk_consumer]
    linkage_step = dg.AssetSelection.assets(*person_linkage.keys)
    downstream = linkage_step.downstream(include_self=False)
    marts = sorted(k for k in downstream.resolve(graph) if k.path[0] == "marts")
    mart_tables = [f"{k.path[0]}.{k.path[1]}" for k in marts
                   if query(settings.warehouse, "select count(*) from duckdb_tables() where schema_name = ? "
                                                "and table_name = ?", list(k.path))[0][0]]
    before = snapshot(settings.warehouse, [*mart_tables, "linkage.person_crosswalk"])
    chain_thousands(settings.warehouse)

    settings.export_for_dbt()
    with dg.instance_for_test() as instance:
        result = dg.materialize(graph, resources=build_resources(settings), instance=instance,
                                selection=linkage_step | downstream, raise_on_error=False,
                                run_config={"ops": {"person_linkage": {"config": {"charts": False}}}})
    linked, giant = evaluation(result, LINKED), evaluation(result, GIANT)
    assert not linked.passed and linked.severity == dg.AssetCheckSeverity.ERROR
    assert "largest_cluster_under_bound" in linked.metadata["failed_errors"].value
    assert linked.metadata["largest_cluster_size"].value >= CHAINED_RECORDS
    assert not giant.passed
    # hundreds of person_ids merged away: each has its lineage row (the ids are not lost), and the churn warns
    assert "person_id_churn(person_id)" in linked.metadata["failed_warnings"].value
    assert not {"no_person_id_lost_without_lineage(person_id)", "no_person_id_new_without_lineage(person_id)"} & set(
        linked.metadata["failed_errors"].value)

    # the step ran (the index is the chained one) but nothing downstream of it did
    materialised = {e.asset_key for e in result.get_asset_materialization_events()}
    assert CROSSWALK in materialised
    assert not materialised & set(downstream.resolve(graph))
    assert crosswalk_consumer.key not in materialised
    after = snapshot(settings.warehouse, [*mart_tables, "linkage.person_crosswalk"])
    assert after.pop("linkage.person_crosswalk") != before.pop("linkage.person_crosswalk")
    assert after == before  # every mart keeps its last good table

    # and the failure is in the quality history, by run
    failed = query(settings.warehouse, """select expectation, severity from quality.validation_results
                                          where gate = 'linked_gate' and run_id = ? and not passed""", [result.run_id])
    assert ("largest_cluster_under_bound", "error") in failed


# --- hand-made indexes ------------------------------------------------------------------------------------


def write_crosswalk(con, persons: list[list[str]], table: str = "person_crosswalk") -> None:
    """persons: per person, the source systems of its records."""
    con.execute("create schema if not exists linkage")
    rows = [(f"P{p:05d}", f"{system}:{p}:{i}", system, f"{p}-{i}")
            for p, systems in enumerate(persons) for i, system in enumerate(systems)]
    con.execute(f"create or replace table linkage.{table} (person_id varchar, person_record_id varchar, "
                "source_system varchar, source_record_id varchar)")
    con.executemany(f"insert into linkage.{table} values (?, ?, ?, ?)", rows)


def typical_persons(n: int = 400) -> list[list[str]]:
    """60% singletons, the rest seen in education and one or two other systems (as the synthetic demo)."""
    out = []
    for p in range(n):
        if p % 5 < 3:
            out.append(["education" if p % 2 else "dwp"])
        else:
            out.append(["education", "dwp"] + (["police"] if p % 2 else []))
    return out


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield connection
    connection.close()


def linked(con, tmp_path):
    return run_gate(con, "linked_gate", "person_crosswalk", artefacts_dir=tmp_path / "artefacts", record=False)


def test_a_typical_index_passes_and_one_where_nothing_links_is_blocked(con, tmp_path):
    write_crosswalk(con, typical_persons())
    result = linked(con, tmp_path)
    assert result.passed and not result.warnings, result.summary()
    assert result.counts["persons"] == 400

    # a run where the model links nothing: every record its own person
    write_crosswalk(con, [[system] for persons in typical_persons() for system in persons])
    result = linked(con, tmp_path)
    assert {r.label for r in result.errors} == {
        "singleton_share_in_range", "multi_system_share_in_range", "cross_system_match_rate(education)",
        "cross_system_match_rate(dwp)", "cross_system_match_rate(police)"}


def test_a_system_with_few_records_is_reported_not_judged(con, tmp_path):
    write_crosswalk(con, typical_persons() + [["youth_justice"]] * (CROSS_SYSTEM_MIN_RECORDS - 1))
    result = linked(con, tmp_path)
    skipped = {r.label for r in result.not_evaluated}
    assert "cross_system_match_rate(youth_justice)" in skipped
    assert result.passed  # none of its records links elsewhere, but 49 records are too few to tell


def test_person_ids_lost_or_new_need_a_lineage_entry(con, tmp_path):
    persons = typical_persons()
    write_crosswalk(con, persons, table=PREVIOUS_CROSSWALK)
    write_crosswalk(con, persons)
    con.execute("update linkage.person_crosswalk set person_id = 'P00001' where person_id = 'P00000'")  # a merge
    # two persons merged under a new id
    con.execute("update linkage.person_crosswalk set person_id = 'PMERGED' where person_id in ('P00002', 'P00003')")
    con.execute("update linkage.person_crosswalk set person_id = 'PNEW' where person_record_id like '%:8:1'")  # a split

    # no lineage table yet: not evaluated, neither passed nor failed
    result = linked(con, tmp_path)
    lineage = {r.expectation: r for r in result.results if "lineage" in r.expectation}
    assert set(lineage) == {"no_person_id_lost_without_lineage", "no_person_id_new_without_lineage"}
    assert all(r.passed is None and r.observed_value.startswith("not evaluated") for r in lineage.values())
    assert result.passed

    con.execute(f"""create table linkage.{LINEAGE_TABLE} (run_id varchar, recorded_at timestamp, change varchar,
                    person_id varchar, related_person_id varchar, n_records integer, reason varchar)""")
    con.execute(f"insert into linkage.{LINEAGE_TABLE} values ('old', now() - interval 1 day, 'split', 'PNEW', "
                "'P00008', 1, 'review')")  # an older run's entry does not explain this run's changes
    con.execute(f"insert into linkage.{LINEAGE_TABLE} values ('r2', now(), 'merged', 'P00000', 'P00001', 2, 'model')")
    result = linked(con, tmp_path)
    assert {r.label for r in result.errors} == {"no_person_id_lost_without_lineage(person_id)",
                                                "no_person_id_new_without_lineage(person_id)"}
    assert result.counts["person_ids_lost"] == 3 and result.counts["person_ids_new"] == 2
    # merged rows name the ids that end and, as related_person_id, the id their records went to
    for ended in ("P00002", "P00003"):
        con.execute(f"insert into linkage.{LINEAGE_TABLE} values ('r2', now(), 'merged', ?, 'PMERGED', 1, 'model')",
                    [ended])
    result = linked(con, tmp_path)
    assert {r.label for r in result.errors} == {"no_person_id_new_without_lineage(person_id)"}

    # a row of the wrong kind does not explain it either: PNEW was created, not ended
    con.execute(f"insert into linkage.{LINEAGE_TABLE} values ('r2', now(), 'retired', 'PNEW', null, 0, 'model')")
    assert {r.label for r in linked(con, tmp_path).errors} == {"no_person_id_new_without_lineage(person_id)"}
    con.execute(f"insert into linkage.{LINEAGE_TABLE} values ('r2', now(), 'split', 'PNEW', 'P00008', 1, 'model')")
    result = linked(con, tmp_path)
    assert result.passed and not result.not_evaluated, result.summary()
