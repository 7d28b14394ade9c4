"""The readers' schemas: `analyst` (pseudonymised) and `restricted` (identifiable), built from the marts.

analyst.<mart>   one table per mart table (rebuilt from the marts every run), by rules, so a column the marts
                 gain later is handled without editing this file:
                   - internal ids become pseudonymous references: person_id -> person_ref, family_id -> family_ref,
                     family_case_id -> case_ref, key_worker_id -> lead_practitioner_ref, event_id -> event_ref,
                     and lists of person / event ids -> lists of references (..._refs);
                   - any other id column (..._id, ..._ids, record keys) is dropped;
                   - names, dates of birth, identifiers (NHS, NI, UPN, PNC, UPRN), postcodes and address lines
                     are dropped; boolean data-quality flags about them (has_conflicting_dob) are kept;
                   - a date column that would give away dates of birth is given to the month (its first day):
                     one whose values fall on a birthday of the row's person, or of a member of the row's
                     family, far more often than on the days around it, measured on the marts at every build
                     (family_membership splits a child's row on the 18th birthday; a family ends when its
                     youngest child turns 18). Other dates keep their day: chronologies need it;
                   - an age (age_at_<x>) is counted in whole years from the month of birth to the month of its
                     date, so ages beside exact dates cannot narrow a date of birth below the month;
                   - every table and column carries a comment: the mart's, plus what the analyst copy did.
                 Tables, not views: the analyst schema needs nothing from the marts or the restricted schema at
                 query time, so it can be copied, comments included, into a database file of its own for
                 analysts (`export_analyst_database`).
restricted.*     views over the marts with the pseudonymous references added (so an auditor can go from a
                 reference in a return to the person), restricted.pseudonyms (reference <-> internal id), and
                 the National Impact Study rows. Identifiable: for the data team and named auditors only.

The HMAC key never reaches the warehouse: references are computed in Python (returns/pseudonyms.py) and
stored; a DuckDB function is registered on the building connection only.
A family's reference follows the returns' register (returns/family_refs.py): the one a return reported the
family under, kept when its internal family id changes, so a reference from a return finds the family here. The
warehouse build builds the copy before the quarter's returns; the returns rebuild it when the refs they register
differ from its own (refresh_analyst_family_refs).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from returns.family_refs import issue_ref, registered_family_refs
from returns.pseudonyms import KINDS, Pseudonymiser

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
# what a reference stands for, in the analyst columns' comments
REFERENCED = {"person": "a person (dim_person)", "family": "a family (dim_family)", "case": "a programme case",
              "practitioner": "a lead practitioner (key worker)", "event": "an event (fct_event)"}
PERSONAL_COLUMN = re.compile(
    r"(^|_)(first_names?|middle_names?|surnames?|forenames?|full_name|names_seen|dob|dobs|date_of_birth|birth"
    r"|nhs|nhs_numbers?|nino|ni_numbers?|upns?|uprns?|pnc|pnc_ids?|postcodes?|address|address_line|locality"
    r"|email|phone)(_|$)")
OTHER_ID = re.compile(r"(_id|_ids|_key|_keys|^record_key)$")
SKIP_MARTS = {"person_source_xref"}  # source-system ids only: nothing left once they are dropped
AGE_COLUMN = re.compile(r"^age_at_(?P<on>.+)$")  # age_at_event (on event_date), age_at_reporting_date

# A date column reveals dates of birth when, for the persons its rows belong to, its values fall on a birthday
# far more often than chance: the persons with a value on BIRTHDAY_DAYS of a birthday (ages BIRTHDAY_AGES)
# against what CHANCE_DAYS, the days around, give per day. Measured over distinct persons, so one person's many
# rows count once. On the 30,000-person demo the structural columns stand hundreds of standard deviations above
# chance and every other date within three.
BIRTHDAY_AGES = (0, 25)  # birth to 25 (care leavers are supported to 25)
BIRTHDAY_DAYS = (-1, 0, 1)  # the day before (an inclusive end), the day, the day after (born on 29 February)
CHANCE_DAYS = tuple(d for d in range(-10, 11) if abs(d) >= 4)
REVEALING_MIN_PERSONS = 5  # more persons than chance explains, at least
REVEALING_MIN_SIGMAS = 5.0  # and this many standard deviations of chance (Poisson)

# restricted views: mart -> the reference columns to add (id column -> kind)
RESTRICTED_VIEWS = {
    "dim_person": ["person_id"],
    "person_source_xref": ["person_id"],
    "family_membership": ["family_id", "person_id"],
}


def reference_function(con: duckdb.DuckDBPyConnection, pseudonymiser: Pseudonymiser):
    """ref(kind, internal id) as the analyst copy gives it, from the register as it is now: a family's reference
    is the one the returns reported it under (returns/family_refs.py), any other id's its keyed HMAC."""
    known: dict[tuple[str, str], str | None] = {}  # the same event id recurs in several marts: hash it once
    family_refs, issued_family_refs = registered_family_refs(con)

    def ref(kind: str, internal_id: str | None) -> str | None:
        key = (kind, internal_id)
        if key not in known:
            if kind == "family" and internal_id is not None:
                known[key] = family_refs.get(internal_id) or issue_ref(pseudonymiser, internal_id, issued_family_refs)
            else:
                known[key] = pseudonymiser.ref(kind, internal_id)
        return known[key]

    return ref


def register_ref_function(con: duckdb.DuckDBPyConnection, pseudonymiser: Pseudonymiser) -> None:
    """familyhub_ref(kind, id) on this connection only (it is gone when the connection closes). A family's
    reference is the one the returns reported it under (the register, returns/family_refs.py), so a reference
    from a return finds the family here after its internal id changed."""
    ref = reference_function(con, pseudonymiser)

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


def _comment_text(text: str | None) -> str:
    return " ".join((text or "").split())


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class AnalystColumn:
    name: str
    expression: str  # over the mart table `m` and the projection's joins
    note: str = ""  # what the analyst copy did to the mart's column, for its comment
    source: str = ""  # the mart column, where its name differs (an id for its reference)


@dataclass
class AnalystProjection:
    columns: list[AnalystColumn] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def select_sql(self) -> str:
        return ", ".join(f"{c.expression} as {_quote(c.name)}" for c in self.columns)


def _reference_note(kind: str, many: bool) -> str:
    what = (f"Pseudonymous references, one per {REFERENCED[kind].split(' ', 1)[1]}" if many
            else f"Pseudonymous reference to {REFERENCED[kind]}")
    return (f"{what}: '{KINDS[kind]}-' and 20 hex digits of a keyed HMAC-SHA256 of the internal id, which the "
            "analyst copy leaves out. The same in every analyst table, return and run for the same internal id "
            "while the pseudonym key is unchanged; only the restricted schema maps it back."
            + (" A family keeps the reference the returns reported it under when its internal id changes "
               "(restricted.family_ref_register)." if kind == "family" else ""))


MONTH_NOTE = ("Analyst copy: given to the month (its first day), because at day precision this date falls on a "
              "birthday of the row's person or of a family member and would reveal dates of birth.")


def _age_note(on: str) -> str:
    return (f"Analyst copy: whole years from the month of birth to the month of {on} (ages beside exact dates "
            "would narrow a date of birth to the day); can be one more than the marts' age in the birth month.")


def _first_of_month(column: str, data_type: str) -> str:
    truncated = f"date_trunc('month', {column})"
    return f"cast({truncated} as date)" if data_type == "DATE" else truncated


def _age_date(on: str, names: set[str]) -> str | None:
    """The date an age_at_<on> column is counted on: <on>_date or <on> itself."""
    return next((c for c in (f"{on}_date", on) if c in names), None)


def analyst_projection(columns: list[tuple[str, str]], *, to_month: frozenset[str] = frozenset(),
                       dob_join: str | None = None) -> AnalystProjection:
    """One mart table `m`'s analyst table: its columns (expression and what was done), joins and the columns
    left out. Scalar ids join restricted.pseudonyms (fast); lists of ids go through the registered function.
    `to_month`: date columns given to the month (birthday_revealing_dates); `dob_join`: a join giving `birth.dob`
    for the row's person, for ages (without one, ages are left out)."""
    names = {n for n, _ in columns}
    projection = AnalystProjection()
    for name, data_type in columns:
        col = f"m.{_quote(name)}"
        is_list = data_type.endswith("[]")
        if name in ID_COLUMNS:
            kind, ref = ID_COLUMNS[name]
            alias = f"p{len(projection.joins)}"
            projection.joins.append(f"left join {RESTRICTED}.pseudonyms {alias} on {alias}.kind = '{kind}' "
                                    f"and {alias}.internal_id = cast({col} as varchar)")
            projection.columns.append(AnalystColumn(ref, f"{alias}.ref", _reference_note(kind, many=False), name))
        elif is_list and name.endswith(tuple(ID_LIST_ENDINGS)):
            kind = next(k for ending, k in ID_LIST_ENDINGS.items() if name.endswith(ending))
            projection.columns.append(AnalystColumn(
                name[: -len("ids")] + "refs", f"list_transform({col}, lambda x: {REF_FUNCTION}('{kind}', "
                f"cast(x as varchar)))", _reference_note(kind, many=True), name))
        elif data_type == "BOOLEAN":
            # flags (has_conflicting_dob, ...) carry no value of the field they describe
            projection.columns.append(AnalystColumn(name, col))
        elif PERSONAL_COLUMN.search(name) or OTHER_ID.search(name):
            projection.dropped.append(name)
        elif name in to_month:
            projection.columns.append(AnalystColumn(name, _first_of_month(col, data_type), MONTH_NOTE))
        elif (age := AGE_COLUMN.match(name)) is not None:
            on = _age_date(age["on"], names)
            if on is None or dob_join is None:
                projection.dropped.append(name)  # no way to count it from the month of birth
                continue
            if dob_join not in projection.joins:
                projection.joins.append(dob_join)
            months = (f"(year(m.{_quote(on)}) * 12 + month(m.{_quote(on)})) "
                      "- (year(birth.dob) * 12 + month(birth.dob))")
            projection.columns.append(AnalystColumn(
                name, f"case when {months} >= 0 then cast(({months}) // 12 as {data_type}) end", _age_note(on)))
        else:
            projection.columns.append(AnalystColumn(name, col))
    return projection


def _has_columns(con: duckdb.DuckDBPyConnection, table: str, wanted: set[str]) -> bool:
    return wanted <= {n for n, _ in _columns(con, MARTS, table)}


def birthday_revealing_dates(con: duckdb.DuckDBPyConnection, table: str,
                             columns: list[tuple[str, str]]) -> frozenset[str]:
    """The date / timestamp columns of marts.<table> whose values fall on a birthday of the row's person
    (person_id), or, in a table without persons, of a member of the row's family (family_id, members from
    marts.family_membership), more often than chance: REVEALING_MIN_PERSONS more persons than the days around
    give, and REVEALING_MIN_SIGMAS standard deviations. Empty when the marts hold no dates of birth."""
    dates = [n for n, t in columns if (t == "DATE" or t.startswith("TIMESTAMP")) and not PERSONAL_COLUMN.search(n)]
    names = {n for n, _ in columns}
    marts = set(mart_tables(con))
    if not dates or "dim_person" not in marts or not _has_columns(con, "dim_person", {"person_id", "dob"}):
        return frozenset()
    # a row that names its person is about that person; a family's row, about each of its members
    if "person_id" in names:
        person, join = "m.person_id", ""
    elif "family_id" in names and "family_membership" in marts:
        person, join = "members.person_id", (f"join (select distinct family_id, person_id from {MARTS}."
                                             "family_membership) members on members.family_id = m.family_id")
    else:
        return frozenset()
    days = ", ".join(f"cast(m.{_quote(d)} as date) as {_quote(d)}" for d in dates)
    low, high = min(CHANCE_DAYS), max(CHANCE_DAYS)
    rows = con.execute(f"""
        with dated as (
            select distinct person_id, column_name, day from (
                unpivot (select {person} as person_id, {days} from {MARTS}.{_quote(table)} m {join})
                on {", ".join(_quote(d) for d in dates)} into name column_name value day)
        ),
        offsets as (
            select dated.column_name, dated.person_id, date_diff('day', cast(born.dob + to_years(
                cast(year(dated.day) - year(born.dob) as integer)) as date), dated.day) as offset_days
            from dated join {MARTS}.dim_person born on born.person_id = dated.person_id
            where year(dated.day) - year(born.dob) between {BIRTHDAY_AGES[0]} and {BIRTHDAY_AGES[1]}
        )
        select column_name, offset_days, count(distinct person_id) from offsets
        where offset_days between {low} and {high} group by all""").fetchall()
    persons_by_offset: dict[str, dict[int, int]] = {}
    for column, offset, persons in rows:
        persons_by_offset.setdefault(column, {})[offset] = persons
    return frozenset(column for column, found in persons_by_offset.items() if _reveals_birthdays(found))


def _reveals_birthdays(persons_by_offset: dict[int, int]) -> bool:
    on_birthdays = sum(persons_by_offset.get(d, 0) for d in BIRTHDAY_DAYS)
    chance = len(BIRTHDAY_DAYS) * sum(persons_by_offset.get(d, 0) for d in CHANCE_DAYS) / len(CHANCE_DAYS)
    excess = on_birthdays - chance
    return excess >= REVEALING_MIN_PERSONS and excess >= REVEALING_MIN_SIGMAS * math.sqrt(chance + 1)


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


def _mart_comments(con: duckdb.DuckDBPyConnection, table: str) -> tuple[str, dict[str, str]]:
    """(table comment, column -> comment) of marts.<table>, as dbt persisted its docs."""
    found = con.execute("select comment from duckdb_tables() where database_name = current_database() "
                        "and schema_name = ? and table_name = ?", [MARTS, table]).fetchall()
    columns = con.execute("select column_name, comment from duckdb_columns() where database_name = "
                          "current_database() and schema_name = ? and table_name = ?", [MARTS, table]).fetchall()
    return (_comment_text(found[0][0]) if found else "",
            {name: _comment_text(comment) for name, comment in columns if comment})


def _comment_analyst_table(con: duckdb.DuckDBPyConnection, table: str, projection: AnalystProjection) -> None:
    """The mart's descriptions, plus what the analyst copy did, on the analyst table and every column."""
    table_comment, column_comments = _mart_comments(con, table)
    notes = [f"Analyst copy of marts.{table}, pseudonymised: internal ids replaced by references."]
    if projection.dropped:
        notes.append(f"Left out: {', '.join(projection.dropped)}.")
    to_month = [c.name for c in projection.columns if c.note == MONTH_NOTE]
    if to_month:
        notes.append(f"Given to the month (would reveal dates of birth): {', '.join(to_month)}.")
    target = f"{ANALYST}.{_quote(table)}"
    con.execute(f"comment on table {target} is {_sql_text(' '.join([table_comment, *notes]).strip())}")
    for column in projection.columns:
        if column.source:  # a reference: what it is, then the marts' words for the id it replaces
            own = column_comments.get(column.source)
            text = f"{column.note} It replaces marts.{table}.{column.source}" + (f": {own}" if own else ".")
        else:
            own = column_comments.get(column.name)
            text = " ".join(t for t in (own, column.note) if t) or f"As in marts.{table}.{column.name}."
        con.execute(f"comment on column {target}.{_quote(column.name)} is {_sql_text(text)}")


def build_analyst_schema(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """analyst.<mart> for every mart table but SKIP_MARTS, with comments; drops analyst tables whose mart is gone.
    Needs restricted.pseudonyms and register_ref_function on the connection first. Returns rows per analyst table."""
    con.execute(f"create schema if not exists {ANALYST}")
    dob_join = (f"left join {MARTS}.dim_person birth on birth.person_id = m.person_id"
                if "dim_person" in mart_tables(con) and _has_columns(con, "dim_person", {"person_id", "dob"})
                else None)
    built: dict[str, int] = {}
    for table in mart_tables(con):
        if table in SKIP_MARTS:
            continue
        columns = _columns(con, MARTS, table)
        has_person = any(n == "person_id" for n, _ in columns)
        projection = analyst_projection(columns, to_month=birthday_revealing_dates(con, table, columns),
                                        dob_join=dob_join if has_person else None)
        if not projection.columns:
            continue
        con.execute(f"create or replace table {ANALYST}.{_quote(table)} as "
                    f"select {projection.select_sql()} from {MARTS}.{_quote(table)} m {' '.join(projection.joins)}")
        _comment_analyst_table(con, table, projection)
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


@dataclass(frozen=True)
class AnalystCopy:
    tables: dict[str, int]  # analyst table -> rows
    views: list[str]  # restricted views
    references: int  # rows of restricted.pseudonyms
    export: Path  # the analysts' database file


def build_analyst_copy(con: duckdb.DuckDBPyConnection, pseudonymiser: Pseudonymiser, path: Path) -> AnalystCopy:
    """The whole analyst copy from the marts and the register: restricted.pseudonyms, analyst.*, the restricted
    views, and the analysts' database file at `path` (swapped in whole)."""
    register_ref_function(con, pseudonymiser)
    references = build_pseudonym_table(con, pseudonymiser)
    tables = build_analyst_schema(con)
    views = build_restricted_views(con)
    return AnalystCopy(tables=tables, views=views, references=references, export=export_analyst_database(con, path))


def exported_family_refs(path: Path) -> set[str] | None:
    """Every family_ref in the analyst tables of the analysts' file at `path`, read-only; None when the file is
    missing or cannot be read (held open for writing, half-copied): the copy is then not known to be current."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        con = duckdb.connect(str(path), read_only=True)
    except (duckdb.Error, OSError):
        return None
    try:
        tables = [t for (t,) in con.execute(
            "select distinct table_name from duckdb_columns() where database_name = current_database() "
            "and schema_name = ? and column_name = 'family_ref'", [ANALYST]).fetchall()]
        return {r for t in tables for (r,) in con.execute(
            f"select distinct family_ref from {ANALYST}.{_quote(t)} where family_ref is not null").fetchall()}
    except duckdb.Error:
        return None
    finally:
        con.close()


def stale_family_refs(con: duckdb.DuckDBPyConnection, pseudonymiser: Pseudonymiser, path: Path) -> int:
    """Families (of restricted.pseudonyms) whose reference from the register now is not the one the warehouse's
    copy gives them, or is not found in the analysts' file at `path`: what analysts read, so a rebuild whose
    export failed (the file held open on a Windows share, a full disk) is still stale on the next check. 0 when
    the analyst copy has not been built."""
    from expectations.framework import table_exists

    if not table_exists(con, RESTRICTED, "pseudonyms"):
        return 0
    ref = reference_function(con, pseudonymiser)
    in_file = exported_family_refs(path) or set()
    return sum(ref("family", internal_id) != given or given not in in_file for internal_id, given in con.execute(
        f"select internal_id, ref from {RESTRICTED}.pseudonyms where kind = 'family'").fetchall())


def refresh_analyst_family_refs(con: duckdb.DuckDBPyConnection, pseudonymiser: Pseudonymiser,
                                path: Path) -> tuple[int, AnalystCopy | None]:
    """After a period's returns registered their family refs: rebuild the analyst copy (build_analyst_copy) when
    any family in it, or in the analysts' file, has another reference than the register's. analyst/schema is
    built by the warehouse build, before the returns; without this a family whose internal id changed since the
    last built quarter would show HMAC(new id) until the next build. Returns the families whose reference was
    stale and the copy built (0, None: nothing rewritten, the file untouched); a failed build raises."""
    stale = stale_family_refs(con, pseudonymiser, path)
    return stale, (build_analyst_copy(con, pseudonymiser, path) if stale else None)


def export_analyst_database(con: duckdb.DuckDBPyConnection, path: Path) -> Path:
    """Copy the analyst schema, with its table and column comments, into a database file of its own (DuckDB has
    no per-schema grants: giving analysts this file, not the warehouse, is what keeps the restricted schema from
    them)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    con.execute(f"attach '{temporary}' as analyst_export")
    try:
        con.execute(f"create schema if not exists analyst_export.{ANALYST}")
        tables = con.execute("select table_name, comment from duckdb_tables() where database_name = "
                             "current_database() and schema_name = ? order by 1", [ANALYST]).fetchall()
        for table, comment in tables:
            target = f"analyst_export.{ANALYST}.{_quote(table)}"
            con.execute(f"create table {target} as select * from {ANALYST}.{_quote(table)}")
            if comment:
                con.execute(f"comment on table {target} is {_sql_text(comment)}")
            for column, column_comment in con.execute(
                    "select column_name, comment from duckdb_columns() where database_name = current_database() "
                    "and schema_name = ? and table_name = ? and comment is not null", [ANALYST, table]).fetchall():
                con.execute(f"comment on column {target}.{_quote(column)} is {_sql_text(column_comment)}")
    finally:
        con.execute("detach analyst_export")
    temporary.replace(path)
    return path
