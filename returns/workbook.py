"""The analysts' workbook for a period: atomic, pseudonymised rows from the analyst schema, one sheet each.

    About            what the workbook holds, the period, how references work
    Families         families worked with in the period or eligible at its end
    Persons          their members (person_ref, role, sex, age, sources): no names, dates of birth, identifiers
    Criteria         the families' headline criteria met or on the cusp at the period end, with evidence refs
    Chronology       every event of those families' members in the three years to the period end
    Data dictionary  every column of every sheet: type and meaning (from the dbt docs where they exist)

Read only from analyst.* (and the period's Family Progress Data rows, which are pseudonymous), so the workbook
cannot carry what the analyst schema leaves out. Written with returns.writers (frozen header, filters, widths,
real Excel dates), same bytes for the same rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from returns.periods import Period
from returns.spec import ColumnSpec
from returns.writers import Sheet, Table, WrittenFile, conform, fixed_created, sha256_file, write_xlsx

WORKBOOK_NAME = "analyst_workbook"
WORKBOOK_VERSION = "2026.1"
EXCEL_MAX_ROWS = 1_048_575  # below the header
CHRONOLOGY_YEARS = 3

# Descriptions for columns the workbook makes itself; the marts' columns take theirs from the dbt docs.
OWN_DESCRIPTIONS = {
    "family_ref": "Pseudonymous family reference (keyed HMAC-SHA256 of the internal family id), as in the returns.",
    "person_ref": "Pseudonymous person reference (keyed HMAC-SHA256 of the internal person id).",
    "case_ref": "Pseudonymous programme case reference.",
    "event_ref": "Pseudonymous event reference; the restricted schema maps it back to its source row.",
    "evidence_event_refs": "Pseudonymous references of the events that evidence the criterion.",
    "evidencing_person_refs": "Pseudonymous references of the family members whose events evidence the criterion.",
    "n_headlines_identified": "Headlines with a need identified at attachment (Family Progress Data).",
    "attached_date": "Date the family was attached to the programme (Family Progress Data).",
    "worked_with_in_period": "Y when the family had a programme case open at some time in the period.",
    "is_sf_eligible": "Y when the family met the Supporting Families eligibility rule at the period end.",
    "case_status": "Programme case status at the period end (OPEN / CLOSED).",
    "claim_status": "Results claim status at the period end (see the Family Progress Data spec).",
    "sheet": "Workbook sheet.", "column": "Column in that sheet.", "type": "How the value is written.",
    "description": "What the column means.", "item": "About this workbook.", "value": "",
}
_TYPE_OF = {"DATE": "date", "TIMESTAMP": "date", "BIGINT": "integer", "INTEGER": "integer", "HUGEINT": "integer",
            "SMALLINT": "integer", "TINYINT": "integer", "UBIGINT": "integer", "DOUBLE": "decimal",
            "FLOAT": "decimal", "BOOLEAN": "flag"}


def _mart_descriptions() -> dict[str, str]:
    """column -> description from the dbt manifest's mart models (first one found wins)."""
    from orchestration.defs.dbt.project import dbt_project

    path = Path(dbt_project.manifest_path)
    if not path.exists():
        return {}
    found: dict[str, str] = {}
    for node in json.loads(path.read_text(encoding="utf-8"))["nodes"].values():
        if node.get("resource_type") == "model" and node.get("schema") == "marts":
            for name, column in node.get("columns", {}).items():
                if column.get("description"):
                    found.setdefault(name, " ".join(column["description"].split()))
    return found


def _column_type(duckdb_type: str) -> str:
    if duckdb_type.startswith("DECIMAL"):
        return "decimal"
    return _TYPE_OF.get(duckdb_type, "string")


def _decimals(duckdb_type: str) -> int:
    if duckdb_type.startswith("DECIMAL(") and "," in duckdb_type:
        return int(duckdb_type.rstrip(")").split(",")[1])
    return 3


def query_table(con: duckdb.DuckDBPyConnection, sql: str, params: list, descriptions: dict[str, str],
                sort_by: tuple[str, ...]) -> Table:
    relation = con.sql(sql, params=params)
    columns = tuple(
        ColumnSpec(name=name, type=_column_type(str(kind)), decimals=_decimals(str(kind)), source="analyst schema",
                   description=descriptions.get(name) or OWN_DESCRIPTIONS.get(name) or "")
        for name, kind in zip(relation.columns, relation.types, strict=True))
    frame = relation.df()
    if len(frame) > EXCEL_MAX_ROWS:
        raise ValueError(f"{len(frame)} rows do not fit one Excel sheet; narrow the cohort")
    return conform(columns, frame, sort_by)


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
    descriptions = _mart_descriptions()
    params = {"label": period.label, "period_start": period.start, "period_end": period.end,
              "chronology_from": period.end.replace(year=period.end.year - CHRONOLOGY_YEARS)}

    def table(sql: str, sort_by: tuple[str, ...]) -> Table:
        used = {k: v for k, v in params.items() if f"${k}" in sql}
        return query_table(con, sql, used, descriptions, sort_by)

    cohort = _cohort_sql(con)
    eligibility_cols = _analyst_columns(con, "family_eligibility")
    eligibility = [c for c in ("is_sf_eligible", "n_headlines_met", "n_tf_problems_met", "has_dependent_child",
                               "priority_score", "headlines_met") if c in eligibility_cols]
    eligibility_select = "".join(f", e.{c}" for c in eligibility)
    eligibility_join = ("left join analyst.family_eligibility e on e.family_ref = c.family_ref "
                        "and e.as_at_date = $period_end") if eligibility else ""
    families = table(f"""
        with cohort as ({cohort})
        select c.family_ref, f.start_date, f.end_date, f.n_members, f.n_children, f.household_basis, f.ward_code,
               f.ward_name, f.lsoa_code, f.imd_decile{eligibility_select},
               fpd.family_ref is not null as worked_with_in_period, fpd.attached_date, fpd.closed_date,
               fpd.case_status, fpd.intensity, fpd.n_headlines_identified, fpd.claim_status
        from cohort c
        left join analyst.dim_family f on f.family_ref = c.family_ref
        {eligibility_join}
        left join (select * from returns.family_progress_data where reporting_period = $label
                   qualify row_number() over (partition by family_ref order by attached_date desc, case_ref) = 1) fpd
            on fpd.family_ref = c.family_ref
    """, ("family_ref",))
    persons = table(f"""
        with cohort as ({cohort})
        select m.family_ref, m.person_ref, m.role, m.membership_basis, m.valid_from, m.valid_to,
               p.sex, p.age_at_reporting_date, p.reporting_date,
               array_to_string(p.source_systems, ';') as source_systems,
               p.n_source_records, p.has_conflicting_dob, p.has_invalid_identifier
        from analyst.family_membership m
        join cohort c on c.family_ref = m.family_ref
        left join analyst.dim_person p on p.person_ref = m.person_ref
        where m.valid_from <= $period_end and (m.valid_to is null or m.valid_to >= $period_start)
    """, ("family_ref", "person_ref"))
    criteria_cols = _analyst_columns(con, "family_criteria")
    criteria_filter = " or ".join(f"fc.{c}" for c in ("is_met", "is_on_cusp") if c in criteria_cols) or "true"
    criteria = table(f"""
        with cohort as ({cohort})
        select fc.* from analyst.family_criteria fc join cohort c on c.family_ref = fc.family_ref
        where fc.as_at_date = $period_end and ({criteria_filter})
    """, ("family_ref",)) if {"family_ref", "as_at_date"} <= criteria_cols else None
    chronology = table(f"""
        with cohort as ({cohort})
        select ch.* from analyst.family_chronology ch join cohort c on c.family_ref = ch.family_ref
        where ch.event_date > $chronology_from and ch.event_date <= $period_end
    """, ("family_ref", "event_date"))

    sheets = [Sheet("Families", families), Sheet("Persons", persons)]
    if criteria is not None:
        sheets.append(Sheet("Criteria", criteria))
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
        ("Chronology", f"Events of those families' members in the {CHRONOLOGY_YEARS} years to the period end"),
        ("References", "family_ref, person_ref, case_ref and event_ref are pseudonyms (keyed HMAC-SHA256): the same "
                       "in every sheet, return and period; only the restricted schema maps them to people"),
        ("Personal data", "None: no names, dates of birth, identifiers or postcodes (analyst schema)"),
        *[(f"Sheet {s.name}", f"{len(s.table.rows)} rows") for s in sheets],
    ]
    return _text_table(("item", "value"), rows)


def _dictionary(sheets: list[Sheet]) -> Table:
    rows = [(s.name, c.name, c.type, c.description or None) for s in sheets for c in s.table.columns]
    return _text_table(("sheet", "column", "type", "description"), rows)


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
