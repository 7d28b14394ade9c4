"""The reference marts (dbt_project/models/marts/reference) on the shared built pipeline: dim_date's calendars at
their boundaries and its span, and the ref_* tables: each is its seed unchanged, every code list has one, and
every code the marts (and staging) carry in a column a ref_* table decodes (its meta.decodes) is in it.
"""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from tests.conftest import REPO_ROOT

REFERENCE_MODELS = REPO_ROOT / "dbt_project" / "models" / "marts" / "reference" / "_reference__models.yml"
SEEDS = REPO_ROOT / "seeds"


def _reference_models() -> list[dict]:
    return yaml.safe_load(REFERENCE_MODELS.read_text())["models"]


def _day(con, day: str) -> dict:
    result = con.sql("select * from marts.dim_date where date_day = cast($1 as date)", params=[day])
    rows = result.fetchall()
    assert len(rows) == 1, day
    return dict(zip(result.columns, rows[0], strict=True))


@pytest.mark.parametrize(("day", "expected"), [
    # UK financial year: April to March, Q1 = April-June
    ("2025-03-31", {"financial_year": "2024-25", "financial_quarter": 4}),
    ("2025-04-01", {"financial_year": "2025-26", "financial_quarter": 1}),
    ("2025-06-30", {"financial_year": "2025-26", "financial_quarter": 1}),
    ("2025-07-01", {"financial_year": "2025-26", "financial_quarter": 2}),
    ("2026-01-01", {"financial_year": "2025-26", "financial_quarter": 4}),
    # academic year and terms as staging dates the school census terms (August opens the autumn term)
    ("2025-07-31", {"academic_year": "2024/25", "academic_term": "summer", "academic_term_code": "SUM"}),
    ("2025-08-01", {"academic_year": "2025/26", "academic_term": "autumn", "academic_term_code": "AUT"}),
    ("2025-12-31", {"academic_year": "2025/26", "academic_term": "autumn"}),
    ("2026-01-01", {"academic_year": "2025/26", "academic_term": "spring"}),
    ("2026-03-31", {"academic_year": "2025/26", "academic_term": "spring"}),
    ("2026-04-01", {"academic_year": "2025/26", "academic_term": "summer"}),
    ("2099-08-01", None),  # outside the span: no row
    # ISO weeks: 3 January 2021 (a Sunday) is in 2020's week 53; 30 December 2024 opens 2025's week 1
    ("2021-01-03", {"iso_year": 2020, "iso_week": 53, "iso_week_label": "2020-W53", "day_of_week_iso": 7,
                    "weekday_name": "Sunday", "is_weekend": True, "week_start_date": dt.date(2020, 12, 28),
                    "calendar_year": 2021}),
    ("2024-12-30", {"iso_year": 2025, "iso_week": 1, "iso_week_label": "2025-W01", "is_weekend": False}),
    # calendar quarters as the returns and the criteria's as_at dates name them
    ("2026-09-30", {"reporting_period": "2026-Q3", "quarter_end_date": dt.date(2026, 9, 30), "is_quarter_end": True,
                    "month_name": "September", "year_month": "2026-09"}),
    ("2026-07-01", {"reporting_period": "2026-Q3", "quarter_end_date": dt.date(2026, 9, 30), "is_quarter_end": False}),
    # programme periods
    ("2012-04-01", {"programme": "Troubled Families", "programme_period": "Troubled Families 2012-15",
                    "is_supporting_families": False}),
    ("2021-03-31", {"programme_period": "Troubled Families 2020-21", "is_supporting_families": False}),
    ("2021-04-01", {"programme_period": "Supporting Families 2021-22", "is_supporting_families": True}),
    ("2025-03-31", {"programme_period": "Supporting Families 2022-25"}),
    ("2025-04-01", {"programme_period": "Supporting Families 2025 onwards", "is_supporting_families": True}),
])
def test_dim_date_calendars_at_their_boundaries(warehouse, day, expected):
    con, _ = warehouse
    if expected is None:
        assert con.sql("select count(*) from marts.dim_date where date_day = cast($1 as date)",
                       params=[day]).fetchall() == [(0,)]
        return
    row = _day(con, day)
    assert {key: row[key] for key in expected} == expected


def test_dim_date_has_every_day_of_whole_financial_years_covering_the_events(warehouse):
    con, settings = warehouse
    first, last, days, distinct_days = con.sql(
        "select min(date_day), max(date_day), count(*), count(distinct date_day) from marts.dim_date").fetchall()[0]
    assert days == distinct_days == (last - first).days + 1  # one row per day, no gap
    assert (first.month, first.day, last.month, last.day) == (4, 1, 3, 31)
    earliest, latest = con.sql("select min(event_date), max(event_date) from marts.fct_event").fetchall()[0]
    assert first <= min(earliest, dt.date(2012, 4, 1)) and first.year >= min(earliest.year, 2012) - 1
    # the financial year after the one holding the later of the reporting date and the latest event
    anchor = max(settings.reporting_date, latest)
    assert last == dt.date(anchor.year + (1 if anchor.month < 4 else 2), 3, 31)
    # every six-month check of a programme case has a row
    unmatched = con.sql("""select count(*) from marts.family_progress p
                           anti join marts.dim_date d on d.date_day = p.sustained_check_date
                           where p.sustained_check_date is not null""").fetchall()[0][0]
    assert unmatched == 0


def test_dim_date_academic_terms_agree_with_the_attendance_events(warehouse):
    """A school attendance event runs from its term's first to its last day; dim_date puts both days in the
    term and academic year its event_code names ('2024/25 AUT')."""
    con, _ = warehouse
    checked, disagreeing = con.sql("""
        select
            count(*),
            count(*) filter (where
                e.event_code <> s.academic_year || ' ' || s.academic_term_code
                or e.event_code <> f.academic_year || ' ' || f.academic_term_code)
        from marts.fct_event e
        join marts.dim_date s on s.date_day = e.event_date
        join marts.dim_date f on f.date_day = e.end_date
        where e.source_feed = 'school_attendance'""").fetchall()[0]
    assert checked > 100 and disagreeing == 0


def test_every_reference_table_is_its_seed_unchanged_and_every_code_list_has_one(warehouse):
    con, _ = warehouse
    refs = {m["name"] for m in _reference_models() if m["name"].startswith("ref_")}
    seeds = {p.stem for folder in ("code_lists", "criteria", "events") for p in (SEEDS / folder).glob("*.csv")}
    assert refs == {f"ref_{seed}" for seed in seeds}
    for ref in sorted(refs):
        seed = ref.removeprefix("ref_")
        rows = con.sql(f"select count(*) from marts.{ref}").fetchall()[0][0]
        different = con.sql(f"""select count(*) from (
            (select * from marts.{ref} except all select * from reference.{seed})
            union all
            (select * from reference.{seed} except all select * from marts.{ref}))""").fetchall()[0][0]
        assert rows > 0 and different == 0, ref
        assert ref in _tables(con, "analyst"), ref  # analysts' own database gets them too
    assert "dim_date" in _tables(con, "analyst")


def _tables(con, schema: str) -> set[str]:
    return {r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = ?",
                                      [schema]).fetchall()}


def test_every_code_a_reference_table_decodes_resolves(warehouse):
    """meta.decodes of each ref_* model names the columns it decodes; every code in them is in the table."""
    con, _ = warehouse
    decodes = [(m["name"], d) for m in _reference_models()
               for d in m.get("config", {}).get("meta", {}).get("decodes", [])]
    assert {d["relation"] for _, d in decodes} >= {"marts.fct_event", "marts.person_criteria",
                                                    "marts.family_criteria", "marts.family_progress"}
    assert sum(d["relation"] == "marts.fct_event" for _, d in decodes) >= 14
    key_of = {m["name"]: c["name"] for m in _reference_models() for c in m["columns"]
              if {"type": "primary_key"} in c.get("constraints", [])}
    for ref, decode in decodes:
        where = f"where {decode['where']}" if "where" in decode else ""
        codes = {r[0] for r in con.sql(f"select distinct {decode['column']} as code from {decode['relation']} "
                                       f"{where}").fetchall()} - {None}
        known = {r[0] for r in con.sql(f"select {key_of[ref]} from marts.{ref}").fetchall()}
        assert codes, (ref, decode)  # the pipeline's data uses the list: the check is not vacuous
        assert codes <= known, (ref, decode, sorted(codes - known))
