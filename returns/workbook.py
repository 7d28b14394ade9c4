"""The analysts' workbook for a period: atomic, pseudonymised rows from the analyst schema, one sheet each.

    About            what the workbook holds, the period, how references work
    Families         families worked with in the period or eligible at its end
    Persons          their members (person_ref, role, sex, age, sources): no names, dates of birth, identifiers
    Criteria         the families' headline criteria met or on the cusp at the period end, with evidence refs
    Evidence         one row per evidence ref of the Criteria sheet: the event it cites, so that every ref
                     resolves in the workbook (the Chronology holds three years; a criterion may cite older
                     events, or a member's event from before they joined the family)
    Chronology       every event of those families' members in the three years to the period end
    Data dictionary  every column of every sheet: type, source, meaning

Read only from analyst.* (and the period's Family Progress Data rows, which are pseudonymous), so the workbook
cannot carry what the analyst schema leaves out, and dates the analyst schema gives to the month stay so. Each
column is described from its own source: the analyst table's column comment (the marts' dbt docs plus what the
analyst copy did) or the Family Progress Data spec, so the same rows give the same bytes. Written with
returns.writers (frozen header, filters, widths, real Excel dates, flags Y/N).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from returns.periods import Period
from returns.spec import ColumnSpec, get_spec
from returns.writers import Sheet, Table, WrittenFile, conform, fixed_created, sha256_file, write_xlsx

WORKBOOK_NAME = "analyst_workbook"
WORKBOOK_VERSION = "2026.3"
EXCEL_MAX_ROWS = 1_048_575  # below the header
CHRONOLOGY_YEARS = 3

# Descriptions of the columns the workbook makes itself.
OWN_DESCRIPTIONS = {
    "family_ref": ("Pseudonymous family reference: the reference the returns reported the family under, kept "
                   "when its internal id changes (else a keyed HMAC-SHA256 of the internal family id)."),
    "worked_with_in_period": ("Y when the family had a programme case open at some time in the period (N for a family "
                              "the Family Progress Data reports only for a six-month check in the period)."),
    "is_sf_eligible_at_period_end": (
        "Y when the family met the Supporting Families eligibility rule at the period end (analyst."
        "family_eligibility as at the period end). Not the Family Progress Data's is_sf_eligible, which is "
        "eligibility on the attachment date."),
    "person_was_member_on_event_date": (
        "Y when the event's person was a member of the family on the event date (the event is in the family's "
        "chronology); N for a member's event from before they joined, which counts for the family's criteria too."),
    "source_systems": "The source systems with records of the person, semicolon-separated (analyst.dim_person).",
    "sheet": "Workbook sheet.", "column": "Column in that sheet.", "type": "How the value is written.",
    "source": "Where the column comes from (table.column), or 'workbook' for a column the workbook makes.",
    "description": "What the column means.", "item": "About this workbook.", "value": "",
}
OWN_SOURCE = "workbook"
FAMILY_PROGRESS_DATA = "returns.family_progress_data"
# The Families sheet's columns, by source.
FAMILY_COLUMNS = ("start_date", "end_date", "n_members", "n_children", "household_basis", "ward_code", "ward_name",
                  "lsoa_code", "imd_decile")
ELIGIBILITY_COLUMNS = {  # analyst.family_eligibility column -> sheet column (eligibility at the period end)
    "is_sf_eligible": "is_sf_eligible_at_period_end", "n_headlines_met": "n_headlines_met",
    "n_tf_problems_met": "n_tf_problems_met", "has_dependent_child": "has_dependent_child",
    "priority_score": "priority_score", "headlines_met": "headlines_met"}
PROGRESS_COLUMNS = ("attached_date", "closed_date", "case_status", "intensity", "n_headlines_identified",
                    "claim_status")
# The Evidence sheet's columns from analyst.fct_event (after family_ref and need_code from family_criteria)
EVIDENCE_EVENT_COLUMNS = ("event_ref", "person_ref", "event_date", "end_date", "event_type", "event_code",
                          "event_role", "criteria_indicator_codes", "description", "measure_value", "measure_unit",
                          "source_system", "source_feed", "source_file_name", "source_row_number")
# The Persons sheet's columns, by source (then source_systems, made from dim_person's list).
MEMBERSHIP_COLUMNS = ("family_ref", "person_ref", "role", "membership_basis", "valid_from", "valid_to")
PERSON_COLUMNS = ("sex", "age_at_reporting_date", "reporting_date", "n_source_records", "has_conflicting_dob",
                  "has_invalid_identifier")
LIST_NOTE = "In the workbook: one cell, semicolon-separated."
_TYPE_OF = {"DATE": "date", "TIMESTAMP": "date", "BIGINT": "integer", "INTEGER": "integer", "HUGEINT": "integer",
            "SMALLINT": "integer", "TINYINT": "integer", "UBIGINT": "integer", "DOUBLE": "decimal",
            "FLOAT": "decimal", "BOOLEAN": "flag"}


@dataclass(frozen=True)
class Described:
    """Where a sheet column comes from and what it means."""

    source: str
    description: str


def _analyst_described(con: duckdb.DuckDBPyConnection, table: str, *, note: str = "") -> dict[str, Described]:
    """column -> its comment in analyst.<table> (the marts' description plus what the analyst copy did)."""
    rows = con.execute("select column_name, comment from duckdb_columns() where database_name = current_database() "
                       "and schema_name = 'analyst' and table_name = ?", [table]).fetchall()
    return {name: Described(f"analyst.{table}.{name}", " ".join(t for t in ((comment or "").strip(), note) if t))
            for name, comment in rows}


def _progress_described() -> dict[str, Described]:
    return {c.name: Described(f"{FAMILY_PROGRESS_DATA}.{c.name}", c.description)
            for c in get_spec("family_progress_data").columns}


def _own(*names: str) -> dict[str, Described]:
    return {name: Described(OWN_SOURCE, OWN_DESCRIPTIONS[name]) for name in names}


def _column_type(duckdb_type: str) -> str:
    if duckdb_type.startswith("DECIMAL"):
        return "decimal"
    return _TYPE_OF.get(duckdb_type, "string")


def _decimals(duckdb_type: str) -> int:
    if duckdb_type.startswith("DECIMAL(") and "," in duckdb_type:
        return int(duckdb_type.rstrip(")").split(",")[1])
    return 3


def query_table(con: duckdb.DuckDBPyConnection, sql: str, params: dict, described: dict[str, Described],
                sort_by: tuple[str, ...]) -> Table:
    """The query's rows as a sheet table; each column described by `described` (its own source)."""
    relation = con.sql(sql, params=params)
    columns = []
    for name, kind in zip(relation.columns, relation.types, strict=True):
        found = described.get(name, Described("", ""))
        description = f"{found.description} {LIST_NOTE}" if str(kind).endswith("[]") else found.description
        columns.append(ColumnSpec(name=name, type=_column_type(str(kind)), decimals=_decimals(str(kind)),
                                  source=found.source, description=description.strip()))
    frame = relation.df()
    if len(frame) > EXCEL_MAX_ROWS:
        raise ValueError(f"{len(frame)} rows do not fit one Excel sheet; narrow the cohort")
    for column in columns:
        if column.type == "flag":  # a left join gives nullable booleans (numpy's, or NA): Python's, for Y/N
            frame[column.name] = [None if pd.isna(v) else bool(v) for v in frame[column.name]]
    return conform(tuple(columns), frame, sort_by)


def _analyst_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = 'analyst' and table_name = ?",
        [table]).fetchall()}


def _cohort_sql(con: duckdb.DuckDBPyConnection) -> str:
    """family_ref of families worked with in the period (its FPD rows) or eligible at the period end."""
    parts = ["select family_ref from returns.family_progress_data where reporting_period = $label"]
    if {"family_ref", "as_at_date", "is_sf_eligible"} <= _analyst_columns(con, "family_eligibility"):
        parts.append("select family_ref from analyst.family_eligibility where as_at_date = $period_end "
                     "and is_sf_eligible")
    return " union ".join(parts)


def build_sheets(con: duckdb.DuckDBPyConnection, period: Period) -> list[Sheet]:
    params = {"label": period.label, "period_start": period.start, "period_end": period.end,
              "chronology_from": period.end.replace(year=period.end.year - CHRONOLOGY_YEARS)}

    def table(sql: str, described: dict[str, Described], sort_by: tuple[str, ...]) -> Table:
        used = {k: v for k, v in params.items() if f"${k}" in sql}
        return query_table(con, sql, used, described, sort_by)

    cohort = _cohort_sql(con)
    eligibility_cols = _analyst_columns(con, "family_eligibility")
    eligibility = {c: name for c, name in ELIGIBILITY_COLUMNS.items() if c in eligibility_cols}
    eligibility_select = "".join(f", e.{c} as {name}" for c, name in eligibility.items())
    eligibility_join = ("left join analyst.family_eligibility e on e.family_ref = c.family_ref "
                        "and e.as_at_date = $period_end") if eligibility else ""
    at_period_end = _analyst_described(con, "family_eligibility", note="At the period end.")
    family_described = {
        **{c: d for c, d in _analyst_described(con, "dim_family").items() if c in FAMILY_COLUMNS},
        **{name: at_period_end[c] for c, name in eligibility.items() if c in at_period_end},
        **{c: d for c, d in _progress_described().items() if c in PROGRESS_COLUMNS},
        **_own("family_ref", "worked_with_in_period", "is_sf_eligible_at_period_end"),
    }
    families = table(f"""
        with cohort as ({cohort})
        select c.family_ref, {", ".join(f"f.{c}" for c in FAMILY_COLUMNS)}{eligibility_select},
               coalesce(worked.open_in_period, false) as worked_with_in_period,
               {", ".join(f"fpd.{c}" for c in PROGRESS_COLUMNS)}
        from cohort c
        left join analyst.dim_family f on f.family_ref = c.family_ref
        {eligibility_join}
        -- the Family Progress Data also reports a case closed before the period, for its six-month check
        left join (select family_ref, bool_or(closed_date is null or closed_date >= $period_start) as open_in_period
                   from returns.family_progress_data where reporting_period = $label group by family_ref) worked
            on worked.family_ref = c.family_ref
        left join (select * from returns.family_progress_data where reporting_period = $label
                   qualify row_number() over (partition by family_ref order by attached_date desc, case_ref) = 1) fpd
            on fpd.family_ref = c.family_ref
    """, family_described, ("family_ref",))
    person_described = {
        **{c: d for c, d in _analyst_described(con, "family_membership").items() if c in MEMBERSHIP_COLUMNS},
        **{c: d for c, d in _analyst_described(con, "dim_person").items() if c in PERSON_COLUMNS},
        **_own("source_systems"),
    }
    persons = table(f"""
        with cohort as ({cohort})
        select {", ".join(f"m.{c}" for c in MEMBERSHIP_COLUMNS)}, {", ".join(f"p.{c}" for c in PERSON_COLUMNS)},
               array_to_string(p.source_systems, ';') as source_systems
        from analyst.family_membership m
        join cohort c on c.family_ref = m.family_ref
        left join analyst.dim_person p on p.person_ref = m.person_ref
        where m.valid_from <= $period_end and (m.valid_to is null or m.valid_to >= $period_start)
    """, person_described, ("family_ref", "person_ref"))
    criteria_cols = _analyst_columns(con, "family_criteria")
    criteria_filter = " or ".join(f"fc.{c}" for c in ("is_met", "is_on_cusp") if c in criteria_cols) or "true"
    criteria = table(f"""
        with cohort as ({cohort})
        select fc.* from analyst.family_criteria fc join cohort c on c.family_ref = fc.family_ref
        where fc.as_at_date = $period_end and ({criteria_filter})
    """, _analyst_described(con, "family_criteria"), ("family_ref",)) \
        if {"family_ref", "as_at_date"} <= criteria_cols else None
    evidence = None
    if criteria is not None and {"need_code", "evidence_event_refs"} <= criteria_cols:
        event_cols = _analyst_columns(con, "fct_event")
        evidence_cols = [c for c in EVIDENCE_EVENT_COLUMNS if c in event_cols]
        criteria_described = _analyst_described(con, "family_criteria")
        evidence = table(f"""
            with cohort as ({cohort}),
            cited as (
                select distinct fc.family_ref, fc.need_code, unnest(fc.evidence_event_refs) as event_ref
                from analyst.family_criteria fc join cohort c on c.family_ref = fc.family_ref
                where fc.as_at_date = $period_end and ({criteria_filter})
            )
            select cited.family_ref, cited.need_code, {", ".join(f"e.{c}" for c in evidence_cols)},
                   exists (select 1 from analyst.family_chronology ch
                           where ch.family_ref = cited.family_ref and ch.event_ref = cited.event_ref)
                       as person_was_member_on_event_date
            from cited join analyst.fct_event e on e.event_ref = cited.event_ref
        """, {"family_ref": criteria_described["family_ref"], "need_code": criteria_described["need_code"],
              **{c: d for c, d in _analyst_described(con, "fct_event").items() if c in evidence_cols},
              **_own("person_was_member_on_event_date")},
            ("family_ref", "need_code", "event_date", "event_ref"))
    chronology = table(f"""
        with cohort as ({cohort})
        select ch.* from analyst.family_chronology ch join cohort c on c.family_ref = ch.family_ref
        where ch.event_date > $chronology_from and ch.event_date <= $period_end
    """, _analyst_described(con, "family_chronology"), ("family_ref", "event_date"))

    sheets = [Sheet("Families", families), Sheet("Persons", persons)]
    if criteria is not None:
        sheets.append(Sheet("Criteria", criteria))
    if evidence is not None:
        sheets.append(Sheet("Evidence", evidence))
    sheets.append(Sheet("Chronology", chronology))
    return [Sheet("About", _about(period, sheets)), *sheets, Sheet("Data dictionary", _dictionary(sheets))]


def _text_table(names: tuple[str, ...], rows: list[tuple]) -> Table:
    return Table(columns=tuple(ColumnSpec(name=n, type="string", source="", description=OWN_DESCRIPTIONS.get(n, ""))
                               for n in names), rows=rows)


def _about(period: Period, sheets: list[Sheet]) -> Table:
    rows = [
        ("Workbook", f"Family Data Hub analyst workbook, version {WORKBOOK_VERSION}"),
        ("Period", f"{period.label} ({period.start.isoformat()} to {period.end.isoformat()}); criteria as at "
                   f"{period.end.isoformat()}"),
        ("Families", "Families with a programme case open in the period, or meeting the Supporting Families "
                     "eligibility rule at the period end"),
        ("Evidence", "Each event the Criteria sheet's evidence_event_refs cite, one row per family, need and event, "
                     "including events the Chronology sheet leaves out (older than its "
                     f"{CHRONOLOGY_YEARS} years, or from before the person joined the family)"),
        ("Chronology", f"Events of those families' members in the {CHRONOLOGY_YEARS} years to the period end"),
        ("References", "family_ref, person_ref, case_ref and event_ref are pseudonyms (keyed HMAC-SHA256): the same "
                       "in every sheet, return and period; only the restricted schema maps them to people"),
        ("Personal data", "None: no names, dates of birth, identifiers or postcodes (analyst schema)"),
        ("Dates", "Dates that would reveal a date of birth (e.g. a child's membership ending on their 18th "
                  "birthday) are given to the month, as its first day; the Data dictionary says which. Other dates "
                  "keep their day"),
        *[(f"Sheet {s.name}", f"{len(s.table.rows)} rows") for s in sheets],
    ]
    return _text_table(("item", "value"), rows)


def _dictionary(sheets: list[Sheet]) -> Table:
    rows = [(s.name, c.name, c.type, c.source or None, c.description or None) for s in sheets
            for c in s.table.columns]
    return _text_table(("sheet", "column", "type", "source", "description"), rows)


def write_analyst_workbook(con: duckdb.DuckDBPyConnection, outbox_dir: Path, period: Period
                           ) -> tuple[WrittenFile, dict[str, int]]:
    sheets = build_sheets(con, period)
    base = Path(outbox_dir) / period.label
    path = write_xlsx(base / f"{WORKBOOK_NAME}_{period.label}.xlsx", sheets,
                      title=f"Family Data Hub analyst workbook {period.label}", subject=f"version {WORKBOOK_VERSION}",
                      created=fixed_created(period))
    counts = {s.name: len(s.table.rows) for s in sheets if s.name not in ("About", "Data dictionary")}
    written = WrittenFile(path=path, relative=path.relative_to(base).as_posix(), rows=sum(counts.values()),
                          sha256=sha256_file(path), bytes=path.stat().st_size)
    return written, counts
