"""Quality gates: deliberately broken deliveries, landed by the real landing assets, gated by the real checks.

Assertions name expectations and count rows; no test prints a value from a row.
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import replace

import dagster as dg
import duckdb
import pytest

from expectations import run_gate
from expectations.identifiers import is_valid, valid_sql
from expectations.staged_gate import raw_record_keys, staging_models
from orchestration.defs.landing.assets import landing_asset_key, landing_assets
from orchestration.defs.landing.loader import land_feed
from orchestration.defs.quality.checks import build_raw_gate_check, quality_checks, raw_gate_checks
from orchestration.lib.feeds import registry
from orchestration.lib.resources import build_resources
from orchestration.lib.settings import REPO_ROOT, Settings
from tests.conftest import materialize_pipeline

PERSONS = registry()["csc_persons"]  # csv: DOB, GENDER codes, POSTCODE, NHS_NUMBER, RECORD_UPDATED
LANDING = next(a for a in landing_assets if a.key == landing_asset_key(PERSONS.name))
REGISTRY_GATE = next(c for c in raw_gate_checks if next(iter(c.check_keys)).asset_key == LANDING.key)
# The gate as it is for a feed sending full extracts, where a short delivery is an error (a register that shrinks
# was cut short); csc_persons sends changes, whose row counts only warn (test_a_short_changes_delivery_only_warns).
# Landing still flags these deliveries as changes, so no record is withdrawn.
GATE = build_raw_gate_check(replace(PERSONS, extract="full"))


@dg.asset(deps=[landing_asset_key(PERSONS.name)])
def persons_downstream() -> int:
    """Stands in for staging: must not run when the raw gate blocks."""
    return 1


def nhs_number(i: int) -> str:
    """The i-th valid NHS number of a fixed synthetic series (999 prefix: never issued)."""
    n = 0
    while True:
        body = f"999{(i * 7 + n) % 10**6:06d}"
        check = (11 - sum(int(d) * w for d, w in zip(body, range(10, 1, -1))) % 11) % 11
        if check < 10:
            return body + str(check)
        n += 1


def person(i: int, dob: str = "01/02/2010", gender: str = "M", updated: str = "01/01/2024") -> list[str]:
    return [f"P{i:06d}", "Forename", "", "Surname", dob, gender, "1 Any Street", "Town", "FH1 2AB", str(100000 + i),
            nhs_number(i), updated]


def write_persons(settings: Settings, name: str, rows: list[list[str]]) -> None:
    path = settings.landing_dir / PERSONS.name / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([",".join(PERSONS.header)] + [",".join(r) for r in rows]) + "\n", encoding="utf-8")


def good_rows(n: int, start: int = 0) -> list[list[str]]:
    return [person(i) for i in range(start, start + n)]


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path)


def gate_run(settings: Settings):
    """Land csc_persons, run its raw gate, then the downstream asset (unless the gate blocks)."""
    result = dg.materialize([LANDING, GATE, persons_downstream], resources=build_resources(settings),
                            raise_on_error=False)
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "raw_gate"]
    materialised = {e.asset_key for e in result.get_asset_materialization_events()}
    return evaluation, materialised


def failed(evaluation, kind: str) -> set[str]:
    return set(evaluation.metadata[f"failed_{kind}"].value)


def query(settings: Settings, sql: str, params=()):
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


# --- the raw gate through Dagster -------------------------------------------------------------------


def test_good_delivery_passes_with_every_expectation_green(settings):
    write_persons(settings, "csc_persons_2026-01-31.csv", good_rows(100))
    evaluation, materialised = gate_run(settings)
    assert evaluation.passed, (failed(evaluation, "errors"), failed(evaluation, "warnings"))
    assert evaluation.metadata["errors"].value == 0 and evaluation.metadata["warnings"].value == 0
    assert {LANDING.key, persons_downstream.key} <= materialised

    # every expectation is in the warehouse history, all passed, and names the kinds of checks we expect
    rows = query(settings, """select expectation, "column", severity, passed from quality.validation_results
                              where gate = 'raw_gate' and asset_key = 'raw/csc_persons'""")
    assert len(rows) == evaluation.metadata["expectations"].value > 20
    assert all(r[3] for r in rows)
    names = {(r[0], r[1]) for r in rows}
    assert {("dob_plausible", "dob"), ("code_in_list", "gender"), ("nhs_number_valid", "nhs_number"),
            ("postcode_valid", "postcode"), ("event_date_in_window", "record_updated"),
            ("required_not_null", "person_id"), ("column_present_with_type", "dob"),
            ("latest_delivery_not_empty", None)} <= names
    assert {r[2] for r in rows} == {"error", "warning"}

    # Data Docs: GX's index.html and the offline index under <data_dir>/artefacts/gx/data_docs; the offline one
    # (readable without internet access) is linked from the check metadata
    docs = settings.artefacts_dir / "gx" / "data_docs"
    assert (docs / "index.html").exists()
    assert evaluation.metadata["data_docs_url"].value == (docs / "offline.html").resolve().as_uri()
    assert list((settings.artefacts_dir / "gx" / "data_docs" / "validations").rglob("*.html"))


def test_future_and_impossible_dobs_block_the_feed_and_its_downstream(settings):
    rows = good_rows(100)
    for i in range(4):
        rows[i] = person(i, dob="01/01/2099")  # born after the file was delivered
    for i in range(4, 7):
        rows[i] = person(i, dob="01/01/1850")  # before 1900
    write_persons(settings, "csc_persons_2026-01-31.csv", rows)
    evaluation, materialised = gate_run(settings)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert failed(evaluation, "errors") == {"dob_plausible(dob)"}
    assert LANDING.key in materialised and persons_downstream.key not in materialised
    [(observed,)] = query(settings, """select observed_value from quality.validation_results
                                       where expectation = 'dob_plausible' and severity = 'error'""")
    assert observed.endswith("(7 of 100 values)")


def test_one_implausible_dob_in_many_rows_only_warns(settings):
    rows = good_rows(300)
    rows[0] = person(0, dob="01/01/2099")  # 1 of 300: under the 1% error share
    write_persons(settings, "csc_persons_2026-01-31.csv", rows)
    evaluation, materialised = gate_run(settings)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert failed(evaluation, "errors") == set() and failed(evaluation, "warnings") == {"dob_plausible(dob)"}
    assert persons_downstream.key in materialised  # warnings do not block


def test_unknown_code_blocks_naming_the_column(settings):
    rows = good_rows(100)
    for i in range(0, 100, 10):
        rows[i] = person(i, gender="Z")
    rows[1] = person(1, gender=" f ")  # case and spacing are normalised as staging does: not unknown
    write_persons(settings, "csc_persons_2026-01-31.csv", rows)
    evaluation, materialised = gate_run(settings)
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR and not evaluation.passed
    assert failed(evaluation, "errors") == {"code_in_list(gender)"}
    assert persons_downstream.key not in materialised
    [(observed,)] = query(settings, """select observed_value from quality.validation_results
                                       where expectation = 'code_in_list' and severity = 'error'""")
    assert observed.endswith("(10 of 100 values)")


def test_a_short_changes_delivery_only_warns(settings):
    """A changes feed's file holds what changed since the last: its size follows activity, and its first file is
    usually the whole history, so next month's much smaller file is no reason to block the feed."""
    assert not PERSONS.is_full_extract
    write_persons(settings, "csc_persons_2026-01-31.csv", good_rows(200))
    write_persons(settings, "csc_persons_2026-02-28.csv", good_rows(10, start=1000))
    result = dg.materialize([LANDING, REGISTRY_GATE, persons_downstream], resources=build_resources(settings),
                            raise_on_error=False)
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "raw_gate"]
    assert evaluation.severity == dg.AssetCheckSeverity.WARN and not failed(evaluation, "errors")
    assert failed(evaluation, "warnings") == {"row_count_vs_previous"}
    assert persons_downstream.key in {e.asset_key for e in result.get_asset_materialization_events()}
    assert not quarantined(settings)


def test_a_delivery_with_half_the_usual_rows_blocks(settings):
    write_persons(settings, "csc_persons_2026-01-31.csv", good_rows(200))
    first, _ = gate_run(settings)
    assert first.passed
    write_persons(settings, "csc_persons_2026-02-28.csv", good_rows(100, start=1000))
    second, materialised = gate_run(settings)
    assert not second.passed and second.severity == dg.AssetCheckSeverity.ERROR
    assert failed(second, "errors") == {"row_count_vs_previous"}
    assert second.metadata["latest_delivery_rows"].value == 100
    assert second.metadata["previous_delivery_rows"].value == 200
    assert persons_downstream.key not in materialised
    # the short delivery is quarantined, so the next one compares with the 200 rows before it, not with its 100
    write_persons(settings, "csc_persons_2026-03-31.csv", good_rows(190, start=2000))
    third, materialised = gate_run(settings)
    assert third.passed and persons_downstream.key in materialised
    assert third.metadata["previous_delivery_rows"].value == 200


def test_header_only_file_blocks_as_an_empty_delivery(settings):
    write_persons(settings, "csc_persons_2026-01-31.csv", [])
    evaluation, materialised = gate_run(settings)
    assert query(settings, "select rows_landed, status from raw._deliveries") == [(0, "landed")]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert failed(evaluation, "errors") == {"latest_delivery_not_empty"}
    assert persons_downstream.key not in materialised


def test_quarter_query_in_the_readme_names_the_failing_feed(settings):
    write_persons(settings, "csc_persons_2026-01-31.csv", [person(i, dob="01/01/2099") for i in range(20)])
    gate_run(settings)
    readme = (REPO_ROOT / "expectations" / "README.md").read_text(encoding="utf-8")
    sql = re.search(r"```sql\n(.*?)```", readme, re.S).group(1)
    rows = query(settings, sql)
    assert ("raw/csc_persons", "dob_plausible", "dob", "error") in {tuple(r[:4]) for r in rows}
    assert all(r[0] == "raw/csc_persons" for r in rows)


def quarantined(settings: Settings) -> list[tuple]:
    """(delivery_id, file_name, gate, failed_expectations, rows_landed) of every quarantined delivery."""
    if not query(settings, "select count(*) from duckdb_tables() where schema_name = 'raw' "
                           "and table_name = '_quarantined_deliveries'")[0][0]:
        return []
    return query(settings, """select delivery_id, file_name, gate, failed_expectations, rows_landed
                              from raw._quarantined_deliveries order by quarantined_at, file_name""")


def test_a_delivery_failing_its_own_checks_is_quarantined_once_with_expectation_names_only(settings):
    write_persons(settings, "csc_persons_2026-01-31.csv", good_rows(100))
    passed, _ = gate_run(settings)
    rows = good_rows(100, start=1000)
    for i in range(5):
        rows[i] = person(1000 + i, dob="01/01/2099")
    write_persons(settings, "csc_persons_2026-02-28.csv", rows)
    failed_once, _ = gate_run(settings)
    failed_again, _ = gate_run(settings)  # judged again, still failing: one record, the first
    assert passed.passed and not failed_once.passed and not failed_again.passed
    [(delivery_id, file_name, gate, expectations, rows_landed)] = quarantined(settings)
    assert (file_name, gate, expectations, rows_landed) == ("csc_persons_2026-02-28.csv", "raw_gate",
                                                            "dob_plausible(dob)", 100)
    assert failed_once.metadata["quarantined_deliveries"].value == [delivery_id]
    assert delivery_id == failed_once.metadata["latest_delivery"].value

    # a warning does not quarantine: 1 future DOB in 300 rows
    rows = good_rows(300, start=2000)
    rows[0] = person(2000, dob="01/01/2099")
    write_persons(settings, "csc_persons_2026-03-31.csv", rows)
    warned, _ = gate_run(settings)
    assert warned.severity == dg.AssetCheckSeverity.WARN and "quarantined_deliveries" not in warned.metadata
    assert [q[1] for q in quarantined(settings)] == ["csc_persons_2026-02-28.csv"]


def delivery_ids(settings: Settings) -> dict[str, str]:
    """file name -> delivery id of every landed csc_persons file."""
    return dict(query(settings, "select file_name, delivery_id from raw._deliveries where status = 'landed'"))


def with_future_dobs(rows: list[list[str]], n: int) -> list[list[str]]:
    return [person(int(r[0][1:]), dob="01/01/2099") if i < n else r for i, r in enumerate(rows)]


def test_files_landed_together_are_each_judged_on_their_own_rows_and_quarantined_alone(settings):
    """Two files of one feed landing in one run: the earlier one, with future DOBs, is judged on its own rows,
    recorded under its own delivery id and quarantined; the newer, good one is not. The next run judges only
    the latest again."""
    write_persons(settings, "csc_persons_2026-01-31.csv", with_future_dobs(good_rows(100), 5))
    write_persons(settings, "csc_persons_2026-02-28.csv", good_rows(100, start=1000))
    evaluation, materialised = gate_run(settings)
    ids = delivery_ids(settings)
    bad, good = ids["csc_persons_2026-01-31.csv"], ids["csc_persons_2026-02-28.csv"]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert failed(evaluation, "errors") == {"dob_plausible(dob)"}
    assert persons_downstream.key not in materialised
    assert evaluation.metadata["deliveries_judged"].value == 2
    assert evaluation.metadata["latest_delivery"].value == good
    assert evaluation.metadata["quarantined_deliveries"].value == [bad]
    assert [(q[1], q[3]) for q in quarantined(settings)] == [("csc_persons_2026-01-31.csv", "dob_plausible(dob)")]
    # each delivery's own checks are recorded under its id: 5 of the first file's 100 DOBs, none of the second's
    rows = query(settings, """select delivery_id, passed, observed_value from quality.validation_results
                              where expectation = 'dob_plausible' and severity = 'error'""")
    assert sorted(rows) == sorted([(bad, False, "0.0500 (5 of 100 values)"), (good, True, "0.0000 (0 of 100 values)")])
    per_delivery = dict(query(settings, """select delivery_id, count(*) from quality.validation_results
                                           where scope = 'latest_delivery' group by all"""))
    assert per_delivery[bad] == per_delivery[good] > 10
    assert query(settings, "select count(distinct delivery_id) from quality.validation_results "
                           "where scope = 'table'") == [(1,)]

    again, materialised = gate_run(settings)  # nothing new: only the latest is judged, and it passes
    assert again.passed and persons_downstream.key in materialised
    assert again.metadata["deliveries_judged"].value == 1


def test_row_count_compares_with_the_previous_delivery_not_quarantined(settings):
    """An oversized delivery with future DOBs is quarantined; a normal delivery after it, landed later or in
    the same run, is compared with the last good one (200 rows), not with the quarantined 1,000."""
    write_persons(settings, "csc_persons_2026-01-31.csv", good_rows(200))
    assert gate_run(settings)[0].passed
    write_persons(settings, "csc_persons_2026-02-28.csv", with_future_dobs(good_rows(1000, start=1000), 50))
    oversized, _ = gate_run(settings)
    assert failed(oversized, "errors") == {"dob_plausible(dob)"}
    assert failed(oversized, "warnings") == {"dob_plausible(dob)", "row_count_vs_previous"}
    write_persons(settings, "csc_persons_2026-03-31.csv", good_rows(200, start=3000))
    after, materialised = gate_run(settings)
    assert after.passed, (failed(after, "errors"), failed(after, "warnings"))
    assert after.metadata["previous_delivery_rows"].value == 200 and persons_downstream.key in materialised

    # the same within one run: the oversized file fails its own checks, so the file after it compares with 200
    write_persons(settings, "csc_persons_2026-04-30.csv", with_future_dobs(good_rows(1000, start=5000), 50))
    write_persons(settings, "csc_persons_2026-05-31.csv", good_rows(210, start=7000))
    together, _ = gate_run(settings)
    assert together.metadata["deliveries_judged"].value == 2
    assert failed(together, "errors") == {"dob_plausible(dob)"}  # the oversized file's own, not the last one's
    assert together.metadata["previous_delivery_rows"].value == 200
    ids = delivery_ids(settings)
    assert {q[0] for q in quarantined(settings)} == {ids["csc_persons_2026-02-28.csv"],
                                                     ids["csc_persons_2026-04-30.csv"]}
    [(ratio_passed,)] = query(settings, """select passed from quality.validation_results where delivery_id = ?
                                           and expectation = 'row_count_vs_previous' and severity = 'error'""",
                              [ids["csc_persons_2026-05-31.csv"]])
    assert ratio_passed


def test_a_gate_that_raises_records_a_failed_run_that_the_returns_refuse(settings):
    """A raw gate whose SQL fails (here: raw._deliveries has lost a column) leaves a failed error row, named
    gate_did_not_run and carrying the exception's type only, so the gate history shows a failed run rather
    than the previous pass."""
    from returns.gates import FAILED, read_gate_status

    write_persons(settings, "csc_persons_2026-01-31.csv", good_rows(100))
    assert gate_run(settings)[0].passed
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute("alter table raw._deliveries drop column rows_rejected")
    finally:
        con.close()
    result = dg.materialize([LANDING, GATE, persons_downstream], resources=build_resources(settings),
                            raise_on_error=False)
    assert not result.success and not [e for e in result.get_asset_check_evaluations() if e.check_name == "raw_gate"]
    assert persons_downstream.key not in {e.asset_key for e in result.get_asset_materialization_events()}
    rows = query(settings, """select expectation, "column", passed, severity, observed_value, delivery_id
                              from quality.validation_results where run_id = ?""", [result.run_id])
    assert rows == [("gate_did_not_run", None, False, "error", "raised BinderException", None)]
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        [outcome] = read_gate_status(con, [("raw_gate", "raw/csc_persons")]).outcomes
    finally:
        con.close()
    assert outcome.status == FAILED and outcome.failed_expectations == ("gate_did_not_run",)


def test_rows_of_a_quarantined_delivery_never_reach_staging_or_marts_after_a_good_delivery(pipeline_copy):
    """The reviewer's repro: new csc_persons records with future DOBs fail the raw gate (downstream untouched);
    a corrected delivery then passes, and only its rows, not the rejected delivery's, reach staging and the
    marts. Releasing the quarantined delivery lets its rows in."""
    settings = pipeline_copy
    [source] = sorted((settings.landing_dir / PERSONS.name).glob("*.csv"))
    with source.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    person_id, dob, nhs = (header.index(c) for c in ("PERSON_ID", "DOB", "NHS_NUMBER"))

    def new_records(prefix: str, n: int, born: str) -> list[list[str]]:
        out = []
        for i, template in enumerate(rows[:n]):
            record = list(template)
            record[person_id], record[dob], record[nhs] = f"{prefix}{i:06d}", born, ""
            out.append(record)
        return out

    def deliver(name: str, extra: list[list[str]]) -> None:
        with (source.parent / name).open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([header, *rows, *extra])

    rejected_ids = [r[person_id] for r in new_records("QX", 40, "")]
    accepted_ids = [r[person_id] for r in new_records("QY", 20, "")]
    # dim_person and person_source_xref, and what lies between them and raw/csc_persons
    chain = (dg.AssetSelection.assets(LANDING.key).downstream()
             & dg.AssetSelection.assets(dg.AssetKey(["marts", "dim_person"]),
                                        dg.AssetKey(["marts", "person_source_xref"])).upstream()
             ).required_multi_asset_neighbors()
    staged = "select count(*), sum(hash(record_key, source_delivery_id)) from staging.stg_social_care__persons"
    xref = "select source_record_id from marts.person_source_xref where source_system = 'social_care'"

    deliver("csc_persons_2026-10-31.csv", new_records("QX", 40, "01/01/2099"))  # born after delivery
    staged_before = query(settings, staged)
    with dg.instance_for_test() as instance:
        first = materialize_pipeline(settings, instance, selection=chain)
    [evaluation] = [e for e in first.get_asset_check_evaluations()
                    if e.asset_key == LANDING.key and e.check_name == "raw_gate"]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert {e.asset_key for e in first.get_asset_materialization_events()} == {LANDING.key}
    assert query(settings, staged) == staged_before
    [(rejected, file_name, _, expectations, _)] = quarantined(settings)
    assert (file_name, expectations) == ("csc_persons_2026-10-31.csv", "dob_plausible(dob)")

    deliver("csc_persons_2026-11-30.csv", new_records("QY", 20, "15/06/2012"))  # the corrected delivery
    with dg.instance_for_test() as instance:
        second = materialize_pipeline(settings, instance, selection=chain)
    assert second.success, [e.message for e in second.all_events if e.is_failure]
    assert all(e.passed for e in second.get_asset_check_evaluations() if e.severity == dg.AssetCheckSeverity.ERROR)
    [[good]] = query(settings, "select delivery_id from raw._deliveries where file_name = 'csc_persons_2026-11-30.csv'")
    from_rejected = query(settings, "select count(*) from staging.stg_social_care__persons "
                                    "where source_delivery_id = ?", [rejected])[0][0]
    assert from_rejected == 0
    staged_ids = {r[0] for r in query(settings, "select person_id from staging.stg_social_care__persons")}
    assert not staged_ids & set(rejected_ids) and set(accepted_ids) <= staged_ids
    # the good delivery re-sent every earlier record: each staged row is its version
    assert query(settings, "select count(*) from staging.stg_social_care__persons where source_delivery_id <> ?",
                 [good])[0][0] == 0
    in_marts = {r[0] for r in query(settings, xref)}
    assert not in_marts & set(rejected_ids) and set(accepted_ids) <= in_marts
    assert query(settings, "select count(*) from marts.dim_person where dob > date '2090-01-01'")[0][0] == 0

    # a deliberate release: the quarantined rows count again at the next staging build
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute("update raw._quarantined_deliveries set released_at = current_timestamp where delivery_id = ?",
                    [rejected])
    finally:
        con.close()
    with dg.instance_for_test() as instance:
        released = materialize_pipeline(settings, instance, selection=[dg.AssetKey(["staging",
                                                                                    "stg_social_care__persons"])])
    assert released.success
    staged_ids = {r[0] for r in query(settings, "select person_id from staging.stg_social_care__persons")}
    assert set(rejected_ids) <= staged_ids


# --- the staged gate on a hand-built staging table ------------------------------------------------------


def stage_like_dbt(con) -> None:
    """staging.stg_social_care__persons as the dbt model builds it: the latest row per person_id."""
    con.execute("create schema if not exists staging")
    con.execute("""create or replace table staging.stg_social_care__persons as
        select person_id as record_key, 'csc_persons' as source_feed, _delivery_id as source_delivery_id,
               _row_number as source_row_number
        from raw.csc_persons
        qualify row_number() over (partition by person_id order by _loaded_at desc, _row_number desc) = 1""")


def staged_failures(con, settings) -> set[str]:
    result = run_gate(con, "staged_gate", "stg_social_care__persons", artefacts_dir=settings.artefacts_dir,
                      feed="csc_persons", record=False)
    return {r.expectation for r in result.errors}


def test_staged_gate_accounts_for_every_raw_row(settings):
    write_persons(settings, "csc_persons_2026-01-31.csv", good_rows(50))
    write_persons(settings, "csc_persons_2026-02-28.csv", good_rows(30, start=40))  # 10 people sent again
    con = duckdb.connect(str(settings.warehouse))
    try:
        land_feed(con, PERSONS, settings.landing_dir)
        stage_like_dbt(con)
        result = run_gate(con, "staged_gate", "stg_social_care__persons", artefacts_dir=settings.artefacts_dir,
                          feed="csc_persons")
        assert result.passed, [r.label for r in result.errors]
        assert (result.counts["raw_rows"], result.counts["staged_rows"], result.counts["superseded_rows"]) == (80, 70, 10)

        # staging that drops a current row: raw no longer reconciles
        con.execute("delete from staging.stg_social_care__persons where record_key = 'P000045'")
        assert staged_failures(con, settings) == {"raw_rows_accounted_for"}
        # a repeated key, and a staged row without a raw row
        stage_like_dbt(con)
        con.execute("""insert into staging.stg_social_care__persons
                       select record_key, source_feed, source_delivery_id, 999999
                       from staging.stg_social_care__persons limit 1""")
        assert staged_failures(con, settings) == {"record_key_unique", "staged_rows_trace_to_raw"}
        # a raw row lost after landing: the file no longer reconciles with raw._deliveries
        stage_like_dbt(con)
        con.execute("delete from raw.csc_persons where _row_number = 1 and _file_name like '%01-31%'")
        stage_like_dbt(con)
        assert staged_failures(con, settings) == {"deliveries_reconcile"}
    finally:
        con.close()


# --- wiring and identifiers ---------------------------------------------------------------------------


def test_one_raw_gate_per_feed_and_one_staged_gate_per_staging_model():
    keys = {key for check in quality_checks for key in check.check_keys}
    raw = {k.asset_key.path[1] for k in keys if k.name == "raw_gate"}
    staged = {k.asset_key.path[1] for k in keys if k.name == "staged_gate"}
    assert raw == set(registry())
    model_files = {p.stem for p in (REPO_ROOT / "dbt_project" / "models" / "staging").rglob("stg_*.sql")}
    # every staging model of a feed; the one of landing's own records (the deliveries staging read) has no feed
    assert staged == model_files - {"stg_landing__deliveries"} and len(staged) >= len(registry())
    assert all(spec.blocking for check in quality_checks for spec in check.check_specs)
    assert {m.feed for m in staging_models()} == set(registry())
    assert set(raw_record_keys()) == set(registry())


@pytest.mark.parametrize("kind", ["nhs_number", "ni_number", "upn", "postcode"])
def test_identifier_sql_agrees_with_python(kind):
    rng = random.Random(5)
    alphabet = {"nhs_number": "0123456789 ", "ni_number": "ABCDEGHJKLMNPRSTWXYZOQ0123456789 ",
                "upn": "ABCDEFGHJKLMNPQRTUVWXYZ0123456789", "postcode": "ABCFHMNW0123456789 "}[kind]
    length = {"nhs_number": 10, "ni_number": 9, "upn": 13, "postcode": 7}[kind]
    values = ["".join(rng.choice(alphabet) for _ in range(length)) for _ in range(3000)]
    values += [nhs_number(i) for i in range(200)] if kind == "nhs_number" else []
    if kind == "upn":  # valid UPNs: the check letter computed for random bodies
        letters = "ABCDEFGHJKLMNPQRTUVWXYZ"
        for _ in range(200):
            body = "".join(rng.choice("0123456789") for _ in range(12))
            values.append(letters[sum(i * int(c) for i, c in zip(range(2, 14), body)) % 23] + body)
    values += {"ni_number": ["AB123456C", "ab 12 34 56 c", "GB123456A", "QA123456A"],
               "postcode": ["FH1 2AB", "fh12 3cd", "EC1A 1BB", "FH1"], "nhs_number": ["943 476 5919"],
               "upn": []}[kind]
    con = duckdb.connect()
    try:
        con.execute("create table v (i integer, x varchar)")
        con.executemany("insert into v values (?, ?)", list(enumerate(values)))
        sql_valid = dict(con.execute(f"select i, {valid_sql(kind, 'x')} from v").fetchall())
    finally:
        con.close()
    python_valid = {i: is_valid(kind, v) for i, v in enumerate(values)}
    disagreements = sum(sql_valid[i] != python_valid[i] for i in python_valid)
    assert disagreements == 0
    assert 0 < sum(python_valid.values()) < len(values)  # both kinds are exercised

