"""The analyst copy and the analysts' workbook: no date of birth can be read from them, every table and column
says what it holds, the workbook is the same bytes from two builds, and its flags are Y/N.

The rules run on a small hand-made mart schema (a second or two); the whole on the shared 2,000-person pipeline.
Dates of birth are reached only through restricted.pseudonyms and marts.dim_person, as an auditor would; the
assertions count and compare, they print no row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from types import SimpleNamespace

import dagster as dg
import duckdb
import pytest

from returns.pseudonyms import Pseudonymiser
from returns.schemas import (
    ANALYST_DATABASE_FILE,
    build_analyst_schema,
    build_pseudonym_table,
    export_analyst_database,
    register_ref_function,
)

KEY = "test-key-0123456789abcdef"
REPORTING_DATE = dt.date(2026, 9, 30)
BIRTHDAY_YEARS = 25  # dob + 0..25 whole years
CHANCE_OFFSETS = [d for d in range(-10, 11) if abs(d) >= 4]  # days around a birthday: what chance gives


# --- an independent audit: persons whose date falls on a birthday, against the days around ------------------------

def persons_by_birthday_offset(con: duckdb.DuckDBPyConnection, dated_sql: str) -> dict[int, int]:
    """For `dated_sql` (person_id, day): offset in days from a birthday (dob + 0..25 years) -> distinct persons."""
    rows = con.execute(f"""
        with dated as ({dated_sql}),
        birthdays as (
            select person_id, cast(dob + to_years(cast(k as integer)) as date) as birthday
            from marts.dim_person, range(0, {BIRTHDAY_YEARS + 1}) years(k) where dob is not null
        )
        select date_diff('day', b.birthday, d.day) as offset_days, count(distinct d.person_id)
        from dated d join birthdays b on b.person_id = d.person_id and d.day between b.birthday - 10 and b.birthday + 10
        group by 1""").fetchall()
    return dict(rows)


def falls_on_birthdays_beyond_chance(persons: dict[int, int]) -> bool:
    chance = sum(persons.get(d, 0) for d in CHANCE_OFFSETS) / len(CHANCE_OFFSETS)
    return persons.get(0, 0) > chance + 5 * math.sqrt(chance + 1)


def analyst_dated_sql(table: str, column: str, link: str) -> str:
    """(internal person id, date) of an analyst table's column, through the references (restricted schema)."""
    if link == "person_ref":
        return (f'select r.internal_id as person_id, cast(a."{column}" as date) as day from analyst."{table}" a '
                "join restricted.pseudonyms r on r.kind = 'person' and r.ref = a.person_ref")
    return (f'select m.person_id, cast(a."{column}" as date) as day from analyst."{table}" a '
            "join restricted.pseudonyms r on r.kind = 'family' and r.ref = a.family_ref "
            "join marts.family_membership m on m.family_id = r.internal_id")


def analyst_dates(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(table, date or timestamp column, link) for every analyst column a person can be reached from."""
    columns = con.execute("select table_name, column_name, data_type from information_schema.columns "
                          "where table_schema = 'analyst'").fetchall()
    names: dict[str, set[str]] = {}
    for table, column, _ in columns:
        names.setdefault(table, set()).add(column)
    found = []
    for table, column, data_type in columns:
        if data_type == "DATE" or data_type.startswith("TIMESTAMP"):
            link = next((k for k in ("person_ref", "family_ref") if k in names[table]), None)
            if link:
                found.append((table, column, link))
    return sorted(found)


# --- the rules, on hand-made marts --------------------------------------------------------------------------------

def make_marts(con: duckdb.DuckDBPyConnection) -> None:
    """80 persons; each household family has a child whose membership is split on the 18th birthday and ends
    there, and every person has events on days unrelated to birthdays. Comments as dbt persists them."""
    con.execute("create schema marts")
    con.execute("""create table marts.dim_person as select 'P' || lpad(i::varchar, 3, '0') as person_id,
        'Forename' as first_name, cast(date '1990-01-01' + cast(i * 90 as integer) as date) as dob,
        date '2026-09-30' as reporting_date, 0 as age_at_reporting_date from range(80) t(i)""")
    con.execute("""update marts.dim_person set age_at_reporting_date = date_diff('year', dob, reporting_date)
        - case when strftime(reporting_date, '%m%d') < strftime(dob, '%m%d') then 1 else 0 end""")
    # families of two: an adult (even i) and a child (odd i) who turns 18 before the reporting date or after it
    con.execute("""create table marts.family_membership as
        with people as (select person_id, dob, cast(dob + interval 18 year as date) as eighteenth,
                               'F' || lpad(cast((row_number() over (order by person_id) - 1) // 2 as varchar), 2, '0')
                               as family_id, (row_number() over (order by person_id) - 1) % 2 = 1 as is_child
                        from marts.dim_person)
        select family_id, person_id, 'child' as role, greatest(date '2010-03-05', dob) as valid_from,
               case when eighteenth <= date '2026-09-30' then eighteenth end as valid_to,
               eighteenth as known_end_date, md5(person_id) as membership_id
        from people where is_child and eighteenth > date '2010-03-05'
        union all
        select family_id, person_id, 'adult', greatest(date '2010-03-05', eighteenth), null, null,
               md5(person_id || 'adult')
        from people where not is_child or eighteenth <= date '2026-09-30'""")
    con.execute("""create table marts.dim_family as select family_id, min(valid_from) as start_date,
        max(known_end_date) as end_date from marts.family_membership group by family_id""")
    con.execute("""create table marts.person_chronology as
        select p.person_id, md5(p.person_id || e.i) as event_id,
               cast(date '2016-01-01' + cast((e.i * 211 + p.n * 53) % 3500 as integer) as date) as event_date,
               0 as age_at_event, [md5(p.person_id)] as evidence_event_ids
        from (select person_id, row_number() over (order by person_id) as n from marts.dim_person) p,
             range(12) e(i)""")
    con.execute("""update marts.person_chronology c set age_at_event = date_diff('year', p.dob, c.event_date)
        - case when strftime(c.event_date, '%m%d') < strftime(p.dob, '%m%d') then 1 else 0 end
        from marts.dim_person p where p.person_id = c.person_id""")
    con.execute("comment on table marts.family_membership is 'Who is in each family, from when to when.'")
    con.execute("comment on column marts.family_membership.valid_to is 'Exclusive end; NULL = open.'")
    con.execute("comment on column marts.family_membership.person_id is 'The member (dim_person).'")
    con.execute("comment on column marts.person_chronology.event_date is 'The day it happened.'")


@pytest.fixture(scope="module")
def hand_made(tmp_path_factory):
    """(warehouse connection, analyst database file) after one analyst build over the hand-made marts."""
    folder = tmp_path_factory.mktemp("analyst_rules")
    con = duckdb.connect(str(folder / "warehouse.duckdb"))
    make_marts(con)
    pseudonymiser = Pseudonymiser(KEY)
    register_ref_function(con, pseudonymiser)
    build_pseudonym_table(con, pseudonymiser)
    build_analyst_schema(con)
    export = export_analyst_database(con, folder / "analyst" / ANALYST_DATABASE_FILE)
    yield con, export
    con.close()


def test_dates_that_fall_on_birthdays_are_given_to_the_month_and_others_keep_their_day(hand_made):
    con, _ = hand_made
    # the marts reveal dates of birth (the audit sees it), the analyst copy does not
    marts_valid_to = persons_by_birthday_offset(
        con, "select person_id, valid_to as day from marts.family_membership where valid_to is not null")
    assert falls_on_birthdays_beyond_chance(marts_valid_to)
    for table, column, link in analyst_dates(con):
        assert not falls_on_birthdays_beyond_chance(
            persons_by_birthday_offset(con, analyst_dated_sql(table, column, link))), (table, column)
    for table, column in (("family_membership", "valid_from"), ("family_membership", "valid_to"),
                          ("family_membership", "known_end_date"), ("dim_family", "end_date")):
        days = con.execute(f"select distinct day({column}) from analyst.{table} where {column} is not null").fetchall()
        assert days == [(1,)], (table, column)  # the first of the month
    # an event date on someone's birthday by chance reveals nothing: events keep their day
    kept = con.execute("""select count(*), count(*) filter (where a.event_date = m.event_date)
        from analyst.person_chronology a join restricted.pseudonyms r on r.kind = 'event' and r.ref = a.event_ref
        join marts.person_chronology m on m.event_id = r.internal_id""").fetchall()[0]
    assert kept[0] == 80 * 12 and kept[1] == kept[0]
    assert con.execute("select count(distinct day(event_date)) from analyst.person_chronology").fetchall()[0][0] > 20


def test_ages_count_from_the_month_of_birth(hand_made):
    """An age in whole years beside an exact date brackets the birthday between two events; counted from the
    month of birth, it brackets the month only."""
    con, _ = hand_made
    ages = con.execute("""
        select a.age_at_event, (year(a.event_date) * 12 + month(a.event_date) - year(p.dob) * 12 - month(p.dob)) // 12,
               m.age_at_event
        from analyst.person_chronology a join restricted.pseudonyms r on r.kind = 'event' and r.ref = a.event_ref
        join marts.person_chronology m on m.event_id = r.internal_id join marts.dim_person p using (person_id)
        where a.event_date >= p.dob""").fetchall()
    assert ages and all(analyst == by_month for analyst, by_month, _ in ages)
    assert {analyst - exact for analyst, _, exact in ages} == {0, 1}  # one more in the birth month before the day
    reporting = con.execute("select count(*) from analyst.dim_person where age_at_reporting_date is null").fetchall()
    assert reporting[0][0] == 0


def test_every_analyst_table_and_column_is_described_in_the_warehouse_and_the_analysts_file(hand_made):
    con, export = hand_made
    warehouse = con.execute("select table_name, column_name, comment from duckdb_columns() where database_name = "
                            "current_database() and schema_name = 'analyst' order by 1, 2").fetchall()
    assert warehouse and all(comment for _, _, comment in warehouse)
    described = {(t, c): comment for t, c, comment in warehouse}
    assert described[("family_membership", "valid_to")].startswith("Exclusive end; NULL = open.")  # the mart's
    assert "given to the month" in described[("family_membership", "valid_to")]
    assert "given to the month" not in described[("person_chronology", "event_date")]
    person_ref = described[("family_membership", "person_ref")]
    assert person_ref.startswith("Pseudonymous reference to a person") and "The member (dim_person)." in person_ref
    assert "same internal id" in person_ref
    assert "Pseudonymous references, one per event" in described[("person_chronology", "evidence_event_refs")]
    assert "month of birth" in described[("person_chronology", "age_at_event")]
    tables = dict(con.execute("select table_name, comment from duckdb_tables() where database_name = "
                              "current_database() and schema_name = 'analyst'").fetchall())
    assert all(tables.values())
    assert tables["family_membership"].startswith("Who is in each family")
    assert "Left out: membership_id." in tables["family_membership"]
    analysts = duckdb.connect(str(export), read_only=True)
    try:
        copied = analysts.execute("select table_name, column_name, comment from duckdb_columns() "
                                  "where schema_name = 'analyst' order by 1, 2").fetchall()
        copied_tables = dict(analysts.execute("select table_name, comment from duckdb_tables() "
                                              "where schema_name = 'analyst'").fetchall())
    finally:
        analysts.close()
    assert copied == warehouse and copied_tables == tables  # the analysts' own file keeps them


# --- the shared pipeline's analyst copy and workbook -----------------------------------------------------------

def test_no_analyst_date_of_the_pipeline_falls_on_birthdays_beyond_chance(warehouse):
    con, settings = warehouse
    dates = analyst_dates(con)
    assert {("family_membership", "valid_to"), ("dim_family", "end_date"), ("fct_event", "event_date")} <= {
        (t, c) for t, c, _ in dates}
    # the marts carry dates of birth in their membership and family dates: the audit finds them there
    assert falls_on_birthdays_beyond_chance(persons_by_birthday_offset(
        con, "select person_id, valid_to as day from marts.family_membership"))
    assert falls_on_birthdays_beyond_chance(persons_by_birthday_offset(
        con, "select m.person_id, f.known_end_date as day from marts.dim_family f join marts.family_membership m "
             "using (family_id)"))
    revealing = [(t, c) for t, c, link in dates
                 if falls_on_birthdays_beyond_chance(persons_by_birthday_offset(con, analyst_dated_sql(t, c, link)))]
    assert revealing == []
    # events keep their day; membership dates are given to the month
    event_days = con.execute("select count(distinct day(event_date)) from analyst.fct_event").fetchall()[0][0]
    membership_days = con.execute("select distinct day(valid_from) from analyst.family_membership "
                                  "where valid_from is not null").fetchall()
    assert event_days == 31 and membership_days == [(1,)]


def test_the_pipeline_analysts_file_describes_every_column(built_pipeline):
    settings, _, _ = built_pipeline
    con = duckdb.connect(str(settings.data_dir / "analyst" / ANALYST_DATABASE_FILE), read_only=True)
    try:
        columns = con.execute("select table_name, column_name, comment from duckdb_columns() "
                              "where schema_name = 'analyst'").fetchall()
        tables = con.execute("select table_name, comment from duckdb_tables() where schema_name = 'analyst'").fetchall()
    finally:
        con.close()
    assert len(tables) > 20 and all(comment for _, comment in tables)
    assert len(columns) > 200 and [(t, c) for t, c, comment in columns if not comment] == []
    refs = [comment for _, c, comment in columns if c.endswith(("_ref", "_refs"))]
    assert refs and all(comment.startswith("Pseudonymous reference") for comment in refs)


@pytest.fixture(scope="module")
def two_workbooks(built_pipeline, tmp_path_factory):
    """The 2026-Q3 workbook of a copy of the shared pipeline, built, then built again after the analyst schema
    is rebuilt from the marts: the copy's settings, and each build's size and sha256 (not the bytes: a failure
    prints its fixtures' values)."""
    import shutil

    from orchestration.defs.returns.assets import ANALYST_SCHEMA, outbox_key, return_key, returns_assets
    from orchestration.lib.resources import build_resources
    from orchestration.lib.settings import Settings

    source, _, _ = built_pipeline
    settings = Settings(data_dir=tmp_path_factory.mktemp("workbooks") / "data", reporting_date=source.reporting_date)
    shutil.copytree(source.data_dir, settings.data_dir)
    resources = build_resources(settings)
    analyst_schema = [a for a in returns_assets if a.key == ANALYST_SCHEMA]
    path = settings.outbox_dir / "2026-Q3" / "analyst_workbook_2026-Q3.xlsx"
    books = []
    with dg.instance_for_test() as instance:
        for build in range(2):
            if build:
                assert dg.materialize(analyst_schema, resources=resources, instance=instance).success
            result = dg.materialize(returns_assets, resources=resources, instance=instance, partition_key="2026-07-01",
                                    selection=dg.AssetSelection.assets(return_key("family_progress_data"),
                                                                       outbox_key("analyst_workbook")))
            assert result.success
            books.append((path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest()))
    return SimpleNamespace(settings=settings, first=books[0], second=books[1])


def test_the_workbook_is_the_same_bytes_from_two_builds(two_workbooks):
    assert two_workbooks.first[0] > 10_000 and two_workbooks.first == two_workbooks.second


def test_a_return_records_what_its_rows_were_built_from(two_workbooks):
    """The quarter's stored rows carry (for the manifest) the marts' reporting date, the linkage model and a
    fingerprint of every feed's landed files: what an auditor needs to tell two builds of a quarter apart."""
    import json

    from linkage.lineage import model_fingerprint
    from linkage.train import DEFAULT_MODEL_PATH
    from orchestration.lib.feeds import registry

    settings = two_workbooks.settings
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        [(record,)] = con.execute("select built_from from returns.return_gate_status where return_name = "
                                  "'family_progress_data' and reporting_period = '2026-Q3'").fetchall()
    finally:
        con.close()
    inputs = json.loads(record)
    assert inputs["marts_reporting_date"] == settings.reporting_date.isoformat()
    assert inputs["linkage_model_sha256"] == model_fingerprint(json.loads(DEFAULT_MODEL_PATH.read_text()))
    assert len(inputs["review_decisions_sha256"]) == len(inputs["criteria_rules_sha256"]) == 64
    assert set(inputs["feeds"]) == set(registry())
    for feed, figures in inputs["feeds"].items():
        assert figures["deliveries"] >= 1 and figures["held_in_quarantine"] == 0, feed
        assert len(figures["files_sha256"]) == 64 and figures["latest_extract_date"] <= "2026-09-30", feed


def read_workbook(settings):
    import openpyxl

    return openpyxl.load_workbook(settings.outbox_dir / "2026-Q3" / "analyst_workbook_2026-Q3.xlsx", read_only=True)


def test_each_workbook_column_is_described_from_its_own_source(two_workbooks):
    settings = two_workbooks.settings
    book = read_workbook(settings)
    dictionary = {(sheet, column): (kind, source, description) for sheet, column, kind, source, description
                  in book["Data dictionary"].iter_rows(min_row=2, values_only=True)}
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        comments = {(t, c): comment for t, c, comment in con.execute(
            "select table_name, column_name, comment from duckdb_columns() where schema_name = 'analyst'").fetchall()}
    finally:
        con.close()
    for sheet, table in (("Criteria", "family_criteria"), ("Chronology", "family_chronology")):
        columns = [c for s, c in dictionary if s == sheet]
        assert len(columns) > 8
        for column in columns:
            _, source, description = dictionary[(sheet, column)]
            assert source == f"analyst.{table}.{column}", (sheet, column)
            assert description.startswith(comments[(table, column)]), (sheet, column)
    # headline_code means different things in family_progress and family_criteria: the Criteria sheet's is its own
    assert dictionary[("Criteria", "headline_code")][2] == comments[("family_criteria", "headline_code")]
    assert dictionary[("Persons", "valid_to")][1] == "analyst.family_membership.valid_to"
    assert "given to the month" in dictionary[("Persons", "valid_to")][2]
    assert dictionary[("Families", "closed_date")][1] == "returns.family_progress_data.closed_date"
    assert all(description for (sheet, _), (_, _, description) in dictionary.items() if sheet != "About")


def test_workbook_flags_are_y_or_n_and_eligibility_says_when(two_workbooks):
    settings = two_workbooks.settings
    book = read_workbook(settings)
    dictionary = {(sheet, column): (kind, source, description) for sheet, column, kind, source, description
                  in book["Data dictionary"].iter_rows(min_row=2, values_only=True)}
    families = list(book["Families"].iter_rows(values_only=True))
    header = families[0]
    assert "is_sf_eligible" not in header and "is_sf_eligible_at_period_end" in header
    assert "eligibility on the attachment date" in dictionary[("Families", "is_sf_eligible_at_period_end")][2]
    flags_checked = 0
    for sheet in ("Families", "Persons", "Criteria", "Evidence", "Chronology"):
        rows = list(book[sheet].iter_rows(values_only=True))
        for index, column in enumerate(rows[0]):
            if dictionary[(sheet, column)][0] == "flag":
                values = {row[index] for row in rows[1:]}
                assert values <= {"Y", "N", None} and values & {"Y", "N"}, (sheet, column)
                flags_checked += 1
    assert flags_checked >= 6
    eligible = {row[header.index("is_sf_eligible_at_period_end")] for row in families[1:]}
    dependent = {row[header.index("has_dependent_child")] for row in families[1:]}
    assert "Y" in eligible and eligible <= {"Y", "N", None} and dependent <= {"Y", "N", None}


def test_workbook_persons_dates_reveal_no_birthday(two_workbooks):
    """Every Persons date that equals a birthday of its person does so only because it is the first of the month
    and so is the birthday: at day precision it would match the membership split on the 18th birthday."""
    settings = two_workbooks.settings
    book = read_workbook(settings)
    rows = list(book["Persons"].iter_rows(values_only=True))
    header = rows[0]
    dated = [(row[header.index("person_ref")], column, row[header.index(column)].date())
             for row in rows[1:] for column in ("valid_from", "valid_to") if row[header.index(column)] is not None]
    n_dated = len(dated)  # a small cohort on 2,000 persons
    assert n_dated > 20
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        con.execute("create temp table sheet_dates (person_ref varchar, column_name varchar, day date)")
        con.executemany("insert into sheet_dates values (?, ?, ?)", dated)
        matched = con.execute(f"""
            select count(*), count(*) filter (where day(p.dob) <> 1)
            from sheet_dates s join restricted.pseudonyms r on r.kind = 'person' and r.ref = s.person_ref
            join marts.dim_person p on p.person_id = r.internal_id, range(0, {BIRTHDAY_YEARS + 1}) years(k)
            where s.day = cast(p.dob + to_years(cast(k as integer)) as date)""").fetchall()[0]
    finally:
        con.close()
    assert matched[1] == 0
