"""The readers' schemas: `analyst` (pseudonymised) and `restricted` (identifiable), built from the marts.

analyst.<mart>   one table per mart table (rebuilt from the marts every run), by rules, so a column the marts
                 gain later is handled without editing this file:
                   - internal ids become pseudonymous references: person_id -> person_ref, family_id -> family_ref,
                     family_case_id -> case_ref, key_worker_id -> lead_practitioner_ref, event_id -> event_ref,
                     and lists of person / event ids -> lists of references (..._refs);
                   - any other id column (..._id, ..._ids, record keys) is dropped;
                   - names, dates of birth, identifiers (NHS, NI, UPN, PNC, UPRN), postcodes and address lines
                     are dropped; boolean data-quality flags about them (has_conflicting_dob) are kept.
                 Tables, not views: the analyst schema needs nothing from the marts or the restricted schema at
                 query time, so it can be copied into a database file of its own for analysts
                 (`export_analyst_database`).
restricted.*     views over the marts with the pseudonymous references added (so an auditor can go from a
                 reference in a return to the person), restricted.pseudonyms (reference <-> internal id), and
                 the National Impact Study rows. Identifiable: for the data team and named auditors only.

The HMAC key never reaches the warehouse: references are computed in Python (returns/pseudonyms.py) and
stored; a DuckDB function is registered on the building connection only.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa

from returns.pseudonyms import Pseudonymiser

ANALYST, RESTRICTED, MARTS = "analyst", "restricted", "marts"
REF_FUNCTION = "familyhub_ref"
# The analysts' own database file (under <data_dir>/analyst/); not "analyst.duckdb", whose catalog name would
# clash with the schema name.
ANALYST_DATABASE_FILE = "analyst_warehouse.duckdb"

# internal id column -> (pseudonym kind, reference column)
ID_COLUMNS = {
    "person_id": ("person", "person_ref"),
    "family_id": ("family", "family_ref"),
    "family_case_id": ("case", "case_ref"),
    "key_worker_id": ("practitioner", "lead_practitioner_ref"),
    "event_id": ("event", "event_ref"),
}
# list-of-ids columns, by name ending -> pseudonym kind
ID_LIST_ENDINGS = {"person_ids": "person", "event_ids": "event"}
PERSONAL_COLUMN = re.compile(
    r"(^|_)(first_names?|middle_names?|surnames?|forenames?|full_name|names_seen|dob|dobs|date_of_birth|birth"
    r"|nhs|nhs_numbers?|nino|ni_numbers?|upns?|uprns?|pnc|pnc_ids?|postcodes?|address|address_line|locality"
    r"|email|phone)(_|$)")
OTHER_ID = re.compile(r"(_id|_ids|_key|_keys|^record_key)$")
SKIP_MARTS = {"person_source_xref"}  # source-system ids only: nothing left once they are dropped

# restricted views: mart -> the reference columns to add (id column -> kind)
RESTRICTED_VIEWS = {
    "dim_person": ["person_id"],
    "person_source_xref": ["person_id"],
    "family_membership": ["family_id", "person_id"],
}


def register_ref_function(con: duckdb.DuckDBPyConnection, pseudonymiser: Pseudonymiser) -> None:
    """familyhub_ref(kind, id) on this connection only (it is gone when the connection closes)."""

    known: dict[tuple[str, str], str | None] = {}  # the same event id recurs in several marts: hash it once

    def ref(kind: str, internal_id: str | None) -> str | None:
        key = (kind, internal_id)
        if key not in known:
            known[key] = pseudonymiser.ref(kind, internal_id)
        return known[key]

    def refs(kinds: pa.Array, ids: pa.Array) -> pa.Array:
        return pa.array([ref(k, i) for k, i in zip(kinds.to_pylist(), ids.to_pylist(), strict=True)], type=pa.string())

    try:
        con.remove_function(REF_FUNCTION)
    except (duckdb.InvalidInputException, duckdb.CatalogException):
        pass
    con.create_function(REF_FUNCTION, refs, ["VARCHAR", "VARCHAR"], "VARCHAR", type="arrow",
                        null_handling="special")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def mart_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ? order by table_name",
        [MARTS]).fetchall()
    return [r[0] for r in rows]


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(
        "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position", [schema, table]).fetchall()]


def analyst_projection(columns: list[tuple[str, str]]) -> tuple[list[str], list[str], list[str]]:
    """(select expressions, joins, dropped column names) for one mart table `m`'s analyst table. Scalar ids
    join restricted.pseudonyms (fast); lists of ids go through the registered function."""
    select, joins, dropped = [], [], []
    for name, data_type in columns:
        col = f"m.{_quote(name)}"
        is_list = data_type.endswith("[]")
        if name in ID_COLUMNS:
            kind, ref = ID_COLUMNS[name]
            alias = f"p{len(joins)}"
            joins.append(f"left join {RESTRICTED}.pseudonyms {alias} on {alias}.kind = '{kind}' "
                         f"and {alias}.internal_id = cast({col} as varchar)")
            select.append(f"{alias}.ref as {_quote(ref)}")
        elif is_list and name.endswith(tuple(ID_LIST_ENDINGS)):
            kind = next(k for ending, k in ID_LIST_ENDINGS.items() if name.endswith(ending))
            ref = name[: -len("ids")] + "refs"
            select.append(f"list_transform({col}, lambda x: {REF_FUNCTION}('{kind}', cast(x as varchar))) "
                          f"as {_quote(ref)}")
        elif data_type == "BOOLEAN":
            select.append(col)  # flags (has_conflicting_dob, ...) carry no value of the field they describe
        elif PERSONAL_COLUMN.search(name) or OTHER_ID.search(name):
            dropped.append(name)
        else:
            select.append(col)
    return select, joins, dropped


def build_pseudonym_table(con: duckdb.DuckDBPyConnection, pseudonymiser: Pseudonymiser) -> int:
    """restricted.pseudonyms(kind, internal_id, ref) for every id in the marts that has a reference."""
    con.execute(f"create schema if not exists {RESTRICTED}")
    tables = set(mart_tables(con))
    parts = []
    for table in sorted(tables):
        names = {n for n, _ in _columns(con, MARTS, table)}
        for column, (kind, _) in ID_COLUMNS.items():
            if column in names:
                parts.append(f"select '{kind}' as kind, cast({_quote(column)} as varchar) as internal_id "
                             f"from {MARTS}.{_quote(table)} where {_quote(column)} is not null")
    if not parts:
        con.execute(f"create or replace table {RESTRICTED}.pseudonyms (kind varchar, internal_id varchar, ref varchar)")
        return 0
    con.execute(f"create or replace table {RESTRICTED}.pseudonyms as "
                f"select kind, internal_id, {REF_FUNCTION}(kind, internal_id) as ref "
                f"from ({' union '.join(parts)}) order by kind, internal_id")
    return con.execute(f"select count(*) from {RESTRICTED}.pseudonyms").fetchall()[0][0]


def build_analyst_schema(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """analyst.<mart> for every mart table but SKIP_MARTS; drops analyst tables whose mart is gone.
    Needs restricted.pseudonyms and register_ref_function on the connection first. Returns rows per analyst table."""
    con.execute(f"create schema if not exists {ANALYST}")
    built: dict[str, int] = {}
    for table in mart_tables(con):
        if table in SKIP_MARTS:
            continue
        select, joins, _ = analyst_projection(_columns(con, MARTS, table))
        if not select:
            continue
        con.execute(f"create or replace table {ANALYST}.{_quote(table)} as "
                    f"select {', '.join(select)} from {MARTS}.{_quote(table)} m {' '.join(joins)}")
        built[table] = con.execute(f"select count(*) from {ANALYST}.{_quote(table)}").fetchall()[0][0]
    for (stale,) in con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [ANALYST]).fetchall():
        if stale not in built:
            con.execute(f"drop table if exists {ANALYST}.{_quote(stale)}")
    return built


def build_restricted_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """restricted.<mart> views with reference columns joined from restricted.pseudonyms."""
    con.execute(f"create schema if not exists {RESTRICTED}")
    tables = set(mart_tables(con))
    made = []
    for table, id_columns in RESTRICTED_VIEWS.items():
        if table not in tables:
            continue
        refs, joins = [], []
        for i, column in enumerate(id_columns):
            kind, ref = ID_COLUMNS[column]
            refs.append(f"p{i}.ref as {_quote(ref)}")
            joins.append(f"left join {RESTRICTED}.pseudonyms p{i} on p{i}.kind = '{kind}' "
                         f"and p{i}.internal_id = cast(m.{_quote(column)} as varchar)")
        con.execute(f"create or replace view {RESTRICTED}.{_quote(table)} as "
                    f"select {', '.join(refs)}, m.* from {MARTS}.{_quote(table)} m {' '.join(joins)}")
        made.append(table)
    return made


def export_analyst_database(con: duckdb.DuckDBPyConnection, path: Path) -> Path:
    """Copy the analyst schema into a database file of its own (DuckDB has no per-schema grants: giving
    analysts this file, not the warehouse, is what keeps the restricted schema from them)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    con.execute(f"attach '{temporary}' as analyst_export")
    try:
        con.execute(f"create schema if not exists analyst_export.{ANALYST}")
        for (table,) in con.execute(
                "select table_name from information_schema.tables where table_schema = ? and table_catalog = "
                "current_database() order by 1", [ANALYST]).fetchall():
            con.execute(f"create table analyst_export.{ANALYST}.{_quote(table)} as "
                        f"select * from {ANALYST}.{_quote(table)}")
    finally:
        con.execute("detach analyst_export")
    temporary.replace(path)
    return path
